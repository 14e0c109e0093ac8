/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The broker with real dcd-hostsim hosts: shared extents carry the same
 * bytes to every host, whatever DPAs each got; offers die with their
 * host; memory survives broker restarts.
 */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "dcd/proto.h"
#include "harness.h"

#define MB (1ull << 20)

static void wait_connected(THost *h)
{
    g_free(thost_ok(h, "wait-connected 5000"));
}

/* Add tag to host with a policy and wait for the host's answer. */
static void add_wait(TBroker *b, unsigned host, const char *tag,
                     const char *policy, const char *extents)
{
    g_autoptr(JsonNode) n = tcall(b, "extent-add",
        "{\"host-id\": %u, \"tag\": \"%s\", \"policy\": \"%s\","
        " \"wait\": true%s%s}", host, tag, policy,
        extents ? ", \"extents\": " : "", extents ? extents : "");
    JsonArray *a = json_object_get_array_member(json_node_get_object(n),
                                                "extents");

    for (guint i = 0; i < json_array_get_length(a); i++) {
        g_assert_cmpstr(json_object_get_string_member(
            json_array_get_object_element(a, i), "state"), ==, "accepted");
    }
}

/* A broker with hosts 0 and 1 sharing a fresh pool of size bytes. */
static TBroker *share_two(uint64_t size, THost **h0, THost **h1, char **tag)
{
    TBroker *b = tbroker_start(NULL, NULL);
    g_autofree char *args = g_strdup_printf("{\"size\": %" G_GUINT64_FORMAT
                                            "}", size);

    *h0 = thost_start(b, 0, NULL);
    *h1 = thost_start(b, 1, NULL);
    *tag = tpool(b, args);
    wait_connected(*h0);
    wait_connected(*h1);
    add_wait(b, 0, *tag, "free", NULL);
    add_wait(b, 1, *tag, "enable-shared-access", NULL);
    g_free(thost_ok(*h0, "wait-extents %s 1 5000", *tag));
    g_free(thost_ok(*h1, "wait-extents %s 1 5000", *tag));
    return b;
}

static void test_two_hosts(void)
{
    THost *h0, *h1;
    g_autofree char *tag = NULL;
    TBroker *b = share_two(8 * MB, &h0, &h1, &tag);
    g_autofree char *r = NULL;

    g_free(thost_ok(h0, "write-str %s 4096 written through host 0", tag));
    r = thost_ok(h1, "read-str %s 4096 22", tag);
    g_assert_cmpstr(r, ==, "written through host 0");
    g_free(r);
    g_free(thost_ok(h1, "write-str %s 8388600 tail-1", tag));
    r = thost_ok(h0, "read-str %s 8388600 6", tag);
    g_assert_cmpstr(r, ==, "tail-1");
    thost_quit(h0);
    thost_quit(h1);
    tbroker_free(b);
}

/*
 * Eight hosts, each with a different part of its region already taken,
 * share one tag laid out in four pieces: each gets different DPAs, the
 * same shared_seq for the same pool range, and the same bytes.
 */
static void test_fragmented_eight(void)
{
    enum { N = 8 };
    TBroker *b = tbroker_start(NULL, NULL);
    THost *h[N];
    g_autofree char *tag = tpool(b, "{\"size\": 16777216}");
    g_autofree char *sum0 = NULL;
    GHashTable *dpas = g_hash_table_new_full(g_str_hash, g_str_equal,
                                             g_free, NULL);

    for (int i = 0; i < N; i++) {
        h[i] = thost_start(b, i, NULL);
        wait_connected(h[i]);
        if (i) {
            /* i * 2M of filler so free space starts at a different DPA */
            g_autofree char *filler = NULL;
            g_autofree char *args = g_strdup_printf("{\"size\": %llu}",
                                                    i * 2 * MB);

            filler = tpool(b, args);
            add_wait(b, i, filler, "contiguous", NULL);
        }
    }
    add_wait(b, 0, tag, "prescriptive",
             "[{\"offset\": 0, \"len\": 2097152},"
             " {\"offset\": 8388608, \"len\": 4194304},"
             " {\"offset\": 20971520, \"len\": 2097152},"
             " {\"offset\": 33554432, \"len\": 8388608}]");
    for (int i = 1; i < N; i++) {
        add_wait(b, i, tag, "enable-shared-access", NULL);
    }
    for (int i = 0; i < N; i++) {
        g_free(thost_ok(h[i], "wait-extents %s 4 5000", tag));
        /* each host writes its own 2M slice */
        g_free(thost_ok(h[i], "fill %s %llu %llu %d", tag, i * 2 * MB,
                        2 * MB, 0x40 + i));
    }
    for (int i = 0; i < N; i++) {
        g_autofree char *sum = thost_ok(h[i], "checksum %s 0 %llu", tag,
                                        16 * MB);
        g_autofree char *byte = thost_ok(h[i], "read %s %llu 1", tag,
                                         ((i + 3) % N) * 2 * MB + 12345);
        g_autofree char *want = g_strdup_printf("%02x", 0x40 + (i + 3) % N);

        g_assert_cmpstr(byte, ==, want);
        if (!sum0) {
            sum0 = g_strdup(sum);
        }
        g_assert_cmpstr(sum, ==, sum0);
    }
    /* same seq <-> same pool offset everywhere; DPAs differ across hosts */
    for (int i = 0; i < N; i++) {
        g_autoptr(JsonNode) n = tcall(b, "extent-list",
                                      "{\"host-id\": %d, \"tag\": \"%s\"}",
                                      i, tag);
        JsonArray *a = json_node_get_array(n);

        g_assert_cmpuint(json_array_get_length(a), ==, 4);
        for (guint j = 0; j < 4; j++) {
            JsonObject *e = json_array_get_object_element(a, j);
            gint64 seq = json_object_get_int_member(e, "shared-seq");
            gint64 off = json_object_get_int_member(e, "pool-offset");
            static const gint64 want_off[] = { 0, 2 * MB, 6 * MB, 8 * MB };

            g_assert_cmpint(off, ==, want_off[seq]);
            g_hash_table_add(dpas, g_strdup_printf(
                "%" G_GINT64_FORMAT "/%" G_GINT64_FORMAT, seq,
                json_object_get_int_member(e, "dpa")));
        }
    }
    g_assert_cmpuint(g_hash_table_size(dpas), >, 4 * 2);
    g_hash_table_unref(dpas);
    for (int i = 0; i < N; i++) {
        thost_quit(h[i]);
    }
    tbroker_free(b);
}

/*
 * A host that goes away with an offer open may still have it in its
 * device: the offer is revoking, and the pool cannot be destroyed, until
 * the host comes back or the operator declares it gone.
 */
static void test_revoking_on_disconnect(void)
{
    TBroker *b = tbroker_start(NULL, NULL);
    THost *h = thost_start(b, 3, "--manual", NULL);
    g_autofree char *tag = tpool(b, "{\"size\": 4194304}");
    g_autoptr(JsonNode) n = NULL;
    g_autoptr(JsonNode) hosts = NULL;

    wait_connected(h);
    n = tcall(b, "extent-add", "{\"host-id\": 3, \"tag\": \"%s\"}", tag);
    g_assert_cmpuint(tcount(b, 3, tag, "pending"), ==, 1);
    g_free(tcall_fail(b, DCD_ERR_BUSY, "pool-destroy", "{\"tag\": \"%s\"}",
                      tag));
    thost_kill(h);
    twait_count(b, 3, tag, "revoking", 1);
    g_free(tcall_fail(b, DCD_ERR_BUSY, "pool-destroy", "{\"tag\": \"%s\"}",
                      tag));
    hosts = tcall(b, "host-list", "{}");
    g_assert_cmpint(json_object_get_int_member(
        json_array_get_object_element(json_node_get_array(hosts), 0),
        "revoking"), ==, 1);
    g_free(tcall_fail(b, DCD_ERR_NOENT, "host-forget", "{\"host-id\": 9}"));
    json_node_unref(tcall(b, "host-forget", "{\"host-id\": 3}"));
    g_assert_cmpuint(tcount(b, 3, tag, "revoking"), ==, 0);
    g_assert_cmpuint(tcount(b, 3, tag, "reclaimed"), ==, 1);
    json_node_unref(tcall(b, "pool-destroy", "{\"tag\": \"%s\"}", tag));
    tbroker_free(b);
}

/*
 * Version 2, a host that is there: a withdrawn offer (offer timeout) is
 * the host's until it confirms, and then gone from its own list too; a
 * forced release ends with the host's RELEASED.
 */
static void test_withdraw_confirmed(void)
{
    TBroker *b = tbroker_start(NULL, "--offer-timeout=300", NULL);
    THost *h = thost_start(b, 3, "--manual", NULL);
    THost *h0 = thost_start(b, 0, NULL);
    g_autofree char *tag = tpool(b, "{\"size\": 4194304}");
    g_autofree char *tag2 = tpool(b, "{\"size\": 4194304}");
    g_autofree char *pending = NULL;
    g_autoptr(JsonNode) n = NULL;
    g_autoptr(JsonNode) r = NULL;

    wait_connected(h);
    wait_connected(h0);
    n = tcall(b, "extent-add", "{\"host-id\": 3, \"tag\": \"%s\"}", tag);
    twait_count(b, 3, tag, "reclaimed", 1);
    pending = thost_ok(h, "pending");
    g_assert_cmpstr(pending, ==, "[]");
    json_node_unref(tcall(b, "pool-destroy", "{\"tag\": \"%s\"}", tag));

    add_wait(b, 0, tag2, "free", NULL);
    r = tcall(b, "extent-release", "{\"host-id\": 0, \"tag\": \"%s\","
              " \"forced\": true, \"wait\": true}", tag2);
    g_assert_cmpstr(json_object_get_string_member(
        json_array_get_object_element(json_object_get_array_member(
            json_node_get_object(r), "extents"), 0), "state"), ==,
        "released");
    g_assert_cmpuint(tcount(b, 0, tag2, "released"), ==, 1);
    json_node_unref(tcall(b, "pool-destroy", "{\"tag\": \"%s\"}", tag2));
    thost_kill(h);
    thost_kill(h0);
    tbroker_free(b);
}

static void test_rejection(void)
{
    TBroker *b = tbroker_start(NULL, NULL);
    g_autofree char *tag = tpool(b, "{\"size\": 4194304}");
    THost *h0 = thost_start(b, 0, NULL);
    THost *h1 = thost_start(b, 1, "--reject-tag", tag, NULL);
    g_autoptr(JsonNode) n = NULL;
    JsonArray *a;

    wait_connected(h0);
    wait_connected(h1);
    add_wait(b, 0, tag, "free", NULL);
    n = tcall(b, "extent-add", "{\"host-id\": 1, \"tag\": \"%s\","
              " \"policy\": \"enable-shared-access\", \"wait\": true}", tag);
    a = json_object_get_array_member(json_node_get_object(n), "extents");
    g_assert_cmpstr(json_object_get_string_member(
        json_array_get_object_element(a, 0), "state"), ==, "rejected");
    g_assert_cmpuint(tcount(b, 1, tag, "rejected"), ==, 1);
    g_assert_cmpuint(tcount(b, 0, tag, "accepted"), ==, 1);
    g_free(thost_ok(h0, "write-str %s 0 still mine", tag));
    thost_quit(h0);
    thost_quit(h1);
    tbroker_free(b);
}

static void test_release_and_destroy(void)
{
    THost *h0, *h1;
    g_autofree char *tag = NULL;
    TBroker *b = share_two(4 * MB, &h0, &h1, &tag);
    g_autofree char *msg = NULL;
    g_autofree char *r = NULL;

    g_free(thost_ok(h0, "write-str %s 100 survives", tag));
    msg = tcall_fail(b, DCD_ERR_INVAL, "extent-release",
                     "{\"host-id\": 0, \"tag\": \"%s\", \"removal\":"
                     " \"prescriptive\", \"extents\": [{\"offset\": 0,"
                     " \"len\": 2097152}]}", tag);
    g_assert_nonnull(strstr(msg, "partial release"));
    json_node_unref(tcall(b, "extent-release",
                          "{\"host-id\": 0, \"tag\": \"%s\"}", tag));
    g_free(thost_ok(h0, "wait-released %s 5000", tag));
    twait_count(b, 0, tag, "released", 1);
    r = thost_ok(h1, "read-str %s 100 8", tag);
    g_assert_cmpstr(r, ==, "survives");
    g_free(tcall_fail(b, DCD_ERR_BUSY, "pool-destroy", "{\"tag\": \"%s\"}",
                      tag));
    json_node_unref(tcall(b, "extent-release",
                          "{\"host-id\": 1, \"tag\": \"%s\"}", tag));
    g_free(thost_ok(h1, "wait-released %s 5000", tag));
    twait_count(b, 1, tag, "released", 1);
    json_node_unref(tcall(b, "pool-destroy", "{\"tag\": \"%s\"}", tag));
    thost_quit(h0);
    thost_quit(h1);
    tbroker_free(b);
}

/*
 * A broker stopped (SIGSTOP) for longer than --idle-timeout keeps its
 * hosts when it runs again: the time it was stopped is not the hosts'
 * silence, so it pings them rather than dropping them.
 */
static void test_broker_paused(void)
{
    TBroker *b = tbroker_start(NULL, "--idle-timeout=1000", NULL);
    THost *h = thost_start(b, 0, NULL);
    g_autoptr(JsonNode) hosts = NULL;
    JsonObject *h0;

    wait_connected(h);
    g_subprocess_send_signal(b->proc, SIGSTOP);
    g_usleep(3 * G_USEC_PER_SEC);
    g_subprocess_send_signal(b->proc, SIGCONT);
    /* Long enough for a wrongful drop, and for pings to be answered. */
    g_usleep(3 * G_USEC_PER_SEC);
    hosts = tcall(b, "host-list", "{}");
    g_assert_cmpuint(json_array_get_length(json_node_get_array(hosts)), ==,
                     1);
    h0 = json_array_get_object_element(json_node_get_array(hosts), 0);
    g_assert_true(json_object_get_boolean_member(h0, "connected"));
    thost_quit(h);
    tbroker_free(b);
}

static void test_duplicate_host_id(void)
{
    TBroker *b = tbroker_start(NULL, NULL);
    THost *h0 = thost_start(b, 4, NULL);
    THost *dup;
    g_autofree char *r = NULL;

    wait_connected(h0);
    dup = thost_start(b, 4, NULL);
    r = thost_cmd(dup, "wait-connected 2000");
    g_assert_true(g_str_has_prefix(r, "err "));
    g_assert_nonnull(strstr(r, "already connected"));
    thost_kill(dup);
    thost_quit(h0);
    tbroker_free(b);
}

static void test_sealed(void)
{
    TBroker *b = tbroker_start(NULL, NULL);
    THost *h = thost_start(b, 0, NULL);
    g_autofree char *tag = tpool(b, "{\"size\": 4194304}");
    g_autofree char *r = NULL;

    wait_connected(h);
    add_wait(b, 0, tag, "contiguous", NULL);
    g_free(thost_ok(h, "wait-extents %s 1 5000", tag));
    r = thost_cmd(h, "truncate %s 4096", tag);
    g_assert_true(g_str_has_prefix(r, "err io"));
    g_free(r);
    r = thost_cmd(h, "truncate %s 8388608", tag);
    g_assert_true(g_str_has_prefix(r, "err io"));
    thost_quit(h);
    tbroker_free(b);
}

static void test_restart_file_pool(void)
{
    TBroker *b = tbroker_start(NULL, NULL);
    g_autofree char *tag = tpool(b, "{\"size\": 4194304, \"backing\": \"file\"}");
    THost *h = thost_start(b, 0, NULL);
    g_autofree char *r = NULL;

    wait_connected(h);
    add_wait(b, 0, tag, "free", NULL);
    g_free(thost_ok(h, "wait-extents %s 1 5000", tag));
    g_free(thost_ok(h, "write-str %s 777 kept in the file", tag));
    thost_quit(h);
    tbroker_stop(b, true);

    tbroker_restart(b);
    h = thost_start(b, 2, NULL);
    wait_connected(h);
    add_wait(b, 2, tag, "enable-shared-access", NULL);
    g_free(thost_ok(h, "wait-extents %s 1 5000", tag));
    r = thost_ok(h, "read-str %s 777 16", tag);
    g_assert_cmpstr(r, ==, "kept in the file");
    thost_quit(h);
    tbroker_free(b);
}

static void test_restart_memfd_readopt(void)
{
    TBroker *b = tbroker_start(NULL, NULL);
    g_autofree char *tag = tpool(b, "{\"size\": 4194304}");
    THost *h0 = thost_start(b, 0, "--reconnect", NULL);
    THost *h1;
    g_autoptr(JsonNode) pools = NULL;
    g_autofree char *r = NULL;
    JsonObject *p;

    wait_connected(h0);
    add_wait(b, 0, tag, "free", NULL);
    g_free(thost_ok(h0, "wait-extents %s 1 5000", tag));
    g_free(thost_ok(h0, "write-str %s 1000 only in memory", tag));
    tbroker_stop(b, true);
    /* the host keeps its mapping while the broker is gone */
    r = thost_ok(h0, "read-str %s 1000 14", tag);
    g_assert_cmpstr(r, ==, "only in memory");
    g_free(r);

    tbroker_restart(b);
    wait_connected(h0);
    /* the reconnecting host hands the memfd back */
    for (int i = 0; i < 100; i++) {
        pools = tcall(b, "pool-list", "{\"tag\": \"%s\"}", tag);
        p = json_array_get_object_element(json_node_get_array(pools), 0);
        if (json_object_get_boolean_member(p, "memory")) {
            break;
        }
        g_clear_pointer(&pools, json_node_unref);
        g_usleep(20000);
    }
    g_assert_nonnull(pools);
    twait_count(b, 0, tag, "accepted", 1);
    h1 = thost_start(b, 1, NULL);
    wait_connected(h1);
    add_wait(b, 1, tag, "enable-shared-access", NULL);
    g_free(thost_ok(h1, "wait-extents %s 1 5000", tag));
    r = thost_ok(h1, "read-str %s 1000 14", tag);
    g_assert_cmpstr(r, ==, "only in memory");
    thost_quit(h0);
    thost_quit(h1);
    tbroker_free(b);
}

/* A peer that sends garbage gets an ERROR and a hang-up; others go on. */
static void test_malformed_peer(void)
{
    TBroker *b = tbroker_start(NULL, NULL);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    char junk[64], buf[256];
    ssize_t n, total = 0;

    memset(junk, 0xab, sizeof(junk));
    g_strlcpy(sa.sun_path, b->host_sock, sizeof(sa.sun_path));
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(write(fd, junk, sizeof(junk)), ==, sizeof(junk));
    while ((n = read(fd, buf + total, sizeof(buf) - total)) > 0) {
        total += n;
    }
    close(fd);
    g_assert_cmpint(total, >=, 24 + 8);
    g_assert_cmpint(buf[0], ==, 'D');           /* an ERROR message... */
    g_assert_cmpint(buf[6], ==, 2);             /* ...of type ERROR */
    json_node_unref(tcall(b, "status", "{}"));  /* broker still serves */
    tbroker_free(b);
}

/* A host asks for capacity itself (the per-VM QMP path). */
static void test_host_requests(void)
{
    TBroker *b = tbroker_start(NULL, NULL);
    THost *h0 = thost_start(b, 0, NULL);
    THost *h1 = thost_start(b, 1, NULL);
    g_autofree char *tag = tpool(b, "{\"size\": 4194304}");
    g_autofree char *r = NULL;
    const char *unknown = "3e1d0c7a-5b4f-4a29-8d6e-2f1b0a9c8d7e";

    wait_connected(h0);
    wait_connected(h1);
    r = thost_cmd(h0, "add %s free 0", unknown);
    g_assert_true(g_str_has_prefix(r, "err noent"));
    g_free(r);
    r = thost_cmd(h1, "add %s enable-shared-access 0", tag);
    g_assert_true(g_str_has_prefix(r, "err state"));
    g_free(r);
    g_free(thost_ok(h0, "add %s free 0", tag));
    g_free(thost_ok(h0, "wait-extents %s 1 5000", tag));
    r = thost_cmd(h0, "add %s free 0", tag);      /* already held */
    g_assert_true(g_str_has_prefix(r, "err exist"));
    g_free(r);
    r = thost_cmd(h0, "add %s free 5", tag);      /* no such region */
    g_assert_true(g_str_has_prefix(r, "err inval"));
    g_free(r);
    g_free(thost_ok(h1, "add %s enable-shared-access 0", tag));
    g_free(thost_ok(h1, "wait-extents %s 1 5000", tag));
    /* a pool only host 1 may ask for */
    {
        g_autofree char *own = tpool(b, "{\"size\": 2097152,"
                                        " \"requesters\": [1]}");

        r = thost_cmd(h0, "add %s free 0", own);
        g_assert_true(g_str_has_prefix(r, "err perm"));
        g_free(r);
        g_free(thost_ok(h1, "add %s free 0", own));
    }
    g_free(thost_ok(h0, "release %s", tag));
    g_free(thost_ok(h0, "wait-released %s 5000", tag));
    twait_count(b, 1, tag, "accepted", 1);
    r = thost_cmd(h0, "release %s", tag);         /* nothing left to release */
    g_assert_true(g_str_has_prefix(r, "err noent"));
    thost_quit(h0);
    thost_quit(h1);
    tbroker_free(b);
}

/* 256 hosts connect in one burst, all before any says HELLO. */
static void test_many_hosts(void)
{
    enum { N = 256 };
    TBroker *b = tbroker_start(NULL, NULL);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct dcd_region r = { .len = 1ull << 30, .block_size = 2 * MB,
                            .flags = DCD_REGION_SHARABLE };
    int fds[N];
    g_autoptr(JsonNode) st = NULL;

    g_strlcpy(sa.sun_path, b->host_sock, sizeof(sa.sun_path));
    /* Non-blocking, like a burst of VMs: a short backlog says EAGAIN. */
    for (int i = 0; i < N; i++) {
        fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        g_assert_cmpint(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)),
                        ==, 0);
    }
    for (int i = 0; i < N; i++) {
        fcntl(fds[i], F_SETFL, 0);
    }
    for (int i = 0; i < N; i++) {
        g_autoptr(DcdMsg) m = dcd_msg_new_hello(1, i, "burst", &r, 1, 0);
        g_autofree uint8_t *buf = NULL;
        uint8_t reply[DCD_HDR_SIZE];
        struct dcd_hdr h;
        size_t len;

        buf = dcd_msg_encode(m, &len);
        g_assert_cmpint(write(fds[i], buf, len), ==, (ssize_t)len);
        g_assert_cmpint(read(fds[i], reply, sizeof(reply)), ==, sizeof(reply));
        g_assert_true(dcd_hdr_decode(reply, &h, NULL));
        g_assert_cmpint(h.type, ==, DCD_MSG_HELLO);
        g_assert_true(h.flags & DCD_HDR_REPLY);
    }
    st = tcall(b, "status", "{}");
    g_assert_cmpint(json_object_get_int_member(json_node_get_object(st),
                                               "hosts-connected"), ==, N);
    for (int i = 0; i < N; i++) {
        close(fds[i]);
    }
    tbroker_free(b);
}

/*
 * A host that speaks only version 1 (which cannot confirm that it maps a
 * withdrawn or forcibly released range no more) is refused with ERROR
 * version, saying why, and the connection ends.
 */
static void test_version_1_refused(void)
{
    TBroker *b = tbroker_start(NULL, NULL);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct dcd_region r = { .len = 1ull << 30, .block_size = 2 * MB };
    g_autoptr(DcdMsg) m = dcd_msg_new_hello(1, 0, "old", &r, 1, 0);
    g_autoptr(DcdMsg) e = NULL;
    g_autofree uint8_t *buf = NULL;
    uint8_t hdr[DCD_HDR_SIZE], payload[DCD_MAX_TEXT + 8], end;
    const struct dcd_error *er;
    struct dcd_hdr h;
    size_t len;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    g_strlcpy(sa.sun_path, b->host_sock, sizeof(sa.sun_path));
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    ((struct dcd_hello *)m->payload)->version_min = 1;
    ((struct dcd_hello *)m->payload)->version_max = 1;
    buf = dcd_msg_encode(m, &len);
    g_assert_cmpint(write(fd, buf, len), ==, (ssize_t)len);
    g_assert_cmpint(read(fd, hdr, sizeof(hdr)), ==, sizeof(hdr));
    g_assert_true(dcd_hdr_decode(hdr, &h, NULL));
    g_assert_cmpint(h.type, ==, DCD_MSG_ERROR);
    g_assert_cmpuint(h.len, <=, sizeof(payload));
    g_assert_cmpint(read(fd, payload, h.len), ==, h.len);
    e = dcd_msg_decode(&h, payload, NULL, NULL);
    g_assert_nonnull(e);
    er = DCD_MSG_VIEW(e, struct dcd_error);
    g_assert_cmpuint(er->code, ==, DCD_ERR_VERSION);
    g_assert_nonnull(g_strstr_len(er->text, er->text_len,
                                  "host speaks 1..1, broker 2..3"));
    /* then the broker hangs up */
    g_assert_cmpint(read(fd, &end, 1), ==, 0);
    close(fd);
    tbroker_free(b);
}

/* Peers are checked with SO_PEERCRED; needs root to act as another uid. */
/*
 * A host that takes at most 2 extents in one group (HELLO limits,
 * version 3) is never offered a larger one: the add is refused whole,
 * and the host and the pool are left as they were
 */
static void test_max_group(void)
{
    TBroker *b = tbroker_start(NULL, NULL);
    THost *h = thost_start(b, 0, "--max-group", "2", NULL);
    g_autofree char *tag = tpool(b, "{\"size\": 6291456}");
    g_autofree char *why = NULL;
    const char *three = "[{\"offset\": 0, \"len\": 2097152},"
                        " {\"offset\": 4194304, \"len\": 2097152},"
                        " {\"offset\": 8388608, \"len\": 2097152}]";

    wait_connected(h);
    why = tcall_fail(b, DCD_ERR_NOSPC, "extent-add",
                     "{\"host-id\": 0, \"tag\": \"%s\", \"policy\":"
                     " \"prescriptive\", \"extents\": %s}", tag, three);
    g_assert_nonnull(strstr(why, "needs 3 extents, but host 0 takes at most "
                            "2 in one group"));
    g_assert_cmpuint(tcount(b, 0, tag, "pending"), ==, 0);
    g_assert_cmpuint(tcount(b, 0, tag, "accepted"), ==, 0);
    /* one extent, and two, are taken */
    add_wait(b, 0, tag, "contiguous", NULL);
    g_assert_cmpuint(tcount(b, 0, tag, "accepted"), ==, 1);
    thost_quit(h);

    h = thost_start(b, 1, "--max-group", "2", NULL);
    wait_connected(h);
    {
        g_autofree char *tag2 = tpool(b, "{\"size\": 4194304}");

        add_wait(b, 1, tag2, "prescriptive",
                 "[{\"offset\": 0, \"len\": 2097152},"
                 " {\"offset\": 4194304, \"len\": 2097152}]");
        g_assert_cmpuint(tcount(b, 1, tag2, "accepted"), ==, 2);
    }
    thost_quit(h);
    tbroker_free(b);
}

static void test_wrong_uid(void)
{
    TBroker *b;
    g_autoptr(GSubprocessLauncher) l = NULL;
    g_autoptr(GSubprocess) p = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *out = NULL, *errout = NULL;
    g_autofree char *sock = NULL;

    if (geteuid() != 0) {
        g_test_skip("needs root to connect as a second uid");
        return;
    }
    b = tbroker_start(NULL, NULL);
    /* let uid 65534 reach the socket file, so only the broker refuses */
    g_assert_cmpint(chmod(b->dir, 0755), ==, 0);
    g_assert_cmpint(chmod(b->ctl_sock, 0666), ==, 0);
    sock = g_strdup_printf("--socket=%s", b->ctl_sock);
    l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                  G_SUBPROCESS_FLAGS_STDERR_PIPE);
    p = g_subprocess_launcher_spawn(l, &err, "setpriv", "--reuid=65534",
                                    "--regid=65534", "--clear-groups",
                                    g_getenv("DCDCTL"), sock, "status", NULL);
    g_assert_no_error(err);
    g_subprocess_communicate_utf8(p, NULL, NULL, &out, &errout, &err);
    g_assert_no_error(err);
    if (!g_subprocess_get_if_exited(p)) {
        g_error("dcdctl as uid 65534 died of signal %d; stderr: %s",
                g_subprocess_get_term_sig(p), errout);
    }
    g_assert_cmpint(g_subprocess_get_exit_status(p), ==, 1);
    g_assert_nonnull(strstr(errout, "perm"));
    g_assert_nonnull(strstr(errout, "not allowed"));
    tbroker_free(b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/broker/share/two-hosts", test_two_hosts);
    g_test_add_func("/broker/share/fragmented-eight", test_fragmented_eight);
    g_test_add_func("/broker/share/rejection", test_rejection);
    g_test_add_func("/broker/share/release-and-destroy",
                    test_release_and_destroy);
    g_test_add_func("/broker/host/withdraw-confirmed",
                    test_withdraw_confirmed);
    g_test_add_func("/broker/host/revoking-on-disconnect",
                    test_revoking_on_disconnect);
    g_test_add_func("/broker/host/duplicate-host-id", test_duplicate_host_id);
    g_test_add_func("/broker/host/broker-paused", test_broker_paused);
    g_test_add_func("/broker/host/256-at-once", test_many_hosts);
    g_test_add_func("/broker/host/requests", test_host_requests);
    g_test_add_func("/broker/pool/sealed", test_sealed);
    g_test_add_func("/broker/restart/file-pool", test_restart_file_pool);
    g_test_add_func("/broker/restart/memfd-readopt",
                    test_restart_memfd_readopt);
    g_test_add_func("/broker/security/malformed-peer", test_malformed_peer);
    g_test_add_func("/broker/security/wrong-uid", test_wrong_uid);
    g_test_add_func("/broker/host/version-1-refused", test_version_1_refused);
    g_test_add_func("/broker/host/max-group", test_max_group);
    return g_test_run();
}
