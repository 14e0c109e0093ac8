/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * etcd.h - etcd members of the tests' own (the cluster suite).
 *
 * Owns: a member's process (alone, or one of a cluster), its free
 * loopback ports and temporary data dir; stopping, pausing and
 * restarting it; reading keys back with etcdctl, a client that is not
 * ours; a TLS member and the certificates for it (made with openssl), and
 * turning on etcd's users.  A missing etcd fails the test: make check
 * installs it (scripts/install-deps.sh).
 */
#ifndef DCD_TEST_ETCD_H
#define DCD_TEST_ETCD_H

#include <stdbool.h>
#include <gio/gio.h>

/* Certificates a test makes (tcerts_new), each file's path. */
typedef struct TCerts {
    char *dir;
    char *ca;                /* signed the three below */
    char *server, *server_key;   /* 127.0.0.1 and localhost */
    char *client, *client_key;   /* no CommonName: see tcerts_new() */
    char *wrong_name;        /* etcd.example.org only (server_key) */
    char *expired;           /* 127.0.0.1, ran out yesterday (server_key) */
    char *other_ca;          /* signed other_client only */
    char *other_client, *other_client_key;
} TCerts;

TCerts *tcerts_new(void);
void tcerts_free(TCerts *c);

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
    /* TLS members (tetcd_start_tls): etcds:// and https:// */
    const TCerts *certs;
    const char *cert, *key;  /* the server's; the test may change them */
    bool bad_cert;           /* etcdctl does not check the server's */
    char **flags;            /* more etcd flags, or NULL */
    char *root;              /* "root:PASSWORD" once users are on */
} TEtcd;

/* One member on free ports; returns once it answers. */
TEtcd *tetcd_start(void);
/*
 * One member serving clients over TLS only, with certs->server, and
 * asking clients for a certificate signed by certs->ca
 * (--client-cert-auth); flags (NULL-ended, or NULL) go to etcd too.
 */
TEtcd *tetcd_start_tls(const TCerts *certs, const char *const *flags);
/*
 * Turn etcd's users on: root, and user with password and a role that may
 * read and write every key under prefix.  etcdctl goes on as root.
 */
void tetcd_enable_auth(TEtcd *e, const char *user, const char *password,
                       const char *prefix);
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
/* It runs and answers (etcdctl endpoint health). */
bool tetcd_answers(TEtcd *e);
/* It runs and leads the cluster now. */
bool tetcd_is_leader(TEtcd *e);
/* A key's value (etcdctl get), or NULL if there is none. */
char *tetcd_get(TEtcd *e, const char *key);
/* Put a key as another client would (etcdctl put). */
void tetcd_put(TEtcd *e, const char *key, const char *value);
/* Revoke every lease (what a lease running out does to its keys). */
void tetcd_revoke_leases(TEtcd *e);

#endif
