/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * replay.c - main() for a fuzz target built without libFuzzer: runs
 * LLVMFuzzerTestOneInput() once on every file named on the command line,
 * and on every file of every directory named (sorted by name), printing
 * TAP.  A target aborts on a broken invariant, a sanitizer on a memory
 * error, so a passing run means no input of the corpus trips either.
 *
 *   fuzz-proto-replay fuzz/corpus/fuzz-proto [more files or dirs...]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* Optional in a target, as with libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static gint compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files to run, in order: named files as given, directories sorted. */
static void collect(const char *path, GPtrArray *out)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) err = NULL;
    g_autoptr(GDir) d = NULL;
    const char *name;

    if (!g_file_test(path, G_FILE_TEST_IS_DIR)) {
        g_ptr_array_add(out, g_strdup(path));
        return;
    }
    d = g_dir_open(path, 0, &err);
    if (!d) {
        fprintf(stderr, "replay: %s\n", err->message);
        exit(2);
    }
    while ((name = g_dir_read_name(d))) {
        if (name[0] != '.') {
            g_ptr_array_add(names, g_strdup(name));
        }
    }
    g_ptr_array_sort(names, compare_names);
    for (guint i = 0; i < names->len; i++) {
        g_autofree char *p = g_build_filename(path, names->pdata[i], NULL);

        if (!g_file_test(p, G_FILE_TEST_IS_DIR)) {
            g_ptr_array_add(out, g_steal_pointer(&p));
        }
    }
}

int main(int argc, char **argv)
{
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
    gint64 start = g_get_monotonic_time();

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n"
                "Runs the fuzz target on each input once.\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize) {
        LLVMFuzzerInitialize(&argc, &argv);
    }
    for (int i = 1; i < argc; i++) {
        collect(argv[i], files);
    }
    /* An empty corpus would pass while testing nothing. */
    if (files->len == 0) {
        printf("1..0 # no inputs\nBail out! no inputs in the corpus\n");
        return 1;
    }
    printf("1..%u\n", files->len);
    for (guint i = 0; i < files->len; i++) {
        const char *path = files->pdata[i];
        g_autofree char *data = NULL;
        g_autoptr(GError) err = NULL;
        gsize len;

        if (!g_file_get_contents(path, &data, &len, &err)) {
            printf("not ok %u - %s: %s\n", i + 1, path, err->message);
            return 1;
        }
        /* Named before the run, so a crash shows which input it was. */
        printf("# %s (%zu bytes)\n", path, (size_t)len);
        fflush(stdout);
        LLVMFuzzerTestOneInput((const uint8_t *)data, len);
        printf("ok %u - %s\n", i + 1, path);
    }
    printf("# %u passed, 0 failed, %.2f s\n", files->len,
           (g_get_monotonic_time() - start) / 1e6);
    return 0;
}
