#!/usr/bin/env bash
# What the launcher costs per search process (issue 16): the mean wall time of one
# getinfo-only session (what splunkd's probe invocations are), started N times each way,
# the ways interleaved round by round so machine load hits them alike.
#
#   bash benches/launcher_start.sh [N] [ROUNDS] [OLD_COMMIT]
#
# Ways: the static x86_64 build alone (no launcher); bin/schtasksremote by exec (its
# #!/bin/sh: dash on Debian), under bash and under busybox sh; and, with OLD_COMMIT, the
# launcher of that commit by exec. Needs the musl build (bash app/package.sh, or
# cargo build --profile dist --target x86_64-unknown-linux-musl).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-300}
rounds=${2:-3}
old=${3:-}
build=target/x86_64-unknown-linux-musl/dist/schtasksremote
[ -x "$build" ] || { echo "launcher_start.sh: $build is missing: run bash app/package.sh" >&2; exit 1; }

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/new/bin" "$dir/old/bin"
install -m 755 bin/schtasksremote "$dir/new/bin/schtasksremote"
install -m 755 "$build" "$dir/new/bin/schtasksremote-linux-x86_64"
if [ -n "$old" ]; then
    git show "$old:bin/schtasksremote" >"$dir/old/bin/schtasksremote"
    chmod 755 "$dir/old/bin/schtasksremote"
    install -m 755 "$build" "$dir/old/bin/schtasksremote-linux-x86_64"
fi
meta='{"action":"getinfo","preview":false,"searchinfo":{"args":[],"raw_args":[],"command":"schtasksremote"}}'
printf 'chunked 1.0,%d,0\n%s' "${#meta}" "$meta" >"$dir/getinfo"

mean_us() { # mean_us COMMAND...: mean microseconds of N runs
    local start end i
    start=$(date +%s%N)
    for ((i = 0; i < n; i++)); do "$@" <"$dir/getinfo" >/dev/null; done
    end=$(date +%s%N)
    echo $(((end - start) / n / 1000))
}

ways=("build alone|$dir/new/bin/schtasksremote-linux-x86_64"
    "launcher, exec (/bin/sh)|$dir/new/bin/schtasksremote"
    "launcher, bash|bash $dir/new/bin/schtasksremote"
    "launcher, busybox sh|busybox sh $dir/new/bin/schtasksremote")
[ -n "$old" ] && ways+=("launcher of $old, exec|$dir/old/bin/schtasksremote")
for ((round = 1; round <= rounds; round++)); do
    for way in "${ways[@]}"; do
        # shellcheck disable=SC2086 # the command is words on purpose
        printf 'round %d  %-32s %6d us\n' "$round" "${way%%|*}" "$(mean_us ${way#*|})"
    done
done
