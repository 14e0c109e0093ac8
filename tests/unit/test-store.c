/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Saved state: a broker restarted on the same state dir gets back its
 * pools, hosts and accepted extents; a torn journal tail is dropped, not
 * believed; a second broker cannot open a state dir in use.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "core/broker.h"
#include "core/journal.h"
#include "core/record.h"

#define MB (1ull << 20)

static bool no_send(gpointer link, DcdPool *p)
{
    return true;
}

static bool no_offer(gpointer link, uint64_t g, GPtrArray *e)
{
    return true;
}

static bool no_release(gpointer link, uint64_t id, bool f, GPtrArray *e)
{
    return true;
}

static const DcdHostLinkOps ops = { no_send, no_offer, no_release };

static char *make_dir(void)
{
    return g_dir_make_tmp("dcd-store-XXXXXX", NULL);
}

static void rm_rf(const char *dir)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);

    g_assert_cmpint(system(cmd), ==, 0);
}

/* A broker with one pool of two extents accepted by host 5. */
static void populate(DcdBroker *b, DcdTag *tag, DcdTag *unheld)
{
    struct dcd_region r = { .len = 64 * MB, .block_size = 2 * MB,
                            .flags = DCD_REGION_SHARABLE };
    DcdHelloArgs h = { .host_id = 5, .name = "vm5", .regions = &r,
                       .nregions = 1 };
    DcdDpaRange place[] = { { 4 * MB, 2 * MB }, { 10 * MB, 2 * MB } };
    struct dcd_range acc[] = { { 4 * MB, 2 * MB }, { 10 * MB, 2 * MB } };
    DcdHost *host = dcd_broker_host_attach(b, &h, &ops, b, NULL);
    DcdPool *p = dcd_broker_pool_create(b, NULL, 4 * MB, DCD_BACKING_MEMFD, NULL,
                                        NULL);
    g_autoptr(GArray) req = g_array_new(FALSE, FALSE, sizeof(uint16_t));
    uint16_t seven = 7;
    DcdAddArgs a = { .host_id = 5, .tag = p->tag,
                     .policy = DCD_POLICY_PRESCRIPTIVE, .ranges = place,
                     .nranges = 2 };
    DcdGroup *g = dcd_broker_extent_add(b, &a, NULL);
    DcdPool *q;

    g_array_append_val(req, seven);
    q = dcd_broker_pool_create(b, NULL, 2 * MB, DCD_BACKING_MEMFD, req, NULL);
    g_assert_nonnull(host);
    g_assert_nonnull(g);
    g_assert_true(dcd_broker_host_accept(b, host, g->id, acc, 2, NULL));
    *tag = p->tag;
    *unheld = q->tag;
}

static void check_restored(DcdBroker *b, const DcdTag *tag,
                           const DcdTag *unheld)
{
    DcdHost *h = dcd_registry_host(&b->reg, 5);
    DcdPool *p = dcd_registry_pool(&b->reg, tag);
    DcdExtent *e;

    g_assert_nonnull(h);
    g_assert_false(dcd_host_connected(h));
    g_assert_cmpstr(h->name, ==, "vm5");
    g_assert_nonnull(p);
    g_assert_nonnull(dcd_registry_pool(&b->reg, unheld));
    g_assert_true(dcd_pool_may_request(dcd_registry_pool(&b->reg, unheld), 7));
    g_assert_false(dcd_pool_may_request(dcd_registry_pool(&b->reg, unheld),
                                        5));
    g_assert_true(dcd_pool_may_request(p, 5));
    /* nobody held the other pool: it starts again, empty, with memory */
    g_assert_true(dcd_pool_has_memory(dcd_registry_pool(&b->reg, unheld)));
    g_assert_true(dcd_registry_pool(&b->reg, unheld)->sealed);
    /* memfd memory died with the old broker */
    g_assert_false(dcd_pool_has_memory(p));
    g_assert_cmpuint(dcd_pool_nsegments(p), ==, 2);
    g_assert_cmpuint(p->holders, ==, 2);
    e = dcd_host_extent(h, 10 * MB);
    g_assert_nonnull(e);
    g_assert_cmpint(e->state, ==, DCD_EXTENT_ACCEPTED);
    g_assert_cmpuint(e->seq, ==, 1);
    g_assert_false(dcd_space_is_free(&h->regions[0], 4 * MB, 2 * MB));
}

static void test_restart(void)
{
    g_autofree char *dir = make_dir();
    DcdBrokerConfig cfg = { .state_dir = dir };
    DcdBroker *b = dcd_broker_new(&cfg, NULL);
    g_autoptr(GError) err = NULL;
    DcdTag tag, unheld;
    uint64_t epoch = b->epoch;
    uint8_t id[16];

    populate(b, &tag, &unheld);
    memcpy(id, b->id, 16);
    dcd_broker_free(b);

    b = dcd_broker_new(&cfg, &err);
    g_assert_no_error(err);
    g_assert_cmpmem(b->id, 16, id, 16);
    g_assert_cmpuint(b->epoch, ==, epoch + 1);
    check_restored(b, &tag, &unheld);
    dcd_broker_free(b);
    /* and again, now from the snapshot the second start wrote */
    b = dcd_broker_new(&cfg, &err);
    g_assert_no_error(err);
    check_restored(b, &tag, &unheld);
    dcd_broker_free(b);
    rm_rf(dir);
}

static void test_torn_journal(void)
{
    g_autofree char *dir = make_dir();
    g_autofree char *journal = g_build_filename(dir, "journal", NULL);
    DcdBrokerConfig cfg = { .state_dir = dir };
    DcdBroker *b = dcd_broker_new(&cfg, NULL);
    const char *bad_line = "0123456789abcdef {\"op\":\"put\",\"key\":\"x\"}\n";
    DcdTag tag, unheld;
    int fd;

    populate(b, &tag, &unheld);
    dcd_broker_free(b);
    /* a crash mid-append, then a flipped byte in a whole line */
    fd = open(journal, O_WRONLY | O_APPEND);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, bad_line, strlen(bad_line)), ==,
                    (ssize_t)strlen(bad_line));
    g_assert_cmpint(write(fd, "deadbeef", 8), ==, 8);
    close(fd);
    g_test_expect_message("dcd-broker", G_LOG_LEVEL_WARNING,
                          "saved state: 1 corrupt line(s) dropped");
    b = dcd_broker_new(&cfg, NULL);
    g_test_assert_expected_messages();
    g_assert_nonnull(b);
    check_restored(b, &tag, &unheld);
    dcd_broker_free(b);
    rm_rf(dir);
}

/*
 * A record nested far deeper than any the broker writes, with a correct
 * checksum (a state dir someone wrote into): dropped as corrupt before it
 * is parsed, not a stack overflow in the parser.
 */
static void test_deep_record(void)
{
    g_autofree char *dir = make_dir();
    g_autofree char *journal = g_build_filename(dir, "journal", NULL);
    g_autoptr(GString) json = g_string_new("{\"op\":\"put\",\"key\":\"x\","
                                           "\"v\":");
    g_autofree char *sum = NULL, *line = NULL;
    DcdBrokerConfig cfg = { .state_dir = dir };
    DcdBroker *b;

    for (int i = 0; i < 200000; i++) {
        g_string_append_c(json, '[');
    }
    for (int i = 0; i < 200000; i++) {
        g_string_append_c(json, ']');
    }
    g_string_append_c(json, '}');
    sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, json->str, -1);
    line = g_strdup_printf("%.16s %s\n", sum, json->str);
    g_assert_true(g_file_set_contents(journal, line, -1, NULL));
    g_test_expect_message("dcd-broker", G_LOG_LEVEL_WARNING,
                          "saved state: 1 corrupt line(s) dropped");
    b = dcd_broker_new(&cfg, NULL);
    g_test_assert_expected_messages();
    g_assert_nonnull(b);
    dcd_broker_free(b);
    rm_rf(dir);
}

static void test_lock(void)
{
    g_autofree char *dir = make_dir();
    DcdBrokerConfig cfg = { .state_dir = dir };
    DcdBroker *b = dcd_broker_new(&cfg, NULL);
    g_autoptr(GError) err = NULL;

    g_assert_nonnull(b);
    g_assert_null(dcd_journal_open(dir, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_BUSY);
    dcd_broker_free(b);
    rm_rf(dir);
}

static void test_compact(void)
{
    g_autofree char *dir = make_dir();
    g_autoptr(GError) err = NULL;
    DcdStore *s = dcd_journal_open(dir, &err);
    g_autoptr(GHashTable) all = NULL;
    DcdTag t;
    g_autofree char *key = NULL;
    DcdPool *p;
    unsigned dropped;

    g_assert_no_error(err);
    g_hash_table_unref(dcd_store_load(s, &dropped, &err));
    dcd_tag_generate(&t);
    p = dcd_pool_restore(&t, MB, DCD_BACKING_MEMFD, NULL, NULL);
    key = g_strconcat("pool:", p->tag_str, NULL);
    for (int i = 0; i < 5000; i++) {
        dcd_record_put_pool(s, p);
        g_assert_true(dcd_store_commit(s, &err));
    }
    g_assert_true(dcd_store_wants_rewrite(s, 1));
    dcd_store_rewrite_begin(s);
    dcd_record_put_pool(s, p);
    g_assert_true(dcd_store_rewrite_commit(s, &err));
    g_assert_false(dcd_store_wants_rewrite(s, 1));
    dcd_store_close(s);
    s = dcd_journal_open(dir, &err);
    all = dcd_store_load(s, &dropped, &err);
    g_assert_cmpuint(dropped, ==, 0);
    g_assert_cmpuint(g_hash_table_size(all), ==, 1);
    g_assert_true(g_hash_table_contains(all, key));
    dcd_store_close(s);
    dcd_pool_free(p);
    rm_rf(dir);
}

static ssize_t enospc_write(int fd, const void *buf, size_t len,
                            gpointer opaque)
{
    errno = ENOSPC;
    return -1;
}

/*
 * The journal's counts (metrics): a write per commit that has something
 * to write and per snapshot, and the ones that failed.
 */
static void test_counts(void)
{
    g_autofree char *dir = make_dir();
    g_autoptr(GError) err = NULL;
    DcdStore *s = dcd_journal_open(dir, &err);
    DcdStoreCounts c;
    unsigned dropped;

    g_assert_no_error(err);
    g_assert_cmpstr(dcd_store_backend(s), ==, "journal");
    g_hash_table_unref(dcd_store_load(s, &dropped, &err));
    dcd_store_counts(s, &c);
    g_assert_cmpuint(c.requests, ==, 0);
    g_assert_cmpuint(c.errors, ==, 0);
    g_assert_true(dcd_store_commit(s, &err));   /* nothing to write */
    dcd_store_put(s, "meta", "{}");
    g_assert_true(dcd_store_commit(s, &err));
    dcd_store_rewrite_begin(s);
    dcd_store_put(s, "meta", "{}");
    g_assert_true(dcd_store_rewrite_commit(s, &err));
    dcd_store_counts(s, &c);
    g_assert_cmpuint(c.requests, ==, 2);
    g_assert_cmpuint(c.errors, ==, 0);
    dcd_journal_set_write_fn(s, enospc_write, NULL);
    dcd_store_put(s, "meta", "{}");
    g_assert_false(dcd_store_commit(s, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_NOSPC);
    dcd_store_counts(s, &c);
    g_assert_cmpuint(c.requests, ==, 3);
    g_assert_cmpuint(c.errors, ==, 1);
    dcd_store_close(s);
    rm_rf(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/store/restart", test_restart);
    g_test_add_func("/store/torn-journal", test_torn_journal);
    g_test_add_func("/store/lock", test_lock);
    g_test_add_func("/store/deep-record", test_deep_record);
    g_test_add_func("/store/compact", test_compact);
    g_test_add_func("/store/counts", test_counts);
    return g_test_run();
}
