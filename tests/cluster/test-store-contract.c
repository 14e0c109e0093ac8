/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store.h's contract, the same for both backends (the journal in a dir,
 * etcd): what load returns after puts, deletes, discards, commits and a
 * rewrite, across a close and an open.  The broker core relies on
 * nothing else, so it cannot tell the backends apart.  With etcd only: a
 * key changed behind the store's back fails the commit with state, and
 * nothing of the commit is made.
 */
#include <string.h>
#include <glib/gstdio.h>

#include "dcd/types.h"
#include "core/store.h"
#include "core/record.h"
#include "etcd.h"

typedef struct Backend {
    const char *name;
    TEtcd *etcd;             /* NULL: the journal */
    char *dir;
} Backend;

static DcdStore *open_store(Backend *be)
{
    g_autoptr(GError) err = NULL;
    DcdStoreConfig cfg = { 0 };
    DcdStore *s;

    if (be->etcd) {
        cfg.cluster_store = be->etcd->store_url;
        cfg.node = "contract";
        cfg.lease_ttl_s = 30;
        cfg.timeout_ms = 2000;
    } else {
        cfg.state_dir = be->dir;
    }
    s = dcd_store_open(&cfg, &err);
    g_assert_no_error(err);
    g_assert_nonnull(s);
    return s;
}

/* Load, as key -> the record's "v" member. */
static GHashTable *load(DcdStore *s)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GHashTable) all = NULL;
    GHashTable *v = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          g_free);
    GHashTableIter it;
    gpointer key, json;
    unsigned dropped = 7;

    all = dcd_store_load(s, &dropped, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(dropped, ==, 0);
    g_hash_table_iter_init(&it, all);
    while (g_hash_table_iter_next(&it, &key, &json)) {
        g_autoptr(JsonObject) o = dcd_record_parse(json);

        g_assert_nonnull(o);
        g_hash_table_replace(v, g_strdup(key), g_strdup(
            json_object_get_string_member(o, "v")));
    }
    return v;
}

static char *rec(const char *v)
{
    return g_strdup_printf("{\"v\":\"%s\"}", v);
}

static void put(DcdStore *s, const char *key, const char *v)
{
    g_autofree char *json = rec(v);

    dcd_store_put(s, key, json);
}

static void commit_ok(DcdStore *s)
{
    g_autoptr(GError) err = NULL;

    g_assert_true(dcd_store_commit(s, &err));
    g_assert_no_error(err);
}

/* The loaded records are exactly "key=v" pairs of want, NULL ended. */
static void expect(GHashTable *got, const char *const *want)
{
    guint n = 0;

    for (const char *const *w = want; *w; w++, n++) {
        g_auto(GStrv) kv = g_strsplit(*w, "=", 2);

        g_assert_cmpstr(g_hash_table_lookup(got, kv[0]), ==, kv[1]);
    }
    g_assert_cmpuint(g_hash_table_size(got), ==, n);
}

static void run_contract(Backend *be)
{
    DcdStore *s = open_store(be);
    g_autoptr(GHashTable) got = load(s);
    static const char *const none[] = { NULL };
    static const char *const after_commits[] = {
        "pool:b=b2", "host:1=h", NULL
    };
    static const char *const after_rewrite[] = {
        "host:1=h", "extent:1:0=x", NULL
    };

    expect(got, none);
    g_assert_true(dcd_store_available(s));
    put(s, "pool:a", "a");
    put(s, "pool:b", "b");
    commit_ok(s);
    /* Discarded: none of it happens. */
    dcd_store_del(s, "pool:a");
    put(s, "pool:c", "c");
    dcd_store_discard(s);
    /* The last word on a key wins within a commit. */
    put(s, "pool:b", "b1");
    put(s, "pool:b", "b2");
    dcd_store_del(s, "pool:a");
    put(s, "host:1", "h0");
    dcd_store_del(s, "host:1");
    put(s, "host:1", "h");
    commit_ok(s);
    /* An empty commit is a success. */
    commit_ok(s);
    dcd_store_close(s);

    s = open_store(be);
    g_clear_pointer(&got, g_hash_table_unref);
    got = load(s);
    expect(got, after_commits);
    /* A rewrite holds exactly what was put between begin and commit. */
    dcd_store_rewrite_begin(s);
    put(s, "host:1", "h");
    put(s, "extent:1:0", "x");
    g_assert_true(dcd_store_rewrite_commit(s, NULL));
    dcd_store_close(s);

    s = open_store(be);
    g_clear_pointer(&got, g_hash_table_unref);
    got = load(s);
    expect(got, after_rewrite);
    dcd_store_close(s);
}

static void test_journal(void)
{
    Backend be = { .name = "journal" };
    static const char *const files[] = { "journal", "snapshot", "lock" };

    be.dir = g_dir_make_tmp("dcd-contract-XXXXXX", NULL);
    run_contract(&be);
    for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *f = g_build_filename(be.dir, files[i], NULL);

        g_unlink(f);
    }
    g_rmdir(be.dir);
    g_free(be.dir);
}

static void test_etcd(void)
{
    Backend be = { .name = "etcd" };
    DcdStore *s;
    g_autoptr(GHashTable) got = NULL;
    g_autoptr(GError) err = NULL;
    static const char *const unchanged[] = {
        "host:1=h", "extent:1:0=outside", NULL
    };

    be.etcd = tetcd_start();
    run_contract(&be);

    /* Changed behind the store's back: the commit changes nothing. */
    s = open_store(&be);
    g_clear_pointer(&got, g_hash_table_unref);
    got = load(s);
    tetcd_put(be.etcd, "/dcd/v1/state/contract/extent:1:0", "{\"v\":\"outside\"}");
    put(s, "extent:1:0", "mine");
    put(s, "pool:z", "z");
    g_assert_false(dcd_store_commit(s, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_STATE);
    dcd_store_close(s);
    s = open_store(&be);
    g_clear_pointer(&got, g_hash_table_unref);
    got = load(s);
    expect(got, unchanged);
    dcd_store_close(s);
    tetcd_free(be.etcd);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/store-contract/journal", test_journal);
    g_test_add_func("/store-contract/etcd", test_etcd);
    return g_test_run();
}
