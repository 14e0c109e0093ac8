/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * state.c - the agent's published state as a key file: groups
 * "device N", "region N", "extent N", numbers in decimal.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <glib/gstdio.h>

#include "dcd-guest/state.h"

#define STATE_VERSION 1
/* a guest has a handful of devices; the device caps extents far lower */
#define STATE_MAX_BYTES (16u << 20)
#define STATE_MAX_ITEMS 65536

#define ERR(errp, ...) \
    g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_INVALID, __VA_ARGS__)

const char *dcd_guest_run_dir(void)
{
    const char *d = g_getenv("DCD_GUEST_RUN_DIR");

    return d && *d ? d : DCD_GUEST_RUN_DIR;
}

char *dcd_guest_path(const char *name)
{
    return g_build_filename(dcd_guest_run_dir(), name, NULL);
}

DcdGuestState *dcd_guest_state_new(void)
{
    DcdGuestState *s = g_new0(DcdGuestState, 1);

    s->devices = g_array_new(FALSE, TRUE, sizeof(DcdGuestDevice));
    s->regions = g_array_new(FALSE, TRUE, sizeof(DcdGuestRegion));
    s->extents = g_array_new(FALSE, TRUE, sizeof(DcdGuestExtent));
    return s;
}

void dcd_guest_state_free(DcdGuestState *s)
{
    if (s) {
        g_array_unref(s->devices);
        g_array_unref(s->regions);
        g_array_unref(s->extents);
        g_free(s);
    }
}

static const char *const state_names[] = {
    [DCD_GUEST_PENDING] = "pending",
    [DCD_GUEST_ACCEPTED] = "accepted",
    [DCD_GUEST_RELEASING] = "releasing",
};

const char *dcd_guest_extent_state_name(DcdGuestExtentState st)
{
    return st < G_N_ELEMENTS(state_names) ? state_names[st] : "?";
}

static void set_u64(GKeyFile *kf, const char *g, const char *k, uint64_t v)
{
    g_key_file_set_uint64(kf, g, k, v);
}

bool dcd_guest_state_save(const DcdGuestState *s, const char *path,
                          GError **errp)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autofree char *data = NULL;
    gsize len;

    g_key_file_set_integer(kf, "dcd-guest", "version", STATE_VERSION);
    for (guint i = 0; i < s->devices->len; i++) {
        const DcdGuestDevice *d = &g_array_index(s->devices, DcdGuestDevice, i);
        g_autofree char *g = g_strdup_printf("device %u", i);

        g_key_file_set_string(kf, g, "bdf", d->bdf);
        set_u64(kf, g, "ram_size", d->ram_size);
    }
    for (guint i = 0; i < s->regions->len; i++) {
        const DcdGuestRegion *r = &g_array_index(s->regions, DcdGuestRegion, i);
        g_autofree char *g = g_strdup_printf("region %u", i);

        set_u64(kf, g, "device", r->dev);
        g_key_file_set_integer(kf, g, "index", r->index);
        set_u64(kf, g, "dpa", r->dpa);
        set_u64(kf, g, "len", r->len);
        set_u64(kf, g, "block", r->block);
        set_u64(kf, g, "hpa", r->hpa);
    }
    for (guint i = 0; i < s->extents->len; i++) {
        const DcdGuestExtent *e = &g_array_index(s->extents, DcdGuestExtent, i);
        g_autofree char *g = g_strdup_printf("extent %u", i);
        char tag[DCD_TAG_STR_LEN];

        dcd_tag_unparse((const DcdTag *)e->ext.tag, tag);
        set_u64(kf, g, "device", e->dev);
        g_key_file_set_string(kf, g, "tag", tag);
        set_u64(kf, g, "shared_seq", e->ext.shared_seq);
        set_u64(kf, g, "dpa", e->ext.dpa);
        set_u64(kf, g, "len", e->ext.len);
        set_u64(kf, g, "hpa", e->hpa);
        g_key_file_set_string(kf, g, "state",
                              dcd_guest_extent_state_name(e->state));
    }
    data = g_key_file_to_data(kf, &len, NULL);
    /* g_file_set_contents writes a temporary file and renames it */
    return g_file_set_contents(path, data, len, errp);
}

bool dcd_guest_keyfile_u64(GKeyFile *kf, const char *g, const char *k,
                           uint64_t max, uint64_t *v, GError **errp)
{
    g_autofree char *s = g_key_file_get_value(kf, g, k, NULL);
    guint64 n;

    if (!s || !g_ascii_string_to_unsigned(s, 10, 0, max, &n, NULL)) {
        ERR(errp, "[%s] %s is missing or out of range", g, k);
        return false;
    }
    *v = n;
    return true;
}


static bool load_device(GKeyFile *kf, const char *g, DcdGuestDevice *d,
                        GError **errp)
{
    g_autofree char *bdf = g_key_file_get_string(kf, g, "bdf", NULL);

    if (!bdf || strlen(bdf) >= sizeof(d->bdf)) {
        ERR(errp, "state: [%s] bdf is missing or too long", g);
        return false;
    }
    strcpy(d->bdf, bdf);
    return dcd_guest_keyfile_u64(kf, g, "ram_size", G_MAXUINT64, &d->ram_size, errp);
}

static bool load_region(GKeyFile *kf, const char *g, unsigned ndev,
                        DcdGuestRegion *r, GError **errp)
{
    uint64_t dev;
    GError *err = NULL;
    int index = g_key_file_get_integer(kf, g, "index", &err);

    if (err || index < -1 || index >= DCD_MAX_REGIONS) {
        g_clear_error(&err);
        ERR(errp, "state: [%s] index is missing or out of range", g);
        return false;
    }
    r->index = index;
    if (!dcd_guest_keyfile_u64(kf, g, "device", ndev ? ndev - 1 : 0, &dev, errp) ||
        !dcd_guest_keyfile_u64(kf, g, "dpa", G_MAXUINT64, &r->dpa, errp) ||
        !dcd_guest_keyfile_u64(kf, g, "len", G_MAXUINT64 - r->dpa, &r->len, errp) ||
        !dcd_guest_keyfile_u64(kf, g, "block", G_MAXUINT64, &r->block, errp) ||
        !dcd_guest_keyfile_u64(kf, g, "hpa", G_MAXUINT64, &r->hpa, errp)) {
        return false;
    }
    if (!ndev || r->hpa > G_MAXUINT64 - r->len) {
        ERR(errp, "state: [%s] does not fit", g);
        return false;
    }
    r->dev = dev;
    return true;
}

static bool load_extent(GKeyFile *kf, const char *g, unsigned ndev,
                        DcdGuestExtent *e, GError **errp)
{
    g_autofree char *tag = g_key_file_get_string(kf, g, "tag", NULL);
    g_autofree char *st = g_key_file_get_string(kf, g, "state", NULL);
    uint64_t dev, seq;
    unsigned i;

    if (!dcd_guest_keyfile_u64(kf, g, "device", ndev ? ndev - 1 : 0, &dev, errp) ||
        !dcd_guest_keyfile_u64(kf, g, "shared_seq", G_MAXUINT16, &seq, errp) ||
        !dcd_guest_keyfile_u64(kf, g, "dpa", G_MAXUINT64, &e->ext.dpa, errp) ||
        !dcd_guest_keyfile_u64(kf, g, "len", G_MAXUINT64 - e->ext.dpa, &e->ext.len, errp) ||
        !dcd_guest_keyfile_u64(kf, g, "hpa", G_MAXUINT64 - e->ext.len, &e->hpa, errp)) {
        return false;
    }
    if (!ndev || !tag || !dcd_tag_parse(tag, (DcdTag *)e->ext.tag)) {
        ERR(errp, "state: [%s] has no device or no valid tag", g);
        return false;
    }
    for (i = 0; i < G_N_ELEMENTS(state_names); i++) {
        if (st && !strcmp(st, state_names[i])) {
            break;
        }
    }
    if (i == G_N_ELEMENTS(state_names)) {
        ERR(errp, "state: [%s] state '%s' is unknown", g, st ? st : "");
        return false;
    }
    e->state = i;
    e->dev = dev;
    e->ext.shared_seq = seq;
    return true;
}

DcdGuestState *dcd_guest_state_load(const char *path, GError **errp)
{
    g_autoptr(DcdGuestState) s = dcd_guest_state_new();
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autofree char *data = NULL;
    g_auto(GStrv) groups = NULL;
    gsize len;
    GError *err = NULL;

    if (!g_file_get_contents(path, &data, &len, &err)) {
        g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_NOTFOUND,
                    "%s (is `dcd-guest watch` running?)", err->message);
        g_error_free(err);
        return NULL;
    }
    if (len > STATE_MAX_BYTES ||
        !g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, errp)) {
        if (len > STATE_MAX_BYTES) {
            ERR(errp, "state: %s is %zu bytes", path, len);
        }
        return NULL;
    }
    if (g_key_file_get_integer(kf, "dcd-guest", "version", NULL) !=
        STATE_VERSION) {
        ERR(errp, "state: %s is not version %d", path, STATE_VERSION);
        return NULL;
    }
    groups = g_key_file_get_groups(kf, NULL);
    /* devices first: regions and extents refer to them */
    for (unsigned pass = 0; pass < 3; pass++) {
        for (unsigned i = 0; groups[i]; i++) {
            const char *g = groups[i];
            bool ok = true;

            if (s->devices->len + s->regions->len + s->extents->len >=
                STATE_MAX_ITEMS) {
                ERR(errp, "state: more than %u items", STATE_MAX_ITEMS);
                return NULL;
            }
            if (pass == 0 && g_str_has_prefix(g, "device ")) {
                DcdGuestDevice d = { 0 };

                ok = load_device(kf, g, &d, errp);
                g_array_append_val(s->devices, d);
            } else if (pass == 1 && g_str_has_prefix(g, "region ")) {
                DcdGuestRegion r = { 0 };

                ok = load_region(kf, g, s->devices->len, &r, errp);
                g_array_append_val(s->regions, r);
            } else if (pass == 2 && g_str_has_prefix(g, "extent ")) {
                DcdGuestExtent e = { 0 };

                ok = load_extent(kf, g, s->devices->len, &e, errp);
                g_array_append_val(s->extents, e);
            }
            if (!ok) {
                return NULL;
            }
        }
    }
    return g_steal_pointer(&s);
}

const DcdGuestRegion *dcd_guest_state_region(const DcdGuestState *s,
                                             unsigned dev, uint64_t dpa,
                                             uint64_t len)
{
    for (guint i = 0; i < s->regions->len; i++) {
        const DcdGuestRegion *r = &g_array_index(s->regions, DcdGuestRegion, i);

        if (r->dev == dev && dpa >= r->dpa && len <= r->len &&
            dpa - r->dpa <= r->len - len) {
            return r;
        }
    }
    return NULL;
}

static void format_text(const DcdGuestState *s, GString *o)
{
    for (guint i = 0; i < s->devices->len; i++) {
        const DcdGuestDevice *d = &g_array_index(s->devices, DcdGuestDevice, i);

        g_string_append_printf(o, "device %u %s", i, d->bdf);
        if (d->ram_size) {
            g_string_append_printf(o, " ram %" G_GUINT64_FORMAT "M",
                                   d->ram_size >> 20);
        }
        g_string_append_c(o, '\n');
        for (guint j = 0; j < s->regions->len; j++) {
            const DcdGuestRegion *r = &g_array_index(s->regions,
                                                     DcdGuestRegion, j);

            if (r->dev != i) {
                continue;
            }
            if (r->index < 0) {
                g_string_append(o, "  ram      ");
            } else {
                g_string_append_printf(o, "  region %d ", r->index);
            }
            g_string_append_printf(o, " dpa 0x%" G_GINT64_MODIFIER "x len %"
                                   G_GUINT64_FORMAT "M hpa 0x%"
                                   G_GINT64_MODIFIER "x", r->dpa,
                                   r->len >> 20, r->hpa);
            if (r->index >= 0) {
                g_string_append_printf(o, " block %" G_GUINT64_FORMAT "K",
                                       r->block >> 10);
            }
            g_string_append_c(o, '\n');
        }
    }
    if (!s->extents->len) {
        g_string_append(o, "no extents\n");
        return;
    }
    g_string_append_printf(o, "%-3s %-36s %5s %12s %8s %12s %s\n", "dev", "tag",
                           "seq", "dpa", "len", "hpa", "state");
    for (guint i = 0; i < s->extents->len; i++) {
        const DcdGuestExtent *e = &g_array_index(s->extents, DcdGuestExtent, i);
        char tag[DCD_TAG_STR_LEN];

        dcd_tag_unparse((const DcdTag *)e->ext.tag, tag);
        g_string_append_printf(o, "%-3u %-36s %5u %#12" G_GINT64_MODIFIER "x "
                               "%7" G_GUINT64_FORMAT "M %#12" G_GINT64_MODIFIER
                               "x %s\n", e->dev, tag, e->ext.shared_seq,
                               e->ext.dpa, e->ext.len >> 20, e->hpa,
                               dcd_guest_extent_state_name(e->state));
    }
}

/* Every string here is a BDF, a UUID or a state name: nothing to escape. */
static void format_json(const DcdGuestState *s, GString *o)
{
    g_string_append(o, "{\"devices\":[");
    for (guint i = 0; i < s->devices->len; i++) {
        const DcdGuestDevice *d = &g_array_index(s->devices, DcdGuestDevice, i);

        g_string_append_printf(o, "%s{\"device\":%u,\"bdf\":\"%s\","
                               "\"ram_size\":%" G_GUINT64_FORMAT "}",
                               i ? "," : "", i, d->bdf, d->ram_size);
    }
    g_string_append(o, "],\"regions\":[");
    for (guint i = 0; i < s->regions->len; i++) {
        const DcdGuestRegion *r = &g_array_index(s->regions, DcdGuestRegion, i);

        g_string_append_printf(o, "%s{\"device\":%u,\"region\":%d,\"dpa\":%"
                               G_GUINT64_FORMAT ",\"len\":%" G_GUINT64_FORMAT
                               ",\"block\":%" G_GUINT64_FORMAT ",\"hpa\":%"
                               G_GUINT64_FORMAT "}", i ? "," : "", r->dev,
                               r->index, r->dpa, r->len, r->block, r->hpa);
    }
    g_string_append(o, "],\"extents\":[");
    for (guint i = 0; i < s->extents->len; i++) {
        const DcdGuestExtent *e = &g_array_index(s->extents, DcdGuestExtent, i);
        char tag[DCD_TAG_STR_LEN];

        dcd_tag_unparse((const DcdTag *)e->ext.tag, tag);
        g_string_append_printf(o, "%s{\"device\":%u,\"tag\":\"%s\","
                               "\"shared_seq\":%u,\"dpa\":%" G_GUINT64_FORMAT
                               ",\"len\":%" G_GUINT64_FORMAT ",\"hpa\":%"
                               G_GUINT64_FORMAT ",\"state\":\"%s\"}",
                               i ? "," : "", e->dev, tag, e->ext.shared_seq,
                               e->ext.dpa, e->ext.len, e->hpa,
                               dcd_guest_extent_state_name(e->state));
    }
    g_string_append(o, "]}\n");
}

char *dcd_guest_state_format(const DcdGuestState *s, bool json)
{
    GString *o = g_string_new(NULL);

    if (json) {
        format_json(s, o);
    } else {
        format_text(s, o);
    }
    return g_string_free(o, FALSE);
}
