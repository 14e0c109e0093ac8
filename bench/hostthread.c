/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hostthread.c - in-process hosts on a thread of their own; see
 * hostthread.h.
 */
#include <stdbool.h>

#include "hostthread.h"

struct BenchHostThread {
    GMainContext *ctx;
    GMainLoop *loop;
    GThread *thread;
};

typedef struct Call {
    void (*fn)(gpointer);
    gpointer data;
    GMutex lock;
    GCond cond;
    bool done;
} Call;

static gpointer run(gpointer opaque)
{
    BenchHostThread *t = opaque;

    g_main_context_push_thread_default(t->ctx);
    g_main_loop_run(t->loop);
    g_main_context_pop_thread_default(t->ctx);
    return NULL;
}

BenchHostThread *bench_host_thread_new(const char *name)
{
    BenchHostThread *t = g_new0(BenchHostThread, 1);

    t->ctx = g_main_context_new();
    t->loop = g_main_loop_new(t->ctx, FALSE);
    t->thread = g_thread_new(name, run, t);
    return t;
}

static gboolean quit_cb(gpointer opaque)
{
    g_main_loop_quit(opaque);
    return G_SOURCE_REMOVE;
}

void bench_host_thread_free(BenchHostThread *t)
{
    if (!t) {
        return;
    }
    g_main_context_invoke(t->ctx, quit_cb, t->loop);
    g_thread_join(t->thread);
    g_main_loop_unref(t->loop);
    g_main_context_unref(t->ctx);
    g_free(t);
}

GMainContext *bench_host_thread_context(BenchHostThread *t)
{
    return t->ctx;
}

static gboolean call_cb(gpointer opaque)
{
    Call *c = opaque;

    c->fn(c->data);
    g_mutex_lock(&c->lock);
    c->done = true;
    g_cond_signal(&c->cond);
    g_mutex_unlock(&c->lock);
    return G_SOURCE_REMOVE;
}

void bench_host_thread_call(BenchHostThread *t, void (*fn)(gpointer),
                            gpointer data)
{
    Call c = { .fn = fn, .data = data };

    g_mutex_init(&c.lock);
    g_cond_init(&c.cond);
    g_main_context_invoke(t->ctx, call_cb, &c);
    g_mutex_lock(&c.lock);
    while (!c.done) {
        g_cond_wait(&c.cond, &c.lock);
    }
    g_mutex_unlock(&c.lock);
    g_mutex_clear(&c.lock);
    g_cond_clear(&c.cond);
}
