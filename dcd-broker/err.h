/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * err.h - private to the broker library: the one way it makes a
 * DCD_ERROR.
 */
#ifndef DCD_BROKER_ERR_H
#define DCD_BROKER_ERR_H

#include "dcd/types.h"

#define ERR(errp, code, ...) g_set_error(errp, DCD_ERROR, code, __VA_ARGS__)

#endif
