/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Crash recovery of the broker core on a real state dir: a broker freed
 * without ceremony leaves exactly what a SIGKILL leaves (every record is
 * written before the call that made it returns), so each case "kills" it
 * at a bad moment, starts a new one on the same dirs and checks what a
 * reconnecting host gets back.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "core/broker.h"

#define MB (1ull << 20)

typedef struct Link {
    unsigned releases;
    bool forced;
} Link;

static bool l_pool(gpointer link, DcdPool *p)
{
    return true;
}

static bool l_offer(gpointer link, uint64_t g, GPtrArray *e)
{
    return true;
}

static bool l_release(gpointer link, uint64_t id, bool forced, GPtrArray *e)
{
    Link *l = link;

    l->releases++;
    l->forced = forced;
    return true;
}

static const DcdHostLinkOps ops = { l_pool, l_offer, l_release };

typedef struct Fixture {
    char *dir;
    char *state;
    char *pools;
    DcdBroker *b;
    Link link;
} Fixture;

static DcdBroker *start(Fixture *f)
{
    DcdBrokerConfig cfg = { .state_dir = f->state, .pool_dir = f->pools };
    g_autoptr(GError) err = NULL;

    f->b = dcd_broker_new(&cfg, &err);
    g_assert_no_error(err);
    return f->b;
}

static void setup(Fixture *f, gconstpointer data)
{
    f->dir = g_dir_make_tmp("dcd-recovery-XXXXXX", NULL);
    f->state = g_build_filename(f->dir, "state", NULL);
    f->pools = g_build_filename(f->dir, "pools", NULL);
    g_assert_cmpint(g_mkdir(f->pools, 0700), ==, 0);
    start(f);
}

static void teardown(Fixture *f, gconstpointer data)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->dir);

    dcd_broker_free(f->b);
    g_assert_cmpint(system(cmd), ==, 0);
    g_free(f->dir);
    g_free(f->state);
    g_free(f->pools);
}

static DcdHost *attach(Fixture *f, bool reconnect)
{
    struct dcd_region r = { .len = 64 * MB, .block_size = 2 * MB,
                            .flags = DCD_REGION_SHARABLE };
    DcdHelloArgs a = { .host_id = 1, .name = "vm1", .regions = &r,
                       .nregions = 1, .reconnect = reconnect };
    g_autoptr(GError) err = NULL;
    DcdHost *h = dcd_broker_host_attach(f->b, &a, &ops, &f->link, &err);

    g_assert_no_error(err);
    return h;
}

/* Kill the broker (it saved all it had to) and start another. */
static void restart(Fixture *f)
{
    dcd_broker_free(f->b);
    start(f);
}

static DcdGroup *offer(Fixture *f, DcdPool *p)
{
    DcdAddArgs a = { .host_id = 1, .tag = p->tag,
                     .policy = DCD_POLICY_FREE };
    g_autoptr(GError) err = NULL;
    DcdGroup *g = dcd_broker_extent_add(f->b, &a, &err);

    g_assert_no_error(err);
    return g;
}

static DcdPool *pool(Fixture *f, DcdBacking backing)
{
    g_autoptr(GError) err = NULL;
    DcdPool *p = dcd_broker_pool_create(f->b, NULL, 4 * MB, backing, NULL,
                                        &err);

    g_assert_no_error(err);
    return p;
}

/*
 * The host sent ACCEPT; the broker died before saving it (its client was
 * never told).  The host keeps the extent and lists it: it is accepted.
 * Had the host not listed it, the offer would have been reclaimed.
 */
static void test_accept_in_flight(Fixture *f, gconstpointer data)
{
    gboolean listed = GPOINTER_TO_INT(data);
    DcdPool *p = pool(f, DCD_BACKING_MEMFD);
    DcdTag tag = p->tag;
    struct dcd_extent w;
    DcdHost *h = attach(f, false);
    DcdGroup *g = offer(f, p);
    DcdExtent *e;
    int mem = dup(p->fd);

    dcd_extent_to_wire(g->extents->pdata[0], &w);
    restart(f);
    p = dcd_registry_pool(&f->b->reg, &tag);
    h = dcd_registry_host(&f->b->reg, 1);
    e = dcd_host_extent(h, w.dpa);
    g_assert_nonnull(e);
    g_assert_cmpint(e->state, ==, DCD_EXTENT_PENDING);
    g_assert_false(dcd_pool_has_memory(p));   /* waits for the host */

    h = attach(f, true);
    g_assert_true(dcd_broker_host_pool(f->b, h, &tag, p->size,
                                       DCD_BACKING_MEMFD, mem, NULL));
    dcd_broker_host_hold(f->b, h, &w, listed ? 1 : 0, true);
    e = dcd_host_extent(h, w.dpa);
    if (!listed) {
        g_assert_null(e);
        g_assert_cmpuint(p->holders, ==, 0);
        return;
    }
    g_assert_cmpint(e->state, ==, DCD_EXTENT_ACCEPTED);
    /* and that is saved */
    restart(f);
    h = dcd_registry_host(&f->b->reg, 1);
    g_assert_cmpint(dcd_host_extent(h, w.dpa)->state, ==,
                    DCD_EXTENT_ACCEPTED);
}

/*
 * A memfd pool whose holders all go after a restart gets fresh memory at
 * once; a host that later hands back the old memory is refused.
 */
static void test_renew_on_last_holder(Fixture *f, gconstpointer data)
{
    DcdPool *p = pool(f, DCD_BACKING_MEMFD);
    DcdTag tag = p->tag;
    struct dcd_range r;
    struct dcd_extent w;
    DcdHost *h = attach(f, false);
    DcdGroup *g = offer(f, p);
    int old = dup(p->fd);
    g_autoptr(GError) err = NULL;

    dcd_extent_to_wire(g->extents->pdata[0], &w);
    r.dpa = w.dpa;
    r.len = w.len;
    g_assert_true(dcd_broker_host_accept(f->b, h, g->id, &r, 1, NULL));
    restart(f);
    p = dcd_registry_pool(&f->b->reg, &tag);
    g_assert_false(dcd_pool_has_memory(p));
    /* the host released while the broker was away: it lists nothing */
    h = attach(f, true);
    dcd_broker_host_hold(f->b, h, NULL, 0, true);
    g_assert_cmpuint(p->holders, ==, 0);
    g_assert_true(dcd_pool_has_memory(p));
    g_assert_true(p->sealed);
    dcd_broker_host_detach(f->b, h);
    h = attach(f, true);
    g_assert_false(dcd_broker_host_pool(f->b, h, &tag, p->size,
                                        DCD_BACKING_MEMFD, old, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_STATE);
    close(old);
}

/*
 * After a restart only a host that holds extents of a pool may hand its
 * memory back: another may keep a stale fd of it (from an offer that a
 * kill cut off, before a renewal) and must not win the race.
 */
static void test_handback_only_from_holder(Fixture *f, gconstpointer data)
{
    struct dcd_region r = { .len = 64 * MB, .block_size = 2 * MB,
                            .flags = DCD_REGION_SHARABLE };
    DcdHelloArgs a2 = { .host_id = 2, .name = "vm2", .regions = &r,
                        .nregions = 1, .reconnect = true };
    DcdPool *p = pool(f, DCD_BACKING_MEMFD);
    DcdTag tag = p->tag;
    DcdHost *h = attach(f, false), *h2;
    DcdGroup *g = offer(f, p);
    struct dcd_range rg;
    struct dcd_extent w;
    int mem = dup(p->fd);
    int stale = memfd_create("stale", MFD_ALLOW_SEALING);
    g_autoptr(GError) err = NULL;

    g_assert_cmpint(ftruncate(stale, 4 * MB), ==, 0);
    g_assert_cmpint(fcntl(stale, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW),
                    ==, 0);
    dcd_extent_to_wire(g->extents->pdata[0], &w);
    rg.dpa = w.dpa;
    rg.len = w.len;
    g_assert_true(dcd_broker_host_accept(f->b, h, g->id, &rg, 1, NULL));
    restart(f);
    p = dcd_registry_pool(&f->b->reg, &tag);
    h2 = dcd_broker_host_attach(f->b, &a2, &ops, &f->link, &err);
    g_assert_no_error(err);
    g_assert_false(dcd_broker_host_pool(f->b, h2, &tag, p->size,
                                        DCD_BACKING_MEMFD, stale, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_STATE);
    close(stale);
    g_assert_false(dcd_pool_has_memory(p));
    h = attach(f, true);
    g_assert_true(dcd_broker_host_pool(f->b, h, &tag, p->size,
                                       DCD_BACKING_MEMFD, mem, NULL));
    dcd_broker_host_hold(f->b, h, &w, 1, true);
    g_assert_cmpint(dcd_host_extent(h, w.dpa)->state, ==,
                    DCD_EXTENT_ACCEPTED);
}

static char *pool_file(Fixture *f, const DcdTag *tag)
{
    char s[DCD_TAG_STR_LEN];

    dcd_tag_unparse(tag, s);
    return g_strdup_printf("%s/%s.pool", f->pools, s);
}

/*
 * A file made by a create the broker did not live to save, or left by a
 * destroy it did not finish, is removed at the next start; other files
 * in the pool dir are not touched.
 */
static void test_orphan_pool_files(Fixture *f, gconstpointer data)
{
    DcdTag t1, t2;
    g_autofree char *f1 = NULL, *f2 = NULL;
    g_autofree char *other = g_build_filename(f->pools, "notes.txt", NULL);
    DcdPool *p = pool(f, DCD_BACKING_FILE);
    g_autoptr(GError) err = NULL;

    t2 = p->tag;
    f2 = pool_file(f, &t2);
    g_assert_true(g_file_test(f2, G_FILE_TEST_EXISTS));
    dcd_tag_generate(&t1);
    f1 = pool_file(f, &t1);
    g_assert_true(g_file_set_contents(f1, "x", 1, NULL));
    g_assert_true(g_file_set_contents(other, "y", 1, NULL));
    restart(f);
    g_assert_false(g_file_test(f1, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_test(f2, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_test(other, G_FILE_TEST_EXISTS));
    g_assert_true(dcd_pool_has_memory(dcd_registry_pool(&f->b->reg, &t2)));
    /* the tag can be created again */
    g_assert_nonnull(dcd_broker_pool_create(f->b, &t1, 2 * MB,
                                            DCD_BACKING_FILE, NULL, &err));
    g_assert_no_error(err);
}

/* One broker per pool dir: a second would sweep the first's files. */
static void test_pool_dir_lock(Fixture *f, gconstpointer data)
{
    g_autofree char *state2 = g_build_filename(f->dir, "state2", NULL);
    g_autofree char *missing = g_build_filename(f->dir, "nope", NULL);
    DcdBrokerConfig cfg = { .state_dir = state2, .pool_dir = f->pools };
    g_autoptr(GError) err = NULL;

    g_assert_null(dcd_broker_new(&cfg, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_BUSY);
    g_clear_error(&err);
    cfg.pool_dir = missing;
    g_assert_null(dcd_broker_new(&cfg, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_NOENT);
}

static void append_record(Fixture *f, const char *json)
{
    g_autofree char *path = g_build_filename(f->state, "journal", NULL);
    g_autofree char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256,
                                                         json, -1);
    g_autofree char *line = g_strdup_printf("%.16s %s\n", sum, json);
    int fd = open(path, O_WRONLY | O_APPEND);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, line, strlen(line)), ==, strlen(line));
    close(fd);
}

/*
 * Saved records are read like a peer's input: a file pool naming a path
 * outside the pool dir is not opened, members of the wrong type drop the
 * record, and a host whose regions HELLO accepted reloads.
 */
static void test_hostile_records(Fixture *f, gconstpointer data)
{
    DcdTag t;
    char ts[DCD_TAG_STR_LEN];
    g_autofree char *rec = NULL;
    DcdPool *p;
    DcdHost *h;
    struct dcd_region r[2] = {
        { .base = 1ull << 61, .len = 1ull << 61, .block_size = 1ull << 30,
          .flags = DCD_REGION_SHARABLE },
        { .base = 0, .len = 1ull << 40, .block_size = 4096 },
    };
    DcdHelloArgs a = { .host_id = 7, .name = "big", .regions = r,
                       .nregions = 2 };

    /* The broker warns of each bad record; here that is expected. */
    g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
    g_assert_nonnull(dcd_broker_host_attach(f->b, &a, &ops, &f->link, NULL));
    restart(f);
    dcd_tag_generate(&t);
    dcd_tag_unparse(&t, ts);
    rec = g_strdup_printf("{\"op\":\"put\",\"key\":\"pool:%s\",\"tag\":\"%s\","
                          "\"size\":4096,\"backing\":\"file\","
                          "\"path\":\"/etc/passwd\",\"segments\":[]}", ts,
                          ts);
    dcd_broker_free(f->b);
    f->b = NULL;
    append_record(f, rec);
    append_record(f, "{\"op\":[],\"key\":{}}");
    append_record(f, "{\"op\":\"put\",\"key\":\"host:3\",\"host-id\":\"3\","
                  "\"regions\":7}");
    append_record(f, "{\"op\":\"put\",\"key\":\"host:4\",\"host-id\":4,"
                  "\"regions\":[{\"base\":0,\"len\":4096,\"block-size\":3}]}");
    start(f);
    p = dcd_registry_pool(&f->b->reg, &t);
    g_assert_nonnull(p);
    g_assert_false(dcd_pool_has_memory(p));
    g_assert_null(dcd_registry_host(&f->b->reg, 3));
    g_assert_null(dcd_registry_host(&f->b->reg, 4));
    h = dcd_registry_host(&f->b->reg, 7);
    g_assert_nonnull(h);
    g_assert_true(dcd_host_regions_equal(h, r, 2));
}

/* Saved state the broker cannot read stops the start; it is not lost. */
static void test_unreadable_state(Fixture *f, gconstpointer data)
{
    g_autofree char *snap = g_build_filename(f->state, "snapshot", NULL);
    DcdBrokerConfig cfg = { .state_dir = f->state, .pool_dir = f->pools };
    g_autoptr(GError) err = NULL;

    pool(f, DCD_BACKING_MEMFD);
    dcd_broker_free(f->b);
    f->b = NULL;
    /* root reads any mode: make the snapshot a directory instead */
    g_assert_cmpint(g_unlink(snap), ==, 0);
    g_assert_cmpint(g_mkdir(snap, 0700), ==, 0);
    g_assert_null(dcd_broker_new(&cfg, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_IO);
    g_assert_true(g_file_test(snap, G_FILE_TEST_IS_DIR));
    g_assert_cmpint(g_rmdir(snap), ==, 0);
    start(f);
}

#define ADD(path, data, fn) \
    g_test_add(path, Fixture, data, setup, fn, teardown)

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ADD("/recovery/accept-in-flight/listed", GINT_TO_POINTER(1),
        test_accept_in_flight);
    ADD("/recovery/accept-in-flight/unlisted", GINT_TO_POINTER(0),
        test_accept_in_flight);
    ADD("/recovery/renew-on-last-holder", NULL, test_renew_on_last_holder);
    ADD("/recovery/handback-only-from-holder", NULL,
        test_handback_only_from_holder);
    ADD("/recovery/orphan-pool-files", NULL, test_orphan_pool_files);
    ADD("/recovery/pool-dir-lock", NULL, test_pool_dir_lock);
    ADD("/recovery/hostile-records", NULL, test_hostile_records);
    ADD("/recovery/unreadable-state", NULL, test_unreadable_state);
    return g_test_run();
}
