#!/usr/bin/env python3
"""hello: the smallest complete libvmm program, in Python.

A 30-byte real-mode payload writes "Hello, world!" to port 0x3f8 one byte at
a time, then halts. A Python device claims that port and prints each byte;
the program then reports what the guest did; leaving `with` frees the VM.
Run (libvmm built in build/): PYTHONPATH=bindings/python python3 examples/python/hello.py
"""
import sys

import vmm

CONSOLE_PORT = 0x3F8
LOAD_GPA = 0x1000  # the payload is copied here and entered at 0:0x1000

# 16-bit code: mov $0x100f,%si; mov $0x3f8,%dx; 1: lodsb; test %al,%al;
# jz 2f; out %al,%dx; jmp 1b; 2: hlt -- then the NUL-terminated string,
# which lands at 0x100f.
PAYLOAD = (bytes.fromhex("be0f10 baf803 ac 84c0 7403 ee ebf8 f4")
           + b"Hello, world!\n\0")


class Console(vmm.Device):
    """Each byte the guest writes to the port goes to stdout."""
    name = "console"

    def pio(self, vcpu, io):
        if not io.is_write:
            return vmm.UNHANDLED  # reads go back to run()'s caller
        sys.stdout.write(chr(io.value))


def main():
    with vmm.VM() as vm:  # one vCPU, no platform devices
        mem = vm.add_ram(0, 0x10000)
        mem[LOAD_GPA:LOAD_GPA + len(PAYLOAD)] = PAYLOAD
        console = vm.attach(Console()).map_pio(CONSOLE_PORT)
        vcpu = vm.vcpus[0]
        vcpu.set_cpu_mode(vmm.CpuMode.REAL)
        vcpu.set_reg("rip", LOAD_GPA)
        exit = vcpu.run()  # the device handles the OUTs inside
        if exit.reason != vmm.ExitReason.HLT:
            sys.exit("hello: guest stopped: %r" % exit)
        stats = vm.stats()
        print('guest halted after %d exits: %d port writes to "%s", then hlt'
              % (stats["total"], stats["pio"], console.name))


if __name__ == "__main__":
    main()
