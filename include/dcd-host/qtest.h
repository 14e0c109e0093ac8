/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qtest.h - DcdHostIo over QEMU's qtest text protocol.
 *
 * Owns: one qtest connection (a unix socket), the line protocol
 * (readX/writeX, b64read/b64write, inX/outX, clock_step) and its
 * replies.  Every access is one round trip, in order.
 */
#ifndef DCD_HOST_QTEST_H
#define DCD_HOST_QTEST_H

#include <gio/gio.h>

#include "dcd-host/io.h"

/* Take over an already connected stream (a ref is taken). */
DcdHostIo *dcd_qtest_new(GIOStream *stream);
/* Connect to a qtest socket that QEMU listens on. */
DcdHostIo *dcd_qtest_connect(const char *path, GError **errp);

/* Round trips made so far (for benchmarks and tests). */
uint64_t dcd_qtest_round_trips(DcdHostIo *io);

/* Connect to QEMU's unix socket path (what: for messages). */
GIOStream *dcd_io_unix_connect(const char *path, const char *what,
                               GError **errp);

#endif
