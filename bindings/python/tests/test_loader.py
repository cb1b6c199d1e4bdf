"""vmm_boot_load() through the Python binding: a RAW image entered in long
mode and a Multiboot kernel read from files, both talking through the
built-in UART and ending through the debug-exit port."""
import errno
import os
import tempfile
import unittest

import vmm

import guests

MIB = 1 << 20
RAW_GPA = 0x100000
MB_LOAD = 0x100000


def pc_vm(out):
    """A 2 MiB PC VM with COM1 (output to @out) and a debug-exit port."""
    vm = vmm.VM(platform=vmm.PLATFORM_PC)
    vm.pc_add_ram(2 * MIB)
    serial = vm.attach_serial(out=out)
    vm.attach_debug_exit()
    return vm, serial


def debug_exit(code):
    return vmm.Request(vmm.RequestKind.DEBUG_EXIT, code)


class TestRawImage(unittest.TestCase):
    def test_raw_long_mode_prints_and_exits(self):
        code = guests.serial_write(b"raw64\n", 0x600D, bits=64)
        got = []
        vm, _ = pc_vm(got.append)
        with vm:
            info = vm.boot_load(code, format=vmm.ImageFormat.RAW, raw_gpa=RAW_GPA,
                                raw_cpu_mode=vmm.CpuMode.LONG)
            self.assertIsInstance(info, vmm.BootInfo)
            self.assertIs(info.format, vmm.ImageFormat.RAW)
            self.assertEqual((info.entry, info.kernel_gpa, info.kernel_end),
                             (RAW_GPA, RAW_GPA, RAW_GPA + len(code)))
            self.assertEqual((info.initrd_gpa, info.initrd_size, info.boot_params_gpa),
                             (0, 0, 0))
            self.assertEqual(vm.read(RAW_GPA, len(code)), code)
            v = vm.vcpus[0]
            self.assertEqual(v.get_reg("rip"), RAW_GPA)
            self.assertTrue(v.get_reg("efer") & (1 << 10))  # EFER.LMA: long mode
            exit = v.run()
            self.assertEqual(exit.reason, vmm.ExitReason.REQUEST)
            self.assertEqual(exit.request, debug_exit(0x600D))
            self.assertEqual(b"".join(got), b"raw64\n")

    def test_raw_guest_reads_serial_input(self):
        got = []
        vm, serial = pc_vm(got.append)
        with vm:
            vm.boot_load(bytearray(guests.serial_echo_line(0x1234, bits=64)),
                         format=vmm.ImageFormat.RAW, raw_gpa=RAW_GPA,
                         raw_entry=RAW_GPA, raw_cpu_mode=vmm.CpuMode.LONG)
            self.assertEqual(serial.input(b"echo me\n"), 8)
            self.assertEqual(vm.vcpus[0].run().request, debug_exit(0x1234))
            self.assertEqual(b"".join(got), b"echo me\n")

    def test_refusals(self):
        with vmm.VM(platform=vmm.PLATFORM_PC) as vm:
            vm.pc_add_ram(2 * MIB)
            with self.assertRaises(vmm.Error) as cm:
                vm.boot_load(b"\0" * 4096)  # AUTO: no format recognises it
            self.assertEqual(cm.exception.errno, errno.ENOEXEC)
            self.assertEqual(cm.exception.function, "vmm_boot_load")
            self.assertTrue(cm.exception.detail)
            with self.assertRaises(vmm.InvalidArgumentError):
                vm.boot_load(b"\x90", cmdline="a\0b")
            with self.assertRaises(TypeError):
                vm.boot_load("not bytes")
            with self.assertRaises(vmm.Error) as cm:  # does not fit in 2 MiB
                vm.boot_load(b"\xf4" * 0x1000, format=vmm.ImageFormat.RAW,
                             raw_gpa=2 * MIB - 0x800, raw_cpu_mode=vmm.CpuMode.LONG)
            self.assertIn(cm.exception.errno, (errno.ENOMEM, errno.EINVAL, errno.EFAULT))


class TestMultibootFiles(unittest.TestCase):
    def test_boot_load_files(self):
        kernel = guests.multiboot_kernel(MB_LOAD, b"MB ok\n", 1, 0xBAD)
        initrd = bytes(range(256)) * 16
        with tempfile.TemporaryDirectory() as d:
            kpath, ipath = os.path.join(d, "kernel"), os.path.join(d, "initrd")
            with open(kpath, "wb") as f:
                f.write(kernel)
            with open(ipath, "wb") as f:
                f.write(initrd)
            got = []
            vm, _ = pc_vm(got.append)
            with vm:
                info = vm.boot_load_files(kpath, ipath, "console=ttyS0 quiet")
                self.assertIs(info.format, vmm.ImageFormat.MULTIBOOT)
                self.assertEqual(info.entry, MB_LOAD + 32)
                self.assertEqual(info.kernel_gpa, MB_LOAD)
                self.assertNotEqual(info.boot_params_gpa, 0)
                self.assertEqual(vm.vcpus[0].get_reg("rbx"), info.boot_params_gpa)
                self.assertEqual(info.initrd_size, len(initrd))
                self.assertEqual(vm.read(info.initrd_gpa, len(initrd)), initrd)
                self.assertEqual(vm.read(info.cmdline_gpa, 20), b"console=ttyS0 quiet\0")
                exit = vm.vcpus[0].run()
                self.assertEqual(exit.request, debug_exit(1))  # EAX had the magic
                self.assertEqual(b"".join(got), b"MB ok\n")

    def test_modules_from_bytes(self):
        # The initrd is module 0; more follow, each with its own string,
        # as the multiboot_info module list shows (Multiboot 0.6.96 §3.3).
        kernel = guests.multiboot_kernel(MB_LOAD, b"", 1, 0xBAD)
        mods = [(b"first module", None), (b"second" * 100, "mod2 arg=1"), b"third"]
        got = []
        vm, _ = pc_vm(got.append)
        with vm:
            info = vm.boot_load(kernel, initrd=b"initrd!", cmdline=b"k",
                                format=vmm.ImageFormat.MULTIBOOT, modules=mods)
            mbi = vm.read(info.boot_params_gpa, 28)
            flags, count, addr = (int.from_bytes(mbi[o:o + 4], "little") for o in (0, 20, 24))
            self.assertTrue(flags & (1 << 3))  # mods_count/mods_addr valid
            self.assertEqual(count, 4)
            entries = vm.read(addr, 16 * count)
            want = [(b"initrd!", None), (b"first module", None),
                    (b"second" * 100, b"mod2 arg=1"), (b"third", None)]
            for i, (data, string) in enumerate(want):
                start, end, string_gpa = (int.from_bytes(entries[16 * i + o:16 * i + o + 4],
                                                         "little") for o in (0, 4, 8))
                self.assertEqual(vm.read(start, end - start), data, i)
                if string is not None:
                    self.assertEqual(vm.read(string_gpa, len(string) + 1), string + b"\0")
            self.assertEqual(vm.vcpus[0].run().request, debug_exit(1))
            with self.assertRaises(vmm.InvalidArgumentError):  # modules need an initrd
                vm.boot_load(kernel, modules=[b"x"])

    def test_missing_file_is_named(self):
        with vmm.VM(platform=vmm.PLATFORM_PC) as vm:
            vm.pc_add_ram(2 * MIB)
            with self.assertRaises(vmm.NotFoundError) as cm:
                vm.boot_load_files("/nonexistent/vmlinuz")
            self.assertIn("/nonexistent/vmlinuz", cm.exception.detail)


if __name__ == "__main__":
    unittest.main()
