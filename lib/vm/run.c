/* vmm_vm_run(): every vCPU on its own library thread until the VM is done. */
#include "vm/vm.h"

#include "core/error.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vm_run {
    vmm_vm *vm;
    pthread_mutex_t lock;
    bool ended;            /* a vCPU ended the run for everyone */
    struct vmm_exit exit;  /* the exit that ended it, or the last halt */
    int result;
    char error[256];
};

struct vcpu_thread {
    struct vm_run *run;
    vmm_vcpu *vcpu;
    pthread_t thread;
};

static void *vcpu_thread_main(void *arg)
{
    struct vcpu_thread *t = arg;
    struct vm_run *run = t->run;
    /* Threads inherit the creator's mask: make sure the kick gets through. */
    if (run->vm->kick_signal) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, run->vm->kick_signal);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    }
    struct vmm_exit exit;
    int r;
    do
        r = vmm_vcpu_run(t->vcpu, &exit);
    while (r == 0 && exit.reason == VMM_EXIT_KICKED);

    pthread_mutex_lock(&run->lock);
    bool halted = r == 0 && exit.reason == VMM_EXIT_HLT;
    if (!run->ended) {
        /* Halts only count while no one has ended the run for another reason. */
        run->exit = exit;
        run->result = r;
        if (r < 0)
            snprintf(run->error, sizeof(run->error), "%s", vmm_last_error());
        if (!halted)
            run->ended = true;
    }
    pthread_mutex_unlock(&run->lock);
    if (!halted)
        vmm_vm_stop(run->vm); /* bring the others home */
    return NULL;
}

VMM_API int vmm_vm_run(vmm_vm *vm, struct vmm_exit *exit)
{
    static const char fn[] = "vmm_vm_run";
    if (!vm)
        return vmm_err(-EINVAL, "%s: vm is NULL", fn);
    int r = vmm_vm_check_idle(vm, fn);
    if (r < 0)
        return r;
    struct vcpu_thread *threads = calloc(vm->num_vcpus, sizeof(*threads));
    if (!threads)
        return vmm_err(-ENOMEM, "%s: out of memory", fn);
    struct vm_run run = { .vm = vm };
    pthread_mutex_init(&run.lock, NULL);

    uint32_t started = 0;
    for (; started < vm->num_vcpus; started++) {
        threads[started] = (struct vcpu_thread){ .run = &run, .vcpu = vm->vcpus[started] };
        int e = pthread_create(&threads[started].thread, NULL, vcpu_thread_main,
                               &threads[started]);
        if (e) {
            r = vmm_err(-e, "%s: cannot start the thread of vCPU %u: %s", fn, started,
                        vmm_strerror(-e));
            vmm_vm_stop(vm);
            break;
        }
    }
    for (uint32_t i = 0; i < started; i++)
        pthread_join(threads[i].thread, NULL);
    free(threads);
    pthread_mutex_destroy(&run.lock);

    /* Every stop request issued during the run has now been answered; vCPUs
     * that had halted before it must not report it at their next run. */
    for (uint32_t i = 0; i < vm->num_vcpus; i++)
        __atomic_fetch_and(&vm->vcpus[i]->requests, ~VMM_REQ_STOP, __ATOMIC_SEQ_CST);

    if (r < 0)
        return r;
    if (exit)
        *exit = run.exit;
    if (run.result < 0)
        vmm_err_set_text(run.error);
    return run.result;
}
