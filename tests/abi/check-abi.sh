#!/bin/sh
# Compare the built libvmm.so with the committed ABI baseline.
# Usage: check-abi.sh ABIDIFF BASELINE.abi LIBRARY.so
#
# abidiff's exit status is a bit field (libabigail manual, "abidiff"):
#   1 ABIDIFF_ERROR, 2 ABIDIFF_USAGE_ERROR,
#   4 ABIDIFF_ABI_CHANGE, 8 ABIDIFF_ABI_INCOMPATIBLE_CHANGE (a removed symbol).
# abidiff counts a changed type behind an exported function (a struct that
# grew, a parameter that changed) as a change, not an incompatible one, so
# this script reads the summary too: anything removed or changed fails;
# additions alone pass with a reminder to record them in the baseline.
# A soname bump (new ABI major) makes every difference acceptable.
set -u
abidiff=$1 baseline=$2 lib=$3
here=$(cd "$(dirname "$0")" && pwd)

update_hint() {
    echo "To record the current ABI as the new baseline:"
    echo "    $here/update-baseline.sh <build-dir>    # then commit tests/abi/libvmm.abi"
}

if ! readelf -S "$lib" 2>/dev/null | grep -q '\.debug_info'; then
    echo "SKIP: $lib has no debug information (DWARF), so its types cannot be"
    echo "      compared; build with -g (the default buildtype, debugoptimized, does)."
    exit 77
fi

old_soname=$(sed -n "s/.*soname='\([^']*\)'.*/\1/p" "$baseline" | head -n 1)
new_soname=$(readelf -d "$lib" 2>/dev/null | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')

# Same view of the library as update-baseline.sh: exported functions and the
# types they reach, opaque handle types dropped.
report=$("$abidiff" --exported-interfaces-only \
         --suppressions "$here/libvmm.suppr" \
         "$baseline" "$lib" 2>&1)
rc=$?
printf '%s\n' "$report"

if [ "$rc" -eq 0 ]; then
    echo "PASS: ABI identical to the baseline ($old_soname)"
    exit 0
fi
if [ $((rc & 3)) -ne 0 ]; then
    echo "ERROR: abidiff failed (exit status $rc)"
    exit 1
fi
if [ -n "$new_soname" ] && [ "$new_soname" != "$old_soname" ]; then
    echo "PASS: soname changed from $old_soname to $new_soname (ABI major bump);"
    echo "      the differences above are allowed, but the baseline is stale."
    update_hint
    exit 0
fi

# Counts of removed and changed entities in abidiff's summary lines, e.g.
# "Functions changes summary: 0 Removed, 1 Changed (2 filtered out), 3 Added functions".
removed=$(printf '%s\n' "$report" | sed -n 's/.*summary: \([0-9][0-9]*\) Removed.*/\1/p' |
          awk '{ n += $1 } END { print n + 0 }')
changed=$(printf '%s\n' "$report" | sed -n 's/.*summary:.* \([0-9][0-9]*\) Changed.*/\1/p' |
          awk '{ n += $1 } END { print n + 0 }')

if [ $((rc & 8)) -ne 0 ] || [ "$removed" -ne 0 ] || [ "$changed" -ne 0 ]; then
    echo "FAIL: the ABI of $lib changed incompatibly with the baseline"
    echo "      ($removed removed, $changed changed) while the soname stayed $old_soname."
    echo "Either undo the change, or bump the ABI major (VMM_VERSION_MAJOR in"
    echo "include/vmm/version.h and abi_major in meson.build) and then update the baseline."
    echo "If the change is compatible by libvmm's rules (a field appended to a struct"
    echo "that starts with struct_size), update the baseline and say why in the commit."
    update_hint
    exit 1
fi

echo "PASS: only additions since the baseline (compatible)."
echo "Record them so that later changes to them are checked too:"
update_hint
exit 0
