/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * record.c - records: built with json-glib, read back with dcd/json.h's
 * checked reads.
 */
#include <string.h>

#include "dcd/json.h"
#include "core/record.h"

static JsonBuilder *record(void)
{
    JsonBuilder *jb = json_builder_new();

    json_builder_begin_object(jb);
    return jb;
}

static void finish(DcdStore *s, const char *key, JsonBuilder *jb)
{
    g_autoptr(JsonNode) node = NULL;
    g_autofree char *json = NULL;

    json_builder_end_object(jb);
    node = json_builder_get_root(jb);
    json = json_to_string(node, FALSE);
    dcd_store_put(s, key, json);
    g_object_unref(jb);
}

static char *extent_key(const DcdHost *h, const DcdExtent *e)
{
    return g_strdup_printf("extent:%u:%" G_GUINT64_FORMAT, h->id, e->dpa);
}

void dcd_record_put_meta(DcdStore *s, const uint8_t id[16], uint64_t epoch)
{
    JsonBuilder *jb = record();
    char tag[DCD_TAG_STR_LEN];

    dcd_tag_unparse((const DcdTag *)id, tag);
    dcd_json_str(jb, "id", tag);
    dcd_json_int(jb, "epoch", epoch);
    finish(s, "meta", jb);
}

void dcd_record_ranges(JsonBuilder *jb, const char *k, const GArray *ranges)
{
    json_builder_set_member_name(jb, k);
    json_builder_begin_array(jb);
    for (guint i = 0; i < ranges->len; i++) {
        const DcdDevRange *r = &g_array_index(ranges, DcdDevRange, i);

        json_builder_begin_object(jb);
        dcd_json_int(jb, "offset", r->offset);
        dcd_json_int(jb, "len", r->len);
        json_builder_end_object(jb);
    }
    json_builder_end_array(jb);
}

/* A device pool is shared by every broker of the device: "devpool:". */
static char *pool_key(const DcdPool *p)
{
    return g_strconcat(p->backing == DCD_BACKING_DEVICE ? "devpool:" :
                       "pool:", p->tag_str, NULL);
}

void dcd_record_put_pool(DcdStore *s, const DcdPool *p)
{
    g_autofree char *key = pool_key(p);
    JsonBuilder *jb = record();

    dcd_json_str(jb, "tag", p->tag_str);
    dcd_json_int(jb, "size", p->size);
    dcd_json_str(jb, "backing", dcd_backing_name(p->backing));
    if (p->path) {
        dcd_json_str(jb, "path", p->path);
    }
    json_builder_set_member_name(jb, "segments");
    json_builder_begin_array(jb);
    for (unsigned i = 0; i < dcd_pool_nsegments(p); i++) {
        json_builder_add_int_value(jb, dcd_pool_segment(p, i)->len);
    }
    json_builder_end_array(jb);
    if (p->ranges) {
        dcd_record_ranges(jb, "device-ranges", p->ranges);
    }
    if (p->requesters) {
        dcd_json_u16s(jb, "requesters", p->requesters);
    }
    finish(s, key, jb);
}

void dcd_record_put_device(DcdStore *s, uint64_t size)
{
    JsonBuilder *jb = record();

    dcd_json_int(jb, "size", size);
    finish(s, "device", jb);
}

bool dcd_record_decode_device(JsonObject *o, uint64_t *size)
{
    return dcd_jsonin_u64(o, "size", true, G_MAXINT64, size, NULL);
}

void dcd_record_del_pool(DcdStore *s, const DcdPool *p)
{
    g_autofree char *key = pool_key(p);

    dcd_store_del(s, key);
}

void dcd_record_put_host(DcdStore *s, const DcdHost *h)
{
    g_autofree char *key = g_strdup_printf("host:%u", h->id);
    JsonBuilder *jb = record();

    dcd_json_int(jb, "host-id", h->id);
    dcd_json_str(jb, "name", h->name);
    json_builder_set_member_name(jb, "regions");
    json_builder_begin_array(jb);
    for (unsigned i = 0; i < h->nregions; i++) {
        const DcdSpace *r = &h->regions[i];

        json_builder_begin_object(jb);
        dcd_json_int(jb, "base", r->base);
        dcd_json_int(jb, "len", r->len);
        dcd_json_int(jb, "block-size", r->block);
        dcd_json_bool(jb, "sharable", r->sharable);
        json_builder_end_object(jb);
    }
    json_builder_end_array(jb);
    finish(s, key, jb);
}

void dcd_record_put_extent(DcdStore *s, const DcdHost *h, const DcdExtent *e)
{
    g_autofree char *key = extent_key(h, e);
    JsonBuilder *jb = record();
    char tag[DCD_TAG_STR_LEN];

    dcd_tag_unparse(&e->tag, tag);
    dcd_json_int(jb, "host-id", h->id);
    dcd_json_int(jb, "dpa", e->dpa);
    dcd_json_int(jb, "len", e->len);
    dcd_json_int(jb, "region", e->region);
    dcd_json_str(jb, "tag", tag);
    dcd_json_int(jb, "shared-seq", e->seq);
    dcd_json_str(jb, "state", dcd_extent_state_name(e->state));
    finish(s, key, jb);
}

void dcd_record_del_extent(DcdStore *s, const DcdHost *h, const DcdExtent *e)
{
    g_autofree char *key = extent_key(h, e);

    dcd_store_del(s, key);
}

/* ---- decoding: the records above, read back and checked -------------- */

/* A member that must be there, as an integer from 0 to max. */
static bool need_u64(JsonObject *o, const char *k, uint64_t max, uint64_t *v)
{
    return dcd_jsonin_u64(o, k, true, max, v, NULL);
}

bool dcd_record_decode_meta(JsonObject *o, uint8_t id[16], uint64_t *epoch)
{
    return dcd_jsonin_tag(o, "id", true, false, (DcdTag *)id, NULL) &&
           need_u64(o, "epoch", G_MAXINT64, epoch);
}

void dcd_saved_pool_clear(DcdSavedPool *p)
{
    g_clear_pointer(&p->path, g_free);
    g_clear_pointer(&p->segments, g_array_unref);
    g_clear_pointer(&p->ranges, g_array_unref);
    g_clear_pointer(&p->requesters, g_array_unref);
}

/* A device pool's ranges: at most DCD_MAX_RANGES, each a whole block. */
static bool decode_ranges(JsonArray *a, GArray **out, GError **errp)
{
    guint n = json_array_get_length(a);

    if (n == 0 || n > DCD_MAX_RANGES) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "%u device ranges (1 to"
                    " %u)", n, DCD_MAX_RANGES);
        return false;
    }
    *out = g_array_sized_new(FALSE, FALSE, sizeof(DcdDevRange), n);
    for (guint i = 0; i < n; i++) {
        JsonObject *o = dcd_jsonin_object_at(a, i);
        DcdDevRange r;

        if (!o || !dcd_jsonin_u64(o, "offset", true, DCD_MAX_DPA, &r.offset,
                                  NULL) ||
            !dcd_jsonin_u64(o, "len", true, DCD_MAX_DPA, &r.len, NULL) ||
            r.len == 0 || r.offset % DCD_DEVICE_BLOCK ||
            r.len % DCD_DEVICE_BLOCK) {
            g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "device range %u",
                        i);
            g_clear_pointer(out, g_array_unref);
            return false;
        }
        g_array_append_val(*out, r);
    }
    return true;
}

bool dcd_record_decode_pool(JsonObject *o, DcdSavedPool *out, GError **errp)
{
    const char *backing = "", *path = NULL;
    JsonArray *segs = NULL, *ranges = NULL;
    guint n;

    memset(out, 0, sizeof(*out));
    if (!dcd_jsonin_tag(o, "tag", true, false, &out->tag, errp) ||
        !dcd_jsonin_u64(o, "size", true, DCD_MAX_DPA, &out->size, errp) ||
        !dcd_jsonin_str(o, "backing", true, &backing, errp) ||
        !dcd_jsonin_str(o, "path", false, &path, errp) ||
        !dcd_jsonin_array(o, "segments", true, &segs, errp) ||
        !dcd_jsonin_array(o, "device-ranges", false, &ranges, errp) ||
        !dcd_jsonin_host_ids(o, "requesters", &out->requesters, errp)) {
        return false;
    }
    /* A device pool and only a device pool names its ranges. */
    if (dcd_backing_parse(backing, &out->backing) &&
        (out->backing == DCD_BACKING_DEVICE) != (ranges != NULL)) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "device-ranges go with"
                    " backing device, and only with it");
        dcd_saved_pool_clear(out);
        return false;
    }
    if (ranges && !decode_ranges(ranges, &out->ranges, errp)) {
        dcd_saved_pool_clear(out);
        return false;
    }
    if (!dcd_backing_parse(backing, &out->backing) || out->size == 0 ||
        (n = json_array_get_length(segs)) > DCD_MAX_RANGES) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "bad backing, size or"
                    " segment count");
        dcd_saved_pool_clear(out);
        return false;
    }
    out->segments = g_array_sized_new(FALSE, FALSE, sizeof(uint64_t), n);
    for (guint i = 0; i < n; i++) {
        uint64_t len;

        if (!dcd_jsonin_u64_at(segs, i, DCD_MAX_DPA, &len)) {
            g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "segment %u", i);
            dcd_saved_pool_clear(out);
            return false;
        }
        g_array_append_val(out->segments, len);
    }
    out->path = g_strdup(path);
    return true;
}

bool dcd_record_decode_host(JsonObject *o, DcdSavedHost *out, GError **errp)
{
    JsonArray *regions = NULL;
    const char *name = "";
    uint64_t id;

    memset(out, 0, sizeof(*out));
    if (!need_u64(o, "host-id", G_MAXUINT16, &id) ||
        !dcd_jsonin_str(o, "name", false, &name, NULL) ||
        strlen(name) > DCD_NAME_LEN ||
        !dcd_jsonin_array(o, "regions", true, &regions, NULL) ||
        (out->nregions = json_array_get_length(regions)) > DCD_MAX_REGIONS) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "malformed host record");
        return false;
    }
    out->id = id;
    g_strlcpy(out->name, name, sizeof(out->name));
    for (guint i = 0; i < out->nregions; i++) {
        JsonObject *ro = dcd_jsonin_object_at(regions, i);
        struct dcd_region *r = &out->regions[i];
        bool sharable = false;

        if (!ro || !need_u64(ro, "base", G_MAXINT64, &r->base) ||
            !need_u64(ro, "len", G_MAXINT64, &r->len) ||
            !need_u64(ro, "block-size", G_MAXINT64, &r->block_size) ||
            !dcd_jsonin_bool(ro, "sharable", &sharable, NULL)) {
            g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "host %u: region %u"
                        " is malformed", out->id, i);
            return false;
        }
        r->flags = sharable ? DCD_REGION_SHARABLE : 0;
    }
    /* HELLO's own check: what a host was allowed to say reloads. */
    if (!dcd_regions_check(out->regions, out->nregions, errp)) {
        g_prefix_error(errp, "host %u: ", out->id);
        return false;
    }
    return true;
}

bool dcd_record_decode_extent(JsonObject *o, DcdSavedExtent *out)
{
    uint64_t id, region, seq;
    const char *state = "";

    memset(out, 0, sizeof(*out));
    if (!need_u64(o, "host-id", G_MAXUINT16, &id) ||
        !need_u64(o, "dpa", DCD_MAX_DPA, &out->dpa) ||
        !need_u64(o, "len", DCD_MAX_DPA, &out->len) ||
        !need_u64(o, "region", DCD_MAX_REGIONS - 1, &region) ||
        !need_u64(o, "shared-seq", G_MAXUINT16, &seq) ||
        !dcd_jsonin_tag(o, "tag", true, false, &out->tag, NULL) ||
        !dcd_jsonin_str(o, "state", true, &state, NULL) ||
        !dcd_extent_state_parse(state, &out->state) ||
        (out->state != DCD_EXTENT_PENDING &&
         out->state != DCD_EXTENT_ACCEPTED &&
         out->state != DCD_EXTENT_RELEASING &&
         out->state != DCD_EXTENT_REVOKING)) {
        return false;
    }
    out->host_id = id;
    out->region = region;
    out->seq = seq;
    return true;
}

JsonObject *dcd_record_parse(const char *json)
{
    return dcd_jsonin_object(json, -1, NULL);
}
