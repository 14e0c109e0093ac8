/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal.c - a key file, one group "event N" per event record with the
 * number of its group, in order.
 */
#include <errno.h>
#include <sys/stat.h>

#include "dcd-guest/journal.h"
#include "dcd-guest/state.h"

#define JOURNAL_VERSION 1
#define JOURNAL_MAX_BYTES (4u << 20)

#define ERR(errp, ...) \
    g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_INVALID, __VA_ARGS__)

DcdGuestGroup *dcd_guest_group_new(unsigned dev)
{
    DcdGuestGroup *g = g_new0(DcdGuestGroup, 1);

    g->dev = dev;
    g->events = g_array_new(FALSE, TRUE, sizeof(DcdEvent));
    return g;
}

void dcd_guest_group_free(DcdGuestGroup *g)
{
    if (g) {
        g_array_unref(g->events);
        g_free(g);
    }
}

bool dcd_guest_journal_save(const char *path, DcdGuestGroup *const *groups,
                            unsigned n, GError **errp)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autofree char *data = NULL;
    unsigned k = 0;
    gsize len;

    g_key_file_set_integer(kf, "dcd-guest", "version", JOURNAL_VERSION);
    for (unsigned gi = 0; gi < n; gi++) {
        const DcdGuestGroup *g = groups[gi];

        for (guint i = 0; i < g->events->len; i++) {
            const DcdEvent *e = &g_array_index(g->events, DcdEvent, i);
            g_autofree char *name = g_strdup_printf("event %u", k++);
            char tag[DCD_TAG_STR_LEN];

            dcd_tag_unparse((const DcdTag *)e->extent.tag, tag);
            g_key_file_set_uint64(kf, name, "group", gi);
            g_key_file_set_uint64(kf, name, "device", g->dev);
            g_key_file_set_uint64(kf, name, "type", e->type);
            g_key_file_set_uint64(kf, name, "more", e->more);
            g_key_file_set_uint64(kf, name, "handle", e->handle);
            g_key_file_set_uint64(kf, name, "region", e->region);
            g_key_file_set_uint64(kf, name, "dpa", e->extent.dpa);
            g_key_file_set_uint64(kf, name, "len", e->extent.len);
            g_key_file_set_string(kf, name, "tag", tag);
            g_key_file_set_uint64(kf, name, "shared_seq",
                                  e->extent.shared_seq);
        }
    }
    data = g_key_file_to_data(kf, &len, NULL);
    return g_file_set_contents(path, data, len, errp);
}

static bool load_event(GKeyFile *kf, const char *name, unsigned n_devs,
                       uint64_t *gi, uint64_t *dev, DcdEvent *ev,
                       GError **errp)
{
    g_autofree char *tag = g_key_file_get_string(kf, name, "tag", NULL);
    uint64_t type, more, handle, region, seq;

    if (!dcd_guest_keyfile_u64(kf, name, "group",
                               DCD_GUEST_JOURNAL_MAX_EVENTS, gi, errp) ||
        !dcd_guest_keyfile_u64(kf, name, "device", n_devs - 1, dev, errp) ||
        !dcd_guest_keyfile_u64(kf, name, "type", DCD_EV_RELEASED, &type,
                               errp) ||
        !dcd_guest_keyfile_u64(kf, name, "more", 1, &more, errp) ||
        !dcd_guest_keyfile_u64(kf, name, "handle", G_MAXUINT16, &handle,
                               errp) ||
        !dcd_guest_keyfile_u64(kf, name, "region", DCD_MAX_REGIONS - 1,
                               &region, errp) ||
        !dcd_guest_keyfile_u64(kf, name, "dpa", G_MAXUINT64,
                               &ev->extent.dpa, errp) ||
        !dcd_guest_keyfile_u64(kf, name, "len",
                               G_MAXUINT64 - ev->extent.dpa,
                               &ev->extent.len, errp) ||
        !dcd_guest_keyfile_u64(kf, name, "shared_seq", G_MAXUINT16, &seq,
                               errp)) {
        return false;
    }
    if (!tag || !dcd_tag_parse(tag, (DcdTag *)ev->extent.tag)) {
        ERR(errp, "[%s] tag is missing or not a UUID", name);
        return false;
    }
    ev->type = type;
    ev->more = more;
    ev->handle = handle;
    ev->region = region;
    ev->extent.shared_seq = seq;
    return true;
}

GPtrArray *dcd_guest_journal_load(const char *path, unsigned n_devs,
                                  GError **errp)
{
    g_autoptr(GPtrArray) groups = g_ptr_array_new_with_free_func(
        (GDestroyNotify)dcd_guest_group_free);
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autofree char *data = NULL;
    g_autofree bool *open = g_new0(bool, MAX(n_devs, 1u));
    g_auto(GStrv) names = NULL;
    g_autoptr(GPtrArray) tail = NULL;
    DcdGuestGroup *cur = NULL;
    uint64_t cur_gi = G_MAXUINT64;
    unsigned n = 0;
    GError *err = NULL;
    struct stat st;
    gsize len;

    if (stat(path, &st) < 0 && errno == ENOENT) {
        return g_steal_pointer(&groups);
    }
    if (stat(path, &st) == 0 && st.st_size > JOURNAL_MAX_BYTES) {
        ERR(errp, "%s: %lld bytes is too large for a journal", path,
            (long long)st.st_size);
        return NULL;
    }
    if (!g_file_get_contents(path, &data, &len, &err) ||
        !g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, &err)) {
        g_propagate_prefixed_error(errp, err, "journal %s: ", path);
        return NULL;
    }
    if (g_key_file_get_integer(kf, "dcd-guest", "version", NULL) !=
        JOURNAL_VERSION) {
        ERR(errp, "journal %s is not version %d", path, JOURNAL_VERSION);
        return NULL;
    }
    names = g_key_file_get_groups(kf, NULL);
    for (unsigned i = 0; names[i]; i++) {
        DcdEvent ev = { 0 };
        uint64_t gi, dev;

        if (!g_str_has_prefix(names[i], "event ")) {
            continue;
        }
        if (++n > DCD_GUEST_JOURNAL_MAX_EVENTS || !n_devs ||
            !load_event(kf, names[i], n_devs, &gi, &dev, &ev, &err)) {
            ERR(errp, "journal %s: %s; remove the file to start afresh",
                path, err ? err->message : "too many events or no device");
            g_clear_error(&err);
            return NULL;
        }
        if (!cur || gi != cur_gi || cur->dev != dev) {
            cur = dcd_guest_group_new(dev);
            cur_gi = gi;
            g_ptr_array_add(groups, cur);
        }
        g_array_append_val(cur->events, ev);
    }
    /* one open chain per device, and last: the rest of it is in the log */
    tail = g_ptr_array_new();
    for (guint i = 0; i < groups->len;) {
        DcdGuestGroup *g = groups->pdata[i];
        bool more = g_array_index(g->events, DcdEvent, g->events->len - 1).more;

        if (!more) {
            i++;
        } else if (open[g->dev]) {
            g_ptr_array_remove_index(groups, i);
        } else {
            open[g->dev] = true;
            g_ptr_array_add(tail, g_ptr_array_steal_index(groups, i));
        }
    }
    for (guint i = 0; i < tail->len; i++) {
        g_ptr_array_add(groups, tail->pdata[i]);
    }
    return g_steal_pointer(&groups);
}
