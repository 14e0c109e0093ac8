/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal.c - the store as checksummed JSON lines.  Each line is
 * "<16 hex> <json>\n", the hex being the start of the SHA-256 of the JSON
 * text, so a torn append or a flipped bit is caught on load rather than
 * believed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dcd/json.h"
#include "core/journal.h"

#define SUM_HEX 16
#define COMPACT_MIN_LINES 4096

typedef struct DcdJournal {
    DcdStore base;
    char *dir;
    char *journal_path;
    char *snapshot_path;
    int lock_fd;
    int journal_fd;
    unsigned journal_lines;
    off_t journal_size;  /* the end of the last whole record */
    bool unsynced;
    GString *snapshot;   /* non-NULL between rewrite_begin and commit */
    GString *batch;      /* records queued for dcd_store_commit() */
    unsigned batch_lines;
    bool torn;           /* a failed append is still on the journal's end */
    DcdStoreCounts counts;       /* commits and snapshots written */
    DcdJournalWriteFn write_fn;  /* tests: writes that fail */
    gpointer write_opaque;

    /*
     * fdatasync runs on its own thread: on the main loop it would delay
     * the very host replies the broker is waiting for.  lock guards the
     * flags only, so asking for a sync never waits for one; fd_lock keeps
     * a rewrite's truncate away from a sync in progress.
     */
    GThread *syncer;
    GMutex lock;
    GMutex fd_lock;
    GCond wake;
    bool want_sync;
    bool stop;
} DcdJournal;

/* "<sum> {"op":OP,"key":KEY,<the record's members>}\n" */
static char *line_for(const char *op, const char *key, const char *json)
{
    g_autoptr(GString) text = g_string_new("{\"op\":\"");
    g_autofree char *sum = NULL;

    g_string_append(text, op);
    g_string_append(text, "\",\"key\":\"");
    g_string_append(text, key);
    g_string_append_c(text, '"');
    /* The record's own members follow, if it has any. */
    if (json && json[0] == '{' && json[1] != '}') {
        g_string_append_c(text, ',');
        g_string_append(text, json + 1);
    } else {
        g_string_append_c(text, '}');
    }
    sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, text->str,
                                        text->len);
    return g_strdup_printf("%.*s %s\n", SUM_HEX, sum, text->str);
}

/* False with errno set; a short write that makes no progress is ENOSPC. */
static bool write_all(DcdJournal *s, int fd, const char *buf, size_t len)
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

static void emit(DcdJournal *s, const char *op, const char *key,
                 const char *json)
{
    g_autofree char *line = line_for(op, key, json);

    if (s->snapshot) {
        g_string_append(s->snapshot, line);
        return;
    }
    g_string_append(s->batch, line);
    s->batch_lines++;
}

static void journal_put(DcdStore *base, const char *key, const char *json)
{
    emit((DcdJournal *)base, "put", key, json);
}

static void journal_del(DcdStore *base, const char *key)
{
    emit((DcdJournal *)base, "del", key, NULL);
}

static void set_write_error(DcdJournal *s, const char *what, int err,
                            GError **errp)
{
    g_set_error(errp, DCD_ERROR, err == ENOSPC || err == EDQUOT ?
                DCD_ERR_NOSPC : DCD_ERR_IO, "cannot save the change (%s %s:"
                " %s); nothing was changed", what, s->dir, g_strerror(err));
}

static void journal_discard(DcdStore *base);

static bool journal_commit(DcdStore *base, GError **errp)
{
    DcdJournal *s = (DcdJournal *)base;
    bool ok;
    int err = 0;

    if (!s->batch->len) {
        return true;
    }
    s->counts.requests++;
    g_mutex_lock(&s->fd_lock);
    if (s->torn && ftruncate(s->journal_fd, s->journal_size) < 0) {
        err = errno;
        g_mutex_unlock(&s->fd_lock);
        s->counts.errors++;
        set_write_error(s, "trimming the journal in", err, errp);
        journal_discard(base);
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
        s->counts.errors++;
        set_write_error(s, "appending to the journal in", err, errp);
    } else {
        s->journal_size += s->batch->len;
        s->journal_lines += s->batch_lines;
        s->unsynced = true;
    }
    journal_discard(base);
    return ok;
}

static void journal_discard(DcdStore *base)
{
    DcdJournal *s = (DcdJournal *)base;

    g_string_truncate(s->batch, 0);
    s->batch_lines = 0;
}

void dcd_journal_set_write_fn(DcdStore *base, DcdJournalWriteFn fn,
                              gpointer opaque)
{
    DcdJournal *s = (DcdJournal *)base;

    s->write_fn = fn;
    s->write_opaque = opaque;
}

static gpointer syncer_main(gpointer opaque)
{
    DcdJournal *s = opaque;

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

static const DcdStoreOps journal_ops;
static void journal_close(DcdStore *base);

DcdStore *dcd_journal_open(const char *dir, GError **errp)
{
    DcdJournal *s = g_new0(DcdJournal, 1);
    g_autofree char *lock = g_build_filename(dir, "lock", NULL);

    s->base.ops = &journal_ops;
    s->base.where = g_strdup(dir);
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
    return &s->base;

fail:
    g_free(s->base.where);
    journal_close(&s->base);
    return NULL;
}

/* dcd_store_close() has freed base.where. */
static void journal_close(DcdStore *base)
{
    DcdJournal *s = (DcdJournal *)base;

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

static GHashTable *journal_load(DcdStore *base, unsigned *dropped,
                                GError **errp)
{
    DcdJournal *s = (DcdJournal *)base;
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

static bool journal_wants_rewrite(const DcdStore *base,
                                  unsigned live_records)
{
    const DcdJournal *s = (const DcdJournal *)base;

    return s->journal_lines > MAX(COMPACT_MIN_LINES, 2 * live_records);
}

/* The rewrite is a snapshot: the puts go to it, not to the journal. */
static void journal_rewrite_begin(DcdStore *base)
{
    DcdJournal *s = (DcdJournal *)base;

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

static bool journal_rewrite_commit(DcdStore *base, GError **errp)
{
    DcdJournal *s = (DcdJournal *)base;
    g_autofree char *tmp = g_strconcat(s->snapshot_path, ".tmp", NULL);
    g_autoptr(GString) snap = s->snapshot;
    int fd;
    bool ok;

    s->snapshot = NULL;
    s->counts.requests++;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        s->counts.errors++;
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "%s: %s", tmp,
                    g_strerror(errno));
        return false;
    }
    ok = write_all(s, fd, snap->str, snap->len) && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, s->snapshot_path) < 0) {
        s->counts.errors++;
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

static void journal_sync(DcdStore *base)
{
    DcdJournal *s = (DcdJournal *)base;

    if (s->unsynced && s->syncer) {
        g_mutex_lock(&s->lock);
        s->want_sync = true;
        g_cond_signal(&s->wake);
        g_mutex_unlock(&s->lock);
        s->unsynced = false;
    }
}

static bool journal_available(const DcdStore *base)
{
    return true;
}

static void journal_counts(const DcdStore *base, DcdStoreCounts *c)
{
    *c = ((const DcdJournal *)base)->counts;
}

static const DcdStoreOps journal_ops = {
    .name = "journal",
    .load = journal_load,
    .put = journal_put,
    .del = journal_del,
    .commit = journal_commit,
    .discard = journal_discard,
    .wants_rewrite = journal_wants_rewrite,
    .rewrite_begin = journal_rewrite_begin,
    .rewrite_commit = journal_rewrite_commit,
    .sync = journal_sync,
    .available = journal_available,
    .counts = journal_counts,
    .close = journal_close,
};
