/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctlclient.c - one JSON line out, one JSON line back.
 */
#include <string.h>
#include <gio/gunixsocketaddress.h>

#include "dcd-client/ctlclient.h"
#include "dcd/json.h"

struct DcdCtlClient {
    GSocketConnection *conn;
    GDataInputStream *in;
    gint64 next_id;
    GQueue sent;          /* ids of requests whose replies are due */
    guint timeout_ms;     /* 0: none */
};

DcdCtlClient *dcd_ctl_client_connect(const char *path, GError **errp)
{
    g_autoptr(GSocketClient) sc = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    g_autoptr(GError) err = NULL;
    DcdCtlClient *c;
    GSocketConnection *conn;

    conn = g_socket_client_connect(sc, G_SOCKET_CONNECTABLE(addr), NULL,
                                   &err);
    if (!conn) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_UNAVAIL,
                    "cannot reach the broker at %s: %s", path, err->message);
        return NULL;
    }
    c = g_new0(DcdCtlClient, 1);
    c->conn = conn;
    c->in = g_data_input_stream_new(
        g_io_stream_get_input_stream(G_IO_STREAM(conn)));
    g_data_input_stream_set_newline_type(c->in, G_DATA_STREAM_NEWLINE_TYPE_LF);
    return c;
}

void dcd_ctl_client_free(DcdCtlClient *c)
{
    if (!c) {
        return;
    }
    g_queue_clear(&c->sent);
    g_object_unref(c->in);
    g_io_stream_close(G_IO_STREAM(c->conn), NULL, NULL);
    g_object_unref(c->conn);
    g_free(c);
}

static JsonNode *parse_reply(const char *line, gint64 id, GError **errp)
{
    /* Depth-checked: json-glib's parser recurses per level. */
    g_autoptr(JsonObject) o = dcd_jsonin_object(line, -1, NULL);
    JsonObject *e = NULL;
    JsonNode *en;

    if (!o) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_PROTO,
                    "the broker sent a reply that is not JSON");
        return NULL;
    }
    en = json_object_get_member(o, "error");
    if (en && JSON_NODE_HOLDS_OBJECT(en)) {
        e = json_node_get_object(en);
        g_set_error(errp, DCD_ERROR,
                    dcd_err_parse(json_object_get_string_member_with_default(
                                      e, "class", "inval")),
                    "%s", json_object_get_string_member_with_default(
                              e, "desc", "(no description)"));
        return NULL;
    }
    if (json_object_get_int_member_with_default(o, "id", -1) != id ||
        !json_object_has_member(o, "return")) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_PROTO,
                    "the broker's reply does not answer request %" G_GINT64_FORMAT,
                    id);
        return NULL;
    }
    return json_node_copy(json_object_get_member(o, "return"));
}

static void lost(DcdCtlClient *c, const GError *err, const char *doing,
                 GError **errp)
{
    if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_UNAVAIL, "the broker did not"
                    " answer in %u s (is it stopped or overloaded?)",
                    (c->timeout_ms + 999) / 1000);
    } else {
        g_set_error(errp, DCD_ERROR, DCD_ERR_UNAVAIL, "%s%s%s", doing,
                    err ? ": " : "", err ? err->message : "");
    }
}

bool dcd_ctl_client_send(DcdCtlClient *c, const char *command,
                         JsonObject *args, GError **errp)
{
    g_autoptr(JsonBuilder) jb = json_builder_new();
    g_autoptr(JsonNode) req = NULL;
    g_autofree char *text = NULL, *line = NULL;
    g_autoptr(GError) err = NULL;
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(c->conn));
    gint64 id = ++c->next_id;

    json_builder_begin_object(jb);
    json_builder_set_member_name(jb, "id");
    json_builder_add_int_value(jb, id);
    json_builder_set_member_name(jb, "command");
    json_builder_add_string_value(jb, command);
    if (args) {
        JsonNode *n = json_node_new(JSON_NODE_OBJECT);

        json_node_set_object(n, args);
        json_builder_set_member_name(jb, "arguments");
        json_builder_add_value(jb, n);
    }
    json_builder_end_object(jb);
    req = json_builder_get_root(jb);
    text = json_to_string(req, FALSE);
    line = g_strconcat(text, "\n", NULL);
    g_queue_push_tail(&c->sent, GINT_TO_POINTER(id));
    if (!g_output_stream_write_all(out, line, strlen(line), NULL, NULL,
                                   &err)) {
        /* A broker that refuses us says why before it hangs up. */
        g_autofree char *why = g_data_input_stream_read_line(c->in, NULL,
                                                             NULL, NULL);

        g_autoptr(JsonNode) answer = NULL;
        g_autoptr(GError) said = NULL;

        g_queue_pop_tail(&c->sent);
        /* Its last line is an error reply; anything else is a hang-up. */
        answer = why ? parse_reply(why, id, &said) : NULL;
        if (said) {
            g_propagate_error(errp, g_steal_pointer(&said));
        } else {
            lost(c, err, "sending to the broker", errp);
        }
        return false;
    }
    return true;
}

void dcd_ctl_client_set_timeout(DcdCtlClient *c, guint ms)
{
    GSocket *sock = g_socket_connection_get_socket(c->conn);

    c->timeout_ms = ms;
    g_socket_set_timeout(sock, (ms + 999) / 1000);
}

JsonNode *dcd_ctl_client_recv(DcdCtlClient *c, GError **errp)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;
    gint64 id = GPOINTER_TO_INT(g_queue_pop_head(&c->sent));

    text = g_data_input_stream_read_line(c->in, NULL, NULL, &err);
    if (!text) {
        lost(c, err, "the broker closed the connection", errp);
        return NULL;
    }
    return parse_reply(text, id, errp);
}

JsonNode *dcd_ctl_client_read_event(DcdCtlClient *c, GError **errp)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) root = NULL;

    text = g_data_input_stream_read_line(c->in, NULL, NULL, &err);
    if (!text) {
        lost(c, err, "the broker closed the connection", errp);
        return NULL;
    }
    root = dcd_jsonin_parse(text, -1, NULL);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root) ||
        !json_object_has_member(json_node_get_object(root), "event")) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_PROTO,
                    "the broker sent a line that is not an event");
        return NULL;
    }
    return g_steal_pointer(&root);
}

JsonNode *dcd_ctl_client_call(DcdCtlClient *c, const char *command,
                              JsonObject *args, GError **errp)
{
    if (!dcd_ctl_client_send(c, command, args, errp)) {
        return NULL;
    }
    return dcd_ctl_client_recv(c, errp);
}

JsonNode *dcd_ctl_client_callf(DcdCtlClient *c, const char *command,
                               GError **errp, const char *fmt, ...)
{
    g_autoptr(JsonObject) args = NULL;
    g_autofree char *text = NULL;
    va_list ap;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    args = dcd_jsonin_object(text, -1, NULL);
    if (!args) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "bad arguments: %s",
                    text);
        return NULL;
    }
    return dcd_ctl_client_call(c, command, args, errp);
}
