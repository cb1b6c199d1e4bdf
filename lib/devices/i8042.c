/* vmm_i8042_attach(): the PC keyboard controller (Intel 8042 / PS/2
 * controller) with nothing plugged into its keyboard and mouse ports:
 * status and command registers, the controller command byte and RAM,
 * self-tests, the output port and the reset line. Enough for Linux's i8042
 * driver to probe it and for `reboot=k`. Commands follow the IBM PS/2
 * Hardware Interface Technical Reference, "Keyboard and Auxiliary Device
 * Controller" (cited as "PS/2 TR"), which Linux's drivers/input/serio/
 * i8042.h mirrors. With an irqchip (platform PC) the output buffer drives
 * IRQ 1 (keyboard data) or IRQ 12 (auxiliary data) while it is full and
 * the command byte enables that interrupt, as on the chip: Linux's driver
 * checks that its AUX loopback byte raises IRQ 12 and otherwise waits
 * 250 ms and gives the port up. */
#include <vmm/vmm.h>

#include "core/error.h"
#include "devices/attach.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT  0x64

/* Status register (PS/2 TR, "Status Register"). */
#define STR_OBF      0x01 /* output buffer full */
#define STR_SYS      0x04 /* system flag: copy of command byte bit 2 */
#define STR_CMD      0x08 /* last write went to the command port */
#define STR_UNLOCKED 0x10 /* keyboard inhibit switch off */
#define STR_AUXDATA  0x20 /* the output buffer holds auxiliary-device data */

/* Controller command byte, RAM byte 0 (PS/2 TR, "Command Byte"). */
#define CTR_KBDINT 0x01
#define CTR_AUXINT 0x02
#define CTR_SYS    0x04
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
#define CTR_XLATE  0x40
/* What a BIOS leaves after POST: keyboard interrupt and translation on,
 * system flag set (self-test passed), both ports enabled. */
#define CTR_DEFAULT (CTR_KBDINT | CTR_SYS | CTR_XLATE)

/* Output port (PS/2 TR, "Output Port"): bit 0 is the CPU reset line (0 =
 * reset asserted), bit 1 the A20 gate. */
#define OUTPORT_RESET 0x01
#define OUTPORT_A20   0x02

#define OBUF_SIZE 16
#define IRQ_KBD 1
#define IRQ_AUX 12

struct i8042 {
    vmm_device *dev;
    bool has_irqs;         /* the VM has an irqchip */
    uint8_t ram[32];       /* ram[0] is the command byte */
    uint8_t outport;
    uint8_t pending;       /* command waiting for its data byte, or 0 */
    bool last_was_cmd;     /* status bit 3 */
    uint8_t obuf[OBUF_SIZE];
    bool obuf_aux[OBUF_SIZE];
    unsigned obuf_head, obuf_count;
    uint8_t last_read;     /* what port 0x60 returns when nothing is queued */
};

static void i8042_reset_state(struct i8042 *k)
{
    vmm_device *dev = k->dev;
    bool has_irqs = k->has_irqs;
    memset(k, 0, sizeof(*k));
    k->dev = dev;
    k->has_irqs = has_irqs;
    k->ram[0] = CTR_DEFAULT;
    k->outport = OUTPORT_RESET | OUTPORT_A20;
}

/* IRQ 1 / 12 follow the output buffer and the command byte's enables. */
static int update_irqs(const struct i8042 *k)
{
    if (!k->has_irqs)
        return 0;
    bool full = k->obuf_count > 0, aux = full && k->obuf_aux[k->obuf_head];
    int r = vmm_device_set_irq(k->dev, IRQ_KBD, full && !aux && (k->ram[0] & CTR_KBDINT));
    if (r == 0)
        r = vmm_device_set_irq(k->dev, IRQ_AUX, aux && (k->ram[0] & CTR_AUXINT));
    return r;
}

/* A reply to the guest. The real controller has one output byte; a few are
 * queued here so a guest issuing commands back to back loses nothing. */
static void reply(struct i8042 *k, uint8_t byte, bool aux)
{
    if (k->obuf_count == OBUF_SIZE)
        return;
    unsigned i = (k->obuf_head + k->obuf_count) % OBUF_SIZE;
    k->obuf[i] = byte;
    k->obuf_aux[i] = aux;
    k->obuf_count++;
}

static uint8_t read_status(const struct i8042 *k)
{
    uint8_t v = STR_UNLOCKED | (k->ram[0] & CTR_SYS ? STR_SYS : 0);
    if (k->last_was_cmd)
        v |= STR_CMD;
    if (k->obuf_count) {
        v |= STR_OBF;
        if (k->obuf_aux[k->obuf_head])
            v |= STR_AUXDATA;
    }
    return v; /* the input buffer is never full: writes are taken at once */
}

static uint8_t read_data(struct i8042 *k)
{
    if (k->obuf_count) {
        k->last_read = k->obuf[k->obuf_head];
        k->obuf_head = (k->obuf_head + 1) % OBUF_SIZE;
        k->obuf_count--;
    }
    return k->last_read;
}

static int request_reset(vmm_vcpu *vcpu)
{
    return vmm_vcpu_request_exit(vcpu, VMM_REQUEST_RESET, 0);
}

/* A write to port 0x64 (PS/2 TR, "Commands (I/O Address Hex 64)"). */
static int write_command(struct i8042 *k, vmm_vcpu *vcpu, uint8_t cmd)
{
    k->pending = 0;
    if (cmd >= 0x20 && cmd <= 0x3f) {          /* read RAM byte cmd & 0x1f */
        reply(k, k->ram[cmd & 0x1f], false);
    } else if (cmd >= 0x60 && cmd <= 0x7f) {   /* write RAM byte: data follows */
        k->pending = cmd;
    } else if (cmd >= 0xf0) {
        /* Pulse output port lines: a 0 in bits 0-3 pulses that line; bit 0
         * is the CPU reset line (how Linux's `reboot=k` resets: 0xfe). */
        if (!(cmd & 0x01))
            return request_reset(vcpu);
    } else {
        switch (cmd) {
        case 0xa7: k->ram[0] |= CTR_AUXDIS; break;   /* disable auxiliary port */
        case 0xa8: k->ram[0] &= ~CTR_AUXDIS; break;  /* enable auxiliary port */
        case 0xa9: reply(k, 0x00, false); break;     /* aux interface test: OK */
        case 0xaa:                                   /* controller self-test */
            k->ram[0] |= CTR_SYS;
            reply(k, 0x55, false);
            break;
        case 0xab: reply(k, 0x00, false); break;     /* keyboard interface test: OK */
        case 0xad: k->ram[0] |= CTR_KBDDIS; break;   /* disable keyboard */
        case 0xae: k->ram[0] &= ~CTR_KBDDIS; break;  /* enable keyboard */
        case 0xc0: reply(k, 0x00, false); break;     /* read input port */
        case 0xd0: reply(k, k->outport, false); break; /* read output port */
        case 0xd1:                                   /* write output port */
        case 0xd2:                                   /* write keyboard output buffer */
        case 0xd3:                                   /* write aux output buffer */
        case 0xd4:                                   /* write to aux device */
            k->pending = cmd;
            break;
        case 0xe0: reply(k, 0x00, false); break;     /* read test inputs */
        default: break;                              /* unknown: ignored */
        }
    }
    return 0;
}

/* A write to port 0x60: the data byte of a pending command, or a byte for
 * the keyboard, which is not there. */
static int write_data(struct i8042 *k, vmm_vcpu *vcpu, uint8_t byte)
{
    uint8_t cmd = k->pending;
    k->pending = 0;
    if (cmd >= 0x60 && cmd <= 0x7f) {
        k->ram[cmd & 0x1f] = byte;
    } else if (cmd == 0xd1) {
        /* The A20 gate cannot be closed under KVM (bit 1 is only stored);
         * clearing bit 0 asserts the CPU reset line. */
        k->outport = byte;
        if (!(byte & OUTPORT_RESET)) {
            k->outport |= OUTPORT_RESET;
            return request_reset(vcpu);
        }
    } else if (cmd == 0xd2 || cmd == 0xd3) {
        reply(k, byte, cmd == 0xd3);
    }
    /* 0xd4 and plain data go to a device that is not there: dropped, and
     * the driver's wait for an answer times out as with an empty port. */
    return 0;
}

static int i8042_pio(vmm_device *dev, vmm_vcpu *vcpu, const struct vmm_io *io, void *user)
{
    (void)dev;
    struct i8042 *k = user;
    uint8_t *data = io->data;
    /* Each port is mapped alone, so offset is 0; only the first byte of a
     * wider access reaches the controller (the rest belong to other ports). */
    int r;
    if (!io->is_write) {
        data[0] = io->addr == I8042_CMD_PORT ? read_status(k) : read_data(k);
        memset(data + 1, 0xff, io->len - 1);
        r = 0;
    } else {
        k->last_was_cmd = io->addr == I8042_CMD_PORT;
        r = k->last_was_cmd ? write_command(k, vcpu, data[0]) : write_data(k, vcpu, data[0]);
    }
    int irq = update_irqs(k);
    return r < 0 ? r : irq;
}

static void i8042_reset(vmm_device *dev, void *user)
{
    (void)dev;
    i8042_reset_state(user);
    update_irqs(user);
}

VMM_API int vmm_i8042_attach(vmm_vm *vm, vmm_device **out)
{
    static const char fn[] = "vmm_i8042_attach";
    if (!vm)
        return vmm_err(-EINVAL, "%s: vm is NULL", fn);
    struct i8042 *k = calloc(1, sizeof(*k));
    if (!k)
        return vmm_err(-ENOMEM, "%s: out of memory", fn);
    i8042_reset_state(k);
    struct vmm_device_ops ops = VMM_DEVICE_OPS_INIT;
    ops.name = "i8042";
    ops.pio = i8042_pio;
    ops.reset = i8042_reset;
    ops.destroy = free;
    static const struct vmm_port_range ports[] = {
        { I8042_DATA_PORT, 1 },
        { I8042_CMD_PORT, 1 },
    };
    vmm_device *dev = NULL;
    int r = vmm_devices_attach_pio(vm, &ops, k, ports, 2, &dev);
    if (r < 0)
        return r;
    k->dev = dev;
    k->has_irqs = vmm_device_set_irq(dev, IRQ_KBD, 0) == 0; /* -ENODEV without an irqchip */
    if (out)
        *out = dev;
    return 0;
}
