/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jsonout.h - one-line JsonBuilder members, shared by the control socket,
 * the saved state and the benchmarks so all spell a member the same way.
 */
#ifndef DCD_JSONOUT_H
#define DCD_JSONOUT_H

#include <stdbool.h>
#include <stdint.h>
#include <json-glib/json-glib.h>

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

#endif
