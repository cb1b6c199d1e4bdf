/* PVH test kernel: reports what the loader passed in hvm_start_info (Xen
 * public/arch-x86/hvm/start_info.h; docs/misc/pvh.pandoc): magic, version,
 * flags, command line, modules (with a checksum of each), the memory map,
 * and the entry state (32-bit protected mode, paging off, EBX = start info). */
#include "entry32.h"
#include "report.h"

#define SI_MAGIC 0          /* 0x336ec578 */
#define SI_VERSION 4
#define SI_FLAGS 8
#define SI_NR_MODULES 12
#define SI_MODLIST_PADDR 16
#define SI_CMDLINE_PADDR 24
#define SI_RSDP_PADDR 32
#define SI_MEMMAP_PADDR 40  /* version >= 1 */
#define SI_MEMMAP_ENTRIES 48
#define MOD_SIZE 32         /* hvm_modlist_entry: paddr, size, cmdline_paddr, reserved */
#define MEMMAP_SIZE 24      /* hvm_memmap_table_entry: addr, size, type, reserved */
#define MAX_LIST 64

void kmain32(struct entry32_state *st)
{
    uint64_t si = st->ebx;

    r_str("kernel=pvh\n");
    r_entry32(st);
    r_kv("ebx", st->ebx);
    r_kv("si.magic", rd32(si + SI_MAGIC));
    uint32_t version = rd32(si + SI_VERSION);
    r_kv("si.version", version);
    r_kv("si.flags", rd32(si + SI_FLAGS));
    r_kv("si.rsdp_paddr", rd64(si + SI_RSDP_PADDR));

    uint64_t cmdline = rd64(si + SI_CMDLINE_PADDR);
    r_kv("si.cmdline_paddr", cmdline);
    if (cmdline != 0 && cmdline < 0xffffffffu)
        r_kstr("cmdline", phys(cmdline), 4096);

    uint32_t nr = rd32(si + SI_NR_MODULES);
    uint64_t modlist = rd64(si + SI_MODLIST_PADDR);
    r_kv("si.nr_modules", nr);
    r_kv("si.modlist_paddr", modlist);
    for (uint32_t i = 0; i < nr && i < MAX_LIST; i++) {
        uint64_t m = modlist + (uint64_t)i * MOD_SIZE;
        uint64_t paddr = rd64(m), size = rd64(m + 8);
        r_kiv("mod.", i, "paddr", paddr);
        r_kiv("mod.", i, "size", size);
        r_kiv("mod.", i, "cmdline_paddr", rd64(m + 16));
        if (paddr + size <= 0xffffffffu)
            r_kiv("mod.", i, "fnv", fnv1a(phys(paddr), size));
    }

    if (version >= 1) {
        uint32_t n = rd32(si + SI_MEMMAP_ENTRIES);
        uint64_t map = rd64(si + SI_MEMMAP_PADDR);
        r_kv("si.memmap_paddr", map);
        r_kv("si.memmap_entries", n);
        for (uint32_t i = 0; i < n && i < MAX_LIST; i++) {
            uint64_t e = map + (uint64_t)i * MEMMAP_SIZE;
            r_kiv("memmap.", i, "addr", rd64(e));
            r_kiv("memmap.", i, "size", rd64(e + 8));
            r_kiv("memmap.", i, "type", rd32(e + 16));
        }
    }
    r_done();
}
