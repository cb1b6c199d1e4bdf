#!/bin/sh
# Run Doxygen on the generated Doxyfile and fail on any warning.
# Usage: check-docs.sh DOXYGEN DOXYFILE OUTPUT-DIR
set -u
doxygen=$1 doxyfile=$2 outdir=$3

rm -rf "$outdir"
mkdir -p "$outdir" || exit 1
log=$outdir/warnings.log

# Doxygen reads its configuration from stdin with "-"; later tags override
# earlier ones, which redirects the output and the warnings.
{
    cat "$doxyfile"
    echo "OUTPUT_DIRECTORY = $outdir"
    echo "WARN_LOGFILE = $log"
} | "$doxygen" -
rc=$?

if [ -s "$log" ]; then
    echo "Doxygen warnings:"
    cat "$log"
    echo "FAIL: $(wc -l < "$log") warning line(s); the public headers and docs/*.md must build cleanly"
    exit 1
fi
if [ "$rc" -ne 0 ]; then
    echo "FAIL: doxygen exited with status $rc"
    exit 1
fi
echo "PASS: Doxygen built the reference with no warnings"
