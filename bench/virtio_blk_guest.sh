#!/bin/sh
# virtio-blk from the test guest's side: libvmm (fast paths: ioeventfd,
# irqfd, I/O thread; and VMM_VIRTIO_F_INLINE) against QEMU's virtio-blk-pci,
# the same kernel (tests/virtio/driver: vdrv.elf, vt.bench=N) and command
# line on the same 64 MiB image on tmpfs, median of ROUNDS runs each. Both
# on KVM (QEMU with -accel kvm): without /dev/kvm it says so and exits 77.
#
#   bench/virtio_blk_guest.sh [BUILD_DIR [REQS [ROUNDS]]]
#
# Prints req/s and MB/s per phase and the ratio libvmm/QEMU (>= 1: at least
# QEMU's throughput, the target in the virtio issue).
set -u
build=${1:-build}
reqs=${2:-20000}
rounds=${3:-3}
kernel=$build/tests/virtio/driver/vdrv32.elf
runner=$build/bench/virtio_blk_guest
qemu=${QEMU:-qemu-system-x86_64}

[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "skipped: /dev/kvm is not usable here"; exit 77; }
[ -x "$runner" ] && [ -f "$kernel" ] || { echo "build first: ninja -C $build"; exit 2; }
command -v "$qemu" >/dev/null || { echo "skipped: $qemu not found (apt-get install qemu-system-x86)"; exit 77; }

img=$(mktemp /dev/shm/vmm-bench-XXXXXX)
out=$(mktemp -d)
trap 'rm -rf "$img" "$out"' EXIT
dd if=/dev/zero of="$img" bs=1M count=64 status=none

cmd="vt.transport=pci vt.dev=blk vt.expect=1 vt.bench=$reqs"
i=0
while [ "$i" -lt "$rounds" ]; do
    "$runner" "$kernel" "$img" "$reqs" pci fast >"$out/fast.$i" || exit 1
    "$runner" "$kernel" "$img" "$reqs" pci inline >"$out/inline.$i" || exit 1
    timeout 300 "$qemu" -accel kvm -machine q35 -nodefaults -nographic -monitor none -m 256M \
        -no-reboot -serial "file:$out/qemu.$i" -device isa-debug-exit,iobase=0xf4,iosize=4 \
        -drive "file=$img,format=raw,if=none,id=d0,cache=writeback,aio=threads" \
        -device virtio-blk-pci,drive=d0,disable-legacy=on -kernel "$kernel" -append "$cmd" \
        >"$out/qemu.$i.log" 2>&1
    i=$((i + 1))
done
hz=$(awk '/^tsc_hz/ { print $2; exit }' "$out/fast.0")

# median RUN PHASE: the median of cycles per request over the rounds.
median() {
    for f in "$out/$1".*; do
        case $f in *.log) continue ;; esac
        sed -n "s/.*bench_$2 ok reqs=\([0-9]*\) bytes=\([0-9]*\) cycles=\([0-9]*\).*/\1 \2 \3/p" "$f"
    done | awk '{ print $3 / $1, $2 / $1 }' | sort -n | awk '{ c[NR] = $1; b = $2 }
        END { if (NR == 0) { print "0 0"; exit } print c[int((NR + 1) / 2)], b }'
}

printf '%-14s %12s %12s %12s %10s %8s\n' phase libvmm/s inline/s qemu/s "MB/s" ratio
for p in randread4k seqread64k seqwrite64k; do
    set -- $(median fast "$p") $(median inline "$p") $(median qemu "$p")
    awk -v hz="$hz" -v p="$p" -v f="$1" -v b="$2" -v n="$3" -v q="$5" 'BEGIN {
        if (f == 0 || q == 0) { printf "%-14s (a run failed: see the logs)\n", p; exit }
        printf "%-14s %12.0f %12.0f %12.0f %10.1f %8.2f\n", p, hz / f, hz / n, hz / q,
               hz / f * b / 1e6, q / f }'
done
