/* Shared by the PVH and Multiboot test kernels; see entry32.h. */
#include "entry32.h"
#include "report.h"

extern uint8_t _bss_check_start[], _bss_end[];

uint32_t rd32(uint64_t addr)
{
    const volatile uint8_t *p = phys(addr);
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t rd64(uint64_t addr)
{
    return (uint64_t)rd32(addr) | (uint64_t)rd32(addr + 4) << 32;
}

int bss_is_zero(void)
{
    return all_zero(_bss_check_start, (uint64_t)(_bss_end - _bss_check_start));
}

void r_entry32(const struct entry32_state *st)
{
    r_kv("entry", st->entry);
    r_kv("eflags", st->eflags);
    r_kv("cs", st->cs & 0xffff);
    r_kv("ds", st->ds & 0xffff);
    r_kv("es", st->es & 0xffff);
    r_kv("ss", st->ss & 0xffff);
    r_kv("cr0", st->cr0);
    r_kv("cr4", st->cr4);
    r_kv("efer", st->efer);
    r_kv("cs_desc", (uint64_t)st->cs_desc[1] << 32 | st->cs_desc[0]);
    r_kv("ds_desc", (uint64_t)st->ds_desc[1] << 32 | st->ds_desc[0]);
    r_kv("bss_zero", (uint64_t)bss_is_zero());
}
