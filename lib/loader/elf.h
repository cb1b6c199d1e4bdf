/* ELF32/ELF64 executables as the PVH and Multiboot loaders need them:
 * the loadable segments and the Xen PVH entry note (System V ABI
 * "Program Header" and "Note Section"; Xen public/elfnote.h). */
#ifndef VMM_LIB_LOADER_ELF_H
#define VMM_LIB_LOADER_ELF_H

#include <stdbool.h>
#include <stdint.h>

#define ELF_MAX_SEGMENTS 64

struct elf_segment {
    uint64_t offset, paddr, vaddr, filesz, memsz;
};

struct elf_image {
    bool is64;
    uint16_t machine;
    uint64_t entry;                 /* e_entry */
    uint32_t nseg;                  /* PT_LOAD segments with p_memsz > 0 */
    struct elf_segment seg[ELF_MAX_SEGMENTS];
    bool has_pvh;                   /* XEN_ELFNOTE_PHYS32_ENTRY found */
    uint32_t pvh_entry;
};

/* Whether the image starts with the ELF magic. */
bool elf_is_elf(const uint8_t *image, uint64_t size);

/* Parses and checks the headers: class, byte order, e_machine (x86),
 * program header table inside the file, every PT_LOAD's file bytes inside
 * the file, p_filesz <= p_memsz, no address wrap, notes well formed.
 * Returns 0 or -ENOEXEC with a sentence naming the field, prefixed with
 * @fn. */
int elf_parse(const uint8_t *image, uint64_t size, struct elf_image *out, const char *fn);

struct load_plan;

/* Claims every PT_LOAD segment at its p_paddr (p_filesz bytes from the
 * file, the rest up to p_memsz zeroed); each must end at or below @limit
 * (-ENOEXEC otherwise: the entry protocol cannot reach it). Returns the
 * lowest address and one past the highest in *lo and *hi. */
int elf_plan_segments(struct load_plan *p, const uint8_t *image, const struct elf_image *elf,
                      uint64_t limit, uint64_t *lo, uint64_t *hi);

#endif
