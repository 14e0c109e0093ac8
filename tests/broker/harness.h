/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * harness.h - real dcd-broker and dcd-hostsim processes for tests.
 *
 * Owns: a private dir per broker (sockets, state, pool dir), starting and
 * killing processes, control calls that assert success or an error class,
 * and the line protocol of dcd-hostsim's stdin/stdout.
 */
#ifndef DCD_TEST_HARNESS_H
#define DCD_TEST_HARNESS_H

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <json-glib/json-glib.h>

#include "ctlclient.h"

typedef struct TBroker {
    GSubprocess *proc;
    char *dir;
    char *host_sock;
    char *ctl_sock;
    char *state_dir;
    char *pool_dir;
    DcdCtlClient *ctl;
} TBroker;

typedef struct THost {
    GSubprocess *proc;
    GDataInputStream *out;
    GOutputStream *in;
    unsigned id;
} THost;

/* dir NULL: a new temporary dir.  Extra broker args may follow, NULL-ended. */
TBroker *tbroker_start(const char *dir, ...) G_GNUC_NULL_TERMINATED;
/* Stop (SIGTERM, or SIGKILL if kill) and wait; keeps the dir. */
void tbroker_stop(TBroker *b, bool kill);
/* Stop and remove the dir. */
void tbroker_free(TBroker *b);

/* Control call that must succeed; args is a JSON object text. */
JsonNode *tcall(TBroker *b, const char *cmd, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
/* Control call that must fail with class want; returns the description. */
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

/* Count of extents in extent-list with the given state, for host/tag. */
unsigned textents(TBroker *b, unsigned host, const char *tag,
                  const char *state);

/* Wait until exactly n extents are in state (fails after 5 s). */
void twait_extents(TBroker *b, unsigned host, const char *tag,
                   const char *state, unsigned n);

#endif
