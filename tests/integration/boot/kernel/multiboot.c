/* Multiboot test kernel: reports the boot information the loader passed
 * (Multiboot 0.6.96 §3.3 "Boot information format"): EAX magic, flags,
 * mem_lower/upper, command line, modules (with checksums), the memory map,
 * and the entry state (§3.2: protected mode, paging off). */
#include "entry32.h"
#include "report.h"

#define MBI_FLAGS 0
#define MBI_MEM_LOWER 4
#define MBI_MEM_UPPER 8
#define MBI_CMDLINE 16
#define MBI_MODS_COUNT 20
#define MBI_MODS_ADDR 24
#define MBI_MMAP_LENGTH 44
#define MBI_MMAP_ADDR 48
#define MBI_BOOT_LOADER_NAME 64
#define F_MEM (1u << 0)
#define F_CMDLINE (1u << 2)
#define F_MODS (1u << 3)
#define F_MMAP (1u << 6)
#define F_LOADER_NAME (1u << 9)
#define MAX_LIST 64

void kmain32(struct entry32_state *st)
{
    uint64_t mbi = st->ebx;

    r_str("kernel=multiboot\n");
    r_entry32(st);
    r_kv("eax", st->eax);
    r_kv("ebx", st->ebx);
    uint32_t flags = rd32(mbi + MBI_FLAGS);
    r_kv("mbi.flags", flags);
    if (flags & F_MEM) {
        r_kv("mbi.mem_lower", rd32(mbi + MBI_MEM_LOWER));
        r_kv("mbi.mem_upper", rd32(mbi + MBI_MEM_UPPER));
    }
    if (flags & F_CMDLINE) {
        uint32_t p = rd32(mbi + MBI_CMDLINE);
        r_kv("mbi.cmdline", p);
        if (p != 0)
            r_kstr("cmdline", phys(p), 4096);
    }
    if (flags & F_MODS) {
        uint32_t n = rd32(mbi + MBI_MODS_COUNT);
        uint32_t mods = rd32(mbi + MBI_MODS_ADDR);
        r_kv("mbi.mods_count", n);
        r_kv("mbi.mods_addr", mods);
        for (uint32_t i = 0; i < n && i < MAX_LIST; i++) {
            uint32_t m = mods + 16 * i;     /* mod_start, mod_end, string, reserved */
            uint32_t start = rd32(m), end = rd32(m + 4), str = rd32(m + 8);
            r_kiv("mod.", i, "start", start);
            r_kiv("mod.", i, "end", end);
            r_kiv("mod.", i, "string", str);
            if (str != 0)
                r_kstr("mod_string", phys(str), 4096);
            if (end >= start)
                r_kiv("mod.", i, "fnv", fnv1a(phys(start), end - start));
        }
    }
    if (flags & F_MMAP) {
        uint32_t len = rd32(mbi + MBI_MMAP_LENGTH);
        uint32_t addr = rd32(mbi + MBI_MMAP_ADDR);
        r_kv("mbi.mmap_length", len);
        r_kv("mbi.mmap_addr", addr);
        /* Each entry: size (of the rest), base_addr, length, type. */
        uint32_t i = 0;
        for (uint32_t p = addr; p < addr + len && i < MAX_LIST; i++) {
            uint32_t size = rd32(p);
            r_kiv("mmap.", i, "size", size);
            r_kiv("mmap.", i, "addr", rd64(p + 4));
            r_kiv("mmap.", i, "len", rd64(p + 12));
            r_kiv("mmap.", i, "type", rd32(p + 20));
            p += size + 4;
        }
        r_kv("mmap_count", i);
    }
    if (flags & F_LOADER_NAME) {
        uint32_t p = rd32(mbi + MBI_BOOT_LOADER_NAME);
        if (p != 0)
            r_kstr("loader_name", phys(p), 256);
    }
    r_done();
}
