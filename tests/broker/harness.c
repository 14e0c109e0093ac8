/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * harness.c - test processes.  Binaries come from the environment meson
 * sets (DCD_BROKER, DCD_HOSTSIM), so tests run the build's own programs.
 * Every child dies with the test (PR_SET_PDEATHSIG), so a failed
 * assertion leaves nothing running.
 */
#include <signal.h>
#include <sys/prctl.h>
#include <string.h>
#include <glib/gstdio.h>

#include "harness.h"

static const char *need_env(const char *name)
{
    const char *v = g_getenv(name);

    if (!v) {
        g_error("%s is not set: run the tests with meson test", name);
    }
    return v;
}

/* Children die with the test, so a failed assertion cannot hang the run. */
static void die_with_parent(gpointer unused)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocess *spawn(GPtrArray *argv, GSubprocessFlags flags,
                          const char *stderr_path)
{
    g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(flags);
    g_autoptr(GError) err = NULL;
    GSubprocess *p;

    g_subprocess_launcher_set_child_setup(l, die_with_parent, NULL, NULL);
    if (stderr_path) {
        g_subprocess_launcher_set_stderr_file_path(l, stderr_path);
    }
    p = g_subprocess_launcher_spawnv(l, (const char *const *)argv->pdata,
                                     &err);
    g_assert_no_error(err);
    return p;
}

static GPtrArray *argv_from(const char *first, va_list ap)
{
    GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);

    for (const char *a = first; a; a = va_arg(ap, const char *)) {
        g_ptr_array_add(argv, g_strdup(a));
    }
    return argv;
}

void trm_tree(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, name, NULL);

        if (g_file_test(p, G_FILE_TEST_IS_DIR) &&
            !g_file_test(p, G_FILE_TEST_IS_SYMLINK)) {
            trm_tree(p);
        } else {
            g_unlink(p);
        }
    }
    g_rmdir(dir);
}

void tbroker_show_log(TBroker *b)
{
    g_autofree char *text = NULL;

    if (b->log && g_file_get_contents(b->log, &text, NULL, NULL) && *text) {
        g_test_message("broker stderr:\n%s", text);
    }
}

static void broker_spawn(TBroker *b)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) err = NULL;
    g_autofree char *line = NULL;

    g_ptr_array_add(argv, g_strdup(need_env("DCD_BROKER")));
    g_ptr_array_add(argv, g_strdup_printf("--host-socket=%s", b->host_sock));
    g_ptr_array_add(argv, g_strdup_printf("--control-socket=%s", b->ctl_sock));
    if (!b->no_state_dir) {
        g_ptr_array_add(argv, g_strdup_printf("--state-dir=%s",
                                              b->state_dir));
    }
    g_ptr_array_add(argv, g_strdup_printf("--pool-dir=%s", b->pool_dir));
    for (guint i = 0; i < b->extra->len; i++) {
        g_ptr_array_add(argv, g_strdup(b->extra->pdata[i]));
    }
    g_ptr_array_add(argv, NULL);
    b->proc = spawn(argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE, b->log);
    /* The broker prints one line when both sockets listen. */
    b->out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(b->proc));
    line = g_data_input_stream_read_line(b->out, NULL, NULL, &err);
    if (err || !line || !g_str_has_prefix(line, "dcd-broker: ready")) {
        tbroker_show_log(b);
        g_test_message("dcd-broker did not get ready (said: %s)",
                       line ? line : "nothing");
    }
    g_assert_no_error(err);
    g_assert_nonnull(line);
    g_assert_true(g_str_has_prefix(line, "dcd-broker: ready"));
    g_free(b->ready);
    b->ready = g_steal_pointer(&line);
    b->ctl = dcd_ctl_client_connect(b->ctl_sock, &err);
    g_assert_no_error(err);
}

TBroker *tbroker_new(const TBrokerOpts *o)
{
    TBroker *b = g_new0(TBroker, 1);

    b->dir = o->dir ? g_strdup(o->dir)
                    : g_dir_make_tmp("dcd-test-XXXXXX", NULL);
    g_assert_nonnull(b->dir);
    b->host_sock = g_build_filename(b->dir, "host.sock", NULL);
    b->ctl_sock = g_build_filename(b->dir, "control.sock", NULL);
    b->state_dir = g_build_filename(b->dir, "state", NULL);
    b->pool_dir = g_build_filename(b->dir, "pools", NULL);
    if (o->log) {
        b->log = g_build_filename(b->dir, "broker.log", NULL);
    }
    b->show_log = o->show_log;
    b->no_state_dir = o->no_state_dir;
    b->wait_us = o->wait_us ? o->wait_us : 5 * G_USEC_PER_SEC;
    b->extra = g_ptr_array_new_with_free_func(g_free);
    for (const char *const *e = o->extra; e && *e; e++) {
        g_ptr_array_add(b->extra, g_strdup(*e));
    }
    g_mkdir_with_parents(b->pool_dir, 0700);
    broker_spawn(b);
    return b;
}

TBroker *tbroker_start(const char *dir, ...)
{
    g_autoptr(GPtrArray) extra = NULL;
    TBrokerOpts o = { .dir = dir };
    va_list ap;

    va_start(ap, dir);
    extra = argv_from(va_arg(ap, const char *), ap);
    va_end(ap);
    g_ptr_array_add(extra, NULL);
    o.extra = (const char *const *)extra->pdata;
    return tbroker_new(&o);
}

/* A broker that should have refused but runs on is stopped, not waited. */
typedef struct Watchdog {
    GSubprocess *p;
    GMutex lock;
    GCond cond;
    bool done;
} Watchdog;

static gpointer watchdog(gpointer opaque)
{
    Watchdog *w = opaque;
    gint64 until = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

    g_mutex_lock(&w->lock);
    while (!w->done && g_cond_wait_until(&w->cond, &w->lock, until)) {
    }
    if (!w->done) {
        g_subprocess_force_exit(w->p);
    }
    g_mutex_unlock(&w->lock);
    return NULL;
}

char *tbroker_refused(const char *first, ...)
{
    g_autofree char *dir = g_dir_make_tmp("dcd-test-XXXXXX", NULL);
    g_autoptr(GPtrArray) argv = NULL;
    g_autoptr(GSubprocess) p = NULL;
    g_autoptr(GError) err = NULL;
    Watchdog dog = { 0 };
    GThread *t;
    char *said = NULL;
    va_list ap;

    va_start(ap, first);
    argv = argv_from(first, ap);
    va_end(ap);
    g_ptr_array_insert(argv, 0, g_strdup(g_getenv("DCD_BROKER")));
    g_ptr_array_add(argv, g_strdup_printf("--host-socket=%s/host.sock",
                                          dir));
    g_ptr_array_add(argv, g_strdup_printf("--control-socket=%s/control.sock",
                                          dir));
    g_ptr_array_add(argv, NULL);
    p = g_subprocess_newv((const char *const *)argv->pdata,
                          G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                          G_SUBPROCESS_FLAGS_STDERR_PIPE, &err);
    g_assert_no_error(err);
    dog.p = p;
    t = g_thread_new("watchdog", watchdog, &dog);
    g_assert_true(g_subprocess_communicate_utf8(p, NULL, NULL, NULL, &said,
                                                &err));
    g_mutex_lock(&dog.lock);
    dog.done = true;
    g_cond_signal(&dog.cond);
    g_mutex_unlock(&dog.lock);
    g_thread_join(t);
    if (!g_subprocess_get_if_exited(p)) {
        g_test_message("the broker did not refuse to start: %s", said);
    }
    g_assert_true(g_subprocess_get_if_exited(p));
    g_assert_cmpint(g_subprocess_get_exit_status(p), ==, 1);
    trm_tree(dir);
    return said;
}

void tbroker_stop(TBroker *b, bool kill)
{
    if (!b->proc) {
        return;
    }
    g_clear_pointer(&b->ctl, dcd_ctl_client_free);
    if (kill) {
        g_subprocess_force_exit(b->proc);
    } else {
        g_subprocess_send_signal(b->proc, SIGTERM);
    }
    g_subprocess_wait(b->proc, NULL, NULL);
    if (!kill) {
        if (!g_subprocess_get_if_exited(b->proc) ||
            g_subprocess_get_exit_status(b->proc) != 0) {
            tbroker_show_log(b);
            g_test_message("dcd-broker did not exit cleanly on SIGTERM");
        } else if (b->show_log) {
            tbroker_show_log(b);
        }
        g_assert_true(g_subprocess_get_if_exited(b->proc));
        g_assert_cmpint(g_subprocess_get_exit_status(b->proc), ==, 0);
    }
    g_clear_object(&b->out);
    g_clear_object(&b->proc);
}

void tbroker_kill(TBroker *b)
{
    g_assert_nonnull(b->proc);
    tbroker_stop(b, true);
}

void tbroker_restart(TBroker *b)
{
    g_assert_null(b->proc);
    broker_spawn(b);
}

void tbroker_free(TBroker *b)
{
    if (!b) {
        return;
    }
    tbroker_stop(b, false);
    trm_tree(b->dir);
    g_free(b->dir);
    g_free(b->host_sock);
    g_free(b->ctl_sock);
    g_free(b->state_dir);
    g_free(b->pool_dir);
    g_free(b->log);
    g_free(b->ready);
    g_ptr_array_unref(b->extra);
    g_free(b);
}

static JsonNode *vcall(TBroker *b, const char *cmd, GError **err,
                       char **args, const char *fmt, va_list ap)
{
    g_autoptr(DcdCtlClient) c = NULL;
    JsonNode *r;

    *args = g_strdup_vprintf(fmt, ap);
    /*
     * A connection per call, as dcdctl makes: the broker closes one that
     * stays idle (--control-timeout), and a test may wait long between
     * calls (a guest booting).
     */
    c = dcd_ctl_client_connect(b->ctl_sock, err);
    if (!c) {
        return NULL;
    }
    r = dcd_ctl_client_callf(c, cmd, err, "%s", **args ? *args : "{}");
    if (!r && (*err)->code == DCD_ERR_UNAVAIL &&
        strstr((*err)->message, "closed")) {
        tbroker_show_log(b);
    }
    return r;
}

JsonNode *tcall(TBroker *b, const char *cmd, const char *fmt, ...)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *args = NULL;
    JsonNode *n;
    va_list ap;

    va_start(ap, fmt);
    n = vcall(b, cmd, &err, &args, fmt, ap);
    va_end(ap);
    if (err) {
        g_error("%s %s failed: %s: %s", cmd, args, dcd_err_name(err->code),
                err->message);
    }
    return n;
}

JsonNode *tcall_try(TBroker *b, GError **errp, const char *cmd,
                    const char *fmt, ...)
{
    g_autofree char *args = NULL;
    JsonNode *n;
    va_list ap;

    va_start(ap, fmt);
    n = vcall(b, cmd, errp, &args, fmt, ap);
    va_end(ap);
    return n;
}

char *tcall_fail(TBroker *b, DcdErr want, const char *cmd, const char *fmt,
                 ...)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *args = NULL;
    JsonNode *n;
    va_list ap;

    va_start(ap, fmt);
    n = vcall(b, cmd, &err, &args, fmt, ap);
    va_end(ap);
    if (n) {
        json_node_unref(n);
        g_error("%s %s succeeded, wanted error %s", cmd, args,
                dcd_err_name(want));
    }
    g_assert_nonnull(err);
    if (err->code != (gint)want) {
        g_error("%s %s: wanted %s, got %s: %s", cmd, args, dcd_err_name(want),
                dcd_err_name(err->code), err->message);
    }
    return g_strdup(err->message);
}

char *tpool(TBroker *b, const char *args)
{
    g_autoptr(JsonNode) n = tcall(b, "pool-create", "%s", args);

    return g_strdup(json_object_get_string_member(json_node_get_object(n),
                                                  "tag"));
}

THost *thost_start(TBroker *b, unsigned id, ...)
{
    THost *h = g_new0(THost, 1);
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) extra = NULL;
    va_list ap;

    h->id = id;
    g_ptr_array_add(argv, g_strdup(need_env("DCD_HOSTSIM")));
    g_ptr_array_add(argv, g_strdup_printf("--socket=%s", b->host_sock));
    g_ptr_array_add(argv, g_strdup_printf("--host-id=%u", id));
    g_ptr_array_add(argv, g_strdup_printf("--name=sim%u", id));
    va_start(ap, id);
    extra = argv_from(va_arg(ap, const char *), ap);
    va_end(ap);
    for (guint i = 0; i < extra->len; i++) {
        g_ptr_array_add(argv, g_strdup(extra->pdata[i]));
    }
    g_ptr_array_add(argv, NULL);
    h->proc = spawn(argv, G_SUBPROCESS_FLAGS_STDIN_PIPE |
                    G_SUBPROCESS_FLAGS_STDOUT_PIPE, NULL);
    h->in = g_subprocess_get_stdin_pipe(h->proc);
    h->out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(h->proc));
    return h;
}

static char *vcmd(THost *h, const char *fmt, va_list ap)
{
    g_autofree char *cmd = g_strdup_vprintf(fmt, ap);
    g_autofree char *line = g_strconcat(cmd, "\n", NULL);
    g_autoptr(GError) err = NULL;
    char *reply;

    g_output_stream_write_all(h->in, line, strlen(line), NULL, NULL, &err);
    g_assert_no_error(err);
    reply = g_data_input_stream_read_line(h->out, NULL, NULL, &err);
    g_assert_no_error(err);
    if (!reply) {
        g_error("hostsim %u exited during '%s'", h->id, cmd);
    }
    return reply;
}

char *thost_cmd(THost *h, const char *fmt, ...)
{
    va_list ap;
    char *r;

    va_start(ap, fmt);
    r = vcmd(h, fmt, ap);
    va_end(ap);
    return r;
}

char *thost_ok(THost *h, const char *fmt, ...)
{
    g_autofree char *r = NULL;
    g_autofree char *cmd = NULL;
    va_list ap;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    r = thost_cmd(h, "%s", cmd);
    if (!g_str_equal(r, "ok") && !g_str_has_prefix(r, "ok ")) {
        g_error("hostsim %u: '%s' answered '%s'", h->id, cmd, r);
    }
    return g_strdup(r[2] ? r + 3 : "");
}

void thost_quit(THost *h)
{
    g_autofree char *r = thost_cmd(h, "quit");

    g_subprocess_wait(h->proc, NULL, NULL);
    g_object_unref(h->out);
    g_object_unref(h->proc);
    g_free(h);
}

void thost_kill(THost *h)
{
    g_subprocess_force_exit(h->proc);
    g_subprocess_wait(h->proc, NULL, NULL);
    g_object_unref(h->out);
    g_object_unref(h->proc);
    g_free(h);
}

unsigned tcount(TBroker *b, unsigned host, const char *tag,
                const char *state)
{
    g_autoptr(JsonNode) n = tcall(b, "extent-list",
                                  "{\"host-id\": %u, \"tag\": \"%s\","
                                  " \"all\": true}", host, tag);
    JsonArray *a = json_node_get_array(n);
    unsigned count = 0;

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *e = json_array_get_object_element(a, i);

        count += g_str_equal(json_object_get_string_member(e, "state"),
                             state);
    }
    return count;
}

void twait_count(TBroker *b, unsigned host, const char *tag,
                 const char *state, unsigned n)
{
    /* Hosts answer asynchronously: poll until wait_us has passed. */
    gint64 deadline = g_get_monotonic_time() + b->wait_us;
    unsigned got;

    while ((got = tcount(b, host, tag, state)) != n &&
           g_get_monotonic_time() < deadline) {
        g_usleep(20000);
    }
    if (got != n) {
        tbroker_show_log(b);
        g_test_message("host %u tag %s: %u extents %s, wanted %u", host, tag,
                       got, state, n);
    }
    g_assert_cmpuint(got, ==, n);
}
