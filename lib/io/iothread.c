/* The VM's I/O thread: one epoll loop per VM over the fds devices register
 * (ioeventfd kicks, TAP fds), and the io_users count that keeps guest
 * memory mapped while that thread works on it.
 *
 * Removal without use-after-free: each watch has a unique id, which is what
 * epoll hands back (never a pointer, so an event fetched before a removal
 * cannot reach freed memory: its id is simply not found). The loop looks
 * the id up and publishes it as running_id under the lock before calling
 * out; vmm_iothread_remove() unlinks the watch under the same lock and
 * waits on `idle` while running_id is still its id. */
#include "io/iothread.h"

#include "core/error.h"
#include "vm/vm.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* epoll data of the wakeup eventfd; watch ids start at 1. */
#define WAKE_ID 0

struct vmm_io_watch {
    uint64_t id;
    int fd;
    vmm_io_ready_fn fn;
    void *ctx;
    struct vmm_io_watch *next;
};

struct vmm_iothread {
    vmm_vm *vm;
    pthread_t thread;
    int epfd;
    int wake_fd;                  /* eventfd: stop */
    pthread_mutex_t lock;         /* guards everything below */
    pthread_cond_t idle;          /* broadcast when a callback returns */
    struct vmm_io_watch *watches;
    uint64_t next_id;
    uint64_t running_id;          /* watch whose callback runs now; 0: none */
    bool stopping;
};

/* Serialises the lazy start of vm->iothread (rare: once per VM). */
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;

/* The I/O thread running on this thread, if any (remove from a callback). */
static __thread struct vmm_iothread *self_iothread;

/* vmm_vm_io_enter() nesting on this thread, for one VM at a time: the loop
 * brackets every callback and the device code inside brackets again. */
static __thread const vmm_vm *io_held_vm;
static __thread unsigned io_held_depth;

static void pause_briefly(unsigned *spins)
{
    /* Changes are rare and short: yield first, then sleep 50 us a round. */
    if (++*spins < 64) {
        sched_yield();
        return;
    }
    struct timespec ts = { 0, 50 * 1000 };
    nanosleep(&ts, NULL);
}

void vmm_vm_io_enter(vmm_vm *vm)
{
    if (io_held_vm == vm && io_held_depth) {
        /* Already counted: a changer is waiting for us, not we for it. */
        __atomic_add_fetch(&vm->io_users, 1, __ATOMIC_SEQ_CST);
        io_held_depth++;
        return;
    }
    /* Dekker with vmm_vm_begin_change(): we raise io_users, then read
     * `changing`; it raises `changing`, then reads io_users (all seq_cst).
     * At least one of us sees the other: either we back off, or it waits. */
    unsigned spins = 0;
    for (;;) {
        __atomic_add_fetch(&vm->io_users, 1, __ATOMIC_SEQ_CST);
        if (!__atomic_load_n(&vm->changing, __ATOMIC_SEQ_CST))
            break;
        __atomic_sub_fetch(&vm->io_users, 1, __ATOMIC_SEQ_CST);
        while (__atomic_load_n(&vm->changing, __ATOMIC_SEQ_CST))
            pause_briefly(&spins);
    }
    if (!io_held_depth) {
        io_held_vm = vm;
        io_held_depth = 1;
    }
}

void vmm_vm_io_leave(vmm_vm *vm)
{
    if (io_held_vm == vm && io_held_depth && --io_held_depth == 0)
        io_held_vm = NULL;
    __atomic_sub_fetch(&vm->io_users, 1, __ATOMIC_SEQ_CST);
}

bool vmm_vm_io_held(const vmm_vm *vm)
{
    return io_held_vm == vm && io_held_depth;
}

static struct vmm_io_watch *find_id(struct vmm_iothread *t, uint64_t id)
{
    for (struct vmm_io_watch *w = t->watches; w; w = w->next)
        if (w->id == id)
            return w;
    return NULL;
}

/* Runs the callback of watch @id if it is still registered. */
static void dispatch(struct vmm_iothread *t, uint64_t id)
{
    /* Enter before choosing the watch: while we wait here for a change to
     * end, no callback counts as running, so a changer that removes watches
     * (device detach) never waits for us while we wait for it. */
    vmm_vm_io_enter(t->vm);
    pthread_mutex_lock(&t->lock);
    struct vmm_io_watch *w = t->stopping ? NULL : find_id(t, id);
    if (!w) {
        pthread_mutex_unlock(&t->lock);
        vmm_vm_io_leave(t->vm);
        return;
    }
    vmm_io_ready_fn fn = w->fn;
    void *ctx = w->ctx;
    int fd = w->fd;
    t->running_id = id;
    pthread_mutex_unlock(&t->lock);

    fn(fd, ctx); /* may remove any watch, its own included */

    pthread_mutex_lock(&t->lock);
    t->running_id = 0;
    pthread_cond_broadcast(&t->idle);
    pthread_mutex_unlock(&t->lock);
    vmm_vm_io_leave(t->vm);
}

static bool is_stopping(struct vmm_iothread *t)
{
    pthread_mutex_lock(&t->lock);
    bool s = t->stopping;
    pthread_mutex_unlock(&t->lock);
    return s;
}

static void *io_main(void *arg)
{
    struct vmm_iothread *t = arg;
    self_iothread = t;
    struct epoll_event evs[16];
    for (;;) {
        int n = epoll_wait(t->epfd, evs, 16, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            vmm_log(VMM_LOG_ERROR, "vmm I/O thread: epoll_wait failed: %s; device I/O stops",
                    strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == WAKE_ID) {
                uint64_t v;
                if (read(t->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                    vmm_log(VMM_LOG_ERROR, "vmm I/O thread: reading its wakeup eventfd failed: %s",
                            strerror(errno));
                continue;
            }
            dispatch(t, evs[i].data.u64);
        }
        if (is_stopping(t))
            break;
    }
    return NULL;
}

static void iothread_free(struct vmm_iothread *t)
{
    while (t->watches) {
        struct vmm_io_watch *w = t->watches;
        t->watches = w->next;
        free(w);
    }
    if (t->epfd >= 0)
        close(t->epfd);
    if (t->wake_fd >= 0)
        close(t->wake_fd);
    pthread_cond_destroy(&t->idle);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static int iothread_start(vmm_vm *vm, const char *caller, struct vmm_iothread **out)
{
    struct vmm_iothread *t = calloc(1, sizeof(*t));
    if (!t)
        return vmm_err(-ENOMEM, "%s: out of memory for the I/O thread", caller);
    t->vm = vm;
    t->next_id = WAKE_ID + 1;
    t->wake_fd = -1;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->idle, NULL);
    int r;
    t->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (t->epfd < 0) {
        r = vmm_err(-errno, "%s: epoll_create1 for the I/O thread failed: %s", caller,
                    strerror(errno));
        goto fail;
    }
    t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (t->wake_fd < 0) {
        r = vmm_err(-errno, "%s: eventfd for the I/O thread failed: %s", caller, strerror(errno));
        goto fail;
    }
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = WAKE_ID };
    if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->wake_fd, &ev) < 0) {
        r = vmm_err(-errno, "%s: watching the I/O thread's wakeup eventfd failed: %s", caller,
                    strerror(errno));
        goto fail;
    }
    /* The thread inherits a full signal mask, so no signal of the
     * application (nor the vCPU kick signal) is ever delivered to it. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&t->thread, NULL, io_main, t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        r = vmm_err(-e, "%s: starting the I/O thread failed: %s", caller, strerror(e));
        goto fail;
    }
    pthread_setname_np(t->thread, "vmm-io");
    *out = t;
    return 0;
fail:
    iothread_free(t);
    return r;
}

int vmm_iothread_add(vmm_vm *vm, int fd, uint32_t events, vmm_io_ready_fn fn, void *ctx,
                     const char *caller)
{
    if (!vm || !fn)
        return vmm_err(-EINVAL, "%s: vm and fn must not be NULL", caller);
    if (fd < 0)
        return vmm_err(-EBADF, "%s: fd %d is not a file descriptor", caller, fd);
    if (!events || events & ~(uint32_t)(EPOLLIN | EPOLLOUT))
        return vmm_err(-EINVAL, "%s: events 0x%x for fd %d: only EPOLLIN and EPOLLOUT", caller,
                       events, fd);
    struct vmm_iothread *t = __atomic_load_n(&vm->iothread, __ATOMIC_ACQUIRE);
    if (!t) {
        pthread_mutex_lock(&start_lock);
        t = vm->iothread;
        int r = t ? 0 : iothread_start(vm, caller, &t);
        if (r == 0)
            __atomic_store_n(&vm->iothread, t, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&start_lock);
        if (r < 0)
            return r;
    }
    struct vmm_io_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return vmm_err(-ENOMEM, "%s: out of memory watching fd %d", caller, fd);
    w->fd = fd;
    w->fn = fn;
    w->ctx = ctx;
    int r = 0;
    pthread_mutex_lock(&t->lock);
    if (t->stopping) {
        r = vmm_err(-ESHUTDOWN, "%s: the VM's I/O thread is stopping; fd %d not watched", caller,
                    fd);
        goto out;
    }
    for (struct vmm_io_watch *o = t->watches; o; o = o->next)
        if (o->fd == fd) {
            r = vmm_err(-EEXIST, "%s: fd %d is already watched by the I/O thread", caller, fd);
            goto out;
        }
    w->id = t->next_id++;
    struct epoll_event ev = { .events = events, .data.u64 = w->id };
    if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        r = vmm_err(-errno, "%s: the I/O thread cannot watch fd %d: %s", caller, fd,
                    strerror(errno));
        goto out;
    }
    w->next = t->watches;
    t->watches = w;
    w = NULL;
out:
    pthread_mutex_unlock(&t->lock);
    free(w);
    return r;
}

void vmm_iothread_remove(vmm_vm *vm, int fd)
{
    struct vmm_iothread *t = vm ? __atomic_load_n(&vm->iothread, __ATOMIC_ACQUIRE) : NULL;
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    struct vmm_io_watch **link = &t->watches;
    while (*link && (*link)->fd != fd)
        link = &(*link)->next;
    struct vmm_io_watch *w = *link;
    if (!w) {
        pthread_mutex_unlock(&t->lock);
        return;
    }
    *link = w->next;
    /* Fails only if the owner closed fd already, which epoll noticed. */
    epoll_ctl(t->epfd, EPOLL_CTL_DEL, fd, NULL);
    /* On the I/O thread itself, running_id is either our own caller (which
     * returns to the loop without touching the watch) or another watch. */
    if (self_iothread != t)
        while (t->running_id == w->id)
            pthread_cond_wait(&t->idle, &t->lock);
    pthread_mutex_unlock(&t->lock);
    free(w);
}

void vmm_iothread_stop(vmm_vm *vm)
{
    struct vmm_iothread *t = vm ? __atomic_load_n(&vm->iothread, __ATOMIC_ACQUIRE) : NULL;
    if (!t)
        return;
    if (self_iothread == t) {
        vmm_log(VMM_LOG_ERROR, "vmm_iothread_stop: called on the VM's own I/O thread; the "
                "thread is left running");
        return;
    }
    pthread_mutex_lock(&t->lock);
    t->stopping = true;
    pthread_mutex_unlock(&t->lock);
    uint64_t one = 1;
    if (write(t->wake_fd, &one, sizeof(one)) < 0)
        vmm_log(VMM_LOG_ERROR, "vmm_iothread_stop: waking the I/O thread failed: %s",
                strerror(errno));
    pthread_join(t->thread, NULL);
    vm->iothread = NULL;
    iothread_free(t);
}
