/* The VM's I/O thread: one epoll loop per VM, started by the first device
 * that registers an fd, stopped at VM destruction after every device is
 * gone. Devices register eventfds (ioeventfd kicks), TAP fds and the like;
 * the callback runs on the I/O thread. */
#ifndef VMM_LIB_IO_IOTHREAD_H
#define VMM_LIB_IO_IOTHREAD_H

#include <vmm/vmm.h>

#include <stdint.h>

/* Called on the I/O thread when @fd is readable (EPOLLIN, level-triggered:
 * the callback must drain it or the call repeats). */
typedef void (*vmm_io_ready_fn)(int fd, void *ctx);

/* Watches @fd for @events (EPOLLIN and/or EPOLLOUT) and calls @fn(fd, ctx) on
 * the I/O thread, starting the thread if needed. @caller names the public
 * function in errors. Returns 0 or a negative errno with a sentence. */
int vmm_iothread_add(vmm_vm *vm, int fd, uint32_t events, vmm_io_ready_fn fn, void *ctx,
                     const char *caller);
/* Stops watching @fd. When it returns, @fn is not running for @fd and will
 * not be called again (so ctx may be freed), unless called from @fn itself
 * on the I/O thread, where it simply stops future calls. */
void vmm_iothread_remove(vmm_vm *vm, int fd);
/* Stops and joins the thread (VM destruction, after all devices). */
void vmm_iothread_stop(vmm_vm *vm);

/* Guest memory in use off a vCPU thread. The I/O thread brackets each
 * batch of guest-memory work with these so that vmm_memory_remove() and
 * friends (vmm_vm_begin_change()) wait for it instead of unmapping memory
 * under it; while a change is in progress, enter waits. */
void vmm_vm_io_enter(vmm_vm *vm);
void vmm_vm_io_leave(vmm_vm *vm);

#endif
