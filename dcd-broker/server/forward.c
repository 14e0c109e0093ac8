/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * forward.c - running other brokers' commands on a control connection
 * of our own, so that they mean here exactly what they mean locally.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>

#include "dcd/json.h"
#include "server/forward.h"

struct DcdForward {
    DcdBroker *b;
    DcdCtl *ctl;
    GHashTable *serving;     /* Serving, in progress */
    GCancellable *cancel;    /* all of them, when the broker stops */
};

typedef struct Serving {
    DcdForward *f;
    char *from;              /* the sender's node */
    char *reply;             /* "rep-<id>" */
    GOutputStream *out;
    GDataInputStream *in;
    char *line;              /* the request line */
} Serving;

bool dcd_forward_allowed(const char *command)
{
    return g_str_equal(command, "extent-add") ||
           g_str_equal(command, "extent-release") ||
           g_str_equal(command, "host-forget");
}

static void serving_free(gpointer p)
{
    Serving *s = p;

    g_free(s->from);
    g_free(s->reply);
    g_free(s->line);
    g_clear_object(&s->out);
    g_clear_object(&s->in);
    g_free(s);
}

/* The reply line, or an error made here, goes back; then s ends. */
static void answer(Serving *s, const char *line, const GError *err)
{
    g_autofree char *made = NULL;
    g_autoptr(GError) send_err = NULL;

    if (!line) {
        g_autoptr(JsonBuilder) jb = json_builder_new();
        g_autoptr(JsonNode) root = NULL;

        json_builder_begin_object(jb);
        json_builder_set_member_name(jb, "error");
        json_builder_begin_object(jb);
        dcd_json_str(jb, "class", err->domain == DCD_ERROR ?
                     dcd_err_name(err->code) : "io");
        dcd_json_str(jb, "desc", err->message);
        json_builder_end_object(jb);
        json_builder_end_object(jb);
        root = json_builder_get_root(jb);
        line = made = json_to_string(root, FALSE);
    }
    if (!dcd_broker_send_mail(s->f->b, s->from, s->reply, line, &send_err)) {
        g_message("cannot answer node %s (%s): %s", s->from, s->reply,
                  send_err->message);
    }
    g_hash_table_remove(s->f->serving, s);
}

static void on_reply(GObject *src, GAsyncResult *res, gpointer opaque)
{
    Serving *s = opaque;
    g_autoptr(GError) err = NULL;
    g_autofree char *line = g_data_input_stream_read_line_finish_utf8(
        G_DATA_INPUT_STREAM(src), res, NULL, &err);

    if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        return;   /* the broker stops: s went with it */
    }
    if (!line && !err) {
        g_set_error(&err, DCD_ERROR, DCD_ERR_IO, "the control connection"
                    " closed without a reply");
    }
    answer(s, line, err);
}

static void on_written(GObject *src, GAsyncResult *res, gpointer opaque)
{
    Serving *s = opaque;
    g_autoptr(GError) err = NULL;

    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(src), res, NULL,
                                          &err)) {
        if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
            answer(s, NULL, err);
        }
        return;
    }
    g_data_input_stream_read_line_async(s->in, G_PRIORITY_DEFAULT,
                                        s->f->cancel, on_reply, s);
}

/*
 * The request as a control line: only the commands that name a host,
 * for a host of this node; anything else is refused here, not run.
 */
static char *request_line(DcdForward *f, const char *json, GError **errp)
{
    g_autoptr(JsonObject) o = dcd_jsonin_object(json, -1, errp);
    g_autoptr(JsonBuilder) jb = NULL;
    g_autoptr(JsonNode) root = NULL;
    JsonNode *args;
    const char *cmd = NULL;
    uint64_t host = 0;

    if (!o || !dcd_jsonin_str(o, "command", true, &cmd, errp)) {
        return NULL;
    }
    args = json_object_get_member(o, "arguments");
    if (!dcd_forward_allowed(cmd) || !args || !JSON_NODE_HOLDS_OBJECT(args)) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_PERM, "'%s' is not carried out"
                    " for another broker", cmd);
        return NULL;
    }
    if (!dcd_jsonin_u64(json_node_get_object(args), "host-id", true,
                        G_MAXUINT16, &host, errp)) {
        return NULL;
    }
    if (!dcd_broker_host(f->b, host)) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_NOENT, "node %s has no host"
                    " with host-id %u", f->b->node, (unsigned)host);
        return NULL;
    }
    jb = json_builder_new();
    json_builder_begin_object(jb);
    dcd_json_int(jb, "id", 1);
    dcd_json_str(jb, "command", cmd);
    json_builder_set_member_name(jb, "arguments");
    json_builder_add_value(jb, json_node_copy(args));
    json_builder_end_object(jb);
    root = json_builder_get_root(jb);
    return json_to_string(root, FALSE);
}

void dcd_forward_serve(DcdForward *f, const char *from, const char *name,
                       const char *json)
{
    Serving *s = g_new0(Serving, 1);
    g_autoptr(GError) err = NULL;
    g_autoptr(GSocket) sock = NULL;
    g_autofree char *line = NULL;
    int fds[2];

    s->f = f;
    s->from = g_strdup(from);
    s->reply = g_strconcat("rep-", name + strlen("req-"), NULL);
    g_hash_table_add(f->serving, s);
    if (g_hash_table_size(f->serving) > DCD_FORWARD_MAX) {
        g_set_error(&err, DCD_ERROR, DCD_ERR_BUSY, "node %s runs %u"
                    " commands of other brokers already", f->b->node,
                    DCD_FORWARD_MAX);
        answer(s, NULL, err);
        return;
    }
    line = request_line(f, json, &err);
    if (!line) {
        answer(s, NULL, err);
        return;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
        g_set_error(&err, DCD_ERROR, DCD_ERR_IO, "socketpair: %s",
                    g_strerror(errno));
        answer(s, NULL, err);
        return;
    }
    sock = g_socket_new_from_fd(fds[0], &err);
    if (!sock) {
        close(fds[0]);
        close(fds[1]);
        answer(s, NULL, err);
        return;
    }
    dcd_ctl_adopt(f->ctl, sock);
    s->out = g_unix_output_stream_new(fds[1], FALSE);
    s->in = g_data_input_stream_new(g_unix_input_stream_new(fds[1], TRUE));
    g_object_unref(g_filter_input_stream_get_base_stream(
        G_FILTER_INPUT_STREAM(s->in)));
    s->line = g_strconcat(line, "\n", NULL);
    g_output_stream_write_all_async(s->out, s->line, strlen(s->line),
                                    G_PRIORITY_DEFAULT, f->cancel,
                                    on_written, s);
}

DcdForward *dcd_forward_new(DcdBroker *b, DcdCtl *ctl)
{
    DcdForward *f = g_new0(DcdForward, 1);

    f->b = b;
    f->ctl = ctl;
    f->serving = g_hash_table_new_full(NULL, NULL, serving_free, NULL);
    f->cancel = g_cancellable_new();
    return f;
}

void dcd_forward_free(DcdForward *f)
{
    if (!f) {
        return;
    }
    g_cancellable_cancel(f->cancel);
    g_hash_table_unref(f->serving);
    g_object_unref(f->cancel);
    g_free(f);
}
