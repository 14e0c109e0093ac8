/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hostsim.c - dcd-hostsim: a simulated host driven from stdin.
 *
 * Owns: command-line options, the line protocol on stdin/stdout (one
 * command in, exactly one "ok ..." or "err CLASS TEXT" line out) and the
 * event log on stderr.  Everything about the host protocol lives in
 * hostclient.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gio/gunixinputstream.h>
#include <json-glib/json-glib.h>

#include "dcd-client/hostclient.h"
#include "dcd/paths.h"

#define DEFAULT_TIMEOUT_MS 10000

/* The stdin language; docs and man page say the same. */
#define COMMANDS_HELP \
"Commands (one per line; the answer is one line, \"ok [RESULT]\" or\n" \
"\"err CLASS TEXT\").  OFF, LEN and MS are decimal or 0x hex; a tag's\n" \
"offsets are logical (its extents end to end in shared_seq order):\n" \
"  wait-connected [MS]            wait until HELLO is answered\n" \
"  wait-extents TAG N [MS]        wait until N extents of TAG are accepted\n" \
"  wait-released TAG [MS]         wait until no extent of TAG is held\n" \
"  read TAG OFF LEN               bytes as hex\n" \
"  read-str TAG OFF LEN           bytes as text\n" \
"  write TAG OFF HEX              write bytes given as hex\n" \
"  write-str TAG OFF TEXT         write the rest of the line\n" \
"  fill TAG OFF LEN BYTE          set LEN bytes to BYTE\n" \
"  checksum TAG OFF LEN           SHA-256 of the bytes\n" \
"  extents                        held extents as JSON\n" \
"  pending                        groups waiting for accept/reject (JSON)\n" \
"  accept GROUP [DPA...]          accept all of a group, or the listed DPAs\n" \
"  reject GROUP                   reject a whole group\n" \
"  add TAG POLICY REGION [OFF:LEN...]  ask the broker for capacity\n" \
"  release TAG [OFF:LEN...]       ask the broker to release (tag-based\n" \
"                                 without ranges)\n" \
"  drop TAG                       release TAG on our own (RELEASED)\n" \
"  truncate TAG SIZE              try to resize a pool fd (must fail: sealed)\n" \
"  quit                           disconnect and exit\n" \
"Default MS: 10000."
#define CHUNK (1u << 20)

typedef enum WaitKind {
    WAIT_NONE,
    WAIT_CONNECTED,
    WAIT_EXTENTS,
    WAIT_RELEASED,
    WAIT_REQUEST,       /* a request to the broker is in flight */
} WaitKind;

typedef struct Sim {
    DcdHostClient *h;
    uint16_t host_id;
    bool verbose;
    GMainLoop *loop;
    GDataInputStream *in;

    WaitKind wait;
    DcdTag wait_tag;
    unsigned wait_n;
    GSource *wait_timer;
} Sim;

static void read_next(Sim *s);

/* ---- output -------------------------------------------------------- */

static void G_GNUC_PRINTF(2, 3) logev(Sim *s, const char *fmt, ...)
{
    g_autofree char *text = NULL;
    va_list ap;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "hostsim[%u]: %s\n", s->host_id, text);
}

static void finish_wait(Sim *s)
{
    s->wait = WAIT_NONE;
    if (s->wait_timer) {
        g_source_destroy(s->wait_timer);
        g_source_unref(s->wait_timer);
        s->wait_timer = NULL;
    }
}

/* The one answer line of a command; then the next command is read. */
static void G_GNUC_PRINTF(2, 3) answer(Sim *s, const char *fmt, ...)
{
    g_autofree char *text = NULL;
    va_list ap;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    /* Keep the one-line promise whatever the text holds. */
    g_strdelimit(text, "\r\n", ' ');
    fprintf(stdout, "%s\n", text);
    fflush(stdout);
    finish_wait(s);
    read_next(s);
}

static void answer_error(Sim *s, const GError *err)
{
    DcdErr code = err->domain == DCD_ERROR ? (DcdErr)err->code : DCD_ERR_IO;

    answer(s, "err %s %s", dcd_err_name(code), err->message);
}

/* ---- events -------------------------------------------------------- */

static void check_wait(Sim *s)
{
    switch (s->wait) {
    case WAIT_CONNECTED:
        if (dcd_hostclient_is_connected(s->h)) {
            answer(s, "ok");
        }
        break;
    case WAIT_EXTENTS:
        if (dcd_hostclient_count_extents(s->h, &s->wait_tag) >= s->wait_n) {
            answer(s, "ok %u", dcd_hostclient_count_extents(s->h, &s->wait_tag));
        }
        break;
    case WAIT_RELEASED:
        if (!dcd_hostclient_holds_tag(s->h, &s->wait_tag)) {
            answer(s, "ok");
        }
        break;
    default:
        break;
    }
}

static void ev_connected(DcdHostClient *h, bool reconnected, gpointer opaque)
{
    Sim *s = opaque;

    logev(s, "%s", reconnected ? "reconnected" : "connected");
    check_wait(s);
}

static void ev_disconnected(DcdHostClient *h, const GError *why, gpointer opaque)
{
    Sim *s = opaque;

    logev(s, "disconnected: %s", why ? why->message : "closed");
    /* A refusal (not a lost connection) is the answer to wait-connected. */
    if (s->wait == WAIT_CONNECTED && why && why->domain == DCD_ERROR &&
        why->code != DCD_ERR_UNAVAIL) {
        answer_error(s, why);
    }
}

static void ev_offered(DcdHostClient *h, const DcdHostClientGroup *g, gpointer opaque)
{
    logev(opaque, "group %" G_GUINT64_FORMAT " offered (%u extents), "
          "waiting for accept/reject", g->group, g->extents->len);
}

static void log_extent(Sim *s, const char *what, const struct dcd_extent *e,
                       const char *why)
{
    char tag[DCD_TAG_STR_LEN];

    dcd_tag_unparse((const DcdTag *)e->tag, tag);
    logev(s, "extent %s: dpa 0x%" G_GINT64_MODIFIER "x len 0x%"
          G_GINT64_MODIFIER "x tag %s seq %u%s%s", what, e->dpa, e->len, tag,
          e->shared_seq, why ? ": " : "", why ? why : "");
}

static void ev_accepted(DcdHostClient *h, const DcdHostClientExtent *x, gpointer opaque)
{
    log_extent(opaque, "accepted", &x->e, NULL);
    check_wait(opaque);
}

static void ev_rejected(DcdHostClient *h, const struct dcd_extent *e,
                        const char *why, gpointer opaque)
{
    log_extent(opaque, "rejected", e, why);
}

static void ev_released(DcdHostClient *h, const DcdHostClientExtent *x, bool forced,
                        gpointer opaque)
{
    log_extent(opaque, forced ? "released (forced)" : "released", &x->e,
               NULL);
    check_wait(opaque);
}

static gboolean wait_timeout(gpointer opaque)
{
    answer(opaque, "err unavail timed out");
    return G_SOURCE_REMOVE;
}

static void start_wait(Sim *s, WaitKind kind, guint timeout_ms)
{
    s->wait = kind;
    s->wait_timer = g_timeout_source_new(timeout_ms);
    g_source_set_callback(s->wait_timer, wait_timeout, s, NULL);
    g_source_attach(s->wait_timer, NULL);
    check_wait(s);
}

static void request_done(DcdHostClient *h, const GError *err, gpointer opaque)
{
    Sim *s = opaque;

    if (s->wait != WAIT_REQUEST) {
        return;
    }
    if (err) {
        answer_error(s, err);
    } else {
        answer(s, "ok");
    }
}

/* ---- argument parsing ---------------------------------------------- */

static char *next_token(char **p)
{
    char *start;

    while (**p == ' ' || **p == '\t') {
        (*p)++;
    }
    if (!**p) {
        return NULL;
    }
    start = *p;
    while (**p && **p != ' ' && **p != '\t') {
        (*p)++;
    }
    if (**p) {
        *(*p)++ = '\0';
    }
    return start;
}

static bool parse_tag(const char *s, DcdTag *tag, GError **errp)
{
    if (!dcd_tag_parse(s, tag)) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "bad tag '%s'",
                    s ? s : "");
        return false;
    }
    return true;
}

static bool parse_u64(const char *s, const char *what, uint64_t *v,
                      GError **errp)
{
    if (!dcd_size_parse(s, v)) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "bad %s '%s'", what,
                    s ? s : "");
        return false;
    }
    return true;
}

static bool parse_timeout(const char *s, guint *ms, GError **errp)
{
    uint64_t v = DEFAULT_TIMEOUT_MS;

    if (s && !parse_u64(s, "timeout", &v, errp)) {
        return false;
    }
    *ms = MIN(v, G_MAXUINT);
    return true;
}

/* OFFSET:LEN pairs from the rest of the line. */
static GArray *parse_ranges(char **p, GError **errp)
{
    g_autoptr(GArray) r = g_array_new(FALSE, FALSE,
                                      sizeof(struct dcd_range));
    char *tok;

    while ((tok = next_token(p))) {
        g_auto(GStrv) parts = g_strsplit(tok, ":", 2);
        struct dcd_range rr;

        if (g_strv_length(parts) != 2 ||
            !parse_u64(parts[0], "offset", &rr.dpa, errp) ||
            !parse_u64(parts[1], "length", &rr.len, errp)) {
            if (errp && !*errp) {
                g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL,
                            "bad range '%s' (OFFSET:LEN)", tok);
            }
            return NULL;
        }
        g_array_append_val(r, rr);
    }
    return g_steal_pointer(&r);
}

static bool parse_hex(const char *s, GByteArray *out, GError **errp)
{
    size_t n = s ? strlen(s) : 0;

    if (!n || n % 2) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "bad hex data");
        return false;
    }
    for (size_t i = 0; i < n; i += 2) {
        int hi = g_ascii_xdigit_value(s[i]), lo = g_ascii_xdigit_value(s[i + 1]);
        uint8_t b;

        if (hi < 0 || lo < 0) {
            g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "bad hex data");
            return false;
        }
        b = hi << 4 | lo;
        g_byte_array_append(out, &b, 1);
    }
    return true;
}

/* ---- JSON ---------------------------------------------------------- */

static void add_extent_json(JsonBuilder *b, const struct dcd_extent *e,
                            DcdExtentState state, uint64_t group)
{
    char tag[DCD_TAG_STR_LEN];

    dcd_tag_unparse((const DcdTag *)e->tag, tag);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "dpa");
    json_builder_add_int_value(b, e->dpa);
    json_builder_set_member_name(b, "len");
    json_builder_add_int_value(b, e->len);
    json_builder_set_member_name(b, "tag");
    json_builder_add_string_value(b, tag);
    json_builder_set_member_name(b, "shared-seq");
    json_builder_add_int_value(b, e->shared_seq);
    json_builder_set_member_name(b, "region");
    json_builder_add_int_value(b, e->region);
    json_builder_set_member_name(b, "pool-offset");
    json_builder_add_int_value(b, e->pool_offset);
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, dcd_extent_state_name(state));
    json_builder_set_member_name(b, "group");
    json_builder_add_int_value(b, group);
    json_builder_end_object(b);
}

static char *to_json(JsonBuilder *b)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);

    json_generator_set_root(gen, root);
    return json_generator_to_data(gen, NULL);
}

static char *extents_json(Sim *s)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    const GPtrArray *ext = dcd_hostclient_extents(s->h);
    const GPtrArray *groups = dcd_hostclient_groups(s->h);

    json_builder_begin_array(b);
    for (unsigned i = 0; i < ext->len; i++) {
        const DcdHostClientExtent *x = g_ptr_array_index(ext, i);

        add_extent_json(b, &x->e, x->state, x->group);
    }
    for (unsigned i = 0; i < groups->len; i++) {
        const DcdHostClientGroup *g = g_ptr_array_index(groups, i);

        for (unsigned j = 0; j < g->extents->len; j++) {
            add_extent_json(b, &g_array_index(g->extents, struct dcd_extent,
                                              j), DCD_EXTENT_PENDING,
                            g->group);
        }
    }
    json_builder_end_array(b);
    return to_json(b);
}

static char *pending_json(Sim *s)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    const GPtrArray *groups = dcd_hostclient_groups(s->h);

    json_builder_begin_array(b);
    for (unsigned i = 0; i < groups->len; i++) {
        const DcdHostClientGroup *g = g_ptr_array_index(groups, i);

        if (!g->complete) {
            continue;
        }
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "group");
        json_builder_add_int_value(b, g->group);
        json_builder_set_member_name(b, "extents");
        json_builder_begin_array(b);
        for (unsigned j = 0; j < g->extents->len; j++) {
            add_extent_json(b, &g_array_index(g->extents, struct dcd_extent,
                                              j), DCD_EXTENT_PENDING,
                            g->group);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    return to_json(b);
}

/* ---- commands ------------------------------------------------------ */

/*
 * Each command either answers at once (returns with an answer given or
 * an error set) or starts a wait that answers later.
 */

static bool cmd_read(Sim *s, char *p, bool as_text, GError **errp)
{
    DcdTag tag;
    uint64_t off, len;
    g_autofree uint8_t *buf = NULL;

    if (!parse_tag(next_token(&p), &tag, errp) ||
        !parse_u64(next_token(&p), "offset", &off, errp) ||
        !parse_u64(next_token(&p), "length", &len, errp)) {
        return false;
    }
    if (len > 64 * CHUNK) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "length too large");
        return false;
    }
    buf = g_malloc0(len + 1);
    if (!dcd_hostclient_read(s->h, &tag, off, buf, len, errp)) {
        return false;
    }
    if (as_text) {
        /* Up to the first NUL; control bytes shown as '.'. */
        for (uint64_t i = 0; i < len && buf[i]; i++) {
            if (buf[i] < 0x20 || buf[i] == 0x7f) {
                buf[i] = '.';
            }
        }
        answer(s, "ok %s", (char *)buf);
    } else {
        g_autofree char *hex = g_malloc(len * 2 + 1);

        for (uint64_t i = 0; i < len; i++) {
            g_snprintf(hex + i * 2, 3, "%02x", buf[i]);
        }
        hex[len * 2] = '\0';
        answer(s, "ok %s", hex);
    }
    return true;
}

static bool cmd_write(Sim *s, char *p, bool as_text, GError **errp)
{
    DcdTag tag;
    uint64_t off;
    g_autoptr(GByteArray) data = g_byte_array_new();

    if (!parse_tag(next_token(&p), &tag, errp) ||
        !parse_u64(next_token(&p), "offset", &off, errp)) {
        return false;
    }
    if (as_text) {
        /* The rest of the line, after one separating blank. */
        g_byte_array_append(data, (const uint8_t *)p, strlen(p));
    } else if (!parse_hex(next_token(&p), data, errp)) {
        return false;
    }
    if (!dcd_hostclient_write(s->h, &tag, off, data->data, data->len, errp)) {
        return false;
    }
    answer(s, "ok");
    return true;
}

static bool cmd_fill(Sim *s, char *p, GError **errp)
{
    DcdTag tag;
    uint64_t off, len, byte;
    g_autofree uint8_t *buf = NULL;

    if (!parse_tag(next_token(&p), &tag, errp) ||
        !parse_u64(next_token(&p), "offset", &off, errp) ||
        !parse_u64(next_token(&p), "length", &len, errp) ||
        !parse_u64(next_token(&p), "byte", &byte, errp)) {
        return false;
    }
    if (byte > 255) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "byte %" G_GUINT64_FORMAT
                    " out of range", byte);
        return false;
    }
    if (off + len < off || off + len > dcd_hostclient_tag_size(s->h, &tag)) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL,
                    "range is beyond the tag this host holds");
        return false;
    }
    buf = g_malloc(MIN(len, CHUNK));
    memset(buf, byte, MIN(len, CHUNK));
    while (len) {
        size_t n = MIN(len, CHUNK);

        if (!dcd_hostclient_write(s->h, &tag, off, buf, n, errp)) {
            return false;
        }
        off += n;
        len -= n;
    }
    answer(s, "ok");
    return true;
}

static bool cmd_checksum(Sim *s, char *p, GError **errp)
{
    DcdTag tag;
    uint64_t off, len;
    g_autofree uint8_t *buf = NULL;
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);

    if (!parse_tag(next_token(&p), &tag, errp) ||
        !parse_u64(next_token(&p), "offset", &off, errp) ||
        !parse_u64(next_token(&p), "length", &len, errp)) {
        return false;
    }
    if (off + len < off || off + len > dcd_hostclient_tag_size(s->h, &tag)) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL,
                    "range is beyond the tag this host holds");
        return false;
    }
    buf = g_malloc(MIN(len, CHUNK) + 1);
    while (len) {
        size_t n = MIN(len, CHUNK);

        if (!dcd_hostclient_read(s->h, &tag, off, buf, n, errp)) {
            return false;
        }
        g_checksum_update(sum, buf, n);
        off += n;
        len -= n;
    }
    answer(s, "ok %s", g_checksum_get_string(sum));
    return true;
}

static bool cmd_accept(Sim *s, char *p, bool accept, GError **errp)
{
    uint64_t group;
    g_autoptr(GArray) dpas = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    char *tok;

    if (!parse_u64(next_token(&p), "group", &group, errp)) {
        return false;
    }
    while (accept && (tok = next_token(&p))) {
        uint64_t d;

        if (!parse_u64(tok, "dpa", &d, errp)) {
            return false;
        }
        g_array_append_val(dpas, d);
    }
    if (accept ? !dcd_hostclient_accept(s->h, group, (uint64_t *)dpas->data,
                                  dpas->len, errp)
               : !dcd_hostclient_reject(s->h, group, errp)) {
        return false;
    }
    answer(s, "ok");
    return true;
}

static bool cmd_add(Sim *s, char *p, GError **errp)
{
    DcdTag tag;
    DcdPolicy policy;
    uint64_t region;
    const char *pol;
    g_autoptr(GArray) ranges = NULL;

    if (!parse_tag(next_token(&p), &tag, errp)) {
        return false;
    }
    pol = next_token(&p);
    if (!dcd_policy_parse(pol, &policy)) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "bad policy '%s'",
                    pol ? pol : "");
        return false;
    }
    if (!parse_u64(next_token(&p), "region", &region, errp)) {
        return false;
    }
    if (region >= DCD_MAX_REGIONS) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "bad region");
        return false;
    }
    ranges = parse_ranges(&p, errp);
    if (!ranges) {
        return false;
    }
    s->wait = WAIT_REQUEST;
    if (!dcd_hostclient_add_request(s->h, &tag, 0, policy, region,
                              (void *)ranges->data, ranges->len,
                              request_done, s, errp)) {
        s->wait = WAIT_NONE;
        return false;
    }
    return true;
}

/* Region of the first extent of tag this host holds, else 0. */
static uint8_t region_of(Sim *s, const DcdTag *tag)
{
    const GPtrArray *ext = dcd_hostclient_extents(s->h);

    for (unsigned i = 0; i < ext->len; i++) {
        const DcdHostClientExtent *x = g_ptr_array_index(ext, i);

        if (memcmp(x->e.tag, tag->b, 16) == 0) {
            return x->e.region;
        }
    }
    return 0;
}

static bool cmd_release(Sim *s, char *p, GError **errp)
{
    DcdTag tag;
    g_autoptr(GArray) ranges = NULL;

    if (!parse_tag(next_token(&p), &tag, errp)) {
        return false;
    }
    ranges = parse_ranges(&p, errp);
    if (!ranges) {
        return false;
    }
    s->wait = WAIT_REQUEST;
    if (!dcd_hostclient_release_request(s->h, &tag,
                                  ranges->len ? DCD_REMOVAL_PRESCRIPTIVE
                                              : DCD_REMOVAL_TAG,
                                  region_of(s, &tag), 0,
                                  (void *)ranges->data, ranges->len,
                                  request_done, s, errp)) {
        s->wait = WAIT_NONE;
        return false;
    }
    return true;
}

static bool cmd_drop(Sim *s, char *p, GError **errp)
{
    DcdTag tag;

    if (!parse_tag(next_token(&p), &tag, errp)) {
        return false;
    }
    s->wait = WAIT_REQUEST;
    if (!dcd_hostclient_drop(s->h, &tag, request_done, s, errp)) {
        s->wait = WAIT_NONE;
        return false;
    }
    return true;
}

static bool cmd_truncate(Sim *s, char *p, GError **errp)
{
    DcdTag tag;
    uint64_t size;
    int fd;

    if (!parse_tag(next_token(&p), &tag, errp) ||
        !parse_u64(next_token(&p), "size", &size, errp)) {
        return false;
    }
    fd = dcd_hostclient_pool_fd(s->h, &tag);
    if (fd < 0) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_NOENT, "no pool for this tag");
        return false;
    }
    if (ftruncate(fd, size) < 0) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_IO, "%s", g_strerror(errno));
        return false;
    }
    answer(s, "ok");
    return true;
}

static bool cmd_wait(Sim *s, char *p, WaitKind kind, GError **errp)
{
    guint ms;
    uint64_t n = 0;

    if (kind != WAIT_CONNECTED &&
        !parse_tag(next_token(&p), &s->wait_tag, errp)) {
        return false;
    }
    if (kind == WAIT_EXTENTS && !parse_u64(next_token(&p), "count", &n,
                                           errp)) {
        return false;
    }
    if (!parse_timeout(next_token(&p), &ms, errp)) {
        return false;
    }
    s->wait_n = n;
    start_wait(s, kind, ms);
    return true;
}

static bool run_command(Sim *s, char *line, GError **errp)
{
    char *p = line;
    const char *cmd = next_token(&p);

    if (!cmd) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "empty command");
        return false;
    }
    if (g_str_equal(cmd, "wait-connected")) {
        return cmd_wait(s, p, WAIT_CONNECTED, errp);
    } else if (g_str_equal(cmd, "wait-extents")) {
        return cmd_wait(s, p, WAIT_EXTENTS, errp);
    } else if (g_str_equal(cmd, "wait-released")) {
        return cmd_wait(s, p, WAIT_RELEASED, errp);
    } else if (g_str_equal(cmd, "read")) {
        return cmd_read(s, p, false, errp);
    } else if (g_str_equal(cmd, "read-str")) {
        return cmd_read(s, p, true, errp);
    } else if (g_str_equal(cmd, "write")) {
        return cmd_write(s, p, false, errp);
    } else if (g_str_equal(cmd, "write-str")) {
        return cmd_write(s, p, true, errp);
    } else if (g_str_equal(cmd, "fill")) {
        return cmd_fill(s, p, errp);
    } else if (g_str_equal(cmd, "checksum")) {
        return cmd_checksum(s, p, errp);
    } else if (g_str_equal(cmd, "extents")) {
        g_autofree char *j = extents_json(s);

        answer(s, "ok %s", j);
        return true;
    } else if (g_str_equal(cmd, "pending")) {
        g_autofree char *j = pending_json(s);

        answer(s, "ok %s", j);
        return true;
    } else if (g_str_equal(cmd, "accept")) {
        return cmd_accept(s, p, true, errp);
    } else if (g_str_equal(cmd, "reject")) {
        return cmd_accept(s, p, false, errp);
    } else if (g_str_equal(cmd, "add")) {
        return cmd_add(s, p, errp);
    } else if (g_str_equal(cmd, "release")) {
        return cmd_release(s, p, errp);
    } else if (g_str_equal(cmd, "drop")) {
        return cmd_drop(s, p, errp);
    } else if (g_str_equal(cmd, "truncate")) {
        return cmd_truncate(s, p, errp);
    } else if (g_str_equal(cmd, "quit")) {
        fprintf(stdout, "ok\n");
        fflush(stdout);
        g_main_loop_quit(s->loop);
        return true;
    }
    g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL, "unknown command '%s'", cmd);
    return false;
}

static void line_cb(GObject *src, GAsyncResult *res, gpointer opaque)
{
    Sim *s = opaque;
    g_autoptr(GError) err = NULL;
    g_autofree char *line = g_data_input_stream_read_line_finish(
        G_DATA_INPUT_STREAM(src), res, NULL, &err);

    if (!line) {
        /* End of input (or a read error) ends the host. */
        g_main_loop_quit(s->loop);
        return;
    }
    g_strchomp(line);
    if (!run_command(s, line, &err)) {
        answer_error(s, err);
    }
}

static void read_next(Sim *s)
{
    g_data_input_stream_read_line_async(s->in, G_PRIORITY_DEFAULT, NULL,
                                        line_cb, s);
}

/* ---- options ------------------------------------------------------- */

static bool parse_region(const char *arg, struct dcd_region *r,
                         GError **errp)
{
    g_auto(GStrv) f = g_strsplit(arg, ":", 0);
    unsigned n = g_strv_length(f);

    memset(r, 0, sizeof(*r));
    r->block_size = 2 << 20;
    r->flags = DCD_REGION_SHARABLE;
    if (n >= 3 && g_str_equal(f[n - 1], "private")) {
        r->flags = 0;
        n--;
    }
    if (n < 2 || n > 3 || !dcd_size_parse(f[0], &r->base) ||
        !dcd_size_parse(f[1], &r->len) ||
        (n == 3 && !dcd_size_parse(f[2], &r->block_size))) {
        g_set_error(errp, DCD_ERROR, DCD_ERR_INVAL,
                    "bad region '%s' (BASE:LEN[:BLOCK][:private])", arg);
        return false;
    }
    return true;
}

static void log_handler(const char *domain, GLogLevelFlags level,
                        const char *msg, gpointer opaque)
{
    Sim *s = opaque;

    /* -v shows our own info and debug lines, not the libraries'. */
    if ((level & (G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG)) &&
        (!s->verbose || domain)) {
        return;
    }
    logev(s, "%s", msg);
}

int main(int argc, char **argv)
{
    g_autofree char *socket_path = NULL;
    g_autofree char *name = NULL;
    g_auto(GStrv) region_args = NULL;
    g_auto(GStrv) reject_tag_args = NULL;
    gint host_id = 0, max_group = 0;
    gboolean reject = FALSE, manual = FALSE, reconnect = FALSE;
    gboolean verbose = FALSE, version = FALSE;
    GOptionEntry entries[] = {
        { "socket", 0, 0, G_OPTION_ARG_FILENAME, &socket_path,
          "Broker host socket", "PATH" },
        { "host-id", 0, 0, G_OPTION_ARG_INT, &host_id, "Host id", "N" },
        { "max-group", 0, 0, G_OPTION_ARG_INT, &max_group,
          "Take at most N extents in one group (HELLO limits)", "N" },
        { "name", 0, 0, G_OPTION_ARG_STRING, &name, "Device name", "NAME" },
        { "region", 0, 0, G_OPTION_ARG_STRING_ARRAY, &region_args,
          "DC region (repeatable)", "BASE:LEN[:BLOCK][:private]" },
        { "reject", 0, 0, G_OPTION_ARG_NONE, &reject,
          "Reject every offer", NULL },
        { "reject-tag", 0, 0, G_OPTION_ARG_STRING_ARRAY, &reject_tag_args,
          "Reject offers of this tag (repeatable)", "UUID" },
        { "manual", 0, 0, G_OPTION_ARG_NONE, &manual,
          "Hold offers until accept/reject", NULL },
        { "reconnect", 0, 0, G_OPTION_ARG_NONE, &reconnect,
          "Survive broker loss", NULL },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log more", NULL },
        { "version", 'V', 0, G_OPTION_ARG_NONE, &version,
          "Print the version and exit", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) oc = g_option_context_new("- simulated host");
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) regions = g_array_new(FALSE, FALSE,
                                            sizeof(struct dcd_region));
    g_autoptr(GArray) reject_tags = g_array_new(FALSE, FALSE, sizeof(DcdTag));
    g_autoptr(GInputStream) stdin_stream = NULL;
    DcdHostClientEvents ev = {
        .connected = ev_connected,
        .disconnected = ev_disconnected,
        .offered = ev_offered,
        .accepted = ev_accepted,
        .rejected = ev_rejected,
        .released = ev_released,
    };
    DcdHostClientConfig cfg = { 0 };
    Sim s = { 0 };

    g_option_context_add_main_entries(oc, entries, NULL);
    g_option_context_set_summary(oc, "Reads commands on stdin, one per line, "
                                 "and answers each with one line.");
    g_option_context_set_description(oc, COMMANDS_HELP);
    if (!g_option_context_parse(oc, &argc, &argv, &err)) {
        fprintf(stderr, "dcd-hostsim: %s\n", err->message);
        return 2;
    }
    if (version) {
        printf("dcd-hostsim %s\n", PACKAGE_VERSION);
        return 0;
    }
    if (host_id < 0 || host_id > G_MAXUINT16) {
        fprintf(stderr, "dcd-hostsim: bad host id %d\n", host_id);
        return 2;
    }
    if (max_group < 0 || max_group > G_MAXUINT16) {
        fprintf(stderr, "dcd-hostsim: bad --max-group %d (1 to %u; 0: no "
                "limit)\n", max_group, G_MAXUINT16);
        return 2;
    }
    s.host_id = host_id;
    s.verbose = verbose;
    g_log_set_default_handler(log_handler, &s);

    for (char **r = region_args; r && *r; r++) {
        struct dcd_region reg;

        if (!parse_region(*r, &reg, &err)) {
            fprintf(stderr, "dcd-hostsim: %s\n", err->message);
            return 2;
        }
        g_array_append_val(regions, reg);
    }
    if (!regions->len) {
        struct dcd_region reg = {
            .base = 0, .len = 4ull << 30, .block_size = 2 << 20,
            .flags = DCD_REGION_SHARABLE,
        };

        g_array_append_val(regions, reg);
    }
    if (regions->len > DCD_MAX_REGIONS) {
        fprintf(stderr, "dcd-hostsim: at most %u regions\n", DCD_MAX_REGIONS);
        return 2;
    }
    for (char **t = reject_tag_args; t && *t; t++) {
        DcdTag tag;

        if (!dcd_tag_parse(*t, &tag)) {
            fprintf(stderr, "dcd-hostsim: bad tag '%s'\n", *t);
            return 2;
        }
        g_array_append_val(reject_tags, tag);
    }
    if (!socket_path) {
        socket_path = dcd_default_host_socket();
    }
    if (!name) {
        name = g_strdup_printf("hostsim-%d", host_id);
    }

    cfg.socket_path = socket_path;
    cfg.host_id = host_id;
    cfg.max_group = max_group;
    cfg.name = name;
    cfg.regions = (struct dcd_region *)regions->data;
    cfg.nregions = regions->len;
    cfg.policy = manual ? DCD_HOST_MANUAL :
                 reject ? DCD_HOST_REJECT_ALL :
                 reject_tags->len ? DCD_HOST_REJECT_TAGS : DCD_HOST_ACCEPT_ALL;
    cfg.reject_tags = (DcdTag *)reject_tags->data;
    cfg.n_reject_tags = reject_tags->len;
    cfg.reconnect = reconnect;

    s.loop = g_main_loop_new(NULL, FALSE);
    s.h = dcd_hostclient_new(&cfg, &ev, &s);
    stdin_stream = g_unix_input_stream_new(STDIN_FILENO, FALSE);
    s.in = g_data_input_stream_new(stdin_stream);
    dcd_hostclient_start(s.h);
    read_next(&s);
    g_main_loop_run(s.loop);

    finish_wait(&s);
    dcd_hostclient_free(s.h);
    g_object_unref(s.in);
    g_main_loop_unref(s.loop);
    return 0;
}
