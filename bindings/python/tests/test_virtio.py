"""The built-in virtio devices (devices/virtio.h).

TestVirtioConfigs needs no KVM: it checks the config builders, which turn
the attach_virtio_*() keywords into the C structs and refuse bad values
before the library is called. The attach tests create VMs and skip without
a usable /dev/kvm. Layout and initialiser checks are in test_layout.py."""
import ctypes
import os
import tempfile
import unittest

import vmm
from vmm import _lib
from vmm import _virtio as v

HAVE_KVM = os.access("/dev/kvm", os.R_OK | os.W_OK)


def fields(s):
    """A ctypes struct as a dict (nested structs and arrays expanded)."""
    out = {}
    for name, *_ in s._fields_:
        val = getattr(s, name)
        if isinstance(val, ctypes.Structure):
            val = fields(val)
        elif isinstance(val, ctypes.Array):
            val = list(val)
        out[name] = val
    return out


class TestVirtioConfigs(unittest.TestCase):
    def test_defaults_are_the_c_initialisers(self):
        # With only the required backing given, each builder's struct is
        # the header's *_INIT (test_layout checks those against layout.c).
        t = fields(v.transport_config())
        self.assertEqual(t, fields(_lib.virtio_transport_init()))
        blk = fields(v.blk_config("disk.img"))
        want = fields(_lib.virtio_blk_config_init())
        self.assertEqual(blk.pop("path"), b"disk.img")
        want.pop("path")
        self.assertEqual(blk, want)
        con, sink = v.console_config()
        self.assertIsNone(sink)
        self.assertEqual(fields(con)["out_fd"], -1)
        self.assertEqual(fields(con)["transport"], t)
        self.assertEqual(fields(v.rng_config()), fields(_lib.virtio_rng_config_init()))
        net = fields(v.net_config(tap_fd=7))
        want = fields(_lib.virtio_net_config_init())
        self.assertEqual((net.pop("tap_fd"), want.pop("tap_fd")), (7, -1))
        self.assertEqual(net, want)

    def test_transport_keywords(self):
        t = v.transport_config("mmio", inline=True, irq=5, mmio_base=0xd0001000,
                               queue_size=1024)
        self.assertEqual((t.transport, t.flags, t.irq, t.mmio_base, t.queue_size),
                         (_lib.VMM_VIRTIO_TRANSPORT_MMIO, _lib.VMM_VIRTIO_F_INLINE,
                          5, 0xd0001000, 1024))
        t = v.transport_config(vmm.VirtioTransport.PCI, pci_slot=31,
                               queue_size=vmm.VIRTIO_QUEUE_SIZE_MAX)
        self.assertEqual((t.transport, t.pci_slot, t.queue_size),
                         (0, 31, 32768))
        self.assertEqual(v.transport_config("PCI").transport, 0)
        self.assertEqual(v.transport_config(1).transport, 1)
        # irq=None: a free line with an irqchip, none without one
        self.assertEqual(v.transport_config(has_irqchip=True).irq, 0)
        self.assertEqual(v.transport_config(has_irqchip=False).irq, vmm.VIRTIO_NO_IRQ)
        self.assertEqual(v.transport_config(irq=0, has_irqchip=False).irq, 0)

    def test_bad_transport_keywords_raise_before_the_library(self):
        bad = [dict(transport="isa"), dict(transport=2),
               dict(irq=-1), dict(irq=1 << 32),
               dict(queue_size=3), dict(queue_size=65536), dict(queue_size=-1),
               dict(pci_slot=32), dict(transport="mmio", pci_slot=1),
               dict(mmio_base=0xd0000000),  # PCI: the library assigns BARs
               dict(transport="mmio", mmio_base=0xd0000800),
               dict(transport="mmio", mmio_base=1 << 64)]
        for kw in bad:
            with self.subTest(**kw), self.assertRaises(vmm.InvalidArgumentError) as cm:
                v.transport_config(fn="attach_virtio_rng", **kw)
            self.assertEqual(cm.exception.function, "attach_virtio_rng")
            self.assertTrue(cm.exception.detail.startswith("attach_virtio_rng: "))
        for kw in (dict(transport=None), dict(transport=1.0), dict(irq="5"),
                   dict(queue_size=2.0), dict(pci_slot=True)):
            with self.subTest(**kw), self.assertRaises(TypeError):
                v.transport_config(**kw)

    def test_blk_config(self):
        c = v.blk_config(fd=5, readonly=True, serial="disk-0", transport="mmio",
                         irq=vmm.VIRTIO_NO_IRQ)
        self.assertEqual((c.fd, c.path, c.flags, c.serial, c.transport.transport),
                         (5, None, _lib.VMM_VIRTIO_BLK_F_READONLY, b"disk-0", 1))
        with tempfile.TemporaryFile() as f:
            self.assertEqual(v.blk_config(fd=f).fd, f.fileno())
        self.assertEqual(v.blk_config(os.path.join(b"/tmp", b"x")).path, b"/tmp/x")
        self.assertEqual(v.blk_config("x", serial=b"s" * 20).serial, b"s" * 20)
        for args, kw in [((), {}), (("x",), dict(fd=3)), (("",), {}),
                         (("x\0y",), {}), (("x",), dict(serial="s" * 21)),
                         (("x",), dict(serial="a\0b")), ((), dict(fd=-1))]:
            with self.subTest(args=args, kw=kw), self.assertRaises(vmm.InvalidArgumentError):
                v.blk_config(*args, **kw)
        with self.assertRaises(TypeError):
            v.blk_config(fd=3.0)
        with self.assertRaises(TypeError):
            v.blk_config(path=42)

    def test_console_config(self):
        got = []
        c, sink = v.console_config(got.append, in_fd=0)
        self.assertEqual(sink, got.append)
        self.assertEqual((c.out_fd, c.in_fd), (-1, 0))
        c, sink = v.console_config(1)
        self.assertEqual((c.out_fd, sink), (1, None))
        with self.assertRaises(TypeError) as cm:
            v.console_config(3.5)
        self.assertIn("attach_virtio_console(out=)", str(cm.exception))
        with self.assertRaises(TypeError):
            v.console_config(in_fd="stdin")

    def test_net_config(self):
        c = v.net_config("tap0", mac="52:54:00:AB:cd:01")
        self.assertEqual((c.tap_name, c.tap_fd, bytes(c.mac)),
                         (b"tap0", -1, bytes.fromhex("525400abcd01")))
        self.assertEqual(bytes(v.net_config(tap_fd=4, mac=b"\x02" * 6).mac), b"\x02" * 6)
        self.assertEqual(v.net_config("t" * 15).tap_name, b"t" * 15)
        for args, kw in [((), {}), (("tap0",), dict(tap_fd=3)), (("",), {}),
                         (("t" * 16,), {}), (("tap0",), dict(mac="52:54:00:12:34")),
                         (("tap0",), dict(mac="52:54:00:12:34:xy")),
                         (("tap0",), dict(mac="525:4:00:12:34:56")),
                         (("tap0",), dict(mac=b"\x02" * 5)),
                         (("tap0",), dict(mac="01:00:5e:00:00:01"))]:  # multicast
            with self.subTest(args=args, kw=kw), self.assertRaises(vmm.InvalidArgumentError):
                v.net_config(*args, **kw)
        with self.assertRaises(TypeError):
            v.net_config("tap0", mac=52)

    def test_info_from_c(self):
        c = _lib.vmm_virtio_info(device_id=2, transport=1, irq=5, mmio_base=0xd0000000,
                                 status=15, needs_reset=1, driver_features=1 << 32,
                                 requests=3, violations=1)
        info = v.VirtioInfo._from_c(c)
        self.assertIs(info.device_id, vmm.VirtioDeviceId.BLOCK)
        self.assertIs(info.transport, vmm.VirtioTransport.MMIO)
        self.assertIs(info.needs_reset, True)
        self.assertEqual((info.irq, info.mmio_base, info.status, info.driver_features,
                          info.requests, info.violations, info.pci_slot),
                         (5, 0xd0000000, 15, 1 << 32, 3, 1, 0))
        self.assertEqual(v.VirtioInfo._from_c(_lib.vmm_virtio_info(device_id=99)).device_id, 99)

    def test_public_names(self):
        for name in ("VirtioDevice", "VirtioBlk", "VirtioConsole", "VirtioRng",
                     "VirtioNet", "VirtioInfo", "VirtioTransport", "VirtioDeviceId",
                     "VIRTIO_NO_IRQ", "VIRTIO_MMIO_BASE", "VIRTIO_QUEUE_SIZE_MAX"):
            self.assertIn(name, vmm.__all__)
            self.assertTrue(hasattr(vmm, name), name)
        self.assertEqual(vmm.VIRTIO_NO_IRQ, 0xffffffff)
        self.assertTrue(issubclass(vmm.VirtioConsole, vmm.BuiltinDevice))
        for m in ("attach_virtio_blk", "attach_virtio_console", "attach_virtio_rng",
                  "attach_virtio_net", "virtio_mmio_cmdline"):
            self.assertTrue(callable(getattr(vmm.VM, m)), m)


@unittest.skipUnless(HAVE_KVM, "needs a usable /dev/kvm")
class TestVirtioAttach(unittest.TestCase):
    def setUp(self):
        self.image = tempfile.NamedTemporaryFile(prefix="vmm-virtio-", suffix=".img")
        self.image.truncate(1 << 20)
        self.image.flush()
        self.addCleanup(self.image.close)

    def test_mmio_devices_and_cmdline(self):
        with vmm.VM() as vm:  # platform NONE: no irqchip, so no interrupt lines
            vm.add_ram(0, 1 << 20)
            self.assertEqual(vm.virtio_mmio_cmdline(), "")
            blk = vm.attach_virtio_blk(self.image.name, transport="mmio")
            self.assertIsInstance(blk, vmm.VirtioBlk)
            info = blk.info()
            self.assertIs(info.device_id, vmm.VirtioDeviceId.BLOCK)
            self.assertIs(info.transport, vmm.VirtioTransport.MMIO)
            self.assertEqual(info.irq, vmm.VIRTIO_NO_IRQ)
            self.assertEqual(info.mmio_base, vmm.VIRTIO_MMIO_BASE)
            self.assertEqual((info.status, info.needs_reset, info.requests), (0, False, 0))
            rng = vm.attach_virtio_rng(transport="mmio", mmio_base=0xd0008000)
            self.assertEqual(rng.info().mmio_base, 0xd0008000)
            self.assertIs(rng.info().device_id, vmm.VirtioDeviceId.ENTROPY)
            # Devices without an interrupt line are left out: Linux's
            # virtio_mmio.device= syntax needs one (platform NONE has none).
            self.assertEqual(vm.virtio_mmio_cmdline(), "")
            rng.detach()
            rng.detach()  # idempotent
            with self.assertRaises(vmm.ClosedError):
                rng.info()
            self.assertEqual(vm.virtio_mmio_cmdline(), "")

    def test_pci_devices_on_platform_pc(self):
        with vmm.VM(platform=vmm.PLATFORM_PC) as vm:
            vm.pc_add_ram(16 << 20)
            with open(self.image.name, "rb") as f:
                blk = vm.attach_virtio_blk(fd=f, readonly=True, serial="s1", pci_slot=5)
            info = blk.info()  # the fd was duplicated: closing ours is fine
            self.assertIs(info.transport, vmm.VirtioTransport.PCI)
            self.assertEqual(info.pci_slot, 5)
            self.assertNotEqual(info.irq, vmm.VIRTIO_NO_IRQ)  # irq=None picked one
            self.assertTrue(vmm.VIRTIO_PCI_MMIO_BASE <= info.mmio_base
                            < vmm.VIRTIO_PCI_MMIO_BASE + vmm.VIRTIO_PCI_MMIO_SIZE)
            with self.assertRaises(vmm.BusyError):
                vm.attach_virtio_rng(pci_slot=5)
            got = []
            con = vm.attach_virtio_console(out=got.append, queue_size=64)
            self.assertIs(con.info().device_id, vmm.VirtioDeviceId.CONSOLE)
            self.assertGreater(con.input(b"hello"), 0)
            self.assertEqual(vm.virtio_mmio_cmdline(), "")  # PCI needs no words

    def test_console_input_and_errors(self):
        with vmm.VM() as vm:
            vm.add_ram(0, 1 << 20)
            con = vm.attach_virtio_console(inline=True, transport="mmio")
            self.assertEqual(con.input(b"x" * 100), 100)
            self.assertLessEqual(con.input(b"y" * (1 << 17)), 1 << 16)
            con.detach()
            with self.assertRaises(vmm.ClosedError):
                con.input(b"x")
            # Errors from the library carry its sentence.
            with self.assertRaises(vmm.InvalidArgumentError) as cm:
                vm.attach_virtio_rng(irq=5)  # platform NONE has no irqchip
            self.assertEqual(cm.exception.function, "vmm_virtio_rng_attach")
            with self.assertRaises(vmm.NotFoundError):
                vm.attach_virtio_blk("/nonexistent/disk.img")
            r, w = os.pipe()
            try:
                with self.assertRaises(vmm.InvalidArgumentError) as cm:
                    vm.attach_virtio_net(tap_fd=r)  # not a TAP
                self.assertIn("tap_fd", cm.exception.detail)
            finally:
                os.close(r)
                os.close(w)

    def test_closed_vm(self):
        vm = vmm.VM()
        vm.close()
        with self.assertRaises(vmm.ClosedError):
            vm.attach_virtio_rng()
        with self.assertRaises(vmm.ClosedError):
            vm.virtio_mmio_cmdline()


if __name__ == "__main__":
    unittest.main()
