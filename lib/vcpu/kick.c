/* Pulling a vCPU thread out of KVM_RUN.
 *
 * api.rst (kvm_run::immediate_exit): a kicker sets immediate_exit and then
 * signals the vCPU thread. If the thread is inside KVM_RUN the signal makes
 * it return -EINTR; if it is about to enter, KVM sees immediate_exit and
 * returns -EINTR at once. Either way no kick is lost, without
 * KVM_SET_SIGNAL_MASK and without touching the caller's signal mask. */
#include "vm/vm.h"

#include "core/error.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;

/* Does nothing: its only job is to make KVM_RUN return -EINTR. */
static void kick_handler(int sig)
{
    (void)sig;
}

int vmm_kick_signal_install(int sig, const char *caller)
{
    pthread_mutex_lock(&install_lock);
    struct sigaction old;
    int r = 0;
    if (sigaction(sig, NULL, &old) < 0) {
        r = vmm_err(-errno, "%s: cannot query signal %d: %s", caller, sig, strerror(errno));
    } else if (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN) {
        /* No SA_RESTART: the point is for the ioctl to return. */
        struct sigaction sa = { .sa_handler = kick_handler };
        sigemptyset(&sa.sa_mask);
        if (sigaction(sig, &sa, NULL) < 0)
            r = vmm_err(-errno, "%s: cannot install the kick handler for signal %d: %s", caller,
                        sig, strerror(errno));
    }
    /* Otherwise the application already handles it; its handler interrupts
     * KVM_RUN just as well. */
    pthread_mutex_unlock(&install_lock);
    return r;
}

void vmm_vcpu_request(vmm_vcpu *vcpu, uint32_t requests)
{
    /* Post the request before interrupting, so the woken thread sees it. */
    __atomic_fetch_or(&vcpu->requests, requests, __ATOMIC_SEQ_CST);
    __atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    int sig = vcpu->vm->kick_signal;
    if (!sig)
        return;
    /* The lock keeps the thread from leaving vmm_vcpu_run() (and perhaps
     * exiting) between the check and the signal. */
    pthread_mutex_lock(&vcpu->thread_lock);
    if (vcpu->has_thread)
        pthread_kill(vcpu->thread, sig);
    pthread_mutex_unlock(&vcpu->thread_lock);
}

VMM_API int vmm_vcpu_kick(vmm_vcpu *vcpu)
{
    if (!vcpu)
        return vmm_err(-EINVAL, "vmm_vcpu_kick: vcpu is NULL");
    vmm_vcpu_request(vcpu, VMM_REQ_KICK);
    return 0;
}
