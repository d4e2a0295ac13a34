#!/usr/bin/env bash
# Builds the Splunk app package: dist/<app id>-<version>.tgz and the same bytes as .spl.
#
#   bash app/package.sh            # build the static binaries, then package
#   bash app/package.sh --no-build # package the binaries already in target/
#
# The package has one top folder named after the app id, holding default/ and bin/ from
# the repository's top level, app/'s README.md, app.manifest, metadata/ and static/, and
# the stripped static binaries as bin/schtasksremote-linux-<cpu>. Files are 644, folders
# 755, and only the files in bin/ are 755. Nothing else from the repository goes in (no
# dotfiles, no build leftovers): files are copied by name, never by globbing a folder.
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
for arg in "$@"; do
    case $arg in
    --no-build) build=0 ;;
    *) echo "usage: $0 [--no-build]" >&2; exit 2 ;;
    esac
done

conf_value() { # conf_value FILE STANZA KEY
    awk -v stanza="[$2]" -v key="$3" '
        /^\[/ { in_stanza = ($0 == stanza) }
        in_stanza && $1 == key && $2 == "=" { sub(/^[^=]*=[ \t]*/, ""); print; exit }
    ' "$1"
}
app_id=$(conf_value default/app.conf package id)
version=$(conf_value default/app.conf id version)
crate_version=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)
if [ -z "$app_id" ] || [ "$version" != "$crate_version" ]; then
    echo "package.sh: default/app.conf ([package] id '$app_id', [id] version '$version') must name the app and match Cargo.toml's version '$crate_version'" >&2
    exit 1
fi

# Splunk's CPU names (uname -m) -> Rust targets. bin/schtasksremote (the launcher) picks
# bin/schtasksremote-linux-<cpu> at run time.
targets=("x86_64:x86_64-unknown-linux-musl" "aarch64:aarch64-unknown-linux-musl")

if [ "$build" = 1 ]; then
    for pair in "${targets[@]}"; do
        target=${pair#*:}
        start=$(date +%s)
        cargo build --locked --profile dist --target "$target" --bin schtasksremote
        echo "package.sh: built $target in $(($(date +%s) - start)) s" >&2
    done
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/schtasksremote-package.XXXXXX")
trap 'rm -rf "$stage"' EXIT
top="$stage/$app_id"
umask 022

install -d -m 755 "$top" "$top/default" "$top/bin" "$top/metadata" "$top/static"
install -m 644 app/README.md app/app.manifest "$top/"
install -m 644 app/metadata/default.meta "$top/metadata/"
install -m 644 app/static/appIcon.png app/static/appIcon_2x.png \
    app/static/appIconAlt.png app/static/appIconAlt_2x.png "$top/static/"
install -m 644 default/app.conf default/commands.conf default/searchbnf.conf \
    default/macros.conf default/savedsearches.conf "$top/default/"
install -m 755 bin/schtasksremote "$top/bin/"
for pair in "${targets[@]}"; do
    cpu=${pair%%:*}
    binary="target/${pair#*:}/dist/schtasksremote"
    if [ ! -f "$binary" ]; then
        echo "package.sh: $binary is missing; run without --no-build" >&2
        exit 1
    fi
    install -m 755 "$binary" "$top/bin/schtasksremote-linux-$cpu"
done

mkdir -p dist
package="dist/$app_id-$version.tgz"
# Reproducible: sorted names, fixed owner, the last commit's time, gzip without a name or
# time stamp.
mtime=$(git log -1 --format=%ct 2>/dev/null || date +%s)
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" \
    -C "$stage" -cf - "$app_id" | gzip -9n >"$package.tmp"
mv "$package.tmp" "$package"
cp "$package" "dist/$app_id-$version.spl"
echo "$package"
