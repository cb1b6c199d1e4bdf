#!/bin/sh
# Run the Python binding's test suite against a built libvmm.
#   bindings/python/run-tests.sh BUILD_DIR
# Uses BUILD_DIR/lib/libvmm.so (via $VMM_LIBRARY), builds the layout-drift
# checker bindings/layout/layout.c into BUILD_DIR/layout, and exits non-zero
# if any test fails.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "$1" && pwd)

lib="$build/lib/libvmm.so"
if [ ! -e "$lib" ]; then
    echo "$0: $lib not found (build the library first: ninja -C $1)" >&2
    exit 1
fi

${CC:-cc} -std=c11 -Wall -Wextra -Werror -I "$root/include" \
    "$root/bindings/layout/layout.c" -o "$build/layout"

export VMM_LIBRARY="$lib"
export VMM_LAYOUT="$build/layout"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
exec "${PYTHON:-python3}" -m unittest discover -s "$here/tests" -t "$here/tests" -v
