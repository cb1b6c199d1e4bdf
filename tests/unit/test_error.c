/* Error strings, the thread-local last error, and the log callback. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <vmm/vmm.h>

static void test_strerror_names_codes(void **state)
{
    (void)state;
    assert_string_equal(vmm_strerror(0), "Success");
    assert_string_equal(vmm_strerror(-EINVAL), "Invalid argument");
    assert_string_equal(vmm_strerror(EINVAL), "Invalid argument");
    assert_string_equal(vmm_strerror(-EBUSY), "Device or resource busy");
    assert_non_null(vmm_strerror(-100000));
    assert_non_null(vmm_strerror(INT32_MIN + 1));
    assert_non_null(strstr(vmm_strerror(VMM_UNHANDLED), "Unhandled"));
}

static void *other_thread(void *arg)
{
    (void)arg;
    /* A fresh thread has no error, whatever other threads did. */
    return (void *)(uintptr_t)(vmm_last_error()[0] == '\0');
}

static void test_last_error_is_thread_local(void **state)
{
    (void)state;
    assert_int_equal(vmm_vm_get_vcpu(NULL, 0, NULL), -EINVAL);
    assert_non_null(strstr(vmm_last_error(), "vmm_vm_get_vcpu"));
    pthread_t t;
    void *clean = NULL;
    assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
    pthread_join(t, &clean);
    assert_true((uintptr_t)clean);
    assert_non_null(strstr(vmm_last_error(), "vmm_vm_get_vcpu"));
}

struct log_capture {
    int calls;
    int level;
    char msg[256];
};

static void capture(int level, const char *msg, void *user)
{
    struct log_capture *c = user;
    c->calls++;
    c->level = level;
    snprintf(c->msg, sizeof(c->msg), "%s", msg);
}

static void test_log_callback_receives_errors(void **state)
{
    (void)state;
    struct log_capture c = { 0 };
    assert_int_equal(vmm_set_log_callback(capture, &c, 7), -EINVAL);
    assert_int_equal(vmm_set_log_callback(capture, &c, VMM_LOG_ERROR), 0);
    assert_int_equal(vmm_memory_read(NULL, 0, NULL, 0), -EINVAL);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.level, VMM_LOG_ERROR);
    assert_string_equal(c.msg, vmm_last_error());
    assert_int_equal(vmm_set_log_callback(NULL, NULL, VMM_LOG_ERROR), 0);
    assert_int_equal(vmm_memory_read(NULL, 0, NULL, 0), -EINVAL);
    assert_int_equal(c.calls, 1);
}

static void test_names_and_version(void **state)
{
    (void)state;
    assert_string_equal(vmm_exit_reason_name(VMM_EXIT_HLT), "hlt");
    assert_string_equal(vmm_exit_reason_name(VMM_EXIT_DEVICE_ERROR), "device-error");
    assert_string_equal(vmm_exit_reason_name(12345), "invalid");
    assert_int_equal(vmm_version(), VMM_VERSION_NUMBER);
    char expect[32];
    snprintf(expect, sizeof(expect), "%d.%d.%d", VMM_VERSION_MAJOR, VMM_VERSION_MINOR,
             VMM_VERSION_PATCH);
    assert_string_equal(vmm_version_string(), expect);
    assert_int_equal(vmm_has_feature(0xdead), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_names_codes),
        cmocka_unit_test(test_last_error_is_thread_local),
        cmocka_unit_test(test_log_callback_receives_errors),
        cmocka_unit_test(test_names_and_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
