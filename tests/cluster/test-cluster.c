/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A broker whose state is in etcd (docs/cluster.md): pools and extents
 * survive a broker kill; with etcd gone, changes fail with unavail within
 * the request bound while hosts keep what they hold and reads answer,
 * and creates work again once etcd is back (a host's own release made
 * meanwhile reaches it); a node name is one broker's; a broker paused
 * past its lease, or whose lease etcd ended, changes nothing; a txn of
 * unknown outcome is undone; bad records in etcd are dropped; --metrics
 * counts the round trips to etcd and the ones that failed.
 */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "etcd.h"
#include "harness.h"
#include "proxy.h"
#include "scrape.h"

/*
 * Bounds that a loaded machine keeps: etcd's data is on tmpfs (no disk
 * fsync in the way), yet a request may still wait a second for a CPU.
 */
#define TTL_S 5
#define TIMEOUT_MS 1500
#define PREFIX "/dcd/v1/"
#define N1 PREFIX "state/n1/"     /* node n1's own records */

/* more: one more broker argument, or NULL. */
static TBroker *cluster_broker_more(const char *url, const char *node,
                                    int ttl_s, const char *more)
{
    g_autofree char *store = g_strdup_printf("--cluster-store=%s", url);
    g_autofree char *name = g_strdup_printf("--node=%s", node);
    g_autofree char *ttl = g_strdup_printf("--lease-ttl=%d", ttl_s);
    g_autofree char *timeout = g_strdup_printf("--store-timeout=%d",
                                               TIMEOUT_MS);
    const char *extra[] = { store, name, ttl, timeout, more, NULL };
    TBrokerOpts o = { .log = true, .extra = extra, .no_state_dir = true };

    return tbroker_new(&o);
}

static TBroker *cluster_broker_at(const char *url, const char *node,
                                  int ttl_s)
{
    return cluster_broker_more(url, node, ttl_s, NULL);
}

static TBroker *cluster_broker_ttl(TEtcd *e, const char *node, int ttl_s)
{
    return cluster_broker_at(e->store_url, node, ttl_s);
}

static TBroker *cluster_broker(TEtcd *e, const char *node)
{
    return cluster_broker_ttl(e, node, TTL_S);
}

static void add_wait(TBroker *b, THost *h, const char *tag,
                     const char *policy)
{
    json_node_unref(tcall(b, "extent-add", "{\"host-id\": %u, \"tag\":"
                          " \"%s\", \"policy\": \"%s\", \"wait\": true}",
                          h->id, tag, policy));
    g_free(thost_ok(h, "wait-extents %s 1 5000", tag));
}

static bool store_available(TBroker *b)
{
    g_autoptr(JsonNode) n = tcall(b, "status", "{}");

    return json_object_get_boolean_member(json_node_get_object(n),
                                          "store-available");
}

static void wait_available(TBroker *b, bool want, gint64 us)
{
    gint64 deadline = g_get_monotonic_time() + us;

    while (store_available(b) != want && g_get_monotonic_time() < deadline) {
        g_usleep(50000);
    }
    if (store_available(b) != want) {
        tbroker_show_log(b);
    }
    g_assert_true(store_available(b) == want);
}

/*
 * A pool-create once etcd can take it: after a member dies the cluster
 * may need an election first, and meanwhile a change fails (unavail)
 * within the bound, as it should.  The tag.
 */
static char *pool_when_up(TBroker *b, gint64 us)
{
    gint64 deadline = g_get_monotonic_time() + us;

    for (;;) {
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonNode) n = tcall_try(b, &err, "pool-create",
                                          "{\"size\": 2097152}");

        if (n) {
            return g_strdup(json_object_get_string_member(
                json_node_get_object(n), "tag"));
        }
        g_assert_error(err, DCD_ERROR, DCD_ERR_UNAVAIL);
        if (g_get_monotonic_time() > deadline) {
            tbroker_show_log(b);
            g_error("pool-create still fails after %" G_GINT64_FORMAT
                    " s: %s", us / G_USEC_PER_SEC, err->message);
        }
        g_usleep(200000);
    }
}

static bool has_pool_key(TEtcd *e, const char *tag)
{
    g_autofree char *key = g_strconcat(N1 "pool:", tag, NULL);

    return tetcd_has_key(e, key);
}

/* "n1 n2": the nodes a broker lists. */
static char *node_names(TBroker *b)
{
    g_autoptr(JsonNode) n = tcall(b, "node-list", "{}");
    JsonArray *a = json_node_get_array(n);
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        g_string_append_printf(s, "%s%s", i ? " " : "",
                               json_object_get_string_member(
                                   json_array_get_object_element(a, i),
                                   "node"));
    }
    return g_string_free(s, FALSE);
}

/* Until b lists exactly these nodes (a watch brings the news). */
static void wait_nodes(TBroker *b, const char *want)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    g_autofree char *got = node_names(b);

    while (g_strcmp0(got, want) != 0 &&
           g_get_monotonic_time() < deadline) {
        g_usleep(100000);
        g_free(got);
        got = node_names(b);
    }
    g_assert_cmpstr(got, ==, want);
}

static unsigned count_prefix(TEtcd *e, const char *prefix)
{
    g_auto(GStrv) keys = tetcd_keys(e, prefix);

    return g_strv_length(keys);
}

static void test_restart(void)
{
    TEtcd *e = tetcd_start();
    TBroker *b = cluster_broker(e, "n1");
    g_autofree char *tag = tpool(b, "{\"size\": 4194304}");
    g_autofree char *file_tag = tpool(b, "{\"size\": 2097152,"
                                      " \"backing\": \"file\"}");
    THost *h0 = thost_start(b, 0, "--reconnect", NULL);
    g_autofree char *r = NULL;

    g_free(thost_ok(h0, "wait-connected 5000"));
    add_wait(b, h0, tag, "free");
    add_wait(b, h0, file_tag, "free");
    g_free(thost_ok(h0, "write-str %s 1000 kept by the host", tag));
    g_free(thost_ok(h0, "write-str %s 8 kept in the file", file_tag));
    /* Saved in etcd, read back with a client that is not ours. */
    g_assert_true(has_pool_key(e, tag));
    g_assert_true(has_pool_key(e, file_tag));
    g_assert_true(tetcd_has_key(e, N1 "host:0"));
    g_assert_cmpuint(count_prefix(e, N1 "extent:0:"), ==, 2);
    g_assert_true(tetcd_has_key(e, PREFIX "node/n1"));

    tbroker_kill(b);
    r = thost_ok(h0, "read-str %s 1000 16", tag);
    g_assert_cmpstr(r, ==, "kept by the host");
    g_clear_pointer(&r, g_free);
    /* A broker of this machine that is dead holds its node name no more. */
    tbroker_restart(b);
    g_free(thost_ok(h0, "wait-connected 5000"));
    twait_count(b, 0, tag, "accepted", 1);
    twait_count(b, 0, file_tag, "accepted", 1);
    r = thost_ok(h0, "read-str %s 1000 16", tag);
    g_assert_cmpstr(r, ==, "kept by the host");
    g_clear_pointer(&r, g_free);
    r = thost_ok(h0, "read-str %s 8 16", file_tag);
    g_assert_cmpstr(r, ==, "kept in the file");

    /* Changes go on after the restart, and reach etcd. */
    json_node_unref(tcall(b, "extent-release", "{\"host-id\": 0, \"tag\":"
                          " \"%s\"}", file_tag));
    g_free(thost_ok(h0, "wait-released %s 5000", file_tag));
    twait_count(b, 0, file_tag, "accepted", 0);
    json_node_unref(tcall(b, "pool-destroy", "{\"tag\": \"%s\"}", file_tag));
    g_assert_false(has_pool_key(e, file_tag));
    g_assert_cmpuint(count_prefix(e, N1 "extent:0:"), ==, 1);

    thost_quit(h0);
    tbroker_free(b);
    /* A broker that stops gives its node name back at once. */
    g_assert_false(tetcd_has_key(e, PREFIX "node/n1"));
    tetcd_free(e);
}

static void test_etcd_gone(void)
{
    TEtcd *e = tetcd_start();
    TBroker *b = cluster_broker(e, "n1");
    g_autofree char *tag = tpool(b, "{\"size\": 4194304}");
    THost *h0 = thost_start(b, 0, NULL);
    g_autofree char *msg = NULL;
    g_autofree char *r = NULL;
    g_autoptr(JsonNode) st = NULL;
    g_autofree char *second = NULL;
    gint64 t0;

    g_free(thost_ok(h0, "wait-connected 5000"));
    add_wait(b, h0, tag, "free");
    g_free(thost_ok(h0, "write-str %s 0 still here", tag));

    /* A member that says nothing: the request bound is what it costs. */
    tetcd_pause(e);
    t0 = g_get_monotonic_time();
    msg = tcall_fail(b, DCD_ERR_UNAVAIL, "pool-create",
                     "{\"size\": 2097152}");
    g_assert_cmpint(g_get_monotonic_time() - t0, <,
                    (TIMEOUT_MS + 1000) * 1000);
    g_test_message("etcd paused: %s", msg);
    g_clear_pointer(&msg, g_free);
    /* Once known gone, at once. */
    t0 = g_get_monotonic_time();
    g_free(tcall_fail(b, DCD_ERR_UNAVAIL, "pool-create",
                      "{\"size\": 2097152}"));
    g_assert_cmpint(g_get_monotonic_time() - t0, <, TIMEOUT_MS * 1000);
    /* Reads answer from memory; the host keeps what it holds. */
    st = tcall(b, "status", "{}");
    g_assert_false(json_object_get_boolean_member(json_node_get_object(st),
                                                  "store-available"));
    g_assert_cmpint(json_object_get_int_member(json_node_get_object(st),
                                               "pools"), ==, 1);
    g_assert_cmpuint(tcount(b, 0, tag, "accepted"), ==, 1);
    r = thost_ok(h0, "read-str %s 0 10", tag);
    g_assert_cmpstr(r, ==, "still here");
    g_clear_pointer(&r, g_free);
    tetcd_resume(e);
    wait_available(b, true, 5 * G_USEC_PER_SEC);
    g_free(tpool(b, "{\"size\": 2097152}"));

    /* A member that is gone, then back on its data. */
    second = tpool(b, "{\"size\": 2097152}");
    add_wait(b, h0, second, "free");
    g_assert_cmpuint(count_prefix(e, N1 "extent:0:"), ==, 2);
    tetcd_kill(e);
    /* The host's own release stands without etcd; etcd catches up. */
    g_free(thost_ok(h0, "drop %s", second));
    twait_count(b, 0, second, "accepted", 0);
    msg = tcall_fail(b, DCD_ERR_UNAVAIL, "pool-create",
                     "{\"size\": 2097152}");
    g_test_message("etcd killed: %s", msg);
    g_assert_cmpuint(tcount(b, 0, tag, "accepted"), ==, 1);
    r = thost_ok(h0, "read-str %s 0 10", tag);
    g_assert_cmpstr(r, ==, "still here");
    g_clear_pointer(&r, g_free);
    tetcd_restart(e);
    wait_available(b, true, (TTL_S + 5) * G_USEC_PER_SEC);
    {
        g_autofree char *t2 = tpool(b, "{\"size\": 2097152}");

        g_assert_true(has_pool_key(e, t2));
    }
    g_assert_cmpuint(count_prefix(e, N1 "extent:0:"), ==, 1);
    g_assert_true(has_pool_key(e, tag));

    /* Gone longer than the lease: the broker takes its node again. */
    tetcd_kill(e);
    g_usleep((TTL_S + 1) * G_USEC_PER_SEC);
    g_assert_false(store_available(b));
    tetcd_restart(e);
    wait_available(b, true, (TTL_S + 5) * G_USEC_PER_SEC);
    g_assert_true(tetcd_has_key(e, PREFIX "node/n1"));
    g_free(tpool(b, "{\"size\": 2097152}"));
    r = thost_ok(h0, "read-str %s 0 10", tag);
    g_assert_cmpstr(r, ==, "still here");
    g_clear_pointer(&r, g_free);
    thost_quit(h0);
    tbroker_free(b);
    tetcd_free(e);
}

/* Start a broker that must fail; returns its stderr. */
static char *broker_refused(TEtcd *e, const char *node)
{
    g_autofree char *store = g_strdup_printf("--cluster-store=%s",
                                             e->store_url);
    g_autofree char *name = g_strdup_printf("--node=%s", node);

    return tbroker_refused(store, name, "--lease-ttl=5",
                           "--store-timeout=1500", NULL);
}

static void test_same_node(void)
{
    TEtcd *e = tetcd_start();
    TBroker *b = cluster_broker(e, "n1");
    g_autofree char *said = broker_refused(e, "n1");
    TBroker *b2;

    g_autofree char *said2 = NULL;
    g_autofree char *tag = NULL;
    g_autoptr(JsonNode) st = NULL;

    g_test_message("second broker: %s", said);
    g_assert_nonnull(strstr(said, "held by another broker"));
    g_assert_nonnull(strstr(said, "\"node\":\"n1\""));
    /*
     * Another name shares the store; a memfd pool is its node's own.
     * Each lists both nodes; a node that stops leaves the list.
     */
    b2 = cluster_broker(e, "n2");
    tag = tpool(b, "{\"size\": 2097152}");
    st = tcall(b2, "pool-list", "{\"tag\": \"%s\"}", tag);
    g_assert_cmpuint(json_array_get_length(json_node_get_array(st)), ==, 0);
    g_assert_true(has_pool_key(e, tag));
    said2 = node_names(b2);
    g_assert_cmpstr(said2, ==, "n1 n2");
    tbroker_free(b);
    wait_nodes(b2, "n2");
    tbroker_free(b2);
    tetcd_free(e);
}

typedef struct LateCall {
    TBroker *b;
    char *tag;
    char *msg;
} LateCall;

static gpointer late_create(gpointer opaque)
{
    LateCall *c = opaque;

    c->msg = tcall_fail(c->b, DCD_ERR_UNAVAIL, "pool-create",
                        "{\"size\": 2097152, \"tag\": \"%s\"}", c->tag);
    return NULL;
}

static void test_paused_past_lease(void)
{
    TEtcd *e = tetcd_start();
    TBroker *a = cluster_broker(e, "n1");
    TBroker *b;
    g_autofree char *before = tpool(a, "{\"size\": 2097152}");
    LateCall late = { .b = a, .tag = g_strdup(
                          "0c1e5e2a-6f7b-4d38-9d0e-2f8a4c6b1a01") };
    g_autoptr(GThread) t = NULL;
    gint64 deadline;
    g_autofree char *msg = NULL;
    g_autofree char *other = NULL;

    /* Paused past its lease: etcd lets the node name go. */
    g_subprocess_send_signal(a->proc, SIGSTOP);
    deadline = g_get_monotonic_time() + (TTL_S + 5) * G_USEC_PER_SEC;
    while (tetcd_has_key(e, PREFIX "node/n1") &&
           g_get_monotonic_time() < deadline) {
        g_usleep(100000);
    }
    g_assert_false(tetcd_has_key(e, PREFIX "node/n1"));
    /* Another broker takes the name and changes the state. */
    b = cluster_broker(e, "n1");
    other = tpool(b, "{\"size\": 2097152}");
    /* The paused broker gets a request, then wakes up. */
    t = g_thread_new("late", late_create, &late);
    g_usleep(200000);
    g_subprocess_send_signal(a->proc, SIGCONT);
    g_thread_join(g_steal_pointer(&t));
    g_test_message("woken broker: %s", late.msg);
    g_assert_false(has_pool_key(e, late.tag));
    g_assert_true(has_pool_key(e, other));
    g_assert_true(has_pool_key(e, before));

    /* The name free again, the woken broker still changes nothing: the
     * state moved while it slept, and its memory is out of date. */
    tbroker_free(b);
    g_usleep((TTL_S * 1000 + 500) * 1000);
    msg = tcall_fail(a, DCD_ERR_UNAVAIL, "pool-create", "{\"size\": 2097152,"
                     " \"tag\": \"%s\"}", late.tag);
    g_test_message("woken broker later: %s", msg);
    g_assert_false(has_pool_key(e, late.tag));
    tbroker_free(a);
    g_free(late.tag);
    g_free(late.msg);
    tetcd_free(e);
}

/*
 * The lease ends while the broker believes it holds it (a long TTL, so no
 * keepalive tells it first): etcd itself refuses the write, by the
 * transaction's compare on the node key's lease.  The broker then takes
 * its node again, finds the state as it left it, and carries on.
 */
static void test_fenced_by_etcd(void)
{
    TEtcd *e = tetcd_start();
    TBroker *b = cluster_broker_ttl(e, "n1", 30);
    const char *tag = "5b0d7c8e-1f2a-4c3b-9e4d-6a7b8c9d0e1f";
    LateCall late = { .b = b, .tag = g_strdup(tag) };
    g_autoptr(GThread) t = NULL;
    g_autofree char *msg = NULL;

    g_free(tpool(b, "{\"size\": 2097152}"));
    /*
     * Stopped while the lease goes and the request comes, so that a
     * keepalive tick falling in between cannot tell the broker first
     * (it would take its node again, and the write would rightly pass).
     */
    g_subprocess_send_signal(b->proc, SIGSTOP);
    tetcd_revoke_leases(e);
    g_assert_false(tetcd_has_key(e, PREFIX "node/n1"));
    t = g_thread_new("late", late_create, &late);
    g_usleep(200000);
    g_subprocess_send_signal(b->proc, SIGCONT);
    g_thread_join(g_steal_pointer(&t));
    msg = late.msg;
    g_test_message("fenced by etcd: %s", msg);
    g_assert_nonnull(strstr(msg, "lost its lease"));
    g_assert_false(has_pool_key(e, tag));
    /* It takes the node again at once, not a keepalive tick (10 s) later. */
    wait_available(b, true, 3 * G_USEC_PER_SEC);
    g_assert_true(tetcd_has_key(e, PREFIX "node/n1"));
    g_free(tpool(b, "{\"size\": 2097152, \"tag\": \"5b0d7c8e-1f2a-4c3b-9e4d-"
                 "6a7b8c9d0e1f\"}"));
    g_assert_true(has_pool_key(e, tag));
    tbroker_free(b);
    g_free(late.tag);
    tetcd_free(e);
}

/*
 * etcd applies a txn but its answer never comes: the create fails with
 * unavail, so the pool must not stay in etcd.  The broker puts the key
 * back before its next write.
 */
static void test_unknown_outcome(void)
{
    TEtcd *e = tetcd_start();
    TProxy *p = tproxy_new(e->client_port);
    g_autofree char *url = g_strdup_printf("etcd://127.0.0.1:%u",
                                           tproxy_port(p));
    TBroker *b = cluster_broker_at(url, "n1", TTL_S);
    const char *lost = "7d3f0a6e-2b1c-4e5d-8f9a-0b1c2d3e4f50";
    g_autofree char *msg = NULL;
    g_autofree char *next = NULL;

    g_free(tpool(b, "{\"size\": 2097152}"));
    tproxy_hold(p, true);
    msg = tcall_fail(b, DCD_ERR_UNAVAIL, "pool-create", "{\"size\": 2097152,"
                     " \"tag\": \"%s\"}", lost);
    g_test_message("answer kept back: %s", msg);
    /* etcd did apply it; the broker acknowledged nothing. */
    g_assert_true(has_pool_key(e, lost));
    g_assert_cmpuint(count_prefix(e, N1 "pool:"), ==, 2);
    tproxy_hold(p, false);
    wait_available(b, true, 5 * G_USEC_PER_SEC);
    next = tpool(b, "{\"size\": 2097152}");
    g_assert_false(has_pool_key(e, lost));
    g_assert_true(has_pool_key(e, next));
    g_assert_cmpuint(count_prefix(e, N1 "pool:"), ==, 2);
    /* The broker and etcd agree: a restart finds the same pools. */
    tbroker_kill(b);
    tbroker_restart(b);
    {
        g_autoptr(JsonNode) st = tcall(b, "status", "{}");

        g_assert_cmpint(json_object_get_int_member(json_node_get_object(st),
                                                   "pools"), ==, 2);
    }
    tbroker_free(b);
    tproxy_free(p);
    tetcd_free(e);
}

/*
 * State in etcd is read like peer input: records that are not JSON, too
 * deep, of the wrong shape or naming no real tag are dropped (and deleted
 * by the rewrite at start); a key that is no record is left alone.
 */
static void test_bad_records(void)
{
    TEtcd *e = tetcd_start();
    const char *good = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";
    g_autofree char *good_key = g_strconcat(N1 "pool:", good, NULL);
    g_autofree char *good_val = g_strdup_printf(
        "{\"tag\": \"%s\", \"size\": 2097152, \"backing\": \"memfd\","
        " \"segments\": []}", good);
    g_autoptr(GString) deep = g_string_new(NULL);
    g_autoptr(JsonNode) st = NULL;
    TBroker *b;

    for (int i = 0; i < 200; i++) {
        g_string_append(deep, "[");
    }
    for (int i = 0; i < 200; i++) {
        g_string_append(deep, "]");
    }
    tetcd_put(e, good_key, good_val);
    tetcd_put(e, N1 "pool:not-a-tag", "{\"tag\": \"not-a-tag\"}");
    tetcd_put(e, N1 "host:7", deep->str);
    tetcd_put(e, N1 "extent:0:0", "not json at all");
    tetcd_put(e, N1 "meta", "{\"id\": 5}");
    tetcd_put(e, N1 "someone-elses", "x");
    b = cluster_broker(e, "n1");
    st = tcall(b, "status", "{}");
    g_assert_cmpint(json_object_get_int_member(json_node_get_object(st),
                                               "pools"), ==, 1);
    g_assert_cmpint(json_object_get_int_member(json_node_get_object(st),
                                               "hosts"), ==, 0);
    g_assert_true(tetcd_has_key(e, good_key));
    g_assert_false(tetcd_has_key(e, N1 "pool:not-a-tag"));
    g_assert_false(tetcd_has_key(e, N1 "host:7"));
    g_assert_false(tetcd_has_key(e, N1 "extent:0:0"));
    g_assert_true(tetcd_has_key(e, N1 "meta"));
    g_assert_true(tetcd_has_key(e, N1 "someone-elses"));
    tbroker_free(b);
    tetcd_free(e);
}

/* A node key with no lease (put by hand) never runs out: refused. */
static void test_stray_node_key(void)
{
    TEtcd *e = tetcd_start();
    gint64 t0 = g_get_monotonic_time();
    g_autofree char *said = NULL;

    tetcd_put(e, PREFIX "node/n1", "{\"node\": \"n1\"}");
    said = broker_refused(e, "n1");
    g_test_message("stray node key: %s", said);
    g_assert_nonnull(strstr(said, "held by another broker"));
    g_assert_cmpint(g_get_monotonic_time() - t0, <,
                    (TTL_S + 5) * G_USEC_PER_SEC);
    tetcd_free(e);
}

/*
 * Three etcd members, the broker given all of them: the leader killed,
 * changes go on once another is elected; the member it talked to gone,
 * it carries on through the others; two gone (no quorum), changes fail
 * with unavail within the bound; back, they work again.
 */
static void test_member_gone(void)
{
    g_autofree char *url = NULL;
    TEtcd **m = tetcd_start_cluster(3, &url);
    TBroker *b = cluster_broker_at(url, "n1", TTL_S);
    g_autofree char *tag = tpool(b, "{\"size\": 2097152}");
    g_autofree char *msg = NULL;
    g_autoptr(JsonNode) pools = NULL;
    TEtcd *leader = NULL;
    gint64 t0;

    /* The leader killed: changes go on once another is elected. */
    for (unsigned i = 0; m[i]; i++) {
        leader = tetcd_is_leader(m[i]) ? m[i] : leader;
    }
    g_assert_nonnull(leader);
    tetcd_kill(leader);
    g_free(pool_when_up(b, 15 * G_USEC_PER_SEC));
    tetcd_restart(leader);

    /* The member it talks to killed: it goes to the others. */
    tetcd_kill(m[0]);
    g_free(pool_when_up(b, 15 * G_USEC_PER_SEC));
    g_assert_true(has_pool_key(m[1], tag));

    tetcd_kill(m[1]);
    t0 = g_get_monotonic_time();
    msg = tcall_fail(b, DCD_ERR_UNAVAIL, "pool-create",
                     "{\"size\": 2097152}");
    g_test_message("no quorum: %s", msg);
    g_assert_cmpint(g_get_monotonic_time() - t0, <,
                    (2 * TIMEOUT_MS + 1000) * 1000);
    pools = tcall(b, "pool-list", "{}");
    g_assert_cmpint(json_array_get_length(json_node_get_array(pools)), ==, 3);

    tetcd_restart(m[0]);
    tetcd_restart(m[1]);
    g_free(pool_when_up(b, (TTL_S + 15) * G_USEC_PER_SEC));
    g_assert_cmpuint(count_prefix(m[2], N1 "pool:"), ==, 4);
    tbroker_free(b);
    for (unsigned i = 0; m[i]; i++) {
        tetcd_free(m[i]);
    }
    g_free(m);
}

/*
 * An add of 130 extents is one txn of 131 keys, over etcd's default
 * --max-txn-ops (128): refused, nothing offered, and the error says
 * what etcd needs.
 */
static void test_txn_too_big(void)
{
    TEtcd *e = tetcd_start();
    TBroker *b = cluster_broker(e, "n1");
    THost *h0 = thost_start(b, 0, NULL);
    g_autofree char *tag = tpool(b, "{\"size\": 272629760}");
    g_autoptr(GString) ext = g_string_new("[");
    g_autofree char *msg = NULL;

    g_free(thost_ok(h0, "wait-connected 5000"));
    for (unsigned i = 0; i < 130; i++) {
        g_string_append_printf(ext, "%s{\"offset\": %u, \"len\": 2097152}",
                               i ? ", " : "", i * 4194304);
    }
    g_string_append_c(ext, ']');
    msg = tcall_fail(b, DCD_ERR_IO, "extent-add", "{\"host-id\": 0,"
                     " \"tag\": \"%s\", \"policy\": \"prescriptive\","
                     " \"extents\": %s}", tag, ext->str);
    g_test_message("130 extents: %s", msg);
    g_assert_nonnull(strstr(msg, "--max-txn-ops of at least 132"));
    g_assert_cmpuint(tcount(b, 0, tag, "pending"), ==, 0);
    g_assert_cmpuint(count_prefix(e, N1 "extent:"), ==, 0);
    /* Nothing is stuck: a smaller add goes through. */
    json_node_unref(tcall(b, "extent-add", "{\"host-id\": 0, \"tag\":"
                          " \"%s\", \"policy\": \"free\", \"wait\": true}",
                          tag));
    g_assert_cmpuint(count_prefix(e, N1 "extent:"), ==, 1);
    thost_quit(h0);
    tbroker_free(b);
    tetcd_free(e);
}

#define ETCD_REQUESTS "dcd_store_requests_total{backend=\"etcd\"}"
#define ETCD_ERRORS "dcd_store_errors_total{backend=\"etcd\"}"

/*
 * --metrics on the etcd backend: every round trip counts, and those that
 * found no etcd count as errors too; reads go on meanwhile.
 */
static void test_metrics(void)
{
    TEtcd *e = tetcd_start();
    TBroker *b = cluster_broker_more(e->store_url, "n1", TTL_S,
                                     "--metrics=127.0.0.1:0");
    g_autoptr(SoupSession) s = soup_session_new();
    g_autofree char *url = tmetrics_url(b);
    g_autofree char *t = tmetrics_scrape(s, url);
    double calls = tmetrics_value(t, ETCD_REQUESTS), v;

    /* Starting made some: the node's lease and key, the load. */
    g_assert_cmpfloat(calls, >=, 1);
    g_assert_cmpfloat(tmetrics_value(t, ETCD_ERRORS), ==, 0);
    g_assert_cmpfloat(tmetrics_value(t, "dcd_store_available"), ==, 1);
    g_assert_false(tmetrics_find(t, "dcd_store_requests_total"
                                 "{backend=\"journal\"}", &v));
    g_free(tpool(b, "{\"size\": 2097152}"));
    g_clear_pointer(&t, g_free);
    t = tmetrics_scrape(s, url);
    g_assert_cmpfloat(tmetrics_value(t, ETCD_REQUESTS), >=, calls + 1);
    g_assert_cmpfloat(tmetrics_value(t, ETCD_ERRORS), ==, 0);
    g_assert_cmpfloat(tmetrics_value(t, "dcd_pools"), ==, 1);

    tetcd_kill(e);
    g_free(tcall_fail(b, DCD_ERR_UNAVAIL, "pool-create",
                      "{\"size\": 2097152}"));
    g_clear_pointer(&t, g_free);
    t = tmetrics_scrape(s, url);
    g_assert_cmpfloat(tmetrics_value(t, ETCD_ERRORS), >=, 1);
    g_assert_cmpfloat(tmetrics_value(t, "dcd_store_available"), ==, 0);
    g_assert_cmpfloat(tmetrics_value(t, "dcd_pools"), ==, 1);
    tetcd_restart(e);
    wait_available(b, true, (TTL_S + 5) * G_USEC_PER_SEC);
    tbroker_free(b);
    tetcd_free(e);
}

/* ---- brokers sharing one device ---------------------------------------*/

typedef struct Trio {
    TEtcd **m;
    char *url;
    char *dir;
    char *dev;               /* the device file all three share */
    TBroker *b[3];
    THost *h[3];             /* host i on broker i (node n<i+1>) */
} Trio;

static TBroker *device_broker(Trio *t, unsigned i)
{
    g_autofree char *node = g_strdup_printf("n%u", i + 1);
    g_autofree char *dev = g_strdup_printf("--shared-device=%s", t->dev);

    return cluster_broker_more(t->url, node, TTL_S, dev);
}

/* Three etcd members, three brokers sharing a 64 MiB device, a host each. */
static Trio *trio_start(bool hosts)
{
    Trio *t = g_new0(Trio, 1);
    int fd;

    t->m = tetcd_start_cluster(3, &t->url);
    t->dir = g_dir_make_tmp("dcd-dev-XXXXXX", NULL);
    t->dev = g_build_filename(t->dir, "device", NULL);
    fd = open(t->dev, O_RDWR | O_CREAT, 0600);
    g_assert_cmpint(ftruncate(fd, 64 << 20), ==, 0);
    close(fd);
    for (unsigned i = 0; i < 3; i++) {
        t->b[i] = device_broker(t, i);
        if (hosts) {
            t->h[i] = thost_start(t->b[i], i, NULL);
            g_free(thost_ok(t->h[i], "wait-connected 5000"));
        }
    }
    return t;
}

static void trio_free(Trio *t)
{
    for (unsigned i = 0; i < 3; i++) {
        if (t->h[i]) {
            thost_quit(t->h[i]);
        }
        tbroker_free(t->b[i]);
    }
    for (unsigned i = 0; t->m[i]; i++) {
        tetcd_free(t->m[i]);
    }
    g_free(t->m);
    trm_tree(t->dir);
    g_free(t->dir);
    g_free(t->dev);
    g_free(t->url);
    g_free(t);
}

/* A pool as b lists it: "size ranges segments" (device offsets), or "". */
static char *pool_view(TBroker *b, const char *tag)
{
    g_autoptr(JsonNode) n = tcall(b, "pool-list", "{\"tag\": \"%s\"}", tag);
    JsonArray *a = json_node_get_array(n);
    JsonObject *p;
    JsonArray *r, *segs;
    GString *s = g_string_new(NULL);

    if (json_array_get_length(a) == 0) {
        return g_string_free(s, FALSE);
    }
    p = json_array_get_object_element(a, 0);
    r = json_object_get_array_member(p, "device-ranges");
    segs = json_object_get_array_member(p, "segments");
    g_string_printf(s, "%" G_GINT64_FORMAT,
                    json_object_get_int_member(p, "size"));
    for (guint i = 0; r && i < json_array_get_length(r); i++) {
        JsonObject *o = json_array_get_object_element(r, i);

        g_string_append_printf(s, " %" G_GINT64_FORMAT "+%" G_GINT64_FORMAT,
                               json_object_get_int_member(o, "offset"),
                               json_object_get_int_member(o, "len"));
    }
    for (guint i = 0; i < json_array_get_length(segs); i++) {
        JsonObject *o = json_array_get_object_element(segs, i);

        g_string_append_printf(s, " seq%" G_GINT64_FORMAT "@%" G_GINT64_FORMAT,
                               json_object_get_int_member(o, "shared-seq"),
                               json_object_get_int_member(o,
                                                          "device-offset"));
    }
    return g_string_free(s, FALSE);
}

/* Until b lists the pool as want (the watch brings it). */
static void wait_pool_view(TBroker *b, const char *tag, const char *want)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    g_autofree char *got = pool_view(b, tag);

    while (g_strcmp0(got, want) != 0 && g_get_monotonic_time() < deadline) {
        g_usleep(50000);
        g_free(got);
        got = pool_view(b, tag);
    }
    g_assert_cmpstr(got, ==, want);
}

/* Until b lists no live extent of tag on any node. */
static void wait_no_extents(TBroker *b, const char *tag)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    guint n;

    do {
        g_autoptr(JsonNode) l = tcall(b, "extent-list", "{\"tag\": \"%s\"}",
                                      tag);

        n = json_array_get_length(json_node_get_array(l));
        if (n) {
            g_usleep(50000);
        }
    } while (n && g_get_monotonic_time() < deadline);
    g_assert_cmpuint(n, ==, 0);
}

/*
 * A tag made on n1 reaches hosts on n1, n2 and n3: the same layout and
 * device offsets everywhere, the same bytes through every host; each
 * broker lists the whole cluster; what belongs to another node is
 * refused with its name.
 */
static void test_shared_device(void)
{
    Trio *t = trio_start(true);
    g_autofree char *tag = tpool(t->b[0], "{\"size\": 8388608}");
    g_autofree char *view = NULL, *r = NULL, *msg = NULL, *names = NULL;
    g_autofree char *said = NULL;
    g_autoptr(JsonNode) ext = NULL;
    JsonArray *a;
    THost *dup;

    /* Made on n1, known at once on n2 and n3 with the same ranges. */
    view = pool_view(t->b[0], tag);
    g_assert_cmpstr(view, ==, "8388608 0+8388608");
    wait_pool_view(t->b[1], tag, view);
    wait_pool_view(t->b[2], tag, view);
    names = node_names(t->b[2]);
    g_assert_cmpstr(names, ==, "n1 n2 n3");

    /* Laid out by its first add on n1; shared from n2 and n3. */
    add_wait(t->b[0], t->h[0], tag, "free");
    g_free(view);
    view = pool_view(t->b[0], tag);
    wait_pool_view(t->b[1], tag, view);
    wait_pool_view(t->b[2], tag, view);
    /* Host 1 is n2's: asked of n1, n2's broker carries it out. */
    add_wait(t->b[0], t->h[1], tag, "enable-shared-access");
    add_wait(t->b[2], t->h[2], tag, "enable-shared-access");
    g_free(thost_ok(t->h[0], "write-str %s 4096 one dataset, three nodes",
                    tag));
    for (unsigned i = 1; i < 3; i++) {
        g_free(r);
        r = thost_ok(t->h[i], "read-str %s 4096 24", tag);
        g_assert_cmpstr(r, ==, "one dataset, three nodes");
    }

    /* n3 lists all three hosts' extents, at one device offset. */
    twait_count(t->b[2], 0, tag, "accepted", 1);
    twait_count(t->b[2], 1, tag, "accepted", 1);
    ext = tcall(t->b[2], "extent-list", "{\"tag\": \"%s\"}", tag);
    a = json_node_get_array(ext);
    g_assert_cmpuint(json_array_get_length(a), ==, 3);
    for (guint i = 0; i < 3; i++) {
        JsonObject *e = json_array_get_object_element(a, i);

        g_assert_cmpint(json_object_get_int_member(e, "shared-seq"), ==, 0);
        g_assert_cmpint(json_object_get_int_member(e, "device-offset"), ==,
                        0);
    }

    /* Held on three nodes: no node may destroy it. */
    msg = tcall_fail(t->b[2], DCD_ERR_BUSY, "pool-destroy",
                     "{\"tag\": \"%s\"}", tag);
    g_test_message("destroy on n3: %s", msg);
    g_free(msg);
    /* What the host's own broker refuses comes back as it said it. */
    msg = tcall_fail(t->b[2], DCD_ERR_EXIST, "extent-add", "{\"host-id\": 1,"
                     " \"tag\": \"%s\", \"policy\": \"enable-shared-access\"}",
                     tag);
    g_test_message("add again through n3: %s", msg);
    g_assert_nonnull(strstr(msg, "already holds"));
    /* Host-ids are the cluster's: host 0 cannot also be on n2. */
    dup = thost_start(t->b[1], 0, NULL);
    said = thost_cmd(dup, "wait-connected 2000");
    g_test_message("host 0 on n2: %s", said);
    g_assert_false(g_str_has_prefix(said, "ok"));
    thost_kill(dup);

    /*
     * Host 2 lets it go; n3, which then holds none of it, may not lay it
     * out again for a first add while n1's and n2's hosts hold it.
     */
    json_node_unref(tcall(t->b[2], "extent-release", "{\"host-id\": 2,"
                          " \"tag\": \"%s\", \"wait\": true}", tag));
    g_free(msg);
    msg = tcall_fail(t->b[2], DCD_ERR_EXIST, "extent-add", "{\"host-id\": 2,"
                     " \"tag\": \"%s\", \"policy\": \"free\"}", tag);
    g_test_message("a first add again on n3: %s", msg);
    g_assert_nonnull(strstr(msg, "already allocated"));
    add_wait(t->b[2], t->h[2], tag, "enable-shared-access");

    /* Released from n2 (two of them on other nodes), then destroyed. */
    for (unsigned i = 0; i < 3; i++) {
        g_autoptr(JsonNode) n = tcall(t->b[1], "extent-release",
                                      "{\"host-id\": %u, \"tag\": \"%s\","
                                      " \"wait\": true}", i, tag);
        JsonArray *x = json_object_get_array_member(json_node_get_object(n),
                                                    "extents");

        g_assert_cmpstr(json_object_get_string_member(
            json_array_get_object_element(x, 0), "state"), ==, "released");
    }
    wait_no_extents(t->b[1], tag);
    /*
     * Held nowhere, it may be laid out anew (two extents now), and every
     * node follows: host 0 shares it from n1 at the new layout.
     */
    wait_no_extents(t->b[0], tag);
    json_node_unref(tcall(t->b[1], "extent-add", "{\"host-id\": 1, \"tag\":"
                          " \"%s\", \"policy\": \"prescriptive\", \"extents\":"
                          " [{\"offset\": 0, \"len\": 4194304}, {\"offset\":"
                          " 16777216, \"len\": 4194304}], \"wait\": true}",
                          tag));
    g_free(view);
    view = pool_view(t->b[1], tag);
    g_assert_nonnull(strstr(view, "seq1@"));
    wait_pool_view(t->b[0], tag, view);
    wait_pool_view(t->b[2], tag, view);
    json_node_unref(tcall(t->b[0], "extent-add", "{\"host-id\": 0, \"tag\":"
                          " \"%s\", \"policy\": \"enable-shared-access\","
                          " \"wait\": true}", tag));
    g_assert_cmpuint(tcount(t->b[0], 0, tag, "accepted"), ==, 2);
    for (unsigned i = 0; i < 2; i++) {
        json_node_unref(tcall(t->b[1], "extent-release", "{\"host-id\": %u,"
                              " \"tag\": \"%s\", \"wait\": true}", i,
                              tag));
    }
    wait_no_extents(t->b[1], tag);
    json_node_unref(tcall(t->b[1], "pool-destroy", "{\"tag\": \"%s\"}",
                          tag));
    wait_pool_view(t->b[0], tag, "");
    wait_pool_view(t->b[2], tag, "");
    trio_free(t);
}

typedef struct Racer {
    TBroker *b;
    unsigned made, lost;
} Racer;

/* Pools of 2 MiB until the device is full; a lost race is tried again. */
static gpointer race(gpointer opaque)
{
    Racer *r = opaque;
    gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < deadline) {
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonNode) n = tcall_try(r->b, &err, "pool-create",
                                          "{\"size\": 2097152}");

        if (n) {
            r->made++;
        } else if (g_error_matches(err, DCD_ERROR, DCD_ERR_NOSPC)) {
            break;
        } else {
            g_assert_true(g_error_matches(err, DCD_ERROR, DCD_ERR_STATE));
            r->lost++;
            g_usleep(20000);
        }
    }
    return NULL;
}

/*
 * Two brokers fill one device at once: the lost races fail whole, every
 * block ends in exactly one pool, and both see every pool.
 */
static void test_device_race(void)
{
    Trio *t = trio_start(false);
    Racer r[2] = { { .b = t->b[0] }, { .b = t->b[1] } };
    GThread *th[2];
    g_auto(GStrv) keys = NULL;
    g_autofree guint8 *owner = g_malloc0(32);
    unsigned pools = 0;

    for (unsigned i = 0; i < 2; i++) {
        th[i] = g_thread_new("racer", race, &r[i]);
    }
    for (unsigned i = 0; i < 2; i++) {
        g_thread_join(th[i]);
    }
    g_test_message("made %u and %u pools; %u and %u lost races", r[0].made,
                   r[1].made, r[0].lost, r[1].lost);
    g_assert_cmpuint(r[0].made + r[1].made, ==, 32);
    keys = tetcd_keys(t->m[0], PREFIX "shared/devpool:");
    for (char **k = keys; *k; k++) {
        g_autofree char *v = tetcd_get(t->m[0], *k);
        g_autoptr(JsonNode) n = json_from_string(v, NULL);
        JsonArray *ranges = json_object_get_array_member(
            json_node_get_object(n), "device-ranges");

        for (guint i = 0; i < json_array_get_length(ranges); i++) {
            JsonObject *o = json_array_get_object_element(ranges, i);
            gint64 off = json_object_get_int_member(o, "offset");
            gint64 len = json_object_get_int_member(o, "len");

            for (gint64 blk = off >> 21; blk < (off + len) >> 21; blk++) {
                g_assert_cmpint(blk, <, 32);
                g_assert_cmpuint(owner[blk], ==, 0);
                owner[blk] = 1;
            }
        }
        pools++;
    }
    g_assert_cmpuint(pools, ==, 32);
    /* Every broker knows all 32: the third only from the watch. */
    for (unsigned i = 0; i < 3; i++) {
        gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
        guint n;

        do {
            g_autoptr(JsonNode) l = tcall(t->b[i], "pool-list", "{}");

            n = json_array_get_length(json_node_get_array(l));
            if (n != 32) {
                g_usleep(50000);
            }
        } while (n != 32 && g_get_monotonic_time() < deadline);
        g_assert_cmpuint(n, ==, 32);
    }
    /*
     * Destroyed through the three brokers in turn, each one a change the
     * next may not have heard of yet: every one goes through.
     */
    {
        g_autoptr(JsonNode) l = tcall(t->b[0], "pool-list", "{}");
        JsonArray *a = json_node_get_array(l);

        for (guint i = 0; i < json_array_get_length(a); i++) {
            json_node_unref(tcall(t->b[i % 3], "pool-destroy",
                                  "{\"tag\": \"%s\"}",
                                  json_object_get_string_member(
                                      json_array_get_object_element(a, i),
                                      "tag")));
        }
    }
    /* No broker took an echo of its own writes for someone else's. */
    for (unsigned i = 0; i < 3; i++) {
        g_autofree char *log = NULL;

        g_assert_true(g_file_get_contents(t->b[i]->log, &log, NULL, NULL));
        g_assert_null(strstr(log, "changed by someone else"));
    }
    trio_free(t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    g_test_add_func("/cluster/restart", test_restart);
    g_test_add_func("/cluster/etcd-gone", test_etcd_gone);
    g_test_add_func("/cluster/same-node", test_same_node);
    g_test_add_func("/cluster/paused-past-lease", test_paused_past_lease);
    g_test_add_func("/cluster/fenced-by-etcd", test_fenced_by_etcd);
    g_test_add_func("/cluster/unknown-outcome", test_unknown_outcome);
    g_test_add_func("/cluster/bad-records", test_bad_records);
    g_test_add_func("/cluster/stray-node-key", test_stray_node_key);
    g_test_add_func("/cluster/member-gone", test_member_gone);
    g_test_add_func("/cluster/txn-too-big", test_txn_too_big);
    g_test_add_func("/cluster/shared-device", test_shared_device);
    g_test_add_func("/cluster/device-race", test_device_race);
    g_test_add_func("/cluster/metrics", test_metrics);
    return g_test_run();
}
