/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctl.h - the control socket: JSON commands from dcdctl and scripts.
 *
 * Owns: control connections, parsing and checking every argument, turning
 * commands into broker calls and broker objects into JSON.  The protocol
 * is specified in docs/control.md.
 */
#ifndef DCD_CTL_H
#define DCD_CTL_H

#include "core/broker.h"
#include "server/peer.h"

typedef struct DcdCtl DcdCtl;

DcdCtl *dcd_ctl_new(DcdBroker *b, const char *path, const char *host_path,
                    const DcdPeerPolicy *pol, GError **errp);
void dcd_ctl_free(DcdCtl *ctl);
/*
 * Serve a control client on an already connected socket (referenced, not
 * taken).  With path NULL, dcd_ctl_new() listens nowhere.
 */
void dcd_ctl_adopt(DcdCtl *ctl, GSocket *sock);
/*
 * Close control connections that have sent no request for ms (from when
 * they connected or were last answered) and have no wait or monitor
 * open; 0: never.  The default is 60000.
 */
void dcd_ctl_set_timeout(DcdCtl *ctl, guint ms);
/* Listen on an inherited listening socket (made with path NULL). */
bool dcd_ctl_listen_fd(DcdCtl *ctl, int fd, const DcdPeerPolicy *pol,
                       GError **errp);

#endif
