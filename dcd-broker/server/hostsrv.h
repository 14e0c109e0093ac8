/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hostsrv.h - the host socket.
 *
 * Owns: one session per connected host (its DcdWire and DcdHost), the
 * HELLO handshake and version choice, turning host messages into broker
 * calls and broker decisions into POOL, OFFER and RELEASE messages.
 */
#ifndef DCD_HOSTSRV_H
#define DCD_HOSTSRV_H

#include "core/broker.h"
#include "server/peer.h"
#include "dcd/wire.h"

typedef struct DcdHostSrv DcdHostSrv;

DcdHostSrv *dcd_hostsrv_new(DcdBroker *b, const char *path,
                            const DcdPeerPolicy *pol,
                            const DcdWireLimits *limits, GError **errp);
void dcd_hostsrv_free(DcdHostSrv *s);
/*
 * Serve a host on an already connected socket (the peer check is the
 * caller's); sock is referenced, not taken.  With path NULL,
 * dcd_hostsrv_new() listens nowhere and this is the only way in.
 */
void dcd_hostsrv_adopt(DcdHostSrv *s, GSocket *sock, pid_t pid, uid_t uid);
/* Listen on an inherited listening socket (made with path NULL). */
bool dcd_hostsrv_listen_fd(DcdHostSrv *s, int fd, const DcdPeerPolicy *pol,
                           GError **errp);
unsigned dcd_hostsrv_sessions(const DcdHostSrv *s);

#endif
