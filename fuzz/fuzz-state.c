/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz-state - the saved-state loader: journal.c's checksummed JSON lines
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
 * A line that is exactly "%%ops" ends the state; the bytes after it are
 * a program run on the loaded broker with two hosts on fake links, each
 * step an opcode byte and an argument byte.  The opcode's low 3 bits pick
 * the operation (pool create, destroy, add, answer an offer, release,
 * a host's release, host gone or back, file pool create); bits 4-5 how
 * the state dir takes writes while it runs: as normal, full (ENOSPC), or
 * half of each write then full.  A request the broker refuses must leave
 * its state as it was; after the program, a broker started on what was
 * saved has the same pools, and every extent the program's broker
 * counted as accepted or releasing (all it counted, unless its saved
 * state was left behind by a change it could not refuse).
 *
 * The broker is started on that state dir and freed; then started and
 * freed again on what it saved.  The two snapshots it wrote must be the
 * same but for the meta record (its epoch counts starts): what the broker
 * saves, it must restore.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "core/broker.h"
#include "core/journal.h"
#include "core/record.h"
#include "dcd/json.h"
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
    if (!dcd_json_check_depth(line, len, NULL) ||
        !json_parser_load_from_data(parser, line, len, NULL) ||
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

/* ---- a program of operations, with writes that fail --------------------- */

#define MB (1ull << 20)
#define PROGRAM_HOSTS 2

typedef enum { WRITE_OK, WRITE_FULL, WRITE_SHORT } WriteMode;

typedef struct Program {
    DcdBroker *b;
    DcdHost *host[PROGRAM_HOSTS];
    WriteMode mode;
    uint8_t next_tag;          /* tags are made, not random: replayable */
} Program;

static ssize_t program_write(int fd, const void *buf, size_t len,
                             gpointer opaque)
{
    Program *pg = opaque;

    if (pg->mode == WRITE_OK || (pg->mode == WRITE_SHORT && len > 1)) {
        return write(fd, buf, pg->mode == WRITE_OK ? len : len / 2);
    }
    errno = ENOSPC;
    return -1;
}

static bool link_pool(gpointer link, DcdPool *p)
{
    return true;
}

static bool link_offer(gpointer link, uint64_t group, GPtrArray *ext)
{
    return true;
}

static bool link_release(gpointer link, uint64_t id, bool forced,
                         GPtrArray *ext)
{
    return true;
}

static const DcdHostLinkOps program_ops = {
    link_pool, link_offer, link_release,
};

static void program_attach(Program *pg, unsigned i)
{
    struct dcd_region r = { .len = 64 * MB, .block_size = 2 * MB,
                            .flags = DCD_REGION_SHARABLE };
    DcdHelloArgs a = { .host_id = 100 + i, .name = "fuzz", .regions = &r,
                       .nregions = 1, .reconnect = true };

    pg->host[i] = dcd_broker_host_attach(pg->b, &a, &program_ops, pg, NULL);
}

static gint by_text(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What a broker counts: pools with layouts, extents with states. */
static char *describe(DcdBroker *b, bool held_only)
{
    g_autoptr(GPtrArray) pools = dcd_broker_pools(b);
    g_autoptr(GPtrArray) hosts = dcd_broker_hosts(b);
    g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GString) out = g_string_new(NULL);

    for (guint i = 0; i < pools->len; i++) {
        DcdPool *p = pools->pdata[i];
        GString *l = g_string_new(NULL);

        g_string_append_printf(l, "pool %s %" G_GUINT64_FORMAT, p->tag_str,
                               p->size);
        for (unsigned j = 0; !held_only && j < dcd_pool_nsegments(p); j++) {
            g_string_append_printf(l, " %" G_GUINT64_FORMAT,
                                   dcd_pool_segment(p, j)->len);
        }
        g_ptr_array_add(lines, g_string_free(l, FALSE));
    }
    for (guint i = 0; i < hosts->len; i++) {
        DcdHost *h = hosts->pdata[i];
        g_autoptr(GPtrArray) ext = dcd_host_extents_of(h, NULL);

        for (guint j = 0; j < ext->len; j++) {
            DcdExtent *e = ext->pdata[j];
            char tag[DCD_TAG_STR_LEN];

            if (held_only && e->state != DCD_EXTENT_ACCEPTED &&
                e->state != DCD_EXTENT_RELEASING) {
                continue;
            }
            dcd_tag_unparse(&e->tag, tag);
            g_ptr_array_add(lines, g_strdup_printf(
                "extent %u %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
                " %s %u %s", h->id, e->dpa, e->len, tag, e->seq,
                held_only ? "held" : dcd_extent_state_name(e->state)));
        }
    }
    g_ptr_array_sort(lines, by_text);
    for (guint i = 0; i < lines->len; i++) {
        g_string_append_printf(out, "%s\n", (char *)lines->pdata[i]);
    }
    return g_string_free(g_steal_pointer(&out), FALSE);
}

static gint by_tag(gconstpointer a, gconstpointer b)
{
    return strcmp((*(DcdPool *const *)a)->tag_str,
                  (*(DcdPool *const *)b)->tag_str);
}

/* In tag order, so a program picks the same pool every run. */
static DcdPool *pick_pool(DcdBroker *b, uint8_t arg)
{
    g_autoptr(GPtrArray) pools = dcd_broker_pools(b);

    g_ptr_array_sort(pools, by_tag);
    return pools->len ? pools->pdata[arg % pools->len] : NULL;
}

static DcdGroup *open_group(DcdHost *h)
{
    GHashTableIter it;
    gpointer g = NULL;

    g_hash_table_iter_init(&it, h->groups);
    return g_hash_table_iter_next(&it, NULL, &g) ? g : NULL;
}

/* One step; true if it was a request the broker refused. */
static bool program_step(Program *pg, uint8_t op, uint8_t arg)
{
    g_autoptr(GError) err = NULL;
    DcdHost *h = pg->host[arg & 1];
    DcdPool *p = pick_pool(pg->b, arg >> 1);

    switch (op & 7) {
    case 0:
    case 7: {
        DcdTag tag = { .b = { 0xf0, 0x22, [15] = ++pg->next_tag } };

        return !dcd_broker_pool_create(pg->b, &tag, (1 + arg % 4) * 2 * MB,
                                       (op & 7) ? DCD_BACKING_FILE :
                                       DCD_BACKING_MEMFD, NULL, &err);
    }
    case 1:
        return p && !dcd_broker_pool_destroy(pg->b, &p->tag, &err);
    case 2: {
        DcdAddArgs a = { .host_id = 100 + (arg & 1),
                         .policy = arg & 0x80 ? DCD_POLICY_ENABLE_SHARED :
                                                DCD_POLICY_FREE };

        if (!p || !h) {
            return false;
        }
        a.tag = p->tag;
        return !dcd_broker_extent_add(pg->b, &a, &err);
    }
    case 3: {
        DcdGroup *g = h ? open_group(h) : NULL;
        g_autoptr(GArray) r = g_array_new(FALSE, FALSE,
                                          sizeof(struct dcd_range));

        for (guint i = 0; g && !(arg & 2) && i < g->extents->len; i++) {
            DcdExtent *e = g->extents->pdata[i];
            struct dcd_range x = { .dpa = e->dpa, .len = e->len };

            g_array_append_val(r, x);
        }
        if (g) {
            dcd_broker_host_accept(pg->b, h, g->id,
                                   (struct dcd_range *)r->data, r->len,
                                   &err);
        }
        return false;
    }
    case 4: {
        DcdReleaseArgs a = { .host_id = 100 + (arg & 1),
                             .removal = DCD_REMOVAL_TAG,
                             .forced = arg & 2 };
        g_autoptr(GPtrArray) out = NULL;

        if (!p || !h) {
            return false;
        }
        a.tag = p->tag;
        out = dcd_broker_extent_release(pg->b, &a, &err);
        return !out;
    }
    case 5: {
        g_autoptr(GPtrArray) ext = h ? dcd_host_extents_of(h, NULL) : NULL;
        g_autoptr(GArray) r = g_array_new(FALSE, FALSE,
                                          sizeof(struct dcd_range));

        for (guint i = 0; ext && i < ext->len; i++) {
            DcdExtent *e = ext->pdata[i];
            struct dcd_range x = { .dpa = e->dpa, .len = e->len };

            if (e->state == DCD_EXTENT_RELEASING) {
                g_array_append_val(r, x);
            }
        }
        if (h && dcd_host_connected(h)) {
            dcd_broker_host_released(pg->b, h, (struct dcd_range *)r->data,
                                     r->len, &err);
        }
        return false;
    }
    default:
        if (h && dcd_host_connected(h)) {
            dcd_broker_host_detach(pg->b, h);
        } else {
            program_attach(pg, arg & 1);
        }
        return false;
    }
}

static void run_program(const uint8_t *prog, size_t len)
{
    DcdBrokerConfig cfg = { .state_dir = state_dir, .pool_dir = pool_dir };
    Program pg = { 0 };
    g_autofree char *held = NULL;
    g_autofree char *pools = NULL;
    g_autofree char *after = NULL;
    bool behind;

    pg.b = dcd_broker_new(&cfg, NULL);
    if (!pg.b) {
        return;
    }
    dcd_journal_set_write_fn(pg.b->store, program_write, &pg);
    for (unsigned i = 0; i < PROGRAM_HOSTS; i++) {
        program_attach(&pg, i);
    }
    /* At most 64 steps: each is cheap, but a pool is a memfd. */
    for (size_t i = 0; i + 1 < len && i < 128; i += 2) {
        g_autofree char *before = describe(pg.b, false);

        pg.mode = (prog[i] >> 4) & 3;
        if (pg.mode > WRITE_SHORT) {
            pg.mode = WRITE_OK;
        }
        if (program_step(&pg, prog[i], prog[i + 1])) {
            g_autofree char *now = describe(pg.b, false);

            FUZZ_CHECK(g_str_equal(before, now), "a refused request changed"
                       " the state:\nbefore:\n%safter:\n%s", before, now);
        }
        pg.mode = WRITE_OK;
    }
    held = describe(pg.b, true);
    behind = pg.b->store_behind;
    dcd_broker_free(pg.b);
    fuzz_pump(NULL, NULL);

    pg.b = dcd_broker_new(&cfg, NULL);
    FUZZ_CHECK(pg.b, "the broker cannot start on the state it saved");
    after = describe(pg.b, true);
    dcd_broker_free(pg.b);
    fuzz_pump(NULL, NULL);
    /* Lagging behind, the saved state may only hold more extents. */
    if (!behind) {
        FUZZ_CHECK(g_str_equal(held, after), "what the broker counted is not"
                   " what it saved:\ncounted:\n%ssaved:\n%s", held, after);
    } else {
        g_auto(GStrv) want = g_strsplit(held, "\n", -1);

        for (unsigned i = 0; want[i] && *want[i]; i++) {
            FUZZ_CHECK(strstr(after, want[i]), "counted but not saved: %s",
                       want[i]);
        }
    }
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
    const char *ops = NULL;
    g_autofree char *first = NULL;
    g_autofree char *second = NULL;
    g_autofree char *a = NULL;
    g_autofree char *b = NULL;
    const uint8_t *prog = NULL;
    size_t prog_len = 0;
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

    /* The "%%ops" line: what follows is a program. */
    if (size >= 6 && !memcmp(text, "%%ops\n", 6)) {
        ops = text;
    } else {
        ops = memmem(text, size, "\n%%ops\n", 7);
        ops = ops ? ops + 1 : NULL;
    }
    if (ops) {
        prog = (const uint8_t *)ops + 6;
        prog_len = size - (ops + 6 - text);
        size = ops - text;
    }
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

    if (prog) {
        run_program(prog, prog_len);
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
