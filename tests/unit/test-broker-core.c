/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The broker core without sockets: every selection policy, shared_seq
 * assignment, and the extent state machine, with fake host links that
 * record what the broker would send.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/broker.h"

#define MB (1ull << 20)

typedef struct FakeLink {
    unsigned pools;
    unsigned offers;
    unsigned releases;
    unsigned withdrawals;
    uint64_t last_withdrawn;
    bool last_release_forced;
    GArray *last_offer;       /* struct dcd_extent */
    bool fail;
} FakeLink;

static bool fake_pool(gpointer link, DcdPool *p)
{
    FakeLink *f = link;

    f->pools++;
    return !f->fail;
}

static bool fake_offer(gpointer link, uint64_t group, GPtrArray *ext)
{
    FakeLink *f = link;

    f->offers++;
    g_array_set_size(f->last_offer, 0);
    for (guint i = 0; i < ext->len; i++) {
        struct dcd_extent w;

        dcd_extent_to_wire(ext->pdata[i], &w);
        g_array_append_val(f->last_offer, w);
    }
    return !f->fail;
}

static bool fake_release(gpointer link, uint64_t id, bool forced,
                         GPtrArray *ext)
{
    FakeLink *f = link;

    f->releases++;
    f->last_release_forced = forced;
    return true;
}

static bool fake_withdraw(gpointer link, uint64_t group)
{
    FakeLink *f = link;

    f->withdrawals++;
    f->last_withdrawn = group;
    return true;
}

static const DcdHostLinkOps fake_ops = {
    .send_pool = fake_pool,
    .send_offer = fake_offer,
    .send_release = fake_release,
    .send_withdraw = fake_withdraw,
};

typedef struct Fixture {
    DcdBroker *b;
    FakeLink link[4];
    DcdHost *host[4];
} Fixture;

static DcdHost *connect_host(Fixture *f, uint16_t id, bool sharable,
                             bool reconnect)
{
    struct dcd_region r = {
        .base = 0, .len = 64 * MB, .block_size = 2 * MB,
        .flags = sharable ? DCD_REGION_SHARABLE : 0,
    };
    DcdHelloArgs a = {
        .host_id = id, .name = "test", .regions = &r, .nregions = 1,
        .reconnect = reconnect,
    };
    g_autoptr(GError) err = NULL;

    f->host[id] = dcd_broker_host_attach(f->b, &a, &fake_ops, &f->link[id],
                                         &err);
    g_assert_no_error(err);
    return f->host[id];
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
    DcdBrokerConfig cfg = { 0 };

    f->b = dcd_broker_new(&cfg, NULL);
    for (int i = 0; i < 4; i++) {
        f->link[i].last_offer = g_array_new(FALSE, FALSE,
                                            sizeof(struct dcd_extent));
        connect_host(f, i, i != 3, false); /* host 3: region not sharable */
    }
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    dcd_broker_free(f->b);
    for (int i = 0; i < 4; i++) {
        g_array_unref(f->link[i].last_offer);
    }
}

static DcdPool *new_pool(Fixture *f, uint64_t size)
{
    g_autoptr(GError) err = NULL;
    DcdPool *p = dcd_broker_pool_create(f->b, NULL, size, DCD_BACKING_MEMFD, NULL,
                                        &err);

    g_assert_no_error(err);
    return p;
}

static DcdGroup *add(Fixture *f, uint16_t host, DcdPool *p, DcdPolicy pol,
                     const DcdDpaRange *r, unsigned n, DcdErr want)
{
    g_autoptr(GError) err = NULL;
    DcdAddArgs a = {
        .host_id = host, .tag = p->tag, .policy = pol, .ranges = r,
        .nranges = n,
    };
    DcdGroup *g = dcd_broker_extent_add(f->b, &a, &err);

    if (want == DCD_ERR_OK) {
        g_assert_no_error(err);
        g_assert_nonnull(g);
    } else {
        g_assert_error(err, DCD_ERROR, (gint)want);
        g_assert_null(g);
    }
    return g;
}

/* Accept every extent of the host's only open group. */
static void accept_all(Fixture *f, uint16_t host, DcdGroup *g)
{
    g_autoptr(GArray) r = g_array_new(FALSE, FALSE, sizeof(struct dcd_range));
    g_autoptr(GError) err = NULL;
    uint64_t id = g->id;

    for (guint i = 0; i < g->extents->len; i++) {
        DcdExtent *e = g->extents->pdata[i];
        struct dcd_range x = { .dpa = e->dpa, .len = e->len };

        g_array_append_val(r, x);
    }
    g_assert_true(dcd_broker_host_accept(f->b, f->host[host], id,
                                         (struct dcd_range *)r->data, r->len,
                                         &err));
    g_assert_no_error(err);
}

static DcdExtentState state_at(Fixture *f, uint16_t host, uint64_t dpa)
{
    DcdExtent *e = dcd_host_extent(f->host[host], dpa);

    return e ? e->state : DCD_EXTENT_STATE__MAX;
}

static void test_prescriptive(Fixture *f, gconstpointer data)
{
    DcdPool *p = new_pool(f, 8 * MB);
    DcdDpaRange r[] = { { 0, 4 * MB }, { 10 * MB, 4 * MB } };
    DcdGroup *g = add(f, 0, p, DCD_POLICY_PRESCRIPTIVE, r, 2, DCD_ERR_OK);
    struct dcd_extent *w = (struct dcd_extent *)f->link[0].last_offer->data;

    g_assert_cmpuint(g->extents->len, ==, 2);
    g_assert_cmpuint(f->link[0].pools, ==, 1);
    g_assert_cmpuint(f->link[0].offers, ==, 1);
    g_assert_cmpuint(f->link[0].last_offer->len, ==, 2);
    g_assert_cmpuint(w[0].dpa, ==, 0);
    g_assert_cmpuint(w[0].shared_seq, ==, 0);
    g_assert_cmpuint(w[0].pool_offset, ==, 0);
    g_assert_cmpuint(w[1].dpa, ==, 10 * MB);
    g_assert_cmpuint(w[1].shared_seq, ==, 1);
    g_assert_cmpuint(w[1].pool_offset, ==, 4 * MB);
    g_assert_cmpmem(w[1].tag, 16, p->tag.b, 16);
    g_assert_cmpuint(p->holders, ==, 2);
    g_assert_cmpuint(dcd_pool_nsegments(p), ==, 2);
}

static void test_prescriptive_errors(Fixture *f, gconstpointer data)
{
    DcdPool *p = new_pool(f, 4 * MB);
    DcdPool *q = new_pool(f, 4 * MB);
    DcdDpaRange misaligned[] = { { 1 * MB, 4 * MB } };
    DcdDpaRange outside[] = { { 62 * MB, 4 * MB } };
    DcdDpaRange self_overlap[] = { { 0, 2 * MB }, { 0, 2 * MB } };
    DcdDpaRange short_sum[] = { { 0, 2 * MB } };
    DcdDpaRange ok[] = { { 8 * MB, 4 * MB } };
    DcdDpaRange overlap_pending[] = { { 10 * MB, 4 * MB } };
    DcdDpaRange wrap[] = { { UINT64_MAX - MB, 4 * MB } };

    add(f, 0, p, DCD_POLICY_PRESCRIPTIVE, misaligned, 1, DCD_ERR_INVAL);
    add(f, 0, p, DCD_POLICY_PRESCRIPTIVE, outside, 1, DCD_ERR_INVAL);
    add(f, 0, p, DCD_POLICY_PRESCRIPTIVE, wrap, 1, DCD_ERR_INVAL);
    add(f, 0, p, DCD_POLICY_PRESCRIPTIVE, self_overlap, 2, DCD_ERR_EXIST);
    add(f, 0, p, DCD_POLICY_PRESCRIPTIVE, short_sum, 1, DCD_ERR_INVAL);
    add(f, 0, p, DCD_POLICY_PRESCRIPTIVE, NULL, 0, DCD_ERR_INVAL);
    add(f, 0, p, DCD_POLICY_CONTIGUOUS, ok, 1, DCD_ERR_INVAL);
    /* nothing refused above left a trace */
    g_assert_cmpuint(p->holders, ==, 0);
    g_assert_cmpuint(f->host[0]->regions[0].nfree, ==, 32);
    g_assert_cmpuint(f->link[0].offers, ==, 0);

    add(f, 0, p, DCD_POLICY_PRESCRIPTIVE, ok, 1, DCD_ERR_OK);
    /* a pending offer's DPA is taken */
    add(f, 0, q, DCD_POLICY_PRESCRIPTIVE, overlap_pending, 1, DCD_ERR_EXIST);
    /* the same tag twice on one host */
    add(f, 0, p, DCD_POLICY_ENABLE_SHARED, NULL, 0, DCD_ERR_EXIST);
}

static void test_unknowns(Fixture *f, gconstpointer data)
{
    DcdPool *p = new_pool(f, 4 * MB);
    g_autoptr(GError) err = NULL;
    DcdAddArgs a = { .host_id = 9, .tag = p->tag,
                     .policy = DCD_POLICY_FREE };

    g_assert_null(dcd_broker_extent_add(f->b, &a, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_NOENT);
    g_clear_error(&err);
    a.host_id = 0;
    a.region = 1;
    g_assert_null(dcd_broker_extent_add(f->b, &a, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_INVAL);
    g_clear_error(&err);
    a.region = 0;
    dcd_tag_generate(&a.tag);
    g_assert_null(dcd_broker_extent_add(f->b, &a, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_NOENT);
    g_clear_error(&err);
    a.tag = p->tag;
    dcd_broker_host_detach(f->b, f->host[0]);
    g_assert_null(dcd_broker_extent_add(f->b, &a, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_UNAVAIL);
    g_clear_error(&err);
    /* a pool whose size does not fit the block size */
    p = new_pool(f, 3 * MB);
    add(f, 1, p, DCD_POLICY_FREE, NULL, 0, DCD_ERR_INVAL);
    /* same tag twice */
    g_assert_null(dcd_broker_pool_create(f->b, &p->tag, MB,
                                         DCD_BACKING_MEMFD, NULL, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_EXIST);
}

static void test_free_fragments(Fixture *f, gconstpointer data)
{
    DcdPool *a = new_pool(f, 4 * MB);
    DcdPool *b = new_pool(f, 8 * MB);
    DcdPool *c = new_pool(f, 8 * MB);
    DcdDpaRange holes[] = { { 2 * MB, 2 * MB }, { 6 * MB, 2 * MB } };
    DcdGroup *g;

    add(f, 0, a, DCD_POLICY_PRESCRIPTIVE, holes, 2, DCD_ERR_OK);
    g = add(f, 0, b, DCD_POLICY_FREE, NULL, 0, DCD_ERR_OK);
    /* free blocks first-fit: [0,2M) [4M,6M) [8M,12M) */
    g_assert_cmpuint(g->extents->len, ==, 3);
    g_assert_cmpuint(((DcdExtent *)g->extents->pdata[0])->dpa, ==, 0);
    g_assert_cmpuint(((DcdExtent *)g->extents->pdata[1])->dpa, ==, 4 * MB);
    g_assert_cmpuint(((DcdExtent *)g->extents->pdata[2])->dpa, ==, 8 * MB);
    g_assert_cmpuint(((DcdExtent *)g->extents->pdata[2])->len, ==, 4 * MB);
    g_assert_cmpuint(dcd_pool_segment(b, 2)->offset, ==, 4 * MB);
    /* contiguous: one extent, first run that fits */
    g = add(f, 0, c, DCD_POLICY_CONTIGUOUS, NULL, 0, DCD_ERR_OK);
    g_assert_cmpuint(g->extents->len, ==, 1);
    g_assert_cmpuint(((DcdExtent *)g->extents->pdata[0])->dpa, ==, 12 * MB);
    /* nothing left that fits 64M */
    add(f, 1, new_pool(f, 64 * MB), DCD_POLICY_FREE, NULL, 0, DCD_ERR_OK);
    add(f, 1, new_pool(f, 2 * MB), DCD_POLICY_FREE, NULL, 0, DCD_ERR_NOSPC);
}

static void test_shared(Fixture *f, gconstpointer data)
{
    DcdPool *p = new_pool(f, 8 * MB);
    DcdPool *filler = new_pool(f, 6 * MB);
    DcdDpaRange r[] = { { 0, 2 * MB }, { 20 * MB, 6 * MB } };
    DcdDpaRange fill[] = { { 0, 6 * MB } };
    DcdDpaRange mine[] = { { 40 * MB, 2 * MB }, { 50 * MB, 6 * MB } };
    DcdDpaRange wrong_len[] = { { 40 * MB, 6 * MB }, { 50 * MB, 2 * MB } };
    DcdGroup *g0, *g1, *g2;

    add(f, 1, p, DCD_POLICY_ENABLE_SHARED, NULL, 0, DCD_ERR_STATE);
    g0 = add(f, 0, p, DCD_POLICY_PRESCRIPTIVE, r, 2, DCD_ERR_OK);
    accept_all(f, 0, g0);
    /* host 1 has its first 6M taken, so its DPAs differ */
    add(f, 1, filler, DCD_POLICY_PRESCRIPTIVE, fill, 1, DCD_ERR_OK);
    add(f, 1, p, DCD_POLICY_FREE, NULL, 0, DCD_ERR_EXIST);
    add(f, 3, p, DCD_POLICY_ENABLE_SHARED, NULL, 0, DCD_ERR_INVAL);
    g1 = add(f, 1, p, DCD_POLICY_ENABLE_SHARED, NULL, 0, DCD_ERR_OK);
    g_assert_cmpuint(g1->extents->len, ==, 2);
    for (unsigned i = 0; i < 2; i++) {
        DcdExtent *e = g1->extents->pdata[i];
        struct dcd_extent w;

        dcd_extent_to_wire(e, &w);
        g_assert_cmpuint(e->seq, ==, i);
        g_assert_cmpuint(e->len, ==, r[i].len);
        g_assert_cmpuint(w.pool_offset, ==, i ? 2 * MB : 0);
    }
    g_assert_cmpuint(((DcdExtent *)g1->extents->pdata[0])->dpa, ==, 6 * MB);
    g_assert_cmpuint(((DcdExtent *)g1->extents->pdata[1])->dpa, ==, 8 * MB);
    /* given DPAs must match the segments' lengths in order */
    add(f, 2, p, DCD_POLICY_ENABLE_SHARED, wrong_len, 2, DCD_ERR_INVAL);
    add(f, 2, p, DCD_POLICY_ENABLE_SHARED, mine, 1, DCD_ERR_INVAL);
    g2 = add(f, 2, p, DCD_POLICY_ENABLE_SHARED, mine, 2, DCD_ERR_OK);
    g_assert_cmpuint(((DcdExtent *)g2->extents->pdata[1])->dpa, ==, 50 * MB);
    g_assert_cmpuint(p->holders, ==, 6);
}

static void test_accept_reject(Fixture *f, gconstpointer data)
{
    DcdPool *p = new_pool(f, 8 * MB);
    DcdDpaRange r[] = { { 0, 4 * MB }, { 8 * MB, 4 * MB } };
    DcdGroup *g = add(f, 0, p, DCD_POLICY_PRESCRIPTIVE, r, 2, DCD_ERR_OK);
    struct dcd_range first[] = { { 0, 4 * MB } };
    g_autoptr(GError) err = NULL;
    uint64_t id = g->id;

    g_assert_false(dcd_broker_host_accept(f->b, f->host[0], id + 7, first, 1,
                                          &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_NOENT);
    g_clear_error(&err);
    g_assert_cmpint(state_at(f, 0, 0), ==, DCD_EXTENT_PENDING);

    g_assert_true(dcd_broker_host_accept(f->b, f->host[0], id, first, 1,
                                         &err));
    g_assert_cmpint(state_at(f, 0, 0), ==, DCD_EXTENT_ACCEPTED);
    g_assert_cmpint(state_at(f, 0, 8 * MB), ==, DCD_EXTENT_STATE__MAX);
    g_assert_cmpint(((DcdExtent *)f->host[0]->history.tail->data)->state, ==,
                    DCD_EXTENT_REJECTED);
    g_assert_cmpuint(p->holders, ==, 1);
    g_assert_true(dcd_space_is_free(&f->host[0]->regions[0], 8 * MB, 4 * MB));
    /* the group is closed */
    g_assert_false(dcd_broker_host_accept(f->b, f->host[0], id, NULL, 0,
                                          &err));
}

/* A malformed answer rejects the group, as the host then assumes. */
static void test_bad_accept(Fixture *f, gconstpointer data)
{
    DcdPool *p = new_pool(f, 8 * MB);
    DcdDpaRange r[] = { { 0, 4 * MB }, { 8 * MB, 4 * MB } };
    struct dcd_range bad[] = { { 0, 2 * MB } };
    struct dcd_range twice[] = { { 0, 4 * MB }, { 0, 4 * MB } };
    g_autoptr(GError) err = NULL;
    DcdGroup *g;

    g = add(f, 0, p, DCD_POLICY_PRESCRIPTIVE, r, 2, DCD_ERR_OK);
    g_assert_false(dcd_broker_host_accept(f->b, f->host[0], g->id, bad, 1,
                                          &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_INVAL);
    g_clear_error(&err);
    g_assert_cmpuint(p->holders, ==, 0);
    g_assert_cmpuint(f->host[0]->regions[0].nfree, ==, 32);

    g = add(f, 0, p, DCD_POLICY_PRESCRIPTIVE, r, 2, DCD_ERR_OK);
    g_assert_false(dcd_broker_host_accept(f->b, f->host[0], g->id, twice, 2,
                                          &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_INVAL);
    g_assert_cmpint(state_at(f, 0, 0), ==, DCD_EXTENT_STATE__MAX);
    g_assert_cmpuint(p->holders, ==, 0);
}

/* One ACCEPT carries at most DCD_MAX_RANGES, so no tag has more extents. */
static void test_extent_limit(Fixture *f, gconstpointer data)
{
    struct dcd_region big = { .len = 8192 * 2 * MB, .block_size = 2 * MB,
                              .flags = DCD_REGION_SHARABLE };
    DcdHelloArgs a = { .host_id = 9, .name = "big", .regions = &big,
                       .nregions = 1 };
    g_autofree DcdDpaRange *r = g_new(DcdDpaRange, DCD_MAX_RANGES + 1);
    DcdPool *p = new_pool(f, (DCD_MAX_RANGES + 1) * 2 * MB);

    f->host[0] = dcd_broker_host_attach(f->b, &a, &fake_ops, &f->link[0],
                                        NULL);
    for (unsigned i = 0; i <= DCD_MAX_RANGES; i++) {
        r[i].dpa = i * 4 * MB;  /* every other block: no two adjacent */
        r[i].len = 2 * MB;
    }
    add(f, 9, p, DCD_POLICY_PRESCRIPTIVE, r, DCD_MAX_RANGES + 1,
        DCD_ERR_INVAL);
    g_assert_cmpuint(f->host[0]->regions[0].nfree, ==, 8192);
}

static GPtrArray *release(Fixture *f, uint16_t host, DcdPool *p,
                          DcdRemoval how, const DcdDpaRange *r, unsigned n,
                          bool forced, DcdErr want)
{
    g_autoptr(GError) err = NULL;
    DcdReleaseArgs a = {
        .host_id = host, .tag = p->tag, .removal = how, .ranges = r,
        .nranges = n, .forced = forced,
    };
    GPtrArray *out = dcd_broker_extent_release(f->b, &a, &err);

    if (want == DCD_ERR_OK) {
        g_assert_no_error(err);
    } else {
        g_assert_error(err, DCD_ERROR, (gint)want);
    }
    return out;
}

static void test_release(Fixture *f, gconstpointer data)
{
    DcdPool *p = new_pool(f, 8 * MB);
    DcdPool *q = new_pool(f, 2 * MB);
    DcdDpaRange r[] = { { 0, 4 * MB }, { 4 * MB, 4 * MB } };
    DcdDpaRange part[] = { { 0, 2 * MB } };
    DcdDpaRange both[] = { { 0, 8 * MB } };
    DcdDpaRange gap[] = { { 0, 10 * MB } };
    struct dcd_range done[] = { { 0, 4 * MB }, { 4 * MB, 4 * MB } };
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) out = NULL;
    g_autoptr(GError) destroy_err = NULL;
    DcdTag tag;

    release(f, 0, p, DCD_REMOVAL_TAG, NULL, 0, false, DCD_ERR_NOENT);
    accept_all(f, 0, add(f, 0, p, DCD_POLICY_PRESCRIPTIVE, r, 2, DCD_ERR_OK));
    add(f, 0, q, DCD_POLICY_FREE, NULL, 0, DCD_ERR_OK);
    release(f, 0, q, DCD_REMOVAL_TAG, NULL, 0, false, DCD_ERR_STATE);
    g_assert_null(release(f, 0, p, DCD_REMOVAL_PRESCRIPTIVE, part, 1, false,
                          DCD_ERR_INVAL));
    g_assert_null(release(f, 0, p, DCD_REMOVAL_PRESCRIPTIVE, gap, 1, false,
                          DCD_ERR_NOENT));
    g_assert_cmpint(state_at(f, 0, 0), ==, DCD_EXTENT_ACCEPTED);

    /* one range may cover several whole extents */
    out = release(f, 0, p, DCD_REMOVAL_PRESCRIPTIVE, both, 1, false,
                  DCD_ERR_OK);
    g_assert_cmpuint(out->len, ==, 2);
    g_assert_cmpuint(f->link[0].releases, ==, 1);
    g_assert_false(f->link[0].last_release_forced);
    g_assert_cmpint(state_at(f, 0, 0), ==, DCD_EXTENT_RELEASING);
    release(f, 0, p, DCD_REMOVAL_TAG, NULL, 0, false, DCD_ERR_STATE);
    g_assert_false(dcd_broker_pool_destroy(f->b, &p->tag, &destroy_err));
    g_assert_error(destroy_err, DCD_ERROR, DCD_ERR_BUSY);

    g_assert_true(dcd_broker_host_released(f->b, f->host[0], done, 2, &err));
    g_assert_no_error(err);
    g_assert_cmpint(state_at(f, 0, 0), ==, DCD_EXTENT_STATE__MAX);
    g_assert_cmpuint(p->holders, ==, 0);
    /* released again: no longer the host's, so nothing to do */
    g_assert_true(dcd_broker_host_released(f->b, f->host[0], done, 1, NULL));
    tag = p->tag;
    g_assert_true(dcd_broker_pool_destroy(f->b, &tag, NULL));
    g_assert_null(dcd_registry_pool(&f->b->reg, &tag));
    g_assert_nonnull(dcd_registry_pool(&f->b->reg, &q->tag));
}

/*
 * A host that goes away may still map what it was offered or given: its
 * offer and a forced release of what it holds stay revoking, and its
 * pools busy, until the operator declares it gone.
 */
static void test_forced_and_detach(Fixture *f, gconstpointer data)
{
    DcdPool *p = new_pool(f, 4 * MB);
    DcdPool *q = new_pool(f, 4 * MB);
    g_autoptr(GPtrArray) out = NULL;
    g_autoptr(GPtrArray) gone = NULL;
    g_autoptr(GError) err = NULL;

    accept_all(f, 0, add(f, 0, p, DCD_POLICY_FREE, NULL, 0, DCD_ERR_OK));
    add(f, 0, q, DCD_POLICY_FREE, NULL, 0, DCD_ERR_OK);
    dcd_broker_host_detach(f->b, f->host[0]);
    g_assert_cmpuint(q->holders, ==, 1);
    g_assert_cmpuint(p->holders, ==, 1);
    g_assert_cmpuint(dcd_host_count_state(f->host[0], DCD_EXTENT_REVOKING),
                     ==, 1);
    release(f, 0, p, DCD_REMOVAL_TAG, NULL, 0, false, DCD_ERR_UNAVAIL);
    out = release(f, 0, p, DCD_REMOVAL_TAG, NULL, 0, true, DCD_ERR_OK);
    g_assert_cmpuint(out->len, ==, 1);
    g_assert_cmpint(((DcdExtent *)out->pdata[0])->state, ==,
                    DCD_EXTENT_REVOKING);
    g_assert_cmpuint(p->holders, ==, 1);
    g_assert_false(dcd_broker_pool_destroy(f->b, &p->tag, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_BUSY);
    gone = dcd_broker_host_forget(f->b, 0, NULL);
    g_assert_cmpuint(gone->len, ==, 2);
    g_assert_cmpuint(p->holders + q->holders, ==, 0);
    g_assert_true(dcd_broker_pool_destroy(f->b, &p->tag, NULL));
}

/*
 * The host's own RELEASED of one extent crosses a forced RELEASE of the
 * tag; the host confirms the forced release listing both.  The other
 * extent ends too, instead of staying revoking for ever.
 */
static void test_released_crosses_forced(Fixture *f, gconstpointer data)
{
    DcdPool *p = new_pool(f, 8 * MB);
    DcdDpaRange r[] = { { 0, 4 * MB }, { 4 * MB, 4 * MB } };
    struct dcd_range a = { 0, 4 * MB };
    struct dcd_range both[] = { { 0, 4 * MB }, { 4 * MB, 4 * MB } };
    struct dcd_range bad = { 4 * MB, 2 * MB };
    g_autoptr(GPtrArray) out = NULL;
    g_autoptr(GError) err = NULL;

    accept_all(f, 0, add(f, 0, p, DCD_POLICY_PRESCRIPTIVE, r, 2, DCD_ERR_OK));
    out = release(f, 0, p, DCD_REMOVAL_TAG, NULL, 0, true, DCD_ERR_OK);
    g_assert_cmpuint(out->len, ==, 2);
    g_assert_true(dcd_broker_host_released(f->b, f->host[0], &a, 1, NULL));
    g_assert_cmpuint(dcd_host_count_state(f->host[0], DCD_EXTENT_REVOKING),
                     ==, 1);
    /* a range that is not the extent there is still malformed */
    g_assert_false(dcd_broker_host_released(f->b, f->host[0], &bad, 1, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_INVAL);
    g_assert_true(dcd_broker_host_released(f->b, f->host[0], both, 2, NULL));
    g_assert_cmpuint(dcd_host_count_state(f->host[0], DCD_EXTENT_REVOKING),
                     ==, 0);
    g_assert_cmpuint(p->holders, ==, 0);
    g_assert_true(dcd_broker_pool_destroy(f->b, &p->tag, NULL));
}

/* A connected host is released, not forgotten. */
static void test_forget_connected(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;

    g_assert_null(dcd_broker_host_forget(f->b, 0, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_STATE);
}

/* Host 0 again, speaking protocol version v. */
static DcdHost *reattach(Fixture *f, uint16_t v, bool reconnect)
{
    struct dcd_region r = { .len = 64 * MB, .block_size = 2 * MB,
                            .flags = DCD_REGION_SHARABLE };
    DcdHelloArgs a = { .host_id = 0, .name = "test", .regions = &r,
                       .nregions = 1, .reconnect = reconnect, .version = v };

    dcd_broker_host_detach(f->b, f->host[0]);
    f->host[0] = dcd_broker_host_attach(f->b, &a, &fake_ops, &f->link[0],
                                        NULL);
    g_assert_nonnull(f->host[0]);
    return f->host[0];
}

/*
 * Version 2: a withdrawn offer stays the host's until it confirms; an
 * ACCEPT that crossed the WITHDRAW is refused.
 */
static void test_withdraw_v2(Fixture *f, gconstpointer data)
{
    DcdPool *p = new_pool(f, 4 * MB);
    DcdGroup *g;
    uint64_t id;
    struct dcd_range r;
    g_autoptr(GPtrArray) out = NULL;
    g_autoptr(GError) err = NULL;

    reattach(f, 2, false);
    g = add(f, 0, p, DCD_POLICY_FREE, NULL, 0, DCD_ERR_OK);
    id = g->id;
    r = (struct dcd_range) { ((DcdExtent *)g->extents->pdata[0])->dpa,
                             4 * MB };
    out = release(f, 0, p, DCD_REMOVAL_TAG, NULL, 0, true, DCD_ERR_OK);
    g_assert_cmpint(((DcdExtent *)out->pdata[0])->state, ==,
                    DCD_EXTENT_REVOKING);
    g_assert_cmpuint(f->link[0].withdrawals, ==, 1);
    g_assert_cmpuint(f->link[0].last_withdrawn, ==, id);
    g_assert_cmpuint(p->holders, ==, 1);
    g_assert_false(dcd_broker_host_accept(f->b, f->host[0], id, &r, 1, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_NOENT);
    g_assert_cmpint(state_at(f, 0, r.dpa), ==, DCD_EXTENT_REVOKING);
    dcd_broker_host_withdrawn(f->b, f->host[0], id);
    g_assert_cmpint(state_at(f, 0, r.dpa), ==, DCD_EXTENT_STATE__MAX);
    g_assert_cmpuint(p->holders, ==, 0);
}

/* Version 2: a forced release ends when the host sends RELEASED. */
static void test_forced_v2(Fixture *f, gconstpointer data)
{
    DcdPool *p = new_pool(f, 4 * MB);
    g_autoptr(GPtrArray) out = NULL;
    struct dcd_range r;

    reattach(f, 2, false);
    accept_all(f, 0, add(f, 0, p, DCD_POLICY_FREE, NULL, 0, DCD_ERR_OK));
    out = release(f, 0, p, DCD_REMOVAL_TAG, NULL, 0, true, DCD_ERR_OK);
    r = (struct dcd_range) { ((DcdExtent *)out->pdata[0])->dpa, 4 * MB };
    g_assert_true(f->link[0].last_release_forced);
    g_assert_cmpint(state_at(f, 0, r.dpa), ==, DCD_EXTENT_REVOKING);
    g_assert_false(dcd_broker_pool_destroy(f->b, &p->tag, NULL));
    g_assert_true(dcd_broker_host_released(f->b, f->host[0], &r, 1, NULL));
    g_assert_cmpuint(p->holders, ==, 0);
    g_assert_true(dcd_broker_pool_destroy(f->b, &p->tag, NULL));
}

/* Revoked while away: a reconnecting host that still lists it must drop it. */
static void test_revoked_on_reconnect(Fixture *f, gconstpointer data)
{
    DcdPool *p = new_pool(f, 4 * MB);
    g_autoptr(GPtrArray) out = NULL;
    struct dcd_extent w;
    DcdHost *h;

    reattach(f, 2, false);
    accept_all(f, 0, add(f, 0, p, DCD_POLICY_FREE, NULL, 0, DCD_ERR_OK));
    dcd_broker_host_detach(f->b, f->host[0]);
    out = release(f, 0, p, DCD_REMOVAL_TAG, NULL, 0, true, DCD_ERR_OK);
    dcd_extent_to_wire(dcd_host_extent(f->host[0],
                                       ((DcdExtent *)out->pdata[0])->dpa),
                       &w);
    f->link[0].releases = 0;
    h = reattach(f, 2, true);
    g_assert_true(dcd_broker_host_pool(f->b, h, &p->tag, p->size, p->backing,
                                       dup(p->fd), NULL));
    dcd_broker_host_hold(f->b, h, &w, 1, true);
    g_assert_cmpuint(f->link[0].releases, ==, 1);
    g_assert_true(f->link[0].last_release_forced);
    g_assert_cmpint(state_at(f, 0, w.dpa), ==, DCD_EXTENT_REVOKING);
}

static void test_duplicate_host(Fixture *f, gconstpointer data)
{
    struct dcd_region r = { .len = 64 * MB, .block_size = 2 * MB };
    DcdHelloArgs a = { .host_id = 1, .name = "x", .regions = &r,
                       .nregions = 1 };
    g_autoptr(GError) err = NULL;

    g_assert_null(dcd_broker_host_attach(f->b, &a, &fake_ops, &f->link[1],
                                         &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_EXIST);
}

static void test_reconnect_hold(Fixture *f, gconstpointer data)
{
    DcdPool *p = new_pool(f, 4 * MB);
    DcdPool *q = new_pool(f, 4 * MB);
    DcdGroup *g;
    struct dcd_extent held[2];
    unsigned releases;

    g = add(f, 0, p, DCD_POLICY_FREE, NULL, 0, DCD_ERR_OK);
    dcd_extent_to_wire(g->extents->pdata[0], &held[0]);
    accept_all(f, 0, g);
    accept_all(f, 0, add(f, 0, q, DCD_POLICY_FREE, NULL, 0, DCD_ERR_OK));
    dcd_broker_host_detach(f->b, f->host[0]);

    connect_host(f, 0, true, true);
    g_assert_true(f->host[0]->reconnecting);
    /* HOLD counts only with the memory handed back in this session */
    g_assert_true(dcd_broker_host_pool(f->b, f->host[0], &p->tag, p->size,
                                       p->backing, dup(p->fd), NULL));
    /* a bogus extent (wrong pool offset) is refused with a forced release */
    held[1] = held[0];
    held[1].dpa = 40 * MB;
    held[1].pool_offset = 2 * MB;
    releases = f->link[0].releases;
    dcd_broker_host_hold(f->b, f->host[0], held, 2, true);
    g_assert_cmpuint(f->link[0].releases, ==, releases + 1);
    g_assert_true(f->link[0].last_release_forced);
    /* it kept p; q was not reported, so it is gone */
    g_assert_cmpuint(p->holders, ==, 1);
    g_assert_cmpuint(q->holders, ==, 0);
    g_assert_false(f->host[0]->reconnecting);

    /* an extent the broker never offered is refused, even with its pool */
    dcd_broker_host_detach(f->b, f->host[0]);
    connect_host(f, 0, true, true);
    g_assert_true(dcd_broker_host_pool(f->b, f->host[0], &p->tag, p->size,
                                       p->backing, dup(p->fd), NULL));
    held[1].pool_offset = 0;
    held[1].dpa = 50 * MB;
    releases = f->link[0].releases;
    dcd_broker_host_hold(f->b, f->host[0], &held[1], 1, true);
    g_assert_cmpuint(f->link[0].releases, ==, releases + 1);
    /* what it did not list is gone */
    g_assert_cmpuint(p->holders, ==, 0);

    /* a fresh (non-reconnecting) HELLO means the host holds nothing */
    g = add(f, 0, p, DCD_POLICY_FREE, NULL, 0, DCD_ERR_OK);
    accept_all(f, 0, g);
    dcd_broker_host_detach(f->b, f->host[0]);
    connect_host(f, 0, true, false);
    g_assert_cmpuint(p->holders, ==, 0);
}

/* Memory that is not the pool's own is refused, and so are its extents. */
static void test_handback_other_memory(Fixture *f, gconstpointer data)
{
    DcdPool *p = new_pool(f, 4 * MB);
    DcdGroup *g = add(f, 0, p, DCD_POLICY_FREE, NULL, 0, DCD_ERR_OK);
    struct dcd_extent held;
    g_autoptr(GError) err = NULL;
    int other = memfd_create("other", MFD_ALLOW_SEALING);

    g_assert_cmpint(ftruncate(other, 4 * MB), ==, 0);
    dcd_extent_to_wire(g->extents->pdata[0], &held);
    accept_all(f, 0, g);
    dcd_broker_host_detach(f->b, f->host[0]);
    connect_host(f, 0, true, true);
    g_assert_false(dcd_broker_host_pool(f->b, f->host[0], &p->tag, p->size,
                                        p->backing, other, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_STATE);
    close(other);
    dcd_broker_host_hold(f->b, f->host[0], &held, 1, true);
    g_assert_true(f->link[0].last_release_forced);
    g_assert_cmpuint(p->holders, ==, 0);
}

/*
 * A forced tag-based release withdraws an offer nobody answered: the
 * extents stay the host's (revoking, the pool held) until it confirms.
 */
static void test_forced_withdraws_offer(Fixture *f, gconstpointer data)
{
    DcdPool *p = new_pool(f, 4 * MB);
    g_autoptr(GPtrArray) out = NULL;
    DcdGroup *g = add(f, 0, p, DCD_POLICY_FREE, NULL, 0, DCD_ERR_OK);
    uint64_t id = g->id;
    struct dcd_range r = { .dpa = 0, .len = 4 * MB };
    g_autoptr(GError) err = NULL;

    release(f, 0, p, DCD_REMOVAL_TAG, NULL, 0, false, DCD_ERR_STATE);
    g_assert_false(dcd_broker_pool_destroy(f->b, &p->tag, NULL));
    out = release(f, 0, p, DCD_REMOVAL_TAG, NULL, 0, true, DCD_ERR_OK);
    g_assert_cmpuint(out->len, ==, 1);
    g_assert_cmpint(((DcdExtent *)out->pdata[0])->state, ==,
                    DCD_EXTENT_REVOKING);
    g_assert_cmpuint(p->holders, ==, 1);
    g_assert_false(dcd_broker_pool_destroy(f->b, &p->tag, NULL));
    /* a late answer is refused; the range stays revoking */
    g_assert_false(dcd_broker_host_accept(f->b, f->host[0], id, &r, 1, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_NOENT);
    g_assert_cmpuint(p->holders, ==, 1);
    dcd_broker_host_withdrawn(f->b, f->host[0], id);
    g_assert_null(dcd_host_group(f->host[0], id));
    g_assert_cmpuint(p->holders, ==, 0);
    g_assert_true(dcd_broker_pool_destroy(f->b, &p->tag, NULL));
}

static void group_done(DcdHost *h, uint64_t group, GPtrArray *ext,
                       gpointer opaque)
{
    *(DcdExtentState *)opaque = ((DcdExtent *)ext->pdata[0])->state;
}

/*
 * An offer not answered in time is withdrawn; it stays the host's until
 * the host confirms, and then its waiters hear it.
 */
static void test_offer_timeout(Fixture *f, gconstpointer data)
{
    DcdPool *p = new_pool(f, 4 * MB);
    DcdGroup *g;
    uint64_t id;
    DcdExtentState seen = DCD_EXTENT_STATE__MAX;
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    f->b->offer_timeout_ms = 20;
    g = add(f, 0, p, DCD_POLICY_FREE, NULL, 0, DCD_ERR_OK);
    id = g->id;
    dcd_broker_group_wait(g, group_done, &seen);
    while (!f->link[0].withdrawals && g_get_monotonic_time() < deadline) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    g_assert_cmpuint(f->link[0].last_withdrawn, ==, id);
    g_assert_cmpint(seen, ==, DCD_EXTENT_STATE__MAX);
    g_assert_cmpuint(p->holders, ==, 1);
    dcd_broker_host_withdrawn(f->b, f->host[0], id);
    g_assert_cmpint(seen, ==, DCD_EXTENT_RECLAIMED);
    g_assert_cmpuint(p->holders, ==, 0);
    g_assert_cmpuint(f->host[0]->regions[0].nfree, ==, 32);
    /* an answered offer's timer goes with its group */
    accept_all(f, 0, add(f, 0, p, DCD_POLICY_FREE, NULL, 0, DCD_ERR_OK));
    g_usleep(40000);
    while (g_main_context_iteration(NULL, FALSE)) {
    }
    g_assert_cmpuint(p->holders, ==, 1);
}

/* A region's size costs the broker nothing: only extents do. */
static void test_huge_region(Fixture *f, gconstpointer data)
{
    struct dcd_region r[2] = {
        { .base = 0, .len = 1ull << 61, .block_size = 2 * MB },
        { .base = 1ull << 61, .len = 1ull << 61, .block_size = 4096 },
    };
    DcdHelloArgs a = { .host_id = 9, .name = "huge", .regions = r,
                       .nregions = 2 };
    DcdPool *p = new_pool(f, 4 * MB);
    DcdHost *h;
    g_autoptr(GError) err = NULL;

    g_assert_true(dcd_regions_check(r, 2, &err));
    h = dcd_broker_host_attach(f->b, &a, &fake_ops, &f->link[0], &err);
    g_assert_no_error(err);
    g_assert_cmpuint(h->regions[0].nfree, ==, (1ull << 61) / (2 * MB));
    f->host[0] = h;
    accept_all(f, 0, add(f, 9, p, DCD_POLICY_FREE, NULL, 0, DCD_ERR_OK));
    g_assert_cmpuint(dcd_space_nruns(&h->regions[0]), ==, 1);
    r[1].len = (1ull << 62) + 4096;
    g_assert_false(dcd_regions_check(r, 2, NULL));
}

static void test_send_failure(Fixture *f, gconstpointer data)
{
    DcdPool *p = new_pool(f, 4 * MB);

    f->link[0].fail = true;
    add(f, 0, p, DCD_POLICY_FREE, NULL, 0, DCD_ERR_UNAVAIL);
    g_assert_cmpuint(p->holders, ==, 0);
    g_assert_cmpuint(f->host[0]->regions[0].nfree, ==, 32);
}

/* A pool may name the hosts allowed to ask for it themselves. */
static void test_requesters(Fixture *f, gconstpointer data)
{
    g_autoptr(GArray) only1 = g_array_new(FALSE, FALSE, sizeof(uint16_t));
    uint16_t one = 1;
    g_autoptr(GError) err = NULL;
    DcdPool *p;
    DcdAddArgs a = { .policy = DCD_POLICY_FREE, .by_host = true };

    g_array_append_val(only1, one);
    p = dcd_broker_pool_create(f->b, NULL, 4 * MB, DCD_BACKING_MEMFD, only1,
                               &err);
    g_assert_no_error(err);
    a.tag = p->tag;
    a.host_id = 0;
    g_assert_null(dcd_broker_extent_add(f->b, &a, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_PERM);
    g_clear_error(&err);
    /* the fabric manager may still give it to anyone */
    a.by_host = false;
    g_assert_nonnull(dcd_broker_extent_add(f->b, &a, &err));
    /* host 0 is gone for good: its offer ends */
    dcd_broker_host_detach(f->b, f->host[0]);
    g_ptr_array_unref(dcd_broker_host_forget(f->b, 0, NULL));
    a.host_id = 1;
    a.by_host = true;
    g_assert_nonnull(dcd_broker_extent_add(f->b, &a, &err));
    g_assert_no_error(err);
}

/* Huge pages are reserved when the pool is made, or the create fails. */
static void test_hugetlb_reserve(Fixture *f, gconstpointer data)
{
    g_autofree char *meminfo = NULL;
    g_autoptr(GError) err = NULL;
    const char *line;
    unsigned long free_pages;
    DcdPool *p;

    g_assert_true(g_file_get_contents("/proc/meminfo", &meminfo, NULL, NULL));
    line = strstr(meminfo, "HugePages_Free:");
    if (!line) {
        g_test_skip("this kernel has no hugetlb");
        return;
    }
    free_pages = strtoul(line + strlen("HugePages_Free:"), NULL, 10);
    p = dcd_broker_pool_create(f->b, NULL, 2 * MB, DCD_BACKING_HUGETLB, NULL, &err);
    if (free_pages == 0) {
        g_assert_null(p);
        g_assert_error(err, DCD_ERROR, DCD_ERR_NOSPC);
        g_assert_nonnull(strstr(err->message, "huge pages"));
    } else {
        g_assert_no_error(err);
        g_assert_true(p->sealed);
    }
}

static uint64_t in_buckets(const DcdLatency *l)
{
    uint64_t n = 0;

    for (unsigned i = 0; i <= DCD_LATENCY_BOUNDS; i++) {
        n += l->buckets[i];
    }
    return n;
}

/*
 * Metrics: pools and live extents by state as they are; an add observed
 * once, at its ACCEPT, whether accepted or rejected; a release once, at
 * the RELEASED of its last extent, however many messages that takes.
 */
static void test_metrics(Fixture *f, gconstpointer data)
{
    DcdPool *p = new_pool(f, 8 * MB);
    DcdPool *q = new_pool(f, 2 * MB);
    DcdDpaRange r[] = { { 0, 4 * MB }, { 4 * MB, 4 * MB } };
    struct dcd_range first[] = { { 0, 4 * MB } };
    struct dcd_range second[] = { { 4 * MB, 4 * MB } };
    g_autoptr(GPtrArray) out = NULL;
    g_autoptr(GError) err = NULL;
    DcdBrokerMetrics m;
    DcdGroup *g;

    dcd_broker_metrics(f->b, &m);
    g_assert_cmpuint(m.stats.pools, ==, 2);
    g_assert_cmpuint(m.pool_bytes, ==, 10 * MB);
    g_assert_cmpuint(m.stats.hosts_connected, ==, 4);
    g_assert_cmpuint(m.extents[DCD_EXTENT_PENDING], ==, 0);
    g_assert_cmpuint(m.add_latency.count, ==, 0);
    g_assert_null(m.store);         /* no state dir: nothing saved */
    g_assert_false(m.device);       /* no shared device: nothing made up */

    g = add(f, 0, p, DCD_POLICY_PRESCRIPTIVE, r, 2, DCD_ERR_OK);
    dcd_broker_metrics(f->b, &m);
    g_assert_cmpuint(m.extents[DCD_EXTENT_PENDING], ==, 2);
    g_assert_cmpuint(m.add_latency.count, ==, 0);
    accept_all(f, 0, g);
    dcd_broker_metrics(f->b, &m);
    g_assert_cmpuint(m.extents[DCD_EXTENT_PENDING], ==, 0);
    g_assert_cmpuint(m.extents[DCD_EXTENT_ACCEPTED], ==, 2);
    g_assert_cmpuint(m.add_latency.count, ==, 1);
    g_assert_cmpuint(in_buckets(&m.add_latency), ==, 1);
    g_assert_cmpfloat(m.add_latency.sum_s, >=, 0);

    /* A rejected offer is an outcome too. */
    g = add(f, 1, q, DCD_POLICY_FREE, NULL, 0, DCD_ERR_OK);
    g_assert_true(dcd_broker_host_accept(f->b, f->host[1], g->id, NULL, 0,
                                         &err));
    g_assert_no_error(err);
    dcd_broker_metrics(f->b, &m);
    g_assert_cmpuint(m.add_latency.count, ==, 2);
    g_assert_cmpuint(m.extents[DCD_EXTENT_PENDING], ==, 0);

    out = release(f, 0, p, DCD_REMOVAL_TAG, NULL, 0, false, DCD_ERR_OK);
    dcd_broker_metrics(f->b, &m);
    g_assert_cmpuint(m.extents[DCD_EXTENT_RELEASING], ==, 2);
    g_assert_cmpuint(m.extents[DCD_EXTENT_ACCEPTED], ==, 0);
    g_assert_true(dcd_broker_host_released(f->b, f->host[0], first, 1,
                                           &err));
    dcd_broker_metrics(f->b, &m);
    g_assert_cmpuint(m.extents[DCD_EXTENT_RELEASING], ==, 1);
    g_assert_cmpuint(m.release_latency.count, ==, 0);
    g_assert_true(dcd_broker_host_released(f->b, f->host[0], second, 1,
                                           &err));
    g_assert_no_error(err);
    dcd_broker_metrics(f->b, &m);
    g_assert_cmpuint(m.extents[DCD_EXTENT_RELEASING], ==, 0);
    g_assert_cmpuint(m.release_latency.count, ==, 1);
    g_assert_cmpuint(in_buckets(&m.release_latency), ==, 1);
    /* Released again: no request ends, nothing is observed. */
    g_assert_true(dcd_broker_host_released(f->b, f->host[0], second, 1,
                                           NULL));
    dcd_broker_metrics(f->b, &m);
    g_assert_cmpuint(m.release_latency.count, ==, 1);
}

#define ADD(path, fn) \
    g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ADD("/broker/ownership/forget-connected", test_forget_connected);
    ADD("/broker/ownership/withdraw-v2", test_withdraw_v2);
    ADD("/broker/ownership/forced-v2", test_forced_v2);
    ADD("/broker/ownership/revoked-on-reconnect", test_revoked_on_reconnect);
    ADD("/broker/add/prescriptive", test_prescriptive);
    ADD("/broker/add/prescriptive-errors", test_prescriptive_errors);
    ADD("/broker/add/unknowns", test_unknowns);
    ADD("/broker/add/free-and-contiguous", test_free_fragments);
    ADD("/broker/add/shared-seq", test_shared);
    ADD("/broker/add/send-failure", test_send_failure);
    ADD("/broker/state/accept-reject", test_accept_reject);
    ADD("/broker/state/bad-accept", test_bad_accept);
    ADD("/broker/add/extent-limit", test_extent_limit);
    ADD("/broker/state/release", test_release);
    ADD("/broker/state/forced-and-detach", test_forced_and_detach);
    ADD("/broker/state/released-crosses-forced", test_released_crosses_forced);
    ADD("/broker/host/duplicate", test_duplicate_host);
    ADD("/broker/pool/hugetlb-reserve", test_hugetlb_reserve);
    ADD("/broker/pool/requesters", test_requesters);
    ADD("/broker/host/reconnect-hold", test_reconnect_hold);
    ADD("/broker/host/handback-other-memory", test_handback_other_memory);
    ADD("/broker/host/huge-region", test_huge_region);
    ADD("/broker/state/forced-withdraws-offer", test_forced_withdraws_offer);
    ADD("/broker/state/offer-timeout", test_offer_timeout);
    ADD("/broker/metrics", test_metrics);
    return g_test_run();
}
