/**
 * @file error.h
 * @brief Error reporting: negative errno return values, a thread-local
 *        sentence with the detail, and an optional log callback.
 *
 * Every libvmm function that can fail returns 0 (or a non-negative count) on
 * success and a negative errno value on failure, and then sets the calling
 * thread's last-error sentence. The library never prints, exits or aborts on
 * bad input.
 */
#ifndef VMM_ERROR_H
#define VMM_ERROR_H

#include <vmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Name a libvmm return value.
 * @param err A value returned by a libvmm function (0 or a negative errno;
 *            positive values are accepted and treated like their negation).
 * @return A static, human-readable string (e.g. "Invalid argument"); never
 *         NULL; do not free. Thread-safe.
 */
VMM_API const char *vmm_strerror(int err);

/**
 * @brief The detail behind the last error on the calling thread.
 * @return A sentence such as "vmm_memory_add_ram: gpa 0x1001 is not
 *         page-aligned", or "" if no libvmm call on this thread has failed.
 *         The string is thread-local and stays valid until the next failing
 *         libvmm call on the same thread; copy it to keep it.
 */
VMM_API const char *vmm_last_error(void);

/** Severity of a message passed to the log callback. */
enum vmm_log_level {
    VMM_LOG_ERROR = 0, /**< an operation failed (every error sets one) */
    VMM_LOG_WARN = 1,  /**< the guest did something wrong; the host coped */
    VMM_LOG_INFO = 2,  /**< life-cycle events */
    VMM_LOG_DEBUG = 3, /**< chatty detail */
};

/**
 * @brief Receives library log messages.
 * @param level An enum vmm_log_level value.
 * @param msg   The message, without a trailing newline; borrowed for the call.
 * @param user  The pointer given to vmm_set_log_callback().
 * May be called from any thread, including vCPU threads, concurrently.
 */
typedef void (*vmm_log_fn)(int level, const char *msg, void *user);

/**
 * @brief Install (or, with @p fn NULL, remove) the process-wide log callback.
 * @param fn        Called for each message at or below @p max_level.
 * @param user      Passed to @p fn; borrowed until replaced.
 * @param max_level Most verbose enum vmm_log_level delivered.
 * @return 0, or -EINVAL if @p max_level is not a vmm_log_level.
 * Thread-safe. Waits for deliveries in progress on other threads: once it
 * returns, the previous callback is not running and will not be called
 * again, so its @p user may be freed. Must not be called from inside the
 * log callback (it would wait for itself).
 */
VMM_API int vmm_set_log_callback(vmm_log_fn fn, void *user, int max_level);

#ifdef __cplusplus
}
#endif

#endif /* VMM_ERROR_H */
