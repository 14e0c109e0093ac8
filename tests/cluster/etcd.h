/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * etcd.h - etcd members of the tests' own (the cluster suite).
 *
 * Owns: a member's process (alone, or one of a cluster), its free
 * loopback ports and temporary data dir; stopping, pausing and restarting it; reading keys back with
 * etcdctl, a client that is not ours.  A missing etcd fails the test:
 * make check installs it (scripts/install-deps.sh).
 */
#ifndef DCD_TEST_ETCD_H
#define DCD_TEST_ETCD_H

#include <stdbool.h>
#include <gio/gio.h>

typedef struct TEtcd {
    GSubprocess *proc;
    char *dir;               /* data dir and log */
    char *log;
    char *name;
    char *initial_cluster;   /* every member's peer URL */
    char *token;
    unsigned client_port, peer_port;
    char *endpoint;          /* 127.0.0.1:PORT */
    char *store_url;         /* etcd://127.0.0.1:PORT, for --cluster-store */
} TEtcd;

/* One member on free ports; returns once it answers. */
TEtcd *tetcd_start(void);
/*
 * n members of one cluster (NULL-ended array; free each), and the
 * --cluster-store URL naming all of them; returns once all answer.
 */
TEtcd **tetcd_start_cluster(unsigned n, char **store_url);
/* Kill it (SIGKILL) and wait; keeps the data dir. */
void tetcd_kill(TEtcd *e);
/* Start it again on the same ports and data. */
void tetcd_restart(TEtcd *e);
/* SIGSTOP / SIGCONT: a member that accepts connections and says nothing. */
void tetcd_pause(TEtcd *e);
void tetcd_resume(TEtcd *e);
/* Kill it and remove its dir. */
void tetcd_free(TEtcd *e);

/* The keys under prefix, sorted (etcdctl get --prefix --keys-only). */
char **tetcd_keys(TEtcd *e, const char *prefix);
bool tetcd_has_key(TEtcd *e, const char *key);
/* A key's value (etcdctl get), or NULL if there is none. */
char *tetcd_get(TEtcd *e, const char *key);
/* Put a key as another client would (etcdctl put). */
void tetcd_put(TEtcd *e, const char *key, const char *value);
/* Revoke every lease (what a lease running out does to its keys). */
void tetcd_revoke_leases(TEtcd *e);

#endif
