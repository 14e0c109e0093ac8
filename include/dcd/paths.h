/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * paths.h - where the broker's sockets and state live by default.
 *
 * Owns: the runtime dir ($DCD_RUNTIME_DIR, else /run/dcd-broker for root,
 * else $XDG_RUNTIME_DIR/dcd-broker) and the state dir ($DCD_STATE_DIR,
 * else /var/lib/dcd-broker for root, else $XDG_STATE_HOME/dcd-broker).
 */
#ifndef DCD_PATHS_H
#define DCD_PATHS_H

#include <glib.h>

char *dcd_default_runtime_dir(void);
char *dcd_default_host_socket(void);
char *dcd_default_control_socket(void);
char *dcd_default_state_dir(void);

#endif
