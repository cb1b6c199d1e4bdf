/* Split virtqueue core (lib/devices/virtio/virtqueue.c) against a fake
 * guest: RAM is a heap buffer at GPA 0 (so ASan sees any access outside
 * it), and the test plays the driver by writing rings and descriptors into
 * it. Happy paths first, then one test per protocol violation, each
 * checking -EPROTO and the sentence that names it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>

#include <vmm/vmm.h>

#include "devices/virtio/virtqueue.h"

#define RAM_SIZE (1u << 20)
#define QSIZE 8u
#define DESC_GPA 0x1000u
#define AVAIL_GPA 0x2000u
#define USED_GPA 0x3000u
#define BUF_GPA 0x10000u
#define TABLE_GPA 0x20000u /* indirect tables */

/* ---- fake guest memory ------------------------------------------------ */

struct fake_mem {
    uint8_t *ram;
    uint64_t len;
    bool mapped; /* mmap'd (the 4 GiB fixture) rather than malloc'd */
    /* Run inside translate(): lets a test play a guest that rewrites
     * memory while the device is walking a chain. */
    void (*hook)(struct fake_mem *m, uint64_t gpa, uint64_t len);
};

static void *fake_translate(void *ctx, uint64_t gpa, uint64_t len)
{
    struct fake_mem *m = ctx;
    if (m->hook)
        m->hook(m, gpa, len);
    if (len > m->len || gpa > m->len - len)
        return NULL;
    return m->ram + gpa;
}

struct env {
    struct fake_mem m;
    struct virtio_mem mem;
    struct virtq vq;
    uint16_t avail_idx; /* the driver's shadow of avail->idx */
};

static int env_setup_sized(void **state, uint64_t ram_size, bool mapped)
{
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    e->m.len = ram_size;
    e->m.mapped = mapped;
    if (mapped) {
        void *p = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {
            free(e);
            return -1;
        }
        e->m.ram = p;
    } else {
        e->m.ram = calloc(1, ram_size);
        assert_non_null(e->m.ram);
    }
    e->mem = (struct virtio_mem){ .translate = fake_translate, .ctx = &e->m };
    assert_int_equal(virtq_init(&e->vq, "test-dev", 0, QSIZE), 0);
    e->vq.desc_gpa = DESC_GPA;
    e->vq.avail_gpa = AVAIL_GPA;
    e->vq.used_gpa = USED_GPA;
    *state = e;
    return 0;
}

static int env_setup(void **state)
{
    return env_setup_sized(state, RAM_SIZE, false);
}

/* Just over 4 GiB of (unbacked, never touched) RAM, for lengths near 2^32. */
static int env_setup_big(void **state)
{
    return env_setup_sized(state, 0x100200000ull, true);
}

static int env_teardown(void **state)
{
    struct env *e = *state;
    virtq_fini(&e->vq);
    if (e->m.mapped)
        munmap(e->m.ram, e->m.len);
    else
        free(e->m.ram);
    free(e);
    return 0;
}

/* ---- the driver's side ------------------------------------------------ */

static void put16(struct env *e, uint64_t gpa, uint16_t v) { memcpy(e->m.ram + gpa, &v, 2); }
static uint16_t get16(struct env *e, uint64_t gpa)
{
    uint16_t v;
    memcpy(&v, e->m.ram + gpa, 2);
    return v;
}
static uint32_t get32(struct env *e, uint64_t gpa)
{
    uint32_t v;
    memcpy(&v, e->m.ram + gpa, 4);
    return v;
}

static void set_desc_at(struct env *e, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
                        uint16_t flags, uint16_t next)
{
    struct virtq_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };
    memcpy(e->m.ram + table + 16u * i, &d, sizeof(d));
}

static void set_desc(struct env *e, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    set_desc_at(e, DESC_GPA, i, addr, len, flags, next);
}

/* Makes chain @head available (2.7.13: entry, then idx). */
static void avail_add(struct env *e, uint16_t head)
{
    put16(e, AVAIL_GPA + 4 + 2u * (e->avail_idx % QSIZE), head);
    e->avail_idx++;
    put16(e, AVAIL_GPA + 2, e->avail_idx);
}

#define USED_EVENT_GPA (AVAIL_GPA + 4 + 2 * QSIZE)
#define AVAIL_EVENT_GPA (USED_GPA + 4 + 8 * QSIZE)

static void enable(struct env *e, bool event_idx, bool indirect)
{
    assert_int_equal(virtq_enable(&e->vq, &e->mem, event_idx, indirect), 0);
    assert_int_equal(virtq_begin(&e->vq), 0);
}

static struct virtq_chain *pop_one(struct env *e)
{
    struct virtq_chain *c = NULL;
    assert_int_equal(virtq_pop(&e->vq, &c), 1);
    assert_non_null(c);
    return c;
}

static void assert_error_names(const char *what)
{
    const char *err = vmm_last_error();
    if (!strstr(err, "test-dev queue 0") || !strstr(err, what))
        fail_msg("error \"%s\" does not name \"%s\"", err, what);
}

static void expect_pop_violation(struct env *e, const char *what)
{
    struct virtq_chain *c = NULL;
    assert_int_equal(virtq_pop(&e->vq, &c), -EPROTO);
    assert_error_names(what);
}

static void expect_enable_violation(struct env *e, const char *what)
{
    assert_int_equal(virtq_enable(&e->vq, &e->mem, false, false), -EPROTO);
    assert_false(e->vq.enabled);
    assert_error_names(what);
}

/* ---- set-up and life cycle -------------------------------------------- */

static void test_init_rejects_bad_max_size(void **state)
{
    (void)state;
    struct virtq vq;
    assert_int_equal(virtq_init(&vq, "x", 1, 0), -EINVAL);
    assert_non_null(strstr(vmm_last_error(), "maximum size 0"));
    assert_int_equal(virtq_init(&vq, "x", 1, 6), -EINVAL);
    assert_int_equal(virtq_init(&vq, "x", 1, 65535), -EINVAL);
    assert_int_equal(virtq_init(&vq, "x", 1, 32768), 0);
    virtq_fini(&vq);
    virtq_fini(&vq); /* idempotent */
    struct virtq zero;
    memset(&zero, 0, sizeof(zero));
    virtq_fini(&zero); /* safe on a zeroed struct */
}

static void test_reset_state(void **state)
{
    struct env *e = *state;
    enable(e, true, true);
    avail_add(e, 0);
    set_desc(e, 0, BUF_GPA, 4, 0, 0);
    pop_one(e);
    virtq_reset(&e->vq);
    assert_false(e->vq.enabled);
    assert_int_equal(e->vq.size, QSIZE);
    assert_int_equal(e->vq.msix_vector, VIRTIO_MSI_NO_VECTOR);
    assert_int_equal(e->vq.desc_gpa, 0);
    assert_int_equal(e->vq.last_avail, 0);
    assert_int_equal(e->vq.used_idx, 0);
    assert_null(e->vq.avail);
    assert_non_null(e->vq.segs);
}

static void test_begin_requires_enable_and_ram(void **state)
{
    struct env *e = *state;
    assert_int_equal(virtq_begin(&e->vq), -EPROTO);
    assert_error_names("enabled");
    struct virtq_chain *c;
    assert_int_equal(virtq_pop(&e->vq, &c), -EPROTO);
    enable(e, false, false);
    e->m.len = USED_GPA; /* the memory map shrank: used ring gone */
    assert_int_equal(virtq_begin(&e->vq), -EPROTO);
    assert_error_names("no longer inside guest RAM");
}

/* ---- happy paths ------------------------------------------------------- */

static void test_pop_empty(void **state)
{
    struct env *e = *state;
    enable(e, false, false);
    struct virtq_chain *c = NULL;
    assert_int_equal(virtq_pop(&e->vq, &c), 0);
    assert_null(c);
}

static void test_single_readable(void **state)
{
    struct env *e = *state;
    enable(e, false, false);
    memcpy(e->m.ram + BUF_GPA, "hello", 5);
    set_desc(e, 3, BUF_GPA, 5, 0, 0);
    avail_add(e, 3);
    struct virtq_chain *c = pop_one(e);
    assert_int_equal(c->head, 3);
    assert_int_equal(c->n_out, 1);
    assert_int_equal(c->n_in, 0);
    assert_int_equal(c->out_bytes, 5);
    assert_ptr_equal(c->seg[0].base, e->m.ram + BUF_GPA);
    assert_int_equal(c->seg[0].len, 5);
    char buf[8] = { 0 };
    assert_int_equal(virtq_chain_read(c, 0, buf, sizeof(buf)), 5);
    assert_string_equal(buf, "hello");
    assert_int_equal(virtq_chain_write(c, 0, "x", 1), 0); /* nothing writable */
    assert_int_equal(virtq_pop(&e->vq, &c), 0);
}

static void test_chain_mixed_read_write(void **state)
{
    struct env *e = *state;
    enable(e, false, false);
    memcpy(e->m.ram + BUF_GPA, "abcdefgh", 8);
    memcpy(e->m.ram + BUF_GPA + 0x100, "ijkl", 4);
    set_desc(e, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 3);
    set_desc(e, 3, BUF_GPA + 0x100, 4, VIRTQ_DESC_F_NEXT, 5);
    set_desc(e, 5, BUF_GPA + 0x1000, 6, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc(e, 1, BUF_GPA + 0x2000, 10, VIRTQ_DESC_F_WRITE, 0);
    avail_add(e, 0);
    struct virtq_chain *c = pop_one(e);
    assert_int_equal(c->n_out, 2);
    assert_int_equal(c->n_in, 2);
    assert_int_equal(c->out_bytes, 12);
    assert_int_equal(c->in_bytes, 16);
    assert_ptr_equal(c->seg[1].base, e->m.ram + BUF_GPA + 0x100);
    assert_ptr_equal(c->seg[2].base, e->m.ram + BUF_GPA + 0x1000);
    assert_ptr_equal(c->seg[3].base, e->m.ram + BUF_GPA + 0x2000);

    char buf[16] = { 0 };
    assert_int_equal(virtq_chain_read(c, 6, buf, 4), 4); /* spans both readable */
    assert_memory_equal(buf, "ghij", 4);
    assert_int_equal(virtq_chain_read(c, 10, buf, 16), 2); /* bounded by the chain */
    assert_int_equal(virtq_chain_read(c, 12, buf, 16), 0);
    assert_int_equal(virtq_chain_write(c, 4, "0123456789", 10), 10);
    assert_memory_equal(e->m.ram + BUF_GPA + 0x1000 + 4, "01", 2);
    assert_memory_equal(e->m.ram + BUF_GPA + 0x2000, "23456789", 8);
    assert_int_equal(virtq_chain_write(c, 14, "abcd", 4), 2);

    virtq_push(&e->vq, c->head, 12);
    assert_int_equal(get16(e, USED_GPA + 2), 1);
    assert_int_equal(get32(e, USED_GPA + 4), 0);
    assert_int_equal(get32(e, USED_GPA + 8), 12);
}

static void test_indirect_table(void **state)
{
    struct env *e = *state;
    enable(e, false, true);
    /* Entries chained out of order: 0 -> 2 -> 1. */
    set_desc_at(e, TABLE_GPA, 0, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 2);
    set_desc_at(e, TABLE_GPA, 2, BUF_GPA + 0x100, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc_at(e, TABLE_GPA, 1, BUF_GPA + 0x200, 16, VIRTQ_DESC_F_WRITE, 0);
    set_desc(e, 4, TABLE_GPA, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    avail_add(e, 4);
    struct virtq_chain *c = pop_one(e);
    assert_int_equal(c->head, 4);
    assert_int_equal(c->n_out, 1);
    assert_int_equal(c->n_in, 2);
    assert_int_equal(c->out_bytes, 4);
    assert_int_equal(c->in_bytes, 24);
    assert_ptr_equal(c->seg[0].base, e->m.ram + BUF_GPA);
    assert_ptr_equal(c->seg[1].base, e->m.ram + BUF_GPA + 0x100);
    assert_ptr_equal(c->seg[2].base, e->m.ram + BUF_GPA + 0x200);
}

/* 2.7.5.3.2: direct descriptors, then one indirect; WRITE on the indirect
 * descriptor itself is ignored. A table of exactly size entries is fine. */
static void test_direct_then_indirect(void **state)
{
    struct env *e = *state;
    enable(e, false, true);
    set_desc(e, 0, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
    set_desc(e, 1, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
    set_desc_at(e, TABLE_GPA, 0, BUF_GPA + 0x100, 8, 0, 0);
    avail_add(e, 0);
    struct virtq_chain *c = pop_one(e);
    assert_int_equal(c->n_out, 2);
    assert_int_equal(c->n_in, 0);
    assert_int_equal(c->out_bytes, 12);

    for (uint16_t i = 0; i < QSIZE; i++)
        set_desc_at(e, TABLE_GPA, i, BUF_GPA + 0x10u * i, 1, VIRTQ_DESC_F_WRITE | (i + 1u < QSIZE ? VIRTQ_DESC_F_NEXT : 0), i + 1);
    set_desc(e, 2, TABLE_GPA, QSIZE * 16, VIRTQ_DESC_F_INDIRECT, 0);
    avail_add(e, 2);
    c = pop_one(e);
    assert_int_equal(c->n_in, QSIZE);
    assert_int_equal(c->in_bytes, QSIZE);
}

static void test_zero_length_skipped(void **state)
{
    struct env *e = *state;
    enable(e, false, false);
    /* A zero-length descriptor is never translated: its address may be
     * anything. */
    set_desc(e, 0, 0xdead00000000ull, 0, VIRTQ_DESC_F_NEXT, 1);
    set_desc(e, 1, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 2);
    set_desc(e, 2, BUF_GPA + 0x100, 0, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
    set_desc(e, 3, BUF_GPA + 0x200, 8, VIRTQ_DESC_F_WRITE, 0);
    avail_add(e, 0);
    struct virtq_chain *c = pop_one(e);
    assert_int_equal(c->n_out, 1);
    assert_int_equal(c->n_in, 1);
    assert_ptr_equal(c->seg[0].base, e->m.ram + BUF_GPA);
    assert_ptr_equal(c->seg[1].base, e->m.ram + BUF_GPA + 0x200);
}

static void test_len_just_under_4g(void **state)
{
    struct env *e = *state;
    enable(e, false, false);
    set_desc(e, 0, BUF_GPA, UINT32_MAX, VIRTQ_DESC_F_WRITE, 0);
    avail_add(e, 0);
    struct virtq_chain *c = pop_one(e);
    assert_int_equal(c->in_bytes, UINT32_MAX);
}

static void test_push_fills_used_ring_in_order(void **state)
{
    struct env *e = *state;
    enable(e, false, false);
    for (uint32_t i = 0; i < QSIZE + 3; i++) {
        virtq_push(&e->vq, (uint16_t)(i % QSIZE), 100 + i);
        uint32_t slot = i % QSIZE;
        assert_int_equal(get32(e, USED_GPA + 4 + 8 * slot), i % QSIZE);
        assert_int_equal(get32(e, USED_GPA + 8 + 8 * slot), 100 + i);
        assert_int_equal(get16(e, USED_GPA + 2), i + 1);
    }
}

/* ---- notification suppression (2.7.7, 2.7.10) ------------------------- */

static void test_no_interrupt_flag(void **state)
{
    struct env *e = *state;
    enable(e, false, false);
    put16(e, AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
    virtq_push(&e->vq, 0, 0);
    assert_false(virtq_should_notify(&e->vq));
    put16(e, AVAIL_GPA, 0);
    assert_true(virtq_should_notify(&e->vq)); /* still owed for that push */
    assert_false(virtq_should_notify(&e->vq)); /* nothing new since */
    virtq_push(&e->vq, 0, 0);
    assert_true(virtq_should_notify(&e->vq));
}

static void test_event_idx_notify(void **state)
{
    struct env *e = *state;
    enable(e, true, false);
    put16(e, AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT); /* ignored with EVENT_IDX */
    put16(e, USED_EVENT_GPA, 100);
    virtq_push(&e->vq, 0, 0);                   /* used idx 1 */
    assert_true(virtq_should_notify(&e->vq));   /* first one: always */
    put16(e, USED_EVENT_GPA, 0);
    virtq_push(&e->vq, 0, 0);                   /* 2: event 0 already passed */
    assert_false(virtq_should_notify(&e->vq));
    put16(e, USED_EVENT_GPA, 2);
    virtq_push(&e->vq, 0, 0);                   /* 3: crosses event 2 */
    assert_true(virtq_should_notify(&e->vq));
    put16(e, USED_EVENT_GPA, 10);
    virtq_push(&e->vq, 0, 0);                   /* 4 */
    assert_false(virtq_should_notify(&e->vq));
    for (int i = 0; i < 6; i++)
        virtq_push(&e->vq, 0, 0);               /* 10 */
    assert_false(virtq_should_notify(&e->vq));  /* event 10 means after 11 */
    virtq_push(&e->vq, 0, 0);                   /* 11 */
    assert_true(virtq_should_notify(&e->vq));
}

/* Both indices wrap at 65536: run that many chains through the queue. */
static void test_event_idx_wraparound(void **state)
{
    struct env *e = *state;
    enable(e, true, false);
    set_desc(e, 0, BUF_GPA, 4, 0, 0);
    for (uint32_t i = 0; i < 65533; i++) {
        avail_add(e, 0);
        struct virtq_chain *c = pop_one(e);
        virtq_push(&e->vq, c->head, 0);
    }
    assert_int_equal(e->vq.used_idx, 65533);
    virtq_should_notify(&e->vq); /* signalled at 65533 */
    put16(e, USED_EVENT_GPA, 65535);
    for (int i = 0; i < 2; i++) {
        avail_add(e, 0);
        virtq_push(&e->vq, pop_one(e)->head, 0);
    }
    /* used idx 65535: event 65535 not yet passed */
    avail_add(e, 0);
    virtq_push(&e->vq, pop_one(e)->head, 0);
    assert_int_equal(get16(e, USED_GPA + 2), 0); /* wrapped */
    assert_int_equal(e->vq.last_avail, 0);
    assert_true(virtq_should_notify(&e->vq)); /* 65533 -> 0 crossed 65535 */
    put16(e, USED_EVENT_GPA, 1);
    avail_add(e, 0);
    virtq_push(&e->vq, pop_one(e)->head, 0); /* 1 */
    assert_false(virtq_should_notify(&e->vq));
    avail_add(e, 0);
    virtq_push(&e->vq, pop_one(e)->head, 0); /* 2 */
    assert_true(virtq_should_notify(&e->vq));
}

static void test_enable_notify_event_idx_race(void **state)
{
    struct env *e = *state;
    enable(e, true, false);
    set_desc(e, 0, BUF_GPA, 4, 0, 0);
    avail_add(e, 0);
    avail_add(e, 0);
    pop_one(e);
    pop_one(e);
    struct virtq_chain *c;
    assert_int_equal(virtq_pop(&e->vq, &c), 0);
    assert_false(virtq_enable_notify(&e->vq));
    assert_int_equal(get16(e, AVAIL_EVENT_GPA), 2);
    /* The driver adds a buffer after our last pop but before it could see
     * avail_event: it will not kick, so the re-check must catch it. */
    avail_add(e, 0);
    assert_true(virtq_enable_notify(&e->vq));
    pop_one(e);
    assert_false(virtq_enable_notify(&e->vq));
    assert_int_equal(get16(e, AVAIL_EVENT_GPA), 3);
}

static void test_enable_notify_clears_no_notify(void **state)
{
    struct env *e = *state;
    enable(e, false, false);
    put16(e, USED_GPA, VIRTQ_USED_F_NO_NOTIFY);
    assert_false(virtq_enable_notify(&e->vq));
    assert_int_equal(get16(e, USED_GPA), 0);
    avail_add(e, 0);
    assert_true(virtq_enable_notify(&e->vq));
}

/* ---- a guest racing the device ---------------------------------------- */

/* When the device translates the buffer, the "guest" rewrites the
 * descriptor to point outside RAM with NEXT set. The device must use what
 * it read and checked, not the new values. */
static void rewrite_desc_hook(struct fake_mem *m, uint64_t gpa, uint64_t len)
{
    (void)len;
    if (gpa != BUF_GPA)
        return;
    struct virtq_desc evil = { .addr = 0xdead00000000ull, .len = UINT32_MAX,
                               .flags = VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, .next = 7 };
    memcpy(m->ram + DESC_GPA, &evil, sizeof(evil));
}

static void test_descriptor_rewritten_during_walk(void **state)
{
    struct env *e = *state;
    enable(e, false, false);
    set_desc(e, 0, BUF_GPA, 16, 0, 0);
    set_desc(e, 7, 0xbad000000000ull, 16, 0, 0);
    avail_add(e, 0);
    e->m.hook = rewrite_desc_hook;
    struct virtq_chain *c = pop_one(e);
    e->m.hook = NULL;
    assert_int_equal(c->n_out, 1);
    assert_int_equal(c->n_in, 0);
    assert_ptr_equal(c->seg[0].base, e->m.ram + BUF_GPA);
    assert_int_equal(c->seg[0].len, 16);
}

/* ---- violations while popping ----------------------------------------- */

static void test_violation_descriptor_loop(void **state)
{
    struct env *e = *state;
    enable(e, false, false);
    set_desc(e, 0, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
    set_desc(e, 1, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 2);
    set_desc(e, 2, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 0);
    avail_add(e, 0);
    expect_pop_violation(e, "longer than 8 descriptors (a loop?)");
}

static void test_violation_self_loop_zero_length(void **state)
{
    struct env *e = *state;
    enable(e, false, false);
    set_desc(e, 5, 0, 0, VIRTQ_DESC_F_NEXT, 5);
    avail_add(e, 5);
    expect_pop_violation(e, "chain from head 5 is longer than 8 descriptors");
}

/* Direct descriptors plus an indirect table may together exceed the queue
 * size (Linux does this for requests with more segments than the ring);
 * a loop inside the table is still caught, at the table's length. */
static void test_chain_longer_than_size_through_indirect(void **state)
{
    struct env *e = *state;
    enable(e, false, true);
    set_desc(e, 0, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
    set_desc(e, 1, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 2);
    set_desc(e, 2, TABLE_GPA, 19 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    for (uint16_t i = 0; i < 19; i++)
        set_desc_at(e, TABLE_GPA, i, BUF_GPA, 4, i < 18 ? VIRTQ_DESC_F_NEXT : 0, i + 1);
    avail_add(e, 0);
    struct virtq_chain *c;
    assert_int_equal(virtq_pop(&e->vq, &c), 1);
    assert_int_equal(c->n_out, 21);
    assert_int_equal(c->out_bytes, 84);
}

static void test_violation_indirect_table_loop(void **state)
{
    struct env *e = *state;
    enable(e, false, true);
    set_desc(e, 0, TABLE_GPA, 4 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    set_desc_at(e, TABLE_GPA, 0, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
    set_desc_at(e, TABLE_GPA, 1, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 0);
    avail_add(e, 0);
    expect_pop_violation(e, "longer than 4 indirect descriptors (a loop?)");
}

static void test_violation_indirect_loop(void **state)
{
    struct env *e = *state;
    enable(e, false, true);
    set_desc(e, 0, TABLE_GPA, 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    set_desc_at(e, TABLE_GPA, 0, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
    set_desc_at(e, TABLE_GPA, 1, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 0);
    avail_add(e, 0);
    expect_pop_violation(e, "(a loop?)");
}

static void test_violation_head_out_of_range(void **state)
{
    struct env *e = *state;
    enable(e, false, false);
    avail_add(e, QSIZE);
    expect_pop_violation(e, "head descriptor index 8 is outside the queue (size 8)");
    /* The slot stays consumed. */
    assert_int_equal(e->vq.last_avail, 1);
}

static void test_violation_next_out_of_range(void **state)
{
    struct env *e = *state;
    enable(e, false, false);
    set_desc(e, 0, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, QSIZE);
    avail_add(e, 0);
    expect_pop_violation(e, "next index 8 is outside the queue");
}

static void test_violation_addr_outside_ram(void **state)
{
    struct env *e = *state;
    enable(e, false, false);
    set_desc(e, 0, RAM_SIZE, 16, 0, 0);
    avail_add(e, 0);
    expect_pop_violation(e, "buffer 0x100000 + 16 is outside guest RAM");
}

static void test_violation_buffer_end_outside_ram(void **state)
{
    struct env *e = *state;
    enable(e, false, false);
    set_desc(e, 0, RAM_SIZE - 8, 9, VIRTQ_DESC_F_WRITE, 0);
    avail_add(e, 0);
    expect_pop_violation(e, "is outside guest RAM");
}

static void test_violation_addr_len_wraps(void **state)
{
    struct env *e = *state;
    enable(e, false, false);
    set_desc(e, 0, UINT64_MAX - 0xf, 0x20, 0, 0);
    avail_add(e, 0);
    expect_pop_violation(e, "wraps past 2^64");
}

static void test_violation_readable_total_over_4g(void **state)
{
    struct env *e = *state;
    enable(e, false, false);
    set_desc(e, 0, BUF_GPA, UINT32_MAX, VIRTQ_DESC_F_NEXT, 1);
    set_desc(e, 1, BUF_GPA, 1, 0, 0);
    avail_add(e, 0);
    expect_pop_violation(e, "readable bytes over UINT32_MAX (4294967296)");
}

static void test_violation_writable_total_over_4g(void **state)
{
    struct env *e = *state;
    enable(e, false, false);
    set_desc(e, 0, BUF_GPA, 0x80000000u, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc(e, 1, BUF_GPA, 0x80000000u, VIRTQ_DESC_F_WRITE, 0);
    avail_add(e, 0);
    expect_pop_violation(e, "writable bytes over UINT32_MAX");
}

static void test_violation_readable_after_writable(void **state)
{
    struct env *e = *state;
    enable(e, false, false);
    set_desc(e, 0, BUF_GPA, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc(e, 1, BUF_GPA + 0x100, 4, 0, 0);
    avail_add(e, 0);
    expect_pop_violation(e, "descriptor 1 is readable after a writable one");
}

static void test_violation_indirect_without_feature(void **state)
{
    struct env *e = *state;
    enable(e, false, false);
    set_desc(e, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
    set_desc_at(e, TABLE_GPA, 0, BUF_GPA, 4, 0, 0);
    avail_add(e, 0);
    expect_pop_violation(e, "INDIRECT without VIRTIO_F_INDIRECT_DESC");
}

static void test_violation_indirect_with_next(void **state)
{
    struct env *e = *state;
    enable(e, false, true);
    set_desc(e, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
    set_desc(e, 1, BUF_GPA, 4, 0, 0);
    set_desc_at(e, TABLE_GPA, 0, BUF_GPA, 4, 0, 0);
    avail_add(e, 0);
    expect_pop_violation(e, "both INDIRECT and NEXT");
}

static void test_violation_nested_indirect(void **state)
{
    struct env *e = *state;
    enable(e, false, true);
    set_desc(e, 0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
    set_desc_at(e, TABLE_GPA, 0, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
    set_desc_at(e, TABLE_GPA, 1, TABLE_GPA + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
    set_desc_at(e, TABLE_GPA + 0x100, 0, BUF_GPA, 4, 0, 0);
    avail_add(e, 0);
    expect_pop_violation(e, "indirect table inside an indirect table");
}

static void test_violation_indirect_len_zero(void **state)
{
    struct env *e = *state;
    enable(e, false, true);
    set_desc(e, 0, TABLE_GPA, 0, VIRTQ_DESC_F_INDIRECT, 0);
    avail_add(e, 0);
    expect_pop_violation(e, "empty indirect table (len 0)");
}

static void test_violation_indirect_len_not_multiple(void **state)
{
    struct env *e = *state;
    enable(e, false, true);
    set_desc(e, 0, TABLE_GPA, 20, VIRTQ_DESC_F_INDIRECT, 0);
    set_desc_at(e, TABLE_GPA, 0, BUF_GPA, 4, 0, 0);
    avail_add(e, 0);
    expect_pop_violation(e, "indirect table length 20 is not a multiple of 16");
}

static void test_violation_indirect_too_long(void **state)
{
    struct env *e = *state;
    enable(e, false, true);
    set_desc(e, 0, TABLE_GPA, 1025 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    set_desc_at(e, TABLE_GPA, 0, BUF_GPA, 4, 0, 0);
    avail_add(e, 0);
    expect_pop_violation(e, "indirect table of 1025 entries is longer than 1024");
}

static void test_violation_indirect_table_outside_ram(void **state)
{
    struct env *e = *state;
    enable(e, false, true);
    set_desc(e, 0, RAM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
    avail_add(e, 0);
    expect_pop_violation(e, "indirect table 0xffff0 + 32 is outside guest RAM");
    set_desc(e, 1, UINT64_MAX - 15, 32, VIRTQ_DESC_F_INDIRECT, 0);
    avail_add(e, 1);
    expect_pop_violation(e, "indirect table 0xfffffffffffffff0 + 32 is outside guest RAM");
}

static void test_violation_indirect_next_out_of_table(void **state)
{
    struct env *e = *state;
    enable(e, false, true);
    set_desc(e, 0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
    set_desc_at(e, TABLE_GPA, 0, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 2);
    avail_add(e, 0);
    expect_pop_violation(e, "indirect descriptor 0: next index 2 is outside the indirect table (2 entries)");
}

static void test_violation_avail_idx_too_far_ahead(void **state)
{
    struct env *e = *state;
    enable(e, false, false);
    put16(e, AVAIL_GPA + 2, QSIZE + 1);
    expect_pop_violation(e, "avail idx 9 is 9 entries ahead of the 0 consumed (queue size 8)");
}

static void test_violation_avail_idx_goes_backwards(void **state)
{
    struct env *e = *state;
    enable(e, false, false);
    set_desc(e, 0, BUF_GPA, 4, 0, 0);
    avail_add(e, 0);
    pop_one(e);
    put16(e, AVAIL_GPA + 2, 0);
    expect_pop_violation(e, "avail idx 0 is 65535 entries ahead");
}

/* ---- violations at enable (2.7.2, 4.x queue set-up) ------------------- */

static void test_enable_size_zero(void **state)
{
    struct env *e = *state;
    e->vq.size = 0;
    expect_enable_violation(e, "queue size 0 is not a power of two in 1 .. 8");
}

static void test_enable_size_65535(void **state)
{
    struct env *e = *state;
    e->vq.size = 65535;
    expect_enable_violation(e, "queue size 65535");
}

static void test_enable_size_not_power_of_two(void **state)
{
    struct env *e = *state;
    e->vq.size = 6;
    expect_enable_violation(e, "queue size 6");
}

static void test_enable_size_above_max(void **state)
{
    struct env *e = *state;
    e->vq.size = 2 * QSIZE;
    expect_enable_violation(e, "queue size 16");
}

static void test_enable_smaller_size(void **state)
{
    struct env *e = *state;
    e->vq.size = 2;
    enable(e, false, false);
    set_desc(e, 1, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 2);
    put16(e, AVAIL_GPA + 4, 1);
    put16(e, AVAIL_GPA + 2, 1);
    expect_pop_violation(e, "next index 2 is outside the queue (2 entries)");
}

static void test_enable_desc_misaligned(void **state)
{
    struct env *e = *state;
    e->vq.desc_gpa = DESC_GPA + 8;
    expect_enable_violation(e, "descriptor table address 0x1008 is not 16-byte aligned");
}

static void test_enable_avail_misaligned(void **state)
{
    struct env *e = *state;
    e->vq.avail_gpa = AVAIL_GPA + 1;
    expect_enable_violation(e, "available ring address 0x2001 is not 2-byte aligned");
}

static void test_enable_used_misaligned(void **state)
{
    struct env *e = *state;
    e->vq.used_gpa = USED_GPA + 2;
    expect_enable_violation(e, "used ring address 0x3002 is not 4-byte aligned");
}

static void test_enable_desc_outside_ram(void **state)
{
    struct env *e = *state;
    e->vq.desc_gpa = RAM_SIZE - 0x40; /* 128-byte table sticks out */
    expect_enable_violation(e, "descriptor table 0xfffc0 + 128 is outside guest RAM");
    e->vq.desc_gpa = UINT64_MAX - 15; /* would wrap */
    expect_enable_violation(e, "descriptor table 0xfffffffffffffff0 + 128 is outside guest RAM");
}

static void test_enable_avail_outside_ram(void **state)
{
    struct env *e = *state;
    /* Ring fits, used_event does not: it counts. */
    e->vq.avail_gpa = RAM_SIZE - 4 - 2 * QSIZE;
    expect_enable_violation(e, "available ring 0xfffec + 22 is outside guest RAM");
}

static void test_enable_used_outside_ram(void **state)
{
    struct env *e = *state;
    e->vq.used_gpa = 0x40000000;
    expect_enable_violation(e, "used ring 0x40000000 + 70 is outside guest RAM");
}

static void test_enable_used_overlaps_desc(void **state)
{
    struct env *e = *state;
    e->vq.used_gpa = DESC_GPA + 0x40;
    expect_enable_violation(e, "used ring 0x1040 + 70 overlaps the descriptor table 0x1000 + 128");
}

static void test_enable_used_overlaps_avail(void **state)
{
    struct env *e = *state;
    e->vq.used_gpa = AVAIL_GPA;
    expect_enable_violation(e, "overlaps the available ring 0x2000 + 22");
    /* Only avail_event (the last 2 bytes) on the avail ring's flags. */
    e->vq.used_gpa = AVAIL_GPA - 68;
    expect_enable_violation(e, "overlaps the available ring");
    /* Adjacent is fine. */
    e->vq.used_gpa = AVAIL_GPA - 72;
    assert_int_equal(virtq_enable(&e->vq, &e->mem, false, false), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)
#define T_BIG(f) cmocka_unit_test_setup_teardown(f, env_setup_big, env_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_rejects_bad_max_size),
        T(test_reset_state),
        T(test_begin_requires_enable_and_ram),
        T(test_pop_empty),
        T(test_single_readable),
        T(test_chain_mixed_read_write),
        T(test_indirect_table),
        T(test_direct_then_indirect),
        T(test_zero_length_skipped),
        T_BIG(test_len_just_under_4g),
        T(test_push_fills_used_ring_in_order),
        T(test_no_interrupt_flag),
        T(test_event_idx_notify),
        T(test_event_idx_wraparound),
        T(test_enable_notify_event_idx_race),
        T(test_enable_notify_clears_no_notify),
        T(test_descriptor_rewritten_during_walk),
        T(test_violation_descriptor_loop),
        T(test_violation_self_loop_zero_length),
        T(test_chain_longer_than_size_through_indirect),
        T(test_violation_indirect_table_loop),
        T(test_violation_indirect_loop),
        T(test_violation_head_out_of_range),
        T(test_violation_next_out_of_range),
        T(test_violation_addr_outside_ram),
        T(test_violation_buffer_end_outside_ram),
        T(test_violation_addr_len_wraps),
        T_BIG(test_violation_readable_total_over_4g),
        T_BIG(test_violation_writable_total_over_4g),
        T(test_violation_readable_after_writable),
        T(test_violation_indirect_without_feature),
        T(test_violation_indirect_with_next),
        T(test_violation_nested_indirect),
        T(test_violation_indirect_len_zero),
        T(test_violation_indirect_len_not_multiple),
        T(test_violation_indirect_too_long),
        T(test_violation_indirect_table_outside_ram),
        T(test_violation_indirect_next_out_of_table),
        T(test_violation_avail_idx_too_far_ahead),
        T(test_violation_avail_idx_goes_backwards),
        T(test_enable_size_zero),
        T(test_enable_size_65535),
        T(test_enable_size_not_power_of_two),
        T(test_enable_size_above_max),
        T(test_enable_smaller_size),
        T(test_enable_desc_misaligned),
        T(test_enable_avail_misaligned),
        T(test_enable_used_misaligned),
        T(test_enable_desc_outside_ram),
        T(test_enable_avail_outside_ram),
        T(test_enable_used_outside_ram),
        T(test_enable_used_overlaps_desc),
        T(test_enable_used_overlaps_avail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
