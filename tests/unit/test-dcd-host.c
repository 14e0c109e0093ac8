/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dcd-host pieces that need no QEMU: info mtree parsing, tag text,
 * decoder encodings, sticky I/O errors, and assembling a tagged
 * allocation by shared_seq.
 */
#include <string.h>

#include "dcd-host/alloc.h"
#include "dcd-host/platform.h"
#include "dcd-host/qemu-platform.h"

#define MiB (1ull << 20)

static const char mtree[] =
    "address-space: cpu-memory-0\r\n"
    "address-space: memory\r\n"
    "  0000000000000000-ffffffffffffffff (prio 0, i/o): system\r\n"
    "    0000000100000000-00000001000fffff (prio 0, i/o): cxl_host_reg\r\n"
    "      0000000100010000-000000010001ffff (prio 0, i/o): pxb-cxl-host\r\n"
    "      0000000100000000-000000010000ffff (prio 0, i/o): pxb-cxl-host\r\n"
    "    0000000110000000-000000020fffffff (prio 0, i/o): "
    "cxl-fixed-memory-region\r\n"
    "\r\n"
    "address-space: pxb-cxl\r\n"
    "  0000000000000000-ffffffffffffffff (prio 0, i/o): bus master\r\n"
    "\r\n"
    "memory-region: system\r\n"
    "    0000000310000000-000000040fffffff (prio 0, i/o): "
    "cxl-fixed-memory-region\r\n";

static void test_mtree(void)
{
    uint64_t base[4], size[4];

    /* only the system map counts, not repeats in later sections */
    g_assert_cmpuint(dcd_mtree_find(mtree, "cxl-fixed-memory-region", base,
                                    size, 4), ==, 1);
    g_assert_cmphex(base[0], ==, 0x110000000ull);
    g_assert_cmphex(size[0], ==, 0x100000000ull);
    g_assert_cmpuint(dcd_mtree_find(mtree, "pxb-cxl-host", base, NULL, 4), ==,
                     2);
    g_assert_cmphex(base[1], ==, 0x100000000ull);
    g_assert_cmpuint(dcd_mtree_find(mtree, "cxl_host", base, NULL, 4), ==, 0);
}

static void test_encodings(void)
{
    unsigned e;

    g_assert_true(dcd_hdm_enc_ways(1, &e));
    g_assert_cmpuint(e, ==, 0);
    g_assert_true(dcd_hdm_enc_ways(8, &e));
    g_assert_cmpuint(e, ==, 3);
    g_assert_false(dcd_hdm_enc_ways(3, &e));
    g_assert_true(dcd_hdm_enc_gran(256, &e));
    g_assert_cmpuint(e, ==, 0);
    g_assert_true(dcd_hdm_enc_gran(4096, &e));
    g_assert_cmpuint(e, ==, 4);
    g_assert_false(dcd_hdm_enc_gran(100, &e));
}

/* A backend whose every access fails */
static bool fail_read(DcdHostIo *io, uint64_t a, unsigned s, uint64_t *v,
                      GError **errp)
{
    g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_IO, "gone");
    return false;
}

static bool fail_write(DcdHostIo *io, uint64_t a, unsigned s, uint64_t v,
                       GError **errp)
{
    g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_IO, "gone");
    return false;
}

static void test_sticky_error(void)
{
    static const DcdHostIoOps ops = {
        .read = fail_read,
        .write = fail_write,
    };
    DcdHostIo io = { .ops = &ops };
    g_autoptr(GError) err = NULL;

    g_assert_cmphex(dcd_io_rd32(&io, 0x1000), ==, 0xffffffff);
    g_assert_true(dcd_io_failed(&io));
    /* later accesses do not reach the backend and keep the first error */
    g_assert_cmphex(dcd_io_rd16(&io, 0x1000), ==, 0xffff);
    dcd_io_wr64(&io, 0, 1);
    g_assert_false(dcd_io_check(&io, &err));
    g_assert_error(err, DCD_HOST_ERROR, DCD_HOST_ERR_IO);
    g_assert_true(dcd_io_check(&io, NULL));
}

static DcdDevExtent ext(uint64_t dpa, uint64_t len, uint8_t t, uint16_t seq)
{
    DcdDevExtent e = { .dpa = dpa, .len = len, .shared_seq = seq };

    memset(e.tag, t, 16);
    return e;
}

static void test_allocation(void)
{
    uint8_t ta[16], tb[16];
    DcdMapping map = { .hpa = 0x100000000ull, .dpa = 0, .size = 256 * MiB };
    DcdDevExtent list[] = {
        ext(40 * MiB, 2 * MiB, 0xa, 2),
        ext(10 * MiB, 4 * MiB, 0xb, 0),
        ext(0, 2 * MiB, 0xa, 0),
        ext(20 * MiB, 2 * MiB, 0xa, 1),
    };
    g_autoptr(GError) err = NULL;
    g_autoptr(DcdAllocation) a = NULL;
    uint64_t hpa, contig;

    memset(ta, 0xa, 16);
    memset(tb, 0xb, 16);
    a = dcd_allocation_build(ta, list, 4, &map, 1, &err);
    g_assert_no_error(err);
    g_assert_cmphex(a->size, ==, 6 * MiB);
    g_assert_cmpuint(a->parts->len, ==, 3);
    /* logical offset 3 MiB is 1 MiB into seq 1 (DPA 20M) */
    g_assert_true(dcd_allocation_locate(a, 3 * MiB, &hpa, &contig));
    g_assert_cmphex(hpa, ==, 0x100000000ull + 21 * MiB);
    g_assert_cmphex(contig, ==, 1 * MiB);
    g_assert_true(dcd_allocation_locate(a, 4 * MiB, &hpa, &contig));
    g_assert_cmphex(hpa, ==, 0x100000000ull + 40 * MiB);
    g_assert_false(dcd_allocation_locate(a, 6 * MiB, &hpa, &contig));

    /* a hole in the sequence is refused */
    list[3].shared_seq = 3;
    g_assert_null(dcd_allocation_build(ta, list, 4, &map, 1, &err));
    g_assert_error(err, DCD_HOST_ERROR, DCD_HOST_ERR_INVALID);
    g_clear_error(&err);

    /* no sequence at all: DPA order */
    list[0].shared_seq = list[3].shared_seq = 0;
    g_clear_pointer(&a, dcd_allocation_free);
    a = dcd_allocation_build(ta, list, 4, &map, 1, &err);
    g_assert_no_error(err);
    g_assert_true(a->seq_from_dpa);
    g_assert_cmphex(g_array_index(a->parts, DcdPart, 2).extent.dpa, ==,
                    40 * MiB);

    /* an extent outside every mapping cannot be placed */
    map.size = 16 * MiB;
    g_clear_pointer(&a, dcd_allocation_free);
    a = dcd_allocation_build(tb, list, 4, &map, 1, &err);
    g_assert_no_error(err);
    g_assert_cmphex(a->size, ==, 4 * MiB);
    map.size = 12 * MiB;
    g_assert_null(dcd_allocation_build(ta, list, 4, &map, 1, &err));
    g_assert_error(err, DCD_HOST_ERROR, DCD_HOST_ERR_NOTFOUND);
}

static char *data_file(const char *name, size_t *len)
{
    g_autofree char *path = g_build_filename(g_getenv("DCD_TEST_DATA"), name,
                                             NULL);
    char *text = NULL;

    g_assert_true(g_file_get_contents(path, &text, len, NULL));
    return text;
}

/*
 * The tables a stock kernel sees under the patched QEMU (q35, one
 * pxb-cxl at bus 23, one 4 GiB window), as captured in a guest from
 * /sys/firmware/acpi/tables: what the qtest platform reads over QMP.
 */
static void test_acpi(void)
{
    size_t clen, mlen;
    g_autofree char *cedt = data_file("q35-cxl.cedt", &clen);
    g_autofree char *mcfg = data_file("q35-cxl.mcfg", &mlen);
    g_autoptr(GError) err = NULL;
    DcdPlatform p;

    g_assert_true(dcd_platform_from_acpi(&p, cedt, clen, mcfg, mlen, &err));
    g_assert_no_error(err);
    g_assert_cmphex(p.ecam_base, ==, 0xb0000000);
    g_assert_cmpuint(p.ecam_buses, ==, 256);
    g_assert_cmpuint(p.n_chbs, ==, 1);
    g_assert_cmpuint(p.chbs_uid[0], ==, 23);
    g_assert_cmphex(p.chbs[0], ==, 0x100000000ull);
    g_assert_cmpuint(p.n_windows, ==, 1);
    g_assert_cmphex(p.windows[0].base, ==, 0x110000000ull);
    g_assert_cmphex(p.windows[0].size, ==, 4ull << 30);
    g_assert_cmpuint(p.windows[0].ways, ==, 1);
    g_assert_cmpstr(p.windows[0].targets[0], ==, "23");
    dcd_platform_clear(&p);

    /* every truncation is refused, never read past */
    for (size_t n = 0; n < clen; n++) {
        g_autoptr(GError) e = NULL;

        g_assert_false(dcd_platform_from_acpi(&p, cedt, n, mcfg, mlen, &e));
        g_assert_nonnull(e);
    }
    /* a record claiming more bytes than the table has */
    cedt[36 + 2] = 0xff;
    g_assert_false(dcd_platform_from_acpi(&p, cedt, clen, mcfg, mlen, NULL));
    cedt[36 + 2] = 32;
    /* interleave ways the spec does not define */
    cedt[36 + 32 + 24] = 7;
    g_assert_false(dcd_platform_from_acpi(&p, cedt, clen, mcfg, mlen, NULL));
    cedt[36 + 32 + 24] = 0;
    /* a table length beyond the buffer */
    mcfg[4] = 0xff;
    g_assert_false(dcd_platform_from_acpi(&p, cedt, clen, mcfg, mlen, NULL));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/dcd-host/mtree", test_mtree);
    g_test_add_func("/dcd-host/encodings", test_encodings);
    g_test_add_func("/dcd-host/sticky-error", test_sticky_error);
    g_test_add_func("/dcd-host/allocation", test_allocation);
    g_test_add_func("/dcd-host/acpi", test_acpi);
    return g_test_run();
}
