/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * paths.c - default locations, so broker, dcdctl and hosts agree without
 * flags.
 */
#include <unistd.h>

#include "dcd/paths.h"

char *dcd_default_runtime_dir(void)
{
    const char *env = g_getenv("DCD_RUNTIME_DIR");

    if (env && *env) {
        return g_strdup(env);
    }
    if (geteuid() == 0) {
        return g_strdup("/run/dcd-broker");
    }
    return g_build_filename(g_get_user_runtime_dir(), "dcd-broker", NULL);
}

char *dcd_default_host_socket(void)
{
    g_autofree char *dir = dcd_default_runtime_dir();

    return g_build_filename(dir, "host.sock", NULL);
}

char *dcd_default_control_socket(void)
{
    g_autofree char *dir = dcd_default_runtime_dir();

    return g_build_filename(dir, "control.sock", NULL);
}

char *dcd_default_state_dir(void)
{
    const char *env = g_getenv("DCD_STATE_DIR");

    if (env && *env) {
        return g_strdup(env);
    }
    if (geteuid() == 0) {
        return g_strdup("/var/lib/dcd-broker");
    }
    return g_build_filename(g_get_user_state_dir(), "dcd-broker", NULL);
}
