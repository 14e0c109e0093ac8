/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-guest-files.c - dcd-guest's files read back as written, and
 * hostile ones refused: the published state and the agent's journal.
 */
#include <string.h>
#include <glib/gstdio.h>

#include "dcd-guest/journal.h"
#include "dcd-guest/state.h"

#define TAG "5be13bce-ae34-4a77-b6c3-16df975fcf1a"

static char *dir;

static char *path_of(const char *name)
{
    return g_build_filename(dir, name, NULL);
}

static char *write_file(const char *name, const char *text)
{
    char *p = path_of(name);

    g_assert_true(g_file_set_contents(p, text, -1, NULL));
    return p;
}

static void test_state_round_trip(void)
{
    g_autoptr(DcdGuestState) s = dcd_guest_state_new(), r = NULL;
    g_autofree char *p = path_of("state");
    g_autofree char *text = NULL;
    DcdGuestDevice d = { .bdf = "0000:18:00.0", .ram_size = 256 << 20 };
    DcdGuestRegion reg = { .dev = 0, .index = 0, .dpa = 0, .len = 1 << 30,
                           .block = 2 << 20, .hpa = 0x110000000ull };
    DcdGuestRegion ram = { .dev = 0, .index = -1, .dpa = 0,
                           .len = 256 << 20, .hpa = 0x150000000ull };
    DcdGuestExtent e = { .dev = 0, .ext = { .dpa = 64 << 20,
                         .len = 32 << 20, .shared_seq = 2 },
                         .hpa = 0x114000000ull,
                         .state = DCD_GUEST_RELEASING };
    g_autoptr(GError) err = NULL;

    g_assert_true(dcd_tag_parse(TAG, (DcdTag *)e.ext.tag));
    g_array_append_val(s->devices, d);
    g_array_append_val(s->regions, reg);
    g_array_append_val(s->regions, ram);
    g_array_append_val(s->extents, e);
    g_assert_true(dcd_guest_state_save(s, p, &err));
    r = dcd_guest_state_load(p, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(r->devices->len, ==, 1);
    g_assert_cmpstr(g_array_index(r->devices, DcdGuestDevice, 0).bdf, ==,
                    d.bdf);
    g_assert_cmpuint(r->regions->len, ==, 2);
    g_assert_cmpint(g_array_index(r->regions, DcdGuestRegion, 1).index, ==,
                    -1);
    g_assert_cmpmem(&g_array_index(r->extents, DcdGuestExtent, 0), sizeof(e),
                    &e, sizeof(e));
    /* the region holding an extent, and none for a range that spills */
    g_assert_true(dcd_guest_state_region(r, 0, 64 << 20, 32 << 20) ==
                  &g_array_index(r->regions, DcdGuestRegion, 0));
    g_assert_null(dcd_guest_state_region(r, 0, (1ull << 30) - 4096, 8192));
    text = dcd_guest_state_format(r, true);
    g_assert_nonnull(strstr(text, "\"state\":\"releasing\""));
    g_assert_nonnull(strstr(text, "\"shared_seq\":2"));
}

static void test_state_hostile(void)
{
    static const char *const bad[] = {
        "[dcd-guest]\nversion=2\n",
        "[dcd-guest]\nversion=1\n[device 0]\nram_size=0\n",
        "[dcd-guest]\nversion=1\n[device 0]\nbdf=0000:18:00.0 and far too long\nram_size=0\n",
        "[dcd-guest]\nversion=1\n[extent 0]\ndevice=0\ntag=" TAG "\nshared_seq=0\ndpa=0\nlen=1\nhpa=0\nstate=accepted\n",
        "[dcd-guest]\nversion=1\n[device 0]\nbdf=x\nram_size=0\n[extent 0]\ndevice=1\ntag=" TAG "\nshared_seq=0\ndpa=0\nlen=1\nhpa=0\nstate=accepted\n",
        "[dcd-guest]\nversion=1\n[device 0]\nbdf=x\nram_size=0\n[extent 0]\ndevice=0\ntag=" TAG "\nshared_seq=65536\ndpa=0\nlen=1\nhpa=0\nstate=accepted\n",
        "[dcd-guest]\nversion=1\n[device 0]\nbdf=x\nram_size=0\n[extent 0]\ndevice=0\ntag=" TAG "\nshared_seq=0\ndpa=18446744073709551615\nlen=2\nhpa=0\nstate=accepted\n",
        "[dcd-guest]\nversion=1\n[device 0]\nbdf=x\nram_size=0\n[extent 0]\ndevice=0\ntag=nope\nshared_seq=0\ndpa=0\nlen=1\nhpa=0\nstate=accepted\n",
        "[dcd-guest]\nversion=1\n[device 0]\nbdf=x\nram_size=0\n[extent 0]\ndevice=0\ntag=" TAG "\nshared_seq=0\ndpa=0\nlen=1\nhpa=0\nstate=gone\n",
        "[dcd-guest]\nversion=1\n[device 0]\nbdf=x\nram_size=0\n[region 0]\ndevice=0\nindex=9\ndpa=0\nlen=1\nblock=0\nhpa=0\n",
        "[dcd-guest]\nversion=1\n[device 0]\nbdf=x\nram_size=0\n[region 0]\ndevice=0\nindex=0\ndpa=0\nlen=16\nblock=0\nhpa=18446744073709551615\n",
        "not a key file \x01\xff",
    };

    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *p = write_file("state", bad[i]);
        g_autoptr(GError) err = NULL;
        g_autoptr(DcdGuestState) s = dcd_guest_state_load(p, &err);

        g_test_message("state %u: %s", i, err ? err->message : "loaded");
        g_assert_null(s);
        g_assert_nonnull(err);
    }
}

static DcdEvent event(unsigned type, bool more, uint16_t handle,
                      uint64_t dpa)
{
    DcdEvent e = { .type = type, .more = more, .handle = handle,
                   .extent = { .dpa = dpa, .len = 2 << 20, .shared_seq = 1 } };

    g_assert_true(dcd_tag_parse(TAG, (DcdTag *)e.extent.tag));
    return e;
}

static void test_journal_round_trip(void)
{
    g_autofree char *p = path_of("inflight");
    DcdGuestGroup *g[3] = {
        dcd_guest_group_new(0), dcd_guest_group_new(1),
        dcd_guest_group_new(0),
    };
    DcdEvent e;
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) r = NULL;

    /* an open chain of device 0 first, then closed groups */
    e = event(DCD_EV_ADD, true, 7, 0);
    g_array_append_val(g[0]->events, e);
    e = event(DCD_EV_RELEASE, false, 3, 4 << 20);
    g_array_append_val(g[1]->events, e);
    e = event(DCD_EV_ADD, true, 9, 8 << 20);
    g_array_append_val(g[2]->events, e);
    e = event(DCD_EV_ADD, false, 10, 10 << 20);
    g_array_append_val(g[2]->events, e);
    g_assert_true(dcd_guest_journal_save(p, g, 3, &err));
    r = dcd_guest_journal_load(p, 2, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(r->len, ==, 3);
    /* the open chain goes last */
    g_assert_cmpuint(((DcdGuestGroup *)r->pdata[0])->dev, ==, 1);
    g_assert_cmpuint(((DcdGuestGroup *)r->pdata[1])->events->len, ==, 2);
    g_assert_cmpmem(((DcdGuestGroup *)r->pdata[1])->events->data,
                    2 * sizeof(DcdEvent), g[2]->events->data,
                    2 * sizeof(DcdEvent));
    g_assert_true(g_array_index(((DcdGuestGroup *)r->pdata[2])->events,
                                DcdEvent, 0).more);
    /* a journal for devices that are not there is refused */
    g_clear_pointer(&r, g_ptr_array_unref);
    r = dcd_guest_journal_load(p, 1, &err);
    g_assert_null(r);
    g_assert_nonnull(err);
    for (unsigned i = 0; i < 3; i++) {
        dcd_guest_group_free(g[i]);
    }
}

static void test_journal_hostile(void)
{
    static const char *const bad[] = {
        "[dcd-guest]\nversion=7\n",
        "[dcd-guest]\nversion=1\n[event 0]\ngroup=0\ndevice=0\ntype=6\nmore=0\nhandle=1\nregion=0\ndpa=0\nlen=1\ntag=" TAG "\nshared_seq=0\n",
        "[dcd-guest]\nversion=1\n[event 0]\ngroup=0\ndevice=0\ntype=0\nmore=2\nhandle=1\nregion=0\ndpa=0\nlen=1\ntag=" TAG "\nshared_seq=0\n",
        "[dcd-guest]\nversion=1\n[event 0]\ngroup=0\ndevice=0\ntype=0\nmore=0\nhandle=65536\nregion=0\ndpa=0\nlen=1\ntag=" TAG "\nshared_seq=0\n",
        "[dcd-guest]\nversion=1\n[event 0]\ngroup=0\ndevice=0\ntype=0\nmore=0\nhandle=1\nregion=8\ndpa=0\nlen=1\ntag=" TAG "\nshared_seq=0\n",
        "[dcd-guest]\nversion=1\n[event 0]\ngroup=0\ndevice=0\ntype=0\nmore=0\nhandle=1\nregion=0\ndpa=1\nlen=18446744073709551615\ntag=" TAG "\nshared_seq=0\n",
        "[dcd-guest]\nversion=1\n[event 0]\ngroup=0\ndevice=0\ntype=0\nmore=0\nhandle=1\nregion=0\ndpa=0\nlen=1\ntag=x\nshared_seq=0\n",
        "[dcd-guest]\nversion=1\n[event 0]\ngroup=0\ndevice=0\ntype=0\nmore=0\nhandle=1\nregion=0\ndpa=-1\nlen=1\ntag=" TAG "\nshared_seq=0\n",
        "[dcd-guest]\nversion=1\n[event 0]\ngroup=99999\ndevice=0\ntype=0\nmore=0\nhandle=1\nregion=0\ndpa=0\nlen=1\ntag=" TAG "\nshared_seq=0\n",
    };

    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *p = write_file("inflight", bad[i]);
        g_autoptr(GError) err = NULL;
        g_autoptr(GPtrArray) r = dcd_guest_journal_load(p, 1, &err);

        g_test_message("journal %u: %s", i, err ? err->message : "loaded");
        g_assert_null(r);
        g_assert_nonnull(err);
    }
}

static void test_journal_edges(void)
{
    g_autofree char *p = path_of("none");
    g_autofree char *two = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) r = dcd_guest_journal_load(p, 1, &err);
    GString *big = g_string_new("[dcd-guest]\nversion=1\n");

    /* no journal: nothing to answer */
    g_assert_no_error(err);
    g_assert_cmpuint(r->len, ==, 0);
    g_clear_pointer(&r, g_ptr_array_unref);

    /* two open chains for one device: only the first is kept */
    two = write_file("inflight", "[dcd-guest]\nversion=1\n"
        "[event 0]\ngroup=0\ndevice=0\ntype=0\nmore=1\nhandle=1\nregion=0\n"
        "dpa=0\nlen=1\ntag=" TAG "\nshared_seq=0\n"
        "[event 1]\ngroup=1\ndevice=0\ntype=0\nmore=1\nhandle=2\nregion=0\n"
        "dpa=0\nlen=1\ntag=" TAG "\nshared_seq=0\n");
    r = dcd_guest_journal_load(two, 1, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(r->len, ==, 1);
    g_assert_cmpuint(g_array_index(((DcdGuestGroup *)r->pdata[0])->events,
                                   DcdEvent, 0).handle, ==, 1);
    g_clear_pointer(&r, g_ptr_array_unref);

    /* more events than any device could have queued */
    for (unsigned i = 0; i <= DCD_GUEST_JOURNAL_MAX_EVENTS; i++) {
        g_string_append_printf(big, "[event %u]\ngroup=0\ndevice=0\ntype=0\n"
                               "more=1\nhandle=1\nregion=0\ndpa=0\nlen=1\n"
                               "tag=" TAG "\nshared_seq=0\n", i);
    }
    g_free(write_file("inflight", big->str));
    g_string_free(big, TRUE);
    r = dcd_guest_journal_load(two, 1, &err);
    g_assert_null(r);
    g_assert_nonnull(err);
}

int main(int argc, char **argv)
{
    int rc;

    g_test_init(&argc, &argv, NULL);
    dir = g_dir_make_tmp("dcd-guest-files-XXXXXX", NULL);
    g_test_add_func("/guest-files/state/round-trip", test_state_round_trip);
    g_test_add_func("/guest-files/state/hostile", test_state_hostile);
    g_test_add_func("/guest-files/journal/round-trip", test_journal_round_trip);
    g_test_add_func("/guest-files/journal/hostile", test_journal_hostile);
    g_test_add_func("/guest-files/journal/edges", test_journal_edges);
    rc = g_test_run();
    for (unsigned i = 0; i < 2; i++) {
        g_autofree char *p = path_of(i ? "inflight" : "state");

        g_unlink(p);
    }
    g_rmdir(dir);
    g_free(dir);
    return rc;
}
