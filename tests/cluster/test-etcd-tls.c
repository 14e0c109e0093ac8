/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The broker and etcd over TLS, and etcd's users (docs/cluster.md,
 * Security), with certificates the test makes: a broker with the right
 * CA and client certificate keeps its state in etcd across a restart; one
 * without a client certificate, trusting another CA, with a certificate
 * etcd does not trust, or facing etcd's certificate of another name or
 * expired, does not start and says which endpoint and why.  With users
 * on, the right password works, and a token etcd lets run out is replaced
 * without a change failing; a wrong password, or none, is refused clearly.
 * Options that do not go together are usage errors.
 */
#include <signal.h>
#include <string.h>
#include <glib/gstdio.h>

#include "etcd.h"
#include "harness.h"

#define TTL_S 5
#define TIMEOUT_MS 1500
#define PREFIX "/dcd/v1/"
#define USER "dcd-node"
#define PASSWORD "the node's password"

static TCerts *certs;

/* The broker's arguments for etcd e, then more (NULL-ended). */
static GPtrArray *broker_args(TEtcd *e, const char *const *more)
{
    GPtrArray *a = g_ptr_array_new_with_free_func(g_free);

    g_ptr_array_add(a, g_strdup_printf("--cluster-store=%s", e->store_url));
    g_ptr_array_add(a, g_strdup("--node=n1"));
    g_ptr_array_add(a, g_strdup_printf("--lease-ttl=%d", TTL_S));
    g_ptr_array_add(a, g_strdup_printf("--store-timeout=%d", TIMEOUT_MS));
    for (const char *const *m = more; m && *m; m++) {
        g_ptr_array_add(a, g_strdup(*m));
    }
    g_ptr_array_add(a, NULL);
    return a;
}

static TBroker *tls_broker(TEtcd *e, const char *const *more)
{
    g_autoptr(GPtrArray) a = broker_args(e, more);
    TBrokerOpts o = { .log = true, .no_state_dir = true,
                      .extra = (const char *const *)a->pdata };

    return tbroker_new(&o);
}

/* Start a broker that must not start; its stderr. */
static char *broker_refused(TEtcd *e, const char *const *more)
{
    g_autofree char *dir = g_dir_make_tmp("dcd-test-XXXXXX", NULL);
    g_autoptr(GPtrArray) a = broker_args(e, more);
    g_autoptr(GSubprocess) p = NULL;
    g_autoptr(GError) err = NULL;
    char *err_text = NULL;

    g_ptr_array_insert(a, 0, g_strdup(g_getenv("DCD_BROKER")));
    g_ptr_array_insert(a, 1, g_strdup_printf("--host-socket=%s/host.sock",
                                             dir));
    g_ptr_array_insert(a, 2, g_strdup_printf("--control-socket=%s/ctl.sock",
                                             dir));
    p = g_subprocess_newv((const char *const *)a->pdata,
                          G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                          G_SUBPROCESS_FLAGS_STDERR_PIPE, &err);
    g_assert_no_error(err);
    g_assert_true(g_subprocess_communicate_utf8(p, NULL, NULL, NULL,
                                                &err_text, &err));
    g_assert_true(g_subprocess_get_if_exited(p));
    g_test_message("refused: %s", err_text);
    g_assert_cmpint(g_subprocess_get_exit_status(p), ==, 1);
    g_rmdir(dir);
    return err_text;
}

/* The broker does not start, naming the https:// endpoint and why. */
static void refused_saying(TEtcd *e, const char *const *more,
                           const char *why)
{
    g_autofree char *where = g_strdup_printf("https://%s", e->endpoint);
    g_autofree char *said = broker_refused(e, more);

    g_assert_nonnull(strstr(said, where));
    g_assert_nonnull(strstr(said, why));
}

static gint64 pools(TBroker *b)
{
    g_autoptr(JsonNode) st = tcall(b, "status", "{}");

    return json_object_get_int_member(json_node_get_object(st), "pools");
}

static bool has_pool_key(TEtcd *e, const char *tag)
{
    g_autofree char *key = g_strconcat(PREFIX "state/n1/pool:", tag, NULL);

    return tetcd_has_key(e, key);
}

/* The right CA and client certificate: the state is in etcd, and stays. */
static void test_client_cert(void)
{
    TEtcd *e = tetcd_start_tls(certs, NULL);
    const char *const tls[] = {
        "--etcd-cacert", certs->ca, "--etcd-cert", certs->client,
        "--etcd-key", certs->client_key, NULL
    };
    TBroker *b = tls_broker(e, tls);
    g_autofree char *tag = tpool(b, "{\"size\": 2097152}");
    g_autofree char *second = NULL;

    g_assert_true(has_pool_key(e, tag));
    tbroker_kill(b);
    tbroker_restart(b);
    g_assert_cmpint(pools(b), ==, 1);
    second = tpool(b, "{\"size\": 2097152}");
    g_assert_true(has_pool_key(e, second));
    tbroker_stop(b, false);
    tbroker_restart(b);
    g_assert_cmpint(pools(b), ==, 2);
    tbroker_free(b);
    g_assert_false(tetcd_has_key(e, PREFIX "node/n1"));
    tetcd_free(e);
}

/* Every certificate that does not check out stops the broker, saying why. */
static void test_refused(void)
{
    TEtcd *e = tetcd_start_tls(certs, NULL);
    const char *const no_client[] = { "--etcd-cacert", certs->ca, NULL };
    const char *const other_ca[] = {
        "--etcd-cacert", certs->other_ca, "--etcd-cert", certs->client,
        "--etcd-key", certs->client_key, NULL
    };
    const char *const untrusted[] = {
        "--etcd-cacert", certs->ca, "--etcd-cert", certs->other_client,
        "--etcd-key", certs->other_client_key, NULL
    };
    const char *const system_ca[] = {
        "--etcd-cert", certs->client, "--etcd-key", certs->client_key, NULL
    };
    const char *const right[] = {
        "--etcd-cacert", certs->ca, "--etcd-cert", certs->client,
        "--etcd-key", certs->client_key, NULL
    };

    refused_saying(e, no_client, "asked for a client certificate");
    refused_saying(e, other_ca, "not signed by a trusted CA");
    refused_saying(e, system_ca, "not signed by a trusted CA");
    refused_saying(e, untrusted, "--etcd-cert");

    /* etcd's certificate names another host, or ran out. */
    tetcd_kill(e);
    e->cert = certs->wrong_name;
    e->bad_cert = true;
    tetcd_restart(e);
    refused_saying(e, right, "issued for another name");
    tetcd_kill(e);
    e->cert = certs->expired;
    tetcd_restart(e);
    refused_saying(e, right, "expired");
    tetcd_free(e);
}

static char *password_file(const char *dir, const char *name,
                           const char *text, int mode)
{
    char *path = g_build_filename(dir, name, NULL);

    g_assert_true(g_file_set_contents(path, text, -1, NULL));
    g_assert_cmpint(g_chmod(path, mode), ==, 0);
    return path;
}

static bool log_has(TBroker *b, const char *text)
{
    g_autofree char *log = NULL;

    return g_file_get_contents(b->log, &log, NULL, NULL) &&
           strstr(log, text);
}

/*
 * etcd's users, over TLS: the node's user works; its token, which etcd
 * lets run out after a second unused, is replaced as a change goes, which
 * does not fail.  A wrong password, or none, is refused at start.
 */
static void test_auth(void)
{
    const char *const ttl[] = { "--auth-token-ttl", "1", NULL };
    TEtcd *e = tetcd_start_tls(certs, ttl);
    g_autofree char *dir = g_dir_make_tmp("dcd-pw-XXXXXX", NULL);
    g_autofree char *pw = password_file(dir, "pw", PASSWORD "\n", 0600);
    g_autofree char *wrong = password_file(dir, "wrong", "guess\n", 0600);
    g_autofree char *open_pw = password_file(dir, "open", PASSWORD, 0644);
    const char *const right[] = {
        "--etcd-cacert", certs->ca, "--etcd-cert", certs->client,
        "--etcd-key", certs->client_key, "--etcd-user", USER,
        "--etcd-password-file", pw, NULL
    };
    const char *const bad_pw[] = {
        "--etcd-cacert", certs->ca, "--etcd-cert", certs->client,
        "--etcd-key", certs->client_key, "--etcd-user", USER,
        "--etcd-password-file", wrong, NULL
    };
    const char *const no_user[] = {
        "--etcd-cacert", certs->ca, "--etcd-cert", certs->client,
        "--etcd-key", certs->client_key, NULL
    };
    const char *const readable[] = {
        "--etcd-cacert", certs->ca, "--etcd-cert", certs->client,
        "--etcd-key", certs->client_key, "--etcd-user", USER,
        "--etcd-password-file", open_pw, NULL
    };
    g_autofree char *said = NULL;
    g_autofree char *tag = NULL;
    gint64 made = 1;
    TBroker *b;

    tetcd_enable_auth(e, USER, PASSWORD, PREFIX);
    refused_saying(e, bad_pw, "authentication failed");
    refused_saying(e, no_user, "--etcd-user");
    said = broker_refused(e, readable);
    g_assert_nonnull(strstr(said, "chmod 600"));

    b = tls_broker(e, right);
    tag = tpool(b, "{\"size\": 2097152}");
    g_assert_true(has_pool_key(e, tag));
    /*
     * Unused for longer than its TTL (etcd looks once a second), the
     * token is gone; a loaded machine may take a round more to see it.
     */
    for (int i = 0; i < 6 && !log_has(b, "authenticating again"); i++) {
        g_autofree char *later = NULL;

        g_usleep(2500 * 1000);
        later = tpool(b, "{\"size\": 2097152}");
        made++;
        g_assert_true(has_pool_key(e, later));
    }
    if (!log_has(b, "authenticating again")) {
        tbroker_show_log(b);
    }
    g_assert_true(log_has(b, "authenticating again"));
    /* A restart finds the state, as that user. */
    tbroker_kill(b);
    tbroker_restart(b);
    g_assert_cmpint(pools(b), ==, made);
    tbroker_free(b);
    g_assert_false(tetcd_has_key(e, PREFIX "node/n1"));
    g_unlink(pw);
    g_unlink(wrong);
    g_unlink(open_pw);
    g_rmdir(dir);
    tetcd_free(e);
}

/* Options that do not go together: exit 2 saying why, before anything. */
static void test_usage(void)
{
    static const struct {
        const char *args[4];
        const char *says;
    } bad[] = {
        { { "--no-state", "--etcd-user=dcd" }, "go with --cluster-store" },
        { { "--no-state", "--etcd-cacert=/etc/hostname" },
          "go with --cluster-store" },
        { { "--cluster-store=etcds://127.0.0.1:1", "--node=n1",
            "--etcd-cert=c.pem" }, "go together" },
        { { "--cluster-store=etcds://127.0.0.1:1", "--node=n1",
            "--etcd-key=k.pem" }, "go together" },
        { { "--cluster-store=etcds://127.0.0.1:1", "--node=n1",
            "--etcd-user=dcd" }, "never given on the command line" },
        { { "--cluster-store=etcds://127.0.0.1:1", "--node=n1",
            "--etcd-password-file=pw" }, "--etcd-password-file" },
        { { "--cluster-store=etcd://127.0.0.1:1", "--node=n1",
            "--etcd-cacert=ca.pem" }, "etcds://" },
    };

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GSubprocess) p = NULL;
        g_autoptr(GError) err = NULL;
        g_autofree char *err_text = NULL;

        p = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                             G_SUBPROCESS_FLAGS_STDERR_PIPE, &err,
                             g_getenv("DCD_BROKER"), bad[i].args[0],
                             bad[i].args[1], bad[i].args[2], NULL);
        g_assert_no_error(err);
        g_assert_true(g_subprocess_communicate_utf8(p, NULL, NULL, NULL,
                                                    &err_text, &err));
        g_test_message("usage %u: %s", i, err_text);
        g_assert_true(g_subprocess_get_if_exited(p));
        g_assert_cmpint(g_subprocess_get_exit_status(p), ==, 2);
        g_assert_nonnull(strstr(err_text, bad[i].says));
    }
}

int main(int argc, char **argv)
{
    int rc;

    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    /*
     * A broker talking TLS has GnuTLS loaded by dlopen (glib-networking),
     * and LeakSanitizer (GCC 12's, on glibc 2.36) cannot walk the dynamic
     * thread-local storage of such a process: its tracer dies at exit.
     * These brokers are still run under ASan and UBSan in a sanitizer
     * build; their leaks are checked by the cluster suite's others.
     */
    g_setenv("LSAN_OPTIONS", "detect_leaks=0", FALSE);
    certs = tcerts_new();
    g_test_add_func("/cluster-tls/usage", test_usage);
    g_test_add_func("/cluster-tls/client-cert", test_client_cert);
    g_test_add_func("/cluster-tls/refused", test_refused);
    g_test_add_func("/cluster-tls/auth", test_auth);
    rc = g_test_run();
    tcerts_free(certs);
    return rc;
}
