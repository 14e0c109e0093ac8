/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmp.h - a small synchronous QMP client.
 *
 * Owns: one QMP connection, the greeting and capabilities negotiation,
 * command execution (a QEMU error becomes a GError carrying QEMU's
 * description), HMP pass-through, and the events QEMU sends meanwhile.
 */
#ifndef DCD_HOST_QMP_H
#define DCD_HOST_QMP_H

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "dcd-host/io.h"
#include "dcd-host/qtest.h"

typedef struct DcdQmp DcdQmp;

/* Take over a connected stream: reads the greeting, negotiates. */
DcdQmp *dcd_qmp_new(GIOStream *stream, GError **errp);
DcdQmp *dcd_qmp_connect(const char *path, GError **errp);
void dcd_qmp_free(DcdQmp *q);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DcdQmp, dcd_qmp_free)

/*
 * Run cmd with args (an object node or NULL; consumed).  Returns the
 * "return" member; on a QEMU error sets DCD_HOST_ERR_QMP with QEMU's
 * desc as the message and returns NULL.
 */
JsonNode *dcd_qmp_execute(DcdQmp *q, const char *cmd, JsonNode *args,
                          GError **errp);
/*
 * cxl-add-dynamic-capacity or cxl-release-dynamic-capacity (cmd), to the
 * end: on a device attached to a dcd-broker the command returns at once
 * with a broker-request number, and this waits for the
 * CXL_DYNAMIC_CAPACITY_BROKER_REPLY event with that number (QEMU sends
 * it within 10 s).  Its error fails the call (DCD_HOST_ERR_QMP, with the
 * broker's reason as the message), as a QEMU error does.
 */
bool dcd_qmp_dc_request(DcdQmp *q, const char *cmd, JsonNode *args,
                        GError **errp);
/* Like dcd_qmp_execute() for callers that only care about success. */
bool dcd_qmp_run(DcdQmp *q, const char *cmd, JsonNode *args, GError **errp);
/* The error class of the last failed command ("GenericError", ...). */
const char *dcd_qmp_last_class(DcdQmp *q);

/* human-monitor-command; returns its output. */
char *dcd_qmp_hmp(DcdQmp *q, const char *cmdline, GError **errp);

/* Does QEMU offer this command? (query-commands, cached) */
bool dcd_qmp_has_command(DcdQmp *q, const char *cmd);
/* The first command whose name contains all of the words, or NULL. */
const char *dcd_qmp_find_command(DcdQmp *q, const char *const *words);

/* Events seen so far, oldest first; the caller owns the list. */
GList *dcd_qmp_take_events(DcdQmp *q);

/*
 * Build an argument object: pairs of a typed key and a value, NULL
 * ended.  Key prefixes: "s:" string, "i:" gint64, "u:" guint64 (as int),
 * "b:" gboolean, "n:" JsonNode (consumed).  Example:
 *   dcd_qmp_args("s:path", p, "i:region", (gint64)0, NULL)
 */
JsonNode *dcd_qmp_args(const char *key, ...) G_GNUC_NULL_TERMINATED;

/* One extent of cxl-add/release-dynamic-capacity: {offset, len}. */
JsonNode *dcd_qmp_extent_list(const uint64_t *offset_len, unsigned n);
/* The same with a shared-seq per extent (seq may be NULL). */
JsonNode *dcd_qmp_extent_list_seq(const uint64_t *offset_len,
                                  const uint16_t *seq, unsigned n);

#endif
