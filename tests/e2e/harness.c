/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * harness.c - processes of the e2e suite: one dcd-broker, QEMUs attached
 * to it (started by the qemu suite's harness).  Binaries come from the
 * environment meson sets (DCD_BROKER, DCD_QEMU).  Every child dies with the test (PR_SET_PDEATHSIG for the
 * broker, exit-with-parent for QEMU), so a failed assertion leaves
 * nothing running.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <glib/gstdio.h>

#include "harness.h"

#define POLL_US 20000

/* ---- helpers -------------------------------------------------------- */

static void show_file(const char *what, const char *path)
{
    g_autofree char *text = NULL;

    if (path && g_file_get_contents(path, &text, NULL, NULL) && *text) {
        g_test_message("%s:\n%s", what, text);
    }
}

static void rm_tree(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, name, NULL);

        if (g_file_test(p, G_FILE_TEST_IS_DIR) &&
            !g_file_test(p, G_FILE_TEST_IS_SYMLINK)) {
            rm_tree(p);
        } else {
            g_unlink(p);
        }
    }
    g_rmdir(dir);
}

static void pump(void)
{
    while (g_main_context_iteration(NULL, FALSE)) {
    }
}

void e2e_require(void)
{
    const char *names[] = { "DCD_BROKER", "DCD_QEMU" };

    for (unsigned i = 0; i < G_N_ELEMENTS(names); i++) {
        const char *v = g_getenv(names[i]);

        if (!v || !*v) {
            printf("Bail out! %s is not set: run the e2e suite with "
                   "meson test (meson -Dqemu=PATH sets DCD_QEMU)\n",
                   names[i]);
            exit(1);
        }
        if (!g_file_test(v, G_FILE_TEST_IS_EXECUTABLE)) {
            printf("Bail out! %s: no executable at %s%s\n", names[i], v,
                   i ? ": build QEMU first (qemu/build.sh, or make check) "
                       "or configure meson with -Dqemu=PATH" : "");
            exit(1);
        }
    }
}

/* ---- broker --------------------------------------------------------- */

static void die_with_parent(gpointer unused)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static void broker_spawn(EBroker *b)
{
    g_autoptr(GSubprocessLauncher) l =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    g_autoptr(GError) err = NULL;
    g_autofree char *line = NULL;

    g_subprocess_launcher_set_child_setup(l, die_with_parent, NULL, NULL);
    g_subprocess_launcher_set_stderr_file_path(l, b->log);
    b->proc = g_subprocess_launcher_spawn(l, &err, g_getenv("DCD_BROKER"),
        "--host-socket", b->host_sock, "--control-socket", b->ctl_sock,
        "--state-dir", b->state_dir, "--pool-dir", b->pool_dir, NULL);
    g_assert_no_error(err);
    b->out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(b->proc));
    line = g_data_input_stream_read_line(b->out, NULL, NULL, &err);
    if (!line || !g_str_has_prefix(line, "dcd-broker: ready")) {
        show_file("broker stderr", b->log);
        g_error("dcd-broker did not get ready (said: %s)",
                line ? line : "nothing");
    }

    b->ctl = dcd_ctl_client_connect(b->ctl_sock, &err);
    g_assert_no_error(err);
}

EBroker *ebroker_start(void)
{
    EBroker *b = g_new0(EBroker, 1);
    g_autoptr(GError) err = NULL;

    b->dir = g_dir_make_tmp("dcd-e2e-XXXXXX", &err);
    g_assert_no_error(err);
    b->host_sock = g_build_filename(b->dir, "host.sock", NULL);
    b->ctl_sock = g_build_filename(b->dir, "control.sock", NULL);
    b->state_dir = g_build_filename(b->dir, "state", NULL);
    b->pool_dir = g_build_filename(b->dir, "pools", NULL);
    b->log = g_build_filename(b->dir, "broker.log", NULL);
    g_mkdir_with_parents(b->pool_dir, 0700);
    broker_spawn(b);
    return b;
}

static void broker_drop(EBroker *b)
{
    g_clear_pointer(&b->ctl, dcd_ctl_client_free);
    g_clear_object(&b->out);
    g_clear_object(&b->proc);
}

void ebroker_kill(EBroker *b)
{
    g_assert_nonnull(b->proc);
    g_subprocess_force_exit(b->proc);
    g_subprocess_wait(b->proc, NULL, NULL);
    broker_drop(b);
}

void ebroker_restart(EBroker *b)
{
    g_assert_null(b->proc);
    broker_spawn(b);
}

void ebroker_free(EBroker *b)
{
    if (!b) {
        return;
    }
    if (b->proc) {
        g_clear_pointer(&b->ctl, dcd_ctl_client_free);
        g_subprocess_send_signal(b->proc, SIGTERM);
        g_subprocess_wait(b->proc, NULL, NULL);
        if (!g_subprocess_get_if_exited(b->proc) ||
            g_subprocess_get_exit_status(b->proc) != 0) {
            show_file("broker stderr", b->log);
            g_error("dcd-broker did not exit cleanly on SIGTERM");
        }
        if (g_getenv("DCD_E2E_VERBOSE")) {
            show_file("broker stderr", b->log);
        }
        broker_drop(b);
    }
    rm_tree(b->dir);
    g_free(b->dir);
    g_free(b->host_sock);
    g_free(b->ctl_sock);
    g_free(b->state_dir);
    g_free(b->pool_dir);
    g_free(b->log);
    g_free(b);
}

/* Returns the "return" member, or NULL with *cls and *desc set. */
static JsonNode *ctl_call(EBroker *b, const char *cmd, const char *args,
                          char **cls, char **desc)
{
    g_autoptr(GError) err = NULL;
    JsonNode *r = dcd_ctl_client_callf(b->ctl, cmd, &err, "%s",
                                       args && *args ? args : "{}");

    if (!r) {
        if (err->code == DCD_ERR_UNAVAIL && strstr(err->message, "closed")) {
            show_file("broker stderr", b->log);
        }
        *cls = g_strdup(dcd_err_name(err->code));
        *desc = g_strdup(err->message);
    }
    return r;
}

JsonNode *ectl(EBroker *b, const char *cmd, const char *fmt, ...)
{
    g_autofree char *args = NULL, *cls = NULL, *desc = NULL;
    JsonNode *r;
    va_list ap;

    va_start(ap, fmt);
    args = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    r = ctl_call(b, cmd, args, &cls, &desc);
    if (!r) {
        g_error("%s %s failed: %s: %s", cmd, args, cls, desc);
    }
    return r;
}

char *ectl_fail(EBroker *b, const char *want, const char *cmd,
                const char *fmt, ...)
{
    g_autofree char *args = NULL, *cls = NULL;
    char *desc = NULL;
    JsonNode *r;
    va_list ap;

    va_start(ap, fmt);
    args = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    r = ctl_call(b, cmd, args, &cls, &desc);
    if (r) {
        json_node_unref(r);
        g_error("%s %s succeeded, wanted error %s", cmd, args, want);
    }
    if (g_strcmp0(cls, want)) {
        g_error("%s %s: wanted error %s, got %s: %s", cmd, args, want, cls,
                desc);
    }
    return desc;
}

char *epool(EBroker *b, uint64_t size)
{
    g_autoptr(JsonNode) n = ectl(b, "pool-create",
                                 "{\"size\": %" G_GUINT64_FORMAT "}", size);

    return g_strdup(json_object_get_string_member(json_node_get_object(n),
                                                  "tag"));
}

unsigned ecount(EBroker *b, unsigned host, const char *tag,
                const char *state)
{
    g_autoptr(JsonNode) n = ectl(b, "extent-list",
                                 "{\"host-id\": %u, \"tag\": \"%s\", "
                                 "\"all\": true}", host, tag);
    JsonArray *a = json_node_get_array(n);
    unsigned count = 0;

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *e = json_array_get_object_element(a, i);

        count += g_str_equal(json_object_get_string_member(e, "state"),
                             state);
    }
    return count;
}

void ewait_count(EBroker *b, unsigned host, const char *tag,
                 const char *state, unsigned n)
{
    gint64 deadline = g_get_monotonic_time() + E_WAIT_US;
    unsigned got;

    while ((got = ecount(b, host, tag, state)) != n &&
           g_get_monotonic_time() < deadline) {
        g_usleep(POLL_US);
    }
    if (got != n) {
        show_file("broker stderr", b->log);
        g_test_message("host %u tag %s: %u extents %s, wanted %u", host, tag,
                       got, state, n);
    }
    g_assert_cmpuint(got, ==, n);
}

JsonObject *ehost(EBroker *b, unsigned host)
{
    g_autoptr(JsonNode) n = ectl(b, "host-list", "%s", "");
    JsonArray *a = json_node_get_array(n);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *h = json_array_get_object_element(a, i);

        if (json_object_get_int_member(h, "host-id") == host) {
            return json_object_ref(h);
        }
    }
    return NULL;
}

void ewait_connected(EBroker *b, unsigned host, bool connected)
{
    gint64 deadline = g_get_monotonic_time() + E_WAIT_US;

    for (;;) {
        g_autoptr(JsonObject) h = ehost(b, host);
        bool now = h && json_object_get_boolean_member(h, "connected");

        if (now == connected) {
            return;
        }
        if (g_get_monotonic_time() > deadline) {
            show_file("broker stderr", b->log);
            g_error("host %u did not %s the broker", host,
                    connected ? "connect to" : "disconnect from");
        }
        pump();
        g_usleep(POLL_US);
    }
}

JsonObject *epool_info(EBroker *b, const char *tag)
{
    g_autoptr(JsonNode) n = ectl(b, "pool-list", "{\"tag\": \"%s\"}", tag);
    JsonArray *a = json_node_get_array(n);

    g_assert_cmpuint(json_array_get_length(a), ==, 1);
    return json_object_ref(json_array_get_object_element(a, 0));
}

/* ---- VMs ------------------------------------------------------------ */

EVm *evm_start(EBroker *b, unsigned host)
{
    EVm *v = g_new0(EVm, 1);
    g_autofree char *chr = g_strdup_printf(
        "socket,id=brk,path=%s,reconnect-ms=500", b->host_sock);
    g_autofree char *props = g_strdup_printf(
        ",dc-regions-sharable=1,dcd-broker=brk,dcd-host-id=%u", host);
    g_autofree char *name = g_strdup_printf("host %u", host);
    const char *extra[] = { "-chardev", chr, NULL };
    TQemuOpts o = {
        .dc_total_size = 1 * GiB,
        .dev_props = props,
        .extra = extra,
        .name = name,
        .show_log = g_getenv("DCD_E2E_VERBOSE") != NULL,
    };

    v->host_id = host;
    v->q = tqemu_start(&o);
    g_assert_cmpuint(v->q->md->dc.n_regions, ==, 1);
    ewait_connected(b, host, true);
    return v;
}

void evm_quit(EVm *v)
{
    if (!v) {
        return;
    }
    g_assert_true(tqemu_stop(v->q));
    g_free(v);
}

void evm_kill(EVm *v)
{
    g_assert_true(tqemu_kill(v->q));
    g_free(v);
}

GArray *evm_group(EVm *v, unsigned n, unsigned type)
{
    gint64 deadline = g_get_monotonic_time() + E_WAIT_US;
    GArray *g;

    for (;;) {
        g_autoptr(GError) err = NULL;

        g = dcd_next_group(&v->q->md->mbox, &err);
        if (err) {
            tqemu_show_log(v->q);
        }
        g_assert_no_error(err);
        if (g->len || g_get_monotonic_time() > deadline) {
            break;
        }
        g_array_unref(g);
        g_usleep(POLL_US);
    }
    if (g->len != n) {
        tqemu_show_log(v->q);
        g_test_message("host %u: DC event group of %u, wanted %u",
                       v->host_id, g->len, n);
    }
    tgroup_check(g, n, type);
    return g;
}

static GArray *group_extents(GArray *g)
{
    GArray *ext = g_array_new(FALSE, TRUE, sizeof(DcdExtent));

    for (guint i = 0; i < g->len; i++) {
        g_array_append_val(ext, g_array_index(g, DcdEvent, i).extent);
    }
    return ext;
}

/* Wait for a non-empty Add group of any size. */
static GArray *add_group(EVm *v)
{
    gint64 deadline = g_get_monotonic_time() + E_WAIT_US;
    GArray *g;

    for (;;) {
        g_autoptr(GError) err = NULL;

        g = dcd_next_group(&v->q->md->mbox, &err);
        g_assert_no_error(err);
        if (g->len) {
            break;
        }
        g_array_unref(g);
        if (g_get_monotonic_time() > deadline) {
            tqemu_show_log(v->q);
            g_error("host %u: no Add Capacity event came", v->host_id);
        }
        g_usleep(POLL_US);
    }
    for (guint i = 0; i < g->len; i++) {
        g_assert_cmpuint(g_array_index(g, DcdEvent, i).type, ==, DCD_EV_ADD);
    }
    return g;
}

GArray *evm_accept(EVm *v)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) g = add_group(v);
    GArray *ext = group_extents(g);

    g_assert_true(dcd_add_response(&v->q->md->mbox, (DcdExtent *)ext->data,
                                   ext->len, &err));
    g_assert_no_error(err);
    return ext;
}

void evm_reject(EVm *v, unsigned n)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) g = evm_group(v, n, DCD_EV_ADD);

    g_assert_true(dcd_add_response(&v->q->md->mbox, NULL, 0, &err));
    g_assert_no_error(err);
}

void evm_release(EVm *v, unsigned n)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) g = evm_group(v, n, DCD_EV_RELEASE);
    g_autoptr(GArray) ext = group_extents(g);

    g_assert_true(dcd_release(&v->q->md->mbox, (DcdExtent *)ext->data, ext->len,
                              &err));
    g_assert_no_error(err);
}

void evm_map(EVm *v)
{
    g_autoptr(GError) err = NULL;
    DcdRegion *r = &v->q->md->dc.region[0];

    if (v->mapped) {
        return;
    }
    g_assert_true(dcd_memdev_map(v->q->md, 0, v->q->plat.windows[0].base,
                                 r->base, r->decode_len, &v->map, &err));
    g_assert_no_error(err);
    v->mapped = true;
}

DcdAllocation *evm_alloc(EVm *v, const char *tag)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) list = textents(v->q, NULL);
    DcdAllocation *a;
    uint8_t t[16];

    evm_map(v);
    g_assert_true(dcd_tag_parse(tag, (DcdTag *)t));
    a = dcd_allocation_build(t, (DcdExtent *)list->data, list->len, &v->map,
                             1, &err);
    g_assert_no_error(err);
    g_assert_false(a->seq_from_dpa);
    return a;
}

void evm_write(EVm *v, const DcdAllocation *a, uint64_t off,
               const void *buf, size_t len)
{
    g_autoptr(GError) err = NULL;

    g_assert_true(dcd_allocation_write(a, v->q->io, off, buf, len, &err));
    g_assert_no_error(err);
}

void evm_read(EVm *v, const DcdAllocation *a, uint64_t off, void *buf,
              size_t len)
{
    g_autoptr(GError) err = NULL;

    g_assert_true(dcd_allocation_read(a, v->q->io, off, buf, len, &err));
    g_assert_no_error(err);
}
