/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tagged dynamic capacity: a device with dc-regions-total-size and no
 * volatile-dc-memdev, whose extents are backed by memory backends found
 * by tag.  Each test names the patches of the QEMU series it needs and
 * fails (or skips with DCD_QEMU_ALLOW_MISSING=1) without them.
 */
#include <string.h>

#include "harness.h"

#define TAG_A "5be13bce-ae34-4a77-b6c3-16df975fcf1a"
#define TAG_B "0f7c54f0-4a37-4a43-9d0b-8c2b5a3b7e11"
#define TAG_NONE "11111111-2222-4333-8444-555555555555"

static bool need_tagged(void)
{
    const TFeatures *f = tfeatures();

    return trequire(f->tag, "memory backend tags") &&
           trequire(f->total_size, "dc-regions-total-size");
}

static TQemu *start_tagged(void)
{
    TQemuOpts o = { .dc_regions = 1, .dc_total_size = 1 * GiB };

    return tqemu_start(&o);
}

/* Decoders for all of region 0 at the window's start. */
static void map_all(TQemu *q, DcdMapping *map)
{
    g_autoptr(GError) err = NULL;

    g_assert_true(dcd_memdev_map(q->md, 0, q->plat.windows[0].base,
                                 q->md->dc.region[0].base,
                                 q->md->dc.region[0].decode_len, map, &err));
    g_assert_no_error(err);
}

/* Add with tag, see the group, accept it all; returns the extents. */
static GArray *add_accept(TQemu *q, const char *tag, const uint64_t *ol,
                          const uint16_t *seq, unsigned n)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) g = NULL;
    GArray *ext = g_array_new(FALSE, TRUE, sizeof(DcdDevExtent));
    uint8_t want[16];

    g_assert_true(dcd_tag_parse(tag, (DcdTag *)want));
    tqmp_ok(q, "cxl-add-dynamic-capacity",
            dcd_qmp_args("s:path", DCD_PATH, "i:host-id", (gint64)0,
                         "s:selection-policy", "prescriptive",
                         "i:region", (gint64)0, "s:tag", tag,
                         "n:extents", dcd_qmp_extent_list_seq(ol, seq, n),
                         NULL));
    g = tgroup(q, n, DCD_EV_ADD);
    for (unsigned i = 0; i < n; i++) {
        DcdDevExtent *e = &g_array_index(g, DcdEvent, i).extent;

        /* the event carries the tag */
        g_assert_cmpmem(e->tag, 16, want, 16);
        g_array_append_val(ext, *e);
    }
    g_assert_true(dcd_add_response(&q->md->mbox, (DcdDevExtent *)ext->data, n,
                                   &err));
    g_assert_no_error(err);
    return ext;
}

/* Tag round trip through the slow or fast path, bytes in the file. */
static void test_round_trip(void)
{
    TQemu *q;
    g_autofree char *file = NULL;
    g_autoptr(GArray) ext = NULL, list = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(DcdAllocation) a = NULL;
    uint64_t ol[] = { 64 * MiB, 8 * MiB };
    g_autofree uint8_t *out = g_malloc(8 * MiB), *in = g_malloc(8 * MiB);
    g_autofree uint8_t *disk = g_malloc(8 * MiB);
    DcdMapping map;
    uint8_t tag[16];

    if (!need_tagged()) {
        return;
    }
    q = start_tagged();
    g_assert_cmpuint(q->md->dc.n_regions, ==, 1);
    g_assert_cmphex(q->md->dc.region[0].len, ==, 1 * GiB);
    file = tbackend(q, "tm0", TAG_A, 8 * MiB);
    ext = add_accept(q, TAG_A, ol, NULL, 1);

    list = textents(q, NULL);
    g_assert_cmpuint(list->len, ==, 1);
    g_assert_true(dcd_tag_parse(TAG_A, (DcdTag *)tag));
    g_assert_cmpmem(g_array_index(list, DcdDevExtent, 0).tag, 16, tag, 16);
    g_assert_cmphex(g_array_index(list, DcdDevExtent, 0).dpa, ==, 64 * MiB);

    map_all(q, &map);
    a = dcd_allocation_build(tag, (DcdDevExtent *)list->data, list->len, &map, 1,
                             &err);
    g_assert_no_error(err);
    g_assert_cmphex(a->size, ==, 8 * MiB);
    tpattern(out, 8 * MiB, 7);
    g_assert_true(dcd_allocation_write(a, q->io, 0, out, 8 * MiB, &err));
    g_assert_true(dcd_allocation_read(a, q->io, 0, in, 8 * MiB, &err));
    g_assert_no_error(err);
    g_assert_cmpmem(in, 8 * MiB, out, 8 * MiB);
    /* the extent maps whole onto the backend: DPA 64M is file offset 0 */
    tfile_read(file, 0, disk, 8 * MiB);
    g_assert_cmpmem(disk, 8 * MiB, out, 8 * MiB);

    if (tfeatures()->query) {
        g_autoptr(JsonNode) ql = tquery(q);
        JsonObject *o = tquery_at(ql, 64 * MiB);

        g_assert_nonnull(o);
        g_assert_cmpstr(json_object_get_string_member(o, "state"), ==,
                        "accepted");
        g_assert_cmpstr(json_object_get_string_member(o, "tag"), ==, TAG_A);
        g_assert_cmpstr(json_object_get_string_member(o, "backing"), ==,
                        "tm0");
    }
    tqemu_stop(q);
}

/* Committed decoder over a whole extent: the alias is in the window. */
static void test_fast_path(void)
{
    TQemu *q;
    g_autofree char *file = NULL;
    g_autoptr(GArray) ext = NULL;
    g_autoptr(JsonNode) before = NULL, after = NULL, unmapped = NULL;
    uint64_t ol[] = { 4 * MiB, 4 * MiB };
    DcdMapping map;
    uint64_t hpa, v;

    if (!need_tagged() ||
        !trequire(tfeatures()->query, "cxl-query-dynamic-capacity") ||
        !trequire(tfeatures()->direct, "direct aliases")) {
        return;
    }
    q = start_tagged();
    file = tbackend(q, "tm0", TAG_A, 4 * MiB);
    ext = add_accept(q, TAG_A, ol, NULL, 1);

    /* accepted, but no decoder yet: nothing to alias */
    before = tquery(q);
    g_assert_cmpstr(json_object_get_string_member(tquery_at(before, 4 * MiB),
                                                  "mapping"), ==, "mmio");
    g_assert_false(talias(q, 4 * MiB));

    map_all(q, &map);
    after = tquery(q);
    g_assert_cmpstr(json_object_get_string_member(tquery_at(after, 4 * MiB),
                                                  "mapping"), ==, "direct");
    g_assert_true(talias(q, 4 * MiB));
    g_assert_true(dcd_mapping_hpa(&map, 4 * MiB + 4096, 8, &hpa));
    dcd_io_wr64(q->io, hpa, 0xfa57fa57fa57fa57ull);
    tfile_read(file, 4096, &v, 8);
    g_assert_cmphex(GUINT64_FROM_LE(v), ==, 0xfa57fa57fa57fa57ull);
    g_assert_cmphex(dcd_io_rd64(q->io, hpa), ==, 0xfa57fa57fa57fa57ull);

    /* uncommitting the decoders takes the alias away */
    g_assert_true(dcd_mapping_unmap(&map, NULL));
    unmapped = tquery(q);
    g_assert_cmpstr(json_object_get_string_member(
        tquery_at(unmapped, 4 * MiB), "mapping"), !=, "direct");
    g_assert_false(talias(q, 4 * MiB));
    tqemu_stop(q);
}

/*
 * Slow path: no decoder holds the whole extent (it straddles two device
 * decoders placed 512 MiB apart in the window), so there is no alias,
 * yet both halves reach the backend through the emulated window.
 * Without any committed decoder the window does not route at all:
 * writes are dropped; that is shown first.
 */
static void test_slow_path(void)
{
    TQemu *q;
    g_autofree char *file = NULL;
    g_autoptr(GArray) ext = NULL;
    g_autoptr(GError) err = NULL;
    uint64_t ol[] = { 252 * MiB, 8 * MiB };
    uint64_t w, lo_hpa, hi_hpa, v;
    DcdMapping m0, m1;

    if (!need_tagged()) {
        return;
    }
    q = start_tagged();
    w = q->plat.windows[0].base;
    file = tbackend(q, "tm0", TAG_A, 8 * MiB);
    ext = add_accept(q, TAG_A, ol, NULL, 1);

    /* no decoder: the window routes nowhere */
    dcd_io_wr64(q->io, w + 252 * MiB, 0x5555);
    tfile_read(file, 0, &v, 8);
    g_assert_cmphex(v, ==, 0);

    g_assert_true(dcd_memdev_map(q->md, 0, w, 0, 256 * MiB, &m0, &err));
    g_assert_true(dcd_memdev_map(q->md, 0, w + 512 * MiB, 256 * MiB,
                                 256 * MiB, &m1, &err));
    g_assert_no_error(err);
    if (tfeatures()->query) {
        g_autoptr(JsonNode) ql = tquery(q);

        g_assert_cmpstr(json_object_get_string_member(
            tquery_at(ql, 252 * MiB), "mapping"), ==, "mmio");
    }
    if (tfeatures()->direct) {
        g_assert_false(talias(q, 252 * MiB));
    }
    /* first half through decoder 0, second half through decoder 1 */
    g_assert_true(dcd_mapping_hpa(&m0, 252 * MiB, 8, &lo_hpa));
    g_assert_true(dcd_mapping_hpa(&m1, 256 * MiB + 8, 8, &hi_hpa));
    g_assert_cmphex(hi_hpa, ==, w + 512 * MiB + 8);
    dcd_io_wr64(q->io, lo_hpa, 0x10101010deadbeefull);
    dcd_io_wr64(q->io, hi_hpa, 0x20202020cafef00dull);
    g_assert_true(dcd_io_check(q->io, &err));
    tfile_read(file, 0, &v, 8);
    g_assert_cmphex(GUINT64_FROM_LE(v), ==, 0x10101010deadbeefull);
    tfile_read(file, 4 * MiB + 8, &v, 8);
    g_assert_cmphex(GUINT64_FROM_LE(v), ==, 0x20202020cafef00dull);
    g_assert_cmphex(dcd_io_rd64(q->io, lo_hpa), ==, 0x10101010deadbeefull);
    g_assert_cmphex(dcd_io_rd64(q->io, hi_hpa), ==, 0x20202020cafef00dull);
    tqemu_stop(q);
}

/*
 * Two tags, three extents each (six accepted at once), extents of the
 * tags interleaved in DPA, accepted in reverse, released B before A and
 * each tag's extents in another order again.
 */
static void test_two_tags(void)
{
    TQemu *q;
    g_autofree char *fa = NULL, *fb = NULL;
    uint64_t ola[] = { 0, 2 * MiB, 8 * MiB, 2 * MiB, 16 * MiB, 2 * MiB };
    uint64_t olb[] = { 4 * MiB, 2 * MiB, 12 * MiB, 2 * MiB, 20 * MiB, 2 * MiB };
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) ga = NULL, gb = NULL, list = NULL;
    DcdDevExtent rev[3];
    DcdMapping map;
    uint8_t ta[16], tb[16];
    g_autofree uint8_t *pa = g_malloc(6 * MiB), *pb = g_malloc(6 * MiB);
    g_autofree uint8_t *disk = g_malloc(6 * MiB);

    if (!need_tagged()) {
        return;
    }
    q = start_tagged();
    dcd_tag_parse(TAG_A, (DcdTag *)ta);
    dcd_tag_parse(TAG_B, (DcdTag *)tb);
    fa = tbackend(q, "tma", TAG_A, 6 * MiB);
    fb = tbackend(q, "tmb", TAG_B, 6 * MiB);

    /* two pending groups; the host answers them in order */
    tqmp_ok(q, "cxl-add-dynamic-capacity", tadd_args(0, TAG_A, ola, 3));
    tqmp_ok(q, "cxl-add-dynamic-capacity", tadd_args(0, TAG_B, olb, 3));
    ga = tgroup(q, 3, DCD_EV_ADD);
    gb = tgroup(q, 3, DCD_EV_ADD);
    for (unsigned i = 0; i < 3; i++) {
        rev[i] = g_array_index(ga, DcdEvent, 2 - i).extent;
    }
    g_assert_true(dcd_add_response(&q->md->mbox, rev, 3, &err));
    for (unsigned i = 0; i < 3; i++) {
        rev[i] = g_array_index(gb, DcdEvent, (i + 1) % 3).extent;
    }
    g_assert_true(dcd_add_response(&q->md->mbox, rev, 3, &err));
    g_assert_no_error(err);
    list = textents(q, NULL);
    g_assert_cmpuint(list->len, ==, 6);

    map_all(q, &map);
    {
        g_autoptr(DcdAllocation) a = dcd_allocation_build(
            ta, (DcdDevExtent *)list->data, list->len, &map, 1, &err);
        g_autoptr(DcdAllocation) b = dcd_allocation_build(
            tb, (DcdDevExtent *)list->data, list->len, &map, 1, &err);

        g_assert_no_error(err);
        g_assert_cmphex(a->size, ==, 6 * MiB);
        g_assert_cmphex(b->size, ==, 6 * MiB);
        tpattern(pa, 6 * MiB, 0xa);
        tpattern(pb, 6 * MiB, 0xb);
        g_assert_true(dcd_allocation_write(a, q->io, 0, pa, 6 * MiB, &err));
        g_assert_true(dcd_allocation_write(b, q->io, 0, pb, 6 * MiB, &err));
        g_assert_no_error(err);
    }
    /* each backend holds its tag's bytes in logical order */
    tfile_read(fa, 0, disk, 6 * MiB);
    g_assert_cmpmem(disk, 6 * MiB, pa, 6 * MiB);
    tfile_read(fb, 0, disk, 6 * MiB);
    g_assert_cmpmem(disk, 6 * MiB, pb, 6 * MiB);

    /* release B first, middle extent first; then A from the front */
    for (unsigned i = 0; i < 3; i++) {
        DcdDevExtent e = g_array_index(gb, DcdEvent, (i + 1) % 3).extent;

        g_assert_true(dcd_release(&q->md->mbox, &e, 1, &err));
        g_assert_no_error(err);
        if (tfeatures()->direct) {
            g_assert_false(talias(q, e.dpa));
        }
    }
    g_array_unref(list);
    list = textents(q, NULL);
    g_assert_cmpuint(list->len, ==, 3);
    for (unsigned i = 0; i < 3; i++) {
        g_assert_cmpmem(g_array_index(list, DcdDevExtent, i).tag, 16, ta, 16);
    }
    /* B's memory is free again: it can go */
    tqmp_ok(q, "object-del", dcd_qmp_args("s:id", "tmb", NULL));
    for (unsigned i = 0; i < 3; i++) {
        DcdDevExtent e = g_array_index(ga, DcdEvent, i).extent;

        g_assert_true(dcd_release(&q->md->mbox, &e, 1, &err));
        g_assert_no_error(err);
    }
    g_array_unref(list);
    list = textents(q, NULL);
    g_assert_cmpuint(list->len, ==, 0);
    tqmp_ok(q, "object-del", dcd_qmp_args("s:id", "tma", NULL));
    tqemu_stop(q);
}

/* Tag-based release: QMP asks for every extent of the tag. */
static void test_release_by_tag(void)
{
    TQemu *q;
    g_autofree char *file = NULL;
    uint64_t ol[] = { 0, 2 * MiB, 32 * MiB, 2 * MiB };
    g_autoptr(GArray) ext = NULL, rel = NULL, list = NULL;
    g_autoptr(GError) err = NULL;
    DcdMapping map;
    uint8_t tag[16];

    if (!need_tagged() ||
        !trequire(tfeatures()->tag_release, "tag-based release")) {
        return;
    }
    q = start_tagged();
    dcd_tag_parse(TAG_A, (DcdTag *)tag);
    file = tbackend(q, "tm0", TAG_A, 4 * MiB);
    ext = add_accept(q, TAG_A, ol, NULL, 2);
    map_all(q, &map);
    if (tfeatures()->direct) {
        g_assert_true(talias(q, 0));
        g_assert_true(talias(q, 32 * MiB));
    }

    tqmp_ok(q, "cxl-release-dynamic-capacity",
            trelease_args("tag-based", 0, TAG_A, NULL, 0));
    rel = tgroup(q, 2, DCD_EV_RELEASE);
    for (unsigned i = 0; i < 2; i++) {
        g_assert_cmpmem(g_array_index(rel, DcdEvent, i).extent.tag, 16, tag,
                        16);
    }
    /* the host gives back exactly what was asked for */
    for (unsigned i = 0; i < 2; i++) {
        DcdDevExtent e = g_array_index(rel, DcdEvent, i).extent;

        g_assert_true(dcd_release(&q->md->mbox, &e, 1, &err));
        g_assert_no_error(err);
    }
    list = textents(q, NULL);
    g_assert_cmpuint(list->len, ==, 0);
    if (tfeatures()->direct) {
        g_assert_false(talias(q, 0));
        g_assert_false(talias(q, 32 * MiB));
    }
    if (tfeatures()->query) {
        g_autoptr(JsonNode) ql = tquery(q);

        g_assert_cmpuint(json_array_get_length(json_node_get_array(ql)), ==,
                         0);
    }
    tqemu_stop(q);
}

/* Every refusal leaves the device as it was: no event, same extents. */
static void assert_unchanged(TQemu *q, unsigned accepted)
{
    g_autoptr(GArray) g = tgroup(q, 0, DCD_EV_ADD);
    g_autoptr(GArray) list = textents(q, NULL);

    g_assert_cmpuint(list->len, ==, accepted);
}

static void expect_refusal(TQemu *q, const char *cmd, JsonNode *args,
                           const char *want, unsigned accepted)
{
    g_autofree char *desc = tqmp_fail(q, cmd, args);

    g_test_message("refused: %s", desc);
    g_assert_nonnull(strstr(desc, want));
    assert_unchanged(q, accepted);
}

static void test_bad_input(void)
{
    TQemu *q;
    g_autofree char *f0 = NULL, *f1 = NULL;
    g_autoptr(GArray) ext = NULL;
    g_autoptr(GError) err = NULL;
    uint64_t ok[] = { 0, 4 * MiB };
    uint64_t half[] = { 0, 2 * MiB };
    uint64_t other[] = { 64 * MiB, 4 * MiB };
    uint64_t mis[] = { 1 * MiB, 4 * MiB };
    uint64_t over[] = { 0, 4 * MiB, 2 * MiB, 2 * MiB };
    uint64_t beyond[] = { 1 * GiB - 2 * MiB, 4 * MiB };
    DcdDevExtent part = { .dpa = 0, .len = 2 * MiB };
    char *desc;

    if (!need_tagged() ||
        !trequire(tfeatures()->tag_release, "tag-based release")) {
        return;
    }
    q = start_tagged();
    f0 = tbackend(q, "tm0", TAG_A, 4 * MiB);

    /* tags are unique among backends */
    desc = tqmp_fail(q, "object-add",
                     dcd_qmp_args("s:qom-type", "memory-backend-ram",
                                  "s:id", "dup", "u:size", (guint64)(4 * MiB),
                                  "s:tag", TAG_A, NULL));
    g_test_message("refused: %s", desc);
    g_assert_nonnull(strstr(desc, TAG_A));
    g_free(desc);

    expect_refusal(q, "cxl-add-dynamic-capacity",
                   tadd_args(0, "not-a-uuid", ok, 1), "not a valid UUID", 0);
    expect_refusal(q, "cxl-add-dynamic-capacity",
                   tadd_args(0, TAG_NONE, ok, 1), "no memory backend", 0);
    expect_refusal(q, "cxl-add-dynamic-capacity",
                   tadd_args(0, NULL, ok, 1), "need a tag", 0);
    expect_refusal(q, "cxl-add-dynamic-capacity",
                   tadd_args(0, TAG_A, half, 1), "add up to", 0);
    expect_refusal(q, "cxl-add-dynamic-capacity",
                   tadd_args(0, TAG_A, mis, 1), "not aligned", 0);
    expect_refusal(q, "cxl-add-dynamic-capacity",
                   tadd_args(0, TAG_A, over, 2), "overlapped", 0);
    expect_refusal(q, "cxl-add-dynamic-capacity",
                   tadd_args(0, TAG_A, beyond, 1), "beyond the region end", 0);

    /* pending, then in use: the backend cannot be offered twice */
    tqmp_ok(q, "cxl-add-dynamic-capacity", tadd_args(0, TAG_A, ok, 1));
    desc = tqmp_fail(q, "cxl-add-dynamic-capacity",
                     tadd_args(0, TAG_A, other, 1));
    g_assert_nonnull(strstr(desc, "pending"));
    g_free(desc);
    ext = tgroup(q, 1, DCD_EV_ADD);
    g_assert_true(dcd_add_response(&q->md->mbox,
                                   &g_array_index(ext, DcdEvent, 0).extent, 1,
                                   &err));
    g_assert_no_error(err);
    expect_refusal(q, "cxl-add-dynamic-capacity",
                   tadd_args(0, TAG_A, other, 1), "in use", 1);
    desc = tqmp_fail(q, "object-del", dcd_qmp_args("s:id", "tm0", NULL));
    g_test_message("refused: %s", desc);
    g_assert_nonnull(strstr(desc, "in use"));
    g_free(desc);

    /* half of a tagged extent cannot go, neither by QMP nor by 4803h */
    expect_refusal(q, "cxl-release-dynamic-capacity",
                   trelease_args("prescriptive", 0, NULL, half, 1),
                   "part of a tagged extent", 1);
    g_assert_false(dcd_release(&q->md->mbox, &part, 1, &err));
    g_assert_error(err, DCD_HOST_ERROR, DCD_HOST_ERR_MBOX);
    g_clear_error(&err);
    assert_unchanged(q, 1);
    expect_refusal(q, "cxl-release-dynamic-capacity",
                   trelease_args("tag-based", 0, TAG_NONE, NULL, 0),
                   "no accepted extent has tag", 1);
    expect_refusal(q, "cxl-release-dynamic-capacity",
                   trelease_args("tag-based", 0, "xyz", NULL, 0),
                   "not a valid UUID", 1);

    /* a second backend of the right size still works afterwards */
    f1 = tbackend(q, "tm1", TAG_B, 4 * MiB);
    g_array_unref(ext);
    ext = add_accept(q, TAG_B, other, NULL, 1);
    assert_unchanged(q, 2);
    tqemu_stop(q);
}

/* shared_seq from QMP orders the allocation, not the DPA. */
static void test_shared_seq(void)
{
    TQemu *q;
    g_autofree char *file = NULL;
    /* list (and backend) order is seq order; DPAs run backwards */
    uint64_t ol[] = { 40 * MiB, 2 * MiB, 20 * MiB, 2 * MiB, 0, 2 * MiB };
    uint16_t seq[] = { 0, 1, 2 };
    g_autoptr(GArray) ext = NULL, list = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(DcdAllocation) a = NULL;
    g_autofree uint8_t *out = g_malloc(6 * MiB), *disk = g_malloc(6 * MiB);
    DcdMapping map;
    uint8_t tag[16];

    if (!need_tagged() ||
        !trequire(tfeatures()->shared, "shared-seq")) {
        return;
    }
    q = start_tagged();
    dcd_tag_parse(TAG_A, (DcdTag *)tag);
    file = tbackend(q, "tm0", TAG_A, 6 * MiB);
    ext = add_accept(q, TAG_A, ol, seq, 3);
    for (unsigned i = 0; i < 3; i++) {
        g_assert_cmpuint(g_array_index(ext, DcdDevExtent, i).shared_seq, ==,
                         seq[i]);
    }
    list = textents(q, NULL);
    map_all(q, &map);
    a = dcd_allocation_build(tag, (DcdDevExtent *)list->data, list->len, &map, 1,
                             &err);
    g_assert_no_error(err);
    g_assert_false(a->seq_from_dpa);
    g_assert_cmphex(g_array_index(a->parts, DcdPart, 0).extent.dpa, ==,
                    40 * MiB);
    tpattern(out, 6 * MiB, 3);
    g_assert_true(dcd_allocation_write(a, q->io, 0, out, 6 * MiB, &err));
    g_assert_no_error(err);
    tfile_read(file, 0, disk, 6 * MiB);
    g_assert_cmpmem(disk, 6 * MiB, out, 6 * MiB);
    tqemu_stop(q);
}

/*
 * enable-shared-access: a second device (standing for a second host)
 * gets its own extent, at its own DPA, on memory the first already
 * uses; bytes written through one device's window range are read
 * through the other's.
 */
static void test_shared_access(void)
{
    static const char *const extra[] = {
        "-global", "cxl-type3.dc-regions-sharable=1",
        "-device", "cxl-rp,port=1,bus=cxl.1,id=rp1,chassis=0,slot=3",
        "-device", "cxl-type3,bus=rp1,id=cxl-dcd1,num-dc-regions=1,"
                   "dc-regions-total-size=1G",
        NULL
    };
    TQemuOpts o = { .dc_regions = 1, .dc_total_size = 1 * GiB,
                    .extra = extra };
    TQemu *q;
    DcdMemdev *m1;
    g_autofree char *file = NULL;
    uint64_t ol0[] = { 0, 4 * MiB }, ol1[] = { 100 * MiB, 4 * MiB };
    uint16_t seq[] = { 0 };
    g_autoptr(GArray) e0 = NULL, g1 = NULL, l0 = NULL, l1 = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(DcdAllocation) a0 = NULL, a1 = NULL;
    g_autofree uint8_t *out = g_malloc(4 * MiB), *in = g_malloc(4 * MiB);
    DcdMapping map0, map1;
    uint64_t w, v = 0x5a5a0000beefull, back;
    uint8_t tag[16];
    char *desc;

    if (!need_tagged() ||
        !trequire(tfeatures()->shared, "enable-shared-access")) {
        return;
    }
    q = tqemu_start(&o);
    m1 = dcd_driver_memdev(q->host, 1);
    g_assert_nonnull(m1);
    w = q->plat.windows[0].base;
    dcd_tag_parse(TAG_A, (DcdTag *)tag);
    file = tbackend(q, "tm0", TAG_A, 4 * MiB);

    /* nobody uses the memory yet: nothing to share */
    desc = tqmp_fail(q, "cxl-add-dynamic-capacity",
        dcd_qmp_args("s:path", "/machine/peripheral/cxl-dcd1",
                     "i:host-id", (gint64)0,
                     "s:selection-policy", "enable-shared-access",
                     "i:region", (gint64)0, "s:tag", TAG_A,
                     "n:extents", dcd_qmp_extent_list_seq(ol1, seq, 1),
                     NULL));
    g_assert_nonnull(strstr(desc, "no accepted extent"));
    g_free(desc);

    e0 = add_accept(q, TAG_A, ol0, seq, 1);
    tqmp_ok(q, "cxl-add-dynamic-capacity",
        dcd_qmp_args("s:path", "/machine/peripheral/cxl-dcd1",
                     "i:host-id", (gint64)0,
                     "s:selection-policy", "enable-shared-access",
                     "i:region", (gint64)0, "s:tag", TAG_A,
                     "n:extents", dcd_qmp_extent_list_seq(ol1, seq, 1),
                     NULL));
    g1 = dcd_next_group(&m1->mbox, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(g1->len, ==, 1);
    g_assert_cmpmem(g_array_index(g1, DcdEvent, 0).extent.tag, 16, tag, 16);
    g_assert_cmphex(g_array_index(g1, DcdEvent, 0).extent.dpa, ==,
                    100 * MiB);
    g_assert_true(dcd_add_response(&m1->mbox,
                                   &g_array_index(g1, DcdEvent, 0).extent, 1,
                                   &err));
    g_assert_no_error(err);

    /* each device in its own part of the window */
    g_assert_true(dcd_memdev_map(q->md, 0, w, 0, 1 * GiB, &map0, &err));
    g_assert_true(dcd_memdev_map(m1, 0, w + 1 * GiB, 0, 1 * GiB, &map1,
                                 &err));
    g_assert_no_error(err);
    l0 = textents(q, NULL);
    l1 = dcd_get_extents(&m1->mbox, NULL, &err);
    g_assert_no_error(err);
    a0 = dcd_allocation_build(tag, (DcdDevExtent *)l0->data, l0->len, &map0, 1,
                              &err);
    a1 = dcd_allocation_build(tag, (DcdDevExtent *)l1->data, l1->len, &map1, 1,
                              &err);
    g_assert_no_error(err);

    tpattern(out, 4 * MiB, 0x5a);
    g_assert_true(dcd_allocation_write(a0, q->io, 0, out, 4 * MiB, &err));
    g_assert_true(dcd_allocation_read(a1, q->io, 0, in, 4 * MiB, &err));
    g_assert_no_error(err);
    g_assert_cmpmem(in, 4 * MiB, out, 4 * MiB);
    g_assert_true(dcd_allocation_write(a1, q->io, 1 * MiB, &v, 8, &err));
    g_assert_true(dcd_allocation_read(a0, q->io, 1 * MiB, &back, 8, &err));
    g_assert_no_error(err);
    g_assert_cmphex(back, ==, v);
    tfile_read(file, 1 * MiB, &back, 8);
    g_assert_cmphex(back, ==, v);

    /* the second device lets go; the first still holds the memory */
    g_assert_true(dcd_release(&m1->mbox, &g_array_index(l1, DcdDevExtent, 0), 1,
                              &err));
    g_assert_no_error(err);
    desc = tqmp_fail(q, "object-del", dcd_qmp_args("s:id", "tm0", NULL));
    g_assert_nonnull(strstr(desc, "in use"));
    g_free(desc);
    g_assert_true(dcd_allocation_read(a0, q->io, 1 * MiB, &back, 8, &err));
    g_assert_cmphex(back, ==, v);
    tqemu_stop(q);
}

/*
 * A group larger than one Add DC Response holds (85 extents in the
 * 2048-byte payload): its records come through the device's event queue
 * and dcd_add_response() accepts it with chained responses, which the
 * device takes as one answer.  dcd_release() gives them back the same way,
 * with chained Release DC payloads that the device applies as one release
 * when the last comes.
 */
#define LARGE_GROUP 200

static void test_large_group(void)
{
    TQemu *q;
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) g = NULL, list = NULL;
    g_autoptr(GArray) ext = g_array_new(FALSE, TRUE, sizeof(DcdDevExtent));
    g_autofree uint64_t *ol = g_new(uint64_t, 2 * LARGE_GROUP);
    g_autofree char *file = NULL;
    bool ok;

    if (!need_tagged()) {
        return;
    }
    q = start_tagged();
    file = tbackend(q, "tm0", TAG_A, LARGE_GROUP * 2 * MiB);
    for (unsigned i = 0; i < LARGE_GROUP; i++) {
        ol[2 * i] = i * 4 * MiB;
        ol[2 * i + 1] = 2 * MiB;
    }
    tqmp_ok(q, "cxl-add-dynamic-capacity",
            dcd_qmp_args("s:path", DCD_PATH, "i:host-id", (gint64)0,
                         "s:selection-policy", "prescriptive",
                         "i:region", (gint64)0, "s:tag", TAG_A,
                         "n:extents",
                         dcd_qmp_extent_list_seq(ol, NULL, LARGE_GROUP),
                         NULL));
    g = dcd_next_group(&q->md->mbox, &err);
    if (!g || g->len != LARGE_GROUP) {
        g_test_message("group: %s", err ? err->message : "short");
        trequire(false, "DC event queue");
        tqemu_stop(q);
        return;
    }
    tgroup_check(g, LARGE_GROUP, DCD_EV_ADD);
    for (unsigned i = 0; i < LARGE_GROUP; i++) {
        DcdDevExtent *e = &g_array_index(g, DcdEvent, i).extent;

        g_assert_cmphex(e->dpa, ==, q->md->dc.region[0].base + ol[2 * i]);
        g_array_append_val(ext, *e);
    }
    ok = dcd_add_response(&q->md->mbox, (DcdDevExtent *)ext->data, ext->len,
                          &err);
    if (!ok) {
        g_test_message("chained Add DC Response: %s", err->message);
        trequire(false, "Add DC Response with More");
        tqemu_stop(q);
        return;
    }
    list = textents(q, NULL);
    g_assert_cmpuint(list->len, ==, LARGE_GROUP);
    for (unsigned i = 0; i < LARGE_GROUP; i++) {
        g_assert_cmphex(g_array_index(list, DcdDevExtent, i).len, ==, 2 * MiB);
    }
    /* nothing is left pending: a further answer has no group to go to */
    g_assert_false(dcd_add_response(&q->md->mbox, NULL, 0, &err));
    g_clear_error(&err);

    /*
     * A chained release whose last payload names a range that is not
     * accepted (the gap after the last extent) releases nothing at all
     */
    {
        DcdDevExtent bad = g_array_index(ext, DcdDevExtent, LARGE_GROUP - 1);

        bad.dpa += 2 * MiB;
        g_array_append_val(ext, bad);
    }
    g_assert_false(dcd_release(&q->md->mbox, (DcdDevExtent *)ext->data,
                               ext->len, &err));
    g_clear_error(&err);
    g_array_set_size(ext, LARGE_GROUP);
    g_clear_pointer(&list, g_array_unref);
    list = textents(q, NULL);
    if (list->len != LARGE_GROUP) {
        g_test_message("%u extents left after a refused chained release",
                       list->len);
        trequire(false, "Release DC with More");
        tqemu_stop(q);
        return;
    }
    /* Released whole with chained payloads */
    g_assert_true(dcd_release(&q->md->mbox, (DcdDevExtent *)ext->data, ext->len,
                              &err));
    g_assert_no_error(err);
    g_clear_pointer(&list, g_array_unref);
    list = textents(q, NULL);
    g_assert_cmpuint(list->len, ==, 0);
    tqemu_stop(q);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tqemu_require_binary();
    g_test_add_func("/tagged/round-trip", test_round_trip);
    g_test_add_func("/tagged/fast-path", test_fast_path);
    g_test_add_func("/tagged/slow-path", test_slow_path);
    g_test_add_func("/tagged/two-tags", test_two_tags);
    g_test_add_func("/tagged/release-by-tag", test_release_by_tag);
    g_test_add_func("/tagged/bad-input", test_bad_input);
    g_test_add_func("/tagged/shared-seq", test_shared_seq);
    g_test_add_func("/tagged/shared-access", test_shared_access);
    g_test_add_func("/tagged/large-group", test_large_group);
    return g_test_run();
}
