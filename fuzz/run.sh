#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600), one after another, and prints
# the executions each made. Usage: bash fuzz/run.sh [SECONDS] [TARGET...]
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(scp_stream scp_body cmdline xml_reader jsonl_reader classic_reader utf16_reader tree_walk fast_path)
fi
[ -d fuzz/corpus ] || python3 fuzz/seed.py
cargo +nightly fuzz build -O
mkdir -p fuzz/logs
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    log="fuzz/logs/$t.log"
    # -max_len: SCP streams and event files need room for a few rows or records.
    # -close_fd_mask=2: the targets' own stderr (error messages the command logs) is noise.
    cargo +nightly fuzz run -O "$t" -- -max_total_time="$seconds" -max_len=16384 \
        -print_final_stats=1 -close_fd_mask=2 >"$log" 2>&1 || { echo "$t: CRASH, see $log"; tail -30 "$log"; exit 1; }
    runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    echo "$t: ${seconds}s, ${runs} executions, no crash ($(grep -c . "$log") log lines in $log)"
done
