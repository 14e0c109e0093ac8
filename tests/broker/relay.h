/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relay.h - a unix-socket relay between hosts and a broker's host
 * socket, for tests that cut a host's connection while its process
 * (QEMU) keeps running.
 *
 * Owns: a listening socket of its own, one relayed connection at a time
 * (bytes and SCM_RIGHTS fds both ways, each fd on the first byte of the
 * chunk that carried it, as the host protocol requires), and a thread
 * that pumps them.  While cut it holds no connection and refuses new
 * ones (nothing listens), so a host's reconnects fail until restored.
 */
#ifndef DCD_TEST_RELAY_H
#define DCD_TEST_RELAY_H

#include <glib.h>

typedef struct TRelay TRelay;

/* Listen on a new socket in dir, relaying to target. */
TRelay *trelay_new(const char *dir, const char *target);
/* The socket hosts connect to. */
const char *trelay_path(const TRelay *r);
/* Drop the connection and stop listening; returns once both are done. */
void trelay_cut(TRelay *r);
/* Listen again. */
void trelay_restore(TRelay *r);
void trelay_free(TRelay *r);

#endif
