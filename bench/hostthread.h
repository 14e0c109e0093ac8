/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hostthread.h - in-process hosts on a thread of their own.
 *
 * Owns: one thread running its own GMainContext, so hostclient hosts keep
 * answering the broker while the main thread sits in a blocking control
 * call (extent-add with "wait" needs exactly that), and a way for the
 * main thread to run code on that thread and wait for it.  hostclient is
 * not thread-safe: every call on a host goes through
 * bench_host_thread_call().
 */
#ifndef DCD_BENCH_HOSTTHREAD_H
#define DCD_BENCH_HOSTTHREAD_H

#include <glib.h>

typedef struct BenchHostThread BenchHostThread;

BenchHostThread *bench_host_thread_new(const char *name);
/* Quit the loop and join; free the hosts on the thread before this. */
void bench_host_thread_free(BenchHostThread *t);
/* Give this to DcdHostClientConfig.ctx. */
GMainContext *bench_host_thread_context(BenchHostThread *t);
/* Run fn(data) on the host thread and return once it has run. */
void bench_host_thread_call(BenchHostThread *t, void (*fn)(gpointer),
                            gpointer data);

#endif
