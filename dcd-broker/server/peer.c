/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * peer.c - sockets.  A stale socket file is removed only when nothing
 * answers on it, so a second broker cannot silently take over the first
 * one's hosts.
 */
#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <gio/gunixsocketaddress.h>

#include "dcd/types.h"
#include "server/peer.h"

struct DcdListener {
    char *path;
    GSocket *sock;
    GSource *src;
    DcdPeerPolicy pol;
    DcdAcceptFn on_accept;
    DcdRefuseFn on_refuse;
    gpointer opaque;
    guint pause_timer;       /* accepts paused after an accept error */
    bool adopted;            /* a socket we were given: not ours to unlink */
};

#define ACCEPT_PAUSE_MS 100

bool dcd_peer_check(const DcdPeerPolicy *pol, GSocket *s, pid_t *pid,
                    uid_t *uid, GError **errp)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (getsockopt(g_socket_get_fd(s), SOL_SOCKET, SO_PEERCRED, &cred,
                   &len) < 0) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_PERM, "SO_PEERCRED: %s",
                    g_strerror(errno));
        return false;
    }
    *pid = cred.pid;
    *uid = cred.uid;
    if (pol->uids && pol->uids->len) {
        for (guint i = 0; i < pol->uids->len; i++) {
            if (g_array_index(pol->uids, uid_t, i) == cred.uid) {
                return true;
            }
        }
    } else if (cred.uid == geteuid()) {
        return true;
    }
    if (pol->has_gid && cred.gid == pol->gid) {
        return true;
    }
    g_set_error(errp, DCD_ERROR, DCD_ERR_PERM,
                "uid %u (pid %d) is not allowed to use this broker",
                (unsigned)cred.uid, (int)cred.pid);
    return false;
}

static gboolean on_incoming(GSocket *sock, GIOCondition cond,
                            gpointer opaque);

static void watch(DcdListener *l)
{
    l->src = g_socket_create_source(l->sock, G_IO_IN, NULL);
    g_source_set_callback(l->src, G_SOURCE_FUNC(on_incoming), l, NULL);
    g_source_attach(l->src, NULL);
}

static gboolean resume_accepts(gpointer opaque)
{
    DcdListener *l = opaque;

    l->pause_timer = 0;
    watch(l);
    return G_SOURCE_REMOVE;
}

static void pause_accepts(DcdListener *l)
{
    /* The caller returns G_SOURCE_REMOVE, which destroys l->src. */
    g_clear_pointer(&l->src, g_source_unref);
    l->pause_timer = g_timeout_add(ACCEPT_PAUSE_MS, resume_accepts, l);
}

static gboolean on_incoming(GSocket *sock, GIOCondition cond, gpointer opaque)
{
    DcdListener *l = opaque;

    for (;;) {
        g_autoptr(GError) err = NULL;
        GSocket *c = g_socket_accept(l->sock, NULL, &err);
        pid_t pid;
        uid_t uid;

        if (!c) {
            if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
                /*
                 * Out of fds: the connection stays queued and the socket
                 * stays readable, so retrying now would spin.  Wait for
                 * sessions to end.
                 */
                g_warning("accept on %s: %s; pausing accepts for %d ms",
                          l->path, err->message, ACCEPT_PAUSE_MS);
                pause_accepts(l);
                return G_SOURCE_REMOVE;
            }
            break;
        }
        if (!dcd_peer_check(&l->pol, c, &pid, &uid, &err)) {
            g_message("%s: refused: %s", l->path, err->message);
            if (l->on_refuse) {
                l->on_refuse(c, err, l->opaque);
            }
            g_object_unref(c);
            continue;
        }
        l->on_accept(c, pid, uid, l->opaque);
    }
    return G_SOURCE_CONTINUE;
}

/* Is someone listening on path already? */
static bool in_use(const char *path)
{
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    g_autoptr(GSocket) s = g_socket_new(G_SOCKET_FAMILY_UNIX,
                                        G_SOCKET_TYPE_STREAM, 0, NULL);

    return s && g_socket_connect(s, addr, NULL, NULL);
}

/*
 * The socket's dir must let the socket group through: the group needs
 * search permission on it, nothing more.  A dir we make, or our own
 * "dcd-broker" dir, is set to 0710 with that group; any other dir (say
 * /tmp) is the user's, so we only say what is wrong with it.
 */
static bool socket_dir(const char *dir, const DcdPeerPolicy *pol,
                       GError **errp)
{
    g_autofree char *base = g_path_get_basename(dir);
    bool made = !g_file_test(dir, G_FILE_TEST_EXISTS);
    struct stat st;

    if (g_mkdir_with_parents(dir, pol->has_gid ? 0710 : 0700) < 0 ||
        stat(dir, &st) < 0) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "creating %s: %s", dir,
                    g_strerror(errno));
        return false;
    }
    if (!pol->has_gid || (st.st_mode & S_IXOTH) ||
        (st.st_gid == pol->gid && (st.st_mode & S_IXGRP))) {
        return true;
    }
    if ((made || g_str_equal(base, "dcd-broker")) && st.st_uid == geteuid() &&
        chown(dir, -1, pol->gid) == 0 &&
        chmod(dir, (st.st_mode & 0700) | 0010) == 0) {
        return true;
    }
    g_set_error(errp, DCD_ERROR, DCD_ERR_PERM, "the socket group cannot"
                " reach %s (mode %04o, gid %u): give group %u search"
                " permission on it, or put the sockets elsewhere", dir,
                st.st_mode & 07777, (unsigned)st.st_gid, (unsigned)pol->gid);
    return false;
}

/* A listener not yet listening; takes path. */
static DcdListener *listener_alloc(char *path, const DcdPeerPolicy *pol,
                                   DcdAcceptFn on_accept,
                                   DcdRefuseFn on_refuse, gpointer opaque)
{
    DcdListener *l = g_new0(DcdListener, 1);

    l->path = path;
    l->pol = *pol;
    if (pol->uids) {
        l->pol.uids = g_array_ref(pol->uids);
    }
    l->on_accept = on_accept;
    l->on_refuse = on_refuse;
    l->opaque = opaque;
    return l;
}

DcdListener *dcd_listener_new(const char *path, const DcdPeerPolicy *pol,
                              DcdAcceptFn on_accept, DcdRefuseFn on_refuse,
                              gpointer opaque, GError **errp)
{
    g_autoptr(GSocketAddress) addr = NULL;
    g_autofree char *dir = g_path_get_dirname(path);
    DcdListener *l;
    struct stat st;
    mode_t mode = pol->has_gid ? 0660 : 0600;

    if (!socket_dir(dir, pol, errp)) {
        return NULL;
    }
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            g_set_error(errp, DCD_ERROR, DCD_ERR_EXIST,
                        "%s exists and is not a socket", path);
            return NULL;
        }
        if (in_use(path)) {
            g_set_error(errp, DCD_ERROR, DCD_ERR_BUSY,
                        "%s is in use: is another dcd-broker running?", path);
            return NULL;
        }
        unlink(path);
    }
    l = listener_alloc(g_strdup(path), pol, on_accept, on_refuse, opaque);
    addr = g_unix_socket_address_new(path);
    l->sock = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, 0,
                           errp);
    if (l->sock) {
        /* GSocket's default of 10 refuses a burst of VMs starting at once. */
        g_socket_set_listen_backlog(l->sock, SOMAXCONN);
    }
    if (!l->sock || !g_socket_bind(l->sock, addr, FALSE, errp) ||
        chmod(path, mode) < 0 ||
        (pol->has_gid && chown(path, -1, pol->gid) < 0) ||
        !g_socket_listen(l->sock, errp)) {
        if (errp && !*errp) {
            g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "%s: %s", path,
                        g_strerror(errno));
        }
        dcd_listener_free(l);
        return NULL;
    }
    g_socket_set_blocking(l->sock, FALSE);
    watch(l);
    return l;
}

DcdListener *dcd_listener_adopt(int fd, const DcdPeerPolicy *pol,
                                DcdAcceptFn on_accept, DcdRefuseFn on_refuse,
                                gpointer opaque, GError **errp)
{
    GSocket *sock = g_socket_new_from_fd(fd, errp);
    DcdListener *l;

    if (!sock) {
        return NULL;
    }
    if (g_socket_get_family(sock) != G_SOCKET_FAMILY_UNIX ||
        g_socket_get_socket_type(sock) != G_SOCKET_TYPE_STREAM) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "fd %d is not a unix"
                    " stream socket", fd);
        g_object_unref(sock);
        return NULL;
    }
    l = listener_alloc(dcd_socket_path(sock), pol, on_accept, on_refuse,
                       opaque);
    l->sock = sock;
    l->adopted = true;
    g_socket_set_blocking(l->sock, FALSE);
    watch(l);
    return l;
}

const char *dcd_listener_path(const DcdListener *l)
{
    return l->path;
}

char *dcd_socket_path(GSocket *sock)
{
    g_autoptr(GSocketAddress) a = g_socket_get_local_address(sock, NULL);

    if (a && G_IS_UNIX_SOCKET_ADDRESS(a)) {
        return g_strdup(g_unix_socket_address_get_path(
            G_UNIX_SOCKET_ADDRESS(a)));
    }
    return g_strdup("?");
}

void dcd_listener_free(DcdListener *l)
{
    if (!l) {
        return;
    }
    if (l->src) {
        g_source_destroy(l->src);
        g_source_unref(l->src);
    }
    if (l->pause_timer) {
        g_source_remove(l->pause_timer);
    }
    if (l->sock) {
        g_socket_close(l->sock, NULL);
        g_object_unref(l->sock);
        if (!l->adopted) {
            unlink(l->path);
        }
    }
    if (l->pol.uids) {
        g_array_unref(l->pol.uids);
    }
    g_free(l->path);
    g_free(l);
}
