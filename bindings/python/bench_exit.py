#!/usr/bin/env python3
"""Cost of one port-I/O exit round trip seen from Python, two ways:

  device: the exit is dispatched inside vmm_vcpu_run() to a Python
          vmm.Device.pio() through the ctypes trampoline (one run() call);
  return: no device claims the port, so every exit comes back out of
          vmm_vcpu_run() and a Python `while` loop calls vcpu.run() again.

The guest (64-bit CPL3, native here) does N `out %al,(%dx)` in a loop.
Usage: VMM_LIBRARY=build/lib/libvmm.so PYTHONPATH=bindings/python \
       python3 bindings/python/bench_exit.py [N] [repeats]
Wall time on nested KVM is dominated by the exit itself (~25 us from CPL3,
DESIGN.md); the difference between the two lines is the Python-side cost.
"""
import struct
import sys
import time

import vmm

PORT, END = 0x80, 0x81


def guest(n):
    # mov $n,%ecx; mov $PORT,%dx; 1: out %al,(%dx); dec %ecx; jnz 1b;
    # mov $END,%dx; out %al,(%dx); jmp .
    return (b"\xb9" + struct.pack("<I", n) + b"\x66\xba" + struct.pack("<H", PORT)
            + b"\xee\xff\xc9\x75\xfb" + b"\x66\xba" + struct.pack("<H", END)
            + b"\xee\xeb\xfe")


class Sink(vmm.Device):
    def pio(self, vcpu, io):
        return None


def run_once(n, with_device):
    with vmm.VM() as vm:
        mem = vm.add_ram(0, 2 << 20)
        code = guest(n)
        mem[0x1000:0x1000 + len(code)] = code
        v = vm.vcpus[0]
        v.set_cpu_mode(vmm.CpuMode.LONG, user=True, tables_gpa=0x100000,
                       tables_size=0x100000)
        v.set_reg("rip", 0x1000)
        if with_device:
            vm.attach(Sink()).map_pio(PORT)
        start = time.perf_counter()
        count = 0
        while True:
            exit = v.run()
            if exit.reason != vmm.ExitReason.PIO:
                raise RuntimeError("unexpected %r" % exit)
            if exit.port == END:
                break
            count += 1
        elapsed = time.perf_counter() - start
        if count != (0 if with_device else n) or vm.stats()["pio"] != n + 1:
            raise RuntimeError("exit count mismatch")
        return elapsed / n * 1e9


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    dev = min(run_once(n, True) for _ in range(repeats))
    ret = min(run_once(n, False) for _ in range(repeats))
    print("libvmm %s, %d exits, best of %d" % (vmm.library_version_string(), n, repeats))
    print("python device callback : %8.0f ns/exit" % dev)
    print("returned to python loop: %8.0f ns/exit" % ret)
    print("ratio callback/return  : %8.2f" % (dev / ret))


if __name__ == "__main__":
    main()
