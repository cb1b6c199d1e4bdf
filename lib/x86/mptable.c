/* The Intel MultiProcessor Specification 1.4 table of a PC VM: how an SMP
 * guest that does not read ACPI finds its processors, its IOAPIC and the
 * wiring of the ISA interrupts (MP spec 1.4 chapter 4). */
#include "x86/pc.h"

#include "core/error.h"
#include "devices/pci/pci.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* MP spec 1.4 §4.1, Table 4-1: MP floating pointer structure. */
struct mpf_intel {
    char signature[4]; /* "_MP_" */
    uint32_t physptr;  /* the configuration table */
    uint8_t length;    /* in 16-byte paragraphs: 1 */
    uint8_t spec_rev;  /* 4 for version 1.4 */
    uint8_t checksum;  /* all 16 bytes sum to 0 */
    uint8_t feature1;  /* 0: a configuration table is present */
    uint8_t feature2;  /* bit 7 IMCRP: 0, virtual wire mode */
    uint8_t feature3[3];
} __attribute__((packed));

/* §4.2, Table 4-2: configuration table header. */
struct mpc_table {
    char signature[4];  /* "PCMP" */
    uint16_t length;    /* base table, header included */
    uint8_t spec_rev;
    uint8_t checksum;   /* the base table sums to 0 */
    char oem_id[8];
    char product_id[12];
    uint32_t oem_ptr;
    uint16_t oem_size;
    uint16_t entry_count;
    uint32_t lapic_addr;
    uint16_t ext_length;
    uint8_t ext_checksum;
    uint8_t reserved;
} __attribute__((packed));

/* §4.3.1, Table 4-4: processor entry. */
struct mpc_cpu {
    uint8_t type;        /* 0 */
    uint8_t apic_id;
    uint8_t apic_ver;
    uint8_t flags;       /* bit 0 EN, bit 1 BP */
    uint32_t signature;  /* CPUID leaf 1 EAX: stepping, model, family */
    uint32_t features;   /* CPUID leaf 1 EDX */
    uint32_t reserved[2];
} __attribute__((packed));

/* §4.3.2, Table 4-7: bus entry. */
struct mpc_bus {
    uint8_t type;        /* 1 */
    uint8_t bus_id;
    char bus_type[6];    /* "ISA   " (Table 4-8) */
} __attribute__((packed));

/* §4.3.3, Table 4-9: I/O APIC entry. */
struct mpc_ioapic {
    uint8_t type;        /* 2 */
    uint8_t apic_id;
    uint8_t apic_ver;
    uint8_t flags;       /* bit 0 EN */
    uint32_t addr;
} __attribute__((packed));

/* §4.3.4, Table 4-10 (I/O interrupt, type 3) and §4.3.5, Table 4-12
 * (local interrupt, type 4) share this shape. */
struct mpc_intsrc {
    uint8_t type;
    uint8_t irq_type;    /* Table 4-11: 0 INT, 1 NMI, 2 SMI, 3 ExtINT */
    uint16_t flags;      /* polarity/trigger: 0 conforms to the bus */
    uint8_t src_bus;
    uint8_t src_irq;
    uint8_t dst_apic;    /* IOAPIC id, or local APIC id (0xff: all) */
    uint8_t dst_pin;     /* IOAPIC INTIN# or LINTIN# */
} __attribute__((packed));

_Static_assert(sizeof(struct mpf_intel) == 16, "MP spec Table 4-1");
_Static_assert(sizeof(struct mpc_table) == 44, "MP spec Table 4-2");
_Static_assert(sizeof(struct mpc_cpu) == 20, "MP spec Table 4-4");
_Static_assert(sizeof(struct mpc_bus) == 8, "MP spec Table 4-7");
_Static_assert(sizeof(struct mpc_ioapic) == 8, "MP spec Table 4-9");
_Static_assert(sizeof(struct mpc_intsrc) == 8, "MP spec Table 4-10");

enum { MP_PROCESSOR = 0, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };
#define CPU_ENABLED 0x01
#define CPU_BOOTPROCESSOR 0x02
#define APIC_VERSION 0x14   /* an integrated local APIC, as KVM's reports */
#define IOAPIC_VERSION 0x11 /* KVM's IOAPIC (ioapic.h IOAPIC_VERSION_ID) */
#define BUS_ISA 0
#define BUS_PCI 1 /* MP bus 1 is PCI bus 0 (Linux numbers PCI buses by their order) */
#define ISA_IRQS 16
/* INTx routes listed for the PCI bus: one per slot at most. */
#define MAX_PCI_ROUTES PCI_SLOTS
/* The IOAPIC's id follows the processors' and must fit in 8 bits. */
#define MAX_MP_CPUS 254

static uint8_t checksum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + p[i]);
    return (uint8_t)(0u - sum);
}

static size_t mptable_size(uint32_t ncpus, size_t pci_routes)
{
    return sizeof(struct mpf_intel) + sizeof(struct mpc_table) +
           ncpus * sizeof(struct mpc_cpu) + 2 * sizeof(struct mpc_bus) +
           sizeof(struct mpc_ioapic) +
           (ISA_IRQS + pci_routes + 2) * sizeof(struct mpc_intsrc);
}

/* CPUID leaf 1 EAX and EDX of vCPU 0: the processor signature and feature
 * flags the processor entries repeat (Table 4-5, 4-6). */
static void cpu_signature(const vmm_vcpu *bsp, uint32_t *sig, uint32_t *features)
{
    *sig = 0;
    *features = 0;
    for (uint32_t i = 0; i < bsp->cpuid_count; i++) {
        if (bsp->cpuid[i].function == 1) {
            *sig = bsp->cpuid[i].eax;
            *features = bsp->cpuid[i].edx;
        }
    }
}

static int build(const vmm_vm *vm, uint8_t **out, size_t *out_size, const char *fn)
{
    if (vm->platform != VMM_PLATFORM_PC)
        return vmm_err(-EINVAL, "%s: the VM is not VMM_PLATFORM_PC", fn);
    const uint32_t ncpus = vm->num_vcpus;
    if (ncpus > MAX_MP_CPUS)
        return vmm_err(-EINVAL, "%s: %u vCPUs do not fit an MP table (8-bit APIC ids, at most "
                       "%d processors besides the IOAPIC)", fn, ncpus, MAX_MP_CPUS);
    /* PCI INTx wiring (lib/devices/pci): without ACPI, this table is how a
     * guest learns which IOAPIC pin a PCI device's INTA# drives. */
    struct pci_intx_route routes[MAX_PCI_ROUTES];
    size_t nroutes = pci_host_intx_routes(vm, routes, MAX_PCI_ROUTES);
    if (nroutes > MAX_PCI_ROUTES)
        nroutes = MAX_PCI_ROUTES;
    const size_t size = mptable_size(ncpus, nroutes);
    /* Everything between the table and 1 MiB is reserved in the e820 map. */
    if (VMM_PC_MPTABLE_GPA + size > VMM_PC_LEGACY_END)
        return vmm_err(-EINVAL, "%s: a %zu-byte MP table does not fit below 1 MiB", fn, size);
    const uint8_t ioapic_id = (uint8_t)ncpus;
    uint32_t sig, features;
    cpu_signature(vm->vcpus[0], &sig, &features);

    uint8_t *base = calloc(1, size);
    if (!base)
        return vmm_err(-ENOMEM, "%s: out of memory", fn);
    struct mpf_intel *mpf = (struct mpf_intel *)base;
    uint8_t *table = base + sizeof(*mpf);
    uint8_t *p = table + sizeof(struct mpc_table);
    uint16_t entries = 0;

    for (uint32_t i = 0; i < ncpus; i++) {
        struct mpc_cpu cpu = {
            .type = MP_PROCESSOR, .apic_id = (uint8_t)i, .apic_ver = APIC_VERSION,
            .flags = CPU_ENABLED | (i == 0 ? CPU_BOOTPROCESSOR : 0),
            .signature = sig, .features = features,
        };
        memcpy(p, &cpu, sizeof(cpu));
        p += sizeof(cpu);
        entries++;
    }
    /* Table 4-8 bus type strings; PCI first is not required, only that
     * every interrupt entry names a bus listed here. */
    struct mpc_bus bus = { .type = MP_BUS, .bus_id = BUS_ISA };
    memcpy(bus.bus_type, "ISA   ", sizeof(bus.bus_type));
    memcpy(p, &bus, sizeof(bus));
    p += sizeof(bus);
    struct mpc_bus pci = { .type = MP_BUS, .bus_id = BUS_PCI };
    memcpy(pci.bus_type, "PCI   ", sizeof(pci.bus_type));
    memcpy(p, &pci, sizeof(pci));
    p += sizeof(pci);
    entries += 2;
    struct mpc_ioapic ioapic = { .type = MP_IOAPIC, .apic_id = ioapic_id,
                                 .apic_ver = IOAPIC_VERSION, .flags = CPU_ENABLED,
                                 .addr = VMM_PC_IOAPIC_GPA };
    memcpy(p, &ioapic, sizeof(ioapic));
    p += sizeof(ioapic);
    entries++;
    /* ISA IRQ n reaches IOAPIC pin n: KVM's default GSI routing
     * (kvm_setup_default_irq_routing) wires GSI n to pin n, the in-kernel
     * PIT included, and vmm_device_set_irq() drives GSIs. A VMM that
     * installs its own routing with IRQ0 on pin 2 (as QEMU does) must
     * describe that instead. */
    for (uint8_t irq = 0; irq < ISA_IRQS; irq++) {
        struct mpc_intsrc src = { .type = MP_INTSRC, .irq_type = MP_INT, .src_bus = BUS_ISA,
                                  .src_irq = irq, .dst_apic = ioapic_id, .dst_pin = irq };
        memcpy(p, &src, sizeof(src));
        p += sizeof(src);
        entries++;
    }
    /* §4.3.4 and Appendix D.3: a PCI interrupt's source IRQ is the device
     * number in bits 6:2 and the pin (0 = INTA#) in bits 1:0; flags 0
     * conform to the bus (PCI: level-triggered, active low). */
    for (size_t i = 0; i < nroutes; i++) {
        struct mpc_intsrc src = { .type = MP_INTSRC, .irq_type = MP_INT, .src_bus = BUS_PCI,
                                  .src_irq = (uint8_t)(routes[i].slot << 2 | (routes[i].pin - 1)),
                                  .dst_apic = ioapic_id, .dst_pin = (uint8_t)routes[i].gsi };
        memcpy(p, &src, sizeof(src));
        p += sizeof(src);
        entries++;
    }
    /* §3.6.2.2 virtual wire mode: the 8259 reaches the BSP's LINT0 as
     * ExtINT; NMI arrives on every processor's LINT1 (see set_lint()). */
    struct mpc_intsrc lint0 = { .type = MP_LINTSRC, .irq_type = MP_EXTINT, .src_bus = BUS_ISA,
                                .dst_apic = 0, .dst_pin = 0 };
    struct mpc_intsrc lint1 = { .type = MP_LINTSRC, .irq_type = MP_NMI, .src_bus = BUS_ISA,
                                .dst_apic = 0xff, .dst_pin = 1 };
    memcpy(p, &lint0, sizeof(lint0));
    p += sizeof(lint0);
    memcpy(p, &lint1, sizeof(lint1));
    p += sizeof(lint1);
    entries += 2;

    struct mpc_table hdr = {
        .length = (uint16_t)(p - table), .spec_rev = 4, .entry_count = entries,
        .lapic_addr = VMM_PC_LAPIC_GPA,
    };
    memcpy(hdr.signature, "PCMP", 4);
    memcpy(hdr.oem_id, "LIBVMM  ", 8);
    memcpy(hdr.product_id, "PC          ", 12);
    memcpy(table, &hdr, sizeof(hdr));
    table[offsetof(struct mpc_table, checksum)] = checksum(table, hdr.length);

    struct mpf_intel f = { .physptr = (uint32_t)(VMM_PC_MPTABLE_GPA + sizeof(f)), .length = 1,
                           .spec_rev = 4 };
    memcpy(f.signature, "_MP_", 4);
    f.checksum = checksum((const uint8_t *)&f, sizeof(f));
    memcpy(mpf, &f, sizeof(f));
    *out = base;
    *out_size = size;
    return 0;
}

int vmm_pc_build_mptable(const vmm_vm *vm, uint8_t **table, size_t *size)
{
    return build(vm, table, size, "vmm_boot_load: MP table");
}

int vmm_pc_write_mptable(vmm_vm *vm)
{
    static const char fn[] = "vmm_pc_write_mptable";
    if (!vm)
        return vmm_err(-EINVAL, "%s: vm is NULL", fn);
    uint8_t *table;
    size_t size;
    int r = build(vm, &table, &size, fn);
    if (r < 0)
        return r;
    if (!vmm_memory_hva(&vm->memory, VMM_PC_MPTABLE_GPA, size))
        r = vmm_err(-EFAULT, "%s: guest RAM does not cover the MP table at [0x%llx, +0x%zx)",
                    fn, (unsigned long long)VMM_PC_MPTABLE_GPA, size);
    else
        r = vmm_memory_write(vm, VMM_PC_MPTABLE_GPA, table, size); /* refuses read-only fds */
    free(table);
    return r;
}
