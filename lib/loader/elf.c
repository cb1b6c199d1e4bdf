/* See elf.h. Every offset and size comes from the image and is checked
 * against its length before it is used. */
#include "loader/elf.h"
#include "loader/loader.h"

#include "core/error.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

/* Xen public/elfnote.h: the 32-bit physical entry of a PVH kernel. */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

bool elf_is_elf(const uint8_t *image, uint64_t size)
{
    return size >= SELFMAG && memcmp(image, ELFMAG, SELFMAG) == 0;
}

/* [off, off + len) inside [0, size)? */
static bool in_file(uint64_t size, uint64_t off, uint64_t len)
{
    return off <= size && len <= size - off;
}

/* Walks the notes of one PT_NOTE segment (System V ABI "Note Section":
 * namesz, descsz, type, then name and desc, each padded to 4 bytes). */
static int parse_notes(const uint8_t *p, uint64_t len, struct elf_image *out, uint32_t index,
                       const char *fn)
{
    uint64_t off = 0;
    while (len - off >= 12) {
        uint32_t namesz = ld32(p + off), descsz = ld32(p + off + 4), type = ld32(p + off + 8);
        uint64_t name_off = off + 12;
        uint64_t name_pad = ((uint64_t)namesz + 3) & ~3ull;
        if (name_pad > len - name_off)
            return vmm_err(-ENOEXEC, "%s: ELF: note at +0x%llx of note segment %u: n_namesz %u "
                           "runs past the segment's %llu bytes", fn, (unsigned long long)off,
                           index, namesz, (unsigned long long)len);
        uint64_t desc_off = name_off + name_pad;
        uint64_t desc_pad = ((uint64_t)descsz + 3) & ~3ull;
        if (desc_pad > len - desc_off)
            return vmm_err(-ENOEXEC, "%s: ELF: note at +0x%llx of note segment %u: n_descsz %u "
                           "runs past the segment's %llu bytes", fn, (unsigned long long)off,
                           index, descsz, (unsigned long long)len);
        if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 &&
            memcmp(p + name_off, "Xen", 4) == 0) {
            /* Linux emits a pointer-sized value (_ASM_PTR: 8 bytes on x86-64
             * up to 6.x, a 4-byte .long since); either must be below 4 GiB. */
            if (descsz == 4) {
                out->pvh_entry = ld32(p + desc_off);
            } else if (descsz == 8 && ld64(p + desc_off) < LOADER_4G) {
                out->pvh_entry = (uint32_t)ld64(p + desc_off);
            } else {
                return vmm_err(-ENOEXEC, "%s: ELF: the XEN_ELFNOTE_PHYS32_ENTRY note has "
                               "n_descsz %u: expected a 32-bit physical entry address", fn,
                               descsz);
            }
            out->has_pvh = true;
        }
        off = desc_off + desc_pad;
    }
    return 0;
}

/* The program header fields both classes share, widened. */
struct phdr {
    uint32_t type;
    uint64_t offset, vaddr, paddr, filesz, memsz;
};

static struct phdr read_phdr(const uint8_t *ph, bool is64)
{
    struct phdr h;
    if (is64) {
        Elf64_Phdr e;
        memcpy(&e, ph, sizeof(e));
        h = (struct phdr){ e.p_type, e.p_offset, e.p_vaddr, e.p_paddr, e.p_filesz, e.p_memsz };
    } else {
        Elf32_Phdr e;
        memcpy(&e, ph, sizeof(e));
        h = (struct phdr){ e.p_type, e.p_offset, e.p_vaddr, e.p_paddr, e.p_filesz, e.p_memsz };
    }
    return h;
}

static int check_segment(const struct phdr *h, uint64_t size, uint32_t i, const char *fn)
{
    if (h->filesz > h->memsz)
        return vmm_err(-ENOEXEC, "%s: ELF: program header %u: p_filesz 0x%llx is larger than "
                       "p_memsz 0x%llx", fn, i, (unsigned long long)h->filesz,
                       (unsigned long long)h->memsz);
    if (!in_file(size, h->offset, h->filesz))
        return vmm_err(-ENOEXEC, "%s: ELF: program header %u: p_offset 0x%llx + p_filesz 0x%llx "
                       "runs past the end of the %llu-byte file", fn, i,
                       (unsigned long long)h->offset, (unsigned long long)h->filesz,
                       (unsigned long long)size);
    if (h->memsz && h->memsz - 1 > UINT64_MAX - h->paddr)
        return vmm_err(-ENOEXEC, "%s: ELF: program header %u: p_paddr 0x%llx + p_memsz 0x%llx "
                       "wraps past 2^64", fn, i, (unsigned long long)h->paddr,
                       (unsigned long long)h->memsz);
    return 0;
}

int elf_parse(const uint8_t *image, uint64_t size, struct elf_image *out, const char *fn)
{
    memset(out, 0, sizeof(*out));
    if (!elf_is_elf(image, size) || size < EI_NIDENT)
        return vmm_err(-ENOEXEC, "%s: ELF: e_ident does not start with the ELF magic", fn);
    if (image[EI_CLASS] != ELFCLASS32 && image[EI_CLASS] != ELFCLASS64)
        return vmm_err(-ENOEXEC, "%s: ELF: e_ident class %u is neither ELFCLASS32 nor "
                       "ELFCLASS64", fn, image[EI_CLASS]);
    if (image[EI_DATA] != ELFDATA2LSB)
        return vmm_err(-ENOEXEC, "%s: ELF: e_ident data encoding %u is not little-endian "
                       "(ELFDATA2LSB)", fn, image[EI_DATA]);
    out->is64 = image[EI_CLASS] == ELFCLASS64;
    uint64_t ehsize = out->is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
    if (size < ehsize)
        return vmm_err(-ENOEXEC, "%s: ELF: the %llu-byte file is shorter than its %llu-byte "
                       "header", fn, (unsigned long long)size, (unsigned long long)ehsize);
    uint64_t phoff;
    uint16_t phentsize, phnum;
    if (out->is64) {
        Elf64_Ehdr e;
        memcpy(&e, image, sizeof(e));
        out->machine = e.e_machine;
        out->entry = e.e_entry;
        phoff = e.e_phoff;
        phentsize = e.e_phentsize;
        phnum = e.e_phnum;
    } else {
        Elf32_Ehdr e;
        memcpy(&e, image, sizeof(e));
        out->machine = e.e_machine;
        out->entry = e.e_entry;
        phoff = e.e_phoff;
        phentsize = e.e_phentsize;
        phnum = e.e_phnum;
    }
    if (out->machine != EM_386 && out->machine != EM_X86_64)
        return vmm_err(-ENOEXEC, "%s: ELF: e_machine %u is not x86 (EM_386 or EM_X86_64)", fn,
                       out->machine);
    uint64_t want = out->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    if (phentsize != want)
        return vmm_err(-ENOEXEC, "%s: ELF: e_phentsize %u, expected %llu", fn, phentsize,
                       (unsigned long long)want);
    if (phnum == 0 || phnum == PN_XNUM)
        return vmm_err(-ENOEXEC, "%s: ELF: e_phnum %u: no program headers (or more than "
                       "PN_XNUM, which libvmm does not read)", fn, phnum);
    if (!in_file(size, phoff, (uint64_t)phnum * phentsize))
        return vmm_err(-ENOEXEC, "%s: ELF: e_phoff 0x%llx + %u program headers run past the end "
                       "of the %llu-byte file", fn, (unsigned long long)phoff, phnum,
                       (unsigned long long)size);
    for (uint32_t i = 0; i < phnum; i++) {
        struct phdr h = read_phdr(image + phoff + (uint64_t)i * phentsize, out->is64);
        if (h.type != PT_LOAD && h.type != PT_NOTE)
            continue;
        int r = check_segment(&h, size, i, fn);
        if (r < 0)
            return r;
        if (h.type == PT_NOTE) {
            r = parse_notes(image + h.offset, h.filesz, out, i, fn);
            if (r < 0)
                return r;
            continue;
        }
        if (h.memsz == 0)
            continue;
        if (out->nseg == ELF_MAX_SEGMENTS)
            return vmm_err(-ENOEXEC, "%s: ELF: e_phnum: more than %d PT_LOAD segments", fn,
                           ELF_MAX_SEGMENTS);
        out->seg[out->nseg++] = (struct elf_segment){ h.offset, h.paddr, h.vaddr, h.filesz,
                                                      h.memsz };
    }
    if (out->nseg == 0)
        return vmm_err(-ENOEXEC, "%s: ELF: no PT_LOAD segment with a non-zero p_memsz", fn);
    return 0;
}

int elf_plan_segments(struct load_plan *p, const uint8_t *image, const struct elf_image *elf,
                      uint64_t limit, uint64_t *lo, uint64_t *hi)
{
    *lo = UINT64_MAX;
    *hi = 0;
    for (uint32_t i = 0; i < elf->nseg; i++) {
        const struct elf_segment *s = &elf->seg[i];
        if (s->memsz > limit || s->paddr > limit - s->memsz)
            return vmm_err(-ENOEXEC, "%s: ELF: segment %u (p_paddr 0x%llx, p_memsz 0x%llx) ends "
                           "above 0x%llx, out of the entry protocol's reach", p->fn, i,
                           (unsigned long long)s->paddr, (unsigned long long)s->memsz,
                           (unsigned long long)limit);
        int r = plan_add(p, s->paddr, s->memsz, image + s->offset, s->filesz, PLAN_RAM,
                         PLAN_ZERO, "ELF segment %u (p_paddr 0x%llx, p_memsz 0x%llx)", i,
                         (unsigned long long)s->paddr, (unsigned long long)s->memsz);
        if (r < 0)
            return r;
        if (s->paddr < *lo)
            *lo = s->paddr;
        if (s->paddr + s->memsz > *hi)
            *hi = s->paddr + s->memsz;
    }
    return 0;
}
