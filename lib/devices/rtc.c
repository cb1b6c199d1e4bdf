/* vmm_rtc_attach(): the PC's CMOS real-time clock (Motorola MC146818A) on
 * ports 0x70 (index) and 0x71 (data). The clock registers read the host's
 * UTC time at the moment of the read (plus an offset the guest may set by
 * writing them); the other 114 bytes are CMOS memory, with the memory-size
 * bytes a PC BIOS leaves there computed from the VM's RAM. No alarm,
 * periodic or update interrupts are generated (IRQ 8 stays low). Register
 * numbers and bits: MC146818A datasheet, "Address Map" and "Registers";
 * memory-size bytes: the IBM PC/AT CMOS map as SeaBIOS and QEMU use it. */
#include <vmm/vmm.h>

#include "core/error.h"
#include "devices/attach.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RTC_INDEX_PORT 0x70
#define RTC_DATA_PORT  0x71

/* Clock and status registers (MC146818A "Address Map"). */
enum {
    REG_SEC = 0x00, REG_SEC_ALARM = 0x01, REG_MIN = 0x02, REG_MIN_ALARM = 0x03,
    REG_HOUR = 0x04, REG_HOUR_ALARM = 0x05, REG_WDAY = 0x06, REG_MDAY = 0x07,
    REG_MONTH = 0x08, REG_YEAR = 0x09,
    REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d,
    REG_CENTURY = 0x32, /* IBM PC/AT; ACPI's FADT "CENTURY" names it */
};

#define A_UIP      0x80 /* update in progress: never set (each read samples the clock) */
#define A_DEFAULT  0x26 /* 32.768 kHz time base, 1024 Hz periodic rate */
#define B_SET      0x80
#define B_DM       0x04 /* data mode: 1 binary, 0 BCD */
#define B_24H      0x02
#define B_DEFAULT  B_24H /* 24-hour BCD, no interrupts: what a BIOS leaves */
#define D_VRT      0x80 /* valid RAM and time (battery good) */
#define HOUR_PM    0x80 /* 12-hour mode: PM flag in the hour byte */

/* Memory-size bytes (IBM PC/AT CMOS map; SeaBIOS src/hw/rtc.h). */
enum {
    MEM_BASE_LO = 0x15, MEM_BASE_HI = 0x16,   /* KiB below 640 KiB */
    MEM_EXT_LO = 0x17, MEM_EXT_HI = 0x18,     /* KiB from 1 MiB, up to 64 MiB */
    MEM_EXT2_LO = 0x30, MEM_EXT2_HI = 0x31,   /* the same again */
    MEM_HIGH_LO = 0x34, MEM_HIGH_HI = 0x35,   /* 64 KiB blocks, 16 MiB .. 4 GiB */
    MEM_ABOVE4G_0 = 0x5b, MEM_ABOVE4G_1 = 0x5c, MEM_ABOVE4G_2 = 0x5d, /* 64 KiB blocks */
};

struct rtc {
    vmm_vm *vm;
    uint8_t index;
    uint8_t cmos[128];
    int64_t offset; /* seconds the guest's clock is ahead of the host's */
    /* While register B's SET bit is on, the clock stands still at @held
     * and field writes change @held alone; clearing SET starts the clock
     * from it (MC146818A, register B bit 7). */
    bool setting;
    struct tm held;
};

/* ---- clock registers ------------------------------------------------------ */

static uint8_t to_reg(const struct rtc *rtc, int v)
{
    if (rtc->cmos[REG_B] & B_DM)
        return (uint8_t)v;
    return (uint8_t)(((v / 10) << 4) | (v % 10));
}

/* A value the guest wrote in the current data mode; -1 if it is not valid
 * BCD. */
static int from_reg(const struct rtc *rtc, uint8_t v)
{
    if (rtc->cmos[REG_B] & B_DM)
        return v;
    if ((v & 0x0f) > 9 || (v >> 4) > 9)
        return -1;
    return (v >> 4) * 10 + (v & 0x0f);
}

static void guest_time(const struct rtc *rtc, struct tm *tm)
{
    if (rtc->setting) {
        *tm = rtc->held;
        return;
    }
    time_t now = time(NULL) + (time_t)rtc->offset;
    gmtime_r(&now, tm);
}

/* Moves the clock so that it reads @tm now. */
static void run_from(struct rtc *rtc, struct tm *tm)
{
    time_t t = timegm(tm);
    if (t != (time_t)-1)
        rtc->offset = (int64_t)t - (int64_t)time(NULL);
}

static uint8_t read_clock(const struct rtc *rtc, uint8_t reg)
{
    struct tm tm;
    guest_time(rtc, &tm);
    switch (reg) {
    case REG_SEC: return to_reg(rtc, tm.tm_sec > 59 ? 59 : tm.tm_sec);
    case REG_MIN: return to_reg(rtc, tm.tm_min);
    case REG_HOUR:
        if (rtc->cmos[REG_B] & B_24H)
            return to_reg(rtc, tm.tm_hour);
        /* 12-hour mode: 12, 1 .. 11, with bit 7 set for PM (MC146818A
         * Table 3). */
        return (uint8_t)(to_reg(rtc, tm.tm_hour % 12 ? tm.tm_hour % 12 : 12) |
                         (tm.tm_hour >= 12 ? HOUR_PM : 0));
    case REG_WDAY: return to_reg(rtc, tm.tm_wday + 1); /* 1 = Sunday */
    case REG_MDAY: return to_reg(rtc, tm.tm_mday);
    case REG_MONTH: return to_reg(rtc, tm.tm_mon + 1);
    case REG_YEAR: return to_reg(rtc, (tm.tm_year + 1900) % 100);
    default: /* REG_CENTURY */ return to_reg(rtc, (tm.tm_year + 1900) / 100);
    }
}

/* The guest sets a clock field. With SET on, only the held time changes
 * (Linux's mc146818_set_time() writes every field that way, so a date
 * such as February 31 in between is never normalised); without it the
 * clock is moved at once so that the field reads the new value.
 * Out-of-range values are ignored; the day of the week follows from the
 * date and cannot be set. */
static void write_clock(struct rtc *rtc, uint8_t reg, uint8_t value)
{
    struct tm tm;
    guest_time(rtc, &tm);
    int v;
    if (reg == REG_HOUR && !(rtc->cmos[REG_B] & B_24H)) {
        v = from_reg(rtc, value & ~HOUR_PM);
        if (v < 1 || v > 12)
            return;
        v = v % 12 + ((value & HOUR_PM) ? 12 : 0);
    } else {
        v = from_reg(rtc, value);
    }
    switch (reg) {
    case REG_SEC: if (v < 0 || v > 59) return; tm.tm_sec = v; break;
    case REG_MIN: if (v < 0 || v > 59) return; tm.tm_min = v; break;
    case REG_HOUR: if (v < 0 || v > 23) return; tm.tm_hour = v; break;
    case REG_MDAY: if (v < 1 || v > 31) return; tm.tm_mday = v; break;
    case REG_MONTH: if (v < 1 || v > 12) return; tm.tm_mon = v - 1; break;
    case REG_YEAR:
        if (v < 0 || v > 99) return;
        tm.tm_year = (tm.tm_year + 1900) / 100 * 100 + v - 1900;
        break;
    case REG_CENTURY:
        if (v < 19 || v > 99) return;
        tm.tm_year = v * 100 + (tm.tm_year + 1900) % 100 - 1900;
        break;
    default: return; /* REG_WDAY */
    }
    if (rtc->setting)
        rtc->held = tm;
    else
        run_from(rtc, &tm);
}

static bool is_clock(uint8_t reg)
{
    return reg == REG_SEC || reg == REG_MIN || reg == REG_HOUR || reg == REG_WDAY ||
           reg == REG_MDAY || reg == REG_MONTH || reg == REG_YEAR || reg == REG_CENTURY;
}

/* ---- memory-size bytes ---------------------------------------------------- */

static bool is_memory_size(uint8_t reg)
{
    return (reg >= MEM_BASE_LO && reg <= MEM_EXT_HI) || reg == MEM_EXT2_LO ||
           reg == MEM_EXT2_HI || reg == MEM_HIGH_LO || reg == MEM_HIGH_HI ||
           (reg >= MEM_ABOVE4G_0 && reg <= MEM_ABOVE4G_2);
}

/* Bytes of RAM in [lo, hi) according to the VM's e820 map. */
static uint64_t ram_between(const struct vmm_e820_entry *e, uint32_t n, uint64_t lo, uint64_t hi)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (e[i].type != VMM_E820_RAM)
            continue;
        uint64_t a = e[i].addr, b = e[i].addr + e[i].size;
        if (b < a)
            b = UINT64_MAX; /* runs to the top of the address space */
        if (a < lo)
            a = lo;
        if (b > hi)
            b = hi;
        if (b > a)
            total += b - a;
    }
    return total;
}

/* Computed from the VM's RAM at each read, so RAM added after the RTC is
 * counted (the memory map cannot change while a vCPU runs). */
static uint8_t read_memory_size(const struct rtc *rtc, uint8_t reg)
{
    struct vmm_e820_entry e[64];
    uint32_t n = 64;
    if (vmm_pc_e820(rtc->vm, e, &n) < 0)
        return 0;
    const uint64_t kib = 1024, blk = 64 * 1024, mib = 1024 * 1024;
    uint64_t v;
    switch (reg) {
    case MEM_BASE_LO: case MEM_BASE_HI:
        v = ram_between(e, n, 0, 640 * kib) / kib;
        break;
    case MEM_EXT_LO: case MEM_EXT_HI: case MEM_EXT2_LO: case MEM_EXT2_HI:
        v = ram_between(e, n, mib, 64 * mib) / kib; /* at most 0xfc00 */
        break;
    case MEM_HIGH_LO: case MEM_HIGH_HI:
        v = ram_between(e, n, 16 * mib, 4096 * mib) / blk;
        if (v > 0xffff)
            v = 0xffff;
        break;
    default:
        v = ram_between(e, n, 4096 * mib, UINT64_MAX) / blk;
        if (v > 0xffffff)
            v = 0xffffff;
        break;
    }
    unsigned shift = 0;
    if (reg == MEM_BASE_HI || reg == MEM_EXT_HI || reg == MEM_EXT2_HI || reg == MEM_HIGH_HI ||
        reg == MEM_ABOVE4G_1)
        shift = 8;
    else if (reg == MEM_ABOVE4G_2)
        shift = 16;
    return (uint8_t)(v >> shift);
}

/* ---- ports ---------------------------------------------------------------- */

static uint8_t read_cmos(struct rtc *rtc, uint8_t reg)
{
    if (is_clock(reg))
        return read_clock(rtc, reg);
    if (is_memory_size(reg))
        return read_memory_size(rtc, reg);
    switch (reg) {
    case REG_A: return rtc->cmos[REG_A] & ~A_UIP;
    case REG_C: return 0; /* no interrupt flags ever set; reading clears them */
    case REG_D: return D_VRT;
    default: return rtc->cmos[reg];
    }
}

/* Register B: SET on holds the clock; SET off starts it from the held
 * time. */
static void write_b(struct rtc *rtc, uint8_t value)
{
    bool set = value & B_SET;
    if (set && !rtc->setting) {
        guest_time(rtc, &rtc->held);
        rtc->setting = true;
    } else if (!set && rtc->setting) {
        rtc->setting = false;
        run_from(rtc, &rtc->held);
    }
    rtc->cmos[REG_B] = value;
}

static void write_cmos(struct rtc *rtc, uint8_t reg, uint8_t value)
{
    if (is_clock(reg))
        write_clock(rtc, reg, value);
    else if (reg == REG_B)
        write_b(rtc, value);
    else if (reg == REG_A)
        rtc->cmos[REG_A] = value & ~A_UIP; /* UIP is read-only */
    else if (reg != REG_C && reg != REG_D && !is_memory_size(reg))
        rtc->cmos[reg] = value; /* C, D and the size bytes are read-only */
}

static int rtc_pio(vmm_device *dev, vmm_vcpu *vcpu, const struct vmm_io *io, void *user)
{
    (void)dev;
    (void)vcpu;
    struct rtc *rtc = user;
    uint8_t *data = io->data;
    /* An 8-bit device: wider accesses become byte accesses to consecutive
     * ports; those past 0x71 are not ours. */
    for (uint32_t i = 0; i < io->len; i++) {
        uint64_t port = io->offset + i;
        if (port == 0) {
            /* Bit 7 gates NMI on PCs; there is no NMI source here. The
             * index port is write-only: reads see 0xff. */
            if (io->is_write)
                rtc->index = data[i] & 0x7f;
            else
                data[i] = 0xff;
        } else if (port == 1) {
            if (io->is_write)
                write_cmos(rtc, rtc->index, data[i]);
            else
                data[i] = read_cmos(rtc, rtc->index);
        } else if (!io->is_write) {
            data[i] = 0xff;
        }
    }
    return 0;
}

static void rtc_reset(vmm_device *dev, void *user)
{
    (void)dev;
    /* CMOS is battery-backed: a machine reset keeps memory and the clock. */
    ((struct rtc *)user)->index = 0;
}

VMM_API int vmm_rtc_attach(vmm_vm *vm, vmm_device **out)
{
    static const char fn[] = "vmm_rtc_attach";
    if (!vm)
        return vmm_err(-EINVAL, "%s: vm is NULL", fn);
    struct rtc *rtc = calloc(1, sizeof(*rtc));
    if (!rtc)
        return vmm_err(-ENOMEM, "%s: out of memory", fn);
    rtc->vm = vm;
    rtc->cmos[REG_A] = A_DEFAULT;
    rtc->cmos[REG_B] = B_DEFAULT;
    struct vmm_device_ops ops = VMM_DEVICE_OPS_INIT;
    ops.name = "rtc";
    ops.pio = rtc_pio;
    ops.reset = rtc_reset;
    ops.destroy = free;
    static const struct vmm_port_range ports[] = { { RTC_INDEX_PORT, 2 } };
    vmm_device *dev = NULL;
    int r = vmm_devices_attach_pio(vm, &ops, rtc, ports, 1, &dev);
    if (r < 0)
        return r;
    if (out)
        *out = dev;
    return 0;
}
