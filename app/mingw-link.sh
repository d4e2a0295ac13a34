#!/usr/bin/env bash
# The linker app/package.sh gives rustc for the Windows build: MinGW-w64's gcc, run so that
# the link does not depend on where the build folders are (issue 17).
#
# GNU ld lays out the import tables (.idata) by sorting its input files by path name
# (binutils' PE linker script: SORT(*)(.idata$N)). The import libraries come from the
# target folder, CARGO_HOME, the toolchain and /usr; with other folders they sort in
# another order, and the .exe differs (seen in .ci/reproduce). So every such folder is
# given to gcc by a fixed relative name instead: a symlink in a temporary folder that gcc
# runs in. ./t, ./h, ./s and ./c always sort the same way among themselves and before
# /usr.
#
# SCHTASKSREMOTE_LINK_PREFIXES: lines NAME=FOLDER. Arguments are rewritten longest folder
# first, so a folder inside another (the target folder in the checkout) keeps its own name.
set -euo pipefail
links=$(mktemp -d "${TMPDIR:-/tmp}/schtasksremote-link.XXXXXX")
trap 'rm -rf "$links"' EXIT
args=("$@")
while IFS= read -r pair; do
    name=${pair%%=*} folder=${pair#*=}
    [ -e "$links/$name" ] || ln -s "$folder" "$links/$name"
    for i in "${!args[@]}"; do args[i]=${args[i]//"$folder"/"./$name"}; done
done < <(printf '%s\n' "${SCHTASKSREMOTE_LINK_PREFIXES:?set by app/package.sh}" |
    awk -F= 'NF > 1 { print length($0) - length($1), $0 }' | sort -rn | cut -d' ' -f2-)
cd "$links"
x86_64-w64-mingw32-gcc "${args[@]}"
