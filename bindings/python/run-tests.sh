#!/bin/sh
# Run the Python binding's test suite against a built libvmm.
#   bindings/python/run-tests.sh BUILD_DIR
# Uses BUILD_DIR/lib/libvmm.so (via $VMM_LIBRARY; test_lookup.py also finds it
# through BUILD_DIR/meson-uninstalled with pkg-config), builds the layout-drift
# checker bindings/layout/layout.c into BUILD_DIR/layout, and exits non-zero
# if any test fails. Without a usable /dev/kvm it runs only the tests that
# need no VM (test_layout.py, test_virtio.py: layout drift, initialisers,
# argument checks; their VM tests skip themselves), fails if any of those
# fails, and then exits 77 (meson: skipped) with a "skipped:" line.
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
export VMM_BUILD_DIR="$build"  # tests/test_lookup.py: BUILD/meson-uninstalled
export VMM_LAYOUT="$build/layout"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1

# The other tests run real guests, as the examples suite does.
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
    echo "note: /dev/kvm is missing or not readable and writable:" \
        "running only the tests that need no VM"
    (cd "$here/tests" && "${PYTHON:-python3}" -m unittest -v test_layout test_virtio)
    echo "skipped: /dev/kvm is missing or not readable and writable: the VM tests" \
        "need KVM; the layout and argument-check tests passed"
    exit 77
fi
exec "${PYTHON:-python3}" -m unittest discover -s "$here/tests" -t "$here/tests" -v
