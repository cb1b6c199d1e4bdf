/* Guest memory translation: the one check every guest-supplied address
 * passes through. First the internal lookup over a fake map, then the
 * public API on a real VM (no guest runs). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "memory/memory.h"
#include <vmm/vmm.h>

static uint8_t backing[3][4096];

static void add_fake(struct vmm_memory *mem, struct vmm_region *r, uint64_t gpa, uint64_t size,
                     uint8_t *hva)
{
    *r = (struct vmm_region){ .gpa = gpa, .size = size, .hva = hva, .host_writable = true };
    assert_int_equal(vmm_range_map_insert(&mem->map, gpa, size, r, NULL), 0);
}

static void test_translation_is_bounded_by_one_region(void **state)
{
    (void)state;
    struct vmm_memory mem = { 0 };
    struct vmm_region r[3];
    add_fake(&mem, &r[0], 0x0, 4096, backing[0]);
    add_fake(&mem, &r[1], 0x1000, 4096, backing[1]); /* adjacent */
    add_fake(&mem, &r[2], UINT64_MAX - 4095, 4096, backing[2]);

    assert_ptr_equal(vmm_memory_hva(&mem, 0, 4096), backing[0]);
    assert_ptr_equal(vmm_memory_hva(&mem, 0xfff, 1), backing[0] + 0xfff);
    assert_ptr_equal(vmm_memory_hva(&mem, 0x1000, 0), backing[1]);
    /* Adjacent regions are separate host buffers: no span may cross. */
    assert_null(vmm_memory_hva(&mem, 0xfff, 2));
    assert_null(vmm_memory_hva(&mem, 0x2000, 1));
    assert_null(vmm_memory_hva(&mem, 0x2000, 0));
    /* The last page of the address space, and spans that would wrap. */
    assert_ptr_equal(vmm_memory_hva(&mem, UINT64_MAX, 1), backing[2] + 4095);
    assert_null(vmm_memory_hva(&mem, UINT64_MAX, 2));
    assert_null(vmm_memory_hva(&mem, UINT64_MAX - 4095, UINT64_MAX));
    assert_null(vmm_memory_hva(&mem, 0x800, UINT64_MAX - 0x7ff));
    vmm_range_map_free(&mem.map);
}

static int kvm_available(void)
{
    return access("/dev/kvm", R_OK | W_OK) == 0;
}

static void test_public_memory_api_checks(void **state)
{
    (void)state;
    if (!kvm_available()) {
        print_message("skipped: /dev/kvm is not accessible, so no VM can be created\n");
        skip();
    }
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    vmm_vm *vm;
    assert_int_equal(vmm_vm_create(&cfg, &vm), 0);
    void *hva = NULL;
    assert_int_equal(vmm_memory_add_ram(vm, 0x10000, 0x4000, 0, &hva), 0);
    assert_non_null(hva);

    /* Alignment, size, flags, wrap and overlap. */
    assert_int_equal(vmm_memory_add_ram(vm, 0x20001, 0x1000, 0, NULL), -EINVAL);
    assert_int_equal(vmm_memory_add_ram(vm, 0x20000, 0x1001, 0, NULL), -EINVAL);
    assert_int_equal(vmm_memory_add_ram(vm, 0x20000, 0, 0, NULL), -EINVAL);
    assert_int_equal(vmm_memory_add_ram(vm, 0x20000, 0x1000, 0x80, NULL), -EINVAL);
    assert_int_equal(vmm_memory_add_ram(vm, UINT64_MAX - 0xfff, 0x2000, 0, NULL), -EINVAL);
    assert_int_equal(vmm_memory_add_ram(vm, 0xf000, 0x2000, 0, NULL), -EEXIST);
    assert_non_null(strstr(vmm_last_error(), "overlaps"));
    assert_int_equal(vmm_memory_add_ram(vm, 0x13000, 0x1000, 0, NULL), -EEXIST);
    assert_int_equal(vmm_memory_add_ram(vm, 0x0, 0x100000, 0, NULL), -EEXIST);
    assert_int_equal(vmm_memory_add_host(vm, 0x20000, (void *)0x1234, 0x1000, 0), -EINVAL);
    assert_int_equal(vmm_memory_add_fd(vm, 0x20000, 0x1000, -1, 0, 0, NULL), -EBADF);

    /* Translation and copies stay inside the region. */
    void *p = NULL;
    assert_int_equal(vmm_memory_translate(vm, 0x13fff, 1, &p), 0);
    assert_ptr_equal(p, (uint8_t *)hva + 0x3fff);
    assert_int_equal(vmm_memory_translate(vm, 0x13fff, 2, &p), -EFAULT);
    assert_int_equal(vmm_memory_translate(vm, 0xffff, 2, &p), -EFAULT);
    assert_int_equal(vmm_memory_translate(vm, 0x10000, UINT64_MAX, &p), -EFAULT);
    assert_int_equal(vmm_memory_translate(vm, 0x10000, 1, NULL), -EINVAL);
    uint8_t buf[16] = { 1, 2, 3 };
    assert_int_equal(vmm_memory_write(vm, 0x13ff0, buf, sizeof(buf)), 0);
    assert_int_equal(vmm_memory_write(vm, 0x13ff1, buf, sizeof(buf)), -EFAULT);
    assert_non_null(strstr(vmm_last_error(), "not wholly inside"));
    memset(buf, 0, sizeof(buf));
    assert_int_equal(vmm_memory_read(vm, 0x13ff0, buf, sizeof(buf)), 0);
    assert_int_equal(buf[2], 3);
    assert_int_equal(vmm_memory_read(vm, UINT64_MAX, buf, 2), -EFAULT);

    /* Remove only by exact start; the space is then free again. */
    assert_int_equal(vmm_memory_remove(vm, 0x11000), -ENOENT);
    assert_int_equal(vmm_memory_remove(vm, 0x10000), 0);
    assert_int_equal(vmm_memory_translate(vm, 0x10000, 1, &p), -EFAULT);
    assert_int_equal(vmm_memory_add_ram(vm, 0x10000, 0x1000, 0, NULL), 0);
    vmm_vm_destroy(vm);
}

static void test_fd_backed_and_readonly_mapping(void **state)
{
    (void)state;
    if (!kvm_available()) {
        print_message("skipped: /dev/kvm is not accessible, so no VM can be created\n");
        skip();
    }
    int fd = memfd_create("vmm-test", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 0x2000), 0);
    assert_int_equal(pwrite(fd, "rom!", 4, 0x1000), 4);
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    vmm_vm *vm;
    assert_int_equal(vmm_vm_create(&cfg, &vm), 0);
    void *hva;
    assert_int_equal(vmm_memory_add_fd(vm, 0x100000, 0x1000, fd, 0x1000, 0, &hva), 0);
    assert_memory_equal(hva, "rom!", 4);
    /* The guest-visible bytes are the file's bytes (MAP_SHARED). */
    assert_int_equal(vmm_memory_write(vm, 0x100000, "RAM!", 4), 0);
    char back[4];
    assert_int_equal(pread(fd, back, 4, 0x1000), 4);
    assert_memory_equal(back, "RAM!", 4);
    if (vmm_has_feature(VMM_FEATURE_READONLY_MEMORY) == 1) {
        assert_int_equal(vmm_memory_add_fd(vm, 0x200000, 0x1000, fd, 0, VMM_MEM_READONLY, NULL),
                         0);
        /* A read-only file mapping cannot be written by the host either. */
        assert_int_equal(vmm_memory_write(vm, 0x200000, "x", 1), -EACCES);
    }
    close(fd); /* the mapping keeps the file alive */
    assert_int_equal(vmm_memory_read(vm, 0x100000, back, 4), 0);
    assert_memory_equal(back, "RAM!", 4);
    vmm_vm_destroy(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_translation_is_bounded_by_one_region),
        cmocka_unit_test(test_public_memory_api_checks),
        cmocka_unit_test(test_fd_backed_and_readonly_mapping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
