/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * End to end, sharing: one dcd-broker, two to four patched QEMUs whose
 * cxl-type3 devices are its hosts.  Each VM's host side (dcd-host over
 * qtest) accepts the broker's offers from the DC event log, commits
 * decoders and reads and writes the tag's bytes through its own CXL
 * window; every VM sees the same memory.
 */
#include <string.h>

#include "harness.h"

#define POOL_SIZE (64 * MiB)

/* len bytes at off written through from, read back through to. */
static void check_copy(EVm *from, const DcdAllocation *af, EVm *to,
                       const DcdAllocation *at, uint64_t off, size_t len,
                       unsigned seed)
{
    g_autofree uint8_t *out = g_malloc(len), *in = g_malloc0(len);

    tpattern(out, len, seed);
    evm_write(from, af, off, out, len);
    evm_read(to, at, off, in, len);
    g_assert_cmpmem(in, len, out, len);
}

/* A 64 MiB tag, free placement on host 0, shared with host 1. */
static void test_round_trip(void)
{
    TBroker *b = ebroker_start();
    EVm *v0 = evm_start(b, 0), *v1 = evm_start(b, 1);
    g_autofree char *tag = epool(b, POOL_SIZE);
    g_autoptr(GArray) e0 = egive(b, v0, tag, "free");
    g_autoptr(GArray) e1 = egive(b, v1, tag, "enable-shared-access");
    g_autoptr(DcdAllocation) a0 = evm_alloc(v0, tag);
    g_autoptr(DcdAllocation) a1 = evm_alloc(v1, tag);

    g_assert_cmpuint(a0->size, ==, POOL_SIZE);
    g_assert_cmpuint(a1->size, ==, POOL_SIZE);
    g_assert_cmpuint(e0->len, ==, e1->len);

    /* VM 0 writes, VM 1 reads; and the other way round */
    check_copy(v0, a0, v1, a1, 0, 2 * MiB, 1);
    check_copy(v1, a1, v0, a0, POOL_SIZE - 2 * MiB, 2 * MiB, 2);
    check_copy(v0, a0, v1, a1, 31 * MiB + 4093, 8191, 3);

    evm_quit(v0);
    evm_quit(v1);
    tbroker_free(b);
}

/* broker extent-list of host/tag (states other than released etc.). */
static JsonArray *broker_extents(TBroker *b, unsigned host, const char *tag,
                                 JsonNode **keep)
{
    *keep = tcall(b, "extent-list", "{\"host-id\": %u, \"tag\": \"%s\"}",
                 host, tag);
    return json_node_get_array(*keep);
}

static JsonObject *by_member(JsonArray *a, const char *member, gint64 val)
{
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);

        if (json_object_get_int_member(o, member) == val) {
            return o;
        }
    }
    return NULL;
}

/*
 * What the VM's device says (4801h and the QMP query) matches what the
 * broker says about the host's extents of tag: same DPAs, same
 * shared_seq, pooled and directly mapped.
 */
static void check_views(TBroker *b, EVm *v, const char *tag)
{
    g_autoptr(JsonNode) keep = NULL, q = tquery(v->q);
    JsonArray *be = broker_extents(b, v->host_id, tag, &keep);
    g_autoptr(GArray) list = textents(v->q, NULL);
    g_autofree char *backing = g_strdup_printf("broker:%s", tag);
    JsonArray *qa = json_node_get_array(q);
    uint8_t t[16];
    unsigned mine = 0;

    g_assert_true(dcd_tag_parse(tag, (DcdTag *)t));
    for (guint i = 0; i < list->len; i++) {
        DcdDevExtent *e = &g_array_index(list, DcdDevExtent, i);
        JsonObject *bo, *qo;

        if (memcmp(e->tag, t, 16)) {
            continue;
        }
        mine++;
        bo = by_member(be, "dpa", e->dpa);
        g_assert_nonnull(bo);
        g_assert_cmpstr(json_object_get_string_member(bo, "state"), ==,
                        "accepted");
        g_assert_cmpuint(json_object_get_int_member(bo, "len"), ==, e->len);
        g_assert_cmpuint(json_object_get_int_member(bo, "shared-seq"), ==,
                         e->shared_seq);
        qo = by_member(qa, "dpa", e->dpa);
        g_assert_nonnull(qo);
        g_assert_cmpstr(json_object_get_string_member(qo, "state"), ==,
                        "accepted");
        g_assert_cmpstr(json_object_get_string_member(qo, "tag"), ==, tag);
        g_assert_cmpuint(json_object_get_int_member(qo, "shared-seq"), ==,
                         e->shared_seq);
        g_assert_cmpstr(json_object_get_string_member(qo, "backing"), ==,
                        backing);
        if (v->mapped) {
            g_assert_cmpstr(json_object_get_string_member(qo, "mapping"), ==,
                            "direct");
        }
    }
    g_assert_cmpuint(mine, ==, json_array_get_length(be));
}

/*
 * The tag's extents sit at different DPAs in the two VMs (host 1's
 * region starts with another pool), yet each pool range has the same
 * shared_seq everywhere and the logical bytes are the same.
 */
static void test_fragmented(void)
{
    TBroker *b = ebroker_start();
    EVm *v0 = evm_start(b, 0), *v1 = evm_start(b, 1);
    g_autofree char *other = epool(b, 16 * MiB);
    g_autofree char *tag = epool(b, POOL_SIZE);
    g_autoptr(GArray) eo = egive(b, v1, other, "contiguous");
    g_autoptr(GArray) e0 = NULL, e1 = NULL;
    g_autoptr(DcdAllocation) a0 = NULL, a1 = NULL;
    g_autoptr(JsonNode) k0 = NULL, k1 = NULL;
    JsonArray *b0, *b1;
    unsigned moved = 0;
    const size_t chunk = 256 * 1024;
    g_autofree uint8_t *out = g_malloc(chunk), *in = g_malloc(chunk);

    {
        g_autoptr(JsonNode) n = tcall(b, "extent-add",
            "{\"host-id\": 0, \"tag\": \"%s\", \"policy\": \"prescriptive\", "
            "\"extents\": [{\"offset\": 0, \"len\": %llu}, "
            "{\"offset\": %llu, \"len\": %llu}, "
            "{\"offset\": %llu, \"len\": %llu}]}", tag, 16 * MiB,
            64 * MiB, 32 * MiB, 256 * MiB, 16 * MiB);
    }
    e0 = evm_accept(v0);
    g_assert_cmpuint(e0->len, ==, 3);
    twait_count(b, 0, tag, "accepted", 3);
    e1 = egive(b, v1, tag, "enable-shared-access");
    g_assert_cmpuint(e1->len, ==, 3);

    /* same pool range, same shared_seq; DPAs of each host's own */
    b0 = broker_extents(b, 0, tag, &k0);
    b1 = broker_extents(b, 1, tag, &k1);
    g_assert_cmpuint(json_array_get_length(b0), ==, 3);
    g_assert_cmpuint(json_array_get_length(b1), ==, 3);
    for (guint i = 0; i < 3; i++) {
        JsonObject *x = json_array_get_object_element(b0, i);
        JsonObject *y = by_member(b1, "pool-offset",
                                  json_object_get_int_member(x,
                                                             "pool-offset"));

        g_assert_nonnull(y);
        g_assert_cmpint(json_object_get_int_member(x, "shared-seq"), ==,
                        json_object_get_int_member(y, "shared-seq"));
        g_assert_cmpint(json_object_get_int_member(x, "len"), ==,
                        json_object_get_int_member(y, "len"));
        moved += json_object_get_int_member(x, "dpa") !=
                 json_object_get_int_member(y, "dpa");
    }
    g_assert_cmpuint(moved, >, 0);
    /* host 1's first 16 MiB hold the other pool */
    g_assert_null(by_member(b1, "dpa", 0));

    a0 = evm_alloc(v0, tag);
    a1 = evm_alloc(v1, tag);
    check_views(b, v0, tag);
    check_views(b, v1, tag);

    /* a chunk every 4 MiB, and chunks across each extent boundary */
    for (uint64_t off = 0; off < POOL_SIZE; off += 4 * MiB) {
        tpattern(out, chunk, off / MiB + 100);
        evm_write(v0, a0, off + MiB, out, chunk);
    }
    check_copy(v0, a0, v1, a1, 16 * MiB - chunk / 2, chunk, 5);
    check_copy(v1, a1, v0, a0, 48 * MiB - chunk / 2, chunk, 6);
    for (uint64_t off = 0; off < POOL_SIZE; off += 4 * MiB) {
        tpattern(out, chunk, off / MiB + 100);
        evm_read(v1, a1, off + MiB, in, chunk);
        g_assert_cmpmem(in, chunk, out, chunk);
    }

    evm_quit(v0);
    evm_quit(v1);
    tbroker_free(b);
}

/* Host 1 turns the offer down; host 0 keeps its memory. */
static void test_reject(void)
{
    TBroker *b = ebroker_start();
    EVm *v0 = evm_start(b, 0), *v1 = evm_start(b, 1);
    g_autofree char *tag = epool(b, POOL_SIZE);
    g_autoptr(GArray) e0 = egive(b, v0, tag, "contiguous");
    g_autoptr(GArray) l1 = NULL, e1 = NULL;
    g_autoptr(DcdAllocation) a0 = evm_alloc(v0, tag), a1 = NULL;
    g_autoptr(JsonObject) pool = NULL;
    const size_t len = MiB;
    g_autofree uint8_t *out = g_malloc(len), *in = g_malloc(len);

    tpattern(out, len, 9);
    evm_write(v0, a0, 0, out, len);

    eadd(b, 1, tag, "enable-shared-access");
    evm_reject(v1, 1);
    twait_count(b, 1, tag, "rejected", 1);
    g_assert_cmpuint(tcount(b, 1, tag, "accepted"), ==, 0);
    g_assert_cmpuint(tcount(b, 1, tag, "pending"), ==, 0);
    l1 = textents(v1->q, NULL);
    g_assert_cmpuint(l1->len, ==, 0);
    pool = epool_info(b, tag);
    g_assert_cmpuint(json_array_get_length(
        json_object_get_array_member(pool, "hosts")), ==, 1);

    /* host 0 is unaffected */
    g_assert_cmpuint(tcount(b, 0, tag, "accepted"), ==, 1);
    check_views(b, v0, tag);
    evm_read(v0, a0, 0, in, len);
    g_assert_cmpmem(in, len, out, len);

    /* and host 1 can still take it later */
    e1 = egive(b, v1, tag, "enable-shared-access");
    a1 = evm_alloc(v1, tag);
    evm_read(v1, a1, 0, in, len);
    g_assert_cmpmem(in, len, out, len);

    evm_quit(v0);
    evm_quit(v1);
    tbroker_free(b);
}

/*
 * Releasing the tag from host 0 (broker RELEASE, DC release event,
 * 4803h) leaves host 1's mapping and data; once both released it, the
 * pool can be destroyed.
 */
static void test_release(void)
{
    TBroker *b = ebroker_start();
    EVm *v0 = evm_start(b, 0), *v1 = evm_start(b, 1);
    g_autofree char *tag = epool(b, POOL_SIZE);
    g_autoptr(GArray) e0 = egive(b, v0, tag, "free");
    g_autoptr(GArray) e1 = egive(b, v1, tag, "enable-shared-access");
    g_autoptr(DcdAllocation) a0 = evm_alloc(v0, tag);
    g_autoptr(DcdAllocation) a1 = evm_alloc(v1, tag);
    g_autoptr(GArray) l0 = NULL;
    g_autoptr(JsonNode) q0 = NULL;
    const size_t len = 2 * MiB;
    g_autofree uint8_t *out = g_malloc(len), *in = g_malloc(len);
    g_autofree char *why = NULL;

    tpattern(out, len, 11);
    evm_write(v0, a0, 8 * MiB, out, len);

    {
        g_autoptr(JsonNode) n = tcall(b, "extent-release",
                                     "{\"host-id\": 0, \"tag\": \"%s\"}",
                                     tag);
    }
    evm_release(v0, e0->len);
    twait_count(b, 0, tag, "released", e0->len);
    g_assert_cmpuint(tcount(b, 0, tag, "accepted"), ==, 0);
    l0 = textents(v0->q, NULL);
    g_assert_cmpuint(l0->len, ==, 0);
    q0 = tquery(v0->q);
    g_assert_cmpuint(json_array_get_length(json_node_get_array(q0)), ==, 0);

    /* host 1 keeps its mapping and the data */
    g_assert_cmpuint(tcount(b, 1, tag, "accepted"), ==, e1->len);
    check_views(b, v1, tag);
    evm_read(v1, a1, 8 * MiB, in, len);
    g_assert_cmpmem(in, len, out, len);

    why = tcall_fail(b, DCD_ERR_BUSY, "pool-destroy", "{\"tag\": \"%s\"}", tag);
    g_test_message("pool-destroy while host 1 holds it: %s", why);

    {
        g_autoptr(JsonNode) n = tcall(b, "extent-release",
                                     "{\"host-id\": 1, \"tag\": \"%s\"}",
                                     tag);
    }
    evm_release(v1, e1->len);
    twait_count(b, 1, tag, "released", e1->len);
    {
        g_autoptr(JsonNode) n = tcall(b, "pool-destroy", "{\"tag\": \"%s\"}",
                                     tag);
        g_autoptr(JsonNode) pl = tcall(b, "pool-list", "%s", "");

        g_assert_cmpuint(json_array_get_length(json_node_get_array(pl)), ==,
                         0);
    }

    evm_quit(v0);
    evm_quit(v1);
    tbroker_free(b);
}

/* Four VMs share one tag: each writes a slice, reads all the others. */
static void test_four(void)
{
    enum { N = 4 };
    const uint64_t slice = POOL_SIZE / N;
    const size_t len = 512 * 1024;
    TBroker *b = ebroker_start();
    g_autofree char *tag = epool(b, POOL_SIZE);
    EVm *v[N];
    DcdAllocation *a[N];
    g_autofree uint8_t *out = g_malloc(len), *in = g_malloc(len);

    for (unsigned i = 0; i < N; i++) {
        g_autoptr(GArray) e = NULL;

        v[i] = evm_start(b, i);
        e = egive(b, v[i], tag, i ? "enable-shared-access" : "free");
        a[i] = evm_alloc(v[i], tag);
    }
    for (unsigned i = 0; i < N; i++) {
        tpattern(out, len, 40 + i);
        evm_write(v[i], a[i], i * slice + 3 * MiB, out, len);
    }
    for (unsigned i = 0; i < N; i++) {
        for (unsigned j = 0; j < N; j++) {
            tpattern(out, len, 40 + j);
            evm_read(v[i], a[i], j * slice + 3 * MiB, in, len);
            g_assert_cmpmem(in, len, out, len);
        }
    }
    {
        g_autoptr(JsonObject) pool = epool_info(b, tag);

        g_assert_cmpuint(json_array_get_length(
            json_object_get_array_member(pool, "hosts")), ==, N);
    }
    for (unsigned i = 0; i < N; i++) {
        dcd_allocation_free(a[i]);
        evm_quit(v[i]);
    }
    tbroker_free(b);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    e2e_require();
    g_test_add_func("/e2e/share/round-trip", test_round_trip);
    g_test_add_func("/e2e/share/fragmented", test_fragmented);
    g_test_add_func("/e2e/share/reject", test_reject);
    g_test_add_func("/e2e/share/release", test_release);
    g_test_add_func("/e2e/share/four-vms", test_four);
    return g_test_run();
}
