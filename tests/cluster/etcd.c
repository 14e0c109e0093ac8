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
#define ROOT_PASSWORD "root-test-password"

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
    g_ptr_array_add(argv, g_strdup_printf("--endpoints=%s%s", e->certs ?
                                          "https://" : "", e->endpoint));
    g_ptr_array_add(argv, g_strdup("--command-timeout=2s"));
    if (e->certs) {
        g_ptr_array_add(argv, g_strdup_printf("--cacert=%s", e->certs->ca));
        g_ptr_array_add(argv, g_strdup_printf("--cert=%s",
                                              e->certs->client));
        g_ptr_array_add(argv, g_strdup_printf("--key=%s",
                                              e->certs->client_key));
    }
    if (e->bad_cert) {
        g_ptr_array_add(argv, g_strdup("--insecure-skip-tls-verify"));
    }
    if (e->root) {
        g_ptr_array_add(argv, g_strdup_printf("--user=%s", e->root));
    }
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
    g_autofree char *client = g_strdup_printf("%s://%s", e->certs ? "https" :
                                              "http", e->endpoint);
    g_autofree char *peer = g_strdup_printf("http://127.0.0.1:%u",
                                            e->peer_port);
    g_autofree char *data = g_build_filename(e->dir, "data", NULL);
    g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(
        G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    const char *const base[] = {
        bin, "--name", e->name, "--data-dir", data,
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
        "--initial-cluster", e->initial_cluster,
        "--initial-cluster-token", e->token,
        "--initial-cluster-state", "new",
    };

    for (guint i = 0; i < G_N_ELEMENTS(base); i++) {
        g_ptr_array_add(argv, (gpointer)base[i]);
    }
    if (e->certs) {
        g_ptr_array_add(argv, "--client-cert-auth");
        g_ptr_array_add(argv, "--trusted-ca-file");
        g_ptr_array_add(argv, e->certs->ca);
        g_ptr_array_add(argv, "--cert-file");
        g_ptr_array_add(argv, (gpointer)e->cert);
        g_ptr_array_add(argv, "--key-file");
        g_ptr_array_add(argv, (gpointer)e->key);
    }
    for (char **f = e->flags; f && *f; f++) {
        g_ptr_array_add(argv, *f);
    }
    g_ptr_array_add(argv, NULL);
    g_subprocess_launcher_set_stderr_file_path(l, e->log);
    g_subprocess_launcher_set_child_setup(l, die_with_parent, NULL, NULL);
    e->proc = g_subprocess_launcher_spawnv(l,
        (const char *const *)argv->pdata, &err);
    g_assert_no_error(err);
}

/* Our member's process still runs (not gone, not a zombie). */
static bool member_runs(TEtcd *e)
{
    const char *id = e->proc ? g_subprocess_get_identifier(e->proc) : NULL;
    g_autofree char *path = id ? g_strdup_printf("/proc/%s/stat", id) : NULL;
    g_autofree char *stat = NULL;
    const char *paren;

    if (!path || !g_file_get_contents(path, &stat, NULL, NULL)) {
        return false;
    }
    paren = strrchr(stat, ')');
    return paren && paren[1] == ' ' && paren[2] != 'Z';
}

/*
 * Until our member answers.  False if it died first (a port it was given
 * was taken meanwhile: the kernel's free port is only free when asked).
 * What answers must be ours, not another etcd on a port we were given.
 */
static bool wait_member(TEtcd *e)
{
    gint64 deadline = g_get_monotonic_time() + READY_US;
    g_autofree char *peer = g_strdup_printf("127.0.0.1:%u", e->peer_port);

    while (g_get_monotonic_time() < deadline) {
        g_autofree char *out = NULL;
        g_autofree char *members = NULL;

        if (!member_runs(e)) {
            return false;
        }
        if (run_etcdctl(e, &out, "endpoint", "health", NULL) &&
            run_etcdctl(e, &members, "member", "list", NULL) &&
            strstr(members, peer)) {
            return true;
        }
        g_usleep(100000);
    }
    g_error("etcd did not answer on %s within %d s (log: %s)", e->endpoint,
            (int)(READY_US / G_USEC_PER_SEC), e->log);
}

static void spawn_member(TEtcd *e)
{
    launch_member(e);
    if (!wait_member(e)) {
        g_error("etcd %s died at start (log: %s)", e->name, e->log);
    }
}

/* A lone member; on ports that turn out taken, again on others. */
static void spawn_alone(TEtcd *e)
{
    for (unsigned i = 0;; i++) {
        launch_member(e);
        if (wait_member(e)) {
            return;
        }
        if (i == 4) {
            g_error("etcd %s died at start 5 times (log: %s)", e->name,
                    e->log);
        }
        g_subprocess_wait(e->proc, NULL, NULL);
        g_clear_object(&e->proc);
        /* What it made of its data dir names the ports it was given. */
        {
            g_autofree char *data = g_build_filename(e->dir, "data", NULL);

            trm_tree(data);
        }
        e->client_port = free_port();
        do {
            e->peer_port = free_port();
        } while (e->peer_port == e->client_port);
        g_free(e->endpoint);
        e->endpoint = g_strdup_printf("127.0.0.1:%u", e->client_port);
        g_free(e->store_url);
        e->store_url = g_strdup_printf("%s://%s", e->certs ? "etcds" :
                                       "etcd", e->endpoint);
        g_free(e->initial_cluster);
        e->initial_cluster = g_strdup_printf("%s=http://127.0.0.1:%u",
                                             e->name, e->peer_port);
    }
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
    spawn_alone(e);
    return e;
}

TEtcd *tetcd_start_tls(const TCerts *certs, const char *const *flags)
{
    TEtcd *e = member_new(0);

    e->certs = certs;
    e->cert = certs->server;
    e->key = certs->server_key;
    e->flags = g_strdupv((char **)flags);
    g_free(e->store_url);
    e->store_url = g_strdup_printf("etcds://%s", e->endpoint);
    e->initial_cluster = g_strdup_printf("m0=http://127.0.0.1:%u",
                                         e->peer_port);
    e->token = g_strdup(e->dir);
    spawn_alone(e);
    return e;
}

static void etcdctl_ok(TEtcd *e, const char *const *args)
{
    g_autofree char *out = NULL;

    g_assert_true(run_etcdctl(e, &out, args[0], args[1], args[2], args[3],
                              args[4], args[5], NULL));
}

void tetcd_enable_auth(TEtcd *e, const char *user, const char *password,
                       const char *prefix)
{
    g_autofree char *root_pw = g_strdup_printf("--new-user-password=%s",
                                               ROOT_PASSWORD);
    g_autofree char *user_pw = g_strdup_printf("--new-user-password=%s",
                                               password);
    const char *const steps[][6] = {
        { "user", "add", "root", root_pw },
        { "role", "add", "dcd-test" },
        { "role", "grant-permission", "dcd-test", "--prefix=true",
          "readwrite", prefix },
        { "user", "add", user, user_pw },
        { "user", "grant-role", user, "dcd-test" },
        { "auth", "enable" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(steps); i++) {
        etcdctl_ok(e, steps[i]);
    }
    e->root = g_strdup("root:" ROOT_PASSWORD);
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
        if (!wait_member(m[i])) {
            g_error("etcd %s died at start (log: %s)", m[i]->name,
                    m[i]->log);
        }
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
    g_strfreev(e->flags);
    g_free(e->root);
    g_free(e);
}

/* ---- certificates ------------------------------------------------------*/

static void run_openssl(const char *dir, ...) G_GNUC_NULL_TERMINATED;
static void run_openssl(const char *dir, ...)
{
    g_autofree char *bin = g_find_program_in_path("openssl");
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autofree char *err_text = NULL;
    g_autoptr(GError) err = NULL;
    const char *a;
    int status = 0;
    va_list ap;

    if (!bin) {
        g_error("openssl is not installed: the cluster suite makes its"
                " certificates with it (scripts/install-deps.sh)");
    }
    g_ptr_array_add(argv, bin);
    va_start(ap, dir);
    while ((a = va_arg(ap, const char *))) {
        g_ptr_array_add(argv, (gpointer)a);
    }
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    g_assert_true(g_spawn_sync(dir, (char **)argv->pdata, NULL,
                               G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                               &err_text, &status, &err));
    g_assert_no_error(err);
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_error("openssl %s failed: %s", (char *)argv->pdata[1], err_text);
    }
}

/* openssl's settings: no system openssl.cnf, so the same everywhere. */
static const char cert_config[] =
    "[req]\n"
    "distinguished_name = dn\n"
    "prompt = no\n"
    "[dn]\n"
    "[ca]\n"
    "basicConstraints = critical,CA:TRUE\n"
    "keyUsage = critical,keyCertSign,cRLSign\n"
    "[server]\n"
    "subjectAltName = IP:127.0.0.1,DNS:localhost\n"
    /* etcd 3.4's gateway connects to etcd with the server's certificate */
    "extendedKeyUsage = serverAuth,clientAuth\n"
    "[wrong_name]\n"
    "subjectAltName = DNS:etcd.example.org\n"
    "extendedKeyUsage = serverAuth,clientAuth\n"
    "[client]\n"
    "extendedKeyUsage = clientAuth\n";

/* A key and a certificate request for subject; a CA signs it next. */
static void cert_request(const char *dir, const char *name,
                         const char *subject)
{
    g_autofree char *key = g_strconcat(name, ".key", NULL);
    g_autofree char *csr = g_strconcat(name, ".csr", NULL);

    run_openssl(dir, "req", "-new", "-config", "openssl.cnf", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
            "-out", csr, "-subj", subject, NULL);
}

static void cert_sign(const char *dir, const char *csr, const char *ca,
                      const char *ext, const char *days, const char *out)
{
    g_autofree char *csr_file = g_strconcat(csr, ".csr", NULL);
    g_autofree char *ca_crt = g_strconcat(ca, ".crt", NULL);
    g_autofree char *ca_key = g_strconcat(ca, ".key", NULL);
    g_autofree char *crt = g_strconcat(out, ".crt", NULL);
    static unsigned serial = 1;
    g_autofree char *ser = g_strdup_printf("%u", serial++);

    run_openssl(dir, "x509", "-req", "-in", csr_file, "-CA", ca_crt, "-CAkey",
            ca_key, "-set_serial", ser, "-days", days, "-extfile",
            "openssl.cnf", "-extensions", ext, "-out", crt, NULL);
}

static void cert_ca(const char *dir, const char *name, const char *subject)
{
    g_autofree char *key = g_strconcat(name, ".key", NULL);
    g_autofree char *crt = g_strconcat(name, ".crt", NULL);

    run_openssl(dir, "req", "-x509", "-config", "openssl.cnf", "-extensions",
            "ca", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj",
            subject, NULL);
}

/*
 * The client's certificate has no CommonName: with users on, etcd 3.4's
 * JSON gateway refuses a client certificate that has one (etcd would take
 * it for a user name).  -days -1: over before it began, i.e. expired.
 */
TCerts *tcerts_new(void)
{
    TCerts *c = g_new0(TCerts, 1);
    g_autofree char *cnf = NULL;

    c->dir = g_dir_make_tmp("dcd-certs-XXXXXX", NULL);
    g_assert_nonnull(c->dir);
    cnf = g_build_filename(c->dir, "openssl.cnf", NULL);
    g_assert_true(g_file_set_contents(cnf, cert_config, -1, NULL));
    cert_ca(c->dir, "ca", "/CN=dcd test CA");
    cert_ca(c->dir, "other-ca", "/CN=dcd test other CA");
    cert_request(c->dir, "server", "/CN=localhost");
    cert_sign(c->dir, "server", "ca", "server", "2", "server");
    cert_sign(c->dir, "server", "ca", "wrong_name", "2", "wrong-name");
    cert_sign(c->dir, "server", "ca", "server", "-1", "expired");
    cert_request(c->dir, "client", "/O=dcd-broker");
    cert_sign(c->dir, "client", "ca", "client", "2", "client");
    cert_request(c->dir, "other-client", "/O=dcd-broker");
    cert_sign(c->dir, "other-client", "other-ca", "client", "2",
              "other-client");
#define IN(f) g_build_filename(c->dir, f, NULL)
    c->ca = IN("ca.crt");
    c->server = IN("server.crt");
    c->server_key = IN("server.key");
    c->client = IN("client.crt");
    c->client_key = IN("client.key");
    c->wrong_name = IN("wrong-name.crt");
    c->expired = IN("expired.crt");
    c->other_ca = IN("other-ca.crt");
    c->other_client = IN("other-client.crt");
    c->other_client_key = IN("other-client.key");
#undef IN
    return c;
}

void tcerts_free(TCerts *c)
{
    if (!c) {
        return;
    }
    trm_tree(c->dir);
    g_free(c->dir);
    g_free(c->ca);
    g_free(c->server);
    g_free(c->server_key);
    g_free(c->client);
    g_free(c->client_key);
    g_free(c->wrong_name);
    g_free(c->expired);
    g_free(c->other_ca);
    g_free(c->other_client);
    g_free(c->other_client_key);
    g_free(c);
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

bool tetcd_answers(TEtcd *e)
{
    g_autofree char *out = NULL;

    return e->proc && run_etcdctl(e, &out, "endpoint", "health", NULL);
}

bool tetcd_is_leader(TEtcd *e)
{
    g_autofree char *out = NULL;
    g_autoptr(JsonParser) p = json_parser_new();
    JsonNode *root;
    JsonObject *st, *hdr;

    if (!e->proc || !run_etcdctl(e, &out, "endpoint", "status",
                                 "--write-out=json", NULL) ||
        !json_parser_load_from_data(p, out, -1, NULL) ||
        !(root = json_parser_get_root(p)) || !JSON_NODE_HOLDS_ARRAY(root) ||
        json_array_get_length(json_node_get_array(root)) != 1) {
        return false;
    }
    st = json_object_get_object_member(json_array_get_object_element(
        json_node_get_array(root), 0), "Status");
    hdr = st ? json_object_get_object_member(st, "header") : NULL;
    return hdr && json_object_get_int_member(st, "leader") ==
                  json_object_get_int_member(hdr, "member_id");
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
