/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * wire.h - one host-protocol connection, driven by a GMainContext.
 *
 * Owns: the non-blocking socket, the receive buffer and the FIFO of fds
 * received with SCM_RIGHTS, the bounded send queue, request ids, matching
 * replies to requests (with a timeout), and keepalive.  It checks every
 * header and payload with the codec in dcd/proto.h before handing a
 * message up.  On a malformed message it sends an ERROR (DCD_ERR_PROTO),
 * flushes, closes and reports why; it never aborts on peer input.
 *
 * Used by both ends: the broker's host server and dcd-hostsim.
 */
#ifndef DCD_WIRE_H
#define DCD_WIRE_H

#include <gio/gio.h>

#include "dcd/proto.h"

G_BEGIN_DECLS

typedef struct DcdWire DcdWire;

/* A request or unsolicited message arrived; the callee owns msg. */
typedef void (*DcdWireMsgFn)(DcdWire *w, DcdMsg *msg, gpointer opaque);
/*
 * The connection closed (peer hung up, protocol error, timeout, queue
 * overflow, or dcd_wire_close()).  Called once.  why is NULL for a clean
 * close by us.  The wire may be freed from inside this callback.
 */
typedef void (*DcdWireClosedFn)(DcdWire *w, const GError *why,
                                gpointer opaque);
/*
 * A reply arrived (reply owned by the callee; may be an ERROR), or the
 * request failed without one (reply NULL, err says why: timeout, close).
 */
typedef void (*DcdWireReplyFn)(DcdWire *w, DcdMsg *reply, const GError *err,
                               gpointer opaque);

typedef struct DcdWireLimits {
    size_t max_queued_bytes;  /* send queue; overflow closes (default 8 MiB) */
    guint request_timeout_ms; /* reply wait (default 10000; 0 = none) */
    guint idle_timeout_ms;    /* no bytes in this long closes (default 30000;
                               * PING sent at a third of it; 0 = none).
                               * Time this process did not run (stopped,
                               * a callback holding the loop) is not
                               * counted, and bytes waiting are read
                               * before the peer is judged silent. */
} DcdWireLimits;

/* Takes a reference on sock, sets it non-blocking, starts reading. */
DcdWire *dcd_wire_new(GSocket *sock, GMainContext *ctx,
                      DcdWireMsgFn on_msg, DcdWireClosedFn on_closed,
                      gpointer opaque);
void dcd_wire_set_limits(DcdWire *w, const DcdWireLimits *l);

/* Queue m (ownership passes).  False if closed or the queue overflowed. */
bool dcd_wire_send(DcdWire *w, DcdMsg *m);
/* Reply helpers for a request req: an empty ack, or an ERROR. */
bool dcd_wire_ack(DcdWire *w, const DcdMsg *req);
bool dcd_wire_error(DcdWire *w, const DcdMsg *req, DcdErr code,
                    const char *fmt, ...) G_GNUC_PRINTF(4, 5);
bool dcd_wire_error_gerror(DcdWire *w, const DcdMsg *req, const GError *err);

/*
 * Send request m (its id is replaced by a fresh one) and call cb once
 * with the reply or with an error.  Returns the id used, 0 on failure
 * (cb is then not called).
 */
uint32_t dcd_wire_request(DcdWire *w, DcdMsg *m, DcdWireReplyFn cb,
                          gpointer cb_opaque);

/* Send what is queued, then close (after an ERROR, for example). */
void dcd_wire_close_after_flush(DcdWire *w, const GError *why);
/* Close now: pending requests fail, on_closed runs. */
void dcd_wire_close(DcdWire *w);
bool dcd_wire_is_open(const DcdWire *w);
/* Free; closes first if still open (on_closed is not called then). */
void dcd_wire_free(DcdWire *w);

GSocket *dcd_wire_socket(const DcdWire *w);
/* Credentials of the peer (SO_PEERCRED), or -1s if unknown. */
void dcd_wire_peer(const DcdWire *w, pid_t *pid, uid_t *uid, gid_t *gid);
/* Bytes waiting in the send queue. */
size_t dcd_wire_queued(const DcdWire *w);

G_END_DECLS

#endif
