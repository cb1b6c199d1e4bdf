/**
 * @file loader.h
 * @brief Loading a guest and setting up vCPU 0 to enter it: Linux bzImage
 *        (x86 boot protocol), ELF vmlinux with a PVH entry note, Multiboot
 *        (version 1) kernels, and raw flat images.
 *
 * Every image is untrusted bytes: a malformed one (truncated, wrong magic,
 * segments outside RAM or overlapping, sizes that overflow, absurd header
 * values) is refused with -ENOEXEC and a vmm_last_error() sentence naming
 * the field, using the specification's own name for it (boot.rst's
 * "setup_sects", the ELF "p_filesz", Multiboot's "load_end_addr"). A load
 * is planned whole before anything is written: on any error guest memory
 * and vCPU 0 are exactly as they were, and nothing is ever written outside
 * guest RAM.
 *
 * Where the loaders put things in guest memory (all inside RAM the caller
 * added beforehand, e.g. with vmm_pc_add_ram(); the range 0x7000-0x30000
 * must be RAM, and an image may not claim it):
 *
 * | guest address | what |
 * | --- | --- |
 * | 0x7000  | boot_params (bzImage), hvm_start_info (PVH) or multiboot_info |
 * | 0x8000  | memory map, module list and module strings (PVH, Multiboot) |
 * | 0x10000 | GDT, TSS and identity page tables (see vmm_cpu_mode_config) |
 * | 0x20000 | kernel command line (up to 64 KiB) |
 * | 0x9fc00 | MP table (platform PC), in the reserved EBDA |
 * | 1 MiB or the image's preferred address | the kernel |
 * | high RAM below 4 GiB | initrd and modules (bzImage: below initrd_addr_max) |
 *
 * The GDT selectors are those each protocol asks for: 0x10 code and 0x18
 * data for a bzImage (boot.rst __BOOT_CS/__BOOT_DS), 0x18 code and 0x10
 * data for PVH and Multiboot (vmm_vcpu_set_cpu_mode()'s layout). Only
 * vCPU 0 is set up; on platform PC the others wait for INIT/SIPI, and the
 * loader writes an MP table describing them. See docs/booting.md.
 */
#ifndef VMM_LOADER_H
#define VMM_LOADER_H

#include <vmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Image formats. */
enum vmm_image_format {
    VMM_IMAGE_AUTO = 0,      /**< detect: bzImage, then ELF (PVH note), then Multiboot */
    VMM_IMAGE_BZIMAGE = 1,   /**< Linux bzImage, Documentation/arch/x86/boot.rst */
    VMM_IMAGE_ELF_PVH = 2,   /**< ELF with XEN_ELFNOTE_PHYS32_ENTRY, entered per the PVH boot ABI */
    VMM_IMAGE_MULTIBOOT = 3, /**< Multiboot 0.6.96 kernel (ELF or a.out kludge) */
    VMM_IMAGE_RAW = 4,       /**< flat bytes at raw_gpa, entered at raw_entry */
};

/** bzImage: enter through the 32-bit protected-mode entry (code32_start)
 *  instead of the 64-bit one. */
#define VMM_BOOT_F_BZIMAGE_ENTRY32 (1u << 0)
/** bzImage: decompress the kernel's payload (an ELF vmlinux,
 *  boot.rst "payload_offset") on the host and enter it through its PVH
 *  note, skipping the decompressor that would otherwise run in the guest.
 *  Needs a kernel built with CONFIG_PVH and a libvmm built with the
 *  payload's decompressor (see vmm_has_feature(VMM_FEATURE_EXTRACT_XZ) and
 *  its neighbours). The decompressed size is bounded by the VM's RAM. */
#define VMM_BOOT_F_BZIMAGE_EXTRACT (1u << 1)

/** Compression of a bzImage payload, from its magic bytes. */
enum vmm_compression {
    VMM_COMPRESSION_NONE = 0,  /**< not a bzImage, or an uncompressed payload */
    VMM_COMPRESSION_GZIP = 1,  /**< gzip (1f 8b) */
    VMM_COMPRESSION_XZ = 2,    /**< xz (fd 37 7a 58 5a 00) */
    VMM_COMPRESSION_ZSTD = 3,  /**< zstd frame (28 b5 2f fd) */
    VMM_COMPRESSION_LZ4 = 4,   /**< LZ4 legacy frame (02 21 4c 18), as `lz4 -l` writes */
    VMM_COMPRESSION_BZIP2 = 5, /**< bzip2 ("BZh"); recognised, not extracted */
    VMM_COMPRESSION_LZMA = 6,  /**< legacy .lzma (5d 00 00); recognised, not extracted */
    VMM_COMPRESSION_LZO = 7,   /**< lzop (89 4c 5a 4f); recognised, not extracted */
    VMM_COMPRESSION_UNKNOWN = 0xff, /**< a payload with magic bytes libvmm does not know */
};

/** Most entries in vmm_boot_config::modules. */
#define VMM_BOOT_MAX_MODULES 64

/** A module after the initrd (vmm_boot_config::modules). */
struct vmm_boot_module {
    const void *data;    /**< the bytes; borrowed for the call */
    uint64_t size;       /**< bytes at @c data, > 0 */
    const char *cmdline; /**< Multiboot module string / PVH module command line (at most
                              4095 bytes), or NULL; borrowed for the call */
};

/** Configuration for vmm_boot_load(); initialise with VMM_BOOT_CONFIG_INIT. */
struct vmm_boot_config {
    uint32_t struct_size;  /**< sizeof(struct vmm_boot_config) */
    uint32_t flags;        /**< VMM_BOOT_F_* */
    uint32_t format;       /**< an enum vmm_image_format value */
    uint32_t reserved0;    /**< must be 0 */
    const void *kernel;    /**< the image; borrowed for the call */
    uint64_t kernel_size;  /**< bytes at @c kernel */
    const void *initrd;    /**< initrd / first module, or NULL; borrowed for the call */
    uint64_t initrd_size;  /**< bytes at @c initrd (0 with NULL) */
    const char *cmdline;   /**< NUL-terminated command line, or NULL; borrowed */
    uint64_t raw_gpa;      /**< RAW: where the bytes go */
    uint64_t raw_entry;    /**< RAW: initial RIP */
    uint32_t raw_cpu_mode; /**< RAW: an enum vmm_cpu_mode value */
    uint32_t reserved1;    /**< must be 0 */
    /** More modules after the initrd, in order (the initrd is the first):
     *  Multiboot and PVH list each one; for a bzImage they are appended to
     *  the initrd, each padded to 4 bytes, as concatenated cpio archives
     *  (what GRUB does with several initrds). Not for RAW. Borrowed for the
     *  call; NULL when num_modules is 0. */
    const struct vmm_boot_module *modules;
    uint32_t num_modules;  /**< entries in @c modules, at most VMM_BOOT_MAX_MODULES; needs an initrd */
    uint32_t reserved2;    /**< must be 0 */
};

/** Static initialiser for struct vmm_boot_config (format AUTO). */
#define VMM_BOOT_CONFIG_INIT                                                                  \
    {                                                                                         \
        sizeof(struct vmm_boot_config), 0, VMM_IMAGE_AUTO, 0, NULL, 0, NULL, 0, NULL, 0, 0, 0, \
            0, NULL, 0, 0                                                                     \
    }

/** What vmm_boot_load() did. */
struct vmm_boot_info {
    uint32_t struct_size;      /**< set by the caller: sizeof(struct vmm_boot_info) */
    uint32_t format;           /**< the format entered (never AUTO): ELF_PVH for an extracted bzImage */
    uint64_t entry;            /**< vCPU 0's initial RIP */
    uint64_t kernel_gpa;       /**< first byte of the loaded kernel */
    uint64_t kernel_end;       /**< one past its last byte (init_size / memsz included) */
    uint64_t initrd_gpa;       /**< 0 if none */
    uint64_t initrd_size;      /**< bytes of the initrd (or first module; for a bzImage with
                                    modules, all of them as the kernel sees them); 0 if none */
    uint64_t cmdline_gpa;      /**< 0 if none */
    uint64_t boot_params_gpa;  /**< zero page, hvm_start_info or multiboot_info; 0 for RAW */
    uint32_t protocol_version; /**< bzImage: boot protocol version (e.g. 0x020f); else 0 */
    uint32_t compression;      /**< bzImage: an enum vmm_compression value for its payload */
    uint64_t extracted_size;   /**< VMM_BOOT_F_BZIMAGE_EXTRACT: bytes decompressed; else 0 */
};

/**
 * @brief Load a guest image into RAM and set up vCPU 0 to enter it.
 * @param cfg  Borrowed for the call; the images are copied into guest RAM.
 * @param[out] info May be NULL; else its struct_size must be set.
 * @return 0; -ENOEXEC (not a supported image, or a malformed one,
 *         including a corrupt or truncated compressed payload); -EINVAL (bad
 *         config, a command line longer than the kernel's cmdline_size);
 *         -ENOMEM (the kernel, initrd or a decompressed payload does not fit
 *         in the VM's RAM, or the boot data area is not RAM); -ENOTSUP
 *         (VMM_BOOT_F_BZIMAGE_EXTRACT with a payload this build cannot
 *         decompress); -EBUSY (a vCPU is running). vmm_last_error() names
 *         the field at fault.
 * Not thread-safe against other changes of the same VM; the VM is locked
 * against vmm_vcpu_run() for the duration of the call.
 */
VMM_API int vmm_boot_load(vmm_vm *vm, const struct vmm_boot_config *cfg,
                          struct vmm_boot_info *info);

/**
 * @brief vmm_boot_load() with the kernel and initrd read from files (format
 *        AUTO).
 * @param kernel_path Required; read whole, at most the VM's RAM in size.
 * @param initrd_path May be NULL.
 * @param cmdline May be NULL.
 * @param flags VMM_BOOT_F_* as in struct vmm_boot_config.
 * @param[out] info May be NULL; else its struct_size must be set.
 * @return As vmm_boot_load(); -errno if a file cannot be opened or read
 *         (vmm_last_error() names it).
 * The files are read into host memory for the call and released before it
 * returns.
 */
VMM_API int vmm_boot_load_files(vmm_vm *vm, const char *kernel_path, const char *initrd_path,
                                const char *cmdline, uint32_t flags,
                                struct vmm_boot_info *info);

#ifdef __cplusplus
}
#endif

#endif /* VMM_LOADER_H */
