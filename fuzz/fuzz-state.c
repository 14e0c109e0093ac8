/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz-state - the saved-state loader: store.c's checksummed JSON lines
 * (snapshot, then journal) and broker.c's restoring of pools, hosts and
 * extents from them, then the snapshot the broker writes of what it kept.
 *
 * Input: text.  A line that is exactly "%%" splits it into the snapshot
 * (before) and the journal (after); without one there is no journal
 * file, and an empty part writes no file.  Each line is one record,
 * written as the store writes it, "<checksum> <json>", the checksum made
 * here so that mutations reach the JSON rather than die on the sum; a
 * line starting with '!' is written as it is, without the '!' (a record
 * with its own, maybe wrong, checksum).  The last line may lack its
 * newline (a torn append).
 *
 * A pool record's "path" is never used as given: loading a file pool
 * opens its path read-write, and a fuzzer must not open arbitrary files
 * (a FIFO, a device).  A string path becomes the same-named file in a
 * private pool dir, which holds files for tags 0 and 1 (fuzz.h) and a
 * short "short.pool".
 *
 * The broker is started on that state dir and freed; then started and
 * freed again on what it saved.  The two snapshots it wrote must be the
 * same but for the meta record (its epoch counts starts): what the broker
 * saves, it must restore.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "core/broker.h"
#include "fuzz.h"

#define SUM_HEX 16

static char *state_dir;
static char *pool_dir;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init_logging();
    state_dir = g_build_filename(fuzz_tmpdir(), "state", NULL);
    pool_dir = g_build_filename(fuzz_tmpdir(), "pools", NULL);
    return 0;
}

/* A file pool's path inside pool_dir, named after the given one. */
static char *safe_path(const char *path)
{
    const char *base = strrchr(path, '/');
    g_autoptr(GString) name = g_string_new(NULL);

    for (const char *c = base ? base + 1 : path; *c; c++) {
        if (g_ascii_isalnum(*c) || *c == '.' || *c == '-' || *c == '_') {
            g_string_append_c(name, *c);
        }
    }
    if (!name->len) {
        g_string_append_c(name, 'x');
    }
    return g_build_filename(pool_dir, name->str, NULL);
}

/* The JSON to save for one record line (its path made safe). */
static char *record_json(const char *line, size_t len)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(JsonGenerator) gen = NULL;
    g_autofree char *path = NULL;
    JsonNode *root, *pn;
    JsonObject *o;

    /* The loader parses these same bytes the same way. */
    if (!json_parser_load_from_data(parser, line, len, NULL) ||
        !(root = json_parser_get_root(parser)) ||
        !JSON_NODE_HOLDS_OBJECT(root) ||
        !(pn = json_object_get_member(json_node_get_object(root), "path")) ||
        json_node_get_value_type(pn) != G_TYPE_STRING) {
        return g_strndup(line, len);
    }
    o = json_node_get_object(root);
    path = safe_path(json_node_get_string(pn));
    json_object_set_string_member(o, "path", path);
    gen = json_generator_new();
    json_generator_set_root(gen, root);
    return json_generator_to_data(gen, NULL);
}

/* Write part of the input as a store file (see the header comment). */
static void write_records(const char *name, const char *p, size_t len)
{
    g_autofree char *path = g_build_filename(state_dir, name, NULL);
    g_autoptr(GString) out = g_string_new(NULL);

    if (!len) {
        return;
    }
    while (len) {
        const char *nl = memchr(p, '\n', len);
        size_t n = nl ? (size_t)(nl - p) : len;
        /* A NUL would end the line early for one reader, not another. */
        size_t cut = strnlen(p, n);

        if (cut && p[0] == '!') {
            g_string_append_len(out, p + 1, cut - 1);
        } else {
            g_autofree char *json = record_json(p, cut);
            g_autofree char *sum = g_compute_checksum_for_string(
                G_CHECKSUM_SHA256, json, -1);

            g_string_append_printf(out, "%.*s %s", SUM_HEX, sum, json);
        }
        if (nl) {
            g_string_append_c(out, '\n');
            n++;
        }
        p += n;
        len -= n;
    }
    FUZZ_CHECK(g_file_set_contents(path, out->str, out->len, NULL),
               "writing %s", path);
}

static void make_pool_file(const char *name, off_t size)
{
    g_autofree char *path = g_build_filename(pool_dir, name, NULL);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    FUZZ_CHECK(fd >= 0 && ftruncate(fd, size) == 0, "pool file %s", path);
    close(fd);
}

/* Start a broker on the state dir, free it, return its snapshot. */
static char *start_and_stop(void)
{
    g_autofree char *snap = g_build_filename(state_dir, "snapshot", NULL);
    DcdBrokerConfig cfg = { .state_dir = state_dir, .pool_dir = pool_dir };
    DcdBroker *b = dcd_broker_new(&cfg, NULL);
    char *text = NULL;

    if (!b) {
        return NULL;
    }
    dcd_broker_free(b);
    fuzz_pump(NULL, NULL);
    if (!g_file_get_contents(snap, &text, NULL, NULL)) {
        return NULL;
    }
    return text;
}

/* The snapshot's lines but the meta record, whose epoch moves on. */
static char *without_meta(const char *snap)
{
    g_auto(GStrv) lines = g_strsplit(snap, "\n", -1);
    g_autoptr(GString) out = g_string_new(NULL);

    for (unsigned i = 0; lines[i]; i++) {
        if (!strstr(lines[i], "\"key\":\"meta\"")) {
            g_string_append_printf(out, "%s\n", lines[i]);
        }
    }
    return g_string_free(g_steal_pointer(&out), FALSE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *sep = NULL;
    g_autofree char *first = NULL;
    g_autofree char *second = NULL;
    g_autofree char *a = NULL;
    g_autofree char *b = NULL;
    char tag[DCD_TAG_STR_LEN + 8];

    if (!state_dir) {
        LLVMFuzzerInitialize(NULL, NULL);
    }
    fuzz_clear_dir(fuzz_tmpdir());
    g_mkdir(state_dir, 0700);
    g_mkdir(pool_dir, 0700);
    for (unsigned i = 0; i < 2; i++) {
        g_snprintf(tag, sizeof(tag), "%s.pool", fuzz_tag_str[i]);
        make_pool_file(tag, (off_t)(i + 1) << 20);
    }
    make_pool_file("short.pool", 4096);

    /* The "%%" line, at the start or after a newline. */
    if (size >= 3 && !memcmp(text, "%%\n", 3)) {
        sep = text;
    } else {
        sep = memmem(text, size, "\n%%\n", 4);
        sep = sep ? sep + 1 : NULL;
    }
    if (sep) {
        g_autofree char *journal = g_build_filename(state_dir, "journal",
                                                    NULL);

        write_records("snapshot", text, sep - text);
        g_file_set_contents(journal, "", 0, NULL);
        write_records("journal", sep + 3, size - (sep + 3 - text));
    } else {
        write_records("snapshot", text, size);
    }

    first = start_and_stop();
    if (!first) {
        return 0;
    }
    second = start_and_stop();
    FUZZ_CHECK(second, "the broker cannot start on the state it saved");
    a = without_meta(first);
    b = without_meta(second);
    FUZZ_CHECK(g_str_equal(a, b), "restoring changed the saved state:\n"
               "first:\n%ssecond:\n%s", a, b);
    return 0;
}
