/* Thread-local last-error sentences and the process-wide log callback. */
#include "core/error.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static __thread char last_error[256];

/* Delivery holds the read side for the whole callback, so once
 * vmm_set_log_callback() (the write side) returns, the old callback is no
 * longer running anywhere and its user data may be freed. */
static pthread_rwlock_t log_lock = PTHREAD_RWLOCK_INITIALIZER;
static vmm_log_fn log_fn;
static void *log_user;
/* Read without the lock on every message as a cheap "is anyone listening". */
static int log_max_level = -1;

VMM_API const char *vmm_strerror(int err)
{
    if (err == 0)
        return "Success";
    if (err == VMM_UNHANDLED)
        return "Unhandled (the access goes back to the caller)";
    if (err == INT_MIN)
        return "Unknown error"; /* -INT_MIN does not exist */
    if (err < 0)
        err = -err;
    /* strerror() is not guaranteed thread-safe; strerrordesc_np() returns a
     * static string (glibc >= 2.32). */
    const char *s = strerrordesc_np(err);
    return s ? s : "Unknown error";
}

VMM_API const char *vmm_last_error(void)
{
    return last_error;
}

static void deliver(int level, const char *msg)
{
    if (__atomic_load_n(&log_max_level, __ATOMIC_RELAXED) < level)
        return;
    pthread_rwlock_rdlock(&log_lock);
    if (log_fn && level <= log_max_level)
        log_fn(level, msg, log_user);
    pthread_rwlock_unlock(&log_lock);
}

int vmm_err(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
    deliver(VMM_LOG_ERROR, last_error);
    return err;
}

void vmm_err_set_text(const char *text)
{
    snprintf(last_error, sizeof(last_error), "%s", text);
}

void vmm_log(int level, const char *fmt, ...)
{
    if (__atomic_load_n(&log_max_level, __ATOMIC_RELAXED) < level)
        return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    deliver(level, msg);
}

VMM_API int vmm_set_log_callback(vmm_log_fn fn, void *user, int max_level)
{
    if (max_level < VMM_LOG_ERROR || max_level > VMM_LOG_DEBUG)
        return vmm_err(-EINVAL, "vmm_set_log_callback: max_level %d is not a vmm_log_level (0-3)",
                       max_level);
    pthread_rwlock_wrlock(&log_lock);
    log_fn = fn;
    log_user = user;
    __atomic_store_n(&log_max_level, fn ? max_level : -1, __ATOMIC_RELAXED);
    pthread_rwlock_unlock(&log_lock);
    return 0;
}
