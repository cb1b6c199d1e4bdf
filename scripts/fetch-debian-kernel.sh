#!/bin/sh
# Get Debian 12's stock x86-64 kernel without installing it, for the
# linux_image test (tests/integration/linux/) and bench/loader.
#
#   scripts/fetch-debian-kernel.sh [DEST]
#
# DEST defaults to build/debian-kernel in the source tree (where the test and
# the benchmark look), whatever the current directory.
#
# 1. Resolve the metapackage linux-image-amd64 to the versioned package it
#    depends on (linux-image-6.1.0-N-amd64) with `apt-cache depends`.
# 2. `apt-get download` that .deb into DEST (no root needed), unless a .deb of
#    that exact package and version is already there.
# 3. Unpack only ./boot/vmlinuz-* from it (dpkg-deb --fsys-tarfile; the
#    modules are not needed) and point DEST/vmlinuz at it.
# If apt cannot resolve or fetch the package, a Debian kernel installed in
# /boot (one owned by a linux-image-* package) is used instead.
#
# On success: DEST/vmlinuz is the bzImage, DEST/source.txt says where it came
# from, DEST/unavailable.txt is removed, and the path of DEST/vmlinuz is the
# last line on stdout. On failure: exit status 1, the reason (one sentence) on
# stderr and in DEST/unavailable.txt, which the test prints when it skips.
set -u

dest=${1:-$(cd "$(dirname "$0")/.." && pwd -P)/build/debian-kernel}
meta=linux-image-amd64

say() { printf 'fetch-debian-kernel: %s\n' "$*" >&2; }

fail() {
    say "$*"
    mkdir -p "$dest" 2>/dev/null && printf '%s\n' "$*" > "$dest/unavailable.txt"
    exit 1
}

# A bzImage has "HdrS" at offset 0x202 (Documentation/arch/x86/boot.rst).
is_bzimage() {
    [ -f "$1" ] && [ "$(od -An -c -j 514 -N 4 "$1" 2>/dev/null | tr -d ' ')" = HdrS ]
}

done_ok() {
    # done_ok PATH_RELATIVE_TO_DEST SOURCE_TEXT
    ln -sfn "$1" "$dest/vmlinuz"
    printf '%s\n' "$2" > "$dest/source.txt"
    rm -f "$dest/unavailable.txt"
    say "$2"
    (cd "$dest" && printf '%s/vmlinuz\n' "$(pwd -P)")
    exit 0
}

mkdir -p "$dest" || fail "cannot create $dest."

# ---- 1-3: the package from the Debian mirror --------------------------------
why=
pkg=
if ! command -v apt-cache >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    why="apt-cache/apt-get not found (this script needs Debian's apt)"
else
    resolve() {
        apt-cache depends "$meta" 2>/dev/null |
            sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n 1
    }
    pkg=$(resolve)
    if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
        say "apt knows no $meta yet; running apt-get update"
        apt-get update -q >&2 && pkg=$(resolve)
    fi
    [ -n "$pkg" ] || why="apt-cache cannot resolve $meta to a versioned linux-image package (no package lists: run apt-get update as root, with a Debian 12 mirror in sources.list)"
fi

if [ -n "$pkg" ]; then
    ver=$(apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: //p')
    # apt-get download names the file PKG_VERSION_ARCH.deb, the epoch's
    # colon written as %3a.
    debver=$(printf '%s' "$ver" | sed 's/:/%3a/')
    deb="$dest/${pkg}_${debver}_amd64.deb"
    if [ -n "$ver" ] && [ -s "$deb" ] && is_bzimage "$dest/vmlinuz" &&
       grep -qF "from $(basename "$deb") " "$dest/source.txt" 2>/dev/null; then
        rm -f "$dest/unavailable.txt"
        say "up to date: $(cat "$dest/source.txt")"
        (cd "$dest" && printf '%s/vmlinuz\n' "$(pwd -P)")
        exit 0
    fi
    if [ -n "$ver" ] && [ -s "$deb" ] && dpkg-deb --info "$deb" >/dev/null 2>&1; then
        say "reusing $deb"
    else
        say "downloading $pkg $ver"
        if (cd "$dest" && apt-get download -q "$pkg" >&2); then
            if [ ! -s "$deb" ]; then
                # Not the name we predicted (an odd version string): take
                # what apt-get wrote.
                for f in "$dest/${pkg}"_*_amd64.deb; do
                    deb=$f
                done
            fi
        else
            deb=
            why="apt-get download $pkg failed: apt cannot reach a Debian mirror (check the network, the proxy and /etc/apt/sources.list)"
        fi
    fi
    if [ -n "$deb" ] && [ -s "$deb" ]; then
        tmp="$dest/unpack.$$"
        rm -rf "$tmp"
        mkdir -p "$tmp" || fail "cannot create $tmp."
        if dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*'; then
            img=
            for f in "$tmp"/boot/vmlinuz-*; do
                is_bzimage "$f" && img=$f && break
            done
            if [ -n "$img" ]; then
                name=$(basename "$img")
                mv -f "$img" "$dest/$name"
                rm -rf "$tmp"
                done_ok "$name" "$name from $(basename "$deb") (downloaded from the Debian mirror)"
            fi
            why="$(basename "$deb") holds no bzImage under /boot"
        else
            why="dpkg-deb could not unpack $deb"
        fi
        rm -rf "$tmp"
    fi
fi

# ---- fallback: a Debian kernel installed in /boot ---------------------------
for img in /boot/vmlinuz-*; do
    if [ ! -r "$img" ] || ! is_bzimage "$img"; then
        continue
    fi
    owner=$(dpkg-query -S "$img" 2>/dev/null | sed -n 's/^\(linux-image-[^:]*\): .*/\1/p' | head -n 1)
    [ -n "$owner" ] || continue
    say "$why; using the installed $img (package $owner)"
    ln -sfn "$img" "$dest/vmlinuz"
    printf '%s\n' "$img from the installed package $owner (fallback: $why)" > "$dest/source.txt"
    rm -f "$dest/unavailable.txt"
    (cd "$dest" && printf '%s/vmlinuz\n' "$(pwd -P)")
    exit 0
done

fail "no Debian kernel: $why, and /boot holds no readable bzImage from a linux-image package."
