/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz-etcd - etcd's answers as the cluster store reads them (etcd.c,
 * etcdstore.c): a range of records at load, a transaction's outcome and
 * its one-key ranges, a lease grant or keepalive.
 *
 * Input: the body of one answer.  Every reader is run on it, as each
 * would be on an answer to its own request.  Checked: every record taken
 * has a record key and JSON text within the limits, and decodes or is
 * refused without harm; a key/value read is within the limits and NUL
 * free; revisions are positive.
 */
#include <string.h>

#include "dcd/json.h"
#include "core/etcd.h"
#include "core/etcdstore.h"
#include "core/record.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init_logging();
    return 0;
}

static void decode(const char *key, const char *json)
{
    g_autoptr(JsonObject) o = dcd_record_parse(json);
    g_auto(DcdSavedPool) sp = { 0 };
    DcdSavedHost sh;
    DcdSavedExtent se;
    uint8_t id[16];
    uint64_t epoch;

    if (!o) {
        return;
    }
    if (g_str_equal(key, "meta")) {
        dcd_record_decode_meta(o, id, &epoch);
    } else if (g_str_has_prefix(key, "pool:")) {
        dcd_record_decode_pool(o, &sp, NULL);
    } else if (g_str_has_prefix(key, "host:")) {
        dcd_record_decode_host(o, &sh, NULL);
    } else if (g_str_has_prefix(key, "extent:")) {
        dcd_record_decode_extent(o, &se);
    }
}

static void check_kv(const DcdEtcdKv *kv)
{
    FUZZ_CHECK(strlen(kv->key) <= DCD_ETCD_MAX_KEY, "key of %zu bytes",
               strlen(kv->key));
    FUZZ_CHECK(strlen(kv->value) <= DCD_ETCD_MAX_VALUE, "value of %zu bytes",
               strlen(kv->value));
    FUZZ_CHECK(kv->mod_rev > 0 && kv->create_rev > 0,
               "revisions %" G_GINT64_FORMAT " %" G_GINT64_FORMAT,
               kv->mod_rev, kv->create_rev);
    FUZZ_CHECK(kv->lease >= 0, "lease %" G_GINT64_FORMAT, kv->lease);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(JsonObject) o = dcd_jsonin_object((const char *)data, size,
                                                NULL);
    g_autoptr(GHashTable) records = NULL;
    GHashTableIter it;
    gpointer key, json;
    unsigned dropped;
    int64_t v;
    JsonArray *events;

    if (!o) {
        return 0;
    }
    /* Load: a range under the prefix. */
    records = dcd_etcd_store_records(o, "n1", &dropped);
    g_hash_table_iter_init(&it, records);
    while (g_hash_table_iter_next(&it, &key, &json)) {
        FUZZ_CHECK(g_str_equal(key, "meta") ||
                   g_str_has_prefix(key, "pool:") ||
                   g_str_has_prefix(key, "devpool:") ||
                   g_str_equal(key, "device") ||
                   g_str_has_prefix(key, "host:") ||
                   g_str_has_prefix(key, "extent:"), "record key %s",
                   (char *)key);
        FUZZ_CHECK(dcd_json_check_depth(json, -1, NULL), "record %s too deep",
                   (char *)key);
        decode(key, json);
    }
    /* A watch message's events, puts and deletions. */
    events = dcd_etcd_array(o, "events");
    for (guint i = 0; events && i < json_array_get_length(events); i++) {
        g_auto(DcdEtcdKv) kv = { 0 };
        bool deleted = false;

        if (dcd_etcd_event_read(dcd_jsonin_object_at(events, i), &deleted,
                                &kv, NULL)) {
            FUZZ_CHECK(kv.key && kv.mod_rev > 0, "event without key or"
                       " revision");
            FUZZ_CHECK(deleted || kv.value, "put without a value");
        }
    }
    /* A commit: its outcome, and the node key from the failure branch. */
    dcd_etcd_succeeded(o);
    if (dcd_etcd_revision(o, &v, NULL)) {
        FUZZ_CHECK(v > 0, "revision %" G_GINT64_FORMAT, v);
    }
    for (guint i = 0; i < 3; i++) {
        g_auto(DcdEtcdKv) kv = { 0 };
        bool found = false;

        if (dcd_etcd_range_one(dcd_etcd_txn_range(o, i), &kv, &found, NULL) &&
            found) {
            check_kv(&kv);
        }
    }
    /* A lease grant, a keepalive. */
    if (dcd_etcd_int(o, "ID", &v, NULL)) {
        FUZZ_CHECK(v >= 0, "lease %" G_GINT64_FORMAT, v);
    }
    if (dcd_etcd_int(dcd_etcd_object(o, "result"), "TTL", &v, NULL)) {
        FUZZ_CHECK(v >= 0, "TTL %" G_GINT64_FORMAT, v);
    }
    return 0;
}
