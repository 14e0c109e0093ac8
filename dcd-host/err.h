/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * err.h - private to libdcdhost and its backends: the one way they make
 * a DCD_HOST_ERROR.
 */
#ifndef DCD_HOST_ERR_H
#define DCD_HOST_ERR_H

#include "dcd-host/io.h"

#define ERR(errp, code, ...) \
    g_set_error(errp, DCD_HOST_ERROR, code, __VA_ARGS__)

#endif
