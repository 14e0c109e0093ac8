/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz-guest-files - the files dcd-guest reads back: the state its agent
 * publishes (read by every verb and program) and the agent's journal of
 * unanswered event groups (read by a restarted agent).
 *
 * Input: one byte, even for the state and odd for the journal, then the
 * file.  Checked when a file is taken: every reference to a device is to
 * one that is there, ranges do not wrap, a journal group is not empty,
 * and each device has at most one open More chain, after its others.
 */
#include <string.h>

#include "dcd-guest/journal.h"
#include "dcd-guest/state.h"
#include "fuzz.h"

#define DEVICES 2

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init_logging();
    return 0;
}

static void check_state(const char *path)
{
    g_autoptr(DcdGuestState) s = dcd_guest_state_load(path, NULL);
    g_autofree char *text = NULL, *json = NULL;

    if (!s) {
        return;
    }
    for (guint i = 0; i < s->regions->len; i++) {
        const DcdGuestRegion *r = &g_array_index(s->regions, DcdGuestRegion, i);

        FUZZ_CHECK(r->dev < s->devices->len, "region of device %u", r->dev);
        FUZZ_CHECK(r->len <= G_MAXUINT64 - r->hpa, "region wraps");
    }
    for (guint i = 0; i < s->extents->len; i++) {
        const DcdGuestExtent *e = &g_array_index(s->extents, DcdGuestExtent, i);

        FUZZ_CHECK(e->dev < s->devices->len, "extent of device %u", e->dev);
        FUZZ_CHECK(e->ext.len <= G_MAXUINT64 - e->ext.dpa, "extent wraps");
        dcd_guest_state_region(s, e->dev, e->ext.dpa, e->ext.len);
    }
    text = dcd_guest_state_format(s, false);
    json = dcd_guest_state_format(s, true);
    FUZZ_CHECK(text && json, "no listing");
}

static void check_journal(const char *path)
{
    g_autoptr(GPtrArray) r = dcd_guest_journal_load(path, DEVICES, NULL);
    bool open[DEVICES] = { false };

    for (guint i = 0; r && i < r->len; i++) {
        const DcdGuestGroup *g = r->pdata[i];
        bool more;

        FUZZ_CHECK(g->dev < DEVICES, "group of device %u", g->dev);
        FUZZ_CHECK(g->events->len > 0, "empty group");
        more = g_array_index(g->events, DcdEvent, g->events->len - 1).more;
        FUZZ_CHECK(!open[g->dev], "a group after device %u's open chain",
                   g->dev);
        open[g->dev] = more;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *path = NULL;

    if (size < 1) {
        return 0;
    }
    path = g_build_filename(fuzz_tmpdir(), "file", NULL);
    if (!g_file_set_contents(path, (const char *)data + 1, size - 1, NULL)) {
        return 0;
    }
    if (data[0] & 1) {
        check_journal(path);
    } else {
        check_state(path);
    }
    return 0;
}
