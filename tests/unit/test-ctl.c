/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket in process (server/ctl.c): a connection adopted on
 * a socketpair, a broker without state and a host on a fake link that
 * answers only when the test says so.  Hang-ups are made at exact
 * points of the main loop, so each case is deterministic.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <glib-unix.h>

#include "server/ctl.h"
#include "dcd/json.h"

#define MB (1ull << 20)
#define TAG "5be13bce-ae34-4a77-b6c3-16df975fcf1a"

typedef struct Fx {
    DcdBroker *b;
    DcdCtl *ctl;
    DcdHost *h;
    int sock;                 /* our end; -1 once hung up */
    GString *in;              /* bytes read, up to a partial line */
    uint64_t group;           /* the last offer's */
    GArray *offered;          /* its ranges, struct dcd_range */
    GArray *releasing;        /* the last release's ranges */
} Fx;

static void keep_ranges(GArray *out, GPtrArray *extents)
{
    g_array_set_size(out, 0);
    for (guint i = 0; i < extents->len; i++) {
        DcdExtent *e = extents->pdata[i];
        struct dcd_range r = { .dpa = e->dpa, .len = e->len };

        g_array_append_val(out, r);
    }
}

static bool fake_pool(gpointer link, DcdPool *p)
{
    return true;
}

static bool fake_offer(gpointer link, uint64_t group, GPtrArray *extents)
{
    Fx *fx = link;

    fx->group = group;
    keep_ranges(fx->offered, extents);
    return true;
}

static bool fake_release(gpointer link, uint64_t id, bool forced,
                         GPtrArray *extents)
{
    keep_ranges(((Fx *)link)->releasing, extents);
    return true;
}

static bool fake_withdraw(gpointer link, uint64_t group)
{
    return true;
}

static const DcdHostLinkOps fake_ops = {
    .send_pool = fake_pool,
    .send_offer = fake_offer,
    .send_release = fake_release,
    .send_withdraw = fake_withdraw,
};

static void pump(void)
{
    while (g_main_context_iteration(NULL, FALSE)) {
    }
}

static void fx_init(Fx *fx)
{
    static const struct dcd_region r = {
        .base = 0, .len = 64 * MB, .block_size = 2 * MB,
        .flags = DCD_REGION_SHARABLE,
    };
    DcdBrokerConfig cfg = { .state_dir = NULL };
    DcdHelloArgs a = {
        .host_id = 0, .name = "fake", .regions = &r, .nregions = 1,
        .pid = getpid(), .uid = getuid(),
    };
    g_autoptr(GSocket) theirs = NULL;
    int sv[2];

    memset(fx, 0, sizeof(*fx));
    fx->in = g_string_new(NULL);
    fx->offered = g_array_new(FALSE, FALSE, sizeof(struct dcd_range));
    fx->releasing = g_array_new(FALSE, FALSE, sizeof(struct dcd_range));
    fx->b = dcd_broker_new(&cfg, NULL);
    g_assert_nonnull(fx->b);
    fx->h = dcd_broker_host_attach(fx->b, &a, &fake_ops, fx, NULL);
    g_assert_nonnull(fx->h);
    fx->ctl = dcd_ctl_new(fx->b, NULL, "host-path", NULL, NULL);
    g_assert_nonnull(fx->ctl);
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                    ==, 0);
    g_assert_true(g_unix_set_fd_nonblocking(sv[0], TRUE, NULL));
    fx->sock = sv[0];
    theirs = g_socket_new_from_fd(sv[1], NULL);
    g_assert_nonnull(theirs);
    dcd_ctl_adopt(fx->ctl, theirs);
}

static void fx_fini(Fx *fx)
{
    pump();
    dcd_ctl_free(fx->ctl);
    pump();
    if (fx->sock >= 0) {
        close(fx->sock);
    }
    dcd_broker_free(fx->b);
    pump();
    g_string_free(fx->in, TRUE);
    g_array_unref(fx->offered);
    g_array_unref(fx->releasing);
}

/* Write all of text (pumping while the socket is full). */
static void put(Fx *fx, const char *text, size_t len)
{
    while (len) {
        ssize_t n = send(fx->sock, text, len, MSG_NOSIGNAL);

        if (n < 0) {
            g_assert_cmpint(errno, ==, EAGAIN);
            pump();
            continue;
        }
        text += n;
        len -= n;
    }
}

static void put_line(Fx *fx, const char *line)
{
    put(fx, line, strlen(line));
    put(fx, "\n", 1);
}

/* The client hangs up: its end is closed, nothing more is read. */
static void hang_up(Fx *fx)
{
    close(fx->sock);
    fx->sock = -1;
}

/* The next line from the broker, parsed, or NULL if none has come. */
static JsonObject *get(Fx *fx)
{
    char buf[65536];
    ssize_t n;
    char *nl;
    g_autofree char *line = NULL;
    g_autoptr(GError) err = NULL;
    JsonObject *o;

    pump();
    while ((n = recv(fx->sock, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
        g_string_append_len(fx->in, buf, n);
    }
    nl = memchr(fx->in->str, '\n', fx->in->len);
    if (!nl) {
        return NULL;
    }
    line = g_strndup(fx->in->str, nl - fx->in->str);
    g_string_erase(fx->in, 0, nl - fx->in->str + 1);
    o = dcd_jsonin_object(line, -1, &err);
    g_assert_no_error(err);
    return o;
}

/* A reply line: its "return" (which must be there). */
static JsonNode *call(Fx *fx, const char *line)
{
    g_autoptr(JsonObject) o = NULL;

    put_line(fx, line);
    o = get(fx);
    g_assert_nonnull(o);
    g_assert_true(json_object_has_member(o, "return"));
    return json_node_copy(json_object_get_member(o, "return"));
}

static const char *error_class(JsonObject *o)
{
    JsonNode *e = json_object_get_member(o, "error");

    g_assert_nonnull(e);
    return json_object_get_string_member(json_node_get_object(e), "class");
}

static void make_pool(Fx *fx)
{
    json_node_unref(call(fx, "{\"id\":1,\"command\":\"pool-create\","
                         "\"arguments\":{\"size\":4194304,\"tag\":\"" TAG
                         "\"}}"));
}

/* The host accepts the whole group it was offered. */
static void host_accepts(Fx *fx)
{
    g_assert_true(dcd_broker_host_accept(fx->b, fx->h, fx->group,
                                         (struct dcd_range *)fx->offered->data,
                                         fx->offered->len, NULL));
}

/* The host says it released what the last RELEASE named. */
static void host_releases(Fx *fx)
{
    g_assert_true(dcd_broker_host_released(fx->b, fx->h,
                                           (struct dcd_range *)
                                           fx->releasing->data,
                                           fx->releasing->len, NULL));
}

/* The pool on host 0, accepted. */
static void make_accepted(Fx *fx)
{
    make_pool(fx);
    json_node_unref(call(fx, "{\"id\":2,\"command\":\"extent-add\","
                         "\"arguments\":{\"host-id\":0,\"tag\":\"" TAG
                         "\"}}"));
    host_accepts(fx);
}

/* The broker is still whole: a new connection is answered. */
static void check_alive(Fx *fx)
{
    DcdTag tag;
    g_autoptr(GSocket) theirs = NULL;
    g_autoptr(JsonNode) st = NULL;
    int sv[2];

    g_assert_true(dcd_tag_parse(TAG, &tag));
    g_assert_nonnull(dcd_broker_pool(fx->b, &tag));
    pump();
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                    ==, 0);
    g_assert_true(g_unix_set_fd_nonblocking(sv[0], TRUE, NULL));
    if (fx->sock >= 0) {
        close(fx->sock);
    }
    fx->sock = sv[0];
    g_string_truncate(fx->in, 0);
    theirs = g_socket_new_from_fd(sv[1], NULL);
    dcd_ctl_adopt(fx->ctl, theirs);
    st = call(fx, "{\"id\":9,\"command\":\"status\"}");
    g_assert_cmpint(json_object_get_int_member(json_node_get_object(st),
                                               "pools"), ==, 1);
}

/*
 * A monitoring client sends pool-create and hangs up before reading:
 * the event line fails (EPIPE) and closes it; the reply that follows
 * must not be written to the closed connection.
 */
static void test_hangup_monitor(void)
{
    Fx fx;

    fx_init(&fx);
    json_node_unref(call(&fx, "{\"id\":1,\"command\":\"monitor\"}"));
    put_line(&fx, "{\"id\":2,\"command\":\"pool-create\",\"arguments\":"
             "{\"size\":4194304,\"tag\":\"" TAG "\"}}");
    hang_up(&fx);
    pump();
    check_alive(&fx);
    fx_fini(&fx);
}

/*
 * The same with extent-add "wait": the pending event closes the
 * connection, and the add must not start a wait for it.
 */
static void test_hangup_monitor_wait(void)
{
    Fx fx;

    fx_init(&fx);
    make_pool(&fx);
    json_node_unref(call(&fx, "{\"id\":1,\"command\":\"monitor\"}"));
    put_line(&fx, "{\"id\":2,\"command\":\"extent-add\",\"arguments\":"
             "{\"host-id\":0,\"tag\":\"" TAG "\",\"wait\":true}}");
    hang_up(&fx);
    pump();
    host_accepts(&fx);
    pump();
    check_alive(&fx);
    fx_fini(&fx);
}

/*
 * extent-add "wait", then the client hangs up; the host's ACCEPT comes
 * after the connection is closed but before it is freed.
 */
static void test_hangup_add_wait(void)
{
    Fx fx;

    fx_init(&fx);
    make_pool(&fx);
    put_line(&fx, "{\"id\":2,\"command\":\"extent-add\",\"arguments\":"
             "{\"host-id\":0,\"tag\":\"" TAG "\",\"wait\":true}}");
    pump();
    g_assert_null(get(&fx));
    hang_up(&fx);
    /* One turn: the hang-up is read (the free comes at idle priority). */
    g_main_context_iteration(NULL, TRUE);
    host_accepts(&fx);
    pump();
    check_alive(&fx);
    fx_fini(&fx);
}

/*
 * A wait with timeout-ms 0 and a hang-up in the same turn of the loop:
 * the hang-up is read first, then the timer fires.
 */
/* line, a hang-up, and the broker must still be whole. */
static void hang_up_after(Fx *fx, const char *line)
{
    put_line(fx, line);
    hang_up(fx);
    pump();
    check_alive(fx);
    fx_fini(fx);
}

static void test_hangup_add_timeout(void)
{
    Fx fx;

    fx_init(&fx);
    make_pool(&fx);
    hang_up_after(&fx, "{\"id\":2,\"command\":\"extent-add\",\"arguments\":"
                  "{\"host-id\":0,\"tag\":\"" TAG "\",\"wait\":true,"
                  "\"timeout-ms\":0}}");
}

static void test_hangup_release_timeout(void)
{
    Fx fx;

    fx_init(&fx);
    make_accepted(&fx);
    hang_up_after(&fx, "{\"id\":3,\"command\":\"extent-release\","
                  "\"arguments\":{\"host-id\":0,\"tag\":\"" TAG "\","
                  "\"wait\":true,\"timeout-ms\":0}}");
}

/* A release wait whose host answers after the hang-up. */
static void test_hangup_release_wait(void)
{
    Fx fx;

    fx_init(&fx);
    make_accepted(&fx);
    put_line(&fx, "{\"id\":3,\"command\":\"extent-release\",\"arguments\":"
             "{\"host-id\":0,\"tag\":\"" TAG "\",\"wait\":true}}");
    pump();
    g_assert_null(get(&fx));
    hang_up(&fx);
    g_main_context_iteration(NULL, TRUE);
    host_releases(&fx);
    pump();
    check_alive(&fx);
    fx_fini(&fx);
}

/*
 * While a wait is open, later lines wait too, but not without bound: a
 * client that sends more than 16 MiB of them is closed.
 */
static void test_queued_input(void)
{
    g_autofree char *chunk = g_malloc(65536);
    g_autoptr(JsonObject) o = NULL;
    size_t sent = 0;
    Fx fx;

    fx_init(&fx);
    make_pool(&fx);
    put_line(&fx, "{\"id\":2,\"command\":\"extent-add\",\"arguments\":"
             "{\"host-id\":0,\"tag\":\"" TAG "\",\"wait\":true}}");
    g_assert_null(get(&fx));
    for (size_t i = 0; i < 65536; i += 16) {
        memcpy(chunk + i, "{\"id\":3}      \n", 16);
    }
    while (sent < (17u << 20)) {
        ssize_t n = send(fx.sock, chunk, 65536, MSG_NOSIGNAL);

        if (n < 0 && errno == EAGAIN) {
            pump();
            continue;
        }
        if (n < 0) {
            break;      /* closed, as it should be */
        }
        sent += n;
    }
    o = get(&fx);
    g_assert_nonnull(o);
    g_assert_cmpstr(error_class(o), ==, "inval");
    g_assert_nonnull(strstr(json_object_get_string_member(
        json_object_get_object_member(o, "error"), "desc"),
        "wait for a reply"));
    fx_fini(&fx);
}

/* A line nested n deep: n times open, then n times close. */
static char *deep_line(unsigned n, const char *open, const char *close)
{
    GString *s = g_string_new("{\"id\":1,\"command\":\"status\",\"x\":");

    for (unsigned i = 0; i < n; i++) {
        g_string_append(s, open);
    }
    g_string_append(s, "1");
    for (unsigned i = 0; i < n; i++) {
        g_string_append(s, close);
    }
    g_string_append(s, "}");
    return g_string_free(s, FALSE);
}

/* Deep lines are refused before json-glib's recursive parser sees them. */
static void test_deep(void)
{
    static const char *const kinds[][2] = {
        { "[", "]" }, { "{\"a\":", "}" },
    };
    Fx fx;

    fx_init(&fx);
    for (unsigned i = 0; i < G_N_ELEMENTS(kinds); i++) {
        g_autofree char *line = deep_line(150000, kinds[i][0], kinds[i][1]);
        g_autoptr(JsonObject) o = NULL;

        g_assert_cmpuint(strlen(line), <, 1 << 20);
        put_line(&fx, line);
        for (unsigned tries = 0; !o && tries < 1000; tries++) {
            o = get(&fx);
        }
        g_assert_nonnull(o);
        g_assert_cmpstr(error_class(o), ==, "inval");
        g_assert_true(json_node_is_null(json_object_get_member(o, "id")));
        g_assert_nonnull(strstr(json_object_get_string_member(
            json_object_get_object_member(o, "error"), "desc"), "deeper"));
    }
    /* The connection stays usable. */
    json_node_unref(call(&fx, "{\"id\":2,\"command\":\"status\"}"));
    fx_fini(&fx);
}

static void test_json_depth(void)
{
    g_autofree char *ok = deep_line(DCD_JSON_MAX_DEPTH - 1, "[", "]");
    g_autofree char *deep = deep_line(DCD_JSON_MAX_DEPTH, "[", "]");
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) o = NULL;
    static const char *const fine[] = {
        "{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}",
        "{\"a\":\"\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\\\"}",
        "{\"a\":\"it's a / path\"}",
    };
    /* json-glib's extensions could hide brackets from the count. */
    static const char *const refused[] = {
        "{\"a\":'x'}", "{\"a\":1 /* c */}", "{'a':1}", "{\"a\":1}//",
    };

    /* The object itself is one level, deep_line's x the rest. */
    o = dcd_jsonin_object(ok, -1, &err);
    g_assert_no_error(err);
    g_assert_nonnull(o);
    g_assert_null(dcd_jsonin_object(deep, -1, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_INVAL);
    g_clear_error(&err);
    for (unsigned i = 0; i < G_N_ELEMENTS(fine); i++) {
        g_autoptr(JsonObject) f = dcd_jsonin_object(fine[i], -1, &err);

        g_assert_no_error(err);
        g_assert_nonnull(f);
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(refused); i++) {
        g_assert_false(dcd_json_check_depth(refused[i], -1, &err));
        g_assert_error(err, DCD_ERROR, DCD_ERR_INVAL);
        g_clear_error(&err);
    }
    /* A length cuts the text: what lies beyond is not counted. */
    g_assert_true(dcd_json_check_depth(deep, strlen(deep) / 2 - 40, NULL));
}

/* requesters: at most DCD_MAX_HOST_IDS entries, duplicates dropped. */
static void test_requesters(void)
{
    GString *s = g_string_new("{\"id\":1,\"command\":\"pool-create\","
                              "\"arguments\":{\"size\":4096,\"requesters\":[");
    g_autoptr(JsonObject) o = NULL;
    g_autoptr(JsonNode) p = NULL;
    JsonArray *r;
    Fx fx;

    fx_init(&fx);
    for (unsigned i = 0; i <= DCD_MAX_HOST_IDS; i++) {
        g_string_append_printf(s, "%s%u", i ? "," : "", i);
    }
    g_string_append(s, "]}}");
    put_line(&fx, s->str);
    g_string_free(s, TRUE);
    o = get(&fx);
    g_assert_nonnull(o);
    g_assert_cmpstr(error_class(o), ==, "inval");

    p = call(&fx, "{\"id\":2,\"command\":\"pool-create\",\"arguments\":"
             "{\"size\":4096,\"requesters\":[3,1,3,3,1,7]}}");
    r = json_object_get_array_member(json_node_get_object(p), "requesters");
    g_assert_cmpuint(json_array_get_length(r), ==, 3);
    g_assert_cmpint(json_array_get_int_element(r, 0), ==, 3);
    g_assert_cmpint(json_array_get_int_element(r, 1), ==, 1);
    g_assert_cmpint(json_array_get_int_element(r, 2), ==, 7);
    fx_fini(&fx);
}

/*
 * Every extent of ret is in state and has its pool-offset: the tag's
 * extents in shared-seq order cover the pool from 0, one after another.
 */
static void check_pool_offsets(JsonNode *ret, const char *state)
{
    JsonArray *a = json_object_get_array_member(json_node_get_object(ret),
                                                "extents");
    guint n = json_array_get_length(a);
    int64_t at = 0;

    g_assert_cmpuint(n, >, 0);
    for (guint seq = 0; seq < n; seq++) {
        bool found = false;

        for (guint i = 0; i < n; i++) {
            JsonObject *e = json_array_get_object_element(a, i);

            if (json_object_get_int_member(e, "shared-seq") != seq) {
                continue;
            }
            found = true;
            g_assert_cmpstr(json_object_get_string_member(e, "state"), ==,
                            state);
            g_assert_true(json_object_has_member(e, "pool-offset"));
            g_assert_cmpint(json_object_get_int_member(e, "pool-offset"),
                            ==, at);
            at += json_object_get_int_member(e, "len");
        }
        g_assert_true(found);
    }
    g_assert_cmpint(at, ==, 4 * MB);
}

/* Release replies carry pool-offset, whether forced, waited for or not. */
static void test_release_pool_offset(void)
{
    g_autoptr(JsonNode) forced = NULL, plain = NULL, waited = NULL;
    g_autoptr(JsonObject) o = NULL;
    Fx fx;

    fx_init(&fx);
    make_accepted(&fx);
    forced = call(&fx, "{\"id\":3,\"command\":\"extent-release\","
                  "\"arguments\":{\"host-id\":0,\"tag\":\"" TAG "\","
                  "\"forced\":true}}");
    /* the host's until it confirms */
    check_pool_offsets(forced, "revoking");
    host_releases(&fx);

    json_node_unref(call(&fx, "{\"id\":4,\"command\":\"extent-add\","
                         "\"arguments\":{\"host-id\":0,\"tag\":\"" TAG
                         "\",\"policy\":\"prescriptive\",\"extents\":"
                         "[{\"offset\":0,\"len\":2097152},"
                         "{\"offset\":8388608,\"len\":2097152}]}}"));
    host_accepts(&fx);
    plain = call(&fx, "{\"id\":5,\"command\":\"extent-release\","
                 "\"arguments\":{\"host-id\":0,\"tag\":\"" TAG "\"}}");
    check_pool_offsets(plain, "releasing");
    host_releases(&fx);

    json_node_unref(call(&fx, "{\"id\":6,\"command\":\"extent-add\","
                         "\"arguments\":{\"host-id\":0,\"tag\":\"" TAG
                         "\"}}"));
    host_accepts(&fx);
    put_line(&fx, "{\"id\":7,\"command\":\"extent-release\",\"arguments\":"
             "{\"host-id\":0,\"tag\":\"" TAG "\",\"wait\":true}}");
    g_assert_null(get(&fx));
    host_releases(&fx);
    o = get(&fx);
    g_assert_nonnull(o);
    waited = json_node_copy(json_object_get_member(o, "return"));
    check_pool_offsets(waited, "released");
    fx_fini(&fx);
}

/*
 * The reader of host-id arrays that pool-create and the saved state
 * share: at most DCD_MAX_HOST_IDS entries, the first of each id kept,
 * in order.
 */
static void test_json_host_ids(void)
{
    GString *s = g_string_new("{\"r\":[");
    g_autoptr(JsonObject) o = NULL, dup = NULL;
    g_autoptr(GArray) ids = NULL;
    g_autoptr(GError) err = NULL;

    for (unsigned i = 0; i < DCD_MAX_HOST_IDS - 2; i++) {
        g_string_append_printf(s, "%s%u", i ? "," : "", 1000 - i);
    }
    g_string_append(s, ",1000,999]}");
    o = dcd_jsonin_object(s->str, -1, &err);
    g_assert_no_error(err);
    g_assert_true(dcd_jsonin_host_ids(o, "r", &ids, &err));
    g_assert_cmpuint(ids->len, ==, DCD_MAX_HOST_IDS - 2);
    g_assert_cmpuint(g_array_index(ids, uint16_t, 0), ==, 1000);
    g_assert_cmpuint(g_array_index(ids, uint16_t, 253), ==, 747);
    g_clear_pointer(&ids, g_array_unref);

    g_string_truncate(s, s->len - 2);
    g_string_append(s, ",7,8]}");
    json_object_unref(o);
    o = dcd_jsonin_object(s->str, -1, &err);
    g_assert_no_error(err);
    g_assert_false(dcd_jsonin_host_ids(o, "r", &ids, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_INVAL);
    g_assert_null(ids);
    g_string_free(s, TRUE);
}

/* Every extent of a forced release's events is in state, with pool-offset. */
static unsigned count_events(Fx *fx, const char *state, bool to_reply)
{
    unsigned n = 0;

    for (;;) {
        g_autoptr(JsonObject) o = NULL;
        JsonObject *e;

        if (!to_reply && n == fx->offered->len) {
            return n;
        }
        o = get(fx);
        g_assert_nonnull(o);
        if (json_object_has_member(o, "id")) {
            g_assert_true(to_reply);
            return n;
        }
        e = json_object_get_object_member(o, "extent");
        g_assert_cmpstr(json_object_get_string_member(e, "state"), ==, state);
        g_assert_true(json_object_has_member(e, "pool-offset"));
        n++;
    }
}

/*
 * Events of extents that change state carry pool-offset: a forced
 * release makes them revoking, the host's confirmation released.
 */
static void test_event_pool_offset(void)
{
    Fx fx;

    fx_init(&fx);
    make_accepted(&fx);
    json_node_unref(call(&fx, "{\"id\":3,\"command\":\"monitor\"}"));
    put_line(&fx, "{\"id\":4,\"command\":\"extent-release\",\"arguments\":"
             "{\"host-id\":0,\"tag\":\"" TAG "\",\"forced\":true}}");
    g_assert_cmpuint(count_events(&fx, "revoking", true), ==,
                     fx.offered->len);
    host_releases(&fx);
    g_assert_cmpuint(count_events(&fx, "released", false), ==,
                     fx.offered->len);
    fx_fini(&fx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/ctl/hangup/monitor", test_hangup_monitor);
    g_test_add_func("/ctl/hangup/monitor-wait", test_hangup_monitor_wait);
    g_test_add_func("/ctl/hangup/add-wait", test_hangup_add_wait);
    g_test_add_func("/ctl/hangup/add-timeout", test_hangup_add_timeout);
    g_test_add_func("/ctl/hangup/release-wait", test_hangup_release_wait);
    g_test_add_func("/ctl/hangup/release-timeout",
                    test_hangup_release_timeout);
    g_test_add_func("/ctl/deep", test_deep);
    g_test_add_func("/ctl/queued-input", test_queued_input);
    g_test_add_func("/json/depth", test_json_depth);
    g_test_add_func("/json/host-ids", test_json_host_ids);
    g_test_add_func("/ctl/requesters", test_requesters);
    g_test_add_func("/ctl/release-pool-offset", test_release_pool_offset);
    g_test_add_func("/ctl/event-pool-offset", test_event_pool_offset);
    return g_test_run();
}
