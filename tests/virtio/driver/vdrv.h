/* vdrv: the test guest's virtio 1.2 driver. Freestanding C (no libc), built
 * twice from the same sources: into the tiny PVH guest kernel (kernel/), and
 * into host-side tests where a bus adapter forwards every access to the fake
 * VM (tests/virtio/fake). Everything the driver does to the machine goes
 * through struct vdrv_bus, so the two builds differ only in the adapter.
 *
 * Results are lines "VT <transport> <device> <check> ok|FAIL <detail>\n"
 * written through bus->log, then "VT done pass=N fail=M\n".
 *
 * Portable between -m32 (guest, paging off, identity-mapped) and 64-bit
 * hosts: guest physical addresses are always uint64_t, host pointers only
 * come from bus->ram(). */
#ifndef VDRV_H
#define VDRV_H

#include <stddef.h>
#include <stdint.h>

/* How the driver reaches the machine. All accesses are little-endian, as on
 * x86. Every function receives ctx first. None may be NULL except relax. */
struct vdrv_bus {
    void *ctx;
    /* Port I/O, len 1, 2 or 4 (configuration mechanism #1 uses 0xcf8/0xcfc). */
    uint32_t (*pio_read)(void *ctx, uint16_t port, uint32_t len);
    void (*pio_write)(void *ctx, uint16_t port, uint32_t len, uint32_t val);
    /* MMIO by guest physical address, len 1, 2, 4 or 8. */
    uint64_t (*mmio_read)(void *ctx, uint64_t gpa, uint32_t len);
    void (*mmio_write)(void *ctx, uint64_t gpa, uint32_t len, uint64_t val);
    /* Host pointer to guest RAM [gpa, gpa+len), or NULL if that is not RAM.
     * Identity in the guest. The driver only asks for arena memory. */
    void *(*ram)(void *ctx, uint64_t gpa, uint64_t len);
    /* Print a NUL-terminated string (no newline added). */
    void (*log)(void *ctx, const char *s);
    /* Called once per used-ring poll iteration (host: yield to the device's
     * thread; guest: pause). May be NULL. */
    void (*relax)(void *ctx);
    /* Guest RAM [arena_base, arena_base + arena_size) that the driver may
     * use for rings and buffers; must be below 4 GiB for the 32-bit guest. */
    uint64_t arena_base, arena_size;
};

#define VDRV_T_PCI 1u
#define VDRV_T_MMIO 2u

#define VDRV_DEV_BLK 1u
#define VDRV_DEV_RNG 2u
#define VDRV_DEV_CONSOLE 4u
#define VDRV_DEV_NET 8u
#define VDRV_DEV_ALL 15u

#define VDRV_MAX_MMIO 8

/* What to run. vdrv_opts_default() then vdrv_opts_parse() over the kernel
 * command line, or fill it by hand on the host. */
struct vdrv_opts {
    uint32_t transports;     /* VDRV_T_* */
    uint32_t devs;           /* VDRV_DEV_* */
    int event_idx;           /* negotiate VIRTIO_F_EVENT_IDX if offered */
    int indirect;            /* negotiate VIRTIO_F_INDIRECT_DESC and use it */
    int msix;                /* PCI: enable MSI-X, vectors 0x40 + n */
    int console_rx;          /* console: wait for input and echo it */
    uint32_t expect_net_rx;  /* net: wait for a reply to the ARP request */
    uint32_t poll_spins;     /* used-ring polls before a timeout error */
    uint32_t nmmio;
    struct { uint64_t base, size; uint32_t irq; } mmio[VDRV_MAX_MMIO];
    uint32_t expect;         /* 0, or number of devices that must be found */
    int check_irr;           /* PCI with MSI-X: check the LAPIC's IRR after each
                              * device's tests (a real or emulated LAPIC only) */
    uint32_t bench;          /* blk: run the benchmark (vdrv_bench.c) with this
                              * many 4 KiB requests instead of the tests */
    uint32_t hostile;        /* first blk: protocol attacks (vdrv_hostile.c)
                              * instead of its tests; VDRV_HOSTILE_* */
    uint32_t hostile_expect; /* whose behaviour to assert: VDRV_EXPECT_* */
};

#define VDRV_HOSTILE_OFF 0u
#define VDRV_HOSTILE_CHECK 1u   /* each attack's outcome must match the table */
#define VDRV_HOSTILE_RECORD 2u  /* report what happens, every attack counts ok */
#define VDRV_EXPECT_LIBVMM 0u   /* every attack marks the device NEEDS_RESET */
#define VDRV_EXPECT_QEMU 1u     /* QEMU 7.2's virtio-blk-pci (vdrv_hostile.c) */

void vdrv_opts_default(struct vdrv_opts *o);
/* Parses space-separated words; unknown words are ignored:
 *   vt.transport=pci|mmio|both   vt.dev=blk,rng,console,net|all
 *   vt.event_idx=0|1  vt.indirect=0|1  vt.msix=0|1  vt.console_rx=0|1
 *   vt.net_rx=0|1  vt.spins=<n>  vt.expect=<n devices>  vt.bench=<n requests>
 *   vt.irr=0|1  vt.hostile=0|1|2  vt.hostile_expect=libvmm|qemu
 *   virtio_mmio.device=<size>[K|M]@<base>:<irq>     (Linux syntax)
 * Returns 0, or -1 (and logs) on a malformed word. */
int vdrv_opts_parse(struct vdrv_opts *o, const char *cmdline,
                    const struct vdrv_bus *bus);

/* Runs every selected test on every device found; returns the number of
 * failed checks (0: all passed). Prints the "VT done" line last. */
int vdrv_run(const struct vdrv_bus *bus, const struct vdrv_opts *o);

#endif
