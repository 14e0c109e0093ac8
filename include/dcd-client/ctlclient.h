/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctlclient.h - a blocking client of the broker's control socket.
 *
 * Owns: the connection, request ids, and turning an error reply into a
 * GError in DCD_ERROR whose code is the reply's class.  Used by dcdctl,
 * tests and the benchmark.
 */
#ifndef DCD_CLIENT_CTLCLIENT_H
#define DCD_CLIENT_CTLCLIENT_H

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "dcd/types.h"

typedef struct DcdCtlClient DcdCtlClient;

DcdCtlClient *dcd_ctl_client_connect(const char *path, GError **errp);
void dcd_ctl_client_free(DcdCtlClient *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DcdCtlClient, dcd_ctl_client_free)

/*
 * Run command with args (NULL for none; a reference is taken) and return
 * its result, or NULL with errp set.
 */
/* Fail a call whose reply has not come in ms (0: wait for ever). */
void dcd_ctl_client_set_timeout(DcdCtlClient *c, guint ms);

JsonNode *dcd_ctl_client_call(DcdCtlClient *c, const char *command,
                              JsonObject *args, GError **errp);

/*
 * Pipelining: send requests without waiting, then read their replies in
 * the order they were sent (the broker answers in order).
 */
bool dcd_ctl_client_send(DcdCtlClient *c, const char *command,
                         JsonObject *args, GError **errp);
JsonNode *dcd_ctl_client_recv(DcdCtlClient *c, GError **errp);

/* Shorthand: build args from a JSON text, e.g. "{\"size\": 4096}". */
/* After a "monitor" call: the next event line (an object with "event"). */
JsonNode *dcd_ctl_client_read_event(DcdCtlClient *c, GError **errp);

JsonNode *dcd_ctl_client_callf(DcdCtlClient *c, const char *command,
                               GError **errp, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

#endif
