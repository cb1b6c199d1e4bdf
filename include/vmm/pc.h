/**
 * @file pc.h
 * @brief The PC platform (VMM_PLATFORM_PC): guest RAM layout, the e820 map
 *        the loaders hand to guests, and the CPUID policy.
 *
 * Memory map of a PC VM (what vmm_pc_add_ram() builds; vmm_pc_e820()
 * lists its RAM and the reserved legacy area, and leaves the MMIO hole out,
 * as firmware does on a PC):
 *
 * | range                          | what                                   |
 * | ------------------------------ | -------------------------------------- |
 * | 0 .. 0x9fc00                   | RAM (loaders put boot data here)       |
 * | 0x9fc00 .. 0x100000            | reserved: EBDA (MP table), VGA, BIOS   |
 * | 0x100000 .. min(RAM, 3 GiB)    | RAM                                    |
 * | 3 GiB .. 4 GiB                 | not RAM (not listed): MMIO hole, IOAPIC 0xfec00000, LAPIC 0xfee00000, KVM TSS |
 * | 4 GiB .. 4 GiB + rest          | RAM above the hole, if any             |
 */
#ifndef VMM_PC_H
#define VMM_PC_H

#include <vmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Start of the PCI/MMIO hole below 4 GiB on a PC VM. */
#define VMM_PC_MMIO_HOLE_START 0xc0000000ull
/** Where RAM that does not fit below the hole continues. */
#define VMM_PC_HIGH_RAM_START 0x100000000ull

/**
 * @brief Give a PC VM @p size bytes of library-allocated RAM: from 0 up to
 *        the MMIO hole, the rest from 4 GiB.
 * @param size Bytes, a multiple of 2 MiB, at least 2 MiB.
 * @return 0; -EINVAL (NULL, bad size, platform not PC); as
 *         vmm_memory_add_ram() otherwise.
 */
VMM_API int vmm_pc_add_ram(vmm_vm *vm, uint64_t size);

/** e820 entry types (ACPI spec §15, "System Address Map Interfaces"). */
enum vmm_e820_type {
    VMM_E820_RAM = 1,
    VMM_E820_RESERVED = 2,
};

/** One e820 entry, laid out as in the Linux boot protocol's boot_params. */
struct vmm_e820_entry {
    uint64_t addr; /**< first byte */
    uint64_t size; /**< bytes */
    uint32_t type; /**< an enum vmm_e820_type value */
    uint32_t reserved0; /**< 0 (padding; boot_params packs the entry to 20 bytes) */
};

/**
 * @brief The memory map a loader reports to the guest: every RAM region of
 *        the VM (read-only regions excluded) as RAM, split around the
 *        reserved legacy area [0x9fc00, 0x100000), plus that area, sorted.
 * @param[out] entries Room for @p *count entries (may be NULL if 0).
 * @param[in,out] count In: capacity. Out: entries in the map.
 * @return 0; -E2BIG (capacity too small; *count says how many are needed);
 *         -EINVAL (NULL).
 */
VMM_API int vmm_pc_e820(const vmm_vm *vm, struct vmm_e820_entry *entries, uint32_t *count);

/**
 * A CPUID policy: for the leaf (function, index), the bits set in @c clear
 * are cleared and then the bits in @c set are set, register by register —
 * like QEMU's `-cpu ...,-feature` or Firecracker's CPU templates.
 */
struct vmm_cpuid_override {
    uint32_t function; /**< leaf (EAX input) */
    uint32_t index;    /**< subleaf; ignored for leaves without subleaves */
    uint32_t reg;      /**< 0 EAX, 1 EBX, 2 ECX, 3 EDX */
    uint32_t clear;    /**< bits to clear */
    uint32_t set;      /**< bits to set (after clearing) */
};

/** Register numbers for struct vmm_cpuid_override::reg. */
enum vmm_cpuid_reg { VMM_CPUID_EAX = 0, VMM_CPUID_EBX, VMM_CPUID_ECX, VMM_CPUID_EDX };

/**
 * @brief Apply a CPUID policy to every vCPU of the VM (before they first
 *        run). A leaf the table lacks is an error, not silently added.
 * @param overrides Borrowed for the call; 1 .. 256 entries.
 * @return 0; -EINVAL (NULL, bad count or register); -ENOENT (a leaf the
 *         vCPUs do not have, named in vmm_last_error()); KVM's errno (e.g.
 *         after the vCPUs ran). On error no vCPU is changed.
 */
VMM_API int vmm_vm_set_cpuid_policy(vmm_vm *vm, const struct vmm_cpuid_override *overrides,
                                    uint32_t count);

#ifdef __cplusplus
}
#endif

#endif /* VMM_PC_H */
