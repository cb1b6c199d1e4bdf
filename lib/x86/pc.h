/* The PC platform's internal entry points, called by vm/vm.c and the
 * loaders, and what its files share within lib/x86. */
#ifndef VMM_LIB_X86_PC_H
#define VMM_LIB_X86_PC_H

#include "vm/vm.h"

/* Before any vCPU exists: in-kernel irqchip (KVM_CREATE_IRQCHIP must come
 * before KVM_CREATE_VCPU, api.rst 4.24) and PIT. */
int vmm_pc_init(vmm_vm *vm);

/* After each vCPU is created (its CPUID already holds KVM's supported
 * leaves): topology, paravirtual leaves, MSRs, LAPIC LINT0/LINT1, and the
 * multiprocessor state (vCPU 0 runs, the others wait for INIT/SIPI). */
int vmm_pc_vcpu_init(vmm_vcpu *vcpu);

/* Writes an Intel MP Specification 1.4 table describing every vCPU, the
 * IOAPIC and the ISA interrupts at 0x9fc00 (loaders call it on platform PC
 * so SMP guests find their processors). Returns 0, -EINVAL (not platform
 * PC, too many vCPUs for 8-bit APIC ids) or -EFAULT (RAM does not cover
 * the table). */
int vmm_pc_write_mptable(vmm_vm *vm);

/* Where the MP floating pointer goes: the last KiB of 640 KiB base memory,
 * one of the places MP spec 1.4 §4 tells the OS to search. */
#define VMM_PC_MPTABLE_GPA 0x9fc00ull
/* The reserved legacy area (EBDA, VGA, option and system BIOS). */
#define VMM_PC_LEGACY_START VMM_PC_MPTABLE_GPA
#define VMM_PC_LEGACY_END 0x100000ull
/* The in-kernel IOAPIC and LAPIC (KVM's fixed addresses). */
#define VMM_PC_IOAPIC_GPA 0xfec00000u
#define VMM_PC_LAPIC_GPA 0xfee00000u

/* CPUID tables are at most this long (KVM_SET_CPUID2 accepts more, but
 * KVM_GET_SUPPORTED_CPUID never reports that many). */
#define VMM_X86_MAX_CPUID_ENTRIES 256

/* lib/x86/cpuid.c: hands @entries (borrowed) to KVM_SET_CPUID2 and, on
 * success, makes a copy the vCPU's table. @fn names the public caller. */
int vmm_x86_cpuid_apply(vmm_vcpu *vcpu, const struct vmm_cpuid_entry *entries, uint32_t count,
                        const char *fn);

/* lib/x86/cpu_mode.c: what vmm_vcpu_set_cpu_mode() would do, without
 * doing it, for the loaders (which write memory and registers only once a
 * whole load has been checked): validates @cfg, writes the GDT, TSS and page
 * tables the mode needs into @tables (host bytes that will be copied to
 * cfg->tables_gpa; vmm_cpu_mode_tables_size() of them; NULL for real mode)
 * and sets the segment and control registers in @s (which holds the vCPU's
 * current sregs). With @linux_gdt, CS is the Linux boot protocol's
 * __BOOT_CS (0x10: flat code of the mode entered) and DS/ES/SS its
 * __BOOT_DS (0x18), as boot.rst's 32- and 64-bit protocols require. */
int vmm_x86_cpu_mode_state(const struct vmm_cpu_mode_config *cfg, bool linux_gdt,
                           uint8_t *tables, struct vmm_sregs *s, const char *fn);

/* lib/x86/mptable.c: the MP table vmm_pc_write_mptable() writes, built in
 * a malloc'ed buffer (*table, *size) for the caller to place at
 * VMM_PC_MPTABLE_GPA. Returns 0 or -EINVAL/-ENOMEM with a sentence. */
int vmm_pc_build_mptable(const vmm_vm *vm, uint8_t **table, size_t *size);

/* lib/x86/topology.c: rewrites a copy of the vCPU's table so that it
 * describes @vcpu as core vcpu->index of one package with num_vcpus cores,
 * one thread each, and installs it. */
int vmm_pc_cpuid_topology(vmm_vcpu *vcpu);

#endif
