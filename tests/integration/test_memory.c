/* Guest memory backed by caller memory and by a memfd: the guest runs from
 * it and host and guest see the same bytes. */
#include "harness.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static uint8_t guest_image[4096];
static size_t guest_image_len;

static void read_guest(const char *name)
{
    FILE *f = fopen(h_guest_path(name), "rb");
    assert_non_null(f);
    guest_image_len = fread(guest_image, 1, sizeof guest_image, f);
    fclose(f);
    assert_true(guest_image_len > 0);
}

static void run_hello64_and_check(vmm_vm *vm, const uint8_t *ram)
{
    h_setup_vcpu(h_vcpu(vm, 0), VMM_CPU_MODE_LONG, 0);
    struct vmm_sregs sr;
    H_OK(vmm_vcpu_get_sregs(h_vcpu(vm, 0), &sr));
    struct h_dev *con = h_pio_dev(vm, "console", GUEST_CONSOLE_PORT, 1);
    struct h_dev *io = h_pio_dev(vm, "wide-io", GUEST_IO_PORT, 8);
    struct h_dev *str = h_pio_dev(vm, "string-io", GUEST_INSB_PORT, 2);
    for (int i = 0; i < GUEST_INSB_COUNT; i++)
        str->regs[0] = 0x5c;           /* every insb reads 0x5c */
    h_run_to_hlt(h_vcpu(vm, 0));
    assert_string_equal(con->text, "Hello from long mode\nrep outsb in long mode\n");
    /* the guest's REP INSB landed in the host's view of the same memory */
    for (int i = 0; i < GUEST_INSB_COUNT; i++)
        assert_int_equal(ram[GUEST_INSB_BUF + i], 0x5c);
    /* and the library wrote its page tables there too (PML4[0] present) */
    uint64_t pml4e;
    assert_in_range(sr.cr3, H_TABLES_GPA, H_RAM_SIZE - 8);
    memcpy(&pml4e, ram + sr.cr3, 8);
    assert_true(pml4e & 1);
    vmm_vm_destroy(vm);
    h_dev_free(con);
    h_dev_free(io);
    h_dev_free(str);
}

static void test_host_memory(void **state)
{
    (void)state;
    h_require_kvm();
    read_guest("hello64");
    uint8_t *ram = mmap(NULL, H_RAM_SIZE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(ram != MAP_FAILED);
    memcpy(ram + GUEST_LOAD_GPA, guest_image, guest_image_len);
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    vmm_vm *vm = NULL;
    H_OK(vmm_vm_create(&cfg, &vm));
    H_OK(vmm_memory_add_host(vm, 0, ram, H_RAM_SIZE, 0));
    void *hva = NULL;
    H_OK(vmm_memory_translate(vm, 0x1234, 16, &hva));
    assert_ptr_equal(hva, ram + 0x1234);
    run_hello64_and_check(vm, ram);
    /* the VM is gone; the caller still owns (and can use) its memory */
    ram[0] = 1;
    munmap(ram, H_RAM_SIZE);
}

static void test_fd_memory(void **state)
{
    (void)state;
    h_require_kvm();
    read_guest("hello64");
    int fd = memfd_create("itest-ram", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, H_RAM_SIZE + 0x1000), 0);
    uint8_t *view = mmap(NULL, H_RAM_SIZE + 0x1000, PROT_READ | PROT_WRITE,
                         MAP_SHARED, fd, 0);
    assert_true(view != MAP_FAILED);
    /* guest RAM starts at file offset 0x1000 */
    uint8_t *ram = view + 0x1000;
    memcpy(ram + GUEST_LOAD_GPA, guest_image, guest_image_len);
    struct vmm_vm_config cfg = VMM_VM_CONFIG_INIT;
    vmm_vm *vm = NULL;
    void *hva = NULL;
    H_OK(vmm_vm_create(&cfg, &vm));
    H_OK(vmm_memory_add_fd(vm, 0, H_RAM_SIZE, fd, 0x1000, 0, &hva));
    close(fd);                          /* borrowed for the call only */
    /* writes through either mapping are seen by the other */
    H_OK(vmm_memory_write(vm, 0x90000, "abc", 3));
    assert_memory_equal(ram + 0x90000, "abc", 3);
    memcpy(ram + 0x90010, "xyz", 3);
    char back[3];
    H_OK(vmm_memory_read(vm, 0x90010, back, 3));
    assert_memory_equal(back, "xyz", 3);
    run_hello64_and_check(vm, ram);
    munmap(view, H_RAM_SIZE + 0x1000);
}

static void test_remove_and_readd(void **state)
{
    (void)state;
    h_require_kvm();
    vmm_vm *vm = h_guest_vm("hello16", VMM_CPU_MODE_REAL, 0, 1);
    H_OK(vmm_memory_remove(vm, 0));
    uint8_t b;
    H_EXPECT_ERR(-EFAULT, vmm_memory_read(vm, GUEST_LOAD_GPA, &b, 1));
    void *hva = NULL;
    H_OK(vmm_memory_add_ram(vm, 0, H_RAM_SIZE, 0, &hva));
    /* fresh RAM is zero-filled */
    assert_int_equal(((uint8_t *)hva)[GUEST_LOAD_GPA], 0);
    h_load(vm, "hello16");
    struct h_dev *con = h_pio_dev(vm, "console", GUEST_CONSOLE_PORT, 1);
    h_run_to_hlt(h_vcpu(vm, 0));
    assert_string_equal(con->text, "Hello from real mode\n");
    vmm_vm_destroy(vm);
    h_dev_free(con);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_memory),
        cmocka_unit_test(test_fd_memory),
        cmocka_unit_test(test_remove_and_readd),
    };
    return cmocka_run_group_tests_name("memory", tests, NULL, NULL);
}
