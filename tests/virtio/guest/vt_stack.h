/* The device set the test guest's driver expects (the same as the QEMU
 * cross-check's PCI case): a read-write disk, a read-only disk, an entropy
 * device, a console and a NIC, all on one transport, attached to a VM
 * (real or fake); plus the checks made on the host side afterwards. Shared
 * by test_driver_host.c (fake VM) and test_virtio_guest.c (KVM). */
#ifndef VT_STACK_H
#define VT_STACK_H

#include <vmm/vmm.h>

#include <pthread.h>
#include <stddef.h>

#define VT_DISK_BYTES (1u << 20)

struct vt_stack {
    vmm_device *blk, *blk_ro, *rng, *con, *net;
    int disk, disk_ro;       /* the images (unlinked temporary files) */
    char hvc[4096];          /* what the guest wrote to the console */
    size_t hvc_len;
    pthread_mutex_t lock;
    int net_peer;            /* our end of the NIC's packet socket */
    pthread_t net_thread;
    int net_frames;          /* frames the guest sent */
};

/* Attaches the five devices on @transport with @flags (VMM_VIRTIO_F_*),
 * queues "ping\n" for the console and starts the network's far end (it
 * answers every frame with an ARP reply). Asserts. */
void vt_stack_attach(vmm_vm *vm, struct vt_stack *s, uint32_t transport, uint32_t flags);
/* The command line for the guest driver: "vt.transport=.. vt.dev=all ..."
 * plus @extra and the virtio_mmio.device= words. Asserts it fits. */
void vt_stack_cmdline(vmm_vm *vm, const char *tname, const char *extra, char *buf,
                      size_t size);
/* Asserts every expected "VT <t> <dev> <check> ok" line is in @log and no
 * FAIL; then the host side: the pattern on the disk, the console echo, a
 * frame from the guest, and each device healthy with requests done. */
void vt_stack_check(struct vt_stack *s, const char *tname, const char *log);
/* After vt.hostile=1: every attack on the first blk reported broken with
 * nothing completed, each reset recovered it, the other devices passed;
 * then from the host side the blk's violations, health and untouched disk,
 * and the other devices' health. */
void vt_stack_check_hostile(struct vt_stack *s, const char *tname, const char *log);
/* Stops the network's far end and closes the images (after the VM is gone). */
void vt_stack_close(struct vt_stack *s);

#endif
