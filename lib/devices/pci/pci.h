/* The PCI host bridge of a VM (bus 0 only) and the functions on it.
 *
 * The host (pci_host.c) answers configuration mechanism #1 (PCI Local Bus
 * 3.0, 3.2.2.3.2: CONFIG_ADDRESS at 0xCF8, CONFIG_DATA at 0xCFC-0xCFF) and
 * decodes the MMIO window VMM_VIRTIO_PCI_MMIO_BASE .. + SIZE, routing each
 * access to the function whose enabled memory BAR holds it. It keeps every
 * function's 256-byte configuration image and applies per-byte write masks,
 * so a function model only fills its image and answers BAR accesses.
 *
 * A function (struct pci_function) is embedded in its model's state, which
 * owns it; the host only links it. Lifetime: the host state is created with
 * the first registered function and lives until vmm_pci_host_free() (after
 * every device is gone), so pci_host_unregister() is safe in any
 * destruction order.
 *
 * Locking: one mutex per host guards the images, the BAR addresses and the
 * function list. Callbacks marked "host lock held" must not call back into
 * the host; lock order is host lock, then the model's own locks. */
#ifndef VMM_LIB_DEVICES_PCI_H
#define VMM_LIB_DEVICES_PCI_H

#include <vmm/vmm.h>

#include <stdbool.h>
#include <stdint.h>

/* Configuration header, type 0 (PCI Local Bus 3.0, 6.1). */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09  /* class code: prog-if 0x09, subclass 0x0a, base 0x0b */
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d
#define PCI_CONFIG_SIZE 256u
#define PCI_NUM_BARS 6

#define PCI_COMMAND_MEMORY 0x0002u
#define PCI_COMMAND_MASTER 0x0004u
#define PCI_COMMAND_INTX_DISABLE 0x0400u
#define PCI_STATUS_INTERRUPT 0x0008u
#define PCI_STATUS_CAP_LIST 0x0010u

#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_ID_VNDR 0x09

#define PCI_SLOTS 32          /* devices per bus; slot 0 is the host bridge */
#define PCI_BAR_UNMAPPED UINT64_MAX /* pci_function::bar_gpa: not decoded */

struct pci_function;
struct pci_host;

struct pci_function_ops {
    /* A guest access of @len (1, 2, 4 or 8) bytes at @off of BAR @bar,
     * wholly inside the BAR. Reads find @data pre-filled with 0xff. Called
     * WITHOUT the host lock (the function cannot go away meanwhile: detach
     * is refused while vCPUs run). Also called, with the host lock held,
     * for accesses a model makes on its own behalf through config space
     * (virtio's PCI_CFG window). */
    void (*bar_access)(struct pci_function *fn, unsigned bar, uint64_t off, void *data,
                       uint32_t len, bool is_write);
    /* BAR @bar is now decoded at @gpa, or PCI_BAR_UNMAPPED (Memory Space
     * off, or moved outside the window). Host lock held. May be NULL. */
    void (*bar_moved)(struct pci_function *fn, unsigned bar, uint64_t gpa);
    /* The guest is about to read config bytes [off, off + len): the model
     * may refresh them in fn->config. Host lock held. May be NULL. */
    void (*config_read)(struct pci_function *fn, uint32_t off, uint32_t len);
    /* The guest wrote config bytes [off, off + len) (masks already
     * applied to fn->config). Host lock held. May be NULL. */
    void (*config_written)(struct pci_function *fn, uint32_t off, uint32_t len);
};

struct pci_function {
    /* Filled by the model (pci_function_init() and helpers) before
     * pci_host_register(); afterwards only under the host lock. */
    uint8_t config[PCI_CONFIG_SIZE];
    uint8_t wmask[PCI_CONFIG_SIZE]; /* bit set: the guest may write it */
    uint32_t bar_size[PCI_NUM_BARS]; /* 0: the function has no such BAR; else a power of two */
    uint8_t cap_end;                 /* next free config offset for a capability */
    const struct pci_function_ops *ops;
    void *user;

    /* Set by the host. */
    uint64_t bar_gpa[PCI_NUM_BARS];  /* decoded address or PCI_BAR_UNMAPPED */
    uint32_t slot;
    struct pci_host *host;
    struct pci_function *next;
    bool intx_pending;               /* atomic: shown as Status bit 3 */
    uint32_t intx_gsi;               /* pci_function_set_intx(): the GSI INTA# drives,
                                      * or VMM_VIRTIO_NO_IRQ (the guest may rewrite the
                                      * Interrupt Line register; this stays) */
};

/* Header type 0 function with the given identity (class_code is the
 * 24-bit base/sub/prog-if value, e.g. 0x020000), Memory Space and Bus
 * Master writable, interrupt line 0xff and pin 0 (none). */
void pci_function_init(struct pci_function *fn, uint16_t vendor, uint16_t device,
                       uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
                       uint16_t subsys_id, const struct pci_function_ops *ops, void *user);
/* A 32-bit non-prefetchable memory BAR of @size bytes (a power of two,
 * 16 bytes .. 1 GiB). Returns 0 or -EINVAL with a sentence. */
int pci_function_add_bar32(struct pci_function *fn, unsigned bar, uint32_t size,
                           const char *caller);
/* Appends a capability: @len bytes (>= 2) whose first two (ID, next) are
 * filled by the helper from @cap_id; @body gives the rest (len - 2 bytes).
 * Sets Status bit 4 and links it. Returns the capability's config offset
 * or -ENOSPC with a sentence. */
int pci_function_add_cap(struct pci_function *fn, uint8_t cap_id, const void *body,
                         uint8_t len, const char *caller);
/* INTx: pin 1 (INTA#) and line @gsi, or pin 0 and line 0xff for none. */
void pci_function_set_intx(struct pci_function *fn, uint32_t gsi);
/* How a function's INTx pin is wired, for the MP table (lib/x86/mptable.c). */
struct pci_intx_route {
    uint8_t slot; /* device number on bus 0 */
    uint8_t pin;  /* 1 = INTA# */
    uint32_t gsi; /* the IOAPIC pin it drives */
};
/* Fills up to @max routes of the functions on @vm's bus that have an INTx
 * line (none without a PCI host); returns how many there are. Takes the
 * host lock. */
size_t pci_host_intx_routes(const vmm_vm *vm, struct pci_intx_route *out, size_t max);

/* Shows Status bit 3 (interrupt pending). Thread-safe, lock-free. */
void pci_function_intx_status(struct pci_function *fn, bool pending);

/* Little-endian accessors on a config image. */
static inline uint16_t pci_cfg_get16(const uint8_t *c, uint32_t off)
{
    return (uint16_t)(c[off] | c[off + 1] << 8);
}
static inline uint32_t pci_cfg_get32(const uint8_t *c, uint32_t off)
{
    return (uint32_t)c[off] | (uint32_t)c[off + 1] << 8 | (uint32_t)c[off + 2] << 16 |
           (uint32_t)c[off + 3] << 24;
}
static inline void pci_cfg_set16(uint8_t *c, uint32_t off, uint16_t v)
{
    c[off] = (uint8_t)v;
    c[off + 1] = (uint8_t)(v >> 8);
}
static inline void pci_cfg_set32(uint8_t *c, uint32_t off, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        c[off + i] = (uint8_t)(v >> (8 * i));
}

/* Puts @fn on bus 0 of @vm's host (created on first use, with its
 * "pci-host" device and the host bridge at 00:00.0): at @slot (1-31), or
 * the lowest free one for 0. Assigns each BAR the lowest naturally aligned
 * free space in the window and turns Memory Space on, as firmware would
 * (bar_moved is called). Returns 0; -EINVAL (slot > 31), -EBUSY (slot
 * taken), -ENOSPC (no slot or window space), -ENOMEM, or the device
 * layer's errno; each with a sentence naming @caller. */
int pci_host_register(vmm_vm *vm, struct pci_function *fn, uint32_t slot, const char *caller);
/* Takes @fn off the bus (no-op if it is not on one). Safe whether or not
 * the host's device still exists. */
void pci_host_unregister(struct pci_function *fn);

#endif
