/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A state dir that cannot be written (full, over quota, failing): a
 * request whose change cannot be saved fails with nospc and leaves no
 * trace, nothing is acknowledged that a restart would not bring back, and
 * a change a host made anyway (it released, it went away) reaches the
 * saved state once writing works again.  Writes fail through the store's
 * test hook, so each case fails exactly where it means to.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "core/broker.h"
#include "core/journal.h"
#include "core/record.h"

#define MB (1ull << 20)

typedef enum { WRITE_OK, WRITE_FULL, WRITE_SHORT } WriteMode;

typedef struct Fx {
    char *dir;
    char *state_dir;
    char *pool_dir;
    DcdBroker *b;
    DcdHost *host;
    WriteMode mode;
    unsigned offers;
    unsigned releases;
} Fx;

/* WRITE_SHORT: half of each write makes it, then the disk is full. */
static ssize_t test_write(int fd, const void *buf, size_t len, gpointer opaque)
{
    Fx *f = opaque;

    switch (f->mode) {
    case WRITE_FULL:
        errno = ENOSPC;
        return -1;
    case WRITE_SHORT:
        if (len > 1) {
            return write(fd, buf, len / 2);
        }
        errno = ENOSPC;
        return -1;
    default:
        return write(fd, buf, len);
    }
}

static bool fake_pool(gpointer link, DcdPool *p)
{
    return true;
}

static bool fake_offer(gpointer link, uint64_t group, GPtrArray *ext)
{
    ((Fx *)link)->offers++;
    return true;
}

static bool fake_release(gpointer link, uint64_t id, bool forced,
                         GPtrArray *ext)
{
    ((Fx *)link)->releases++;
    return true;
}

static const DcdHostLinkOps fake_ops = { fake_pool, fake_offer, fake_release };

static DcdHost *attach(Fx *f, GError **errp)
{
    struct dcd_region r = { .len = 64 * MB, .block_size = 2 * MB,
                            .flags = DCD_REGION_SHARABLE };
    DcdHelloArgs a = { .host_id = 3, .name = "vm3", .regions = &r,
                       .nregions = 1 };

    return dcd_broker_host_attach(f->b, &a, &fake_ops, f, errp);
}

static void start(Fx *f)
{
    DcdBrokerConfig cfg = { .state_dir = f->state_dir,
                            .pool_dir = f->pool_dir };
    g_autoptr(GError) err = NULL;

    f->b = dcd_broker_new(&cfg, &err);
    g_assert_no_error(err);
    dcd_journal_set_write_fn(f->b->store, test_write, f);
    f->mode = WRITE_OK;
}

/* Stop and start again on what was saved; the host is not connected. */
static void restart(Fx *f)
{
    dcd_broker_free(f->b);
    start(f);
    f->host = dcd_broker_host(f->b, 3);
}

static void setup(Fx *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;

    f->dir = g_dir_make_tmp("dcd-savefail-XXXXXX", NULL);
    f->state_dir = g_build_filename(f->dir, "state", NULL);
    f->pool_dir = g_build_filename(f->dir, "pools", NULL);
    g_assert_cmpint(g_mkdir(f->pool_dir, 0700), ==, 0);
    start(f);
    f->host = attach(f, &err);
    g_assert_no_error(err);
}

static void teardown(Fx *f, gconstpointer data)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->dir);

    dcd_broker_free(f->b);
    g_assert_cmpint(system(cmd), ==, 0);
    g_free(f->dir);
    g_free(f->state_dir);
    g_free(f->pool_dir);
}

static DcdPool *pool(Fx *f, DcdBacking backing, DcdErr want)
{
    g_autoptr(GError) err = NULL;
    DcdPool *p = dcd_broker_pool_create(f->b, NULL, 4 * MB, backing, NULL,
                                        &err);

    if (want == DCD_ERR_OK) {
        g_assert_no_error(err);
    } else {
        g_assert_error(err, DCD_ERROR, (gint)want);
        g_assert_null(p);
    }
    return p;
}

static DcdGroup *add(Fx *f, const DcdTag *tag, DcdErr want)
{
    DcdDpaRange r[] = { { 0, 2 * MB }, { 8 * MB, 2 * MB } };
    DcdAddArgs a = { .host_id = 3, .tag = *tag,
                     .policy = DCD_POLICY_PRESCRIPTIVE, .ranges = r,
                     .nranges = 2 };
    g_autoptr(GError) err = NULL;
    DcdGroup *g = dcd_broker_extent_add(f->b, &a, &err);

    if (want == DCD_ERR_OK) {
        g_assert_no_error(err);
    } else {
        g_assert_error(err, DCD_ERROR, (gint)want);
        g_assert_null(g);
    }
    return g;
}

static bool accept(Fx *f, uint64_t group, GError **errp)
{
    struct dcd_range r[] = { { 0, 2 * MB }, { 8 * MB, 2 * MB } };

    return dcd_broker_host_accept(f->b, f->host, group, r, 2, errp);
}

static unsigned npools(Fx *f)
{
    g_autoptr(GPtrArray) all = dcd_broker_pools(f->b);

    return all->len;
}

static unsigned nfiles(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    unsigned n = 0;
    const char *name;

    while ((name = g_dir_read_name(d))) {
        n += g_str_has_suffix(name, ".pool");
    }
    return n;
}

static DcdPool *accepted_pool(Fx *f)
{
    DcdPool *p = pool(f, DCD_BACKING_MEMFD, DCD_ERR_OK);
    DcdGroup *g = add(f, &p->tag, DCD_ERR_OK);
    g_autoptr(GError) err = NULL;

    g_assert_true(accept(f, g->id, &err));
    g_assert_no_error(err);
    return p;
}

static void test_pool_create(Fx *f, gconstpointer data)
{
    f->mode = WRITE_FULL;
    pool(f, DCD_BACKING_FILE, DCD_ERR_NOSPC);
    pool(f, DCD_BACKING_MEMFD, DCD_ERR_NOSPC);
    g_assert_cmpuint(npools(f), ==, 0);
    g_assert_cmpuint(nfiles(f->pool_dir), ==, 0);
    f->mode = WRITE_OK;
    pool(f, DCD_BACKING_FILE, DCD_ERR_OK);
    restart(f);
    g_assert_cmpuint(npools(f), ==, 1);
    g_assert_cmpuint(nfiles(f->pool_dir), ==, 1);
}

static void test_extent_add(Fx *f, gconstpointer data)
{
    DcdPool *p = pool(f, DCD_BACKING_MEMFD, DCD_ERR_OK);
    DcdTag tag = p->tag;
    DcdGroup *g;

    f->mode = WRITE_FULL;
    add(f, &tag, DCD_ERR_NOSPC);
    /* The host heard nothing, and the DPAs and the pool are free again. */
    g_assert_cmpuint(f->offers, ==, 0);
    g_assert_cmpuint(g_hash_table_size(f->host->extents), ==, 0);
    g_assert_cmpuint(p->holders, ==, 0);
    g_assert_cmpuint(dcd_pool_nsegments(p), ==, 0);
    g_assert_cmpuint(f->host->regions[0].nfree, ==, 32);
    f->mode = WRITE_OK;
    g = add(f, &tag, DCD_ERR_OK);
    g_assert_cmpuint(f->offers, ==, 1);
    g_assert_true(accept(f, g->id, NULL));
    restart(f);
    g_assert_cmpuint(g_hash_table_size(f->host->extents), ==, 2);
}

static void test_accept(Fx *f, gconstpointer data)
{
    DcdPool *p = pool(f, DCD_BACKING_MEMFD, DCD_ERR_OK);
    DcdTag tag = p->tag;
    DcdGroup *g = add(f, &tag, DCD_ERR_OK);
    uint64_t id = g->id;
    g_autoptr(GError) err = NULL;

    f->mode = WRITE_FULL;
    /* Not saved, so not accepted: the host is told, the group is over. */
    g_assert_false(accept(f, id, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_NOSPC);
    g_assert_null(dcd_host_group(f->host, id));
    g_assert_cmpuint(g_hash_table_size(f->host->extents), ==, 0);
    g_assert_true(f->b->store_behind);
    f->mode = WRITE_OK;
    restart(f);
    /* Saved as offered, which no host confirms: never counted as held. */
    g_assert_cmpuint(g_hash_table_size(f->host->extents), ==, 2);
    g_assert_cmpint(dcd_host_extent(f->host, 0)->state, ==,
                    DCD_EXTENT_PENDING);
    f->host = attach(f, NULL);
    g_assert_cmpuint(g_hash_table_size(f->host->extents), ==, 0);
}

static void test_release_destroy(Fx *f, gconstpointer data)
{
    DcdPool *p = accepted_pool(f);
    DcdTag tag = p->tag;
    DcdReleaseArgs ra = { .host_id = 3, .tag = tag,
                          .removal = DCD_REMOVAL_TAG };
    g_autoptr(GError) err = NULL;
    g_autoptr(GError) err2 = NULL;
    g_autoptr(GError) err3 = NULL;
    DcdPool *q = pool(f, DCD_BACKING_MEMFD, DCD_ERR_OK);
    DcdTag qtag = q->tag;

    f->mode = WRITE_FULL;
    g_assert_null(dcd_broker_extent_release(f->b, &ra, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_NOSPC);
    ra.forced = true;
    g_assert_null(dcd_broker_extent_release(f->b, &ra, &err2));
    g_assert_error(err2, DCD_ERROR, DCD_ERR_NOSPC);
    g_assert_false(dcd_broker_pool_destroy(f->b, &qtag, &err3));
    g_assert_error(err3, DCD_ERROR, DCD_ERR_NOSPC);
    /* Nothing moved: still accepted, the host was asked for nothing. */
    g_assert_cmpuint(f->releases, ==, 0);
    g_assert_cmpint(dcd_host_extent(f->host, 0)->state, ==,
                    DCD_EXTENT_ACCEPTED);
    g_assert_cmpint(dcd_host_extent(f->host, 8 * MB)->state, ==,
                    DCD_EXTENT_ACCEPTED);
    g_assert_nonnull(dcd_broker_pool(f->b, &qtag));
    g_assert_false(f->b->store_behind);
    f->mode = WRITE_OK;
    g_assert_true(dcd_broker_pool_destroy(f->b, &qtag, NULL));
    ra.forced = false;
    g_assert_nonnull(dcd_broker_extent_release(f->b, &ra, NULL));
    g_assert_cmpuint(f->releases, ==, 1);
    restart(f);
    g_assert_null(dcd_broker_pool(f->b, &qtag));
    g_assert_cmpint(dcd_host_extent(f->host, 0)->state, ==,
                    DCD_EXTENT_RELEASING);
}

/* A host's own release stands; the saved state catches up later. */
static void test_catch_up(Fx *f, gconstpointer data)
{
    struct dcd_range r[] = { { 0, 2 * MB }, { 8 * MB, 2 * MB } };
    DcdPool *p = accepted_pool(f);
    DcdTag tag = p->tag;
    gint64 end;

    f->mode = WRITE_FULL;
    g_assert_true(dcd_broker_host_released(f->b, f->host, r, 2, NULL));
    g_assert_cmpuint(g_hash_table_size(f->host->extents), ==, 0);
    g_assert_true(f->b->store_behind);
    /* Behind: nothing new is acknowledged before the snapshot is written. */
    pool(f, DCD_BACKING_MEMFD, DCD_ERR_NOSPC);
    f->mode = WRITE_OK;
    end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (f->b->store_behind && g_get_monotonic_time() < end) {
        g_main_context_iteration(NULL, TRUE);
    }
    g_assert_false(f->b->store_behind);
    restart(f);
    g_assert_cmpuint(g_hash_table_size(f->host->extents), ==, 0);
    g_assert_nonnull(dcd_broker_pool(f->b, &tag));
    g_assert_cmpuint(npools(f), ==, 1);
}

/*
 * Half an append made it before the disk filled: it is cut off, so the
 * next record does not follow a torn line (which loading would stop at).
 */
static void test_torn_append(Fx *f, gconstpointer data)
{
    g_autofree char *journal = g_build_filename(f->state_dir, "journal",
                                                NULL);
    struct stat before, after;

    pool(f, DCD_BACKING_MEMFD, DCD_ERR_OK);
    g_assert_cmpint(stat(journal, &before), ==, 0);
    f->mode = WRITE_SHORT;
    pool(f, DCD_BACKING_MEMFD, DCD_ERR_NOSPC);
    g_assert_cmpint(stat(journal, &after), ==, 0);
    g_assert_cmpint(after.st_size, ==, before.st_size);
    f->mode = WRITE_OK;
    pool(f, DCD_BACKING_MEMFD, DCD_ERR_OK);
    restart(f);
    g_assert_cmpuint(npools(f), ==, 2);
}

/* File pools reserve their blocks: a full pool dir refuses, not SIGBUS. */
static void test_file_pool_reserved(Fx *f, gconstpointer data)
{
    DcdPool *p = pool(f, DCD_BACKING_FILE, DCD_ERR_OK);
    struct stat st;

    g_assert_cmpint(fstat(p->fd, &st), ==, 0);
    g_assert_cmpuint((uint64_t)st.st_blocks * 512, >=, p->size);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL);
    g_test_add("/save-fail/pool-create", Fx, NULL, setup, test_pool_create,
               teardown);
    g_test_add("/save-fail/extent-add", Fx, NULL, setup, test_extent_add,
               teardown);
    g_test_add("/save-fail/accept", Fx, NULL, setup, test_accept, teardown);
    g_test_add("/save-fail/release-destroy", Fx, NULL, setup,
               test_release_destroy, teardown);
    g_test_add("/save-fail/catch-up", Fx, NULL, setup, test_catch_up,
               teardown);
    g_test_add("/save-fail/torn-append", Fx, NULL, setup, test_torn_append,
               teardown);
    g_test_add("/save-fail/file-pool-reserved", Fx, NULL, setup,
               test_file_pool_reserved, teardown);
    return g_test_run();
}
