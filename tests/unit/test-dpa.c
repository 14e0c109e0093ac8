/* SPDX-License-Identifier: GPL-2.0-or-later */
/* DPA space: alignment, bounds, first-fit across bitmap word boundaries. */
#include "core/dpa.h"

#define MB (1ull << 20)

static void test_valid(void)
{
    DcdSpace s;

    dcd_space_init(&s, 256 * MB, 64 * MB, 2 * MB, true);
    g_assert_true(dcd_space_valid(&s, 256 * MB, 64 * MB));
    g_assert_true(dcd_space_valid(&s, 318 * MB, 2 * MB));
    g_assert_false(dcd_space_valid(&s, 318 * MB, 4 * MB));  /* past end */
    g_assert_false(dcd_space_valid(&s, 254 * MB, 2 * MB));  /* before base */
    g_assert_false(dcd_space_valid(&s, 257 * MB, 2 * MB));  /* misaligned */
    g_assert_false(dcd_space_valid(&s, 256 * MB, 3 * MB));
    g_assert_false(dcd_space_valid(&s, 256 * MB, 0));
    g_assert_false(dcd_space_valid(&s, UINT64_MAX - MB, 2 * MB));
    dcd_space_fini(&s);
}

static void test_take_put(void)
{
    DcdSpace s;
    uint64_t dpa;

    dcd_space_init(&s, 0, 200 * 2 * MB, 2 * MB, false); /* 200 blocks */
    dcd_space_take(&s, 0, 63 * 2 * MB);
    g_assert_true(dcd_space_is_free(&s, 63 * 2 * MB, 2 * MB));
    g_assert_false(dcd_space_is_free(&s, 62 * 2 * MB, 4 * MB));
    g_assert_true(dcd_space_find_contig(&s, 2 * MB, &dpa));
    g_assert_cmpuint(dpa, ==, 63 * 2 * MB);
    dcd_space_take(&s, 64 * 2 * MB, 2 * MB); /* hole of one block at 63 */
    g_assert_true(dcd_space_find_contig(&s, 4 * MB, &dpa));
    g_assert_cmpuint(dpa, ==, 65 * 2 * MB);
    g_assert_cmpuint(s.nfree, ==, 200 - 64);
    dcd_space_put(&s, 0, 63 * 2 * MB);
    g_assert_true(dcd_space_find_contig(&s, 126 * MB, &dpa));
    g_assert_cmpuint(dpa, ==, 0);
    g_assert_false(dcd_space_find_contig(&s, 400 * MB, &dpa));
    dcd_space_fini(&s);
}

static void test_find_free(void)
{
    g_autoptr(GArray) out = g_array_new(FALSE, FALSE, sizeof(DcdDpaRange));
    DcdSpace s;

    dcd_space_init(&s, 0, 10 * 2 * MB, 2 * MB, false);
    dcd_space_take(&s, 2 * MB, 2 * MB);      /* used: block 1 */
    dcd_space_take(&s, 6 * MB, 4 * MB);      /* used: blocks 3, 4 */
    g_assert_true(dcd_space_find_free(&s, 8 * MB, out));
    g_assert_cmpuint(out->len, ==, 3);
    g_assert_cmpuint(g_array_index(out, DcdDpaRange, 0).dpa, ==, 0);
    g_assert_cmpuint(g_array_index(out, DcdDpaRange, 0).len, ==, 2 * MB);
    g_assert_cmpuint(g_array_index(out, DcdDpaRange, 1).dpa, ==, 4 * MB);
    g_assert_cmpuint(g_array_index(out, DcdDpaRange, 2).dpa, ==, 10 * MB);
    g_assert_cmpuint(g_array_index(out, DcdDpaRange, 2).len, ==, 4 * MB);
    g_array_set_size(out, 0);
    g_assert_false(dcd_space_find_free(&s, 16 * MB, out)); /* 14M free */
    g_assert_cmpuint(out->len, ==, 0);
    dcd_space_fini(&s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/dpa/valid", test_valid);
    g_test_add_func("/dpa/take-put", test_take_put);
    g_test_add_func("/dpa/find-free", test_find_free);
    return g_test_run();
}
