/* CPUID topology for a PC VM: one package holding num_vcpus cores of one
 * thread each, vCPU n being core n with APIC id n. KVM reports the host's
 * topology in KVM_GET_SUPPORTED_CPUID (api.rst 4.46: "userspace should
 * patch the topology"), so every leaf that describes it is rewritten. */
#include "x86/pc.h"

#include "core/error.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define LEAF1_EDX_HTT (1u << 28)         /* SDM vol. 2A CPUID leaf 1 */
#define LEAF1_ECX_HYPERVISOR (1u << 31)
#define EXT1_ECX_CMP_LEGACY (1u << 1)    /* AMD APM vol. 3 CPUID Fn8000_0001 */

/* SDM vol. 2A CPUID leaf 0xB/0x1F: level types in ECX[15:8]. */
#define LEVEL_INVALID 0u
#define LEVEL_SMT 1u
#define LEVEL_CORE 2u

/* Bits needed to number @n things: ceil(log2(n)). */
static uint32_t id_bits(uint32_t n)
{
    uint32_t b = 0;
    while (b < 31 && (1u << b) < n)
        b++;
    return b;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

static bool is_amd(const struct vmm_cpuid_entry *e, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++)
        if (e[i].function == 0)
            /* "AuthenticAMD" / "HygonGenuine": EBX "Auth" / "Hygo". */
            return e[i].ebx == 0x68747541u || e[i].ebx == 0x6f677948u;
    return false;
}

/* Leaf 4 (Intel deterministic cache parameters) and 0x8000001D (AMD's
 * equivalent): EAX[25:14] is "logical processors sharing this cache - 1".
 * One thread per core: L1 and L2 are private, L3 is shared by the package. */
static void set_cache_sharing(struct vmm_cpuid_entry *e, uint32_t n)
{
    if ((e->eax & 0x1f) == 0) /* cache type 0: no more caches */
        return;
    uint32_t level = (e->eax >> 5) & 7;
    uint32_t sharing = level >= 3 ? min_u32(n - 1, 0xfff) : 0;
    e->eax = (e->eax & ~0x03ffc000u) | (sharing << 14);
}

/* Leaf 0xB / 0x1F sub-leaf @sub (SDM vol. 2A "V2 Extended Topology"):
 * level 0 is SMT (one thread, no id bits), level 1 the core level (the
 * whole package), anything above reports level type 0. */
static struct vmm_cpuid_entry topology_leaf(uint32_t function, uint32_t sub, uint32_t n,
                                            uint32_t id)
{
    struct vmm_cpuid_entry e = { .function = function, .index = sub,
                                 .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .edx = id };
    if (sub == 0) {
        e.eax = 0;
        e.ebx = 1;
        e.ecx = (LEVEL_SMT << 8) | sub;
    } else if (sub == 1) {
        e.eax = id_bits(n);
        e.ebx = min_u32(n, 0xffff);
        e.ecx = (LEVEL_CORE << 8) | sub;
    } else {
        e.ecx = (LEVEL_INVALID << 8) | sub;
    }
    return e;
}

int vmm_pc_cpuid_topology(vmm_vcpu *vcpu)
{
    const uint32_t n = vcpu->vm->num_vcpus;
    const uint32_t id = vcpu->index;
    const uint32_t count = vcpu->cpuid_count;
    /* Sub-leaves 0..2 of 0xB and 0x1F replace whatever KVM reported. */
    struct vmm_cpuid_entry *e = calloc(count + 6, sizeof(*e));
    if (!e)
        return vmm_err(-ENOMEM, "vmm_vm_create: out of memory");
    bool amd = is_amd(vcpu->cpuid, count);
    bool has_0xb = false, has_0x1f = false;
    uint32_t out = 0;
    for (uint32_t i = 0; i < count; i++) {
        struct vmm_cpuid_entry c = vcpu->cpuid[i];
        switch (c.function) {
        case 1:
            /* EBX[31:24] initial APIC id, EBX[23:16] addressable logical
             * processors per package (valid with HTT). Keep the hypervisor
             * bit: guests use it to look for leaf 0x40000000. */
            c.ebx = (c.ebx & 0x0000ffffu) | (id << 24) | (min_u32(n, 0xff) << 16);
            c.edx = n > 1 ? c.edx | LEAF1_EDX_HTT : c.edx & ~LEAF1_EDX_HTT;
            c.ecx |= LEAF1_ECX_HYPERVISOR;
            break;
        case 4:
            /* EAX[31:26]: addressable cores per package - 1 (6 bits). */
            if (c.eax & 0x1f)
                c.eax = (c.eax & ~0xfc000000u) | ((min_u32(n, 64) - 1) << 26);
            set_cache_sharing(&c, n);
            break;
        case 0xb:
            has_0xb = true;
            continue;
        case 0x1f:
            has_0x1f = true;
            continue;
        case 0x80000001:
            /* AMD APM Fn8000_0001_ECX[1] CmpLegacy: cores are reported
             * through Fn8000_0008 rather than as HTT siblings. */
            if (amd)
                c.ecx = n > 1 ? c.ecx | EXT1_ECX_CMP_LEGACY : c.ecx & ~EXT1_ECX_CMP_LEGACY;
            break;
        case 0x80000008:
            /* AMD APM Fn8000_0008_ECX: [7:0] NC = cores - 1, [15:12]
             * ApicIdSize = APIC id bits that number the cores. */
            if (amd)
                c.ecx = (c.ecx & ~0xf0ffu) | (id_bits(n) << 12) | min_u32(n - 1, 0xff);
            break;
        case 0x8000001d:
            set_cache_sharing(&c, n);
            break;
        case 0x8000001e:
            /* AMD APM Fn8000_001E: extended APIC id, compute unit (core)
             * id with one thread per unit, node 0 of one. */
            if (amd) {
                c.eax = id;
                c.ebx = id & 0xff;
                c.ecx = 0;
            }
            break;
        default:
            break;
        }
        e[out++] = c;
    }
    for (uint32_t sub = 0; sub < 3; sub++) {
        if (has_0xb)
            e[out++] = topology_leaf(0xb, sub, n, id);
        if (has_0x1f)
            e[out++] = topology_leaf(0x1f, sub, n, id);
    }
    int r = out <= VMM_X86_MAX_CPUID_ENTRIES
                ? vmm_x86_cpuid_apply(vcpu, e, out, "vmm_vm_create")
                : vmm_err(-E2BIG, "vmm_vm_create: the CPUID table of vCPU %u would have %u "
                          "entries, more than %d", id, out, VMM_X86_MAX_CPUID_ENTRIES);
    free(e);
    return r;
}
