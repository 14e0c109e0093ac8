/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * activate.c - socket activation and readiness through libsystemd.  One
 * .socket unit with two ListenStream= lines gives both fds the same name,
 * so the path each fd is bound to decides which is which.
 */
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "server/activate.h"
#include "dcd/types.h"

#ifdef HAVE_LIBSYSTEMD
static char *bound_path(int fd)
{
    struct sockaddr_un sa;
    socklen_t len = sizeof(sa);

    memset(&sa, 0, sizeof(sa));
    if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 ||
        sa.sun_family != AF_UNIX || len <= offsetof(struct sockaddr_un,
                                                    sun_path)) {
        return NULL;
    }
    return g_strndup(sa.sun_path, len - offsetof(struct sockaddr_un,
                                                 sun_path));
}

static bool is_role(const char *name, const char *path, const char *role,
                    const char *want_path)
{
    g_autofree char *base = path ? g_path_get_basename(path) : NULL;
    g_autofree char *file = g_strconcat(role, ".sock", NULL);

    return g_strcmp0(name, role) == 0 || g_strcmp0(path, want_path) == 0 ||
           g_strcmp0(base, file) == 0;
}
#endif

bool dcd_activation_get(const char *host_path, const char *ctl_path,
                        DcdActivation *a, GError **errp)
{
    a->host_fd = a->ctl_fd = -1;
    a->host_path = a->ctl_path = NULL;
#ifdef HAVE_LIBSYSTEMD
    g_auto(GStrv) names = NULL;
    int n = sd_listen_fds_with_names(1, &names);

    if (n < 0) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "inherited sockets: %s",
                    g_strerror(-n));
        return false;
    }
    for (int i = 0; i < n; i++) {
        int fd = SD_LISTEN_FDS_START + i;
        const char *name = names ? names[i] : NULL;
        g_autofree char *path = bound_path(fd);

        if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
            g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "inherited fd %d is"
                        " not a listening unix stream socket", fd);
            return false;
        }
        if (a->host_fd < 0 && is_role(name, path, "host", host_path)) {
            a->host_fd = fd;
            a->host_path = g_steal_pointer(&path);
        } else if (a->ctl_fd < 0 &&
                   is_role(name, path, "control", ctl_path)) {
            a->ctl_fd = fd;
            a->ctl_path = g_steal_pointer(&path);
        } else {
            g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "inherited socket"
                        " %s (name %s) is neither the host nor the control"
                        " socket: name it host or control"
                        " (FileDescriptorName=) or bind it at %s or %s",
                        path ? path : "?", name ? name : "none", host_path,
                        ctl_path);
            return false;
        }
    }
#endif
    return true;
}

void dcd_activation_clear(DcdActivation *a)
{
    g_clear_pointer(&a->host_path, g_free);
    g_clear_pointer(&a->ctl_path, g_free);
}

void dcd_notify_ready(const char *status)
{
#ifdef HAVE_LIBSYSTEMD
    sd_notifyf(0, "READY=1\nSTATUS=%s\nMAINPID=%d", status, (int)getpid());
#endif
}

void dcd_notify_stopping(void)
{
#ifdef HAVE_LIBSYSTEMD
    sd_notify(0, "STOPPING=1");
#endif
}
