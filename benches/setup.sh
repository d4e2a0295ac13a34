#!/usr/bin/env bash
# What `cargo bench --bench scan` compares with, installed beside the build:
# the evtx crate's own `evtx_dump`, the same version as our Cargo.lock's `evtx`, under
# target/bench-tools (not on PATH; the bench finds it there). grep is Debian's.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(awk '/^name = "evtx"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
if [ -z "$version" ]; then
    echo "benches/setup.sh: no evtx version in Cargo.lock" >&2
    exit 1
fi
if ! target/bench-tools/bin/evtx_dump --version 2>/dev/null | grep -q "$version"; then
    echo "installing evtx_dump $version (the evtx crate) into target/bench-tools" >&2
    cargo install --locked --quiet evtx --version "$version" --root target/bench-tools \
        || { echo "benches/setup.sh: cargo install evtx $version failed (crates.io reachable?)" >&2; exit 1; }
fi
command -v grep >/dev/null || { echo "benches/setup.sh: grep missing: apt-get install grep" >&2; exit 1; }
# Peak RSS comes from GNU time's `-f %M -o FILE` (busybox's or a shell's `time` has neither).
/usr/bin/time --version 2>&1 | grep -q GNU \
    || { echo "benches/setup.sh: GNU time missing at /usr/bin/time: apt-get install time" >&2; exit 1; }
target/bench-tools/bin/evtx_dump --version
grep --version | head -1
