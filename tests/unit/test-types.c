/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-types.c - canonical names, sizes and tags.
 */
#include <string.h>

#include "dcd/types.h"

static void test_names(void)
{
    for (unsigned p = 0; p < DCD_POLICY__MAX; p++) {
        DcdPolicy back;

        g_assert_true(dcd_policy_parse(dcd_policy_name(p), &back));
        g_assert_cmpuint(back, ==, p);
    }
    for (unsigned r = 0; r < DCD_REMOVAL__MAX; r++) {
        DcdRemoval back;

        g_assert_true(dcd_removal_parse(dcd_removal_name(r), &back));
        g_assert_cmpuint(back, ==, r);
    }
    for (unsigned b = DCD_BACKING_MEMFD; b < DCD_BACKING__MAX; b++) {
        DcdBacking back;

        g_assert_true(dcd_backing_parse(dcd_backing_name(b), &back));
        g_assert_cmpuint(back, ==, b);
    }
    for (unsigned e = 0; e < DCD_ERR__MAX; e++) {
        g_assert_cmpuint(dcd_err_parse(dcd_err_name(e)), ==, e);
    }
    g_assert_cmpstr(dcd_policy_name(DCD_POLICY_ENABLE_SHARED), ==,
                    "enable-shared-access");
    g_assert_cmpstr(dcd_removal_name(DCD_REMOVAL_TAG), ==, "tag-based");
    g_assert_cmpstr(dcd_err_name(DCD_ERR_NOSPC), ==, "nospc");
    g_assert_cmpstr(dcd_extent_state_name(DCD_EXTENT_RELEASING), ==,
                    "releasing");
    g_assert_cmpstr(dcd_policy_name(DCD_POLICY__MAX), ==, "unknown");
    g_assert_cmpstr(dcd_backing_name(0), ==, "unknown");
    g_assert_false(dcd_policy_parse("Free", &(DcdPolicy){ 0 }));
    g_assert_false(dcd_backing_parse(NULL, &(DcdBacking){ 0 }));
    g_assert_cmpuint(dcd_err_parse("nonsense"), ==, DCD_ERR_INVAL);
}

static void test_size_parse(void)
{
    static const struct {
        const char *s;
        uint64_t v;
    } good[] = {
        { "0", 0 }, { "4096", 4096 }, { "4K", 4096 }, { "2M", 2 << 20 },
        { "2m", 2 << 20 }, { "4G", 4ull << 30 }, { "1T", 1ull << 40 },
        { "256MiB", 256 << 20 }, { "1KB", 1024 }, { "0x1000", 4096 },
        { "16777215T", 16777215ull << 40 },
        { "010M", 10 << 20 }, { "0010", 10 }, { "0x10M", 16 << 20 },
        { "0XfF", 255 },
    };
    static const char *const bad[] = {
        "", "K", "-1", "4X", "4K4", " 4", "4 K", "16777216T", "0x", "0xG",
        "0x-1", "1x10", "08.5",
        "99999999999999999999", "1.5G",
    };
    uint64_t v;

    for (unsigned i = 0; i < G_N_ELEMENTS(good); i++) {
        v = 12345;
        g_assert_true(dcd_size_parse(good[i].s, &v));
        g_assert_cmpuint(v, ==, good[i].v);
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        v = 12345;
        if (dcd_size_parse(bad[i], &v)) {
            g_error("\"%s\" parsed as %" G_GUINT64_FORMAT, bad[i], v);
        }
        g_assert_cmpuint(v, ==, 12345);
    }
    g_assert_false(dcd_size_parse(NULL, &v));
}

static void test_size_format(void)
{
    char buf[32];
    uint64_t back;

    g_assert_cmpstr(dcd_size_format(1000, buf, sizeof(buf)), ==, "1000");
    g_assert_cmpstr(dcd_size_format(4096, buf, sizeof(buf)), ==, "4K");
    g_assert_cmpstr(dcd_size_format(256 << 20, buf, sizeof(buf)), ==, "256M");
    g_assert_cmpstr(dcd_size_format(3ull << 29, buf, sizeof(buf)), ==, "1.5G");
    g_assert_cmpstr(dcd_size_format(2ull << 40, buf, sizeof(buf)), ==, "2T");
    g_assert_cmpstr(dcd_size_format(2048ull << 40, buf, sizeof(buf)), ==,
                    "2048T");
    /* Whole units round trip through the parser. */
    for (unsigned shift = 10; shift <= 40; shift += 10) {
        dcd_size_format(7ull << shift, buf, sizeof(buf));
        g_assert_true(dcd_size_parse(buf, &back));
        g_assert_cmpuint(back, ==, 7ull << shift);
    }
}

static void test_tag(void)
{
    const char *s = "5be13bce-ae34-4a77-b6c3-16df975fcf1a";
    char out[DCD_TAG_STR_LEN];
    DcdTag t, u, zero = { { 0 } };

    g_assert_true(dcd_tag_parse(s, &t));
    g_assert_cmpuint(t.b[0], ==, 0x5b);
    g_assert_cmpuint(t.b[15], ==, 0x1a);
    dcd_tag_unparse(&t, out);
    g_assert_cmpstr(out, ==, s);
    g_assert_true(dcd_tag_parse("5BE13BCE-AE34-4A77-B6C3-16DF975FCF1A", &u));
    g_assert_true(dcd_tag_equal(&t, &u));
    g_assert_false(dcd_tag_is_null(&t));
    g_assert_true(dcd_tag_is_null(&zero));
    g_assert_false(dcd_tag_parse("5be13bce-ae34-4a77-b6c3-16df975fcf1", &u));
    g_assert_false(dcd_tag_parse("5be13bce-ae34-4a77-b6c3-16df975fcf1az",
                                 &u));
    g_assert_false(dcd_tag_parse("5be13bceXae34-4a77-b6c3-16df975fcf1a", &u));
    g_assert_false(dcd_tag_parse(NULL, &u));
    dcd_tag_generate(&u);
    g_assert_false(dcd_tag_is_null(&u));
    g_assert_false(dcd_tag_equal(&t, &u));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/types/names", test_names);
    g_test_add_func("/types/size-parse", test_size_parse);
    g_test_add_func("/types/size-format", test_size_format);
    g_test_add_func("/types/tag", test_tag);
    return g_test_run();
}
