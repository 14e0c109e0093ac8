/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz-acpi - the platform from ACPI tables (dcd-host/acpi.c), as a
 * guest driver reads them from /sys/firmware/acpi/tables.
 *
 * Input: a 2-byte little-endian length n, then n bytes of CEDT, then the
 * rest as MCFG.  Checked when the tables are taken: every window has 1
 * to 16 ways, each with a target, and the counts fit the platform.
 */
#include <string.h>

#include "dcd-host/platform.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init_logging();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    DcdPlatform p;
    size_t n;

    if (size < 2) {
        return 0;
    }
    n = MIN((size_t)(data[0] | data[1] << 8), size - 2);
    if (!dcd_platform_from_acpi(&p, data + 2, n, data + 2 + n,
                                size - 2 - n, NULL)) {
        return 0;
    }
    FUZZ_CHECK(p.n_chbs >= 1 && p.n_chbs <= DCD_MAX_CHBS, "%u host bridges",
               p.n_chbs);
    FUZZ_CHECK(p.n_windows >= 1 && p.n_windows <= DCD_MAX_WINDOWS,
               "%u windows", p.n_windows);
    for (unsigned i = 0; i < p.n_windows; i++) {
        FUZZ_CHECK(p.windows[i].ways >= 1 &&
                   p.windows[i].ways <= DCD_MAX_WAYS, "%u ways",
                   p.windows[i].ways);
        for (unsigned j = 0; j < p.windows[i].ways; j++) {
            FUZZ_CHECK(p.windows[i].targets[j] != NULL, "no target %u", j);
        }
    }
    dcd_platform_clear(&p);
    return 0;
}
