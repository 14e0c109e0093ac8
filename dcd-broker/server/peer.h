/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * peer.h - listening unix sockets and who may connect to them.
 *
 * Owns: creating a socket file 0600 (0660 with a group) in a private dir,
 * refusing to steal the socket of a broker that is still running, the
 * allow-list (uids, and the socket group), and the SO_PEERCRED check made
 * on every connection before a byte is read.
 */
#ifndef DCD_PEER_H
#define DCD_PEER_H

#include <gio/gio.h>
#include <sys/types.h>

typedef struct DcdPeerPolicy {
    GArray *uids;      /* uid_t; empty means only our own uid */
    gid_t gid;         /* socket group, if has_gid */
    bool has_gid;
} DcdPeerPolicy;

typedef struct DcdListener DcdListener;
/* A peer passed the check; the callee owns sock. */
typedef void (*DcdAcceptFn)(GSocket *sock, pid_t pid, uid_t uid,
                            gpointer opaque);
/* A peer failed the check (sock is closed after the call). */
typedef void (*DcdRefuseFn)(GSocket *sock, const GError *why,
                            gpointer opaque);

DcdListener *dcd_listener_new(const char *path, const DcdPeerPolicy *pol,
                              DcdAcceptFn on_accept, DcdRefuseFn on_refuse,
                              gpointer opaque, GError **errp);
/* Stops listening and removes the socket file. */
/*
 * Listen on a socket someone else bound (socket activation): takes fd;
 * the socket file is not removed when the listener goes.
 */
DcdListener *dcd_listener_adopt(int fd, const DcdPeerPolicy *pol,
                                DcdAcceptFn on_accept, DcdRefuseFn on_refuse,
                                gpointer opaque, GError **errp);
void dcd_listener_free(DcdListener *l);
const char *dcd_listener_path(const DcdListener *l);
/* The path a unix socket is bound to ("?" if none). */
char *dcd_socket_path(GSocket *sock);

bool dcd_peer_check(const DcdPeerPolicy *pol, GSocket *s, pid_t *pid,
                    uid_t *uid, GError **errp);

#endif
