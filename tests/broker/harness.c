/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * harness.c - test processes.  Binaries come from the environment meson
 * sets (DCD_BROKER, DCD_HOSTSIM), so tests run the build's own programs.
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

static GSubprocess *spawn(GPtrArray *argv, GSubprocessFlags flags)
{
    g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(flags);
    g_autoptr(GError) err = NULL;
    GSubprocess *p;

    g_subprocess_launcher_set_child_setup(l, die_with_parent, NULL, NULL);
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

TBroker *tbroker_start(const char *dir, ...)
{
    TBroker *b = g_new0(TBroker, 1);
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) extra = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(GDataInputStream) out = NULL;
    g_autofree char *line = NULL;
    va_list ap;

    b->dir = dir ? g_strdup(dir) : g_dir_make_tmp("dcd-test-XXXXXX", NULL);
    b->host_sock = g_build_filename(b->dir, "host.sock", NULL);
    b->ctl_sock = g_build_filename(b->dir, "control.sock", NULL);
    b->state_dir = g_build_filename(b->dir, "state", NULL);
    b->pool_dir = g_build_filename(b->dir, "pools", NULL);
    g_mkdir_with_parents(b->pool_dir, 0700);
    g_ptr_array_add(argv, g_strdup(need_env("DCD_BROKER")));
    g_ptr_array_add(argv, g_strdup_printf("--host-socket=%s", b->host_sock));
    g_ptr_array_add(argv, g_strdup_printf("--control-socket=%s", b->ctl_sock));
    g_ptr_array_add(argv, g_strdup_printf("--state-dir=%s", b->state_dir));
    g_ptr_array_add(argv, g_strdup_printf("--pool-dir=%s", b->pool_dir));
    va_start(ap, dir);
    extra = argv_from(va_arg(ap, const char *), ap);
    va_end(ap);
    for (guint i = 0; i < extra->len; i++) {
        g_ptr_array_add(argv, g_strdup(extra->pdata[i]));
    }
    g_ptr_array_add(argv, NULL);
    b->proc = spawn(argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    /* The broker prints one line when both sockets listen. */
    out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(b->proc));
    line = g_data_input_stream_read_line(out, NULL, NULL, &err);
    g_assert_no_error(err);
    g_assert_nonnull(line);
    g_assert_true(g_str_has_prefix(line, "dcd-broker: ready"));
    b->ctl = dcd_ctl_client_connect(b->ctl_sock, &err);
    g_assert_no_error(err);
    return b;
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
        g_assert_true(g_subprocess_get_if_exited(b->proc));
        g_assert_cmpint(g_subprocess_get_exit_status(b->proc), ==, 0);
    }
    g_clear_object(&b->proc);
}

void tbroker_free(TBroker *b)
{
    g_autofree char *cmd = NULL;

    tbroker_stop(b, false);
    cmd = g_strdup_printf("rm -rf '%s'", b->dir);
    g_assert_cmpint(system(cmd), ==, 0);
    g_free(b->dir);
    g_free(b->host_sock);
    g_free(b->ctl_sock);
    g_free(b->state_dir);
    g_free(b->pool_dir);
    g_free(b);
}

static JsonNode *vcall(TBroker *b, const char *cmd, GError **err,
                       const char *fmt, va_list ap)
{
    g_autofree char *args = g_strdup_vprintf(fmt, ap);

    return dcd_ctl_client_callf(b->ctl, cmd, err, "%s", args);
}

JsonNode *tcall(TBroker *b, const char *cmd, const char *fmt, ...)
{
    g_autoptr(GError) err = NULL;
    JsonNode *n;
    va_list ap;

    va_start(ap, fmt);
    n = vcall(b, cmd, &err, fmt, ap);
    va_end(ap);
    if (err) {
        g_error("%s failed: %s: %s", cmd, dcd_err_name(err->code),
                err->message);
    }
    return n;
}

char *tcall_fail(TBroker *b, DcdErr want, const char *cmd, const char *fmt,
                 ...)
{
    g_autoptr(GError) err = NULL;
    JsonNode *n;
    va_list ap;

    va_start(ap, fmt);
    n = vcall(b, cmd, &err, fmt, ap);
    va_end(ap);
    g_assert_null(n);
    g_assert_nonnull(err);
    if (err->code != (gint)want) {
        g_error("%s: wanted %s, got %s: %s", cmd, dcd_err_name(want),
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
                    G_SUBPROCESS_FLAGS_STDOUT_PIPE);
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

unsigned textents(TBroker *b, unsigned host, const char *tag,
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

void twait_extents(TBroker *b, unsigned host, const char *tag,
                   const char *state, unsigned n)
{
    /* Hosts answer asynchronously: poll for up to 5 s. */
    for (int i = 0; i < 250 && textents(b, host, tag, state) != n; i++) {
        g_usleep(20000);
    }
    g_assert_cmpuint(textents(b, host, tag, state), ==, n);
}
