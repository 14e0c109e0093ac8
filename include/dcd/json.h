/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dcd/json.h - JSON members, read and written the same way by the control
 * socket, the saved state, the clients and the benchmarks.
 *
 * Writing: one-line JsonBuilder members, so all spell a member alike.
 *
 * Reading: typed, checked getters.  The control socket and the saved-state
 * loader read JSON they did not write this run, so every member's type and
 * range is checked before use.  Each getter reads member k of o.  An absent member is an error only if
 * required; otherwise *out is left as it was.  A member of the wrong type
 * or range is always an error, naming k.
 */
#ifndef DCD_JSON_H
#define DCD_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <json-glib/json-glib.h>

#include "dcd/types.h"

static inline void dcd_json_int(JsonBuilder *jb, const char *k, int64_t v)
{
    json_builder_set_member_name(jb, k);
    json_builder_add_int_value(jb, v);
}

static inline void dcd_json_str(JsonBuilder *jb, const char *k, const char *v)
{
    json_builder_set_member_name(jb, k);
    json_builder_add_string_value(jb, v);
}

static inline void dcd_json_double(JsonBuilder *jb, const char *k, double v)
{
    json_builder_set_member_name(jb, k);
    json_builder_add_double_value(jb, v);
}

static inline void dcd_json_bool(JsonBuilder *jb, const char *k, bool v)
{
    json_builder_set_member_name(jb, k);
    json_builder_add_boolean_value(jb, v);
}

/* A member holding an array of uint16_t (host-ids). */
static inline void dcd_json_u16s(JsonBuilder *jb, const char *k,
                                 const GArray *ids)
{
    json_builder_set_member_name(jb, k);
    json_builder_begin_array(jb);
    for (guint i = 0; i < ids->len; i++) {
        json_builder_add_int_value(jb, g_array_index(ids, uint16_t, i));
    }
    json_builder_end_array(jb);
}

/*
 * Deepest nesting of arrays and objects that text from a peer or a file
 * may have (json-glib's parser recurses once per level).  Ours is at
 * most 5 deep.
 */
#define DCD_JSON_MAX_DEPTH 64
/* Longest array of host-ids (pool requesters). */
#define DCD_MAX_HOST_IDS 256

/*
 * Whether text (len bytes, or NUL-terminated if len < 0) is at most
 * DCD_JSON_MAX_DEPTH deep and has no single-quoted strings or comments
 * (json-glib's extensions); an inval error if not.  Every reader of
 * untrusted JSON checks this first: the functions below do.
 */
bool dcd_json_check_depth(const char *text, gssize len, GError **errp);
/* Any JSON value from text, checked as above; NULL and inval if not. */
JsonNode *dcd_jsonin_parse(const char *text, gssize len, GError **errp);
/* One JSON object from text; NULL and an error for anything else. */
JsonObject *dcd_jsonin_object(const char *text, gssize len, GError **errp);
/* Only members named in allowed (NULL-terminated). */
bool dcd_jsonin_only(JsonObject *o, const char *const *allowed,
                     GError **errp);

bool dcd_jsonin_u64(JsonObject *o, const char *k, bool required,
                    uint64_t max, uint64_t *out, GError **errp);
bool dcd_jsonin_str(JsonObject *o, const char *k, bool required,
                    const char **out, GError **errp);
bool dcd_jsonin_bool(JsonObject *o, const char *k, bool *out, GError **errp);
/* A UUID string; the nil UUID is refused unless allow_nil. */
bool dcd_jsonin_tag(JsonObject *o, const char *k, bool required,
                    bool allow_nil, DcdTag *out, GError **errp);
bool dcd_jsonin_array(JsonObject *o, const char *k, bool required,
                      JsonArray **out, GError **errp);
/* Element i of a, an integer from 0 to max. */
bool dcd_jsonin_u64_at(JsonArray *a, guint i, uint64_t max, uint64_t *out);
/* Element i of a, an object, or NULL. */
JsonObject *dcd_jsonin_object_at(JsonArray *a, guint i);
/*
 * An array of at most DCD_MAX_HOST_IDS host-ids (uint16_t), duplicates
 * counted; *out is a new GArray without them (the first of each is kept,
 * in order).
 */
bool dcd_jsonin_host_ids(JsonObject *o, const char *k, GArray **out,
                         GError **errp);

#endif
