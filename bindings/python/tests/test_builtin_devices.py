"""The built-in devices (16550A UART, i8042, RTC, debug-exit) and device
exit requests, with real-mode guests on platform NONE and PC."""
import io
import os
import threading
import traceback
import unittest

import vmm

import guests
from guests import CODE_GPA, make_vm


def debug_exit(code):
    return vmm.Request(vmm.RequestKind.DEBUG_EXIT, code)


class TestSerialOutput(unittest.TestCase):
    def test_callback_and_debug_exit(self):
        vm, _ = make_vm(guests.serial_write(b"Hi!\n", 0x2A))
        with vm:
            got = []
            serial = vm.attach_serial(out=got.append)
            vm.attach_debug_exit()
            self.assertEqual(serial.name, "serial@0x3f8")
            exit = vm.vcpus[0].run()
            self.assertEqual(exit.reason, vmm.ExitReason.REQUEST)
            self.assertEqual(exit.request, debug_exit(0x2A))
            self.assertIs(exit.request.kind, vmm.RequestKind.DEBUG_EXIT)
            self.assertEqual(exit.value, 0x2A)
            self.assertIn("DEBUG_EXIT", repr(exit))
            self.assertEqual(b"".join(got), b"Hi!\n")
            self.assertEqual(serial.stats()["pio_writes"], 4)

    def test_platform_pc_default_irq(self):
        # On PC the UART gets COM1's IRQ 4 unless told otherwise; the guest
        # leaves IER at 0, so the line never rises.
        with vmm.VM(platform=vmm.PLATFORM_PC) as vm:
            vm.pc_add_ram(2 << 20)
            vm.write(CODE_GPA, guests.serial_write(b"pc", 7))
            v = vm.vcpus[0]
            v.set_cpu_mode(vmm.CpuMode.REAL)
            v.set_reg("rip", CODE_GPA)
            got = []
            vm.attach_serial(out=got.append)
            vm.attach_debug_exit()
            self.assertEqual(v.run().request, debug_exit(7))
            self.assertEqual(b"".join(got), b"pc")

    def test_irq_needs_an_irqchip(self):
        with vmm.VM() as vm:
            with self.assertRaises(vmm.InvalidArgumentError) as cm:
                vm.attach_serial(irq=4)
            self.assertIn("interrupt controller", cm.exception.detail)
            vm.attach_serial(irq=vmm.SERIAL_NO_IRQ)  # and None picks that

    def test_output_to_fd_and_file_objects(self):
        code = guests.serial_write("Grüße\n".encode(), 1)
        r, w = os.pipe()
        try:
            for out in (w, io.BytesIO(), io.StringIO()):
                vm, _ = make_vm(code)
                with vm:
                    vm.attach_serial(out=out)
                    vm.attach_debug_exit()
                    self.assertEqual(vm.vcpus[0].run().request, debug_exit(1))
                if out is w:
                    self.assertEqual(os.read(r, 100), "Grüße\n".encode())
                elif isinstance(out, io.BytesIO):
                    self.assertEqual(out.getvalue(), "Grüße\n".encode())
                else:  # a text stream gets UTF-8 decoded across byte writes
                    self.assertEqual(out.getvalue(), "Grüße\n")
        finally:
            os.close(r)
            os.close(w)
        with vmm.VM() as vm:
            with self.assertRaises(TypeError):
                vm.attach_serial(out=3.5)

    def test_exception_in_output_stops_the_run_and_is_reraised(self):
        def broken(data):
            raise RuntimeError("console gone: %r" % data)
        for run_all in (False, True):
            vm, _ = make_vm(guests.serial_write(b"xyz", 1))
            with vm:
                vm.attach_serial(out=broken)
                vm.attach_debug_exit()
                try:
                    vm.run_all() if run_all else vm.vcpus[0].run()
                except RuntimeError as e:
                    exc = e
                else:
                    self.fail("the output callback's exception was lost")
                self.assertEqual(str(exc), "console gone: b'x'")
                names = [f.name for f in traceback.extract_tb(exc.__traceback__)]
                self.assertIn("broken", names)
                self.assertEqual(vm._pending, [])


class TestOpenBus(unittest.TestCase):
    def test_unclaimed_ports_are_open_bus_only_when_asked(self):
        # Nothing on COM1: without open_bus the first OUT comes back.
        vm, _ = make_vm(guests.serial_write(b"abc", 0x33))
        with vm:
            vm.attach_debug_exit()
            exit = vm.vcpus[0].run()
            self.assertEqual(exit.reason, vmm.ExitReason.PIO)
        vm, _ = make_vm(guests.serial_write(b"abc", 0x33), open_bus=True)
        with vm:
            vm.attach_debug_exit()
            exit = vm.vcpus[0].run()
            self.assertEqual(exit.request, debug_exit(0x33))
            self.assertEqual(vm.stats()["open_bus"], 3)


class TestSerialInput(unittest.TestCase):
    def test_input_read_back_by_guest(self):
        vm, _ = make_vm(guests.serial_echo_line(0x600D))
        with vm:
            got = []
            serial = vm.attach_serial(out=got.append)
            vm.attach_debug_exit()
            self.assertEqual(serial.input(b"ping\n"), 5)
            exit = vm.vcpus[0].run()
            self.assertEqual(exit.request, debug_exit(0x600D))
            self.assertEqual(b"".join(got), b"ping\n")
            self.assertGreaterEqual(serial.stats()["pio_reads"], 10)  # LSR + RBR each

    def test_input_while_running_from_another_thread(self):
        vm, _ = make_vm(guests.serial_echo_line(2))
        with vm:
            got = []
            serial = vm.attach_serial(out=got.append)
            vm.attach_debug_exit()
            t = threading.Timer(0.1, serial.input, (b"late\n",))
            t.start()
            exit = vm.vcpus[0].run()  # polls LSR until the bytes arrive
            t.join()
            self.assertEqual(exit.request, debug_exit(2))
            self.assertEqual(b"".join(got), b"late\n")

    def test_input_from_fd(self):
        r, w = os.pipe()
        try:
            vm, _ = make_vm(guests.serial_echo_line(3))
            with vm:
                got = []
                vm.attach_serial(out=got.append, in_fd=r)
                vm.attach_debug_exit()
                os.write(w, b"fd\n")
                self.assertEqual(vm.vcpus[0].run().request, debug_exit(3))
                self.assertEqual(b"".join(got), b"fd\n")
        finally:
            os.close(r)
            os.close(w)

    def test_input_buffer_limit_and_detach(self):
        with vmm.VM() as vm:
            serial = vm.attach_serial()
            self.assertEqual(serial.input(b"x" * 5000), 16 + 4096)
            self.assertEqual(serial.input(b"more"), 0)
            serial.detach()
            serial.detach()  # idempotent
            self.assertIsNone(serial.vm)
            with self.assertRaises(vmm.ClosedError):
                serial.input(b"x")
            vm.attach_serial()  # the ports are free again


class TestLegacyDevices(unittest.TestCase):
    def test_i8042_reset_request(self):
        # mov $0xfe,%al; out %al,$0x64 (pulse the reset line); hlt
        vm, _ = make_vm(b"\xb0\xfe\xe6\x64\xf4")
        with vm:
            vm.attach_i8042()
            exit = vm.vcpus[0].run()
            self.assertEqual(exit.reason, vmm.ExitReason.REQUEST)
            self.assertIs(exit.request.kind, vmm.RequestKind.RESET)

    def test_rtc_and_port_conflicts(self):
        # mov $0x0a,%al; out %al,$0x70; in $0x71,%al; out %al,$0x80; hlt:
        # status register A (divider bits 010: the 32.768 kHz time base).
        vm, _ = make_vm(b"\xb0\x0a\xe6\x70\xe4\x71\xe6\x80\xf4")
        with vm:
            rtc = vm.attach_rtc()
            self.assertIsInstance(rtc, vmm.BuiltinDevice)
            exit = vm.vcpus[0].run()
            self.assertEqual((exit.reason, exit.port), (vmm.ExitReason.PIO, 0x80))
            self.assertEqual(exit.value & 0x70, 0x20)
            with self.assertRaises(vmm.BusyError):
                vm.attach_rtc()
            vm.attach_serial()
            with self.assertRaises(vmm.BusyError):
                vm.attach_debug_exit(vmm.COM1_PORT + 4)
            with self.assertRaises(TypeError):
                vm.attach(rtc)

    def test_debug_exit_value_sizes(self):
        # mov $0xf4,%dx; mov $0x5a,%al; out %al,(%dx); hlt -> a 1-byte write
        vm, _ = make_vm(b"\xba\xf4\x00\xb0\x5a\xee\xf4")
        with vm:
            vm.attach_debug_exit()
            self.assertEqual(vm.vcpus[0].run().request, debug_exit(0x5A))


class TestRequestExit(unittest.TestCase):
    def test_python_device_ends_the_run_with_a_reason(self):
        class Doorbell(vmm.Device):
            def pio(self, vcpu, io):
                vcpu.request_exit(vmm.RequestKind.USER + 7, io.value * 2)
        vm, _ = make_vm(guests.real_out_bytes(0x510, b"\x15"))
        with vm:
            vm.attach(Doorbell()).map_pio(0x510)
            v = vm.vcpus[0]
            exit = v.run()
            self.assertEqual(exit.reason, vmm.ExitReason.REQUEST)
            self.assertEqual(exit.request, vmm.Request(vmm.RequestKind.USER + 7, 0x2A))
            self.assertEqual(v.get_reg("rip"), CODE_GPA + 3 + 3)  # after the OUT
            # From outside a run: the next run returns at once.
            v.request_exit(vmm.RequestKind.POWEROFF)
            self.assertEqual(v.run().request, vmm.Request(vmm.RequestKind.POWEROFF, 0))
            with self.assertRaises(vmm.InvalidArgumentError):
                v.request_exit(0)

    def test_request_ends_vm_run(self):
        vm, _ = make_vm(guests.serial_write(b"", 9), num_vcpus=2)
        with vm:
            vm.attach_debug_exit()
            exit = vm.run_all()
            self.assertEqual(exit.request, debug_exit(9))


if __name__ == "__main__":
    unittest.main()
