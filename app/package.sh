#!/usr/bin/env bash
# Builds the Splunk app's two packages, each also copied byte for byte as .spl:
#
#   dist/<app id>-<version>.tgz                 the Linux package (Linux x86_64 + aarch64):
#                                               Splunk Cloud, Splunkbase, Linux on-premises
#   dist/<app id>-<version>-all-platforms.tgz   the same plus the Windows x86_64 build, for
#                                               Splunk Enterprise on Windows or mixed sites
#
#   bash app/package.sh            # build the three binaries, then package
#   bash app/package.sh --no-build # package the binaries already in target/
#
# Each package has one top folder named after the app id, holding default/ and bin/ from
# the repository's top level, the repository's LICENSE, app/'s README.md, app.manifest,
# metadata/ and static/, and the stripped static binaries as bin/schtasksremote-linux-<cpu>.
# The all-platforms package adds windows_x86_64/bin/schtasksremote.exe, the same bytes as
# windows_x86_64/bin/schtasksremote, and default/distsearch.conf (why: README "Windows").
# Files are 644, folders 755, and only the files in the bin/ folders are 755. Nothing else
# from the repository goes in (no dotfiles, no build leftovers): files are copied by name,
# never by globbing a folder.
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
# The Windows build: MinGW-w64 (Debian's gcc-mingw-w64-x86-64 links it), PE32+ console
# program importing only DLLs that ship with Windows.
windows_target=x86_64-pc-windows-gnu
windows_binary="target/$windows_target/dist/schtasksremote.exe"

# Reproducible from any machine (issue 17): rustc writes the absolute path of every source
# file it compiles into the binary (panic locations, file!()): the cargo registry below
# CARGO_HOME, build-script output below the target folder, the toolchain's sysroot. Each
# is rewritten to a fixed name, so the bytes do not depend on where the checkout, CARGO_HOME
# or rustup live. Only here, for the dist builds (their own folders in target/): the same
# flags in .cargo/config.toml would change every other build's flags and rebuild all of
# target/. When several prefixes match, rustc uses the last one given, so the deepest
# folders come last. Any RUSTFLAGS of the caller are replaced: they would change the bytes.
remap_rustflags() {
    local checkout cargo_home target_dir sysroot flags=() pair from
    checkout=$(pwd -P)
    cargo_home=${CARGO_HOME:-$HOME/.cargo}
    target_dir=${CARGO_TARGET_DIR:-$checkout/target}
    sysroot=$(rustc --print sysroot)
    for pair in "$checkout=/build/schtasksremote" "$target_dir=/build/target" \
        "$cargo_home=/cargo" "$sysroot=/rust-toolchain"; do
        from=${pair%=*}
        flags+=("--remap-path-prefix=$pair")
        # rustc sees symlink-free paths for some files (cargo's current folder) and the
        # given ones for others (CARGO_HOME as set): map both spellings.
        if [ -e "$from" ] && [ "$(cd "$from" && pwd -P)" != "$from" ]; then
            flags+=("--remap-path-prefix=$(cd "$from" && pwd -P)=${pair##*=}")
        fi
    done
    local IFS=$'\x1f'
    echo "${flags[*]}"
}

if [ "$build" = 1 ]; then
    if ! command -v x86_64-w64-mingw32-gcc >/dev/null; then
        echo "package.sh: x86_64-w64-mingw32-gcc not found: install Debian's gcc-mingw-w64-x86-64 (and rustup target add $windows_target) to build the Windows binary" >&2
        exit 1
    fi
    remap=$(remap_rustflags)
    unset RUSTFLAGS
    # The Windows link: app/mingw-link.sh names these folders ./t, ./h, ./s and ./c for
    # GNU ld, whose import tables follow the sort order of its input paths.
    checkout=$(pwd -P)
    SCHTASKSREMOTE_LINK_PREFIXES="t=${CARGO_TARGET_DIR:-$checkout/target}
h=${CARGO_HOME:-$HOME/.cargo}
s=$(rustc --print sysroot)
c=$checkout"
    export SCHTASKSREMOTE_LINK_PREFIXES
    for target in "${targets[@]#*:}" "$windows_target"; do
        flags=$remap linker=()
        if [ "$target" = "$windows_target" ]; then
            # MinGW-w64's ld writes the link time into the PE header unless told not to.
            flags+=$'\x1f-Clink-arg=-Wl,--no-insert-timestamp'
            linker=(env "CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=$checkout/app/mingw-link.sh")
        fi
        start=$(date +%s)
        CARGO_ENCODED_RUSTFLAGS=$flags "${linker[@]}" \
            cargo build --locked --profile dist --target "$target" --bin schtasksremote
        echo "package.sh: built $target in $(($(date +%s) - start)) s" >&2
    done
fi

linux_binary() { echo "target/$1/dist/schtasksremote"; } # linux_binary TARGET
for binary in "$(linux_binary "${targets[0]#*:}")" "$(linux_binary "${targets[1]#*:}")" \
    "$windows_binary"; do
    if [ ! -f "$binary" ]; then
        echo "package.sh: $binary is missing; run without --no-build" >&2
        exit 1
    fi
done

# The last commit's time stamps the tar entries and the SBOMs (SOURCE_DATE_EPOCH).
mtime=$(git log -1 --format=%ct 2>/dev/null || date +%s)

# Bill of materials (issue 17): one CycloneDX 1.5 JSON SBOM per shipped binary, by
# cargo-cyclonedx from the locked graph for that binary's target: the crates compiled into
# it (normal dependencies; no dev- or build-dependencies), with versions, licences and
# crates.io package URLs. With SOURCE_DATE_EPOCH it writes that time and no random serial
# number, so the SBOM is as reproducible as the binary. It writes into the crate's folder
# (sbom-<target>.json here), which is moved away at once. Cargo names our own crate by
# its folder (`path+file:///...#schtasksremote@0.1.0` in the bom-refs), so that folder is
# rewritten to /build/schtasksremote as in the binaries (perl: a literal replacement).
cyclonedx_version=0.5.9
if ! cargo cyclonedx --version >/dev/null 2>&1; then
    echo "package.sh: cargo-cyclonedx not found: cargo install --locked --version $cyclonedx_version cargo-cyclonedx (.ci/run does)" >&2
    exit 1
fi
stage=$(mktemp -d "${TMPDIR:-/tmp}/schtasksremote-package.XXXXXX")
trap 'rm -rf "$stage"' EXIT
umask 022
sbom() { # sbom TARGET NAME: the SBOM of the binary built for TARGET -> $stage/NAME
    rm -f "sbom-$1.json"
    SOURCE_DATE_EPOCH=$mtime cargo cyclonedx --quiet --format json --spec-version 1.5 \
        --target "$1" --no-build-deps --override-filename "sbom-$1"
    CHECKOUT=$(pwd -P) perl -pe 's/\Q$ENV{CHECKOUT}\E(?=[#"\/])/\/build\/schtasksremote/g' \
        "sbom-$1.json" >"$stage/$2"
    rm "sbom-$1.json"
}
sbom "${targets[0]#*:}" linux-x86_64.cdx.json
sbom "${targets[1]#*:}" linux-aarch64.cdx.json
sbom "$windows_target" windows-x86_64.cdx.json

top="$stage/$app_id"
install -d -m 755 "$top" "$top/default" "$top/bin" "$top/metadata" "$top/static" "$top/sbom"
install -m 644 LICENSE app/README.md app/app.manifest "$top/"
install -m 644 app/metadata/default.meta "$top/metadata/"
install -m 644 app/static/appIcon.png app/static/appIcon_2x.png \
    app/static/appIconAlt.png app/static/appIconAlt_2x.png "$top/static/"
install -m 644 default/app.conf default/commands.conf default/searchbnf.conf \
    default/macros.conf default/savedsearches.conf "$top/default/"
install -m 755 bin/schtasksremote "$top/bin/"
for pair in "${targets[@]}"; do
    cpu=${pair%%:*}
    install -m 755 "$(linux_binary "${pair#*:}")" "$top/bin/schtasksremote-linux-$cpu"
    install -m 644 "$stage/linux-$cpu.cdx.json" "$top/sbom/schtasksremote-linux-$cpu.cdx.json"
done

# dist/ holds one release and nothing else (SHA256SUMS lists all of it): what an earlier
# run left there goes.
rm -rf dist
mkdir dist
# Reproducible: sorted names, fixed owner, the last commit's time, gzip without a name or
# time stamp.
write_package() { # write_package NAME: the staged app folder -> dist/NAME.tgz and .spl
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" \
        -C "$stage" -cf - "$app_id" | gzip -9n >"dist/$1.tgz.tmp"
    mv "dist/$1.tgz.tmp" "dist/$1.tgz"
    cp "dist/$1.tgz" "dist/$1.spl"
    echo "dist/$1.tgz"
}
write_package "$app_id-$version"

# Windows splunkd looks in windows_x86_64/bin before bin (commands.conf.spec). Whether it
# appends .exe to `filename = schtasksremote` is undocumented, so both names are there.
install -d -m 755 "$top/windows_x86_64" "$top/windows_x86_64/bin"
install -m 755 "$windows_binary" "$top/windows_x86_64/bin/schtasksremote.exe"
install -m 755 "$windows_binary" "$top/windows_x86_64/bin/schtasksremote"
install -m 644 "$stage/windows-x86_64.cdx.json" "$top/sbom/schtasksremote-windows-x86_64.cdx.json"
install -m 644 default/distsearch.conf "$top/default/"
write_package "$app_id-$version-all-platforms"

# Released beside the packages: each binary and its SBOM on their own (the scanner without
# Splunk), and SHA256SUMS of everything in dist/ (`cd dist && sha256sum -c SHA256SUMS`).
for pair in "${targets[@]}"; do
    cpu=${pair%%:*}
    install -m 755 "$(linux_binary "${pair#*:}")" "dist/$app_id-$version-linux-$cpu"
    install -m 644 "$stage/linux-$cpu.cdx.json" "dist/$app_id-$version-linux-$cpu.cdx.json"
done
install -m 755 "$windows_binary" "dist/$app_id-$version-windows-x86_64.exe"
install -m 644 "$stage/windows-x86_64.cdx.json" "dist/$app_id-$version-windows-x86_64.cdx.json"
(cd dist && find . -maxdepth 1 -type f -printf '%f\n' | LC_ALL=C sort | xargs sha256sum \
    >"$stage/SHA256SUMS") && mv "$stage/SHA256SUMS" dist/SHA256SUMS
echo "dist/SHA256SUMS"
