/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * main.c - dcd-broker: options, then the core library does the work.
 */
#include <grp.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <glib-unix.h>

#include "server/activate.h"
#include "core/broker.h"
#include "server/ctl.h"
#include "server/hostsrv.h"
#include "server/metrics.h"
#include "dcd/paths.h"

#define DEFAULT_OFFER_TIMEOUT_MS 60000
#define DEFAULT_CONTROL_TIMEOUT_MS 60000

static gboolean on_signal(gpointer loop)
{
    g_main_loop_quit(loop);
    return G_SOURCE_CONTINUE;
}

/* A daemon that dies of SIGHUP (a closed terminal) loses its hosts. */
static gboolean on_hup(gpointer unused)
{
    g_message("SIGHUP: there is no configuration to reload; carrying on");
    return G_SOURCE_CONTINUE;
}

/* Each host is a socket: allow as many as the hard limit does. */
static void raise_fd_limit(void)
{
    struct rlimit r;

    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
    }
}

static G_NORETURN void usage_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("dcd-broker: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see dcd-broker --help)\n", stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    g_autofree char *host_path = NULL, *ctl_path = NULL, *status = NULL;
    g_autofree char *state_dir = NULL, *pool_dir = NULL, *group = NULL;
    g_autofree char *cluster_store = NULL, *node = NULL, *device = NULL;
    g_autofree char *metrics_addr = NULL, *metrics_note = NULL;
    g_autofree char *etcd_cacert = NULL, *etcd_cert = NULL, *etcd_key = NULL;
    g_autofree char *etcd_user = NULL, *etcd_password_file = NULL;
    gint lease_ttl_s = 0, store_timeout_ms = 0;
    g_auto(GStrv) allow = NULL;
    gboolean no_state = FALSE, version = FALSE;
    gint idle_ms = 30000;
    gint offer_ms = DEFAULT_OFFER_TIMEOUT_MS;
    gint control_ms = DEFAULT_CONTROL_TIMEOUT_MS;
    GOptionEntry entries[] = {
        { "host-socket", 0, 0, G_OPTION_ARG_FILENAME, &host_path,
          "Socket for hosts (QEMU, dcd-hostsim)", "PATH" },
        { "control-socket", 0, 0, G_OPTION_ARG_FILENAME, &ctl_path,
          "Socket for dcdctl", "PATH" },
        { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir,
          "Where pools, hosts and extents are saved", "DIR" },
        { "no-state", 0, 0, G_OPTION_ARG_NONE, &no_state,
          "Save nothing (state is lost on exit)", NULL },
        { "cluster-store", 0, 0, G_OPTION_ARG_STRING, &cluster_store,
          "Keep the state in etcd instead (docs/cluster.md)",
          "etcd[s]://HOST:PORT[,HOST:PORT...]" },
        { "node", 0, 0, G_OPTION_ARG_STRING, &node,
          "This broker's node name in the cluster (one broker per name)",
          "NAME" },
        { "lease-ttl", 0, 0, G_OPTION_ARG_INT, &lease_ttl_s,
          "The node's etcd lease, in s: a broker silent this long changes"
          " nothing more (default 10)", "S" },
        { "store-timeout", 0, 0, G_OPTION_ARG_INT, &store_timeout_ms,
          "Bound on one request to etcd, in ms (default 2000)", "MS" },
        { "etcd-cacert", 0, 0, G_OPTION_ARG_FILENAME, &etcd_cacert,
          "CA certificates etcd's must chain to, for etcds:// (default:"
          " the system's)", "FILE" },
        { "etcd-cert", 0, 0, G_OPTION_ARG_FILENAME, &etcd_cert,
          "Client certificate for etcds:// (with --etcd-key)", "FILE" },
        { "etcd-key", 0, 0, G_OPTION_ARG_FILENAME, &etcd_key,
          "The client certificate's private key", "FILE" },
        { "etcd-user", 0, 0, G_OPTION_ARG_STRING, &etcd_user,
          "etcd user to authenticate as (with --etcd-password-file)",
          "NAME" },
        { "etcd-password-file", 0, 0, G_OPTION_ARG_FILENAME,
          &etcd_password_file, "File holding the etcd user's password"
          " (mode 0600 or less)", "FILE" },
        { "pool-dir", 0, 0, G_OPTION_ARG_FILENAME, &pool_dir,
          "Directory for file pools (tmpfs or hugetlbfs)", "DIR" },
        { "shared-device", 0, 0, G_OPTION_ARG_FILENAME, &device,
          "Carve pools out of this device (device-dax, or a file standing"
          " for one), 2 MiB aligned", "PATH" },
        { "allow-uid", 0, 0, G_OPTION_ARG_STRING_ARRAY, &allow,
          "Let this uid connect (repeatable; default: our own uid)", "UID" },
        { "socket-group", 0, 0, G_OPTION_ARG_STRING, &group,
          "Make the sockets 0660 for this group and let it connect", "NAME" },
        { "idle-timeout", 0, 0, G_OPTION_ARG_INT, &idle_ms,
          "Drop a host silent this long, in ms (0: never)", "MS" },
        { "offer-timeout", 0, 0, G_OPTION_ARG_INT, &offer_ms,
          "Withdraw an offer its host has not answered in this many ms"
          " (default 60000; 0: never)", "MS" },
        { "control-timeout", 0, 0, G_OPTION_ARG_INT, &control_ms,
          "Close a control connection with no request for this many ms"
          " and no wait or monitor open (default 60000; 0: never)", "MS" },
        { "metrics", 0, 0, G_OPTION_ARG_STRING, &metrics_addr,
          "Serve Prometheus metrics at http://HOST:PORT/metrics (read-only,"
          " unauthenticated: keep it on a trusted network)",
          "HOST:PORT" },
        { "version", 'V', 0, G_OPTION_ARG_NONE, &version,
          "Print the version and exit", NULL },
        { NULL }
    };
    g_autoptr(GOptionContext) octx = g_option_context_new(
        "- tagged memory pools for CXL Dynamic Capacity Devices");
    g_autoptr(GError) err = NULL;
    g_autoptr(GMainLoop) loop = NULL;
    DcdPeerPolicy pol = { .uids = g_array_new(FALSE, FALSE, sizeof(uid_t)) };
    DcdWireLimits limits = { 0 };
    DcdBrokerConfig cfg = { 0 };
    DcdEtcdSecurity sec = { 0 };
    DcdActivation act;
    DcdBroker *b;
    DcdHostSrv *hs;
    DcdCtl *ctl;
    DcdMetrics *metrics = NULL;

    /*
     * etcd's JSON API needs nothing of HTTP/2, and libsoup 3.2's can leave
     * a request waiting for good when etcd closes a TLS connection it
     * refused.  Set while the process has one thread; libsoup reads it.
     */
    g_setenv("SOUP_FORCE_HTTP1", "1", FALSE);
    g_option_context_add_main_entries(octx, entries, NULL);
    if (!g_option_context_parse(octx, &argc, &argv, &err)) {
        usage_error("%s", err->message);
    }
    if (version) {
        printf("dcd-broker %s\n", PACKAGE_VERSION);
        return 0;
    }
    if (argc > 1) {
        usage_error("unexpected argument '%s'", argv[1]);
    }
    if (idle_ms < 0) {
        usage_error("--idle-timeout must be 0 or more, not %d", idle_ms);
    }
    if (offer_ms < 0) {
        usage_error("--offer-timeout must be 0 or more, not %d", offer_ms);
    }
    if (control_ms < 0) {
        usage_error("--control-timeout must be 0 or more, not %d",
                    control_ms);
    }
    if (no_state && state_dir) {
        usage_error("--state-dir and --no-state contradict each other");
    }
    if (cluster_store && (state_dir || no_state)) {
        usage_error("--cluster-store keeps the state in etcd: no --state-dir"
                    " or --no-state with it");
    }
    if (!cluster_store && (node || lease_ttl_s || store_timeout_ms)) {
        usage_error("--node, --lease-ttl and --store-timeout go with"
                    " --cluster-store");
    }
    if (cluster_store && !node) {
        usage_error("--cluster-store needs --node NAME");
    }
    if (!cluster_store && (etcd_cacert || etcd_cert || etcd_key ||
                           etcd_user || etcd_password_file)) {
        usage_error("--etcd-cacert, --etcd-cert, --etcd-key, --etcd-user"
                    " and --etcd-password-file go with --cluster-store");
    }
    if (!etcd_cert != !etcd_key) {
        usage_error("--etcd-cert and --etcd-key go together");
    }
    if (!etcd_user != !etcd_password_file) {
        usage_error("--etcd-user needs --etcd-password-file (a password is"
                    " never given on the command line), and the other way"
                    " round");
    }
    if ((etcd_cacert || etcd_cert) &&
        !g_str_has_prefix(cluster_store, "etcds://")) {
        usage_error("--etcd-cacert and --etcd-cert are for TLS: name the"
                    " endpoints etcds://HOST:PORT[,...]");
    }
    if (lease_ttl_s < 0 || store_timeout_ms < 0) {
        usage_error("--lease-ttl and --store-timeout must be positive");
    }
    if (metrics_addr && !dcd_metrics_check_addr(metrics_addr, &err)) {
        usage_error("%s", err->message);
    }
    for (char **u = allow; u && *u; u++) {
        guint64 v;

        if (!g_ascii_string_to_unsigned(*u, 10, 0, G_MAXUINT32 - 1, &v, NULL)) {
            fprintf(stderr, "dcd-broker: --allow-uid: '%s' is not a uid\n", *u);
            return 2;
        }
        g_array_append_val(pol.uids, (uid_t){ v });
    }
    if (pol.uids->len) {
        uid_t self = geteuid();

        g_array_append_val(pol.uids, self);
    }
    if (group) {
        struct group *gr = getgrnam(group);

        if (!gr) {
            fprintf(stderr, "dcd-broker: no group '%s'\n", group);
            return 2;
        }
        pol.gid = gr->gr_gid;
        pol.has_gid = true;
    }
    if (!host_path) {
        host_path = dcd_default_host_socket();
    }
    if (!ctl_path) {
        ctl_path = dcd_default_control_socket();
    }
    if (!state_dir && !no_state && !cluster_store) {
        state_dir = dcd_default_state_dir();
    }
    cfg.state_dir = no_state ? NULL : state_dir;
    cfg.cluster_store = cluster_store;
    cfg.node = node;
    cfg.lease_ttl_s = lease_ttl_s;
    cfg.store_timeout_ms = store_timeout_ms;
    sec = (DcdEtcdSecurity){ .cacert = etcd_cacert, .cert = etcd_cert,
                             .key = etcd_key, .user = etcd_user,
                             .password_file = etcd_password_file };
    cfg.etcd_security = &sec;
    cfg.pool_dir = pool_dir;
    cfg.shared_device = device;
    cfg.offer_timeout_ms = offer_ms;
    limits.idle_timeout_ms = idle_ms;

    raise_fd_limit();
    /* A file over its size limit is a full disk: a failed write, not death. */
    signal(SIGXFSZ, SIG_IGN);
    b = dcd_broker_new(&cfg, &err);
    if (!b) {
        fprintf(stderr, "dcd-broker: %s\n", err->message);
        return 1;
    }
    if (!dcd_activation_get(host_path, ctl_path, &act, &err)) {
        fprintf(stderr, "dcd-broker: %s\n", err->message);
        dcd_broker_free(b);
        return 1;
    }
    if (act.host_path) {
        g_free(host_path);
        host_path = g_strdup(act.host_path);
    }
    if (act.ctl_path) {
        g_free(ctl_path);
        ctl_path = g_strdup(act.ctl_path);
    }
    dcd_activation_clear(&act);
    /* An inherited socket is used as it is; the other one we bind. */
    hs = dcd_hostsrv_new(b, act.host_fd < 0 ? host_path : NULL, &pol,
                         &limits, &err);
    if (hs && act.host_fd >= 0 &&
        !dcd_hostsrv_listen_fd(hs, act.host_fd, &pol, &err)) {
        g_clear_pointer(&hs, dcd_hostsrv_free);
    }
    ctl = hs ? dcd_ctl_new(b, act.ctl_fd < 0 ? ctl_path : NULL, host_path,
                           &pol, &err) : NULL;
    if (ctl && act.ctl_fd >= 0 &&
        !dcd_ctl_listen_fd(ctl, act.ctl_fd, &pol, &err)) {
        g_clear_pointer(&ctl, dcd_ctl_free);
    }
    if (!ctl) {
        fprintf(stderr, "dcd-broker: %s\n", err->message);
        dcd_hostsrv_free(hs);
        dcd_broker_free(b);
        return 1;
    }
    dcd_ctl_set_timeout(ctl, control_ms);
    if (metrics_addr &&
        !(metrics = dcd_metrics_new(b, metrics_addr, &err))) {
        fprintf(stderr, "dcd-broker: %s\n", err->message);
        dcd_ctl_free(ctl);
        dcd_hostsrv_free(hs);
        dcd_broker_free(b);
        return 1;
    }
    if (metrics) {
        metrics_note = g_strdup_printf(" metrics %s",
                                       dcd_metrics_url(metrics));
    }
    loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGINT, on_signal, loop);
    g_unix_signal_add(SIGTERM, on_signal, loop);
    g_unix_signal_add(SIGHUP, on_hup, NULL);
    /* Tests and scripts wait for this line. */
    status = g_strdup_printf("ready: host-socket %s control-socket %s"
                             " state %s%s%s", host_path, ctl_path,
                             cluster_store ? cluster_store :
                             cfg.state_dir ? cfg.state_dir : "(none)",
                             metrics_note ? metrics_note : "",
                             act.host_fd >= 0 || act.ctl_fd >= 0 ?
                             " (socket-activated)" : "");
    printf("dcd-broker: %s\n", status);
    fflush(stdout);
    dcd_notify_ready(status);
    g_main_loop_run(loop);

    dcd_notify_stopping();
    g_message("shutting down");
    dcd_metrics_free(metrics);
    dcd_ctl_free(ctl);
    dcd_hostsrv_free(hs);
    dcd_broker_free(b);
    g_array_unref(pol.uids);
    return 0;
}
