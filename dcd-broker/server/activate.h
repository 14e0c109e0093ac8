/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * activate.h - the daemon and its service manager: listening sockets
 * handed over by socket activation, and readiness.
 *
 * Owns: telling which inherited fd is the host socket and which the
 * control socket (by LISTEN_FDNAMES "host"/"control", else by the path
 * each is bound to), and sd_notify.  Without libsystemd nothing is
 * inherited and nothing is notified.
 */
#ifndef DCD_ACTIVATE_H
#define DCD_ACTIVATE_H

#include <stdbool.h>
#include <glib.h>

typedef struct DcdActivation {
    int host_fd;      /* -1: bind host_path ourselves */
    int ctl_fd;       /* -1: bind ctl_path ourselves */
    char *host_path;  /* where the inherited sockets are bound, or NULL */
    char *ctl_path;
} DcdActivation;

bool dcd_activation_get(const char *host_path, const char *ctl_path,
                        DcdActivation *a, GError **errp);
void dcd_activation_clear(DcdActivation *a);
/* READY=1 with a status line, then STATUS updates. */
void dcd_notify_ready(const char *status);
void dcd_notify_stopping(void);

#endif
