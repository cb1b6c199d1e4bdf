"""Platform PC through the Python binding: RAM layout and e820 map, CPUID
policy, interrupt lines, feature queries."""
import errno
import unittest

import vmm
from vmm import _lib

MIB = 1 << 20
LEGACY_START, LEGACY_END = 0x9FC00, 0x100000


class Sink(vmm.Device):
    """A PIO device that accepts everything."""

    def pio(self, vcpu, io):
        return None


class TestPcMemory(unittest.TestCase):
    def test_pc_add_ram_and_e820(self):
        with vmm.VM(platform=vmm.PLATFORM_PC, vcpus=2) as vm:
            self.assertEqual(vm.platform, vmm.Platform.PC)
            self.assertEqual(len(vm.vcpus), 2)
            vm.pc_add_ram(2 * MIB)
            e820 = vm.e820()
            self.assertEqual(e820, [
                vmm.E820Entry(0, LEGACY_START, vmm.E820Type.RAM),
                vmm.E820Entry(LEGACY_START, LEGACY_END - LEGACY_START,
                              vmm.E820Type.RESERVED),
                vmm.E820Entry(LEGACY_END, 2 * MIB - LEGACY_END, vmm.E820Type.RAM),
            ])
            self.assertIsInstance(e820[0].type, vmm.E820Type)
            self.assertEqual(e820[2].end, 2 * MIB)
            # The RAM is there, on both sides of the legacy area.
            vm.write(0x1000, b"low")
            vm.write(2 * MIB - 4, b"high")
            self.assertEqual(vm.read(0x1000, 3) + vm.read(2 * MIB - 4, 4), b"lowhigh")
            with self.assertRaises(vmm.FaultError):
                vm.read(2 * MIB, 1)

    def test_pc_add_ram_refusals(self):
        with vmm.VM(platform=vmm.PLATFORM_PC) as vm:
            with self.assertRaises(vmm.InvalidArgumentError) as cm:
                vm.pc_add_ram(MIB)  # not a multiple of 2 MiB
            self.assertIn("2 MiB", cm.exception.detail)
            self.assertEqual(cm.exception.function, "vmm_pc_add_ram")
        with vmm.VM() as vm:
            self.assertEqual(vm.platform, vmm.Platform.NONE)
            with self.assertRaises(vmm.InvalidArgumentError) as cm:
                vm.pc_add_ram(2 * MIB)
            self.assertIn("VMM_PLATFORM_PC", cm.exception.detail)

    def test_e820_of_plain_ram(self):
        # Any VM has a map: RAM regions cut around the legacy area.
        with vmm.VM() as vm:
            vm.add_ram(0, 0x10000)
            self.assertEqual(vm.e820(), [
                vmm.E820Entry(0, 0x10000, vmm.E820Type.RAM),
                vmm.E820Entry(LEGACY_START, LEGACY_END - LEGACY_START,
                              vmm.E820Type.RESERVED),
            ])


class TestCpuidPolicy(unittest.TestCase):
    HYPERVISOR_BIT = 1 << 31  # CPUID.1:ECX[31]

    @staticmethod
    def leaf(vcpu, function, index=0):
        for e in vcpu.get_cpuid():
            if e.function == function and e.index == index:
                return e
        raise AssertionError("no CPUID leaf %#x" % function)

    def test_override_applies_to_every_vcpu(self):
        with vmm.VM(platform=vmm.PLATFORM_PC, vcpus=2) as vm:
            before = self.leaf(vm.vcpus[0], 1)
            vm.set_cpuid_policy([
                vmm.CpuidOverride(1, reg="ecx", clear=self.HYPERVISOR_BIT),
                (1, 0, vmm.CpuidReg.EBX, 0, 0),  # tuples work too (a no-op)
            ])
            for v in vm.vcpus:
                e = self.leaf(v, 1)
                self.assertEqual(e.ecx, before.ecx & ~self.HYPERVISOR_BIT)
                self.assertEqual(e.ebx & 0xFFFF, before.ebx & 0xFFFF)

    def test_unknown_leaf_changes_nothing(self):
        with vmm.VM(platform=vmm.PLATFORM_PC) as vm:
            before = self.leaf(vm.vcpus[0], 1)
            with self.assertRaises(vmm.NotFoundError) as cm:
                vm.set_cpuid_policy([
                    vmm.CpuidOverride(1, reg=vmm.CpuidReg.ECX, clear=self.HYPERVISOR_BIT),
                    vmm.CpuidOverride(0x4FFFFFF0, set=1),
                ])
            self.assertIn("0x4ffffff0", cm.exception.detail)
            self.assertEqual(self.leaf(vm.vcpus[0], 1).ecx, before.ecx)
            with self.assertRaises(vmm.InvalidArgumentError):
                vm.set_cpuid_policy([vmm.CpuidOverride(1, reg="xmm0")])
            with self.assertRaises(vmm.InvalidArgumentError):
                vm.set_cpuid_policy([])  # 1 .. 256 entries


class TestInterrupts(unittest.TestCase):
    def test_set_irq_without_irqchip_is_enodev(self):
        with vmm.VM() as vm:
            dev = vm.attach(Sink()).map_pio(0x80)
            with self.assertRaises(vmm.NotSupportedError) as cm:
                dev.set_irq(4, True)
            e = cm.exception
            self.assertEqual(e.errno, errno.ENODEV)
            self.assertEqual(e.function, "vmm_device_set_irq")
            self.assertIn("no irqchip", e.detail)
            self.assertIn("Sink", e.detail)
            self.assertIn("ENODEV", str(e))
            # A built-in device goes through the same call.
            rtc = vm.attach_rtc()
            with self.assertRaises(vmm.NotSupportedError) as cm:
                rtc.set_irq(8, 1)
            self.assertEqual(cm.exception.errno, errno.ENODEV)

    def test_set_irq_on_pc(self):
        with vmm.VM(platform=vmm.PLATFORM_PC) as vm:
            dev = vm.attach(Sink()).map_pio(0x80)
            dev.set_irq(5, True)   # assert, then deassert an edge
            dev.set_irq(5, False)
            dev.set_irq(23, 1)     # IOAPIC-only line
            dev.set_irq(23, 0)
            with self.assertRaises(vmm.InvalidArgumentError) as cm:
                dev.set_irq(24, 1)
            self.assertIn("24", cm.exception.detail)
            dev.detach()
            with self.assertRaises(vmm.ClosedError):
                dev.set_irq(5, 1)


class TestFeatures(unittest.TestCase):
    def test_feature_enum_matches_header(self):
        for f in vmm.Feature:
            self.assertEqual(int(f), _lib.CONSTANTS["VMM_FEATURE_" + f.name])
        self.assertEqual(len(vmm.Feature), 10)

    def test_feature_queries(self):
        # Every /dev/kvm these tests run on has an in-kernel irqchip and PIT.
        self.assertTrue(vmm.has_feature(vmm.Feature.PLATFORM_PC))
        for f in (vmm.Feature.EXTRACT_GZIP, vmm.Feature.EXTRACT_XZ,
                  vmm.Feature.EXTRACT_ZSTD, vmm.Feature.EXTRACT_LZ4):
            self.assertIsInstance(vmm.has_feature(f), bool)
        self.assertFalse(vmm.has_feature(11))  # unknown to this version

    def test_version_is_0_2(self):
        major, minor, _ = vmm.library_version()
        self.assertEqual((major, _lib.EXPECTED_MINOR), (0, 2))
        self.assertGreaterEqual(minor, 2)


if __name__ == "__main__":
    unittest.main()
