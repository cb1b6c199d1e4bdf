/* CPU mode set-up: real mode, 32-bit flat protected mode, 64-bit long mode
 * with identity-mapped page tables built in guest memory (Intel SDM vol. 3
 * §9.8-9.9 for the mode switches, §4.5 for 4-level paging). */
#include "vm/vm.h"
#include "x86/pc.h"

#include "core/error.h"

#include <errno.h>
#include <string.h>

#define CR0_PE (1ull << 0)
#define CR0_MP (1ull << 1)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_WP (1ull << 16)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define CR4_OSFXSR (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)

#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_US (1ull << 2)
#define PTE_PS (1ull << 7)

/* Layout of the tables area (documented in struct vmm_cpu_mode_config). */
#define GDT_OFFSET 0x0
#define TSS_OFFSET 0x100
#define TSS_IOMAP_BASE 0x68 /* the I/O permission bitmap follows the 104-byte TSS */
#define IOMAP_BYTES 0x2000   /* one bit per port, 65536 ports */
/* The bitmap is followed by a 0xff byte (SDM vol. 1 §19.5.2). */
#define TSS_LIMIT (TSS_IOMAP_BASE + IOMAP_BYTES)
#define PML4_OFFSET 0x3000
#define PDPT_OFFSET 0x4000
#define PD_OFFSET 0x5000
#define GDT_ENTRIES 8

#define SEL_CODE64 0x08
#define SEL_DATA 0x10
#define SEL_CODE32 0x18
/* Documentation/arch/x86/boot.rst: __BOOT_CS and __BOOT_DS. */
#define SEL_LINUX_CODE 0x10
#define SEL_LINUX_DATA 0x18
#define SEL_USER_DATA 0x23
#define SEL_USER_CODE64 0x2b
#define SEL_TSS 0x30

#define TWO_MIB (2ull << 20)
#define ONE_GIB (1ull << 30)
#define MAX_IDENTITY_MAP (512 * ONE_GIB) /* one PML4 entry */
#define DEFAULT_IDENTITY_MAP (4 * ONE_GIB)

static struct vmm_segment flat_segment(uint16_t selector, uint8_t type, uint8_t dpl, bool code64,
                                       bool code_or_data32)
{
    return (struct vmm_segment){
        .base = 0, .limit = 0xffffffff, .selector = selector, .type = type, .present = 1,
        .dpl = dpl, .db = code_or_data32, .s = 1, .l = code64, .g = 1,
    };
}

/* Packs a segment into a GDT descriptor (SDM vol. 3 §3.4.5). */
static uint64_t gdt_entry(const struct vmm_segment *s)
{
    uint32_t limit = s->g ? s->limit >> 12 : s->limit;
    return (uint64_t)(limit & 0xffff) | ((s->base & 0xffffffull) << 16) |
           ((uint64_t)(s->type & 0xf) << 40) | ((uint64_t)s->s << 44) |
           ((uint64_t)(s->dpl & 3) << 45) | ((uint64_t)s->present << 47) |
           ((uint64_t)((limit >> 16) & 0xf) << 48) | ((uint64_t)s->avl << 52) |
           ((uint64_t)s->l << 53) | ((uint64_t)s->db << 54) | ((uint64_t)s->g << 55) |
           (((s->base >> 24) & 0xff) << 56);
}

static uint64_t identity_size(uint64_t requested)
{
    return requested ? requested : DEFAULT_IDENTITY_MAP;
}

VMM_API int vmm_cpu_mode_tables_size(uint32_t mode, uint64_t identity_map_size, uint64_t *size)
{
    static const char fn[] = "vmm_cpu_mode_tables_size";
    if (!size)
        return vmm_err(-EINVAL, "%s: size is NULL", fn);
    switch (mode) {
    case VMM_CPU_MODE_REAL:
        *size = 0;
        return 0;
    case VMM_CPU_MODE_PROTECTED:
        *size = PML4_OFFSET;
        return 0;
    case VMM_CPU_MODE_LONG: {
        uint64_t map = identity_size(identity_map_size);
        if (map % TWO_MIB || map > MAX_IDENTITY_MAP)
            return vmm_err(-EINVAL, "%s: identity_map_size 0x%llx must be a multiple of 2 MiB "
                           "and at most 512 GiB", fn, (unsigned long long)identity_map_size);
        *size = PD_OFFSET + (map + ONE_GIB - 1) / ONE_GIB * 0x1000;
        return 0;
    }
    default:
        return vmm_err(-EINVAL, "%s: mode %u is not a vmm_cpu_mode", fn, mode);
    }
}

/* Writes the GDT and TSS at the start of the tables area. With
 * @linux_code (a flat code descriptor for the mode being entered), slots
 * 0x10 and 0x18 become the Linux boot protocol's __BOOT_CS and __BOOT_DS
 * instead of our data and 32-bit code. */
static void write_gdt(uint8_t *tables, const struct vmm_segment *tss,
                      const struct vmm_segment *linux_code)
{
    uint64_t gdt[GDT_ENTRIES] = { 0 };
    struct vmm_segment s;
    s = flat_segment(SEL_CODE64, 0xb, 0, true, false);
    gdt[SEL_CODE64 >> 3] = gdt_entry(&s);
    s = flat_segment(SEL_DATA, 0x3, 0, false, true);
    gdt[SEL_DATA >> 3] = gdt_entry(&s);
    s = flat_segment(SEL_CODE32, 0xb, 0, false, true);
    gdt[SEL_CODE32 >> 3] = gdt_entry(&s);
    if (linux_code) {
        gdt[SEL_LINUX_CODE >> 3] = gdt_entry(linux_code);
        s = flat_segment(SEL_LINUX_DATA, 0x3, 0, false, true);
        gdt[SEL_LINUX_DATA >> 3] = gdt_entry(&s);
    }
    s = flat_segment(SEL_USER_DATA, 0x3, 3, false, true);
    gdt[SEL_USER_DATA >> 3] = gdt_entry(&s);
    s = flat_segment(SEL_USER_CODE64, 0xb, 3, true, false);
    gdt[SEL_USER_CODE64 >> 3] = gdt_entry(&s);
    /* A 64-bit TSS descriptor takes two slots; the second holds base[63:32]. */
    gdt[SEL_TSS >> 3] = gdt_entry(tss);
    gdt[(SEL_TSS >> 3) + 1] = tss->base >> 32;
    memcpy(tables + GDT_OFFSET, gdt, sizeof(gdt));
    /* TSS: zero but for an I/O permission bitmap that allows every port.
     * At CPL3 with IOPL 0 the CPU consults it (SDM vol. 1 §19.5.2), so a
     * user-mode guest can use port I/O (and the hypercall doorbell) without
     * IOPL 3, which would also hand it CLI/STI. Hosts that force IOPL to 0
     * for native user-mode execution still honour the bitmap. */
    memset(tables + TSS_OFFSET, 0, TSS_LIMIT + 1);
    uint16_t iomap_base = TSS_IOMAP_BASE;
    memcpy(tables + TSS_OFFSET + 0x66, &iomap_base, sizeof(iomap_base));
    tables[TSS_OFFSET + TSS_LIMIT] = 0xff;
}

/* Identity-maps [0, map) with 2 MiB pages. */
static void write_page_tables(uint8_t *tables, uint64_t tables_gpa, uint64_t map, bool user)
{
    uint64_t flags = PTE_P | PTE_RW | (user ? PTE_US : 0);
    uint64_t pdpt_count = (map + ONE_GIB - 1) / ONE_GIB;
    memset(tables + PML4_OFFSET, 0, 2 * 0x1000 + pdpt_count * 0x1000);
    uint64_t *pml4 = (uint64_t *)(tables + PML4_OFFSET);
    uint64_t *pdpt = (uint64_t *)(tables + PDPT_OFFSET);
    uint64_t *pd = (uint64_t *)(tables + PD_OFFSET);
    pml4[0] = (tables_gpa + PDPT_OFFSET) | flags;
    for (uint64_t i = 0; i < pdpt_count; i++)
        pdpt[i] = (tables_gpa + PD_OFFSET + i * 0x1000) | flags;
    for (uint64_t i = 0; i < map / TWO_MIB; i++)
        pd[i] = (i * TWO_MIB) | flags | PTE_PS;
}

static int read_mode_config(const struct vmm_cpu_mode_config *in, struct vmm_cpu_mode_config *out,
                            const char *fn)
{
    if (in->struct_size != sizeof(*out))
        return vmm_err(-EINVAL, "%s: struct_size %u, expected %zu; use VMM_CPU_MODE_CONFIG_INIT",
                       fn, in->struct_size, sizeof(*out));
    *out = *in;
    if (out->mode < VMM_CPU_MODE_REAL || out->mode > VMM_CPU_MODE_LONG)
        return vmm_err(-EINVAL, "%s: mode %u is not a vmm_cpu_mode", fn, out->mode);
    if (out->flags & ~VMM_CPU_MODE_F_USER)
        return vmm_err(-EINVAL, "%s: unknown flags 0x%x", fn, out->flags & ~VMM_CPU_MODE_F_USER);
    if ((out->flags & VMM_CPU_MODE_F_USER) && out->mode != VMM_CPU_MODE_LONG)
        return vmm_err(-EINVAL, "%s: VMM_CPU_MODE_F_USER needs VMM_CPU_MODE_LONG", fn);
    if (out->reserved0)
        return vmm_err(-EINVAL, "%s: reserved0 must be 0", fn);
    return 0;
}

/* The segment and control registers of mode @c (whose tables, if any, are
 * at @tables on the host and c->tables_gpa in the guest), over @s. */
static void build_state(const struct vmm_cpu_mode_config *c, bool linux_gdt, uint8_t *tables,
                        struct vmm_sregs *s)
{
    struct vmm_segment tss = {
        .base = c->tables_gpa + TSS_OFFSET, .limit = TSS_LIMIT, .selector = SEL_TSS,
        .type = 0xb, /* busy TSS (32- or 64-bit by mode) */ .present = 1,
    };
    s->ldt = (struct vmm_segment){ .type = 0x2, .present = 1, .unusable = 1 };
    s->cr2 = 0;
    if (c->mode == VMM_CPU_MODE_REAL) {
        struct vmm_segment code = { .limit = 0xffff, .type = 0xb, .present = 1, .s = 1 };
        struct vmm_segment data = { .limit = 0xffff, .type = 0x3, .present = 1, .s = 1 };
        s->cs = code;
        s->ds = s->es = s->fs = s->gs = s->ss = data;
        s->tr = (struct vmm_segment){ .limit = 0xffff, .type = 0xb, .present = 1 };
        s->gdt = (struct vmm_dtable){ .limit = 0xffff };
        s->idt = (struct vmm_dtable){ .limit = 0xffff };
        s->cr0 = CR0_ET | CR0_NE;
        s->cr3 = s->cr4 = 0;
        s->efer = 0;
        return;
    }
    bool user = c->flags & VMM_CPU_MODE_F_USER;
    struct vmm_segment linux_code =
        flat_segment(SEL_LINUX_CODE, 0xb, 0, c->mode == VMM_CPU_MODE_LONG,
                     c->mode == VMM_CPU_MODE_PROTECTED);
    write_gdt(tables, &tss, linux_gdt ? &linux_code : NULL);
    s->gdt = (struct vmm_dtable){ .base = c->tables_gpa + GDT_OFFSET,
                                  .limit = GDT_ENTRIES * 8 - 1 };
    /* No IDT: the guest installs its own if it wants exceptions. */
    s->idt = (struct vmm_dtable){ 0 };
    s->tr = tss;
    if (c->mode == VMM_CPU_MODE_PROTECTED) {
        s->cs = flat_segment(SEL_CODE32, 0xb, 0, false, true);
        s->ds = s->es = s->fs = s->gs = s->ss = flat_segment(SEL_DATA, 0x3, 0, false, true);
        s->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE;
        s->cr3 = s->cr4 = 0;
        s->efer = 0;
    } else {
        write_page_tables(tables, c->tables_gpa, identity_size(c->identity_map_size), user);
        if (user) {
            s->cs = flat_segment(SEL_USER_CODE64, 0xb, 3, true, false);
            s->ds = s->es = s->fs = s->gs = s->ss =
                flat_segment(SEL_USER_DATA, 0x3, 3, false, true);
        } else {
            s->cs = flat_segment(SEL_CODE64, 0xb, 0, true, false);
            s->ds = s->es = s->fs = s->gs = s->ss = flat_segment(SEL_DATA, 0x3, 0, false, true);
        }
        s->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
        s->cr3 = c->tables_gpa + PML4_OFFSET;
        /* OSFXSR/OSXMMEXCPT: compiled guest code may use SSE. */
        s->cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
        s->efer = EFER_LME | EFER_LMA;
    }
    if (linux_gdt) {
        s->cs = linux_code;
        s->ds = s->es = s->fs = s->gs = s->ss = flat_segment(SEL_LINUX_DATA, 0x3, 0, false, true);
    }
}

/* Checks @cfg; returns the bytes its tables need in *need. */
static int check_mode(const struct vmm_cpu_mode_config *cfg, struct vmm_cpu_mode_config *c,
                      uint64_t *need, const char *fn)
{
    int r = read_mode_config(cfg, c, fn);
    if (r == 0)
        r = vmm_cpu_mode_tables_size(c->mode, c->identity_map_size, need);
    if (r < 0 || *need == 0)
        return r;
    if (c->tables_gpa & 0xfff)
        return vmm_err(-EINVAL, "%s: tables_gpa 0x%llx is not page-aligned", fn,
                       (unsigned long long)c->tables_gpa);
    if (c->tables_size < *need)
        return vmm_err(-EINVAL, "%s: tables_size 0x%llx is less than the 0x%llx bytes needed", fn,
                       (unsigned long long)c->tables_size, (unsigned long long)*need);
    return 0;
}

VMM_API int vmm_vcpu_set_cpu_mode(vmm_vcpu *vcpu, const struct vmm_cpu_mode_config *cfg)
{
    static const char fn[] = "vmm_vcpu_set_cpu_mode";
    if (!vcpu || !cfg)
        return vmm_err(-EINVAL, "%s: vcpu and cfg must not be NULL", fn);
    struct vmm_cpu_mode_config c = { 0 };
    uint64_t need = 0;
    int r = check_mode(cfg, &c, &need, fn);
    if (r < 0)
        return r;
    uint8_t *tables = NULL;
    if (need) {
        tables = vmm_memory_hva(&vcpu->vm->memory, c.tables_gpa, need);
        if (!tables)
            return vmm_err(-EFAULT, "%s: tables [0x%llx, +0x%llx) are not inside one memory region",
                           fn, (unsigned long long)c.tables_gpa, (unsigned long long)need);
    }
    struct vmm_sregs s;
    r = vmm_vcpu_get_sregs(vcpu, &s);
    if (r < 0)
        return r;
    build_state(&c, false, tables, &s);
    r = vmm_vcpu_set_sregs(vcpu, &s);
    if (r < 0)
        return r;
    struct vmm_regs regs;
    r = vmm_vcpu_get_regs(vcpu, &regs);
    if (r < 0)
        return r;
    regs.rflags = 2; /* IOPL 0, interrupts off */
    return vmm_vcpu_set_regs(vcpu, &regs);
}

int vmm_x86_cpu_mode_state(const struct vmm_cpu_mode_config *cfg, bool linux_gdt,
                           uint8_t *tables, struct vmm_sregs *s, const char *fn)
{
    struct vmm_cpu_mode_config c = { 0 };
    uint64_t need = 0;
    int r = check_mode(cfg, &c, &need, fn);
    if (r < 0)
        return r;
    if (linux_gdt && (c.flags & VMM_CPU_MODE_F_USER))
        return vmm_err(-EINVAL, "%s: the Linux boot GDT is for CPL0 entry", fn);
    build_state(&c, linux_gdt, tables, s);
    return 0;
}
