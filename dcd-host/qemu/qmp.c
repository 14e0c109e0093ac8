/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmp.c - QMP over a stream: one JSON object per line each way.
 */
#include <string.h>

#include "dcd-host/qmp.h"
#include "dcd/json.h"
#include "err.h"

struct DcdQmp {
    GIOStream *stream;
    GDataInputStream *in;
    GOutputStream *out;
    gint64 next_id;
    GQueue events;
    GHashTable *commands;   /* name -> name, from query-commands */
    GPtrArray *command_list;
    char *last_class;
};

static JsonNode *read_msg(DcdQmp *q, GError **errp)
{
    for (;;) {
        GError *err = NULL;
        g_autofree char *line = g_data_input_stream_read_line(q->in, NULL,
                                                              NULL, &err);
        JsonNode *root;

        if (!line) {
            ERR(errp, DCD_HOST_ERR_IO, "qmp: connection lost%s%s",
                err ? ": " : "", err ? err->message : "");
            g_clear_error(&err);
            return NULL;
        }
        if (!*g_strstrip(line)) {
            continue;
        }
        /* Depth-checked: json-glib's parser recurses per level. */
        root = dcd_jsonin_parse(line, -1, &err);
        if (!root) {
            ERR(errp, DCD_HOST_ERR_IO, "qmp: bad JSON from QEMU: %s",
                err->message);
            g_error_free(err);
            return NULL;
        }
        if (!JSON_NODE_HOLDS_OBJECT(root)) {
            ERR(errp, DCD_HOST_ERR_IO, "qmp: message is not an object");
            json_node_unref(root);
            return NULL;
        }
        return root;
    }
}

static bool send_msg(DcdQmp *q, JsonNode *msg, GError **errp)
{
    g_autofree char *text = json_to_string(msg, FALSE);
    g_autofree char *line = g_strconcat(text, "\n", NULL);
    GError *err = NULL;

    if (!g_output_stream_write_all(q->out, line, strlen(line), NULL, NULL,
                                   &err)) {
        ERR(errp, DCD_HOST_ERR_IO, "qmp: send failed: %s", err->message);
        g_error_free(err);
        return false;
    }
    return true;
}

JsonNode *dcd_qmp_execute(DcdQmp *q, const char *cmd, JsonNode *args,
                          GError **errp)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) msg = NULL;
    gint64 id = q->next_id++;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "execute");
    json_builder_add_string_value(b, cmd);
    if (args) {
        json_builder_set_member_name(b, "arguments");
        json_builder_add_value(b, args);
    }
    json_builder_set_member_name(b, "id");
    json_builder_add_int_value(b, id);
    json_builder_end_object(b);
    msg = json_builder_get_root(b);
    if (!send_msg(q, msg, errp)) {
        return NULL;
    }

    for (;;) {
        g_autoptr(JsonNode) r = read_msg(q, errp);
        JsonObject *o;

        if (!r) {
            return NULL;
        }
        o = json_node_get_object(r);
        if (json_object_has_member(o, "event")) {
            g_queue_push_tail(&q->events, g_steal_pointer(&r));
            continue;
        }
        if (!json_object_has_member(o, "id") ||
            json_object_get_int_member(o, "id") != id) {
            continue;
        }
        if (json_object_has_member(o, "error")) {
            JsonObject *e = json_object_get_object_member(o, "error");

            g_free(q->last_class);
            q->last_class = g_strdup(json_object_get_string_member_with_default(
                e, "class", "GenericError"));
            ERR(errp, DCD_HOST_ERR_QMP, "%s",
                json_object_get_string_member_with_default(e, "desc",
                                                           "(no desc)"));
            return NULL;
        }
        if (!json_object_has_member(o, "return")) {
            ERR(errp, DCD_HOST_ERR_IO, "qmp: reply without return");
            return NULL;
        }
        return json_node_copy(json_object_get_member(o, "return"));
    }
}

bool dcd_qmp_run(DcdQmp *q, const char *cmd, JsonNode *args, GError **errp)
{
    g_autoptr(JsonNode) r = dcd_qmp_execute(q, cmd, args, errp);

    return r != NULL;
}

/* Is @ev the CXL_DYNAMIC_CAPACITY_BROKER_REPLY to request @id? */
static bool is_broker_reply(JsonNode *ev, gint64 id)
{
    JsonObject *o = json_node_get_object(ev);
    JsonObject *data;

    if (g_strcmp0(json_object_get_string_member_with_default(o, "event", ""),
                  "CXL_DYNAMIC_CAPACITY_BROKER_REPLY")) {
        return false;
    }
    data = json_object_get_object_member(o, "data");
    return data && json_object_get_int_member_with_default(
                       data, "broker-request", -1) == id;
}

/* The reply to request @id, queued or still coming; NULL if QMP ends */
static JsonNode *wait_broker_reply(DcdQmp *q, gint64 id, GError **errp)
{
    for (;;) {
        GList *l;
        JsonNode *r;

        for (l = q->events.head; l; l = l->next) {
            if (is_broker_reply(l->data, id)) {
                r = l->data;
                g_queue_delete_link(&q->events, l);
                return r;
            }
        }
        r = read_msg(q, errp);
        if (!r) {
            return NULL;
        }
        if (json_object_has_member(json_node_get_object(r), "event")) {
            g_queue_push_tail(&q->events, r);     /* others keep theirs */
        } else {
            json_node_unref(r);
        }
    }
}

bool dcd_qmp_dc_request(DcdQmp *q, const char *cmd, JsonNode *args,
                        GError **errp)
{
    g_autoptr(JsonNode) r = dcd_qmp_execute(q, cmd, args, errp);
    g_autoptr(JsonNode) ev = NULL;
    JsonObject *data;

    if (!r) {
        return false;
    }
    if (!JSON_NODE_HOLDS_OBJECT(r) ||
        !json_object_has_member(json_node_get_object(r), "broker-request")) {
        return true;    /* the device did it itself */
    }
    ev = wait_broker_reply(q, json_object_get_int_member(
                                  json_node_get_object(r), "broker-request"),
                           errp);
    if (!ev) {
        return false;
    }
    data = json_object_get_object_member(json_node_get_object(ev), "data");
    if (json_object_has_member(data, "error")) {
        ERR(errp, DCD_HOST_ERR_QMP, "%s",
            json_object_get_string_member(data, "error"));
        return false;
    }
    return true;
}

const char *dcd_qmp_last_class(DcdQmp *q)
{
    return q->last_class;
}

char *dcd_qmp_hmp(DcdQmp *q, const char *cmdline, GError **errp)
{
    g_autoptr(JsonNode) r = dcd_qmp_execute(q, "human-monitor-command",
        dcd_qmp_args("s:command-line", cmdline, NULL), errp);

    if (!r) {
        return NULL;
    }
    return g_strdup(json_node_get_string(r));
}

static void load_commands(DcdQmp *q)
{
    g_autoptr(JsonNode) r = NULL;
    JsonArray *a;

    if (q->commands) {
        return;
    }
    q->commands = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        NULL);
    q->command_list = g_ptr_array_new();
    r = dcd_qmp_execute(q, "query-commands", NULL, NULL);
    if (!r || !JSON_NODE_HOLDS_ARRAY(r)) {
        return;
    }
    a = json_node_get_array(r);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        char *name = g_strdup(json_object_get_string_member(
            json_array_get_object_element(a, i), "name"));

        g_hash_table_add(q->commands, name);
        g_ptr_array_add(q->command_list, name);
    }
}

bool dcd_qmp_has_command(DcdQmp *q, const char *cmd)
{
    load_commands(q);
    return g_hash_table_contains(q->commands, cmd);
}

const char *dcd_qmp_find_command(DcdQmp *q, const char *const *words)
{
    load_commands(q);
    for (guint i = 0; i < q->command_list->len; i++) {
        const char *name = q->command_list->pdata[i];
        bool all = true;

        for (const char *const *w = words; *w && all; w++) {
            all = strstr(name, *w) != NULL;
        }
        if (all) {
            return name;
        }
    }
    return NULL;
}

GList *dcd_qmp_take_events(DcdQmp *q)
{
    GList *l = q->events.head;

    g_queue_init(&q->events);
    return l;
}

DcdQmp *dcd_qmp_new(GIOStream *stream, GError **errp)
{
    g_autoptr(DcdQmp) q = g_new0(DcdQmp, 1);
    g_autoptr(JsonNode) greeting = NULL;

    q->stream = g_object_ref(stream);
    q->in = g_data_input_stream_new(g_io_stream_get_input_stream(stream));
    g_data_input_stream_set_newline_type(q->in,
                                         G_DATA_STREAM_NEWLINE_TYPE_LF);
    q->out = g_io_stream_get_output_stream(stream);
    g_queue_init(&q->events);

    greeting = read_msg(q, errp);
    if (!greeting) {
        return NULL;
    }
    if (!json_object_has_member(json_node_get_object(greeting), "QMP")) {
        ERR(errp, DCD_HOST_ERR_IO, "qmp: no greeting from QEMU");
        return NULL;
    }
    if (!dcd_qmp_run(q, "qmp_capabilities", NULL, errp)) {
        return NULL;
    }
    return g_steal_pointer(&q);
}

DcdQmp *dcd_qmp_connect(const char *path, GError **errp)
{
    g_autoptr(GIOStream) s = dcd_io_unix_connect(path, "qmp", errp);

    if (!s) {
        return NULL;
    }
    return dcd_qmp_new(s, errp);
}

void dcd_qmp_free(DcdQmp *q)
{
    if (!q) {
        return;
    }
    g_queue_clear_full(&q->events, (GDestroyNotify)json_node_unref);
    if (q->commands) {
        g_ptr_array_free(q->command_list, TRUE);
        g_hash_table_destroy(q->commands);
    }
    if (q->stream) {
        g_io_stream_close(q->stream, NULL, NULL);
        g_object_unref(q->in);
        g_object_unref(q->stream);
    }
    g_free(q->last_class);
    g_free(q);
}

JsonNode *dcd_qmp_args(const char *key, ...)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    va_list ap;

    json_builder_begin_object(b);
    va_start(ap, key);
    for (const char *k = key; k; k = va_arg(ap, const char *)) {
        g_assert(k[0] && k[1] == ':');
        json_builder_set_member_name(b, k + 2);
        switch (k[0]) {
        case 's':
            json_builder_add_string_value(b, va_arg(ap, const char *));
            break;
        case 'i':
            json_builder_add_int_value(b, va_arg(ap, gint64));
            break;
        case 'u':
            json_builder_add_int_value(b, (gint64)va_arg(ap, guint64));
            break;
        case 'b':
            json_builder_add_boolean_value(b, va_arg(ap, gboolean));
            break;
        case 'n':
            json_builder_add_value(b, va_arg(ap, JsonNode *));
            break;
        default:
            g_assert_not_reached();
        }
    }
    va_end(ap);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

JsonNode *dcd_qmp_extent_list(const uint64_t *offset_len, unsigned n)
{
    return dcd_qmp_extent_list_seq(offset_len, NULL, n);
}

JsonNode *dcd_qmp_extent_list_seq(const uint64_t *offset_len,
                                  const uint16_t *seq, unsigned n)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_array(b);
    for (unsigned i = 0; i < n; i++) {
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "offset");
        json_builder_add_int_value(b, offset_len[2 * i]);
        json_builder_set_member_name(b, "len");
        json_builder_add_int_value(b, offset_len[2 * i + 1]);
        if (seq) {
            json_builder_set_member_name(b, "shared-seq");
            json_builder_add_int_value(b, seq[i]);
        }
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    return json_builder_get_root(b);
}
