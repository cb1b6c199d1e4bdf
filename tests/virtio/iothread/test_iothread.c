/* The VM's I/O thread (lib/io/iothread.c), the io_users / change handshake
 * (vmm_vm_io_enter() against vmm_vm_begin_change()), and the KVM-free part
 * of lib/kvm/kvm_irq.c: the GSI routing table's bookkeeping and
 * vmm_irq_signal_msi() through a test VM's irq_hook. No /dev/kvm needed:
 * the VM is built by hand (fd -1, no vCPUs). Waits are bounded (2 s);
 * pauses are at most 50 ms. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "io/iothread.h"
#include "kvm/kvm_irq.h"
#include "vm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ---- */

static vmm_vm *test_vm_new(void)
{
    vmm_vm *vm = calloc(1, sizeof(*vm));
    assert_non_null(vm);
    vm->fd = -1;
    pthread_mutex_init(&vm->change_lock, NULL);
    pthread_mutex_init(&vm->irq_lock, NULL);
    return vm;
}

static void test_vm_free(vmm_vm *vm)
{
    vmm_iothread_stop(vm);
    vmm_irq_routes_free(vm);
    pthread_mutex_destroy(&vm->change_lock);
    pthread_mutex_destroy(&vm->irq_lock);
    free(vm);
}

static void pause_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Polls *@p until it reaches @want or 2 s pass; returns the last value. */
static int wait_for(const int *p, int want)
{
    uint64_t end = now_ms() + 2000;
    int v;
    while ((v = __atomic_load_n(p, __ATOMIC_SEQ_CST)) < want && now_ms() < end)
        pause_ms(1);
    return v;
}

static void kick(int efd)
{
    uint64_t one = 1;
    assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
}

/* ---- the I/O thread ---- */

struct where {
    vmm_vm *vm;
    int calls;
    pthread_t thread;
    char name[16];
    bool io_held;
};

static void record_thread(int fd, void *ctx)
{
    struct where *w = ctx;
    uint64_t v;
    (void)!read(fd, &v, sizeof(v));
    w->thread = pthread_self();
    pthread_getname_np(pthread_self(), w->name, sizeof(w->name));
    w->io_held = vmm_vm_io_held(w->vm);
    __atomic_add_fetch(&w->calls, 1, __ATOMIC_SEQ_CST);
}

static void test_callback_runs_on_iothread(void **state)
{
    (void)state;
    vmm_vm *vm = test_vm_new();
    struct where w = { .vm = vm };
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_int_equal(vmm_iothread_add(vm, efd, EPOLLIN, record_thread, &w, "test"), 0);
    assert_non_null(vm->iothread);
    kick(efd);
    assert_int_equal(wait_for(&w.calls, 1), 1);
    assert_false(pthread_equal(w.thread, pthread_self()));
    assert_string_equal(w.name, "vmm-io");
    /* The loop brackets each callback with vmm_vm_io_enter()/leave(). */
    assert_true(w.io_held);
    assert_int_equal(__atomic_load_n(&vm->io_users, __ATOMIC_SEQ_CST), 0);
    vmm_iothread_remove(vm, efd);
    close(efd);
    test_vm_free(vm);
}

static void test_add_rejects_bad_arguments(void **state)
{
    (void)state;
    vmm_vm *vm = test_vm_new();
    struct where w = { .vm = vm };
    assert_int_equal(vmm_iothread_add(vm, -1, EPOLLIN, record_thread, &w, "test_caller"), -EBADF);
    assert_non_null(strstr(vmm_last_error(), "test_caller"));
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_int_equal(vmm_iothread_add(vm, efd, 0, record_thread, &w, "test"), -EINVAL);
    assert_int_equal(vmm_iothread_add(vm, efd, EPOLLET | EPOLLIN, record_thread, &w, "test"),
                     -EINVAL);
    assert_int_equal(vmm_iothread_add(vm, efd, EPOLLIN, NULL, &w, "test"), -EINVAL);
    assert_int_equal(vmm_iothread_add(vm, efd, EPOLLIN, record_thread, &w, "test"), 0);
    assert_int_equal(vmm_iothread_add(vm, efd, EPOLLIN, record_thread, &w, "test"), -EEXIST);
    /* A regular file cannot be polled: epoll says EPERM. */
    int file = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    assert_true(file >= 0);
    assert_int_equal(vmm_iothread_add(vm, file, EPOLLIN, record_thread, &w, "test"), -EPERM);
    close(file);
    vmm_iothread_remove(vm, 12345); /* never watched: nothing happens */
    vmm_iothread_remove(vm, efd);
    close(efd);
    test_vm_free(vm);
}

/* Reads one byte per call: level triggering must call again until empty. */
struct drip {
    int calls;
};

static void read_one_byte(int fd, void *ctx)
{
    struct drip *d = ctx;
    char c;
    if (read(fd, &c, 1) == 1)
        __atomic_add_fetch(&d->calls, 1, __ATOMIC_SEQ_CST);
}

static void test_level_triggered_until_drained(void **state)
{
    (void)state;
    vmm_vm *vm = test_vm_new();
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    struct drip d = { 0 };
    assert_int_equal(vmm_iothread_add(vm, p[0], EPOLLIN, read_one_byte, &d, "test"), 0);
    assert_int_equal(write(p[1], "12345", 5), 5);
    assert_int_equal(wait_for(&d.calls, 5), 5);
    pause_ms(20);
    assert_int_equal(__atomic_load_n(&d.calls, __ATOMIC_SEQ_CST), 5);
    vmm_iothread_remove(vm, p[0]);
    close(p[0]);
    close(p[1]);
    test_vm_free(vm);
}

/* Remove-then-free: the callback works on its ctx (and marks itself inside);
 * the main thread removes and frees the ctx right away, over and over,
 * while kicks keep arriving. ASan turns any late call into a failure; the
 * in_callback check catches one without ASan. */
struct victim {
    int efd;
    int in_callback;
    uint64_t sum;
    unsigned char payload[64];
};

static void touch_victim(int fd, void *ctx)
{
    struct victim *v = ctx;
    __atomic_store_n(&v->in_callback, 1, __ATOMIC_SEQ_CST);
    uint64_t n;
    (void)!read(fd, &n, sizeof(n));
    for (int i = 0; i < 64; i++)
        v->sum += v->payload[i]++;
    __atomic_store_n(&v->in_callback, 0, __ATOMIC_SEQ_CST);
}

struct kicker {
    int *efds;
    int count;
    int stop;
};

static void *kick_forever(void *arg)
{
    struct kicker *k = arg;
    uint64_t one = 1;
    while (!__atomic_load_n(&k->stop, __ATOMIC_SEQ_CST))
        for (int i = 0; i < k->count; i++) {
            int fd = __atomic_load_n(&k->efds[i], __ATOMIC_SEQ_CST);
            if (fd >= 0)
                (void)!write(fd, &one, sizeof(one));
        }
    return NULL;
}

static void test_remove_then_free_ctx_race(void **state)
{
    (void)state;
    vmm_vm *vm = test_vm_new();
    enum { SLOTS = 4, ROUNDS = 3000 };
    /* The kicker writes the eventfds that stay open; each round's victim
     * gets a fresh eventfd that the main thread kicks itself. */
    int kicked[SLOTS];
    struct victim *stable[SLOTS];
    for (int i = 0; i < SLOTS; i++) {
        stable[i] = calloc(1, sizeof(*stable[i]));
        kicked[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        assert_int_equal(vmm_iothread_add(vm, kicked[i], EPOLLIN, touch_victim, stable[i], "t"),
                         0);
    }
    struct kicker k = { .efds = kicked, .count = SLOTS };
    pthread_t kt;
    assert_int_equal(pthread_create(&kt, NULL, kick_forever, &k), 0);
    for (int round = 0; round < ROUNDS; round++) {
        struct victim *v = calloc(1, sizeof(*v));
        assert_non_null(v);
        v->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        assert_int_equal(vmm_iothread_add(vm, v->efd, EPOLLIN, touch_victim, v, "t"), 0);
        kick(v->efd);
        if (round & 1)
            sched_yield(); /* let the callback start sometimes */
        vmm_iothread_remove(vm, v->efd);
        assert_int_equal(__atomic_load_n(&v->in_callback, __ATOMIC_SEQ_CST), 0);
        kick(v->efd); /* a kick after removal reaches nobody */
        close(v->efd); /* the number is reused next round: stale events must not match */
        memset(v, 0xa5, sizeof(*v));
        free(v);
        /* And re-add a kicked slot under a new ctx now and then. */
        if (round % 100 == 0) {
            int i = (round / 100) % SLOTS;
            vmm_iothread_remove(vm, kicked[i]);
            assert_int_equal(__atomic_load_n(&stable[i]->in_callback, __ATOMIC_SEQ_CST), 0);
            free(stable[i]);
            stable[i] = calloc(1, sizeof(*stable[i]));
            assert_int_equal(vmm_iothread_add(vm, kicked[i], EPOLLIN, touch_victim, stable[i],
                                              "t"), 0);
        }
    }
    __atomic_store_n(&k.stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(kt, NULL);
    for (int i = 0; i < SLOTS; i++) {
        vmm_iothread_remove(vm, kicked[i]);
        free(stable[i]);
        close(kicked[i]);
    }
    test_vm_free(vm);
}

/* A callback that removes its own watch (and another one). */
struct self_remover {
    vmm_vm *vm;
    int other_fd;
    int calls;
};

static void remove_self(int fd, void *ctx)
{
    struct self_remover *s = ctx;
    uint64_t v;
    (void)!read(fd, &v, sizeof(v));
    vmm_iothread_remove(s->vm, fd);
    if (s->other_fd >= 0)
        vmm_iothread_remove(s->vm, s->other_fd);
    __atomic_add_fetch(&s->calls, 1, __ATOMIC_SEQ_CST);
}

static void test_remove_from_callback(void **state)
{
    (void)state;
    vmm_vm *vm = test_vm_new();
    int a = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int b = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct where other = { .vm = vm };
    struct self_remover s = { .vm = vm, .other_fd = b };
    assert_int_equal(vmm_iothread_add(vm, b, EPOLLIN, record_thread, &other, "test"), 0);
    assert_int_equal(vmm_iothread_add(vm, a, EPOLLIN, remove_self, &s, "test"), 0);
    kick(a);
    assert_int_equal(wait_for(&s.calls, 1), 1);
    kick(a);
    kick(b);
    pause_ms(30);
    assert_int_equal(__atomic_load_n(&s.calls, __ATOMIC_SEQ_CST), 1);
    /* b was removed by a's callback before it could run (or ran once). */
    assert_true(__atomic_load_n(&other.calls, __ATOMIC_SEQ_CST) <= 1);
    int before = __atomic_load_n(&other.calls, __ATOMIC_SEQ_CST);
    kick(b);
    pause_ms(20);
    assert_int_equal(__atomic_load_n(&other.calls, __ATOMIC_SEQ_CST), before);
    /* Both fds can be watched again. */
    assert_int_equal(vmm_iothread_add(vm, a, EPOLLIN, record_thread, &other, "test"), 0);
    assert_int_equal(wait_for(&other.calls, before + 1), before + 1);
    close(a);
    close(b);
    test_vm_free(vm);
}

static void test_stop_with_watches_and_idempotent(void **state)
{
    (void)state;
    vmm_vm *never = test_vm_new();
    vmm_iothread_stop(never); /* never started */
    vmm_iothread_stop(never);
    test_vm_free(never);

    vmm_vm *vm = test_vm_new();
    int fds[3];
    struct drip d = { 0 };
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    for (int i = 0; i < 3; i++) {
        fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        assert_int_equal(vmm_iothread_add(vm, fds[i], EPOLLIN, read_one_byte, &d, "test"), 0);
    }
    /* One watch that is always ready and never drained: stop must still win. */
    assert_int_equal(write(p[1], "x", 1), 1);
    struct where busy = { .vm = vm };
    assert_int_equal(vmm_iothread_add(vm, p[1], EPOLLOUT, record_thread, &busy, "test"), 0);
    assert_true(wait_for(&busy.calls, 3) >= 3);
    vmm_iothread_stop(vm);
    assert_null(vm->iothread);
    int calls = __atomic_load_n(&busy.calls, __ATOMIC_SEQ_CST);
    pause_ms(10);
    assert_int_equal(__atomic_load_n(&busy.calls, __ATOMIC_SEQ_CST), calls);
    vmm_iothread_stop(vm);
    vmm_iothread_remove(vm, fds[0]); /* after stop: nothing to do */
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    close(p[0]);
    close(p[1]);
    test_vm_free(vm);
}

/* ---- io_enter / begin_change ---- */

struct io_user {
    vmm_vm *vm;
    int done;
    int result;
};

static void *enter_and_leave(void *arg)
{
    struct io_user *u = arg;
    vmm_vm_io_enter(u->vm);
    __atomic_store_n(&u->done, 1, __ATOMIC_SEQ_CST);
    vmm_vm_io_leave(u->vm);
    return NULL;
}

static void *change_and_end(void *arg)
{
    struct io_user *u = arg;
    u->result = vmm_vm_begin_change(u->vm, "test_change");
    __atomic_store_n(&u->done, 1, __ATOMIC_SEQ_CST);
    if (u->result == 0)
        vmm_vm_end_change(u->vm);
    return NULL;
}

static void test_io_enter_waits_for_change(void **state)
{
    (void)state;
    vmm_vm *vm = test_vm_new();
    assert_int_equal(vmm_vm_begin_change(vm, "test"), 0);
    struct io_user u = { .vm = vm };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, enter_and_leave, &u), 0);
    pause_ms(50);
    assert_int_equal(__atomic_load_n(&u.done, __ATOMIC_SEQ_CST), 0);
    vmm_vm_end_change(vm);
    assert_int_equal(wait_for(&u.done, 1), 1);
    pthread_join(t, NULL);
    assert_int_equal(vm->io_users, 0);
    test_vm_free(vm);
}

static void test_begin_change_waits_for_io_user(void **state)
{
    (void)state;
    vmm_vm *vm = test_vm_new();
    vmm_vm_io_enter(vm);
    assert_true(vmm_vm_io_held(vm));
    struct io_user u = { .vm = vm };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, change_and_end, &u), 0);
    pause_ms(50);
    assert_int_equal(__atomic_load_n(&u.done, __ATOMIC_SEQ_CST), 0);
    /* Nested enter while the changer waits for us: counted, no wait. */
    vmm_vm_io_enter(vm);
    vmm_vm_io_leave(vm);
    assert_true(vmm_vm_io_held(vm));
    assert_int_equal(__atomic_load_n(&u.done, __ATOMIC_SEQ_CST), 0);
    vmm_vm_io_leave(vm);
    assert_false(vmm_vm_io_held(vm));
    assert_int_equal(wait_for(&u.done, 1), 1);
    pthread_join(t, NULL);
    assert_int_equal(u.result, 0);
    test_vm_free(vm);
}

static void test_begin_change_inside_io_is_edeadlk(void **state)
{
    (void)state;
    vmm_vm *vm = test_vm_new();
    vmm_vm_io_enter(vm);
    assert_int_equal(vmm_vm_begin_change(vm, "test_caller"), -EDEADLK);
    assert_non_null(strstr(vmm_last_error(), "test_caller"));
    vmm_vm_io_leave(vm);
    assert_int_equal(vmm_vm_begin_change(vm, "test"), 0);
    vmm_vm_end_change(vm);
    test_vm_free(vm);
}

/* A change while a callback is parked: the loop waits before picking the
 * watch, so removing it from inside the change does not wait for it. */
static void test_remove_during_change_does_not_deadlock(void **state)
{
    (void)state;
    vmm_vm *vm = test_vm_new();
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct where w = { .vm = vm };
    assert_int_equal(vmm_iothread_add(vm, efd, EPOLLIN, record_thread, &w, "test"), 0);
    assert_int_equal(vmm_vm_begin_change(vm, "test"), 0);
    kick(efd);
    pause_ms(20);
    assert_int_equal(__atomic_load_n(&w.calls, __ATOMIC_SEQ_CST), 0);
    vmm_iothread_remove(vm, efd); /* as a device detach would, inside the change */
    vmm_vm_end_change(vm);
    pause_ms(20);
    assert_int_equal(__atomic_load_n(&w.calls, __ATOMIC_SEQ_CST), 0);
    close(efd);
    test_vm_free(vm);
}

/* ---- kvm_irq.c without KVM ---- */

static void test_routes_defaults_mirror_kvm(void **state)
{
    (void)state;
    struct vmm_irq_routes *rt = vmm_irq_routes_new(4096);
    assert_non_null(rt);
    struct kvm_irq_routing_entry e[64];
    uint32_t n = vmm_irq_routes_build(rt, e, 64);
    assert_int_equal(n, 40);
    unsigned ioapic[24] = { 0 }, pic = 0;
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(e[i].type, KVM_IRQ_ROUTING_IRQCHIP);
        uint32_t gsi = e[i].gsi;
        assert_true(gsi < 24);
        if (e[i].u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC) {
            assert_int_equal(e[i].u.irqchip.pin, gsi);
            ioapic[gsi]++;
        } else {
            assert_true(gsi < 16);
            assert_int_equal(e[i].u.irqchip.irqchip,
                             gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE);
            assert_int_equal(e[i].u.irqchip.pin, gsi % 8);
            pic++;
        }
    }
    for (int gsi = 0; gsi < 24; gsi++)
        assert_int_equal(ioapic[gsi], 1);
    assert_int_equal(pic, 16); /* GSI 2 too, as KVM's default_routing[] */
    /* Asking for the count only writes nothing. */
    assert_int_equal(vmm_irq_routes_build(rt, NULL, 0), 40);
    vmm_irq_routes_delete(rt);
    vmm_irq_routes_delete(NULL);
}

static const struct kvm_irq_routing_entry *find_msi(const struct kvm_irq_routing_entry *e,
                                                    uint32_t n, uint32_t gsi)
{
    for (uint32_t i = 0; i < n; i++)
        if (e[i].gsi == gsi && e[i].type == KVM_IRQ_ROUTING_MSI)
            return &e[i];
    return NULL;
}

static void test_routes_alloc_free_reuse(void **state)
{
    (void)state;
    struct vmm_irq_routes *rt = vmm_irq_routes_new(4096);
    assert_int_equal(vmm_irq_routes_alloc(rt), 24);
    assert_int_equal(vmm_irq_routes_alloc(rt), 25);
    assert_int_equal(vmm_irq_routes_alloc(rt), 26);
    /* Allocated without a message: no route yet. */
    assert_int_equal(vmm_irq_routes_build(rt, NULL, 0), 40);
    assert_int_equal(vmm_irq_routes_set(rt, 24, 0xfee00000ull, 0x4031), 0);
    assert_int_equal(vmm_irq_routes_set(rt, 26, 0x1fee01000ull, 0x22), 0);
    assert_int_equal(vmm_irq_routes_release(rt, 25), 0);
    assert_int_equal(vmm_irq_routes_alloc(rt), 25); /* lowest free first */
    assert_int_equal(vmm_irq_routes_alloc(rt), 27);

    struct kvm_irq_routing_entry e[64];
    uint32_t n = vmm_irq_routes_build(rt, e, 64);
    assert_int_equal(n, 42);
    const struct kvm_irq_routing_entry *m = find_msi(e, n, 24);
    assert_non_null(m);
    assert_int_equal(m->u.msi.address_lo, 0xfee00000u);
    assert_int_equal(m->u.msi.address_hi, 0);
    assert_int_equal(m->u.msi.data, 0x4031);
    assert_int_equal(m->flags, 0);
    m = find_msi(e, n, 26);
    assert_non_null(m);
    assert_int_equal(m->u.msi.address_lo, 0xfee01000u);
    assert_int_equal(m->u.msi.address_hi, 1);
    assert_int_equal(m->u.msi.data, 0x22);
    assert_null(find_msi(e, n, 25));
    /* MSI entries follow the defaults in GSI order. */
    assert_int_equal(e[40].gsi, 24);
    assert_int_equal(e[41].gsi, 26);

    /* Re-pointing a route replaces it; releasing drops it. */
    assert_int_equal(vmm_irq_routes_set(rt, 24, 0xfee00000ull, 0x4032), 0);
    assert_int_equal(vmm_irq_routes_release(rt, 26), 0);
    n = vmm_irq_routes_build(rt, e, 64);
    assert_int_equal(n, 41);
    assert_int_equal(find_msi(e, n, 24)->u.msi.data, 0x4032);

    /* Only allocated MSI GSIs can be set or released. */
    assert_int_equal(vmm_irq_routes_set(rt, 26, 0xfee00000ull, 1), -ENOENT);
    assert_int_equal(vmm_irq_routes_release(rt, 26), -ENOENT);
    assert_int_equal(vmm_irq_routes_set(rt, 10, 0xfee00000ull, 1), -ENOENT);
    assert_int_equal(vmm_irq_routes_release(rt, 23), -ENOENT);
    assert_int_equal(vmm_irq_routes_set(rt, 5000, 0xfee00000ull, 1), -ENOENT);
    assert_int_equal(vmm_irq_routes_release(rt, UINT32_MAX), -ENOENT);

    /* A short buffer gets the first entries; the count is the whole. */
    struct kvm_irq_routing_entry few[5];
    memset(few, 0, sizeof(few));
    assert_int_equal(vmm_irq_routes_build(rt, few, 5), 41);
    assert_int_equal(few[0].gsi, 0);
    vmm_irq_routes_delete(rt);
}

static void test_routes_limit(void **state)
{
    (void)state;
    struct vmm_irq_routes *rt = vmm_irq_routes_new(24 + 3);
    assert_int_equal(vmm_irq_routes_alloc(rt), 24);
    assert_int_equal(vmm_irq_routes_alloc(rt), 25);
    assert_int_equal(vmm_irq_routes_alloc(rt), 26);
    assert_int_equal(vmm_irq_routes_alloc(rt), -ENOSPC);
    assert_int_equal(vmm_irq_routes_release(rt, 25), 0);
    assert_int_equal(vmm_irq_routes_alloc(rt), 25);
    vmm_irq_routes_delete(rt);

    rt = vmm_irq_routes_new(16); /* KVM with fewer routes than pins: no MSI */
    assert_int_equal(vmm_irq_routes_alloc(rt), -ENOSPC);
    vmm_irq_routes_delete(rt);

    /* The table is capped (1024 MSI GSIs) whatever KVM allows. */
    rt = vmm_irq_routes_new(UINT32_MAX);
    int last = 0;
    for (int i = 0; i < 1024; i++)
        last = vmm_irq_routes_alloc(rt);
    assert_int_equal(last, 24 + 1023);
    assert_int_equal(vmm_irq_routes_alloc(rt), -ENOSPC);
    vmm_irq_routes_delete(rt);
}

struct hook_log {
    int calls;
    int kind;
    uint64_t a, b;
    int ret;
};

static int record_hook(vmm_vm *vm, int kind, uint64_t a, uint64_t b)
{
    struct hook_log *h = vm->irq_hook_user;
    h->calls++;
    h->kind = kind;
    h->a = a;
    h->b = b;
    return h->ret;
}

static void test_signal_msi_through_hook(void **state)
{
    (void)state;
    vmm_vm *vm = test_vm_new();
    struct hook_log h = { 0 };
    vm->irq_hook = record_hook;
    vm->irq_hook_user = &h;
    assert_int_equal(vmm_irq_signal_msi(vm, 0x1fee00000ull, 0x4041, "test"), 0);
    assert_int_equal(h.calls, 1);
    assert_int_equal(h.kind, VMM_IRQ_HOOK_MSI);
    assert_int_equal(h.a, 0x1fee00000ull);
    assert_int_equal(h.b, 0x4041);
    h.ret = -EIO;
    assert_int_equal(vmm_irq_signal_msi(vm, 0xfee00000ull, 1, "test"), -EIO);
    assert_int_equal(h.calls, 2);
    test_vm_free(vm);
}

static void test_test_vm_has_no_kvm_plumbing(void **state)
{
    (void)state;
    vmm_vm *vm = test_vm_new();
    struct hook_log h = { 0 };
    /* fd -1 */
    assert_false(vmm_vm_has_irqfd(vm));
    assert_false(vmm_vm_has_ioeventfd(vm));
    assert_false(vmm_vm_has_msi(vm));
    assert_int_equal(vmm_irq_signal_msi(vm, 0xfee00000ull, 1, "test_caller"), -ENODEV);
    assert_non_null(strstr(vmm_last_error(), "test_caller"));
    /* hook set, irqchip claimed: still no KVM */
    vm->irq_hook = record_hook;
    vm->irq_hook_user = &h;
    vm->has_irqchip = true;
    vm->fd = 1000;
    assert_false(vmm_vm_has_irqfd(vm));
    assert_false(vmm_vm_has_ioeventfd(vm));
    assert_false(vmm_vm_has_msi(vm));
    assert_int_equal(vmm_irq_msi_alloc(vm, "test_caller"), -ENODEV);
    assert_non_null(strstr(vmm_last_error(), "test_caller"));
    assert_int_equal(vmm_irq_msi_set(vm, 24, 0xfee00000ull, 1, "test"), -ENODEV);
    vmm_irq_msi_free(vm, 24); /* no table: nothing happens */
    assert_int_equal(vmm_irqfd(vm, 0, 5, true, "test"), -ENODEV);
    assert_int_equal(vmm_irqfd(vm, -1, 5, true, "test"), -EBADF);
    assert_int_equal(vmm_ioeventfd(vm, 0, 0x1000, 4, false, false, 0, true, "test"), -ENODEV);
    assert_null(vm->irq_routes);
    vm->fd = -1;
    test_vm_free(vm);
}

static void test_ioeventfd_argument_checks(void **state)
{
    (void)state;
    vmm_vm *vm = test_vm_new();
    assert_int_equal(vmm_ioeventfd(vm, 3, 0x1000, 3, false, false, 0, true, "test_caller"),
                     -EINVAL);
    assert_non_null(strstr(vmm_last_error(), "test_caller"));
    assert_int_equal(vmm_ioeventfd(vm, 3, 0x1000, 0, false, false, 0, true, "t"), -EINVAL);
    assert_int_equal(vmm_ioeventfd(vm, 3, 0xffff, 2, true, false, 0, true, "t"), -EINVAL);
    assert_int_equal(vmm_ioeventfd(vm, 3, 0x10000, 1, true, false, 0, true, "t"), -EINVAL);
    assert_int_equal(vmm_ioeventfd(vm, 3, UINT64_MAX - 2, 4, false, false, 0, true, "t"),
                     -EINVAL);
    assert_int_equal(vmm_ioeventfd(vm, 3, 0x1000, 2, false, true, 0x10000, true, "t"), -EINVAL);
    assert_int_equal(vmm_ioeventfd(vm, -1, 0x1000, 2, false, false, 0, true, "t"), -EBADF);
    /* Valid arguments reach the capability check. */
    assert_int_equal(vmm_ioeventfd(vm, 3, 0xfffe, 2, true, true, 0xffff, true, "t"), -ENODEV);
    assert_int_equal(vmm_ioeventfd(vm, 3, UINT64_MAX - 7, 8, false, true, UINT64_MAX, true, "t"),
                     -ENODEV);
    test_vm_free(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_callback_runs_on_iothread),
        cmocka_unit_test(test_add_rejects_bad_arguments),
        cmocka_unit_test(test_level_triggered_until_drained),
        cmocka_unit_test(test_remove_then_free_ctx_race),
        cmocka_unit_test(test_remove_from_callback),
        cmocka_unit_test(test_stop_with_watches_and_idempotent),
        cmocka_unit_test(test_io_enter_waits_for_change),
        cmocka_unit_test(test_begin_change_waits_for_io_user),
        cmocka_unit_test(test_begin_change_inside_io_is_edeadlk),
        cmocka_unit_test(test_remove_during_change_does_not_deadlock),
        cmocka_unit_test(test_routes_defaults_mirror_kvm),
        cmocka_unit_test(test_routes_alloc_free_reuse),
        cmocka_unit_test(test_routes_limit),
        cmocka_unit_test(test_signal_msi_through_hook),
        cmocka_unit_test(test_test_vm_has_no_kvm_plumbing),
        cmocka_unit_test(test_ioeventfd_argument_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
