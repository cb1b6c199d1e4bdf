#!/usr/bin/env python3
"""bench_exit: wall-clock cost of one port-I/O exit through the Python
binding, next to the same exit handled by a C callback, all in one process
and run.

The guest is the one of the Rust binding's bench
(bindings/rust/vmm/examples/bench_exit.rs): real-mode code (emulated on the
nested-KVM development machines) that runs `out %al,(%dx)` to port 0x3f8 N
times, then halts. Each variant is timed with N and 2N exits on a fresh VM;
(t(2N) - t(N)) / N is the per-exit cost with VM set-up and guest start-up
cancelled out. The variants run interleaved, and the median of several
rounds is reported.

Variants:
  c-callback     bindings/rust/vmm/csrc/bench_device.c (the Rust bench's C
                 baseline), compiled at run time with $CC (default cc) into
                 a shared object and attached through the ctypes
                 vmm_device_attach: the dispatcher calls C, no Python runs
  python-device  a vmm.Device whose pio() adds up the writes, dispatched
                 inside vmm_vcpu_run() through the binding's ctypes trampoline
  python-return  no device: every OUT comes back out of vcpu.run() as an
                 Exit, and a Python loop adds it up and calls run() again

Usage (VMM_LIBRARY, PKG_CONFIG_PATH or a build in build/ finds libvmm):
  PYTHONPATH=bindings/python python3 bindings/python/bench_exit.py [N] [ROUNDS]
      wall time, defaults N=5000 exits per round, 5 rounds
  ... bench_exit.py --callgrind [N]   user-space instructions per exit,
      counted exactly: each variant runs under `valgrind --tool=callgrind`
      with N and 2N exits (default N=5000); the difference divided by N
  ... bench_exit.py --only VARIANT N  one untimed run (what --callgrind runs)

Without a C compiler (or without bench_device.c and the libvmm headers) the
c-callback row is skipped with a message saying why.
"""
import ctypes
import os
import shlex
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import vmm
from vmm import _lib

PORT = 0x3F8
LOAD = 0x1000
HERE = os.path.dirname(os.path.abspath(__file__))
TREE = os.path.normpath(os.path.join(HERE, "..", ".."))
C_SOURCE = os.path.join(TREE, "bindings", "rust", "vmm", "csrc", "bench_device.c")
C_SYMBOL = "vmm_rs_bench_c_pio"


def guest(n):
    """mov $n,%ecx; mov $0x3f8,%dx; mov $1,%al; 1: out %al,(%dx); dec %ecx;
    jnz 1b; hlt (16-bit code; the Rust bench's guest byte for byte)."""
    return (b"\x66\xb9" + struct.pack("<I", n)
            + b"\xba\xf8\x03\xb0\x01\xee\x66\x49\x75\xfb\xf4")


class Counter(vmm.Device):
    """The Python twin of bench_device.c: add up the bytes written."""
    name = "bench"

    def __init__(self):
        self.total = 0

    def pio(self, vcpu, io):
        if not io.is_write:
            return vmm.UNHANDLED
        self.total += io.value
        return None


# ------------------------------------------------------- the C baseline
_c_dir = None  # TemporaryDirectory holding the shared object
_c_lib = None  # its CDLL, or the reason there is none (a str)


def c_callback():
    """The C pio callback (a ctypes function pointer), or a str saying why
    it could not be built. Compiled once per process."""
    global _c_dir, _c_lib
    if _c_lib is not None:
        return _c_lib
    cc = shlex.split(os.environ.get("CC") or "cc")
    include = os.environ.get("VMM_INCLUDE_DIR") or os.path.join(TREE, "include")
    if not shutil.which(cc[0]):
        _c_lib = "no C compiler (%s not found; install gcc or set CC)" % cc[0]
    elif not os.path.exists(C_SOURCE):
        _c_lib = "%s not found" % C_SOURCE
    elif not os.path.exists(os.path.join(include, "vmm", "vmm.h")):
        _c_lib = "libvmm headers not found in %s (set VMM_INCLUDE_DIR)" % include
    else:
        _c_dir = tempfile.TemporaryDirectory(prefix="vmm-bench-")
        so = os.path.join(_c_dir.name, "bench_device.so")
        cmd = cc + ["-std=c11", "-O2", "-fPIC", "-shared", "-Wall", "-Werror",
                    "-I", include, C_SOURCE, "-o", so]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            _c_lib = "%s failed: %s" % (" ".join(cmd), out.stderr.strip())
        else:
            _c_lib = getattr(ctypes.CDLL(so), C_SYMBOL)
    return _c_lib


def attach_c(vm, fn):
    """Attach @fn as a plain libvmm device through the raw vmm_device_attach
    (vmm._lib), claiming PORT. Returns what must stay alive while the VM
    runs: the counter the callback adds to (its user pointer) and the ops."""
    counter = ctypes.c_uint64(0)
    ops = _lib.vmm_device_ops(struct_size=ctypes.sizeof(_lib.vmm_device_ops),
                              name=b"bench-c")
    ops.pio = ctypes.cast(fn, _lib.IO_FN)  # a C address: no trampoline
    dev = ctypes.c_void_p()
    h = vm._h()  # the vmm_vm *; the VM destroys the device when it closes
    rc = _lib.LIB.vmm_device_attach(h, ctypes.byref(ops),
                                    ctypes.addressof(counter), ctypes.byref(dev))
    if rc == 0:
        rc = _lib.LIB.vmm_device_map_pio(dev, PORT, 1)
    if rc != 0:
        raise RuntimeError("c-callback: %s: %s" % (
            _lib.LIB.vmm_strerror(rc).decode(), _lib.LIB.vmm_last_error().decode()))
    return counter, ops


# ----------------------------------------------------------------- runs
def run_once(variant, n):
    """Run @n exits through @variant on a fresh VM; return the seconds spent
    in the run loop, after checking that every write was seen."""
    with vmm.VM() as vm:
        vm.add_ram(0, 0x10000)
        vm.write(LOAD, guest(n))
        if variant == "c-callback":
            counter, _ops = attach_c(vm, c_callback())
            seen = lambda: counter.value  # noqa: E731
        elif variant == "python-device":
            dev = vm.attach(Counter()).map_pio(PORT)
            seen = lambda: dev.total  # noqa: E731
        else:
            seen = None
        vcpu = vm.vcpus[0]
        vcpu.set_cpu_mode(vmm.CpuMode.REAL)
        vcpu.set_reg("rip", LOAD)
        returned = 0
        start = time.perf_counter()
        while True:
            exit = vcpu.run()
            if exit.reason == vmm.ExitReason.HLT:
                break
            if (exit.reason != vmm.ExitReason.PIO or exit.port != PORT
                    or not exit.is_write):
                raise RuntimeError("%s: unexpected exit %r" % (variant, exit))
            returned += exit.value
        elapsed = time.perf_counter() - start
        got = seen() if seen else returned
        if got != n:
            raise RuntimeError("%s saw %d of %d writes" % (variant, got, n))
        return elapsed


def variants():
    """The variants this process can run, and a note for each left out."""
    fn = c_callback()
    if isinstance(fn, str):
        return ["python-device", "python-return"], ["c-callback: skipped: " + fn]
    return ["c-callback", "python-device", "python-return"], []


def callgrind_ir(variant, n):
    """Instructions (callgrind's summary) of `bench_exit.py --only VARIANT N`."""
    with tempfile.TemporaryDirectory(prefix="vmm-bench-cg-") as tmp:
        out = os.path.join(tmp, "callgrind.out")
        subprocess.run(["valgrind", "--tool=callgrind", "-q",
                        "--callgrind-out-file=" + out, sys.executable,
                        os.path.abspath(__file__), "--only", variant, str(n)],
                       check=True,  # a fixed hash seed: the same start-up both times
                       env=dict(os.environ, PYTHONHASHSEED="0"))
        with open(out) as f:
            for line in f:
                if line.startswith(("summary:", "totals:")):
                    return int(line.split()[1])
    raise RuntimeError("no summary line in callgrind output")


def main(argv):
    if argv[:1] == ["--only"]:
        run_once(argv[1], int(argv[2]))
        return 0
    names, notes = variants()
    print("libvmm %s, Python %s" % (vmm.library_version_string(),
                                    sys.version.split()[0]))
    for note in notes:
        print(note)
    if argv[:1] == ["--callgrind"]:
        if not shutil.which("valgrind"):
            print("--callgrind needs valgrind (apt-get install valgrind)")
            return 1
        n = int(argv[1]) if len(argv) > 1 else 5000
        print("user-space instructions per PIO exit ((Ir(2N) - Ir(N)) / N, "
              "N=%d, callgrind):" % n)
        for name in names:
            a, b = callgrind_ir(name, n), callgrind_ir(name, 2 * n)
            print("  %-15s %9.1f" % (name, (b - a) / n))
        return 0
    n = int(argv[0]) if argv else 5000
    rounds = int(argv[1]) if len(argv) > 1 else 5
    per_exit = {name: [] for name in names}
    for name in names:  # warm-up: imports, the first VM, the C object
        run_once(name, 10)
    for _ in range(rounds):
        for name in names:  # interleaved, so host drift affects all alike
            t1, t2 = run_once(name, n), run_once(name, 2 * n)
            per_exit[name].append((t2 - t1) * 1e9 / n)
    print("ns per PIO exit (median of %d rounds, (t(2N)-t(N))/N, N=%d):"
          % (rounds, n))
    med = {name: statistics.median(v) for name, v in per_exit.items()}
    base = med.get("c-callback")
    for name in names:
        line = "  %-15s %8.0f ns   (min %6.0f, max %6.0f)" % (
            name, med[name], min(per_exit[name]), max(per_exit[name]))
        if base and name != "c-callback":
            line += "   %+6.0f ns, %.2fx c-callback" % (med[name] - base, med[name] / base)
        print(line)
    if base:
        print("ratio python-device/c-callback: %.2f" % (med["python-device"] / base))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
