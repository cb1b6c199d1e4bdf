"""Tiny guest payloads (machine code) and VM set-up helpers for the tests.

Real-mode code runs at 0x1000 and ends with HLT. Long-mode code runs at CPL3
(natively on the nested-KVM CI hosts) and, since HLT faults at CPL3, ends
with a write to an unmapped port (END_PORT) that run() returns as an exit.
"""
import struct

import vmm

CODE_GPA = 0x1000
RAM_SIZE = 2 << 20
TABLES_GPA = 0x100000
TABLES_SIZE = 0x100000
END_PORT = 0x3F8  # unhandled OUT that ends a CPL3 guest


def real_out_bytes(port, data):
    """mov $port,%dx; for each byte: mov $b,%al; out %al,(%dx); then hlt."""
    code = b"\xba" + struct.pack("<H", port)
    for b in data:
        code += bytes([0xB0, b, 0xEE])
    return code + b"\xf4"


def real_in_inc_out(port):
    """mov $port,%dx; in (%dx),%al; inc %al; out %al,(%dx); hlt."""
    return b"\xba" + struct.pack("<H", port) + b"\xec\xfe\xc0\xee\xf4"


def real_in_out32(port):
    """mov $port,%dx; in (%dx),%eax; out %eax,(%dx); hlt (operand-size prefix)."""
    return b"\xba" + struct.pack("<H", port) + b"\x66\xed\x66\xef\xf4"


def long_hypercall(nr, arg0, arg1=0):
    """mov $nr,%eax; mov $arg0,%edi; mov $arg1,%esi; mov $0x600,%dx;
    out %eax,(%dx); mov $END_PORT,%dx; out %eax,(%dx) (the result); jmp ."""
    return (b"\xb8" + struct.pack("<I", nr) + b"\xbf" + struct.pack("<I", arg0)
            + b"\xbe" + struct.pack("<I", arg1) + b"\x66\xba\x00\x06\xef"
            + b"\x66\xba" + struct.pack("<H", END_PORT) + b"\xef\xeb\xfe")


LONG_SPIN = b"\xeb\xfe"  # jmp . (native at CPL3)


def make_vm(code, num_vcpus=1, long_mode=False, **kw):
    """A VM with 2 MiB of RAM at 0, @code at CODE_GPA, every vCPU at RIP
    CODE_GPA in real mode or (long_mode) 64-bit CPL3. Returns (vm, mem)."""
    vm = vmm.VM(num_vcpus, **kw)
    mem = vm.add_ram(0, RAM_SIZE)
    mem[CODE_GPA:CODE_GPA + len(code)] = code
    for v in vm.vcpus:
        if long_mode:
            v.set_cpu_mode(vmm.CpuMode.LONG, user=True, tables_gpa=TABLES_GPA,
                           tables_size=TABLES_SIZE)
        else:
            v.set_cpu_mode(vmm.CpuMode.REAL)
        v.set_reg("rip", CODE_GPA)
    return vm, mem
