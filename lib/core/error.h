/* Internal error and log helpers: set the thread's last-error sentence once,
 * at the point of failure, and return the errno so callers can `return
 * vmm_err(-EINVAL, "...")`. */
#ifndef VMM_LIB_CORE_ERROR_H
#define VMM_LIB_CORE_ERROR_H

#include <vmm/error.h>

/* Sets the calling thread's vmm_last_error() to the formatted sentence, sends
 * it to the log callback at VMM_LOG_ERROR, and returns @err (a negative
 * errno). */
int vmm_err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copies @text verbatim as the last error (used to carry a vCPU thread's
 * error back to the thread that called vmm_vm_run()). */
void vmm_err_set_text(const char *text);

/* Sends a message to the log callback if one is installed for @level. */
void vmm_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Argument checks shared by every public entry point. */
#define VMM_CHECK_ARG(cond, fn, what)                                   \
    do {                                                                \
        if (!(cond))                                                    \
            return vmm_err(-EINVAL, "%s: %s", (fn), (what));            \
    } while (0)

#endif
