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


# ---------------------------------------------------- serial guests
# The same payloads assembled for 16-bit real mode, 32-bit protected mode
# (Multiboot, PVH) or 64-bit long mode: only the operand-size prefixes of
# "mov $imm16,%dx" and "mov $imm32,%eax; out %eax,(%dx)" differ.
COM1 = 0x3F8
DEBUG_EXIT = 0xF4


def _mov_dx(port, bits):
    return (b"\x66" if bits != 16 else b"") + b"\xba" + struct.pack("<H", port)


def _out_eax(value, bits):
    """mov $value,%eax; out %eax,(%dx) (a 4-byte port write)."""
    p = b"\x66" if bits == 16 else b""
    return p + b"\xb8" + struct.pack("<I", value) + p + b"\xef"


def _debug_exit(code, bits, port=DEBUG_EXIT):
    """Write @code to the debug-exit port, then spin (jmp .): the write
    ends the run with a request, so the spin only runs if it does not."""
    return _mov_dx(port, bits) + _out_eax(code, bits) + b"\xeb\xfe"


def serial_write(data, code, bits=16, port=COM1):
    """Write @data to the UART's THR at @port, one OUT per byte, then end
    through the debug-exit port with @code."""
    out = _mov_dx(port, bits)
    for b in data:
        out += bytes([0xB0, b, 0xEE])   # mov $b,%al; out %al,(%dx)
    return out + _debug_exit(code, bits)


def serial_echo_line(code, bits=16, port=COM1):
    """Poll LSR.DR, read RBR, write it back to THR, until a newline; then
    end through the debug-exit port with @code."""
    wait = _mov_dx(port + 5, bits)          # LSR
    poll = b"\xec\xa8\x01"                  # in (%dx),%al; test $1,%al
    poll += b"\x74" + bytes([(-(len(poll) + 2)) & 0xFF])   # jz poll
    echo = _mov_dx(port, bits) + b"\xec\xee"   # in RBR; out THR
    echo += b"\x3c\x0a"                     # cmp $'\n',%al
    loop = wait + poll + echo
    loop += b"\x75" + bytes([(-(len(loop) + 2)) & 0xFF])   # jne to the top
    return loop + _debug_exit(code, bits)


MULTIBOOT_MAGIC = 0x1BADB002
MULTIBOOT_BOOTLOADER_MAGIC = 0x2BADB002


def multiboot_kernel(load_addr, text, code_ok, code_bad):
    """A Multiboot (0.6.96) kernel using the a.out kludge (header flag 16:
    load and entry addresses in the header), loaded whole at @load_addr.
    In 32-bit protected mode it checks EAX == 0x2BADB002 (the loader's
    magic), writes @text to COM1 and ends with @code_ok, or ends at once
    with @code_bad."""
    flags = 1 << 1 | 1 << 16               # memory info; address fields valid
    header_size = 32
    entry = load_addr + header_size
    body = (b"\x3d" + struct.pack("<I", MULTIBOOT_BOOTLOADER_MAGIC))  # cmp $magic,%eax
    ok = serial_write(text, code_ok, bits=32)
    body += b"\x0f\x85" + struct.pack("<i", len(ok))              # jne bad
    body += ok + _debug_exit(code_bad, 32)
    header = struct.pack("<8I", MULTIBOOT_MAGIC, flags,
                         (-(MULTIBOOT_MAGIC + flags)) & 0xFFFFFFFF,
                         load_addr, load_addr, 0, 0, entry)
    return header + body
