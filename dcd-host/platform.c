/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * platform.c - the platform description every backend fills in.
 */
#include <string.h>

#include "dcd-host/platform.h"

void dcd_platform_clear(DcdPlatform *p)
{
    for (unsigned i = 0; i < p->n_windows; i++) {
        for (unsigned j = 0; j < p->windows[i].ways; j++) {
            g_free(p->windows[i].targets[j]);
        }
    }
    memset(p, 0, sizeof(*p));
}
