/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * harness.h - real dcd-broker and dcd-hostsim processes for tests (the
 * broker and e2e suites).
 *
 * Owns: a private dir per broker (sockets, state, pool dir), starting,
 * killing and restarting processes, control calls that assert success or
 * an error class, and the line protocol of dcd-hostsim's stdin/stdout.
 */
#ifndef DCD_TEST_HARNESS_H
#define DCD_TEST_HARNESS_H

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <json-glib/json-glib.h>

#include "dcd-client/ctlclient.h"

typedef struct TBroker {
    GSubprocess *proc;
    GDataInputStream *out;      /* its stdout, open while it runs */
    char *dir;
    char *host_sock;
    char *ctl_sock;
    char *state_dir;
    char *pool_dir;
    char *log;                  /* its stderr, or NULL: inherited */
    bool show_log;
    gint64 wait_us;
    GPtrArray *extra;           /* more broker args, for restarts */
    bool no_state_dir;
    DcdCtlClient *ctl;
    char *ready;                /* its ready line, from the last start */
} TBroker;

typedef struct TBrokerOpts {
    const char *dir;            /* NULL: a new temporary dir */
    bool log;                   /* stderr to dir/broker.log, shown on failure */
    bool show_log;              /* and shown when the broker stops */
    gint64 wait_us;             /* twait_count's limit; default 5 s */
    const char *const *extra;   /* more broker args, NULL ended */
    bool no_state_dir;          /* the state is elsewhere (--cluster-store) */
} TBrokerOpts;

typedef struct THost {
    GSubprocess *proc;
    GDataInputStream *out;
    GOutputStream *in;
    unsigned id;
} THost;

/* Start a broker; wait for its ready line and connect to its control socket. */
TBroker *tbroker_new(const TBrokerOpts *o);
/* dir NULL: a new temporary dir.  Extra broker args may follow, NULL-ended. */
TBroker *tbroker_start(const char *dir, ...) G_GNUC_NULL_TERMINATED;
/*
 * Run a broker that must refuse to start (exit status 1) with args,
 * NULL-ended, on sockets in a new dir; returns what it said on stderr.
 */
char *tbroker_refused(const char *first, ...) G_GNUC_NULL_TERMINATED;
/* Stop (SIGTERM, or SIGKILL if kill) and wait; keeps the dir. */
void tbroker_stop(TBroker *b, bool kill);
/* SIGKILL the running broker and wait; keeps the dir. */
void tbroker_kill(TBroker *b);
/* Start the stopped broker again on the same dir, sockets and args. */
void tbroker_restart(TBroker *b);
/* Stop and remove the dir. */
void tbroker_free(TBroker *b);
/* The broker's stderr as a test message (if it goes to a log). */
void tbroker_show_log(TBroker *b);
/* Remove dir and everything below it (links are not followed). */
void trm_tree(const char *dir);

/* Control call that must succeed; args is a JSON object text ("": {}). */
JsonNode *tcall(TBroker *b, const char *cmd, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
/* Control call that must fail with class want; returns the description. */
/* The call's result, or NULL with *errp set: for outcomes that may vary. */
JsonNode *tcall_try(TBroker *b, GError **errp, const char *cmd,
                    const char *fmt, ...) G_GNUC_PRINTF(4, 5);
char *tcall_fail(TBroker *b, DcdErr want, const char *cmd, const char *fmt,
                 ...) G_GNUC_PRINTF(4, 5);
/* Create a pool; returns its tag. */
char *tpool(TBroker *b, const char *size_backing_json);

/* Start dcd-hostsim as host id; extra args NULL-ended. */
THost *thost_start(TBroker *b, unsigned id, ...) G_GNUC_NULL_TERMINATED;
/* Send one command line; returns the whole reply line. */
char *thost_cmd(THost *h, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Command that must answer "ok"; returns what follows "ok " (or ""). */
char *thost_ok(THost *h, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void thost_quit(THost *h);
void thost_kill(THost *h);

/* Count of extents in extent-list --all with the given state, host/tag. */
unsigned tcount(TBroker *b, unsigned host, const char *tag,
                const char *state);

/* Wait until exactly n extents are in state (fails after wait_us). */
void twait_count(TBroker *b, unsigned host, const char *tag,
                 const char *state, unsigned n);

#endif
