/* The sorted range map behind the PIO/MMIO spaces and the memory map. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/range_map.h"

static int owner_a, owner_b;

static void test_adjacent_ranges_do_not_overlap(void **state)
{
    (void)state;
    struct vmm_range_map m = { 0 };
    assert_int_equal(vmm_range_map_insert(&m, 0x100, 0x10, &owner_a, NULL), 0);
    assert_int_equal(vmm_range_map_insert(&m, 0x110, 0x10, &owner_b, NULL), 0);
    assert_int_equal(vmm_range_map_insert(&m, 0xf0, 0x10, &owner_b, NULL), 0);
    assert_ptr_equal(vmm_range_map_find(&m, 0x10f)->owner, &owner_a);
    assert_ptr_equal(vmm_range_map_find(&m, 0x110)->owner, &owner_b);
    assert_ptr_equal(vmm_range_map_find(&m, 0xff)->owner, &owner_b);
    assert_null(vmm_range_map_find(&m, 0x120));
    assert_null(vmm_range_map_find(&m, 0xef));
    assert_int_equal(m.count, 3);
    vmm_range_map_free(&m);
}

static void test_overlaps_are_refused_with_the_conflict(void **state)
{
    (void)state;
    struct vmm_range_map m = { 0 };
    const struct vmm_range *hit = NULL;
    assert_int_equal(vmm_range_map_insert(&m, 0x1000, 0x1000, &owner_a, NULL), 0);
    /* Same start, inside, straddling either end, enclosing. */
    const uint64_t cases[][2] = { { 0x1000, 1 },  { 0x1800, 0x10 }, { 0xfff, 2 },
                                  { 0x1fff, 0x10 }, { 0x0, 0x10000 } };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hit = NULL;
        assert_int_equal(vmm_range_map_insert(&m, cases[i][0], cases[i][1], &owner_b, &hit),
                         -EBUSY);
        assert_non_null(hit);
        assert_ptr_equal(hit->owner, &owner_a);
    }
    assert_int_equal(m.count, 1);
    vmm_range_map_free(&m);
}

static void test_zero_length_and_wraparound_are_invalid(void **state)
{
    (void)state;
    struct vmm_range_map m = { 0 };
    assert_int_equal(vmm_range_map_insert(&m, 0x10, 0, &owner_a, NULL), -EINVAL);
    assert_int_equal(vmm_range_map_insert(&m, UINT64_MAX, 2, &owner_a, NULL), -EINVAL);
    assert_int_equal(vmm_range_map_insert(&m, 2, UINT64_MAX, &owner_a, NULL), -EINVAL);
    /* Ending exactly at 2^64 is fine. */
    assert_int_equal(vmm_range_map_insert(&m, UINT64_MAX - 0xfff, 0x1000, &owner_a, NULL), 0);
    assert_ptr_equal(vmm_range_map_find(&m, UINT64_MAX)->owner, &owner_a);
    /* A span running past 2^64 is never "inside". */
    assert_null(vmm_range_map_find_span(&m, UINT64_MAX - 0xf, 0x20));
    assert_non_null(vmm_range_map_find_span(&m, UINT64_MAX - 0xf, 0x10));
    assert_null(vmm_range_map_find_span(&m, UINT64_MAX, UINT64_MAX));
    assert_int_equal(m.count, 1);
    vmm_range_map_free(&m);
}

static void test_whole_address_space_range(void **state)
{
    (void)state;
    struct vmm_range_map m = { 0 };
    /* len 2^64 - 1 starting at 0 is the largest expressible. */
    assert_int_equal(vmm_range_map_insert(&m, 0, UINT64_MAX, &owner_a, NULL), 0);
    assert_non_null(vmm_range_map_find(&m, UINT64_MAX - 1));
    assert_null(vmm_range_map_find(&m, UINT64_MAX));
    assert_int_equal(vmm_range_map_insert(&m, UINT64_MAX, 1, &owner_b, NULL), 0);
    assert_ptr_equal(vmm_range_map_find(&m, UINT64_MAX)->owner, &owner_b);
    vmm_range_map_free(&m);
}

static void test_span_must_stay_inside_one_range(void **state)
{
    (void)state;
    struct vmm_range_map m = { 0 };
    assert_int_equal(vmm_range_map_insert(&m, 0x1000, 0x1000, &owner_a, NULL), 0);
    assert_int_equal(vmm_range_map_insert(&m, 0x2000, 0x1000, &owner_b, NULL), 0);
    assert_non_null(vmm_range_map_find_span(&m, 0x1000, 0x1000));
    assert_non_null(vmm_range_map_find_span(&m, 0x1fff, 1));
    assert_non_null(vmm_range_map_find_span(&m, 0x1fff, 0));
    /* Crossing into the adjacent range is refused even though both exist. */
    assert_null(vmm_range_map_find_span(&m, 0x1fff, 2));
    assert_null(vmm_range_map_find_span(&m, 0x1000, 0x2000));
    assert_null(vmm_range_map_find_span(&m, 0x3000, 0));
    assert_null(vmm_range_map_find_span(&m, 0x1800, UINT64_MAX));
    vmm_range_map_free(&m);
}

static void test_remove_by_base_and_owner(void **state)
{
    (void)state;
    struct vmm_range_map m = { 0 };
    void *got = NULL;
    assert_int_equal(vmm_range_map_insert(&m, 0x10, 4, &owner_a, NULL), 0);
    assert_int_equal(vmm_range_map_insert(&m, 0x20, 4, &owner_b, NULL), 0);
    assert_int_equal(vmm_range_map_insert(&m, 0x30, 4, &owner_a, NULL), 0);
    assert_int_equal(vmm_range_map_remove(&m, 0x11, NULL, NULL), -ENOENT);
    assert_int_equal(vmm_range_map_remove(&m, 0x20, &owner_a, NULL), -ENOENT);
    assert_int_equal(vmm_range_map_remove(&m, 0x20, &owner_b, &got), 0);
    assert_ptr_equal(got, &owner_b);
    assert_null(vmm_range_map_find(&m, 0x21));
    assert_int_equal(vmm_range_map_remove_owner(&m, &owner_a), 2);
    assert_int_equal(m.count, 0);
    /* Freed space can be claimed again. */
    assert_int_equal(vmm_range_map_insert(&m, 0x10, 0x30, &owner_b, NULL), 0);
    vmm_range_map_free(&m);
}

static void test_ten_thousand_ranges(void **state)
{
    (void)state;
    struct vmm_range_map m = { 0 };
    /* Insert in a scrambled order (7919 is prime, so i*7919 mod N visits all). */
    const uint64_t n = 10000;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t k = (i * 7919) % n;
        assert_int_equal(vmm_range_map_insert(&m, k * 0x100, 0x80, (void *)(uintptr_t)(k + 1),
                                              NULL), 0);
    }
    assert_int_equal(m.count, n);
    for (uint64_t k = 0; k < n; k++) {
        assert_int_equal((uintptr_t)vmm_range_map_find(&m, k * 0x100 + 0x7f)->owner, k + 1);
        assert_null(vmm_range_map_find(&m, k * 0x100 + 0x80));
    }
    for (size_t i = 1; i < m.count; i++)
        assert_true(m.ranges[i - 1].base < m.ranges[i].base);
    assert_int_equal(vmm_range_map_insert(&m, 5000 * 0x100 + 0x7f, 2, &owner_a, NULL), -EBUSY);
    vmm_range_map_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adjacent_ranges_do_not_overlap),
        cmocka_unit_test(test_overlaps_are_refused_with_the_conflict),
        cmocka_unit_test(test_zero_length_and_wraparound_are_invalid),
        cmocka_unit_test(test_whole_address_space_range),
        cmocka_unit_test(test_span_must_stay_inside_one_range),
        cmocka_unit_test(test_remove_by_base_and_owner),
        cmocka_unit_test(test_ten_thousand_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
