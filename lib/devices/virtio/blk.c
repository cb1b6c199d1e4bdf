/* vmm_virtio_blk_attach(): a virtio-blk disk (virtio 1.2 section 5.2) over
 * a raw image file or a block device, with one request queue.
 *
 * Every request is checked before it touches the backing: the 16-byte
 * header must be readable, a writable status byte must end the chain, the
 * data must sit on the side its type implies, and sectors must lie inside
 * the capacity. A request the device can still answer gets an error
 * status; one with no status byte breaks the protocol (the device is
 * marked DEVICE_NEEDS_RESET). Data moves with preadv/pwritev straight
 * between the backing and the guest's buffers. */
#include <vmm/vmm.h>
#include <vmm/devices/virtio.h>

#include "core/config.h"
#include "core/error.h"
#include "devices/virtio/virtio_dev.h"
#include "devices/virtio/virtio_spec.h"
#include "devices/virtio/virtqueue.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* Not (yet) in virtio_spec.h: 5.2.3 feature bit and 5.2.6 discard flag. */
#define BLK_F_WRITE_ZEROES 14
#define BLK_DWZ_F_UNMAP 1u

/* 5.2.6: struct virtio_blk_req's leading header. */
struct blk_req_hdr {
    uint32_t type;     /* le32 VIRTIO_BLK_T_* */
    uint32_t reserved; /* le32 */
    uint64_t sector;   /* le64 */
};

/* 5.2.6: one segment of a DISCARD or WRITE_ZEROES request. */
struct blk_dwz_seg {
    uint64_t sector;      /* le64 */
    uint32_t num_sectors; /* le32 */
    uint32_t flags;       /* le32: bit 0 unmap, the rest reserved */
};

/* 5.2.4: struct virtio_blk_config, up to write_zeroes_may_unmap and its
 * padding (the secure-erase fields are not offered). */
#define BLK_CFG_CAPACITY 0
#define BLK_CFG_SIZE_MAX 8
#define BLK_CFG_SEG_MAX 12
#define BLK_CFG_BLK_SIZE 20
#define BLK_CFG_MAX_DISCARD_SECTORS 36
#define BLK_CFG_MAX_DISCARD_SEG 40
#define BLK_CFG_DISCARD_ALIGNMENT 44
#define BLK_CFG_MAX_WZ_SECTORS 48
#define BLK_CFG_MAX_WZ_SEG 52
#define BLK_CFG_WZ_MAY_UNMAP 56
#define BLK_CFG_SIZE 60

#define BLK_HDR_BYTES 16u
#define BLK_SECTOR_SHIFT 9
/* Per-request limits: a discard is cheap (a hole punch), write-zeroes may
 * fall back to writing zeros on the I/O thread, so it is kept smaller. */
#define BLK_MAX_DISCARD_SECTORS (1u << 22) /* 2 GiB */
#define BLK_MAX_WZ_SECTORS (1u << 16)      /* 32 MiB */
/* Hint for hole punching: 4 KiB, the usual file-system block. */
#define BLK_DISCARD_ALIGNMENT 8
#define BLK_QUEUE_MAX VMM_VIRTIO_QUEUE_SIZE_DEFAULT

struct blk {
    int fd;
    bool readonly;
    uint64_t capacity;                 /* 512-byte sectors */
    char serial[VIRTIO_BLK_ID_BYTES];  /* NUL-padded, not terminated at 20 */
    struct iovec *iov;                 /* iov_cap entries, for one request */
    size_t iov_cap;
    /* Statistics (d->lock). */
    uint64_t reads, writes, flushes, discards, write_zeroes, errors;
};

static void put_le32(uint8_t *cfg, uint32_t off, uint32_t v)
{
    uint32_t le = htole32(v);
    memcpy(cfg + off, &le, sizeof(le));
}

/* 5.2.4: the config space is built whole and the requested window copied,
 * so any offset/length the core allows reads consistent bytes. */
static void blk_config_read(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
    struct blk *b = d->backend;
    uint8_t cfg[BLK_CFG_SIZE] = { 0 };
    uint64_t cap = htole64(b->capacity);
    memcpy(cfg + BLK_CFG_CAPACITY, &cap, sizeof(cap));
    /* 5.2.4: seg_max excludes the header and status descriptors. */
    uint16_t qmax = d->num_queues > 0 ? d->vqs[0].max_size : BLK_QUEUE_MAX;
    put_le32(cfg, BLK_CFG_SEG_MAX, qmax > 2 ? qmax - 2u : 1u);
    put_le32(cfg, BLK_CFG_BLK_SIZE, VIRTIO_BLK_SECTOR_SIZE);
    put_le32(cfg, BLK_CFG_MAX_DISCARD_SECTORS, BLK_MAX_DISCARD_SECTORS);
    put_le32(cfg, BLK_CFG_MAX_DISCARD_SEG, 1);
    put_le32(cfg, BLK_CFG_DISCARD_ALIGNMENT, BLK_DISCARD_ALIGNMENT);
    put_le32(cfg, BLK_CFG_MAX_WZ_SECTORS, BLK_MAX_WZ_SECTORS);
    put_le32(cfg, BLK_CFG_MAX_WZ_SEG, 1);
    cfg[BLK_CFG_WZ_MAY_UNMAP] = 1; /* unmap is tried with a hole punch */
    if (off > BLK_CFG_SIZE || len > BLK_CFG_SIZE - off) {
        memset(data, 0, len);
        return;
    }
    memcpy(data, cfg + off, len);
}

/* Fills b->iov with the [skip, skip + len) byte window of segments
 * seg[0 .. n). Returns the entries used, or 0 if b->iov is too small (not
 * sized yet). The window lies inside the segments (the caller derived len
 * from their totals). */
static size_t blk_iov_window(struct blk *b, const struct virtq_seg *seg, uint16_t n,
                             size_t skip, size_t len)
{
    size_t cnt = 0;
    for (uint16_t i = 0; i < n && len > 0; i++) {
        if (cnt == b->iov_cap)
            return 0;
        size_t sl = seg[i].len;
        if (skip >= sl) {
            skip -= sl;
            continue;
        }
        size_t take = sl - skip;
        if (take > len)
            take = len;
        b->iov[cnt].iov_base = seg[i].base + skip;
        b->iov[cnt].iov_len = take;
        cnt++;
        len -= take;
        skip = 0;
    }
    return cnt;
}

/* preadv/pwritev of the whole iovec at byte @pos, retrying on EINTR and
 * short transfers, IOV_MAX entries at a time. Returns 0 or a positive
 * errno (EIO for an unexpected end of file). */
static int blk_rw(struct blk *b, size_t cnt, uint64_t pos, bool write)
{
    struct iovec *iov = b->iov;
    while (cnt > 0) {
        int n_iov = cnt > IOV_MAX ? IOV_MAX : (int)cnt;
        ssize_t n = write ? pwritev(b->fd, iov, n_iov, (off_t)pos)
                          : preadv(b->fd, iov, n_iov, (off_t)pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        if (n == 0)
            return EIO; /* the backing shrank under us */
        pos += (uint64_t)n;
        size_t done = (size_t)n;
        while (cnt > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return 0;
}

/* Whether [sector, sector + count) lies inside the disk, without overflow. */
static bool blk_in_range(const struct blk *b, uint64_t sector, uint64_t count)
{
    return sector <= b->capacity && count <= b->capacity - sector;
}

/* 5.2.6.2 IN / OUT. @data_out / @data_in: the readable bytes after the
 * header and the writable bytes before the status byte. */
static uint8_t blk_do_rw(struct blk *b, const struct virtq_chain *c, uint64_t sector,
                         uint32_t data_out, uint32_t data_in, bool write, uint32_t *written)
{
    uint32_t len = write ? data_out : data_in;
    if ((write ? data_in : data_out) != 0)
        return VIRTIO_BLK_S_IOERR; /* data on the wrong side for the type */
    if (len % VIRTIO_BLK_SECTOR_SIZE != 0)
        return VIRTIO_BLK_S_IOERR;
    if (!blk_in_range(b, sector, len >> BLK_SECTOR_SHIFT))
        return VIRTIO_BLK_S_IOERR;
    if (write && b->readonly)
        return VIRTIO_BLK_S_IOERR; /* 5.2.6.2: MUST NOT write with RO */
    if (len == 0)
        return VIRTIO_BLK_S_OK;
    size_t cnt = write ? blk_iov_window(b, c->seg, c->n_out, BLK_HDR_BYTES, len)
                       : blk_iov_window(b, c->seg + c->n_out, c->n_in, 0, len);
    if (cnt == 0 || blk_rw(b, cnt, sector << BLK_SECTOR_SHIFT, write) != 0)
        return VIRTIO_BLK_S_IOERR;
    if (!write)
        *written = len;
    return VIRTIO_BLK_S_OK;
}

/* Writes zeros over [pos, pos + len) with plain writes (the fallback when
 * the backing cannot zero a range itself). */
static int blk_write_zeros(struct blk *b, uint64_t pos, uint64_t len)
{
    static const uint8_t zeros[64 * 1024];
    while (len > 0) {
        size_t chunk = len > sizeof(zeros) ? sizeof(zeros) : (size_t)len;
        ssize_t n = pwrite(b->fd, zeros, chunk, (off_t)pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        pos += (uint64_t)n;
        len -= (uint64_t)n;
    }
    return 0;
}

static int blk_fallocate(struct blk *b, int mode, uint64_t pos, uint64_t len)
{
    int r;
    do
        r = fallocate(b->fd, mode, (off_t)pos, (off_t)len);
    while (r < 0 && errno == EINTR);
    return r < 0 ? errno : 0;
}

/* 5.2.6.2 DISCARD / WRITE_ZEROES: one segment per request (max_discard_seg
 * and max_write_zeroes_seg are 1). */
static uint8_t blk_do_dwz(struct blk *b, const struct virtq_chain *c, uint32_t data_out,
                          uint32_t data_in, bool zeroes)
{
    if (data_in != 0 || data_out == 0 || data_out % sizeof(struct blk_dwz_seg) != 0)
        return VIRTIO_BLK_S_IOERR;
    if (data_out != sizeof(struct blk_dwz_seg))
        return VIRTIO_BLK_S_UNSUPP; /* more segments than we offered */
    struct blk_dwz_seg seg;
    if (virtq_chain_read(c, BLK_HDR_BYTES, &seg, sizeof(seg)) != sizeof(seg))
        return VIRTIO_BLK_S_IOERR;
    uint64_t sector = le64toh(seg.sector);
    uint32_t count = le32toh(seg.num_sectors);
    uint32_t flags = le32toh(seg.flags);
    /* 5.2.6.2: unknown flags, and unmap on a discard, are UNSUPP. */
    if ((flags & ~BLK_DWZ_F_UNMAP) != 0 || (!zeroes && flags != 0))
        return VIRTIO_BLK_S_UNSUPP;
    if (count > (zeroes ? BLK_MAX_WZ_SECTORS : BLK_MAX_DISCARD_SECTORS))
        return VIRTIO_BLK_S_IOERR;
    if (!blk_in_range(b, sector, count))
        return VIRTIO_BLK_S_IOERR;
    if (b->readonly)
        return VIRTIO_BLK_S_IOERR;
    uint64_t pos = sector << BLK_SECTOR_SHIFT, len = (uint64_t)count << BLK_SECTOR_SHIFT;
    if (len == 0)
        return VIRTIO_BLK_S_OK;
    if (!zeroes) {
        /* 5.2.6.2: the device MAY deallocate; a backing that cannot punch
         * holes simply keeps the data (discard is advisory). */
        (void)blk_fallocate(b, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, pos, len);
        return VIRTIO_BLK_S_OK;
    }
    /* Afterwards the range MUST read as zeros, unmap or not. */
    if ((flags & BLK_DWZ_F_UNMAP) &&
        blk_fallocate(b, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, pos, len) == 0)
        return VIRTIO_BLK_S_OK;
    if (blk_fallocate(b, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, pos, len) == 0)
        return VIRTIO_BLK_S_OK;
    return blk_write_zeros(b, pos, len) == 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
}

/* Carries out the request in @c (header readable, status byte present)
 * and returns its status; *data gets the data bytes written to the guest. */
static uint8_t blk_serve(struct blk *b, const struct virtq_chain *c, uint32_t *data)
{
    /* 5.2.6: the header must be wholly readable. */
    if (c->out_bytes < BLK_HDR_BYTES)
        return VIRTIO_BLK_S_IOERR;
    uint32_t data_out = c->out_bytes - BLK_HDR_BYTES;
    uint32_t data_in = c->in_bytes - 1;
    struct blk_req_hdr hdr;
    virtq_chain_read(c, 0, &hdr, sizeof(hdr)); /* read once: the guest may rewrite it */
    uint64_t sector = le64toh(hdr.sector);
    switch (le32toh(hdr.type)) {
    case VIRTIO_BLK_T_IN:
        b->reads++;
        return blk_do_rw(b, c, sector, data_out, data_in, false, data);
    case VIRTIO_BLK_T_OUT:
        b->writes++;
        return blk_do_rw(b, c, sector, data_out, data_in, true, data);
    case VIRTIO_BLK_T_FLUSH: {
        b->flushes++;
        int r;
        do
            r = fdatasync(b->fd);
        while (r < 0 && errno == EINTR);
        return r == 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
    }
    case VIRTIO_BLK_T_GET_ID:
        /* 5.2.6: up to 20 bytes, NUL-padded, no terminator at 20. */
        if (data_out != 0)
            return VIRTIO_BLK_S_IOERR;
        *data = data_in < VIRTIO_BLK_ID_BYTES ? data_in : VIRTIO_BLK_ID_BYTES;
        virtq_chain_write(c, 0, b->serial, *data);
        return VIRTIO_BLK_S_OK;
    case VIRTIO_BLK_T_DISCARD:
        b->discards++;
        return blk_do_dwz(b, c, data_out, data_in, false);
    case VIRTIO_BLK_T_WRITE_ZEROES:
        b->write_zeroes++;
        return blk_do_dwz(b, c, data_out, data_in, true);
    default:
        return VIRTIO_BLK_S_UNSUPP;
    }
}

/* Serves one chain. Returns 0 with *written set (bytes given to the guest,
 * status included), or -EPROTO after virtio_dev_fail() when the chain has
 * no status byte to answer in. */
static int blk_request(struct virtio_dev *d, struct blk *b, const struct virtq_chain *c,
                       uint32_t *written)
{
    /* 5.2.6: the status byte is the last device-writable byte. */
    if (c->in_bytes == 0) {
        virtio_dev_fail(d, "%s: request (head %u) has no writable status byte",
                        d->name, (unsigned)c->head);
        return -EPROTO;
    }
    uint32_t data = 0;
    uint8_t status = blk_serve(b, c, &data);
    if (status != VIRTIO_BLK_S_OK)
        b->errors++;
    virtq_chain_write(c, c->in_bytes - 1, &status, 1);
    *written = data + 1;
    return 0;
}

static void blk_queue_notify(struct virtio_dev *d, uint16_t q)
{
    struct blk *b = d->backend;
    if (q != 0)
        return; /* one queue: the core only notifies queues that exist */
    do {
        struct virtq_chain *c;
        int r;
        while ((r = virtio_dev_pop(d, 0, &c)) == 1) {
            uint32_t written;
            if (blk_request(d, b, c, &written) < 0)
                return;
            virtq_push(&d->vqs[0], c->head, written);
        }
        if (r < 0)
            return; /* the core marked the device broken */
    } while (virtio_dev_done(d, 0));
}

/* Sizes the iovec for the largest chain the queue can hold. */
static int blk_activate(struct virtio_dev *d)
{
    struct blk *b = d->backend;
    size_t need = d->vqs[0].max_size;
    if (b->iov_cap >= need)
        return 0;
    struct iovec *iov = realloc(b->iov, need * sizeof(*iov));
    if (!iov)
        return vmm_err(-ENOMEM, "%s: out of memory for a %zu-entry iovec", d->name, need);
    b->iov = iov;
    b->iov_cap = need;
    return 0;
}

static void blk_free(struct blk *b)
{
    if (b->fd >= 0)
        close(b->fd);
    free(b->iov);
    free(b);
}

static void blk_destroy(struct virtio_dev *d)
{
    blk_free(d->backend);
}

static const struct virtio_backend_ops blk_ops = {
    .device_id = VIRTIO_ID_BLOCK,
    .num_queues = 1,
    .queue_max = BLK_QUEUE_MAX,
    .config_size = BLK_CFG_SIZE,
    .features = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
                (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_DISCARD) |
                (1ull << BLK_F_WRITE_ZEROES),
    .config_read = blk_config_read,
    .queue_notify = blk_queue_notify,
    .activate = blk_activate,
    .destroy = blk_destroy,
};

/* The read-only variant: RO, and no discard or write-zeroes to offer. */
static const struct virtio_backend_ops blk_ro_ops = {
    .device_id = VIRTIO_ID_BLOCK,
    .num_queues = 1,
    .queue_max = BLK_QUEUE_MAX,
    .config_size = BLK_CFG_SIZE,
    .features = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
                (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_RO),
    .config_read = blk_config_read,
    .queue_notify = blk_queue_notify,
    .activate = blk_activate,
    .destroy = blk_destroy,
};

/* Opens (or duplicates) the backing and measures it. */
static int blk_open(struct blk *b, const struct vmm_virtio_blk_config *c, const char *fn)
{
    if (c->path) {
        b->fd = open(c->path, (b->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        if (b->fd < 0) {
            int e = errno;
            return vmm_err(-e, "%s: cannot open %s (%s): %s", fn, c->path,
                           b->readonly ? "read-only" : "read-write", strerror(e));
        }
    } else {
        b->fd = fcntl(c->fd, F_DUPFD_CLOEXEC, 0);
        if (b->fd < 0) {
            int e = errno;
            return vmm_err(e == EBADF ? -EINVAL : -e, "%s: cannot duplicate fd %d: %s", fn,
                           (int)c->fd, strerror(e));
        }
        int fl = fcntl(b->fd, F_GETFL);
        if (fl < 0) {
            int e = errno;
            return vmm_err(-e, "%s: fcntl(F_GETFL) on fd %d: %s", fn, (int)c->fd, strerror(e));
        }
        if (!b->readonly && (fl & O_ACCMODE) != O_RDWR)
            return vmm_err(-EINVAL, "%s: fd %d is not open read-write; open it O_RDWR or "
                           "set VMM_VIRTIO_BLK_F_READONLY", fn, (int)c->fd);
        if (b->readonly && (fl & O_ACCMODE) == O_WRONLY)
            return vmm_err(-EINVAL, "%s: fd %d is open write-only", fn, (int)c->fd);
    }
    const char *what = c->path ? c->path : "the fd";
    struct stat st;
    if (fstat(b->fd, &st) < 0) {
        int e = errno;
        return vmm_err(-e, "%s: fstat of %s: %s", fn, what, strerror(e));
    }
    uint64_t bytes;
    if (S_ISREG(st.st_mode)) {
        bytes = (uint64_t)st.st_size;
    } else if (S_ISBLK(st.st_mode)) {
        if (ioctl(b->fd, BLKGETSIZE64, &bytes) < 0) {
            int e = errno;
            return vmm_err(-e, "%s: BLKGETSIZE64 on %s: %s", fn, what, strerror(e));
        }
    } else {
        return vmm_err(-EINVAL, "%s: %s is neither a regular file nor a block device", fn,
                       what);
    }
    b->capacity = bytes >> BLK_SECTOR_SHIFT; /* 5.2.4: in 512-byte sectors, rounded down */
    return 0;
}

int vmm_virtio_blk_attach(vmm_vm *vm, const struct vmm_virtio_blk_config *cfg,
                          vmm_device **out)
{
    static const char fn[] = "vmm_virtio_blk_attach";
    VMM_CHECK_ARG(vm, fn, "vm is NULL");
    VMM_CHECK_ARG(cfg, fn, "cfg is NULL");
    struct vmm_virtio_blk_config c;
    int r = vmm_config_copy(cfg, &c, sizeof(c), "config", "VMM_VIRTIO_BLK_CONFIG_INIT", fn);
    if (r < 0)
        return r;
    if (c.flags & ~VMM_VIRTIO_BLK_F_READONLY)
        return vmm_err(-EINVAL, "%s: unknown flags 0x%x", fn, c.flags & ~VMM_VIRTIO_BLK_F_READONLY);
    if (c.reserved0 != 0)
        return vmm_err(-EINVAL, "%s: reserved0 is %u, must be 0", fn, c.reserved0);
    if (c.path && c.fd != -1)
        return vmm_err(-EINVAL, "%s: both path and fd %d are set; give one", fn, (int)c.fd);
    if (!c.path && c.fd < 0)
        return vmm_err(-EINVAL, "%s: no backing: set path or fd (fd is %d)", fn, (int)c.fd);
    const char *serial = c.serial ? c.serial : "libvmm";
    size_t serial_len = strnlen(serial, VIRTIO_BLK_ID_BYTES + 1);
    if (serial_len > VIRTIO_BLK_ID_BYTES)
        return vmm_err(-EINVAL, "%s: serial is longer than %d bytes", fn, VIRTIO_BLK_ID_BYTES);

    struct blk *b = calloc(1, sizeof(*b));
    if (!b)
        return vmm_err(-ENOMEM, "%s: out of memory", fn);
    b->fd = -1;
    b->readonly = (c.flags & VMM_VIRTIO_BLK_F_READONLY) != 0;
    memcpy(b->serial, serial, serial_len); /* the rest stays NUL (calloc) */
    r = blk_open(b, &c, fn);
    if (r < 0) {
        blk_free(b);
        return r;
    }
    return virtio_attach_common(vm, "virtio-blk", b->readonly ? &blk_ro_ops : &blk_ops, b,
                                &c.transport, fn, out);
}
