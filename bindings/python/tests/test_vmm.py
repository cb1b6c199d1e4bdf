"""Behaviour of the Python binding against a real libvmm and /dev/kvm."""
import errno
import gc
import os
import struct
import subprocess
import sys
import threading
import time
import traceback
import unittest

import vmm
from vmm import _lib

import guests
from guests import CODE_GPA, END_PORT, make_vm


class Recorder(vmm.Device):
    """Records writes; answers reads with self.answer (int, bytes, UNHANDLED)."""

    def __init__(self, answer=None):
        self.writes = []
        self.reads = []
        self.answer = answer

    def pio(self, vcpu, io):
        if io.is_write:
            self.writes.append((vcpu.index, io.addr, io.len, io.value))
            return None
        self.reads.append((vcpu.index, io.addr, io.len))
        return self.answer


class TestHello(unittest.TestCase):
    def test_hello_guest(self):
        vm, _ = make_vm(guests.real_out_bytes(0x3F8, b"Hello"))
        with vm:
            dev = vm.attach(Recorder()).map_pio(0x3F8)
            exit = vm.vcpus[0].run()
            self.assertEqual(exit.reason, vmm.ExitReason.HLT)
            self.assertEqual(bytes(w[3] for w in dev.writes), b"Hello")
            self.assertEqual(dev.writes[0][:3], (0, 0x3F8, 1))
            self.assertEqual(vm.stats()["pio"], 5)
            self.assertEqual(dev.stats()["pio_writes"], 5)
            self.assertEqual(vm.vcpus[0].get_reg("rip"), CODE_GPA + 3 + 5 * 3 + 1)

    def test_unhandled_pio_returns_to_caller(self):
        with make_vm(guests.real_out_bytes(0x3F8, b"Hi"))[0] as vm:
            v = vm.vcpus[0]
            got = []
            while True:
                exit = v.run()
                if exit.reason != vmm.ExitReason.PIO:
                    break
                self.assertTrue(exit.is_write)
                self.assertEqual((exit.port, exit.size, exit.count), (0x3F8, 1, 1))
                got.append(exit.value)
            self.assertEqual(exit.reason, vmm.ExitReason.HLT)
            self.assertEqual(bytes(got), b"Hi")

    def test_regs_dataclass(self):
        with make_vm(b"\xf4")[0] as vm:
            v = vm.vcpus[0]
            r = v.regs
            self.assertIsInstance(r, vmm.Regs)
            self.assertEqual(r.rip, CODE_GPA)
            r.rax, r.r15 = 0x1122334455667788, -1
            v.regs = r
            r2 = v.get_regs()
            self.assertEqual(r2.rax, 0x1122334455667788)
            self.assertEqual(r2.r15, (1 << 64) - 1)
            self.assertEqual(v.get_reg("RAX"), 0x1122334455667788)
            sregs = v.get_sregs()
            self.assertEqual(sregs.cs.base, 0)
            v.set_sregs(sregs)
            self.assertTrue(v.get_cpuid())


class TestDevices(unittest.TestCase):
    def test_in_receives_return_value(self):
        vm, _ = make_vm(guests.real_in_inc_out(0x3F9))
        with vm:
            dev = vm.attach(Recorder(answer=0x41)).map_pio(0x3F9)
            self.assertEqual(vm.vcpus[0].run().reason, vmm.ExitReason.HLT)
            self.assertEqual(dev.reads, [(0, 0x3F9, 1)])
            self.assertEqual(dev.writes, [(0, 0x3F9, 1, 0x42)])

    def test_in_32bit_bytes_answer(self):
        vm, _ = make_vm(guests.real_in_out32(0x500))
        with vm:
            dev = vm.attach(Recorder(answer=struct.pack("<I", 0xDEADBEEF)))
            dev.map_pio(0x500, 4)
            self.assertEqual(vm.vcpus[0].run().reason, vmm.ExitReason.HLT)
            self.assertEqual(dev.reads, [(0, 0x500, 4)])
            self.assertEqual(dev.writes, [(0, 0x500, 4, 0xDEADBEEF)])

    def test_unhandled_read_answered_with_respond(self):
        vm, _ = make_vm(guests.real_in_inc_out(0x3F9))
        with vm:
            dev = vm.attach(Recorder(answer=vmm.UNHANDLED)).map_pio(0x3F9)
            v = vm.vcpus[0]
            exit = v.run()
            self.assertEqual(exit.reason, vmm.ExitReason.PIO)
            self.assertFalse(exit.is_write)
            exit.respond(0x10)
            self.assertEqual(v.run().reason, vmm.ExitReason.HLT)
            self.assertEqual(dev.writes, [(0, 0x3F9, 1, 0x11)])
            self.assertEqual(dev.stats()["unhandled"], 1)
            with self.assertRaises(vmm.ClosedError):
                exit.respond(0)  # the vCPU ran again: record is stale

    def test_bad_read_value_is_an_error(self):
        vm, _ = make_vm(guests.real_in_inc_out(0x3F9))
        with vm:
            vm.attach(Recorder(answer=0x1FF)).map_pio(0x3F9)  # > 1 byte
            with self.assertRaises(OverflowError):
                vm.vcpus[0].run()

    def test_map_overlap_and_detach(self):
        with vmm.VM() as vm:
            a = vm.attach(Recorder()).map_pio(0x3F8, 8)
            b = vm.attach(Recorder())
            with self.assertRaises(vmm.BusyError) as cm:
                b.map_pio(0x3FC)
            self.assertIn("Recorder", str(cm.exception))
            with self.assertRaises(vmm.BusyError):
                vm.attach(a)  # already attached
            a.detach()
            self.assertIsNone(a.vm)
            a.detach()  # idempotent
            b.map_pio(0x3FC)
            with self.assertRaises(vmm.ClosedError):
                a.map_pio(0x100)

    def test_device_without_pio_cannot_map_pio(self):
        class MmioOnly(vmm.Device):
            def mmio(self, vcpu, io):
                return 0
        with vmm.VM() as vm:
            d = vm.attach(MmioOnly())
            with self.assertRaises(vmm.InvalidArgumentError):
                d.map_pio(0x80)
            d.map_mmio(0xD0000000, 0x1000)

    def test_reset_callback(self):
        class R(vmm.Device):
            count = 0

            def pio(self, vcpu, io):
                return None

            def reset(self):
                self.count += 1
        with vmm.VM() as vm:
            d = vm.attach(R())
            vm.reset_devices()
            vm.reset_devices()
            self.assertEqual(d.count, 2)


class Boom(vmm.Device):
    def pio(self, vcpu, io):
        self.explode(io)

    def explode(self, io):
        raise ValueError("boom at port %#x" % io.addr)


def catch(fn):
    """The exception fn() raises, traceback intact (assertRaises strips it)."""
    try:
        fn()
    except BaseException as e:
        return e
    raise AssertionError("%s did not raise" % fn)


class TestCallbackExceptions(unittest.TestCase):
    def test_exception_reraised_with_traceback(self):
        vm, _ = make_vm(guests.real_out_bytes(0x3F8, b"x"))
        with vm:
            dev = vm.attach(Boom()).map_pio(0x3F8)
            exc = catch(vm.vcpus[0].run)
            self.assertIsInstance(exc, ValueError)
            self.assertEqual(str(exc), "boom at port 0x3f8")
            names = [f.name for f in traceback.extract_tb(exc.__traceback__)]
            self.assertEqual(names[-2:], ["pio", "explode"])
            self.assertIn("run", names)
            self.assertIn("pio", names)
            self.assertIn("explode", names)
            self.assertEqual(dev.stats()["errors"], 1)
            self.assertEqual(vm._pending, [])

    def test_exception_in_vm_run(self):
        vm, _ = make_vm(guests.real_out_bytes(0x3F8, b"x"), num_vcpus=2)
        with vm:
            vm.attach(Boom()).map_pio(0x3F8)
            exc = catch(vm.run_all)
            self.assertIsInstance(exc, ValueError)
            names = [f.name for f in traceback.extract_tb(exc.__traceback__)]
            self.assertIn("explode", names)

    def test_hypercall_exception(self):
        vm, _ = make_vm(guests.long_hypercall(7, 1), long_mode=True)
        with vm:
            @vm.hypercall(7)
            def bad(vcpu, call):
                raise KeyError("no such thing")
            with self.assertRaises(KeyError):
                vm.vcpus[0].run()

    def test_oserror_errno_passed_to_library(self):
        class E(vmm.Device):
            def pio(self, vcpu, io):
                raise OSError(errno.ENOSPC, "full")
        vm, _ = make_vm(guests.real_out_bytes(0x3F8, b"x"))
        with vm:
            vm.attach(E()).map_pio(0x3F8)
            with self.assertRaises(OSError) as cm:
                vm.vcpus[0].run()
            self.assertEqual(cm.exception.errno, errno.ENOSPC)


class TestHypercalls(unittest.TestCase):
    def test_hypercall_result_in_rax(self):
        vm, _ = make_vm(guests.long_hypercall(0x42, 20, 22), long_mode=True)
        with vm:
            seen = []

            @vm.hypercall(0x42)
            def add(vcpu, call):
                seen.append((vcpu.index, call.nr, call.args[:2]))
                return call.args[0] + call.args[1]
            exit = vm.vcpus[0].run()
            self.assertEqual((exit.reason, exit.port), (vmm.ExitReason.PIO, END_PORT))
            self.assertEqual(exit.value, 42)
            self.assertEqual(seen, [(0, 0x42, (20, 22))])
            self.assertEqual(vm.stats()["hypercall"], 1)
            with self.assertRaises(vmm.ExistsError):
                vm.register_hypercall(0x42, add)
            vm.unregister_hypercall(0x42)
            with self.assertRaises(vmm.NotFoundError):
                vm.unregister_hypercall(0x42)

    def test_unregistered_hypercall_gives_enosys(self):
        vm, _ = make_vm(guests.long_hypercall(9, 0), long_mode=True)
        with vm:
            exit = vm.vcpus[0].run()
            self.assertEqual(exit.value, (-errno.ENOSYS) & 0xFFFFFFFF)


class TestMultiVcpu(unittest.TestCase):
    def test_vm_run_each_vcpu_own_port(self):
        n = 4
        vm = vmm.VM(n)
        with vm:
            mem = vm.add_ram(0, guests.RAM_SIZE)
            dev = vm.attach(Recorder()).map_pio(0x500, n)
            for v in vm.vcpus:
                code = guests.real_out_bytes(0x500 + v.index, [0x30 + v.index])
                gpa = CODE_GPA + 0x100 * v.index
                mem[gpa:gpa + len(code)] = code
                v.set_cpu_mode("real")
                v.set_reg("rip", gpa)
            exit = vm.run_all()
            self.assertEqual(exit.reason, vmm.ExitReason.HLT)
            self.assertEqual(sorted(dev.writes),
                             [(i, 0x500 + i, 1, 0x30 + i) for i in range(n)])


class TestStop(unittest.TestCase):
    def _stop_later(self, vm, delay=0.2):
        t = threading.Timer(delay, vm.stop)
        t.start()
        return t

    def test_stop_vcpu_run_from_other_thread(self):
        vm, _ = make_vm(guests.LONG_SPIN, long_mode=True)
        with vm:
            t = self._stop_later(vm)
            start = time.monotonic()
            exit = vm.vcpus[0].run()
            t.join()
            self.assertEqual(exit.reason, vmm.ExitReason.STOPPED)
            self.assertLess(time.monotonic() - start, 10)

    def test_stop_vm_run_from_other_thread(self):
        vm, _ = make_vm(guests.LONG_SPIN, num_vcpus=2, long_mode=True)
        with vm:
            t = self._stop_later(vm)
            exit = vm.run_all()
            t.join()
            self.assertEqual(exit.reason, vmm.ExitReason.STOPPED)

    def test_close_while_running_stops_first(self):
        vm, _ = make_vm(guests.LONG_SPIN, long_mode=True)
        result = []
        th = threading.Thread(target=lambda: result.append(vm.vcpus[0].run()))
        th.start()
        time.sleep(0.2)
        vm.close()  # stops the runner, waits for it, then destroys
        th.join(10)
        self.assertFalse(th.is_alive())
        self.assertEqual(result[0].reason, vmm.ExitReason.STOPPED)
        self.assertTrue(vm.closed)

    def test_kick(self):
        vm, _ = make_vm(guests.LONG_SPIN, long_mode=True)
        with vm:
            v = vm.vcpus[0]
            t = threading.Timer(0.2, v.kick)
            t.start()
            self.assertEqual(v.run().reason, vmm.ExitReason.KICKED)
            t.join()


class TestMemory(unittest.TestCase):
    def test_bounds(self):
        with vmm.VM() as vm:
            mem = vm.add_ram(0, 0x10000)
            vm.write(0xFFFC, b"abcd")
            self.assertEqual(bytes(mem[0xFFFC:]), b"abcd")
            self.assertEqual(vm.read(0xFFFC, 4), b"abcd")
            with self.assertRaises(vmm.FaultError) as cm:
                vm.read(0xFFFE, 4)
            self.assertEqual(cm.exception.errno, errno.EFAULT)
            self.assertTrue(cm.exception.detail)
            with self.assertRaises(vmm.FaultError):
                vm.write(0x10000, b"x")
            with self.assertRaises(vmm.FaultError):
                vm.memory(0xF000, 0x2000)
            with self.assertRaises(IndexError):
                mem[0x10000]
            with self.assertRaises(vmm.ExistsError):
                vm.add_ram(0x8000, 0x1000)

    def test_guest_writes_visible_in_view(self):
        # movb $0x5a, 0x2000; hlt
        vm, mem = make_vm(b"\xc6\x06\x00\x20\x5a\xf4")
        with vm:
            self.assertEqual(vm.vcpus[0].run().reason, vmm.ExitReason.HLT)
            self.assertEqual(mem[0x2000], 0x5A)
            self.assertEqual(vm.read(0x2000, 1), b"\x5a")

    def test_view_invalid_after_close(self):
        vm = vmm.VM()
        mem = vm.add_ram(0, 0x10000)
        part = vm.memory(0x1000, 16)
        derived = mem[0:16]  # a slice the caller made: stays memory-safe
        mem[0] = 7
        vm.close()
        vm.close()  # idempotent
        for view in (mem, part):
            with self.assertRaises(ValueError):
                view[0]
        self.assertEqual(derived[0], 7)  # detached copy of the old RAM, no crash
        with self.assertRaises(vmm.ClosedError):
            vm.read(0, 1)
        with self.assertRaises(vmm.ClosedError):
            vm.vcpus[0].run()

    def test_remove_memory_releases_views(self):
        with vmm.VM() as vm:
            mem = vm.add_ram(0x10000, 0x10000)
            vm.remove_memory(0x10000)
            with self.assertRaises(ValueError):
                mem[0]
            with self.assertRaises(vmm.NotFoundError):
                vm.remove_memory(0x10000)


class TestErrors(unittest.TestCase):
    def test_errors_carry_text(self):
        with self.assertRaises(vmm.InvalidArgumentError) as cm:
            vmm.VM(num_vcpus=0)
        e = cm.exception
        self.assertIsInstance(e, vmm.Error)
        self.assertEqual(e.errno, errno.EINVAL)
        self.assertEqual(e.function, "vmm_vm_create")
        self.assertTrue(e.detail)
        self.assertIn(e.detail, str(e))
        self.assertIn("EINVAL", str(e))
        with vmm.VM() as vm:
            with self.assertRaises(vmm.InvalidArgumentError) as cm:
                vm.vcpus[0].set_cpu_mode("long", tables_gpa=0x1001)
            self.assertTrue(cm.exception.detail)

    def test_strerror_and_enums(self):
        self.assertEqual(vmm.Error(errno.ENOENT).strerror,
                         _lib.LIB.vmm_strerror(-errno.ENOENT).decode())
        for r in vmm.ExitReason:
            self.assertNotEqual(_lib.LIB.vmm_exit_reason_name(r), b"invalid")

    def test_features(self):
        self.assertTrue(vmm.has_feature(vmm.Feature.HYPERCALLS))
        self.assertFalse(vmm.has_feature(999))

    def test_log_handler(self):
        msgs = []
        vmm.set_log_handler(lambda lvl, m: msgs.append((lvl, m)), _lib.VMM_LOG_DEBUG)
        try:
            with self.assertRaises(vmm.Error):
                vmm.VM(num_vcpus=0)
        finally:
            vmm.set_log_handler(None)
        self.assertTrue(any(lvl == _lib.VMM_LOG_ERROR for lvl, _ in msgs), msgs)


class FakeLib:
    _name = "/fake/libvmm.so"

    def __init__(self, number):
        self.number = number

    def vmm_version(self):
        return self.number


class TestVersionCheck(unittest.TestCase):
    def test_loaded_version_accepted(self):
        self.assertEqual(vmm.library_version(), _lib.check_version(_lib.LIB))
        self.assertEqual(vmm.library_version_string(), "%d.%d.%d" % vmm.library_version())

    def test_incompatible_major_refused(self):
        with self.assertRaises(vmm.IncompatibleLibraryError) as cm:
            _lib.check_version(FakeLib((_lib.EXPECTED_MAJOR + 1) << 16))
        msg = str(cm.exception)
        self.assertIn("%d.0.0" % (_lib.EXPECTED_MAJOR + 1), msg)
        self.assertIn("/fake/libvmm.so", msg)
        self.assertIn("VMM_LIBRARY", msg)

    def test_older_minor_refused_newer_accepted(self):
        major, minor = _lib.EXPECTED_MAJOR, _lib.EXPECTED_MINOR
        if minor > 0:
            with self.assertRaises(ImportError):
                _lib.check_version(FakeLib((major << 16) | ((minor - 1) << 8)))
        self.assertEqual(_lib.check_version(FakeLib((major << 16) | ((minor + 3) << 8) | 7)),
                         (major, minor + 3, 7))

    def test_import_refuses_incompatible_library(self):
        # A fresh interpreter whose CDLL reports another major: import fails.
        code = (
            "import ctypes\n"
            "real = ctypes.CDLL.__getattr__\n"
            "def fake(self, name):\n"
            "    fn = real(self, name)\n"
            "    if name != 'vmm_version': return fn\n"
            "    f = ctypes.CFUNCTYPE(ctypes.c_uint32)(lambda: 0x630000)\n"
            "    setattr(self, name, f); return f\n"
            "ctypes.CDLL.__getattr__ = fake\n"
            "try:\n"
            "    import vmm\n"
            "except ImportError as e:\n"
            "    print('refused:', e)\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                             text=True, timeout=60)
        self.assertIn("refused: libvmm 99.0.0", out.stdout, out.stderr)


class TestLifetime(unittest.TestCase):
    def test_gc_without_close(self):
        vm, mem = make_vm(guests.real_out_bytes(0x3F8, b"x"))
        dev = vm.attach(Recorder()).map_pio(0x3F8)
        vm.vcpus[0].run()
        del vm, dev
        gc.collect()
        with self.assertRaises(ValueError):
            mem[0]

    def test_close_from_callback_refused(self):
        class Closer(vmm.Device):
            def pio(self, vcpu, io):
                self.vm.close()
        vm, _ = make_vm(guests.real_out_bytes(0x3F8, b"x"), num_vcpus=2)
        with vm:
            vm.attach(Closer()).map_pio(0x3F8)
            with self.assertRaises(vmm.BusyError):
                vm.run_all()  # on library threads
            self.assertFalse(vm.closed)
        self.assertTrue(vm.closed)

    def test_interpreter_exit_with_open_vm(self):
        code = ("import vmm, sys\nsys.path.insert(0, %r)\nimport guests\n"
                "vm, mem = guests.make_vm(b'\\xf4')\n"
                "class D(vmm.Device):\n    def pio(self, v, io): pass\n"
                "vm.attach(D()).map_pio(0x80)\nvm.keep = vm\nprint('ok')\n"
                % guests.__file__.rsplit("/", 1)[0])
        out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual((out.returncode, out.stdout, out.stderr), (0, "ok\n", ""))


class TestExample(unittest.TestCase):
    def test_hello_example(self):
        path = os.path.join(os.path.dirname(__file__), "..", "..", "..",
                            "examples", "python", "hello.py")
        if not os.path.exists(path):
            self.skipTest("examples/python/hello.py not beside the binding")
        out = subprocess.run([sys.executable, path], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, "Hello, world!\nguest halted after 15 exits: "
                         "14 port writes to \"console\", then hlt\n")


if __name__ == "__main__":
    unittest.main()
