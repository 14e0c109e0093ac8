/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz-control - the control socket (ctl.c): line framing, JSON requests,
 * every command's argument checks, and the broker operations behind them.
 *
 * A fresh broker per input (no state dir, no pool dir), with pools under
 * fixed tags (fuzz.h; tag 1 only for host 1) and three hosts attached
 * through fake links rather than sockets, so extent commands have
 * someone to talk to:
 *   host 0  two regions; accepts every offer whole and releases whatever
 *           it is asked to, from a source of the main loop at the
 *           priority of a socket (as a host's answer arrives: it may come
 *           between a client's hang-up and its connection's end); it
 *           already holds tag 0;
 *   host 1  one region; never answers (offers stay pending, "wait" runs
 *           into its timeout);
 *   host 2  known from an earlier session but not connected.
 * The input is what a client writes to a control connection adopted on
 * a socketpair, lines of JSON as dcdctl sends them, but for a few
 * control bytes (JSON text never holds them raw), which the client acts
 * on instead of writing:
 *   0x01      it waits: the main loop runs until idle, replies are read;
 *   0x02      it shuts down its sending side, reads until the loop is
 *             idle, then hangs up;
 *   0x03      it hangs up at once (with "wait" or "monitor" open, before
 *             replies are read, in the middle of a line: wherever it is);
 *   0x04 n k  the next k bytes (k taken modulo 16, 0 for 16) are written
 *             (n + 1) * 256 times: lines up to 1 MiB long, or 100,000
 *             deep, from a small input.
 * After a hang-up a new client connects for the rest of the input.  At
 * the end the main loop runs until idle; then everything is freed.
 *
 * Every reply line must be a JSON object with "id" and exactly one of
 * "return" and "error", an error with a known "class" and a "desc"; an
 * event line (after "monitor") a known "event", "time-ms" and its object.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <json-glib/json-glib.h>

#include "server/ctl.h"
#include "fuzz.h"

#define MB (1ull << 20)

/* An answer host 0 gives once the loop is idle. */
typedef enum AnswerKind {
    ANSWER_ACCEPT,         /* ACCEPT of group */
    ANSWER_RELEASED,       /* RELEASED of ranges (also after a forced one) */
    ANSWER_WITHDRAWN,      /* the WITHDRAW reply for group */
} AnswerKind;

typedef struct Answer {
    AnswerKind kind;
    uint64_t group;
    GArray *ranges;        /* struct dcd_range */
} Answer;

enum {
    OP_WAIT = 0x01,
    OP_SHUTDOWN = 0x02,
    OP_HANG_UP = 0x03,
    OP_REPEAT = 0x04,
};

typedef struct Fx {
    DcdBroker *b;
    DcdCtl *ctl;
    int sock;
    GString *out;          /* reply bytes, up to a partial line */
    GQueue answers;        /* Answer *, from host 0 */
    guint answer_src;      /* delivers them */
    unsigned answering;    /* fake link of host 0 */
    unsigned silent;       /* fake link of hosts 1 and 2 */
} Fx;

static Fx *cur;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init_logging();
    return 0;
}

static void answer_free(Answer *a)
{
    g_array_unref(a->ranges);
    g_free(a);
}

/* Host 0 answers one offer or release per turn of the loop. */
static gboolean deliver_answer(gpointer opaque)
{
    Fx *fx = opaque;
    Answer *a = g_queue_pop_head(&fx->answers);
    DcdHost *h = dcd_broker_host(fx->b, 0);

    switch (a->kind) {
    case ANSWER_ACCEPT:
        dcd_broker_host_accept(fx->b, h, a->group,
                               (struct dcd_range *)a->ranges->data,
                               a->ranges->len, NULL);
        break;
    case ANSWER_RELEASED:
        dcd_broker_host_released(fx->b, h,
                                 (struct dcd_range *)a->ranges->data,
                                 a->ranges->len, NULL);
        break;
    case ANSWER_WITHDRAWN:
        dcd_broker_host_withdrawn(fx->b, h, a->group);
        break;
    }
    answer_free(a);
    if (g_queue_is_empty(&fx->answers)) {
        fx->answer_src = 0;
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static void queue_answer(AnswerKind kind, uint64_t group, GPtrArray *extents)
{
    Answer *a = g_new0(Answer, 1);

    a->kind = kind;
    a->group = group;
    a->ranges = g_array_new(FALSE, FALSE, sizeof(struct dcd_range));
    for (guint i = 0; extents && i < extents->len; i++) {
        DcdExtent *e = extents->pdata[i];
        struct dcd_range r = { .dpa = e->dpa, .len = e->len };

        g_array_append_val(a->ranges, r);
    }
    g_queue_push_tail(&cur->answers, a);
    if (!cur->answer_src) {
        cur->answer_src = g_idle_add_full(G_PRIORITY_DEFAULT, deliver_answer,
                                          cur, NULL);
    }
}

static bool fake_pool(gpointer link, DcdPool *p)
{
    return true;
}

static bool fake_offer(gpointer link, uint64_t group, GPtrArray *extents)
{
    if (link == &cur->answering) {
        queue_answer(ANSWER_ACCEPT, group, extents);
    }
    return true;
}

static bool fake_release(gpointer link, uint64_t id, bool forced,
                         GPtrArray *extents)
{
    /* forced ones are confirmed too (protocol version 2) */
    if (link == &cur->answering) {
        queue_answer(ANSWER_RELEASED, id, extents);
    }
    return true;
}

/* Host 0 confirms withdrawals; the silent hosts never do. */
static bool fake_withdraw(gpointer link, uint64_t group)
{
    if (link == &cur->answering) {
        queue_answer(ANSWER_WITHDRAWN, group, NULL);
    }
    return true;
}

static const DcdHostLinkOps fake_ops = {
    .send_pool = fake_pool,
    .send_offer = fake_offer,
    .send_release = fake_release,
    .send_withdraw = fake_withdraw,
};

/* {"event": NAME, "time-ms": N, "host"|"pool"|"extent": {...}} */
static void check_event(JsonObject *o, const char *line, size_t len)
{
    static const char *const events[][2] = {
        { "host-connected", "host" }, { "host-disconnected", "host" },
        { "pool-created", "pool" }, { "pool-destroyed", "pool" },
        { "pool-memory", "pool" }, { "extent", "extent" },
    };
    const char *name = json_object_get_string_member_with_default(
        o, "event", NULL);
    JsonNode *t = json_object_get_member(o, "time-ms");

    FUZZ_CHECK(name && t && json_node_get_value_type(t) == G_TYPE_INT64 &&
               json_object_get_size(o) == 3, "malformed event: %.*s",
               (int)len, line);
    for (unsigned i = 0; i < G_N_ELEMENTS(events); i++) {
        if (g_str_equal(name, events[i][0])) {
            JsonNode *n = json_object_get_member(o, events[i][1]);

            FUZZ_CHECK(n && JSON_NODE_HOLDS_OBJECT(n), "event without its"
                       " %s: %.*s", events[i][1], (int)len, line);
            return;
        }
    }
    fuzz_fail(__FILE__, __LINE__, "event", "unknown event: %.*s", (int)len,
              line);
}

static void check_reply(const char *line, size_t len)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) err = NULL;
    JsonObject *o, *e;
    JsonNode *root;
    const char *cls;

    FUZZ_CHECK(json_parser_load_from_data(parser, line, len, &err),
               "reply is not JSON (%s): %.*s", err->message, (int)len, line);
    root = json_parser_get_root(parser);
    FUZZ_CHECK(root && JSON_NODE_HOLDS_OBJECT(root), "reply is not an object:"
               " %.*s", (int)len, line);
    o = json_node_get_object(root);
    if (json_object_has_member(o, "event")) {
        check_event(o, line, len);
        return;
    }
    FUZZ_CHECK(json_object_has_member(o, "id") &&
               json_object_has_member(o, "return") !=
               json_object_has_member(o, "error") &&
               json_object_get_size(o) == 2,
               "reply needs id and one of return, error: %.*s", (int)len,
               line);
    if (!json_object_has_member(o, "error")) {
        return;
    }
    FUZZ_CHECK(JSON_NODE_HOLDS_OBJECT(json_object_get_member(o, "error")),
               "error is not an object: %.*s", (int)len, line);
    e = json_object_get_object_member(o, "error");
    cls = json_object_get_string_member_with_default(e, "class", NULL);
    FUZZ_CHECK(cls && dcd_err_parse(cls) != DCD_ERR_OK &&
               json_object_get_string_member_with_default(e, "desc", NULL),
               "error needs a known class and a desc: %.*s", (int)len, line);
}

/* Read and check replies; true if any came. */
static bool on_idle(gpointer opaque)
{
    Fx *fx = opaque;
    bool any = false;
    char buf[16384];
    ssize_t n;
    char *nl;

    while (fx->sock >= 0 &&
           (n = recv(fx->sock, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
        g_string_append_len(fx->out, buf, n);
        any = true;
    }
    while ((nl = memchr(fx->out->str, '\n', fx->out->len))) {
        if (g_getenv("FUZZ_VERBOSE")) {
            g_printerr("reply: %.*s\n", (int)(nl - fx->out->str),
                       fx->out->str);
        }
        check_reply(fx->out->str, nl - fx->out->str);
        g_string_erase(fx->out, 0, nl - fx->out->str + 1);
    }
    return any;
}

/* A new client: a socketpair, the broker's end adopted. */
static void connect_client(Fx *fx)
{
    g_autoptr(GSocket) theirs = NULL;

    fuzz_socketpair(&fx->sock, &theirs);
    dcd_ctl_adopt(fx->ctl, theirs);
    g_string_truncate(fx->out, 0);
}

/* The client goes; what it has not read is lost.  Another one comes. */
static void hang_up(Fx *fx)
{
    close(fx->sock);
    fx->sock = -1;
    fuzz_pump(on_idle, fx);
    connect_client(fx);
}

/* Write what the client sends (false: the broker has closed it). */
static void client_write(Fx *fx, const void *buf, size_t len)
{
    if (len && !fuzz_write(fx->sock, buf, len, NULL, 0)) {
        /* Closed by the broker (a line too long): the client comes back. */
        hang_up(fx);
    }
}

static void run_input(Fx *fx, const uint8_t *data, size_t size)
{
    FuzzIn in = { .p = data, .left = size };

    while (fuzz_more(&in)) {
        const uint8_t *run = in.p;
        size_t len = 0;

        /* Plain bytes up to the next control byte go out in one write. */
        while (len < in.left && (run[len] < OP_WAIT || run[len] > OP_REPEAT)) {
            len++;
        }
        if (len) {
            fuzz_bytes(&in, len, &len);
            client_write(fx, run, len);
            continue;
        }
        switch (fuzz_u8(&in)) {
        case OP_WAIT:
            fuzz_pump(on_idle, fx);
            break;
        case OP_SHUTDOWN:
            shutdown(fx->sock, SHUT_WR);
            fuzz_pump(on_idle, fx);
            hang_up(fx);
            break;
        case OP_HANG_UP:
            hang_up(fx);
            break;
        case OP_REPEAT: {
            unsigned times = (fuzz_u8(&in) + 1) * 256;
            size_t k = fuzz_u8(&in) % 16;
            const uint8_t *pat = fuzz_bytes(&in, k ? k : 16, &k);
            g_autoptr(GByteArray) b = g_byte_array_new();

            for (unsigned i = 0; k && i < times; i++) {
                g_byte_array_append(b, pat, k);
            }
            client_write(fx, b->data, b->len);
            break;
        }
        }
    }
}

static DcdHost *attach(Fx *fx, uint16_t id, const struct dcd_region *r,
                       unsigned n, gpointer link)
{
    g_autoptr(GError) err = NULL;
    DcdHelloArgs a = {
        .host_id = id, .name = "fuzz", .regions = r, .nregions = n,
        .pid = getpid(), .uid = getuid(),
    };
    DcdHost *h = dcd_broker_host_attach(fx->b, &a, &fake_ops, link, &err);

    FUZZ_CHECK(h, "attaching host %u: %s", id, err->message);
    return h;
}

static void setup(Fx *fx)
{
    static const struct dcd_region r0[2] = {
        { .base = 0, .len = 64 * MB, .block_size = 4096,
          .flags = DCD_REGION_SHARABLE },
        { .base = 1024 * MB, .len = 1024 * MB, .block_size = 2 * MB },
    };
    static const struct dcd_region r1 = {
        .base = 0, .len = 16 * MB, .block_size = 65536,
        .flags = DCD_REGION_SHARABLE,
    };
    static const struct dcd_region r2 = {
        .base = 0, .len = 8 * MB, .block_size = 4096,
        .flags = DCD_REGION_SHARABLE,
    };
    DcdBrokerConfig cfg = { .state_dir = NULL };
    g_autoptr(GArray) one = g_array_new(FALSE, FALSE, sizeof(uint16_t));
    uint16_t host1 = 1;
    DcdAddArgs add = { .host_id = 0, .policy = DCD_POLICY_FREE };
    DcdTag tag;

    fx->b = dcd_broker_new(&cfg, NULL);
    FUZZ_CHECK(fx->b, "dcd_broker_new failed");
    fuzz_tag(0, &tag);
    dcd_broker_pool_create(fx->b, &tag, 1 * MB, DCD_BACKING_MEMFD, NULL,
                           NULL);
    fuzz_tag(1, &tag);
    g_array_append_val(one, host1);
    dcd_broker_pool_create(fx->b, &tag, 4 * MB, DCD_BACKING_MEMFD, one,
                           NULL);

    attach(fx, 0, r0, 2, &fx->answering);
    attach(fx, 1, &r1, 1, &fx->silent);
    dcd_broker_host_detach(fx->b, attach(fx, 2, &r2, 1, &fx->silent));
    fuzz_tag(0, &add.tag);
    FUZZ_CHECK(dcd_broker_extent_add(fx->b, &add, NULL), "pre-add failed");

    fx->ctl = dcd_ctl_new(fx->b, NULL, "host-path", NULL, NULL);
    FUZZ_CHECK(fx->ctl, "dcd_ctl_new failed");
    connect_client(fx);
    fuzz_pump(on_idle, fx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Fx fx = { .sock = -1 };

    fuzz_init_logging();
    cur = &fx;
    fx.out = g_string_new(NULL);
    g_queue_init(&fx.answers);
    setup(&fx);

    run_input(&fx, data, size);
    fuzz_pump(on_idle, &fx);

    dcd_ctl_free(fx.ctl);
    fuzz_pump(on_idle, &fx);
    close(fx.sock);
    FUZZ_CHECK(!fx.answer_src, "host 0 still has answers to give");
    dcd_broker_free(fx.b);
    fuzz_pump(NULL, NULL);
    g_queue_clear_full(&fx.answers, (GDestroyNotify)answer_free);
    g_string_free(fx.out, TRUE);
    cur = NULL;
    return 0;
}
