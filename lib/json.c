/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * json.c - json-glib's own getters warn (or abort under fatal
 * criticals) on a member of the wrong type; these check first.  Text is
 * checked for its depth before json-glib parses it.
 */
#include <string.h>

#include "dcd/json.h"

/* Every reading error is a bad argument. */
#define INVAL(errp, ...) \
    g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, __VA_ARGS__)

/*
 * json-glib's parser recurses once per nesting level: a line of 75,000
 * '[' overflows the stack.  Count the levels before it sees the text.
 * Its extensions (single-quoted strings, comments) would hide brackets
 * from this count, so outside strings only strict JSON may pass: a quote
 * or a slash there is refused too.
 */
bool dcd_json_check_depth(const char *text, gssize len, GError **errp)
{
    gsize n = len < 0 ? strlen(text) : (gsize)len;
    unsigned depth = 0;
    bool in_str = false;

    for (gsize i = 0; i < n; i++) {
        char ch = text[i];

        if (in_str) {
            if (ch == '\\') {
                i++;    /* an escaped byte never ends the string */
            } else if (ch == '"') {
                in_str = false;
            }
            continue;
        }
        switch (ch) {
        case '"':
            in_str = true;
            break;
        case '[':
        case '{':
            if (++depth > DCD_JSON_MAX_DEPTH) {
                INVAL(errp, "JSON nested deeper than %u levels",
                      DCD_JSON_MAX_DEPTH);
                return false;
            }
            break;
        case ']':
        case '}':
            if (depth) {
                depth--;
            }
            break;
        case '\'':
        case '/':
            INVAL(errp, "not strict JSON: '%c' outside a string", ch);
            return false;
        }
    }
    return true;
}

JsonNode *dcd_jsonin_parse(const char *text, gssize len, GError **errp)
{
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) err = NULL;
    JsonNode *root;

    if (!dcd_json_check_depth(text, len, errp)) {
        return NULL;
    }
    parser = json_parser_new();
    if (!json_parser_load_from_data(parser, text, len, &err)) {
        INVAL(errp, "not JSON: %s", err->message);
        return NULL;
    }
    root = json_parser_steal_root(parser);
    if (!root) {
        INVAL(errp, "not JSON: no value");
    }
    return root;
}

JsonObject *dcd_jsonin_object(const char *text, gssize len, GError **errp)
{
    g_autoptr(JsonNode) root = dcd_jsonin_parse(text, len, errp);

    if (!root) {
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        INVAL(errp, "not one JSON object");
        return NULL;
    }
    return json_object_ref(json_node_get_object(root));
}

bool dcd_jsonin_only(JsonObject *o, const char *const *allowed,
                     GError **errp)
{
    g_autoptr(GList) members = json_object_get_members(o);

    for (GList *l = members; l; l = l->next) {
        if (!g_strv_contains(allowed, l->data)) {
            INVAL(errp, "unknown argument '%s'", (char *)l->data);
            return false;
        }
    }
    return true;
}

/* The member, or NULL: an error if it is required. */
static JsonNode *member(JsonObject *o, const char *k, bool required,
                       GError **errp)
{
    JsonNode *n = json_object_get_member(o, k);

    if (!n && required) {
        INVAL(errp, "argument '%s' is required", k);
    }
    return n;
}

static bool is_type(JsonNode *n, GType t)
{
    return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == t;
}

bool dcd_jsonin_u64(JsonObject *o, const char *k, bool required,
                    uint64_t max, uint64_t *out, GError **errp)
{
    JsonNode *n = member(o, k, required, errp);

    if (!n) {
        return !required;
    }
    if (!is_type(n, G_TYPE_INT64) || json_node_get_int(n) < 0 ||
        (uint64_t)json_node_get_int(n) > max) {
        INVAL(errp, "argument '%s' must be an integer from 0 to %"
            G_GUINT64_FORMAT, k, max);
        return false;
    }
    *out = json_node_get_int(n);
    return true;
}

bool dcd_jsonin_str(JsonObject *o, const char *k, bool required,
                    const char **out, GError **errp)
{
    JsonNode *n = member(o, k, required, errp);

    if (!n) {
        return !required;
    }
    if (!is_type(n, G_TYPE_STRING)) {
        INVAL(errp, "argument '%s' must be a string", k);
        return false;
    }
    *out = json_node_get_string(n);
    return true;
}

bool dcd_jsonin_bool(JsonObject *o, const char *k, bool *out, GError **errp)
{
    JsonNode *n = json_object_get_member(o, k);

    if (!n) {
        return true;
    }
    if (!is_type(n, G_TYPE_BOOLEAN)) {
        INVAL(errp, "argument '%s' must be true or false", k);
        return false;
    }
    *out = json_node_get_boolean(n);
    return true;
}

bool dcd_jsonin_tag(JsonObject *o, const char *k, bool required,
                    bool allow_nil, DcdTag *out, GError **errp)
{
    const char *s = NULL;
    DcdTag t;

    if (!dcd_jsonin_str(o, k, required, &s, errp)) {
        return false;
    }
    if (!s) {
        return true;
    }
    if (!dcd_tag_parse(s, &t)) {
        INVAL(errp, "'%s' is not a UUID", s);
        return false;
    }
    if (!allow_nil && dcd_tag_is_null(&t)) {
        INVAL(errp, "argument '%s' may not be the nil UUID", k);
        return false;
    }
    *out = t;
    return true;
}

bool dcd_jsonin_array(JsonObject *o, const char *k, bool required,
                      JsonArray **out, GError **errp)
{
    JsonNode *n = member(o, k, required, errp);

    if (!n) {
        return !required;
    }
    if (!JSON_NODE_HOLDS_ARRAY(n)) {
        INVAL(errp, "argument '%s' must be an array", k);
        return false;
    }
    *out = json_node_get_array(n);
    return true;
}

bool dcd_jsonin_u64_at(JsonArray *a, guint i, uint64_t max, uint64_t *out)
{
    JsonNode *n = json_array_get_element(a, i);

    if (!is_type(n, G_TYPE_INT64) || json_node_get_int(n) < 0 ||
        (uint64_t)json_node_get_int(n) > max) {
        return false;
    }
    *out = json_node_get_int(n);
    return true;
}

JsonObject *dcd_jsonin_object_at(JsonArray *a, guint i)
{
    JsonNode *n = json_array_get_element(a, i);

    return JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

bool dcd_jsonin_host_ids(JsonObject *o, const char *k, GArray **out,
                         GError **errp)
{
    JsonArray *a = NULL;
    GArray *ids;

    if (!dcd_jsonin_array(o, k, false, &a, errp)) {
        return false;
    }
    if (!a) {
        return true;
    }
    if (json_array_get_length(a) > DCD_MAX_HOST_IDS) {
        INVAL(errp, "'%s' lists %u host-ids; at most %u", k,
              json_array_get_length(a), DCD_MAX_HOST_IDS);
        return false;
    }
    ids = g_array_new(FALSE, FALSE, sizeof(uint16_t));
    for (guint i = 0; i < json_array_get_length(a); i++) {
        uint64_t v;
        uint16_t id;
        bool dup = false;

        if (!dcd_jsonin_u64_at(a, i, G_MAXUINT16, &v)) {
            INVAL(errp, "'%s' must be an array of host-ids", k);
            g_array_unref(ids);
            return false;
        }
        id = v;
        /* A host named twice is one host: keep the first. */
        for (guint j = 0; j < ids->len && !dup; j++) {
            dup = g_array_index(ids, uint16_t, j) == id;
        }
        if (!dup) {
            g_array_append_val(ids, id);
        }
    }
    *out = ids;
    return true;
}
