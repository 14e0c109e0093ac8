/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Upstream QEMU behaviour of a classic Dynamic Capacity Device (one
 * volatile-dc-memdev behind all regions), driven the way a DCD-capable
 * kernel would: DC events, Add DC Response, extent list, decoders,
 * accesses through the fixed window, release.
 */
#include <string.h>

#include "harness.h"

static TQemu *start_classic(unsigned regions)
{
    TQemuOpts o = {
        .dc_regions = regions,
        .dc_memdev_size = regions * 256 * MiB,
    };

    return tqemu_start(&o);
}

/* Map all of region r at the start of window 0. */
static void map_region(TQemu *q, unsigned r, DcdMapping *map)
{
    g_autoptr(GError) err = NULL;
    const DcdRegion *reg = &q->md->dc.region[r];

    g_assert_true(dcd_memdev_map(q->md, 0, q->plat.windows[0].base,
                                 reg->base, reg->decode_len, map, &err));
    g_assert_no_error(err);
}

static void test_bringup(void)
{
    TQemu *q = start_classic(2);
    DcdConfig *c = &q->md->dc;
    DcdDecoder d;

    /* what Identify and Get DC Config must say about this device */
    g_assert_cmphex(q->md->pci->class_code, ==, CXL_MEMDEV_CLASS);
    g_assert_cmpstr(q->md->id.fw_revision, !=, "");
    g_assert_cmpuint(q->md->id.total_capacity, ==, 0);
    g_assert_cmpuint(q->md->id.dc_event_log_size, >, 0);
    g_assert_cmpuint(c->n_regions, ==, 2);
    for (unsigned i = 0; i < 2; i++) {
        g_assert_cmphex(c->region[i].base, ==, i * 256 * MiB);
        g_assert_cmphex(c->region[i].len, ==, 256 * MiB);
        g_assert_cmphex(c->region[i].decode_len, ==, 256 * MiB);
        g_assert_cmphex(c->region[i].block_size, ==, 2 * MiB);
    }
    g_assert_cmpuint(c->extents_available, ==, c->extents_supported);

    /* one host bridge, one window, nothing committed yet */
    g_assert_cmpuint(q->plat.n_chbs, ==, 1);
    g_assert_cmpuint(q->plat.n_windows, ==, 1);
    g_assert_cmphex(q->plat.windows[0].size, ==, 4 * GiB);
    g_assert_cmpstr(q->plat.windows[0].targets[0], ==, "cxl.1");
    g_assert_cmpuint(dcd_hdm_count(q->io, q->host->hb_hdm[0]), >=, 1);
    dcd_hdm_read(q->io, q->md->hdm, 0, &d);
    g_assert_false(d.committed);
    g_assert_cmpuint(q->plat.n_root_buses, ==, 2);
    g_assert_cmpuint(q->md->pci->root_bus, ==, 23);
    /* bus 24 behind the root port, BARs placed and decoding */
    g_assert_cmpuint(DCD_BDF_BUS(q->md->pci->bdf), ==, 24);
    g_assert_cmphex(q->md->pci->bar[0], !=, 0);
    tqemu_stop(q);
}

/* Without root bus numbers from QEMU, probing finds the same machine. */
static void test_bringup_probe(void)
{
    TQemuOpts o = {
        .dc_memdev_size = 256 * MiB,
        .probe_root_buses = true,
    };
    TQemu *q = tqemu_start(&o);

    g_assert_cmpuint(q->plat.n_root_buses, ==, 0);
    g_assert_cmpuint(q->md->pci->root_bus, ==, 23);
    g_assert_cmpuint(DCD_BDF_BUS(q->md->pci->bdf), ==, 24);
    g_assert_cmpuint(q->md->dc.n_regions, ==, 1);
    tqemu_stop(q);
}

static void test_round_trip(void)
{
    TQemu *q = start_classic(2);
    uint64_t ol[] = { 4 * MiB, 2 * MiB };
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) g = NULL, list = NULL, after = NULL;
    g_autofree uint8_t *out = g_malloc(2 * MiB);
    g_autofree uint8_t *in = g_malloc(2 * MiB);
    g_autofree uint8_t *file = g_malloc(2 * MiB);
    DcdDevExtent ext;
    DcdMapping map;
    uint32_t gen0, gen1, gen2;
    uint64_t hpa, dpa;

    g_autoptr(GArray) none = textents(q, &gen0);
    g_assert_cmpuint(none->len, ==, 0);

    /* region 1: DPA is the region base plus the offset */
    tqmp_ok(q, "cxl-add-dynamic-capacity", tadd_args(1, NULL, ol, 1));
    g = tgroup(q, 1, DCD_EV_ADD);
    ext = g_array_index(g, DcdEvent, 0).extent;
    dpa = q->md->dc.region[1].base + 4 * MiB;
    g_assert_cmphex(ext.dpa, ==, dpa);
    g_assert_cmphex(ext.len, ==, 2 * MiB);
    g_assert_true(dcd_tag_is_null((const DcdTag *)ext.tag));
    g_assert_cmpuint(ext.shared_seq, ==, 0);

    /* nothing is usable before the host accepts */
    list = textents(q, NULL);
    g_assert_cmpuint(list->len, ==, 0);
    g_assert_true(dcd_add_response(&q->md->mbox, &ext, 1, &err));
    g_assert_no_error(err);
    g_array_unref(list);
    list = textents(q, &gen1);
    g_assert_cmpuint(list->len, ==, 1);
    g_assert_cmphex(g_array_index(list, DcdDevExtent, 0).dpa, ==, dpa);
    g_assert_cmphex(g_array_index(list, DcdDevExtent, 0).len, ==, 2 * MiB);
    /*
     * QEMU 10.2.2 reports a generation number but never changes it
     * (ext_list_gen_seq is only read), so it is not asserted to move.
     */
    g_test_message("generation %u -> %u", gen0, gen1);

    /* commit decoders for region 1 and use the extent through the window */
    map_region(q, 1, &map);
    g_assert_true(dcd_mapping_hpa(&map, dpa, 2 * MiB, &hpa));
    tpattern(out, 2 * MiB, 1);
    dcd_io_write(q->io, hpa, out, 2 * MiB);
    dcd_io_read(q->io, hpa, in, 2 * MiB);
    g_assert_true(dcd_io_check(q->io, &err));
    g_assert_cmpmem(in, 2 * MiB, out, 2 * MiB);
    /* the bytes are in the memdev, at the DPA */
    tfile_read(q->dc_file, dpa, file, 2 * MiB);
    g_assert_cmpmem(file, 2 * MiB, out, 2 * MiB);
    /* single register-sized accesses take the same path */
    dcd_io_wr64(q->io, hpa + 8, 0x0123456789abcdefull);
    g_assert_cmphex(dcd_io_rd64(q->io, hpa + 8), ==, 0x0123456789abcdefull);
    g_assert_cmphex(dcd_io_rd32(q->io, hpa + 12), ==, 0x01234567);

    /* release: QMP asks, the host gives it back with 4803h */
    tqmp_ok(q, "cxl-release-dynamic-capacity",
            trelease_args("prescriptive", 1, NULL, ol, 1));
    g_array_unref(g);
    g = tgroup(q, 1, DCD_EV_RELEASE);
    g_assert_cmphex(g_array_index(g, DcdEvent, 0).extent.dpa, ==, dpa);
    g_assert_true(dcd_release(&q->md->mbox, &ext, 1, &err));
    g_assert_no_error(err);
    after = textents(q, &gen2);
    g_assert_cmpuint(after->len, ==, 0);
    g_test_message("generation after release %u", gen2);

    /* released twice is refused by the device */
    g_assert_false(dcd_release(&q->md->mbox, &ext, 1, &err));
    g_assert_error(err, DCD_HOST_ERROR, DCD_HOST_ERR_MBOX);
    g_assert_cmpuint(q->md->mbox.last_rc, ==, CXL_MBOX_INVALID_PA);

    g_assert_true(dcd_mapping_unmap(&map, NULL));
    tqemu_stop(q);
}

static void test_group_partial_accept(void)
{
    TQemu *q = start_classic(1);
    uint64_t ol[] = { 0, 2 * MiB, 8 * MiB, 4 * MiB, 32 * MiB, 2 * MiB };
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) g = NULL, list = NULL;
    DcdDevExtent take[2];

    tqmp_ok(q, "cxl-add-dynamic-capacity", tadd_args(0, NULL, ol, 3));
    /* one group of three records chained by More */
    g = tgroup(q, 3, DCD_EV_ADD);
    for (unsigned i = 0; i < 3; i++) {
        g_assert_cmphex(g_array_index(g, DcdEvent, i).extent.dpa, ==,
                        ol[2 * i]);
    }
    /* accept the first and the last: the device drops the middle one */
    take[0] = g_array_index(g, DcdEvent, 0).extent;
    take[1] = g_array_index(g, DcdEvent, 2).extent;
    g_assert_true(dcd_add_response(&q->md->mbox, take, 2, &err));
    g_assert_no_error(err);
    list = textents(q, NULL);
    g_assert_cmpuint(list->len, ==, 2);
    g_assert_cmphex(g_array_index(list, DcdDevExtent, 0).dpa, ==, 0);
    g_assert_cmphex(g_array_index(list, DcdDevExtent, 1).dpa, ==, 32 * MiB);

    /* the group is gone: another response has nothing to answer */
    g_assert_false(dcd_add_response(&q->md->mbox, NULL, 0, &err));
    g_assert_cmpuint(q->md->mbox.last_rc, ==, CXL_MBOX_INVALID_INPUT);
    tqemu_stop(q);
}

static void test_reject(void)
{
    TQemu *q = start_classic(1);
    uint64_t ol[] = { 16 * MiB, 2 * MiB };
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) g = NULL, list = NULL, g2 = NULL;
    DcdDevExtent wrong = { .dpa = 64 * MiB, .len = 2 * MiB };

    tqmp_ok(q, "cxl-add-dynamic-capacity", tadd_args(0, NULL, ol, 1));
    g = tgroup(q, 1, DCD_EV_ADD);
    /* accepting what was not offered is refused, the offer stays */
    g_assert_false(dcd_add_response(&q->md->mbox, &wrong, 1, &err));
    g_assert_cmpuint(q->md->mbox.last_rc, ==, CXL_MBOX_INVALID_PA);
    g_clear_error(&err);
    /* an empty response rejects the whole group */
    g_assert_true(dcd_add_response(&q->md->mbox, NULL, 0, &err));
    g_assert_no_error(err);
    list = textents(q, NULL);
    g_assert_cmpuint(list->len, ==, 0);
    /* the same range may be offered again */
    tqmp_ok(q, "cxl-add-dynamic-capacity", tadd_args(0, NULL, ol, 1));
    g2 = tgroup(q, 1, DCD_EV_ADD);
    tqemu_stop(q);
}

static void test_more_than_four(void)
{
    TQemu *q = start_classic(1);
    uint64_t ol[12];
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) g = NULL, list = NULL;
    g_autofree DcdDevExtent *ext = g_new0(DcdDevExtent, 6);
    DcdMapping map;

    /* six extents, each 2 MiB, 2 MiB apart */
    for (unsigned i = 0; i < 6; i++) {
        ol[2 * i] = i * 4 * MiB;
        ol[2 * i + 1] = 2 * MiB;
    }
    tqmp_ok(q, "cxl-add-dynamic-capacity", tadd_args(0, NULL, ol, 6));
    g = tgroup(q, 6, DCD_EV_ADD);
    for (unsigned i = 0; i < 6; i++) {
        ext[i] = g_array_index(g, DcdEvent, i).extent;
    }
    g_assert_true(dcd_add_response(&q->md->mbox, ext, 6, &err));
    g_assert_no_error(err);
    list = textents(q, NULL);
    g_assert_cmpuint(list->len, ==, 6);

    map_region(q, 0, &map);
    /* every extent keeps its own bytes */
    for (unsigned i = 0; i < 6; i++) {
        uint64_t hpa;

        g_assert_true(dcd_mapping_hpa(&map, ext[i].dpa, 8, &hpa));
        dcd_io_wr64(q->io, hpa, 0xdc0000 + i);
    }
    for (unsigned i = 0; i < 6; i++) {
        uint64_t hpa, v;

        dcd_mapping_hpa(&map, ext[i].dpa, 8, &hpa);
        v = dcd_io_rd64(q->io, hpa);
        g_assert_cmphex(v, ==, 0xdc0000 + i);
        tfile_read(q->dc_file, ext[i].dpa, &v, 8);
        g_assert_cmphex(GUINT64_FROM_LE(v), ==, 0xdc0000 + i);
    }
    /* release in another order than accepted */
    for (int i = 5; i >= 0; i -= 2) {
        g_assert_true(dcd_release(&q->md->mbox, &ext[i], 1, &err));
        g_assert_no_error(err);
    }
    g_array_unref(list);
    list = textents(q, NULL);
    g_assert_cmpuint(list->len, ==, 3);
    for (unsigned i = 0; i < 3; i++) {
        g_assert_cmphex(g_array_index(list, DcdDevExtent, i).dpa % (8 * MiB), ==,
                        0);
    }
    tqemu_stop(q);
}

/*
 * More extents than one Get DC Extent List reply holds (50 in a 2 KiB
 * payload): the driver pages through them, in device order.  Groups
 * stay at 8 records, the size of QEMU's DC event log.
 */
static void test_extent_list_pages(void)
{
    TQemu *q = start_classic(1);
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) list = NULL;
    unsigned n = 0;

    for (unsigned grp = 0; grp < 8; grp++) {
        uint64_t ol[16];
        g_autoptr(GArray) g = NULL;
        DcdDevExtent ext[8];

        for (unsigned i = 0; i < 8; i++) {
            ol[2 * i] = (grp * 8 + i) * 2 * MiB;
            ol[2 * i + 1] = 2 * MiB;
        }
        tqmp_ok(q, "cxl-add-dynamic-capacity", tadd_args(0, NULL, ol, 8));
        g = tgroup(q, 8, DCD_EV_ADD);
        for (unsigned i = 0; i < 8; i++) {
            ext[i] = g_array_index(g, DcdEvent, i).extent;
        }
        g_assert_true(dcd_add_response(&q->md->mbox, ext, 8, &err));
        g_assert_no_error(err);
        n += 8;
    }
    list = textents(q, NULL);
    g_assert_cmpuint(list->len, ==, n);
    for (unsigned i = 0; i < n; i++) {
        g_assert_cmphex(g_array_index(list, DcdDevExtent, i).dpa, ==,
                        i * 2 * MiB);
    }
    tqemu_stop(q);
}

/* Bad QMP input: a clear error, no event, no extent. */
static void test_qmp_errors(void)
{
    TQemu *q = start_classic(1);
    static const struct {
        unsigned region;
        uint64_t ol[4];
        unsigned n;
        const char *want;
    } bad[] = {
        { 1, { 0, 2 * MiB }, 1, "region id is too large" },
        { 0, { 1 * MiB, 2 * MiB }, 1, "not aligned" },
        { 0, { 0, 3 * MiB }, 1, "not aligned" },
        { 0, { 0, 0 }, 1, "0 length" },
        { 0, { 254 * MiB, 4 * MiB }, 1, "beyond the region end" },
        { 0, { 0, 4 * MiB, 2 * MiB, 2 * MiB }, 2, "overlapped" },
    };
    g_autoptr(GArray) g = NULL, list = NULL, pend = NULL;
    uint64_t ok[] = { 0, 2 * MiB };
    char *desc;

    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        desc = tqmp_fail(q, "cxl-add-dynamic-capacity",
                         tadd_args(bad[i].region, NULL, bad[i].ol, bad[i].n));
        g_test_message("refused: %s", desc);
        g_assert_nonnull(strstr(desc, bad[i].want));
        g_free(desc);
    }
    desc = tqmp_fail(q, "cxl-add-dynamic-capacity",
        dcd_qmp_args("s:path", "/machine/peripheral/nothing",
                     "i:host-id", (gint64)0, "s:selection-policy",
                     "prescriptive", "i:region", (gint64)0,
                     "n:extents", dcd_qmp_extent_list(ok, 1), NULL));
    g_assert_nonnull(strstr(desc, "Unable to resolve"));
    g_free(desc);
    desc = tqmp_fail(q, "cxl-add-dynamic-capacity",
        dcd_qmp_args("s:path", DCD_PATH, "i:host-id", (gint64)0,
                     "s:selection-policy", "free", "i:region", (gint64)0,
                     "n:extents", dcd_qmp_extent_list(ok, 1), NULL));
    g_assert_nonnull(strstr(desc, "not supported"));
    g_free(desc);
    /* releasing what was never added */
    desc = tqmp_fail(q, "cxl-release-dynamic-capacity",
                     trelease_args("prescriptive", 0, NULL, ok, 1));
    g_assert_nonnull(strstr(desc, "non-existing"));
    g_free(desc);

    /* none of that reached the host */
    g = tgroup(q, 0, DCD_EV_ADD);
    list = textents(q, NULL);
    g_assert_cmpuint(list->len, ==, 0);

    /* adding a range twice while the first is pending */
    tqmp_ok(q, "cxl-add-dynamic-capacity", tadd_args(0, NULL, ok, 1));
    desc = tqmp_fail(q, "cxl-add-dynamic-capacity", tadd_args(0, NULL, ok, 1));
    g_assert_nonnull(strstr(desc, "pending"));
    g_free(desc);
    pend = tgroup(q, 1, DCD_EV_ADD);
    tqemu_stop(q);
}

/* Mailbox-level refusals the driver must report. */
static void test_mailbox_errors(void)
{
    TQemu *q = start_classic(1);
    g_autoptr(GError) err = NULL;
    uint16_t bogus = 0x7777;
    DcdDevExtent outside = { .dpa = 1 * GiB, .len = 2 * MiB };
    uint64_t ol[] = { 0, 2 * MiB };
    g_autoptr(GArray) g = NULL;

    /* clearing a handle that is not the oldest record is refused */
    tqmp_ok(q, "cxl-add-dynamic-capacity", tadd_args(0, NULL, ol, 1));
    g_assert_false(dcd_clear_events(&q->md->mbox, CXL_EVENT_LOG_DC, &bogus,
                                    1, &err));
    g_assert_error(err, DCD_HOST_ERROR, DCD_HOST_ERR_MBOX);
    g_assert_cmpuint(q->md->mbox.last_rc, ==, CXL_MBOX_INVALID_INPUT);
    g_clear_error(&err);
    g = tgroup(q, 1, DCD_EV_ADD);
    g_assert_true(dcd_add_response(&q->md->mbox, NULL, 0, &err));
    g_assert_no_error(err);
    /* no pending group: nothing to respond to */
    g_assert_false(dcd_add_response(&q->md->mbox, &outside, 1, &err));
    g_assert_error(err, DCD_HOST_ERROR, DCD_HOST_ERR_MBOX);
    g_clear_error(&err);
    g_assert_false(dcd_release(&q->md->mbox, &outside, 1, &err));
    g_assert_error(err, DCD_HOST_ERROR, DCD_HOST_ERR_MBOX);
    g_assert_nonnull(strstr(err->message, "4803h"));
    tqemu_stop(q);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tqemu_require_binary();
    g_test_add_func("/upstream/bringup", test_bringup);
    g_test_add_func("/upstream/bringup-probe", test_bringup_probe);
    g_test_add_func("/upstream/round-trip", test_round_trip);
    g_test_add_func("/upstream/group-partial-accept",
                    test_group_partial_accept);
    g_test_add_func("/upstream/reject", test_reject);
    g_test_add_func("/upstream/more-than-four", test_more_than_four);
    g_test_add_func("/upstream/extent-list-pages", test_extent_list_pages);
    g_test_add_func("/upstream/qmp-errors", test_qmp_errors);
    g_test_add_func("/upstream/mailbox-errors", test_mailbox_errors);
    return g_test_run();
}
