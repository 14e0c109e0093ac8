/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store.c - the store interface: picks the backend, then every call goes
 * to it.  Nothing here knows how a backend keeps records.
 */
#include "dcd/types.h"
#include "core/etcdstore.h"
#include "core/journal.h"
#include "core/store.h"

DcdStore *dcd_store_open(const DcdStoreConfig *cfg, GError **errp)
{
    if (cfg->cluster_store) {
        return dcd_etcd_store_open(cfg, errp);
    }
    g_return_val_if_fail(cfg->state_dir, NULL);
    return dcd_journal_open(cfg->state_dir, errp);
}

void dcd_store_close(DcdStore *s)
{
    if (s) {
        g_free(s->where);
        s->ops->close(s);
    }
}

GHashTable *dcd_store_load(DcdStore *s, unsigned *dropped, GError **errp)
{
    return s->ops->load(s, dropped, errp);
}

void dcd_store_put(DcdStore *s, const char *key, const char *json)
{
    s->ops->put(s, key, json);
}

void dcd_store_del(DcdStore *s, const char *key)
{
    s->ops->del(s, key);
}

bool dcd_store_commit(DcdStore *s, GError **errp)
{
    return s->ops->commit(s, errp);
}

void dcd_store_discard(DcdStore *s)
{
    s->ops->discard(s);
}

bool dcd_store_wants_rewrite(const DcdStore *s, unsigned live_records)
{
    return s->ops->wants_rewrite(s, live_records);
}

void dcd_store_rewrite_begin(DcdStore *s)
{
    s->ops->rewrite_begin(s);
}

bool dcd_store_rewrite_commit(DcdStore *s, GError **errp)
{
    return s->ops->rewrite_commit(s, errp);
}

void dcd_store_sync(DcdStore *s)
{
    if (s) {
        s->ops->sync(s);
    }
}

bool dcd_store_available(const DcdStore *s)
{
    return s->ops->available(s);
}

const char *dcd_store_where(const DcdStore *s)
{
    return s->where;
}

const char *dcd_store_backend(const DcdStore *s)
{
    return s->ops->name;
}

void dcd_store_counts(const DcdStore *s, DcdStoreCounts *c)
{
    s->ops->counts(s, c);
}

void dcd_store_set_watch(DcdStore *s, DcdStoreWatchFn fn, gpointer opaque)
{
    s->watch = fn;
    s->watch_opaque = opaque;
    if (s->ops->watch) {
        s->ops->watch(s);
    }
}

bool dcd_store_refresh(DcdStore *s, GError **errp)
{
    return !s || !s->ops->refresh || s->ops->refresh(s, errp);
}

bool dcd_store_send(DcdStore *s, const char *to, const char *name,
                    const char *json, GError **errp)
{
    if (!s || !s->ops->send) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_NOTSUP, "this broker shares"
                    " no store with other brokers");
        return false;
    }
    return s->ops->send(s, to, name, json, errp);
}

void dcd_store_drop(DcdStore *s, const char *from, const char *name)
{
    if (s && s->ops->drop) {
        s->ops->drop(s, from, name);
    }
}
