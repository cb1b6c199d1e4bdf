#!/bin/sh
# Compresses a file the way Linux's build makes a bzImage payload
# (scripts/Makefile.lib cmd_gzip, cmd_xzkern, cmd_zstd, cmd_lz4 ...): the
# compressor's output, then the uncompressed size as a little-endian u32
# (size_append), which the in-kernel decompressor and mkpiggy read.
#
#   compress_payload.sh OUTPUT INPUT|--zeros=BYTES COMPRESSOR [ARGS...]
#
# The compressor reads stdin and writes stdout. --zeros=BYTES compresses
# that many zero bytes instead of a file (a decompression bomb).
set -eu
out=$1
src=$2
shift 2
if [ "${src#--zeros=}" != "$src" ]; then
    size=${src#--zeros=}
    head -c "$size" /dev/zero | "$@" > "$out.tmp"
else
    size=$(wc -c < "$src")
    "$@" < "$src" > "$out.tmp"
fi
# size_append: four bytes, least significant first, as octal escapes.
le32() {
    printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(($1 & 255)) $(($1 >> 8 & 255)) \
        $(($1 >> 16 & 255)) $(($1 >> 24 & 255)))"
}
le32 "$size" >> "$out.tmp"
mv "$out.tmp" "$out"
