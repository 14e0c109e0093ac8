/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store.c - checksummed JSON lines.  Each line is "<16 hex> <json>\n", the
 * hex being the start of the SHA-256 of the JSON text, so a torn append or
 * a flipped bit is caught on load rather than believed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dcd/json.h"
#include "core/store.h"

#define SUM_HEX 16
#define COMPACT_MIN_LINES 4096

struct DcdStore {
    char *dir;
    char *journal_path;
    char *snapshot_path;
    int lock_fd;
    int journal_fd;
    unsigned journal_lines;
    off_t journal_size;  /* the end of the last whole record */
    bool unsynced;
    GString *snapshot;   /* non-NULL between compact_begin and commit */
    GString *batch;      /* records queued for dcd_store_commit() */
    unsigned batch_lines;
    bool torn;           /* a failed append is still on the journal's end */
    DcdStoreWriteFn write_fn;  /* tests: writes that fail */
    gpointer write_opaque;

    /*
     * fdatasync runs on its own thread: on the main loop it would delay
     * the very host replies the broker is waiting for.  lock guards the
     * flags only, so asking for a sync never waits for one; fd_lock keeps
     * compaction's truncate away from a sync in progress.
     */
    GThread *syncer;
    GMutex lock;
    GMutex fd_lock;
    GCond wake;
    bool want_sync;
    bool stop;
};

static char *line_for(JsonNode *node)
{
    g_autofree char *json = json_to_string(node, FALSE);
    g_autofree char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256,
                                                         json, -1);

    return g_strdup_printf("%.*s %s\n", SUM_HEX, sum, json);
}

/* False with errno set; a short write that makes no progress is ENOSPC. */
static bool write_all(DcdStore *s, int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = s->write_fn ? s->write_fn(fd, buf, len, s->write_opaque)
                                : write(fd, buf, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0) {
                errno = ENOSPC;
            }
            return false;
        }
        buf += n;
        len -= n;
    }
    return true;
}

static void emit(DcdStore *s, JsonBuilder *jb)
{
    g_autoptr(JsonNode) node = json_builder_get_root(jb);
    g_autofree char *line = line_for(node);

    if (s->snapshot) {
        g_string_append(s->snapshot, line);
        return;
    }
    g_string_append(s->batch, line);
    s->batch_lines++;
}

static void set_write_error(DcdStore *s, const char *what, int err,
                            GError **errp)
{
    g_set_error(errp, DCD_ERROR, err == ENOSPC || err == EDQUOT ?
                DCD_ERR_NOSPC : DCD_ERR_IO, "cannot save the change (%s %s:"
                " %s); nothing was changed", what, s->dir, g_strerror(err));
}

bool dcd_store_commit(DcdStore *s, GError **errp)
{
    bool ok;
    int err = 0;

    if (!s->batch->len) {
        return true;
    }
    g_mutex_lock(&s->fd_lock);
    if (s->torn && ftruncate(s->journal_fd, s->journal_size) < 0) {
        err = errno;
        g_mutex_unlock(&s->fd_lock);
        set_write_error(s, "trimming the journal in", err, errp);
        dcd_store_discard(s);
        return false;
    }
    s->torn = false;
    ok = write_all(s, s->journal_fd, s->batch->str, s->batch->len);
    if (!ok) {
        err = errno;
        /*
         * Cut off the part that made it, or a later record would follow
         * a torn one and be lost on load; if even that fails, the next
         * commit tries again before it appends.
         */
        s->torn = ftruncate(s->journal_fd, s->journal_size) < 0;
    }
    g_mutex_unlock(&s->fd_lock);
    if (!ok) {
        set_write_error(s, "appending to the journal in", err, errp);
    } else {
        s->journal_size += s->batch->len;
        s->journal_lines += s->batch_lines;
        s->unsynced = true;
    }
    dcd_store_discard(s);
    return ok;
}

void dcd_store_discard(DcdStore *s)
{
    g_string_truncate(s->batch, 0);
    s->batch_lines = 0;
}

void dcd_store_set_write_fn(DcdStore *s, DcdStoreWriteFn fn, gpointer opaque)
{
    s->write_fn = fn;
    s->write_opaque = opaque;
}

static JsonBuilder *record(const char *op, const char *key)
{
    JsonBuilder *jb = json_builder_new();

    json_builder_begin_object(jb);
    json_builder_set_member_name(jb, "op");
    json_builder_add_string_value(jb, op);
    json_builder_set_member_name(jb, "key");
    json_builder_add_string_value(jb, key);
    return jb;
}

static void finish(DcdStore *s, JsonBuilder *jb)
{
    json_builder_end_object(jb);
    emit(s, jb);
    g_object_unref(jb);
}

static char *extent_key(const DcdHost *h, const DcdExtent *e)
{
    return g_strdup_printf("extent:%u:%" G_GUINT64_FORMAT, h->id, e->dpa);
}

void dcd_store_put_meta(DcdStore *s, const uint8_t id[16], uint64_t epoch)
{
    JsonBuilder *jb = record("put", "meta");
    char tag[DCD_TAG_STR_LEN];

    dcd_tag_unparse((const DcdTag *)id, tag);
    dcd_json_str(jb, "id", tag);
    dcd_json_int(jb, "epoch", epoch);
    finish(s, jb);
}

void dcd_store_put_pool(DcdStore *s, const DcdPool *p)
{
    g_autofree char *key = g_strconcat("pool:", p->tag_str, NULL);
    JsonBuilder *jb = record("put", key);

    dcd_json_str(jb, "tag", p->tag_str);
    dcd_json_int(jb, "size", p->size);
    dcd_json_str(jb, "backing", dcd_backing_name(p->backing));
    if (p->path) {
        dcd_json_str(jb, "path", p->path);
    }
    json_builder_set_member_name(jb, "segments");
    json_builder_begin_array(jb);
    for (unsigned i = 0; i < dcd_pool_nsegments(p); i++) {
        json_builder_add_int_value(jb, dcd_pool_segment(p, i)->len);
    }
    json_builder_end_array(jb);
    if (p->requesters) {
        dcd_json_u16s(jb, "requesters", p->requesters);
    }
    finish(s, jb);
}

void dcd_store_del_pool(DcdStore *s, const DcdPool *p)
{
    g_autofree char *key = g_strconcat("pool:", p->tag_str, NULL);

    finish(s, record("del", key));
}

void dcd_store_put_host(DcdStore *s, const DcdHost *h)
{
    g_autofree char *key = g_strdup_printf("host:%u", h->id);
    JsonBuilder *jb = record("put", key);

    dcd_json_int(jb, "host-id", h->id);
    dcd_json_str(jb, "name", h->name);
    json_builder_set_member_name(jb, "regions");
    json_builder_begin_array(jb);
    for (unsigned i = 0; i < h->nregions; i++) {
        const DcdSpace *r = &h->regions[i];

        json_builder_begin_object(jb);
        dcd_json_int(jb, "base", r->base);
        dcd_json_int(jb, "len", r->len);
        dcd_json_int(jb, "block-size", r->block);
        dcd_json_bool(jb, "sharable", r->sharable);
        json_builder_end_object(jb);
    }
    json_builder_end_array(jb);
    finish(s, jb);
}

void dcd_store_put_extent(DcdStore *s, const DcdHost *h, const DcdExtent *e)
{
    g_autofree char *key = extent_key(h, e);
    JsonBuilder *jb = record("put", key);
    char tag[DCD_TAG_STR_LEN];

    dcd_tag_unparse(&e->tag, tag);
    dcd_json_int(jb, "host-id", h->id);
    dcd_json_int(jb, "dpa", e->dpa);
    dcd_json_int(jb, "len", e->len);
    dcd_json_int(jb, "region", e->region);
    dcd_json_str(jb, "tag", tag);
    dcd_json_int(jb, "shared-seq", e->seq);
    dcd_json_str(jb, "state", dcd_extent_state_name(e->state));
    finish(s, jb);
}

void dcd_store_del_extent(DcdStore *s, const DcdHost *h, const DcdExtent *e)
{
    g_autofree char *key = extent_key(h, e);

    finish(s, record("del", key));
}

/* ---- decoding: the records above, read back and checked -------------- */

/* A member that must be there, as an integer from 0 to max. */
static bool need_u64(JsonObject *o, const char *k, uint64_t max, uint64_t *v)
{
    return dcd_jsonin_u64(o, k, true, max, v, NULL);
}

bool dcd_store_decode_meta(JsonObject *o, uint8_t id[16], uint64_t *epoch)
{
    return dcd_jsonin_tag(o, "id", true, false, (DcdTag *)id, NULL) &&
           need_u64(o, "epoch", G_MAXINT64, epoch);
}

void dcd_saved_pool_clear(DcdSavedPool *p)
{
    g_clear_pointer(&p->path, g_free);
    g_clear_pointer(&p->segments, g_array_unref);
    g_clear_pointer(&p->requesters, g_array_unref);
}

bool dcd_store_decode_pool(JsonObject *o, DcdSavedPool *out, GError **errp)
{
    const char *backing = "", *path = NULL;
    JsonArray *segs = NULL;
    guint n;

    memset(out, 0, sizeof(*out));
    if (!dcd_jsonin_tag(o, "tag", true, false, &out->tag, errp) ||
        !dcd_jsonin_u64(o, "size", true, DCD_MAX_DPA, &out->size, errp) ||
        !dcd_jsonin_str(o, "backing", true, &backing, errp) ||
        !dcd_jsonin_str(o, "path", false, &path, errp) ||
        !dcd_jsonin_array(o, "segments", true, &segs, errp) ||
        !dcd_jsonin_host_ids(o, "requesters", &out->requesters, errp)) {
        return false;
    }
    if (!dcd_backing_parse(backing, &out->backing) || out->size == 0 ||
        (n = json_array_get_length(segs)) > DCD_MAX_RANGES) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "bad backing, size or"
                    " segment count");
        dcd_saved_pool_clear(out);
        return false;
    }
    out->segments = g_array_sized_new(FALSE, FALSE, sizeof(uint64_t), n);
    for (guint i = 0; i < n; i++) {
        uint64_t len;

        if (!dcd_jsonin_u64_at(segs, i, DCD_MAX_DPA, &len)) {
            g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "segment %u", i);
            dcd_saved_pool_clear(out);
            return false;
        }
        g_array_append_val(out->segments, len);
    }
    out->path = g_strdup(path);
    return true;
}

bool dcd_store_decode_host(JsonObject *o, DcdSavedHost *out, GError **errp)
{
    JsonArray *regions = NULL;
    const char *name = "";
    uint64_t id;

    memset(out, 0, sizeof(*out));
    if (!need_u64(o, "host-id", G_MAXUINT16, &id) ||
        !dcd_jsonin_str(o, "name", false, &name, NULL) ||
        strlen(name) > DCD_NAME_LEN ||
        !dcd_jsonin_array(o, "regions", true, &regions, NULL) ||
        (out->nregions = json_array_get_length(regions)) > DCD_MAX_REGIONS) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "malformed host record");
        return false;
    }
    out->id = id;
    g_strlcpy(out->name, name, sizeof(out->name));
    for (guint i = 0; i < out->nregions; i++) {
        JsonObject *ro = dcd_jsonin_object_at(regions, i);
        struct dcd_region *r = &out->regions[i];
        bool sharable = false;

        if (!ro || !need_u64(ro, "base", G_MAXINT64, &r->base) ||
            !need_u64(ro, "len", G_MAXINT64, &r->len) ||
            !need_u64(ro, "block-size", G_MAXINT64, &r->block_size) ||
            !dcd_jsonin_bool(ro, "sharable", &sharable, NULL)) {
            g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "host %u: region %u"
                        " is malformed", out->id, i);
            return false;
        }
        r->flags = sharable ? DCD_REGION_SHARABLE : 0;
    }
    /* HELLO's own check: what a host was allowed to say reloads. */
    if (!dcd_regions_check(out->regions, out->nregions, errp)) {
        g_prefix_error(errp, "host %u: ", out->id);
        return false;
    }
    return true;
}

bool dcd_store_decode_extent(JsonObject *o, DcdSavedExtent *out)
{
    uint64_t id, region, seq;
    const char *state = "";

    memset(out, 0, sizeof(*out));
    if (!need_u64(o, "host-id", G_MAXUINT16, &id) ||
        !need_u64(o, "dpa", DCD_MAX_DPA, &out->dpa) ||
        !need_u64(o, "len", DCD_MAX_DPA, &out->len) ||
        !need_u64(o, "region", DCD_MAX_REGIONS - 1, &region) ||
        !need_u64(o, "shared-seq", G_MAXUINT16, &seq) ||
        !dcd_jsonin_tag(o, "tag", true, false, &out->tag, NULL) ||
        !dcd_jsonin_str(o, "state", true, &state, NULL) ||
        !dcd_extent_state_parse(state, &out->state) ||
        (out->state != DCD_EXTENT_PENDING &&
         out->state != DCD_EXTENT_ACCEPTED &&
         out->state != DCD_EXTENT_RELEASING &&
         out->state != DCD_EXTENT_REVOKING)) {
        return false;
    }
    out->host_id = id;
    out->region = region;
    out->seq = seq;
    return true;
}

static gpointer syncer_main(gpointer opaque)
{
    DcdStore *s = opaque;

    g_mutex_lock(&s->lock);
    for (;;) {
        while (!s->want_sync && !s->stop) {
            g_cond_wait(&s->wake, &s->lock);
        }
        if (!s->want_sync) {
            break;
        }
        s->want_sync = false;
        g_mutex_unlock(&s->lock);
        g_mutex_lock(&s->fd_lock);
        fdatasync(s->journal_fd);
        g_mutex_unlock(&s->fd_lock);
        g_mutex_lock(&s->lock);
    }
    g_mutex_unlock(&s->lock);
    return NULL;
}

DcdStore *dcd_store_open(const char *dir, GError **errp)
{
    DcdStore *s = g_new0(DcdStore, 1);
    g_autofree char *lock = g_build_filename(dir, "lock", NULL);

    s->lock_fd = s->journal_fd = -1;
    g_mutex_init(&s->lock);
    g_mutex_init(&s->fd_lock);
    g_cond_init(&s->wake);
    s->dir = g_strdup(dir);
    s->journal_path = g_build_filename(dir, "journal", NULL);
    s->snapshot_path = g_build_filename(dir, "snapshot", NULL);
    s->batch = g_string_new(NULL);
    if (g_mkdir_with_parents(dir, 0700) < 0) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "creating state dir %s: %s",
                    dir, g_strerror(errno));
        goto fail;
    }
    s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        g_set_error(errp, DCD_ERROR, errno == EWOULDBLOCK ? DCD_ERR_BUSY :
                    DCD_ERR_IO, "state dir %s: %s", dir,
                    errno == EWOULDBLOCK ? "in use by another dcd-broker" :
                    g_strerror(errno));
        goto fail;
    }
    return s;

fail:
    dcd_store_close(s);
    return NULL;
}

void dcd_store_close(DcdStore *s)
{
    if (!s) {
        return;
    }
    if (s->syncer) {
        g_mutex_lock(&s->lock);
        s->want_sync = s->unsynced;
        s->stop = true;
        g_cond_signal(&s->wake);
        g_mutex_unlock(&s->lock);
        g_thread_join(s->syncer);
    }
    if (s->journal_fd >= 0) {
        close(s->journal_fd);
    }
    if (s->lock_fd >= 0) {
        close(s->lock_fd);
    }
    if (s->snapshot) {
        g_string_free(s->snapshot, TRUE);
    }
    g_string_free(s->batch, TRUE);
    g_mutex_clear(&s->lock);
    g_mutex_clear(&s->fd_lock);
    g_cond_clear(&s->wake);
    g_free(s->dir);
    g_free(s->journal_path);
    g_free(s->snapshot_path);
    g_free(s);
}

/* A line's JSON object if its checksum holds, else NULL. */
static JsonObject *parse_line(const char *line, size_t len)
{
    g_autofree char *sum = NULL;

    if (len < SUM_HEX + 2 || line[SUM_HEX] != ' ') {
        return NULL;
    }
    sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256,
                                      (const guchar *)line + SUM_HEX + 1,
                                      len - SUM_HEX - 1);
    if (strncmp(sum, line, SUM_HEX) != 0) {
        return NULL;
    }
    /* Saved state is read like peer input: too deep is corrupt too. */
    return dcd_jsonin_object(line + SUM_HEX + 1, len - SUM_HEX - 1, NULL);
}

/* Keep the last put of each key as text: parsed trees cost ~10x more. */
static void apply(GHashTable *all, JsonObject *rec, const char *json,
                  size_t len)
{
    const char *op = "", *key = NULL;

    if (!dcd_jsonin_str(rec, "op", true, &op, NULL) ||
        !dcd_jsonin_str(rec, "key", true, &key, NULL)) {
        return;
    }
    if (g_str_equal(op, "put")) {
        g_hash_table_replace(all, g_strdup(key), g_strndup(json, len));
    } else if (g_str_equal(op, "del")) {
        g_hash_table_remove(all, key);
    }
}

/*
 * Replay one file.  In the journal, stop at the first bad line and report
 * the length of the good prefix (*good) so the tail can be cut off.
 */
static bool replay(const char *path, GHashTable *all, bool stop_at_bad,
                   unsigned *lines, unsigned *dropped, size_t *good,
                   GError **errp)
{
    g_autofree char *data = NULL;
    g_autoptr(GError) err = NULL;
    size_t len = 0, pos = 0;

    *good = 0;
    if (!g_file_get_contents(path, &data, &len, &err)) {
        /* Only a missing file means "nothing saved": starting empty over
         * a file we merely cannot read would overwrite it. */
        if (g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            return true;
        }
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "cannot read saved state:"
                    " %s; fix or move it, the broker will not start over it",
                    err->message);
        return false;
    }
    while (pos < len) {
        char *nl = memchr(data + pos, '\n', len - pos);
        JsonObject *rec;

        if (!nl) {
            (*dropped)++; /* torn last line */
            break;
        }
        rec = parse_line(data + pos, nl - (data + pos));
        if (!rec) {
            (*dropped)++;
            if (stop_at_bad) {
                break;
            }
        } else {
            apply(all, rec, data + pos + SUM_HEX + 1,
                  nl - (data + pos) - SUM_HEX - 1);
            json_object_unref(rec);
            (*lines)++;
        }
        pos = nl + 1 - data;
    }
    *good = pos;
    return true;
}

GHashTable *dcd_store_load(DcdStore *s, unsigned *dropped, GError **errp)
{
    GHashTable *all = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                            g_free);
    unsigned snap_lines = 0;
    size_t good;

    *dropped = 0;
    s->journal_lines = 0;
    if (!replay(s->snapshot_path, all, false, &snap_lines, dropped, &good,
                errp) ||
        !replay(s->journal_path, all, true, &s->journal_lines, dropped,
                &good, errp)) {
        g_hash_table_unref(all);
        return NULL;
    }

    s->journal_fd = open(s->journal_path,
                         O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (s->journal_fd < 0) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "opening %s: %s",
                    s->journal_path, g_strerror(errno));
        g_hash_table_unref(all);
        return NULL;
    }
    /* New records must not follow a torn line, or they'd be lost too. */
    s->journal_size = good;
    if (ftruncate(s->journal_fd, good) < 0) {
        g_warning("trimming %s: %s", s->journal_path, g_strerror(errno));
        s->torn = true;
    }
    s->syncer = g_thread_new("dcd-store-sync", syncer_main, s);
    return all;
}

JsonObject *dcd_store_parse_record(const char *json)
{
    return dcd_jsonin_object(json, -1, NULL);
}

bool dcd_store_wants_compact(const DcdStore *s, unsigned live_records)
{
    return s->journal_lines > MAX(COMPACT_MIN_LINES, 2 * live_records);
}

void dcd_store_compact_begin(DcdStore *s)
{
    g_return_if_fail(!s->snapshot);
    s->snapshot = g_string_new(NULL);
}

static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

bool dcd_store_compact_commit(DcdStore *s, GError **errp)
{
    g_autofree char *tmp = g_strconcat(s->snapshot_path, ".tmp", NULL);
    g_autoptr(GString) snap = s->snapshot;
    int fd;
    bool ok;

    s->snapshot = NULL;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "%s: %s", tmp,
                    g_strerror(errno));
        return false;
    }
    ok = write_all(s, fd, snap->str, snap->len) && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, s->snapshot_path) < 0) {
        set_write_error(s, "writing a snapshot in", errno, errp);
        unlink(tmp);
        return false;
    }
    sync_dir(s->dir);
    /* The snapshot holds everything the journal said; start it afresh. */
    g_mutex_lock(&s->fd_lock);
    if (ftruncate(s->journal_fd, 0) == 0) {
        s->journal_lines = 0;
        s->journal_size = 0;
        s->torn = false;
        fsync(s->journal_fd);
    }
    g_mutex_unlock(&s->fd_lock);
    s->unsynced = false;
    return true;
}

void dcd_store_sync(DcdStore *s)
{
    if (s && s->unsynced && s->syncer) {
        g_mutex_lock(&s->lock);
        s->want_sync = true;
        g_cond_signal(&s->wake);
        g_mutex_unlock(&s->lock);
        s->unsynced = false;
    }
}
