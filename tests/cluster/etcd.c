/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * etcd.c - test etcd members.  Each dies with the test (PR_SET_PDEATHSIG),
 * so a failed assertion leaves no member running.
 */
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "etcd.h"
#include "harness.h"

#define READY_US (20 * G_USEC_PER_SEC)

static void die_with_parent(gpointer unused)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static char *need_program(const char *name)
{
    char *path = g_find_program_in_path(name);

    if (!path) {
        g_error("%s is not installed: the cluster suite needs etcd"
                " (scripts/install-deps.sh installs etcd-server and"
                " etcd-client)", name);
    }
    return path;
}

/* A port nobody listens on now (the kernel's pick). */
static unsigned free_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&a, sizeof(a)), ==, 0);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&a, &len), ==, 0);
    close(fd);
    return ntohs(a.sin_port);
}

static bool run_etcdctl(TEtcd *e, char **out, ...) G_GNUC_NULL_TERMINATED;
static bool run_etcdctl(TEtcd *e, char **out, ...)
{
    g_autofree char *bin = need_program("etcdctl");
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(
        G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
    g_autoptr(GSubprocess) p = NULL;
    g_autoptr(GError) err = NULL;
    const char *a;
    va_list ap;

    g_ptr_array_add(argv, g_strdup(bin));
    g_ptr_array_add(argv, g_strdup_printf("--endpoints=%s", e->endpoint));
    g_ptr_array_add(argv, g_strdup("--command-timeout=2s"));
    va_start(ap, out);
    while ((a = va_arg(ap, const char *))) {
        g_ptr_array_add(argv, g_strdup(a));
    }
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    g_subprocess_launcher_setenv(l, "ETCDCTL_API", "3", TRUE);
    g_subprocess_launcher_set_child_setup(l, die_with_parent, NULL, NULL);
    p = g_subprocess_launcher_spawnv(l, (const char *const *)argv->pdata,
                                     &err);
    g_assert_no_error(err);
    if (!g_subprocess_communicate_utf8(p, NULL, NULL, out, NULL, &err)) {
        return false;
    }
    return g_subprocess_get_if_exited(p) &&
           g_subprocess_get_exit_status(p) == 0;
}

static void launch_member(TEtcd *e)
{
    g_autofree char *bin = need_program("etcd");
    g_autofree char *client = g_strdup_printf("http://%s", e->endpoint);
    g_autofree char *peer = g_strdup_printf("http://127.0.0.1:%u",
                                            e->peer_port);
    g_autofree char *data = g_build_filename(e->dir, "data", NULL);
    g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(
        G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
    g_autoptr(GError) err = NULL;
    const char *argv[] = {
        bin, "--name", e->name, "--data-dir", data,
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
        "--initial-cluster", e->initial_cluster,
        "--initial-cluster-token", e->token,
        "--initial-cluster-state", "new", NULL
    };

    g_subprocess_launcher_set_stderr_file_path(l, e->log);
    g_subprocess_launcher_set_child_setup(l, die_with_parent, NULL, NULL);
    e->proc = g_subprocess_launcher_spawnv(l, argv, &err);
    g_assert_no_error(err);
}

static void wait_member(TEtcd *e)
{
    gint64 deadline = g_get_monotonic_time() + READY_US;

    while (g_get_monotonic_time() < deadline) {
        g_autofree char *out = NULL;

        if (run_etcdctl(e, &out, "endpoint", "health", NULL)) {
            return;
        }
        g_usleep(100000);
    }
    g_error("etcd did not answer on %s within %d s (log: %s)", e->endpoint,
            (int)(READY_US / G_USEC_PER_SEC), e->log);
}

static void spawn_member(TEtcd *e)
{
    launch_member(e);
    wait_member(e);
}

static TEtcd *member_new(unsigned i)
{
    TEtcd *e = g_new0(TEtcd, 1);

    /* tmpfs when there is one: a disk's fsync costs etcd whole seconds
     * on a loaded machine, and the tests bound every request */
    if (g_file_test("/dev/shm", G_FILE_TEST_IS_DIR)) {
        e->dir = g_strdup("/dev/shm/dcd-etcd-XXXXXX");
        e->dir = g_mkdtemp(e->dir) ? e->dir : (g_free(e->dir), NULL);
    }
    if (!e->dir) {
        e->dir = g_dir_make_tmp("dcd-etcd-XXXXXX", NULL);
    }
    g_assert_nonnull(e->dir);
    e->log = g_build_filename(e->dir, "etcd.log", NULL);
    e->name = g_strdup_printf("m%u", i);
    e->client_port = free_port();
    do {
        e->peer_port = free_port();
    } while (e->peer_port == e->client_port);
    e->endpoint = g_strdup_printf("127.0.0.1:%u", e->client_port);
    e->store_url = g_strdup_printf("etcd://%s", e->endpoint);
    return e;
}

TEtcd *tetcd_start(void)
{
    TEtcd *e = member_new(0);

    e->initial_cluster = g_strdup_printf("m0=http://127.0.0.1:%u",
                                         e->peer_port);
    e->token = g_strdup(e->dir);
    spawn_member(e);
    return e;
}

TEtcd **tetcd_start_cluster(unsigned n, char **store_url)
{
    TEtcd **m = g_new0(TEtcd *, n + 1);
    g_autoptr(GString) initial = g_string_new(NULL);
    g_autoptr(GString) url = g_string_new("etcd://");

    for (unsigned i = 0; i < n; i++) {
        m[i] = member_new(i);
        g_string_append_printf(initial, "%sm%u=http://127.0.0.1:%u",
                               i ? "," : "", i, m[i]->peer_port);
        g_string_append_printf(url, "%s%s", i ? "," : "", m[i]->endpoint);
    }
    for (unsigned i = 0; i < n; i++) {
        m[i]->initial_cluster = g_strdup(initial->str);
        m[i]->token = g_strdup(m[0]->dir);
        launch_member(m[i]);
    }
    /* Each answers once a leader is elected, so all run first. */
    for (unsigned i = 0; i < n; i++) {
        wait_member(m[i]);
    }
    *store_url = g_strdup(url->str);
    return m;
}

void tetcd_kill(TEtcd *e)
{
    g_assert_nonnull(e->proc);
    g_subprocess_send_signal(e->proc, SIGCONT);
    g_subprocess_force_exit(e->proc);
    g_subprocess_wait(e->proc, NULL, NULL);
    g_clear_object(&e->proc);
}

void tetcd_restart(TEtcd *e)
{
    g_assert_null(e->proc);
    spawn_member(e);
}

void tetcd_pause(TEtcd *e)
{
    g_subprocess_send_signal(e->proc, SIGSTOP);
}

void tetcd_resume(TEtcd *e)
{
    g_subprocess_send_signal(e->proc, SIGCONT);
}

void tetcd_free(TEtcd *e)
{
    if (!e) {
        return;
    }
    if (e->proc) {
        tetcd_kill(e);
    }
    trm_tree(e->dir);
    g_free(e->dir);
    g_free(e->log);
    g_free(e->name);
    g_free(e->initial_cluster);
    g_free(e->token);
    g_free(e->endpoint);
    g_free(e->store_url);
    g_free(e);
}

char **tetcd_keys(TEtcd *e, const char *prefix)
{
    g_autofree char *out = NULL;
    g_auto(GStrv) lines = NULL;
    GPtrArray *keys = g_ptr_array_new();

    g_assert_true(run_etcdctl(e, &out, "get", "--prefix", "--keys-only",
                              prefix, NULL));
    lines = g_strsplit(out ? out : "", "\n", -1);
    for (char **l = lines; *l; l++) {
        if (**l) {
            g_ptr_array_add(keys, g_strdup(*l));
        }
    }
    g_ptr_array_add(keys, NULL);
    return (char **)g_ptr_array_free(keys, FALSE);
}

char *tetcd_get(TEtcd *e, const char *key)
{
    g_autofree char *out = NULL;

    g_assert_true(run_etcdctl(e, &out, "get", "--print-value-only", key,
                              NULL));
    if (!out || !*out) {
        return NULL;
    }
    g_strchomp(out);
    return g_steal_pointer(&out);
}

bool tetcd_has_key(TEtcd *e, const char *key)
{
    g_auto(GStrv) keys = tetcd_keys(e, key);

    return g_strv_contains((const char *const *)keys, key);
}

void tetcd_revoke_leases(TEtcd *e)
{
    g_autofree char *out = NULL;
    g_auto(GStrv) lines = NULL;

    /* "found N leases" then one hex ID a line. */
    g_assert_true(run_etcdctl(e, &out, "lease", "list", NULL));
    lines = g_strsplit(out ? out : "", "\n", -1);
    for (char **l = lines; *l; l++) {
        g_autofree char *ignored = NULL;

        if (**l && !g_str_has_prefix(*l, "found")) {
            g_assert_true(run_etcdctl(e, &ignored, "lease", "revoke", *l,
                                      NULL));
        }
    }
}

void tetcd_put(TEtcd *e, const char *key, const char *value)
{
    g_autofree char *out = NULL;

    g_assert_true(run_etcdctl(e, &out, "put", "--", key, value, NULL));
}
