/* virtio-blk backend (lib/devices/virtio/blk.c) over a temporary image on
 * a fake VM: attach checks, reads and writes compared with the file,
 * flush, get-id, discard, write-zeroes, read-only refusals, and each
 * malformed request (virtio 1.2 section 5.2.6). */
#include <vmm/vmm.h>
#include <vmm/devices/virtio.h>

#include "vdev_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <cmocka.h>

#define IMG_SECTORS 2048u /* 1 MiB */
#define IMG_BYTES (IMG_SECTORS * 512u)
#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define T_DISCARD 11
#define T_WRITE_ZEROES 13
#define S_OK 0
#define S_IOERR 1
#define S_UNSUPP 2
#define F_WRITE_ZEROES 14

struct blk_t {
    struct vh h;
    char path[64];
    int fd; /* the test's own view of the image */
};

static struct vmm_virtio_blk_config blk_cfg(const char *path)
{
    struct vmm_virtio_blk_config c = VMM_VIRTIO_BLK_CONFIG_INIT;
    c.path = path;
    c.transport.transport = VMM_VIRTIO_TRANSPORT_MMIO;
    c.transport.flags = VMM_VIRTIO_F_INLINE;
    c.transport.mmio_base = VH_MMIO_BASE;
    c.transport.irq = VMM_VIRTIO_NO_IRQ;
    c.transport.queue_size = VH_QUEUE_SIZE;
    return c;
}

/* A 1 MiB image whose byte i is (i * 7) & 0xff. */
static struct blk_t *image_new(void)
{
    struct blk_t *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    snprintf(t->path, sizeof(t->path), "/tmp/vmm-blk-XXXXXX");
    t->fd = mkstemp(t->path);
    assert_true(t->fd >= 0);
    uint8_t *buf = malloc(IMG_BYTES);
    for (uint32_t i = 0; i < IMG_BYTES; i++)
        buf[i] = (uint8_t)(i * 7);
    assert_int_equal(pwrite(t->fd, buf, IMG_BYTES, 0), IMG_BYTES);
    free(buf);
    vh_init(&t->h);
    return t;
}

static int setup_rw(void **state)
{
    struct blk_t *t = image_new();
    struct vmm_virtio_blk_config c = blk_cfg(t->path);
    c.serial = "disk-7";
    assert_int_equal(vmm_virtio_blk_attach(t->h.vm, &c, &t->h.dev), 0);
    uint64_t f = (1ull << 9) | (1ull << 13) | (1ull << F_WRITE_ZEROES); /* FLUSH, DISCARD, WZ */
    uint8_t st = vh_start(&t->h, f, 1);
    assert_true(st & VIRTIO_STATUS_DRIVER_OK);
    *state = t;
    return 0;
}

static int setup_ro(void **state)
{
    struct blk_t *t = image_new();
    struct vmm_virtio_blk_config c = blk_cfg(t->path);
    c.flags = VMM_VIRTIO_BLK_F_READONLY;
    assert_int_equal(vmm_virtio_blk_attach(t->h.vm, &c, &t->h.dev), 0);
    assert_true(vh_start(&t->h, 1ull << 5 /* RO */, 1) & VIRTIO_STATUS_DRIVER_OK);
    *state = t;
    return 0;
}

static int setup_bare(void **state)
{
    *state = image_new();
    return 0;
}

static int teardown(void **state)
{
    struct blk_t *t = *state;
    vh_fini(&t->h);
    close(t->fd);
    unlink(t->path);
    free(t);
    return 0;
}

struct req {
    uint32_t type;
    uint64_t sector;
    uint64_t data;    /* gpa, 0 for none */
    uint32_t len;
    bool data_write;  /* data is device-writable */
    /* results */
    uint8_t status;
    uint32_t used_len;
    bool answered;
};

static uint64_t put_hdr(struct vh *h, uint32_t type, uint64_t sector)
{
    uint64_t gpa = vh_alloc(h, 16);
    uint8_t *p = vh_ptr(h, gpa);
    memcpy(p, &type, 4);
    memset(p + 4, 0, 4);
    memcpy(p + 8, &sector, 8);
    return gpa;
}

/* Posts header, data and status descriptors, kicks, collects the answer. */
static void do_req(struct vh *h, struct req *r)
{
    uint64_t hdr = put_hdr(h, r->type, r->sector);
    uint64_t st = vh_alloc(h, 1);
    *(uint8_t *)vh_ptr(h, st) = 0xee;
    struct vh_buf b[3];
    unsigned n = 0;
    b[n++] = (struct vh_buf){ hdr, 16, false };
    if (r->data)
        b[n++] = (struct vh_buf){ r->data, r->len, r->data_write };
    b[n++] = (struct vh_buf){ st, 1, true };
    uint16_t head = vh_post(h, 0, b, n);
    vh_kick(h, 0);
    uint32_t id;
    r->answered = vh_used(h, 0, &id, &r->used_len);
    if (r->answered)
        assert_int_equal(id, head);
    r->status = *(uint8_t *)vh_ptr(h, st);
}

static void file_read(struct blk_t *t, uint64_t off, void *buf, size_t len)
{
    assert_int_equal(pread(t->fd, buf, len, (off_t)off), (ssize_t)len);
}

static void test_config(void **state)
{
    struct blk_t *t = *state;
    uint64_t cap;
    uint32_t v;
    vh_config(&t->h, 0, &cap, 8);
    assert_int_equal(cap, IMG_SECTORS);
    vh_config(&t->h, 12, &v, 4); /* seg_max */
    assert_int_equal(v, VH_QUEUE_SIZE - 2);
    vh_config(&t->h, 20, &v, 4); /* blk_size */
    assert_int_equal(v, 512);
    vh_config(&t->h, 40, &v, 4); /* max_discard_seg */
    assert_int_equal(v, 1);
    vh_config(&t->h, 44, &v, 4); /* discard_sector_alignment */
    assert_true(v == 1 || v == 8);
    uint64_t f = vh_device_features(&t->h);
    assert_false(f & (1ull << 5)); /* not RO */
    assert_true(f & (1ull << 2));  /* SEG_MAX */
    assert_true(f & (1ull << 6));  /* BLK_SIZE */
}

static void test_write_read(void **state)
{
    struct blk_t *t = *state;
    struct vh *h = &t->h;
    uint64_t w = vh_alloc(h, 1024);
    for (int i = 0; i < 1024; i++)
        ((uint8_t *)vh_ptr(h, w))[i] = (uint8_t)(0xa0 ^ i);
    struct req r = { .type = T_OUT, .sector = 5, .data = w, .len = 1024 };
    do_req(h, &r);
    assert_true(r.answered);
    assert_int_equal(r.status, S_OK);
    assert_int_equal(r.used_len, 1);
    uint8_t file[1024];
    file_read(t, 5 * 512, file, sizeof(file));
    assert_memory_equal(file, vh_ptr(h, w), 1024);

    uint64_t rd = vh_alloc(h, 1024);
    struct req q = { .type = T_IN, .sector = 5, .data = rd, .len = 1024, .data_write = true };
    do_req(h, &q);
    assert_int_equal(q.status, S_OK);
    assert_int_equal(q.used_len, 1025);
    assert_memory_equal(vh_ptr(h, rd), file, 1024);

    /* Untouched neighbours keep the pattern. */
    uint8_t s4[512];
    file_read(t, 4 * 512, s4, 512);
    for (int i = 0; i < 512; i++)
        assert_int_equal(s4[i], (uint8_t)((4 * 512 + i) * 7));
}

/* Data split over odd-sized descriptors, the status byte in the same
 * descriptor as the last data (5.2.6 allows any framing). */
static void test_split_segments(void **state)
{
    struct blk_t *t = *state;
    struct vh *h = &t->h;
    uint64_t hdr = put_hdr(h, T_IN, 100);
    uint64_t a = vh_alloc(h, 100), b = vh_alloc(h, 412), c = vh_alloc(h, 513);
    struct vh_buf bufs[] = { { hdr, 16, false }, { a, 100, true }, { b, 412, true },
                             { c, 513, true } };
    vh_post(h, 0, bufs, 4);
    vh_kick(h, 0);
    uint32_t len;
    assert_true(vh_used(h, 0, NULL, &len));
    assert_int_equal(len, 1025);
    assert_int_equal(((uint8_t *)vh_ptr(h, c))[512], S_OK);
    uint8_t file[1024];
    file_read(t, 100 * 512, file, sizeof(file));
    assert_memory_equal(vh_ptr(h, a), file, 100);
    assert_memory_equal(vh_ptr(h, b), file + 100, 412);
    assert_memory_equal(vh_ptr(h, c), file + 512, 512);

    /* A write whose header and data share one readable descriptor. */
    uint64_t hw = vh_alloc(h, 16 + 512);
    uint8_t *p = vh_ptr(h, hw);
    uint32_t type = T_OUT;
    uint64_t sector = 7;
    memcpy(p, &type, 4);
    memcpy(p + 8, &sector, 8);
    memset(p + 16, 0x5a, 512);
    uint64_t st = vh_alloc(h, 1);
    struct vh_buf wb[] = { { hw, 16 + 512, false }, { st, 1, true } };
    vh_post(h, 0, wb, 2);
    vh_kick(h, 0);
    assert_true(vh_used(h, 0, NULL, &len));
    assert_int_equal(*(uint8_t *)vh_ptr(h, st), S_OK);
    file_read(t, 7 * 512, file, 512);
    for (int i = 0; i < 512; i++)
        assert_int_equal(file[i], 0x5a);
}

static void test_flush(void **state)
{
    struct blk_t *t = *state;
    struct req r = { .type = T_FLUSH };
    do_req(&t->h, &r);
    assert_int_equal(r.status, S_OK);
    assert_int_equal(r.used_len, 1);
}

static void test_get_id(void **state)
{
    struct blk_t *t = *state;
    struct vh *h = &t->h;
    uint64_t id = vh_alloc(h, 20);
    memset(vh_ptr(h, id), 0xff, 20);
    struct req r = { .type = T_GET_ID, .data = id, .len = 20, .data_write = true };
    do_req(h, &r);
    assert_int_equal(r.status, S_OK);
    assert_int_equal(r.used_len, 21);
    uint8_t want[20] = "disk-7";
    assert_memory_equal(vh_ptr(h, id), want, 20);

    /* A shorter buffer gets what fits. */
    uint64_t small = vh_alloc(h, 4);
    struct req s = { .type = T_GET_ID, .data = small, .len = 4, .data_write = true };
    do_req(h, &s);
    assert_int_equal(s.status, S_OK);
    assert_int_equal(s.used_len, 5);
    assert_memory_equal(vh_ptr(h, small), "disk", 4);
}

static void post_dwz(struct vh *h, uint32_t type, uint64_t sector, uint32_t count,
                     uint32_t flags, unsigned nseg, struct req *r)
{
    uint64_t seg = vh_alloc(h, 16 * nseg);
    for (unsigned i = 0; i < nseg; i++) {
        uint8_t *p = (uint8_t *)vh_ptr(h, seg) + 16 * i;
        memcpy(p, &sector, 8);
        memcpy(p + 8, &count, 4);
        memcpy(p + 12, &flags, 4);
    }
    *r = (struct req){ .type = type, .data = seg, .len = 16 * nseg };
    do_req(h, r);
}

static void test_discard(void **state)
{
    struct blk_t *t = *state;
    struct req r;
    post_dwz(&t->h, T_DISCARD, 8, 16, 0, 1, &r);
    assert_true(r.answered);
    assert_int_equal(r.status, S_OK);
    off_t size = lseek(t->fd, 0, SEEK_END);
    assert_int_equal(size, IMG_BYTES); /* KEEP_SIZE */
    /* 5.2.6.2: unmap on a discard, unknown flags, too many segments. */
    post_dwz(&t->h, T_DISCARD, 8, 16, 1, 1, &r);
    assert_int_equal(r.status, S_UNSUPP);
    post_dwz(&t->h, T_DISCARD, 8, 16, 4, 1, &r);
    assert_int_equal(r.status, S_UNSUPP);
    post_dwz(&t->h, T_DISCARD, 8, 16, 0, 2, &r);
    assert_int_equal(r.status, S_UNSUPP);
    /* Out of range, and overflowing. */
    post_dwz(&t->h, T_DISCARD, IMG_SECTORS - 8, 16, 0, 1, &r);
    assert_int_equal(r.status, S_IOERR);
    post_dwz(&t->h, T_DISCARD, UINT64_MAX - 2, 16, 0, 1, &r);
    assert_int_equal(r.status, S_IOERR);
    /* A segment cut short. */
    uint64_t seg = vh_alloc(&t->h, 8);
    struct req s = { .type = T_DISCARD, .data = seg, .len = 8 };
    do_req(&t->h, &s);
    assert_int_equal(s.status, S_IOERR);
}

static void test_write_zeroes(void **state)
{
    struct blk_t *t = *state;
    struct req r;
    uint8_t buf[4096], zero[4096] = { 0 };
    post_dwz(&t->h, T_WRITE_ZEROES, 3, 8, 0, 1, &r);
    assert_int_equal(r.status, S_OK);
    file_read(t, 3 * 512, buf, 4096);
    assert_memory_equal(buf, zero, 4096);
    /* Neighbour sectors keep their data. */
    file_read(t, 2 * 512, buf, 512);
    assert_int_equal(buf[1], (uint8_t)((2 * 512 + 1) * 7));
    file_read(t, 11 * 512, buf, 512);
    assert_int_equal(buf[1], (uint8_t)((11 * 512 + 1) * 7));
    /* With unmap: zeros as well. */
    post_dwz(&t->h, T_WRITE_ZEROES, 64, 8, 1, 1, &r);
    assert_int_equal(r.status, S_OK);
    file_read(t, 64 * 512, buf, 4096);
    assert_memory_equal(buf, zero, 4096);
    post_dwz(&t->h, T_WRITE_ZEROES, 64, 8, 2, 1, &r);
    assert_int_equal(r.status, S_UNSUPP);
    post_dwz(&t->h, T_WRITE_ZEROES, IMG_SECTORS, 1, 0, 1, &r);
    assert_int_equal(r.status, S_IOERR);
}

static void test_readonly(void **state)
{
    struct blk_t *t = *state;
    struct vh *h = &t->h;
    uint64_t f = vh_device_features(h);
    assert_true(f & (1ull << 5));
    assert_false(f & (1ull << 13));
    uint64_t w = vh_alloc(h, 512);
    memset(vh_ptr(h, w), 0x11, 512);
    struct req r = { .type = T_OUT, .sector = 0, .data = w, .len = 512 };
    do_req(h, &r);
    assert_int_equal(r.status, S_IOERR);
    uint8_t buf[512];
    file_read(t, 0, buf, 512);
    assert_int_equal(buf[1], 7); /* unchanged */
    post_dwz(h, T_DISCARD, 0, 8, 0, 1, &r);
    assert_int_equal(r.status, S_IOERR);
    post_dwz(h, T_WRITE_ZEROES, 0, 8, 0, 1, &r);
    assert_int_equal(r.status, S_IOERR);
    file_read(t, 0, buf, 512);
    assert_int_equal(buf[1], 7);
    /* Reads and flushes still work. */
    uint64_t rd = vh_alloc(h, 512);
    struct req q = { .type = T_IN, .sector = 0, .data = rd, .len = 512, .data_write = true };
    do_req(h, &q);
    assert_int_equal(q.status, S_OK);
    assert_memory_equal(vh_ptr(h, rd), buf, 512);
    struct req fl = { .type = T_FLUSH };
    do_req(h, &fl);
    assert_int_equal(fl.status, S_OK);
    assert_false(vh_broken(h));
}

static void test_out_of_range(void **state)
{
    struct blk_t *t = *state;
    struct vh *h = &t->h;
    uint64_t b = vh_alloc(h, 1024);
    const uint64_t bad[] = { IMG_SECTORS, IMG_SECTORS - 1, UINT64_MAX, UINT64_MAX - 1,
                             1ull << 55 };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct req r = { .type = T_IN, .sector = bad[i], .data = b, .len = 1024,
                         .data_write = true };
        do_req(h, &r);
        assert_true(r.answered);
        assert_int_equal(r.status, S_IOERR);
        assert_int_equal(r.used_len, 1);
        struct req w = { .type = T_OUT, .sector = bad[i], .data = b, .len = 1024 };
        do_req(h, &w);
        assert_int_equal(w.status, S_IOERR);
    }
    /* The last two sectors exactly: fine. */
    struct req ok = { .type = T_IN, .sector = IMG_SECTORS - 2, .data = b, .len = 1024,
                      .data_write = true };
    do_req(h, &ok);
    assert_int_equal(ok.status, S_OK);
    assert_false(vh_broken(h));
}

static void test_bad_length(void **state)
{
    struct blk_t *t = *state;
    struct vh *h = &t->h;
    uint64_t b = vh_alloc(h, 700);
    struct req r = { .type = T_IN, .sector = 0, .data = b, .len = 700, .data_write = true };
    do_req(h, &r);
    assert_int_equal(r.status, S_IOERR);
    struct req w = { .type = T_OUT, .sector = 0, .data = b, .len = 100 };
    do_req(h, &w);
    assert_int_equal(w.status, S_IOERR);
    assert_false(vh_broken(h));
}

static void test_wrong_side(void **state)
{
    struct blk_t *t = *state;
    struct vh *h = &t->h;
    uint64_t b = vh_alloc(h, 512);
    memset(vh_ptr(h, b), 0x33, 512);
    /* IN with a readable data buffer, OUT with a writable one. */
    struct req r = { .type = T_IN, .sector = 0, .data = b, .len = 512, .data_write = false };
    do_req(h, &r);
    assert_int_equal(r.status, S_IOERR);
    struct req w = { .type = T_OUT, .sector = 0, .data = b, .len = 512, .data_write = true };
    do_req(h, &w);
    assert_int_equal(w.status, S_IOERR);
    assert_int_equal(w.used_len, 1);
    uint8_t buf[512];
    file_read(t, 0, buf, 512);
    assert_int_equal(buf[1], 7);
    assert_int_equal(((uint8_t *)vh_ptr(h, b))[0], 0x33); /* nothing read into it */
}

static void test_unknown_type(void **state)
{
    struct blk_t *t = *state;
    struct req r = { .type = 99 };
    do_req(&t->h, &r);
    assert_int_equal(r.status, S_UNSUPP);
    assert_false(vh_broken(&t->h));
}

static void test_short_header(void **state)
{
    struct blk_t *t = *state;
    struct vh *h = &t->h;
    uint64_t hdr = vh_alloc(h, 8), st = vh_alloc(h, 1);
    struct vh_buf b[] = { { hdr, 8, false }, { st, 1, true } };
    vh_post(h, 0, b, 2);
    vh_kick(h, 0);
    uint32_t len;
    assert_true(vh_used(h, 0, NULL, &len));
    assert_int_equal(len, 1);
    assert_int_equal(*(uint8_t *)vh_ptr(h, st), S_IOERR);
    assert_false(vh_broken(h));
}

static void test_no_status(void **state)
{
    struct blk_t *t = *state;
    struct vh *h = &t->h;
    uint64_t hdr = put_hdr(h, T_OUT, 0);
    uint64_t data = vh_alloc(h, 512);
    memset(vh_ptr(h, data), 0x44, 512);
    struct vh_buf b[] = { { hdr, 16, false }, { data, 512, false } };
    vh_post(h, 0, b, 2);
    vh_kick(h, 0);
    assert_false(vh_used(h, 0, NULL, NULL));
    assert_true(vh_broken(h));
    uint8_t buf[512];
    file_read(t, 0, buf, 512);
    assert_int_equal(buf[1], 7); /* not performed */
    struct vmm_virtio_info info = { .struct_size = sizeof(info) };
    assert_int_equal(vmm_virtio_get_info(h->dev, &info), 0);
    assert_int_equal(info.needs_reset, 1);
    assert_true(info.violations >= 1);
}

static void test_request_count(void **state)
{
    struct blk_t *t = *state;
    for (int i = 0; i < 3; i++) {
        struct req r = { .type = T_FLUSH };
        do_req(&t->h, &r);
    }
    struct vmm_virtio_info info = { .struct_size = sizeof(info) };
    assert_int_equal(vmm_virtio_get_info(t->h.dev, &info), 0);
    assert_int_equal(info.device_id, 2);
    assert_int_equal(info.requests, 3);
}

static void test_attach_errors(void **state)
{
    struct blk_t *t = *state;
    vmm_vm *vm = t->h.vm;
    struct vmm_virtio_blk_config c = blk_cfg(t->path);
    vmm_device *dev = NULL;
    c.flags = 0x80;
    assert_int_equal(vmm_virtio_blk_attach(vm, &c, &dev), -EINVAL);
    c = blk_cfg(t->path);
    c.reserved0 = 1;
    assert_int_equal(vmm_virtio_blk_attach(vm, &c, &dev), -EINVAL);
    c = blk_cfg(t->path);
    c.fd = t->fd;
    assert_int_equal(vmm_virtio_blk_attach(vm, &c, &dev), -EINVAL); /* both */
    c = blk_cfg(NULL);
    assert_int_equal(vmm_virtio_blk_attach(vm, &c, &dev), -EINVAL); /* neither */
    c = blk_cfg(t->path);
    c.serial = "123456789012345678901"; /* 21 bytes */
    assert_int_equal(vmm_virtio_blk_attach(vm, &c, &dev), -EINVAL);
    c = blk_cfg("/nonexistent/vmm-disk");
    assert_int_equal(vmm_virtio_blk_attach(vm, &c, &dev), -ENOENT);
    assert_non_null(strstr(vmm_last_error(), "/nonexistent/vmm-disk"));
    c = blk_cfg("/dev/null");
    assert_int_equal(vmm_virtio_blk_attach(vm, &c, &dev), -EINVAL);
    c = blk_cfg(NULL);
    c.fd = 9999;
    assert_int_equal(vmm_virtio_blk_attach(vm, &c, &dev), -EINVAL);
    int ro = open(t->path, O_RDONLY | O_CLOEXEC);
    c.fd = ro;
    assert_int_equal(vmm_virtio_blk_attach(vm, &c, &dev), -EINVAL); /* RO fd, RW disk */
    c.transport.transport = 7;
    c.flags = VMM_VIRTIO_BLK_F_READONLY;
    assert_int_equal(vmm_virtio_blk_attach(vm, &c, &dev), -EINVAL); /* bad transport */
    c.transport.transport = VMM_VIRTIO_TRANSPORT_MMIO;
    assert_int_equal(vmm_virtio_blk_attach(vm, &c, &dev), 0);       /* RO fd, RO disk */
    close(ro); /* duplicated: the device keeps its own */
    c.serial = "12345678901234567890"; /* exactly 20 */
    c.transport.mmio_base = VH_MMIO_BASE + 0x1000;
    c.fd = t->fd;
    c.flags = 0;
    assert_int_equal(vmm_virtio_blk_attach(vm, &c, &dev), 0);
    struct vmm_virtio_blk_config big;
    memset(&big, 0, sizeof(big));
    big.struct_size = 4;
    assert_int_equal(vmm_virtio_blk_attach(vm, &big, &dev), -EINVAL);
    assert_int_equal(vmm_virtio_blk_attach(vm, NULL, &dev), -EINVAL);
    assert_int_equal(vmm_virtio_blk_attach(NULL, &c, &dev), -EINVAL);
}

/* The default serial and capacity rounding (an image of 1000 bytes has
 * one sector). */
static void test_default_serial_rounding(void **state)
{
    struct blk_t *t = *state;
    assert_int_equal(ftruncate(t->fd, 1000), 0);
    struct vmm_virtio_blk_config c = blk_cfg(NULL);
    c.fd = t->fd;
    assert_int_equal(vmm_virtio_blk_attach(t->h.vm, &c, &t->h.dev), 0);
    assert_true(vh_start(&t->h, 0, 1) & VIRTIO_STATUS_DRIVER_OK);
    uint64_t cap;
    vh_config(&t->h, 0, &cap, 8);
    assert_int_equal(cap, 1);
    uint64_t id = vh_alloc(&t->h, 20);
    struct req r = { .type = T_GET_ID, .data = id, .len = 20, .data_write = true };
    do_req(&t->h, &r);
    uint8_t want[20] = "libvmm";
    assert_memory_equal(vh_ptr(&t->h, id), want, 20);
    uint64_t b = vh_alloc(&t->h, 1024);
    struct req q = { .type = T_IN, .sector = 0, .data = b, .len = 1024, .data_write = true };
    do_req(&t->h, &q);
    assert_int_equal(q.status, S_IOERR); /* the second sector does not exist */
}

/* A block device backing (BLKGETSIZE64), when VMM_TEST_BLKDEV names one
 * the test may overwrite (e.g. a loop device over a scratch file);
 * skipped otherwise. */
static void test_block_device(void **state)
{
    struct blk_t *t = *state;
    const char *dev = getenv("VMM_TEST_BLKDEV");
    if (!dev || !dev[0])
        skip();
    int fd = open(dev, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    uint64_t bytes = 0;
    assert_int_equal(ioctl(fd, BLKGETSIZE64, &bytes), 0);
    assert_true(bytes >= 4096);
    struct vmm_virtio_blk_config c = blk_cfg(dev);
    assert_int_equal(vmm_virtio_blk_attach(t->h.vm, &c, &t->h.dev), 0);
    assert_true(vh_start(&t->h, 0, 1) & VIRTIO_STATUS_DRIVER_OK);
    uint64_t cap;
    vh_config(&t->h, 0, &cap, 8);
    assert_int_equal(cap, bytes / 512);
    uint64_t w = vh_alloc(&t->h, 512);
    memset(vh_ptr(&t->h, w), 0x77, 512);
    struct req r = { .type = T_OUT, .sector = cap - 1, .data = w, .len = 512 };
    do_req(&t->h, &r);
    assert_int_equal(r.status, S_OK);
    struct req f = { .type = T_FLUSH };
    do_req(&t->h, &f);
    assert_int_equal(f.status, S_OK);
    uint8_t buf[512];
    assert_int_equal(pread(fd, buf, 512, (off_t)((cap - 1) * 512)), 512);
    assert_memory_equal(buf, vh_ptr(&t->h, w), 512);
    struct req d;
    post_dwz(&t->h, T_WRITE_ZEROES, cap - 1, 1, 0, 1, &d);
    assert_int_equal(d.status, S_OK);
    assert_int_equal(pread(fd, buf, 512, (off_t)((cap - 1) * 512)), 512);
    uint8_t zero[512] = { 0 };
    assert_memory_equal(buf, zero, 512);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_write_read, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_split_segments, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_flush, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_get_id, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_discard, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_write_zeroes, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_readonly, setup_ro, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_range, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_bad_length, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_side, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_type, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_short_header, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_no_status, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_request_count, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_attach_errors, setup_bare, teardown),
        cmocka_unit_test_setup_teardown(test_default_serial_rounding, setup_bare, teardown),
        cmocka_unit_test_setup_teardown(test_block_device, setup_bare, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
