/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket and dcdctl: bad requests get an error and leave the
 * connection usable; dcdctl prints tables or JSON and exits 0, 1 (broker
 * said no) or 2 (bad usage) with one line on stderr.
 */
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "harness.h"

/* A raw control connection: send a line, read the reply line. */
typedef struct Raw {
    GSocketConnection *conn;
    GDataInputStream *in;
} Raw;

static Raw *raw_open(TBroker *b)
{
    g_autoptr(GSocketClient) sc = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(b->ctl_sock);
    Raw *r = g_new0(Raw, 1);

    r->conn = g_socket_client_connect(sc, G_SOCKET_CONNECTABLE(addr), NULL,
                                      NULL);
    g_assert_nonnull(r->conn);
    r->in = g_data_input_stream_new(
        g_io_stream_get_input_stream(G_IO_STREAM(r->conn)));
    return r;
}

static JsonObject *raw_call(Raw *r, const char *line)
{
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(r->conn));
    g_autofree char *reply = NULL;
    g_autoptr(JsonParser) p = json_parser_new();

    g_assert_true(g_output_stream_write_all(out, line, strlen(line), NULL,
                                            NULL, NULL));
    g_assert_true(g_output_stream_write_all(out, "\n", 1, NULL, NULL, NULL));
    reply = g_data_input_stream_read_line(r->in, NULL, NULL, NULL);
    g_assert_nonnull(reply);
    g_assert_true(json_parser_load_from_data(p, reply, -1, NULL));
    return json_object_ref(json_node_get_object(json_parser_get_root(p)));
}

static void raw_close(Raw *r)
{
    g_object_unref(r->in);
    g_object_unref(r->conn);
    g_free(r);
}

static const char *error_class(JsonObject *o)
{
    JsonNode *e = json_object_get_member(o, "error");

    g_assert_nonnull(e);
    return json_object_get_string_member(json_node_get_object(e), "class");
}

static void test_bad_requests(void)
{
    TBroker *b = tbroker_start(NULL, NULL);
    Raw *r = raw_open(b);
    g_autoptr(JsonObject) o1 = raw_call(r, "this is not json");
    g_autoptr(JsonObject) o2 = raw_call(r, "{\"id\": 1, \"command\": \"nope\"}");
    g_autoptr(JsonObject) o3 = raw_call(r,
        "{\"id\": 2, \"command\": \"pool-create\","
        " \"arguments\": {\"size\": 4096, \"colour\": \"red\"}}");
    g_autoptr(JsonObject) o4 = raw_call(r,
        "{\"id\": 3, \"command\": \"pool-create\","
        " \"arguments\": {\"size\": -5}}");
    g_autoptr(JsonObject) o5 = raw_call(r,
        "{\"id\": 4, \"command\": \"extent-add\", \"arguments\":"
        " {\"host-id\": 0, \"tag\": \"not-a-uuid\"}}");
    /* members of the wrong type: an error each, never a crash */
    static const char *const wrong[] = {
        "{\"id\": 6, \"command\": 0}",
        "{\"id\": 7, \"command\": []}",
        "{\"id\": 8, \"command\": {}}",
        "{\"id\": 9}",
        "{\"id\": 10, \"command\": \"status\", \"arguments\": []}",
        "{\"id\": 11, \"command\": \"pool-create\", \"arguments\":"
        " {\"size\": \"4096\"}}",
        "{\"id\": 12, \"command\": \"pool-create\", \"arguments\":"
        " {\"size\": 4096, \"requesters\": [\"1\"]}}",
        "{\"id\": 13, \"command\": \"pool-create\", \"arguments\":"
        " {\"size\": 4096, \"tag\": [1]}}",
        "{\"id\": 14, \"command\": \"pool-create\", \"arguments\":"
        " {\"size\": 4096, \"tag\":"
        " \"00000000-0000-0000-0000-000000000000\"}}",
        "{\"id\": 15, \"command\": \"pool-create\", \"arguments\":"
        " {\"size\": 5000}}",
        "{\"id\": 16, \"command\": \"extent-add\", \"arguments\":"
        " {\"host-id\": 0, \"tag\": \"0f5b6a2e-1d2c-4b7a-9e3f-51a6c0d2e4f8\","
        " \"extents\": [{\"offset\": null, \"len\": 1}]}}",
        "{\"id\": 17, \"command\": \"extent-list\", \"arguments\":"
        " {\"all\": 1}}",
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(wrong); i++) {
        g_autoptr(JsonObject) o = raw_call(r, wrong[i]);

        g_assert_cmpstr(error_class(o), ==, "inval");
        g_assert_cmpint(json_object_get_int_member(o, "id"), ==, 6 + i);
    }
    g_autoptr(JsonObject) o6 = raw_call(r, "{\"id\": 5, \"command\": \"status\"}");

    g_assert_cmpstr(error_class(o1), ==, "inval");
    g_assert_true(json_node_is_null(json_object_get_member(o1, "id")));
    g_assert_cmpstr(error_class(o2), ==, "inval");
    g_assert_cmpint(json_object_get_int_member(o2, "id"), ==, 1);
    g_assert_cmpstr(error_class(o3), ==, "inval");
    g_assert_cmpstr(error_class(o4), ==, "inval");
    g_assert_cmpstr(error_class(o5), ==, "inval");
    /* after all that, the same connection still works */
    g_assert_cmpint(json_object_get_int_member(o6, "id"), ==, 5);
    g_assert_true(json_object_has_member(o6, "return"));
    raw_close(r);
    tbroker_free(b);
}

/* A line over 1 MiB is refused and the connection closed. */
static void test_oversized(void)
{
    TBroker *b = tbroker_start(NULL, NULL);
    Raw *r = raw_open(b);
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(r->conn));
    g_autofree char *big = g_malloc(2 << 20);
    g_autofree char *reply = NULL;

    memset(big, ' ', 2 << 20);
    g_output_stream_write_all(out, big, 2 << 20, NULL, NULL, NULL);
    reply = g_data_input_stream_read_line(r->in, NULL, NULL, NULL);
    g_assert_nonnull(reply);
    g_assert_nonnull(strstr(reply, "longer than"));
    raw_close(r);
    json_node_unref(tcall(b, "status", "{}"));
    tbroker_free(b);
}

/* Run prog with argv from ap (NULL ended) after first; its exit status. */
static int run_va(const char *prog, const char *first, char **out,
                  char **err, va_list ap)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GSubprocess) p = NULL;

    g_ptr_array_add(argv, g_strdup(prog));
    if (first) {
        g_ptr_array_add(argv, g_strdup(first));
    }
    for (const char *a = va_arg(ap, const char *); a;
         a = va_arg(ap, const char *)) {
        g_ptr_array_add(argv, g_strdup(a));
    }
    g_ptr_array_add(argv, NULL);
    p = g_subprocess_newv((const char *const *)argv->pdata,
                          (out ? G_SUBPROCESS_FLAGS_STDOUT_PIPE :
                                 G_SUBPROCESS_FLAGS_STDOUT_SILENCE) |
                          G_SUBPROCESS_FLAGS_STDERR_PIPE, NULL);
    g_assert_nonnull(p);
    g_assert_true(g_subprocess_communicate_utf8(p, NULL, NULL, out, err,
                                                NULL));
    return g_subprocess_get_exit_status(p);
}

static int dcdctl(TBroker *b, char **out, char **err, ...)
{
    g_autofree char *sock = g_strdup_printf("--socket=%s", b->ctl_sock);
    va_list ap;
    int rc;

    va_start(ap, err);
    rc = run_va(g_getenv("DCDCTL"), sock, out, err, ap);
    va_end(ap);
    return rc;
}

static void test_dcdctl(void)
{
    TBroker *b = tbroker_start(NULL, NULL);
    g_autofree char *out = NULL, *err = NULL;
    g_autoptr(JsonParser) p = json_parser_new();
    const char *tag = "0f5b6a2e-1d2c-4b7a-9e3f-51a6c0d2e4f8";

    g_assert_cmpint(dcdctl(b, &out, &err, "--json", "pool", "create",
                           "--size", "2M", "--tag", tag, NULL), ==, 0);
    g_assert_true(json_parser_load_from_data(p, out, -1, NULL));
    g_assert_cmpint(json_object_get_int_member(
        json_node_get_object(json_parser_get_root(p)), "size"), ==, 2 << 20);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    g_assert_cmpint(dcdctl(b, &out, &err, "pool", "list", NULL), ==, 0);
    g_assert_nonnull(strstr(out, "TAG"));
    g_assert_nonnull(strstr(out, tag));
    g_assert_nonnull(strstr(out, "2M"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    /* the broker says no: exit 1, one line naming the class */
    g_assert_cmpint(dcdctl(b, &out, &err, "pool", "create", "--size", "2M",
                           "--tag", tag, NULL), ==, 1);
    g_assert_true(g_str_has_prefix(err, "dcdctl: exist: "));
    g_assert_cmpint(strchr(err, '\n') - err, ==, (int)strlen(err) - 1);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(dcdctl(b, &out, &err, "extent", "add", "--host", "3",
                           "--tag", tag, NULL), ==, 1);
    g_assert_nonnull(strstr(err, "noent"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);

    /* bad usage: exit 2 before anything is sent */
    g_assert_cmpint(dcdctl(b, &out, &err, "pool", "create", "--size", "12X",
                           NULL), ==, 2);
    g_assert_nonnull(strstr(err, "not a size"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(dcdctl(b, &out, &err, "frobnicate", NULL), ==, 2);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(dcdctl(b, &out, &err, "pool", "destroy", tag, NULL), ==,
                    0);
    tbroker_free(b);
}

/* The group of tag that hostsim h has pending, once it has it. */
static uint64_t pending_group(THost *h, const char *tag)
{
    gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < end) {
        g_autofree char *j = thost_ok(h, "pending");
        g_autoptr(JsonParser) p = json_parser_new();
        JsonArray *a;

        g_assert_true(json_parser_load_from_data(p, j, -1, NULL));
        a = json_node_get_array(json_parser_get_root(p));
        for (guint i = 0; i < json_array_get_length(a); i++) {
            JsonObject *g = json_array_get_object_element(a, i);
            JsonObject *e = json_array_get_object_element(
                json_object_get_array_member(g, "extents"), 0);

            if (g_str_equal(json_object_get_string_member(e, "tag"), tag)) {
                return json_object_get_int_member(g, "group");
            }
        }
        g_usleep(10000);
    }
    g_assert_not_reached();
}

/* extent add --wait while hostsim h rejects the offer. */
static int add_rejected(TBroker *b, THost *h, const char *tag, char **err)
{
    g_autofree char *sock = g_strdup_printf("--socket=%s", b->ctl_sock);
    const char *argv[] = { g_getenv("DCDCTL"), sock, "extent", "add",
                           "--host", "0", "--tag", tag, "--wait", NULL };
    g_autoptr(GSubprocess) p = g_subprocess_newv(
        argv, G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
        G_SUBPROCESS_FLAGS_STDERR_PIPE, NULL);

    g_free(thost_ok(h, "reject %" G_GUINT64_FORMAT, pending_group(h, tag)));
    g_assert_true(g_subprocess_communicate_utf8(p, NULL, NULL, NULL, err,
                                                NULL));
    return g_subprocess_get_exit_status(p);
}

/*
 * extent add --wait exits 0 only when the extents are usable: 3 when the
 * host rejected them, 4 when the offer ended unanswered (the broker's
 * offer timeout), 5 when --wait-timeout passed first.
 */
static void test_dcdctl_wait_outcomes(void)
{
    TBroker *b = tbroker_start(NULL, "--offer-timeout=1500", NULL);
    THost *h = thost_start(b, 0, "--manual", NULL);
    g_autofree char *t1 = tpool(b, "{\"size\": 2097152}");
    g_autofree char *t2 = tpool(b, "{\"size\": 2097152}");
    g_autofree char *t3 = tpool(b, "{\"size\": 2097152}");
    g_autofree char *out = NULL, *err = NULL;

    g_free(thost_ok(h, "wait-connected 5000"));
    g_assert_cmpint(dcdctl(b, &out, &err, "extent", "add", "--host", "0",
                           "--tag", t1, "--wait", "--wait-timeout", "200",
                           NULL), ==, 5);
    g_assert_nonnull(strstr(err, "timeout: "));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    /* Nobody answers: the broker withdraws the offer (--offer-timeout). */
    g_assert_cmpint(dcdctl(b, &out, &err, "extent", "add", "--host", "0",
                           "--tag", t2, "--wait", NULL), ==, 4);
    g_assert_nonnull(strstr(err, "ended before the host accepted"));
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(add_rejected(b, h, t3, &err), ==, 3);
    g_assert_nonnull(strstr(err, "rejected"));
    g_clear_pointer(&err, g_free);
    thost_kill(h);
    tbroker_free(b);
}

/* dcdctl gives up on a broker that does not answer (here: stopped). */
static void test_dcdctl_timeout(void)
{
    TBroker *b = tbroker_start(NULL, NULL);
    g_autofree char *out = NULL, *err = NULL;
    GPid pid = atoi(g_subprocess_get_identifier(b->proc));
    gint64 t0;

    kill(pid, SIGSTOP);
    t0 = g_get_monotonic_time();
    g_assert_cmpint(dcdctl(b, &out, &err, "--timeout", "1", "status", NULL),
                    ==, 1);
    g_assert_nonnull(strstr(err, "did not answer in 1 s"));
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 10 * G_USEC_PER_SEC);
    kill(pid, SIGCONT);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(dcdctl(b, &out, &err, "--timeout", "x", "status", NULL),
                    ==, 2);
    tbroker_free(b);
}

static int run_broker(char **err, ...)
{
    va_list ap;
    int rc;

    va_start(ap, err);
    rc = run_va(g_getenv("DCD_BROKER"), NULL, NULL, err, ap);
    va_end(ap);
    return rc;
}

/* Bad options stop the broker at start, with a line that says why. */
static void test_bad_options(void)
{
    g_autofree char *dir = g_dir_make_tmp("dcd-opts-XXXXXX", NULL);
    g_autofree char *sock = g_build_filename(dir, "h.sock", NULL);
    g_autofree char *ctl = g_build_filename(dir, "c.sock", NULL);
    g_autofree char *hs = g_strdup_printf("--host-socket=%s", sock);
    g_autofree char *cs = g_strdup_printf("--control-socket=%s", ctl);
    g_autofree char *pd = g_strdup_printf("--pool-dir=%s/none", dir);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    static const char *const cases[][3] = {
        { "--idle-timeout=-1", NULL, "--idle-timeout" },
        { "--offer-timeout=-5", NULL, "--offer-timeout" },
        { "stray", NULL, "unexpected argument 'stray'" },
        { "--no-state", "--state-dir=/tmp/x", "contradict" },
    };
    char *err = NULL;

    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_assert_cmpint(run_broker(&err, hs, cs, cases[i][0], cases[i][1],
                                   NULL), ==, 2);
        g_assert_nonnull(strstr(err, cases[i][2]));
        g_clear_pointer(&err, g_free);
    }
    g_assert_cmpint(run_broker(&err, hs, cs, "--no-state", pd, NULL), ==, 1);
    g_assert_nonnull(strstr(err, "no such directory"));
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(run_broker(&err, "--version", NULL), ==, 0);
    g_free(err);
    g_assert_cmpint(system(cmd), ==, 0);
}

/*
 * --socket-group: the sockets are 0660 with that group and the dir made
 * for them lets the group through; a dir of the user's that the group
 * cannot search is named, not silently left.
 */
static void test_socket_group(void)
{
    g_autofree char *dir = g_dir_make_tmp("dcd-group-XXXXXX", NULL);
    g_autofree char *rt = g_build_filename(dir, "run", "dcd-broker", NULL);
    g_autofree char *other = g_build_filename(dir, "private", NULL);
    g_autofree char *cs = g_strdup_printf("--control-socket=%s/c.sock",
                                          other);
    g_autofree char *hs2 = g_strdup_printf("--host-socket=%s/h.sock", other);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    g_autofree char *sock = g_build_filename(rt, "host.sock", NULL);
    const char *const extra[] = { "--socket-group=daemon", NULL };
    TBrokerOpts o = { .dir = rt, .extra = extra };
    char *err = NULL;
    struct stat st;
    TBroker *b;

    /* an existing 0700 dcd-broker dir is ours to fix */
    g_assert_cmpint(g_mkdir_with_parents(rt, 0700), ==, 0);
    b = tbroker_new(&o);
    g_assert_cmpint(stat(rt, &st), ==, 0);
    g_assert_cmpuint(st.st_gid, ==, getgrnam("daemon")->gr_gid);
    g_assert_cmpuint(st.st_mode & 0777, ==, 0710);
    g_assert_cmpint(stat(sock, &st), ==, 0);
    g_assert_cmpuint(st.st_mode & 0777, ==, 0660);
    g_assert_cmpuint(st.st_gid, ==, getgrnam("daemon")->gr_gid);
    tbroker_free(b);

    g_assert_cmpint(g_mkdir(other, 0700), ==, 0);
    g_assert_cmpint(run_broker(&err, "--no-state", "--socket-group=daemon",
                               hs2, cs, NULL), ==, 1);
    g_assert_nonnull(strstr(err, "cannot reach"));
    g_free(err);
    g_assert_cmpint(system(cmd), ==, 0);
}

typedef struct LineRead {
    char *line;
    bool done;
} LineRead;

static void line_read(GObject *src, GAsyncResult *res, gpointer opaque)
{
    LineRead *r = opaque;

    r->line = g_data_input_stream_read_line_finish(G_DATA_INPUT_STREAM(src),
                                                   res, NULL, NULL);
    r->done = true;
}

/* The next line of in, or NULL if none comes in ms. */
static char *read_line_within(GDataInputStream *in, guint ms)
{
    g_autoptr(GCancellable) cancel = g_cancellable_new();
    gint64 end = g_get_monotonic_time() + ms * 1000;
    LineRead r = { 0 };

    g_data_input_stream_read_line_async(in, G_PRIORITY_DEFAULT, cancel,
                                        line_read, &r);
    while (!r.done && g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    if (!r.done) {
        g_cancellable_cancel(cancel);
        while (!r.done) {
            g_main_context_iteration(NULL, TRUE);
        }
    }
    return r.line;
}

/* The event name of the next event line of a monitor, within 5 s. */
static char *next_event(GDataInputStream *in)
{
    g_autofree char *line = read_line_within(in, 5000);
    g_autoptr(JsonParser) p = json_parser_new();

    g_assert_nonnull(line);
    g_assert_true(json_parser_load_from_data(p, line, -1, NULL));
    return g_strdup(json_object_get_string_member(
        json_node_get_object(json_parser_get_root(p)), "event"));
}

/*
 * dcdctl monitor streams what happens; extent release --wait returns
 * once the host has released, with the final states.
 */
static void test_monitor_and_release_wait(void)
{
    TBroker *b = tbroker_start(NULL, NULL);
    g_autofree char *sock = g_strdup_printf("--socket=%s", b->ctl_sock);
    g_autoptr(GSubprocess) mon = NULL;
    g_autoptr(GDataInputStream) in = NULL;
    g_autofree char *tag = NULL, *out = NULL, *err = NULL;
    g_autoptr(JsonParser) jp = json_parser_new();
    JsonObject *e;
    THost *h;
    char *ev = NULL;
    bool subscribed = false;

    mon = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE, NULL,
                           g_getenv("DCDCTL"), sock, "--json", "monitor",
                           NULL);
    g_assert_nonnull(mon);
    in = g_data_input_stream_new(g_subprocess_get_stdout_pipe(mon));
    /* It listens once an event of ours reaches it. */
    for (int i = 0; i < 50 && !subscribed; i++) {
        g_autofree char *probe = tpool(b, "{\"size\": 4096}");
        g_autofree char *line = read_line_within(in, 100);

        subscribed = line && strstr(line, "\"pool-created\"");
    }
    g_assert_true(subscribed);
    while ((ev = read_line_within(in, 200))) {
        g_free(ev);
    }

    h = thost_start(b, 2, NULL);
    g_free(thost_ok(h, "wait-connected 5000"));
    ev = next_event(in);
    g_assert_cmpstr(ev, ==, "host-connected");
    g_free(ev);
    tag = tpool(b, "{\"size\": 4194304}");
    ev = next_event(in);
    g_assert_cmpstr(ev, ==, "pool-created");
    g_free(ev);
    json_node_unref(tcall(b, "extent-add", "{\"host-id\": 2, \"tag\": \"%s\","
                          " \"wait\": true}", tag));
    ev = next_event(in);
    g_assert_cmpstr(ev, ==, "extent");     /* pending */
    g_free(ev);
    ev = next_event(in);
    g_assert_cmpstr(ev, ==, "extent");     /* accepted */
    g_free(ev);

    g_assert_cmpint(dcdctl(b, &out, &err, "--json", "extent", "release",
                           "--host", "2", "--tag", tag, "--wait", NULL), ==, 0);
    g_assert_true(json_parser_load_from_data(jp, out, -1, NULL));
    e = json_array_get_object_element(json_object_get_array_member(
        json_node_get_object(json_parser_get_root(jp)), "extents"), 0);
    g_assert_cmpstr(json_object_get_string_member(e, "state"), ==,
                    "released");
    g_assert_cmpuint(tcount(b, 2, tag, "released"), ==, 1);
    json_node_unref(tcall(b, "pool-destroy", "{\"tag\": \"%s\"}", tag));
    subscribed = false;
    for (int i = 0; i < 4 && !subscribed; i++) {
        ev = next_event(in);   /* releasing, released, destroyed */
        subscribed = g_str_equal(ev, "pool-destroyed");
        if (!subscribed) {
            g_assert_cmpstr(ev, ==, "extent");
        }
        g_free(ev);
    }
    g_assert_true(subscribed);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(dcdctl(b, &out, &err, "pool", NULL), ==, 2);
    g_assert_nonnull(strstr(err, "create"));
    g_assert_nonnull(strstr(err, "destroy"));
    thost_quit(h);
    g_subprocess_force_exit(mon);
    tbroker_free(b);
}

/*
 * --control-timeout: a connection that sends no request is told why and
 * closed, and so is one idle after its last reply; one with a monitor
 * or a wait open stays.
 */
static void test_control_timeout(void)
{
    TBroker *b = tbroker_start(NULL, "--control-timeout=300", NULL);
    gint64 opened = g_get_monotonic_time();
    Raw *silent = raw_open(b), *mon = raw_open(b), *talker, *waiter;
    GOutputStream *out;
    g_autoptr(JsonObject) o1 = NULL, o2 = NULL, o3 = NULL;
    g_autofree char *line = NULL, *eof = NULL, *tag = NULL, *req = NULL;
    THost *h;
    gint64 t0;

    o1 = raw_call(mon, "{\"id\": 1, \"command\": \"monitor\"}");
    g_assert_true(json_object_has_member(o1, "return"));
    /* host 5 answers nothing, so the wait stays open past the timeout */
    h = thost_start(b, 5, "--manual", NULL);
    g_free(thost_ok(h, "wait-connected 5000"));
    tag = tpool(b, "{\"size\": 2097152}");
    g_free(read_line_within(mon->in, 5000));   /* host-connected */
    g_free(read_line_within(mon->in, 5000));   /* pool-created */
    req = g_strdup_printf("{\"id\": 2, \"command\": \"extent-add\","
                          " \"arguments\": {\"host-id\": 5, \"tag\": \"%s\","
                          " \"wait\": true, \"timeout-ms\": 1500}}\n", tag);
    waiter = raw_open(b);
    out = g_io_stream_get_output_stream(G_IO_STREAM(waiter->conn));
    t0 = g_get_monotonic_time();
    g_assert_true(g_output_stream_write_all(out, req, strlen(req), NULL, NULL,
                                            NULL));

    line = read_line_within(silent->in, 5000);
    g_assert_nonnull(line);
    g_assert_nonnull(strstr(line, "\"unavail\""));
    g_assert_nonnull(strstr(line, "no request for 300 ms"));
    g_assert_cmpint(g_get_monotonic_time() - opened, >=, 300 * 1000);
    eof = read_line_within(silent->in, 5000);
    g_assert_null(eof);

    /* A reply starts the clock again; then it runs out too. */
    talker = raw_open(b);
    o2 = raw_call(talker, "{\"id\": 3, \"command\": \"status\"}");
    g_assert_true(json_object_has_member(o2, "return"));
    g_clear_pointer(&line, g_free);
    line = read_line_within(talker->in, 5000);
    g_assert_nonnull(line);
    g_assert_nonnull(strstr(line, "no request for 300 ms"));

    /* The wait ran its own time out (1.5 s), not the idle one. */
    g_clear_pointer(&line, g_free);
    line = read_line_within(waiter->in, 5000);
    g_assert_nonnull(line);
    g_assert_nonnull(strstr(line, "has not answered group"));
    g_assert_cmpint(g_get_monotonic_time() - t0, >=, 1400 * 1000);

    /* The monitor is still open and answers. */
    while ((eof = read_line_within(mon->in, 100))) {
        g_free(eof);   /* the extent's events */
    }
    o3 = raw_call(mon, "{\"id\": 4, \"command\": \"status\"}");
    g_assert_true(json_object_has_member(o3, "return"));
    raw_close(silent);
    raw_close(talker);
    raw_close(mon);
    raw_close(waiter);
    thost_quit(h);
    tbroker_free(b);
}

/* The next datagram on a notify socket, within 5 s. */
static char *notify_recv(GSocket *s)
{
    char buf[512];
    gssize n;

    g_socket_set_timeout(s, 5);
    n = g_socket_receive(s, buf, sizeof(buf) - 1, NULL, NULL);
    g_assert_cmpint(n, >, 0);
    buf[n] = '\0';
    return g_strdup(buf);
}

/*
 * Socket activation as systemd does it: the broker adopts both inherited
 * sockets by name, serves them, says READY=1 (and STOPPING=1 at the end)
 * on NOTIFY_SOCKET, and survives SIGHUP.
 */
static void test_socket_activation(void)
{
    const char *activate = g_getenv("SYSTEMD_SOCKET_ACTIVATE");
    g_autofree char *dir = g_dir_make_tmp("dcd-activate-XXXXXX", NULL);
    g_autofree char *hsock = g_build_filename(dir, "h", NULL);
    g_autofree char *csock = g_build_filename(dir, "c", NULL);
    g_autofree char *nsock = g_build_filename(dir, "notify", NULL);
    g_autofree char *hl = g_strdup_printf("--listen=%s", hsock);
    g_autofree char *cl = g_strdup_printf("--listen=%s", csock);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    g_autofree char *ne = g_strdup_printf("--setenv=NOTIFY_SOCKET=%s", nsock);
    g_autoptr(GSocketAddress) naddr = g_unix_socket_address_new(nsock);
    g_autoptr(GSocket) notify = g_socket_new(G_SOCKET_FAMILY_UNIX,
                                             G_SOCKET_TYPE_DATAGRAM, 0, NULL);
    g_autoptr(GSubprocessLauncher) l =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                  G_SUBPROCESS_FLAGS_STDERR_SILENCE);
    g_autoptr(GSubprocess) p = NULL;
    g_autoptr(DcdCtlClient) c = NULL;
    g_autoptr(JsonNode) st = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *msg = NULL;
    THost *h;
    TBroker fake = { .host_sock = hsock, .ctl_sock = csock };

    if (!activate) {
        g_test_fail_printf("systemd-socket-activate is not installed"
                           " (scripts/install-deps.sh installs systemd)");
        return;
    }
    g_assert_true(g_socket_bind(notify, naddr, TRUE, NULL));
    /* Paths of its own that it must not use: the inherited ones win. */
    /* It passes on only the environment it is told to. */
    p = g_subprocess_launcher_spawn(l, &err, activate, hl, cl, ne,
                                    "--fdname=host:control",
                                    g_getenv("DCD_BROKER"), "--no-state",
                                    "--host-socket=/nonexistent/h",
                                    "--control-socket=/nonexistent/c", NULL);
    g_assert_no_error(err);
    /* The first connection starts it. */
    for (int i = 0; i < 100 && !c; i++) {
        c = dcd_ctl_client_connect(csock, NULL);
        if (!c) {
            g_usleep(20000);
        }
    }
    g_assert_nonnull(c);
    dcd_ctl_client_set_timeout(c, 5000);
    st = dcd_ctl_client_call(c, "status", NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(st),
                                                  "control-socket"), ==,
                    csock);
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(st),
                                                  "host-socket"), ==, hsock);
    msg = notify_recv(notify);
    g_assert_nonnull(strstr(msg, "READY=1"));
    g_clear_pointer(&msg, g_free);

    /* A host reaches it on the inherited host socket. */
    fake.dir = dir;
    h = thost_start(&fake, 3, NULL);
    g_free(thost_ok(h, "wait-connected 5000"));
    thost_quit(h);

    g_subprocess_send_signal(p, SIGHUP);
    g_usleep(100000);
    g_clear_pointer(&st, json_node_unref);
    st = dcd_ctl_client_call(c, "status", NULL, &err);
    g_assert_no_error(err);
    g_subprocess_send_signal(p, SIGTERM);
    msg = notify_recv(notify);
    g_assert_nonnull(strstr(msg, "STOPPING=1"));
    g_assert_true(g_subprocess_wait_check(p, NULL, NULL));
    g_assert_cmpint(system(cmd), ==, 0);
}

static void low_nofile(gpointer unused)
{
    struct rlimit r = { 48, 48 };

    setrlimit(RLIMIT_NOFILE, &r);
}

static double cpu_seconds(GPid pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;
    g_auto(GStrv) f = NULL;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    f = g_strsplit(strrchr(text, ')') + 2, " ", -1);
    /* utime and stime are fields 14 and 15, i.e. 11 and 12 after ")" */
    return (g_ascii_strtod(f[11], NULL) + g_ascii_strtod(f[12], NULL)) /
           sysconf(_SC_CLK_TCK);
}

/*
 * A peer that opens connections until the broker runs out of fds must
 * not make it spin on the listening socket; once they go, it serves again.
 */
static void test_fd_exhaustion(void)
{
    g_autofree char *dir = g_dir_make_tmp("dcd-fds-XXXXXX", NULL);
    g_autofree char *hsock = g_build_filename(dir, "h.sock", NULL);
    g_autofree char *csock = g_build_filename(dir, "c.sock", NULL);
    g_autofree char *hs = g_strdup_printf("--host-socket=%s", hsock);
    g_autofree char *cs = g_strdup_printf("--control-socket=%s", csock);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    g_autofree char *line = NULL;
    g_autoptr(GSubprocessLauncher) l =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                  G_SUBPROCESS_FLAGS_STDERR_SILENCE);
    g_autoptr(GSubprocess) p = NULL;
    g_autoptr(GDataInputStream) out = NULL;
    g_autoptr(GPtrArray) conns = g_ptr_array_new_with_free_func(
        g_object_unref);
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(hsock);
    g_autoptr(DcdCtlClient) c = NULL;
    g_autoptr(JsonNode) st = NULL;
    g_autoptr(GError) err = NULL;
    GPid pid;
    double cpu;

    g_subprocess_launcher_set_child_setup(l, low_nofile, NULL, NULL);
    p = g_subprocess_launcher_spawn(l, &err, g_getenv("DCD_BROKER"),
                                    "--no-state", hs, cs, NULL);
    g_assert_no_error(err);
    pid = atoi(g_subprocess_get_identifier(p));
    out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(p));
    line = g_data_input_stream_read_line(out, NULL, NULL, NULL);
    g_assert_nonnull(strstr(line, "ready"));
    for (int i = 0; i < 80; i++) {
        GSocket *s = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                                  0, NULL);

        g_socket_set_blocking(s, FALSE);
        g_socket_connect(s, addr, NULL, NULL);
        g_ptr_array_add(conns, s);
    }
    g_usleep(300000);
    cpu = cpu_seconds(pid);
    g_usleep(G_USEC_PER_SEC);
    /* spinning would cost about a second of CPU here */
    g_assert_cmpfloat(cpu_seconds(pid) - cpu, <, 0.3);
    g_ptr_array_set_size(conns, 0);
    g_usleep(300000);
    c = dcd_ctl_client_connect(csock, &err);
    g_assert_no_error(err);
    st = dcd_ctl_client_call(c, "status", NULL, &err);
    g_assert_no_error(err);
    g_subprocess_send_signal(p, SIGTERM);
    g_assert_true(g_subprocess_wait_check(p, NULL, NULL));
    g_assert_cmpint(system(cmd), ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/control/fd-exhaustion", test_fd_exhaustion);
    g_test_add_func("/control/socket-activation", test_socket_activation);
    g_test_add_func("/control/monitor-and-release-wait",
                    test_monitor_and_release_wait);
    g_test_add_func("/control/dcdctl-timeout", test_dcdctl_timeout);
    g_test_add_func("/control/dcdctl-wait-outcomes",
                    test_dcdctl_wait_outcomes);
    g_test_add_func("/control/bad-options", test_bad_options);
    g_test_add_func("/control/control-timeout", test_control_timeout);
    g_test_add_func("/control/socket-group", test_socket_group);
    g_test_add_func("/control/bad-requests", test_bad_requests);
    g_test_add_func("/control/oversized", test_oversized);
    g_test_add_func("/control/dcdctl", test_dcdctl);
    return g_test_run();
}
