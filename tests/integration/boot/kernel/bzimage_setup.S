/* Real-mode part of the bzImage test kernel: the boot sector and the setup
 * header, laid out as Documentation/arch/x86/boot.rst ("THE REAL-MODE KERNEL
 * HEADER") describes, followed by the protected-mode part (bzimage_pm.bin).
 *
 * Values that depend on the protected-mode link (its size, init_size, the
 * kernel_info offset) come from bzimage_pm.elf through --just-symbols.
 * There is no 16-bit setup code: the test loaders enter through the 32- or
 * 64-bit boot protocol only, so the real-mode entry just halts.
 *
 * With -DPAYLOAD="file" (the extract images, meson.build) the same header
 * describes a bzImage as Linux builds one around a compressed vmlinux: the
 * protected-mode part is a stub (its 32- and 64-bit entries only write
 * 0xbad2 to the debug-exit port: these images are meant to be extracted,
 * not run), a kernel_info, then the file (the compressed pvh.elf followed
 * by its size, as Linux's piggy) at payload_offset, with syssize and
 * init_size computed here. */

#ifdef PAYLOAD
#define PM_SYSSIZE ((pm_end - pm_start + 15) / 16)
#define PM_INIT_SIZE ((pm_end - pm_start + 0xfff) & ~0xfff)
#define PM_KERNEL_INFO_OFFSET (pm_kernel_info - pm_start)
#define PAYLOAD_OFFSET (payload_start - pm_start)  /* boot.rst: from the protected-mode part */
#define PAYLOAD_LENGTH (payload_end - payload_start)
#else
#define PM_SYSSIZE _pm_syssize
#define PM_INIT_SIZE _pm_init_size
#define PM_KERNEL_INFO_OFFSET _pm_kernel_info_offset
#define PAYLOAD_OFFSET 0                /* no compressed payload */
#define PAYLOAD_LENGTH 0
#endif

#define SETUP_SECTS 2                   /* boot.rst: setup_sects, 0x1f1 */
#define BOOT_PROTOCOL 0x020f            /* 2.15 */
#define LOADED_HIGH 0x01                /* loadflags bit 0 */
#define XLF_KERNEL_64 0x0001            /* 64-bit entry at +0x200 */
#define XLF_CAN_BE_LOADED_ABOVE_4G 0x0002

    .code16
    .section .setup, "ax"
    .globl _start
_start:
bootsect:
    /* A boot sector that only says it is not one. */
    cli
    hlt
    jmp bootsect
    .ascii "libvmm boot-protocol test kernel: use a boot loader\r\n"

    /* Linux puts 0xff here too: a loader that copies the whole first
     * sector instead of the header from 0x1f1 leaves it non-zero in
     * boot_params (zero-page.rst: sentinel, 0x1ef). */
    .org 0x1ef
sentinel:       .byte 0xff, 0xff
hdr:
setup_sects:    .byte SETUP_SECTS
root_flags:     .word 0
syssize:        .long PM_SYSSIZE    /* protected-mode part, 16-byte units */
ram_size:       .word 0
vid_mode:       .word 0xffff        /* "normal" */
root_dev:       .word 0
boot_flag:      .word 0xaa55

    .org 0x200
jump:           .byte 0xeb, start_of_setup - header  /* relative to 0x202 */
header:         .ascii "HdrS"
version:        .word BOOT_PROTOCOL
realmode_swtch: .long 0
start_sys_seg:  .word 0x1000
kernel_version: .word kernel_version_str - jump  /* less 0x200 */
type_of_loader: .byte 0
loadflags:      .byte LOADED_HIGH
setup_move_size: .word 0x8000
code32_start:   .long 0x100000      /* the loader updates it (relocatable) */
ramdisk_image:  .long 0
ramdisk_size:   .long 0
bootsect_kludge: .long 0
heap_end_ptr:   .word 0
ext_loader_ver: .byte 0
ext_loader_type: .byte 0
cmd_line_ptr:   .long 0
initrd_addr_max: .long 0x7fffffff
kernel_alignment: .long 0x200000
relocatable_kernel: .byte 1
min_alignment:  .byte 21            /* 2 MiB, like x86-64 Linux */
xloadflags:     .word XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G
cmdline_size:   .long 2047
hardware_subarch: .long 0
hardware_subarch_data: .quad 0
payload_offset: .long PAYLOAD_OFFSET
payload_length: .long PAYLOAD_LENGTH
setup_data:     .quad 0
pref_address:   .quad 0x1000000
init_size:      .long PM_INIT_SIZE
handover_offset: .long 0            /* no EFI handover */
kernel_info_offset: .long PM_KERNEL_INFO_OFFSET
hdr_end:

start_of_setup:
    /* No 16-bit entry: halt. */
    cli
    hlt
    jmp start_of_setup

kernel_version_str:
    .asciz "libvmm-boot-test 1.0"

    .org (SETUP_SECTS + 1) * 512
pm_start:
#ifdef PAYLOAD
    .code32                         /* the same bytes in 64-bit mode */
    mov $0xbad2, %eax
    out %eax, $0xf4
1:  hlt
    jmp 1b
    .org (SETUP_SECTS + 1) * 512 + 0x200  /* the 64-bit entry */
    mov $0xbad2, %eax
    out %eax, $0xf4
2:  hlt
    jmp 2b
    /* boot.rst "The kernel_info", as in bzimage_head.S. */
    .balign 4
pm_kernel_info:
    .ascii "LToP"
    .long 16                        /* size (no variable part) */
    .long 16                        /* size_total */
    .long 0                         /* setup_type_max */
    .balign 16
payload_start:
    .incbin PAYLOAD
payload_end:
    /* Linux pads the protected-mode part to syssize * 16 bytes
     * (arch/x86/boot/tools/build.c); loaders may read that much. */
    .balign 16, 0
pm_end:
#else
    .incbin PM_BIN
    .balign 16, 0                   /* to syssize * 16 bytes, as Linux pads */
#endif

    .section .note.GNU-stack, "", @progbits
