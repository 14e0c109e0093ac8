/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The etcd client reads etcd like any peer: strict base64, bounded keys
 * and values without NULs, revisions that are numbers, answers that are
 * one JSON object not nested too deep and not too large, refusals mapped
 * to our error classes; and a member that says nothing costs the
 * timeout, no more.  With an etcd user, a token is got first and sent
 * with every request, and a request refused for its token goes once more
 * with a new one; a wrong password is a clear refusal.  The security
 * options are checked before anything is sent.  A fake etcd (a thread
 * answering canned HTTP) stands in for the real one, which the cluster
 * suite runs (TLS too).
 */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "dcd/types.h"
#include "core/etcd.h"

/* ---- dcd_etcd_kv_read ---------------------------------------------------*/

static bool kv_from(const char *json, DcdEtcdKv *kv, GError **errp)
{
    g_autoptr(JsonParser) p = json_parser_new();

    g_assert_true(json_parser_load_from_data(p, json, -1, NULL));
    return dcd_etcd_kv_read(json_node_get_object(json_parser_get_root(p)),
                            kv, errp);
}

static void test_kv(void)
{
    g_auto(DcdEtcdKv) kv = { 0 };
    g_autoptr(GError) err = NULL;
    /* "/dcd/v1/meta" and "{}" */
    const char *good = "{\"key\": \"L2RjZC92MS9tZXRh\", \"value\": \"e30=\","
                       " \"create_revision\": \"3\", \"mod_revision\": \"7\","
                       " \"lease\": \"12345678901234567\"}";
#define REVS ", \"create_revision\": \"1\", \"mod_revision\": \"1\"}"
    static const char *const bad[] = {
        /* not base64, or not strictly */
        "{\"key\": \"@@@@\"" REVS,
        "{\"key\": \"L2Rj\\nZA==\"" REVS,
        "{\"key\": \"L2R=jZA=\"" REVS,
        "{\"key\": \"L2RjZ\"" REVS,
        /* a NUL in the value: "a\0b" */
        "{\"key\": \"YQ==\", \"value\": \"YQBi\"" REVS,
        /* revisions: missing, negative, not a number, wrong type, huge */
        "{\"key\": \"YQ==\"}",
        "{\"key\": \"YQ==\", \"create_revision\": \"-1\","
        " \"mod_revision\": \"1\"}",
        "{\"key\": \"YQ==\", \"create_revision\": \"1\","
        " \"mod_revision\": \"1x\"}",
        "{\"key\": \"YQ==\", \"create_revision\": \"1\","
        " \"mod_revision\": [1]}",
        "{\"key\": \"YQ==\", \"create_revision\": \"1\","
        " \"mod_revision\": \"99999999999999999999\"}",
        /* the key's type */
        "{\"key\": 5" REVS,
    };
#undef REVS

    g_assert_true(kv_from(good, &kv, &err));
    g_assert_no_error(err);
    g_assert_cmpstr(kv.key, ==, "/dcd/v1/meta");
    g_assert_cmpstr(kv.value, ==, "{}");
    g_assert_cmpint(kv.create_rev, ==, 3);
    g_assert_cmpint(kv.mod_rev, ==, 7);
    g_assert_cmpint(kv.lease, ==, 12345678901234567);
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_auto(DcdEtcdKv) b = { 0 };
        g_autoptr(GError) e = NULL;

        g_test_message("bad kv %u: %s", i, bad[i]);
        g_assert_false(kv_from(bad[i], &b, &e));
        g_assert_nonnull(e);
        g_assert_null(b.key);
        g_assert_null(b.value);
    }
}

static void test_oversized_value(void)
{
    g_autofree char *raw = g_malloc(DCD_ETCD_MAX_VALUE + 1);
    g_autofree char *b64 = NULL;
    g_autofree char *json = NULL;
    g_auto(DcdEtcdKv) kv = { 0 };
    g_autoptr(GError) err = NULL;

    memset(raw, 'x', DCD_ETCD_MAX_VALUE + 1);
    b64 = g_base64_encode((guchar *)raw, DCD_ETCD_MAX_VALUE + 1);
    json = g_strdup_printf("{\"key\": \"YQ==\", \"value\": \"%s\","
                           " \"create_revision\": \"1\", \"mod_revision\":"
                           " \"1\"}", b64);
    g_assert_false(kv_from(json, &kv, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_IO);
}

static void test_prefix_end(void)
{
    g_autofree char *end = dcd_etcd_prefix_end("/dcd/v1/");

    g_assert_cmpstr(end, ==, "/dcd/v10");
}

static void test_bad_urls(void)
{
    static const char *const bad[] = {
        "http://127.0.0.1:2379", "etcd://", "etcd://host", "etcd://:2379",
        "etcd://h:1/path", "etcd://127.0.0.1:2379,", "etcd://a:0",
    };

    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;

        g_assert_null(dcd_etcd_new(bad[i], 500, NULL, &err));
        g_assert_error(err, DCD_ERROR, DCD_ERR_INVAL);
    }
}

/* ---- a fake etcd --------------------------------------------------------*/

typedef struct Fake {
    int lfd;
    unsigned port;
    GThread *thread;
    const char *status;      /* "200 OK" */
    char *body;              /* the answer; NULL: say nothing at all */
    size_t body_len;
    /* Or a status and body per request, in turn (NULL-ended pairs). */
    const char *const *script;
    guint next;
    GMutex lock;
    GPtrArray *seen;         /* "PATH AUTHORIZATION" of each request */
    gint stop;
} Fake;

/* What a request asked, as "PATH TOKEN" ("-": no Authorization). */
static char *request_seen(const char *req)
{
    g_autofree char *path = NULL;
    g_autofree char *auth = NULL;
    const char *sp = strchr(req, ' ');
    const char *a = strcasestr(req, "\r\nAuthorization: ");

    if (sp) {
        path = g_strndup(sp + 1, strcspn(sp + 1, " "));
    }
    if (a) {
        a += strlen("\r\nAuthorization: ");
        auth = g_strndup(a, strcspn(a, "\r"));
    }
    return g_strdup_printf("%s %s", path ? path : "?", auth ? auth : "-");
}

static char *read_request(int fd)
{
    char buf[4096];
    GString *req = g_string_new(NULL);
    const char *hdr_end;
    size_t want = 0;

    /* Headers, then Content-Length bytes (soup sends one). */
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n <= 0) {
            break;
        }
        g_string_append_len(req, buf, n);
        hdr_end = strstr(req->str, "\r\n\r\n");
        if (hdr_end) {
            const char *cl = strcasestr(req->str, "content-length:");

            want = (hdr_end + 4 - req->str) +
                   (cl ? strtoul(cl + 15, NULL, 10) : 0);
            if (req->len >= want) {
                break;
            }
        }
    }
    return g_string_free(req, FALSE);
}

static gpointer fake_main(gpointer opaque)
{
    Fake *f = opaque;

    while (!g_atomic_int_get(&f->stop)) {
        int fd = accept(f->lfd, NULL, NULL);
        g_autofree char *head = NULL;
        g_autofree char *req = NULL;

        if (fd < 0) {
            continue;
        }
        req = read_request(fd);
        g_mutex_lock(&f->lock);
        g_ptr_array_add(f->seen, request_seen(req));
        if (f->script && f->script[f->next * 2]) {
            f->status = f->script[f->next * 2];
            g_free(f->body);
            f->body = g_strdup(f->script[f->next * 2 + 1]);
            f->body_len = strlen(f->body);
            f->next++;
        }
        g_mutex_unlock(&f->lock);
        if (g_strcmp0(f->status, "HANGUP") == 0) {
            /* The request read, the member gone before it answers. */
            close(fd);
            continue;
        }
        if (!f->body) {
            /* Silent: hold the connection until the client gives up. */
            char c;

            while (read(fd, &c, 1) > 0) {
            }
            close(fd);
            continue;
        }
        head = g_strdup_printf("HTTP/1.1 %s\r\nContent-Type: application/json"
                               "\r\nContent-Length: %zu\r\nConnection: close"
                               "\r\n\r\n", f->status, f->body_len);
        if (write(fd, head, strlen(head)) > 0) {
            for (size_t off = 0; off < f->body_len;) {
                ssize_t n = write(fd, f->body + off, f->body_len - off);

                if (n <= 0) {
                    break;
                }
                off += n;
            }
        }
        close(fd);
    }
    return NULL;
}

static Fake *fake_new(const char *status, const char *body, size_t len)
{
    Fake *f = g_new0(Fake, 1);
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);

    f->status = status;
    f->seen = g_ptr_array_new_with_free_func(g_free);
    g_mutex_init(&f->lock);
    if (body) {
        f->body = g_memdup2(body, len);
        f->body_len = len;
    }
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), ==, 0);
    g_assert_cmpint(listen(f->lfd, 8), ==, 0);
    g_assert_cmpint(getsockname(f->lfd, (struct sockaddr *)&a, &alen), ==, 0);
    f->port = ntohs(a.sin_port);
    f->thread = g_thread_new("fake-etcd", fake_main, f);
    return f;
}

static void fake_free(Fake *f)
{
    g_atomic_int_set(&f->stop, 1);
    shutdown(f->lfd, SHUT_RDWR);
    g_thread_join(f->thread);
    close(f->lfd);
    g_free(f->body);
    g_ptr_array_unref(f->seen);
    g_mutex_clear(&f->lock);
    g_free(f);
}

static Fake *fake_script(const char *const *script)
{
    Fake *f = fake_new(NULL, NULL, 0);

    /* The fake's thread reads it under the lock. */
    g_mutex_lock(&f->lock);
    f->script = script;
    g_mutex_unlock(&f->lock);
    return f;
}

/* The requests the fake has seen, one "PATH TOKEN" a line. */
static char *fake_seen(Fake *f)
{
    g_autoptr(GString) all = g_string_new(NULL);

    g_mutex_lock(&f->lock);
    for (guint i = 0; i < f->seen->len; i++) {
        g_string_append_printf(all, "%s\n", (char *)f->seen->pdata[i]);
    }
    g_mutex_unlock(&f->lock);
    return g_strdup(all->str);
}

static bool last_refused;

/* One call to a fake etcd answering status and body. */
static JsonObject *call_fake(const char *status, const char *body,
                             size_t len, unsigned timeout_ms, GError **errp)
{
    Fake *f = fake_new(status, body, len);
    g_autofree char *url = g_strdup_printf("etcd://127.0.0.1:%u", f->port);
    DcdEtcd *c = dcd_etcd_new(url, timeout_ms, NULL, NULL);
    JsonObject *o;

    g_assert_nonnull(c);
    o = dcd_etcd_call(c, "/v3/kv/range", "{}", &last_refused, errp);
    dcd_etcd_free(c);
    fake_free(f);
    return o;
}

static void test_answers(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) o = NULL;
    g_autoptr(GString) deep = g_string_new(NULL);
    const char *nospc = "{\"error\": \"etcdserver: mvcc: database space"
                        " exceeded\", \"code\": 8}";
    const char *other = "{\"error\": \"etcdserver: too many operations in"
                        " txn request\", \"code\": 3}";
    const char *ok = "{\"header\": {\"revision\": \"5\"}}";

    o = call_fake("200 OK", ok, strlen(ok), 2000, &err);
    g_assert_no_error(err);
    g_assert_nonnull(o);
    g_clear_pointer(&o, json_object_unref);

    o = call_fake("200 OK", "[1, 2]", 6, 2000, &err);
    g_assert_null(o);
    g_assert_error(err, DCD_ERROR, DCD_ERR_IO);
    g_clear_error(&err);

    o = call_fake("200 OK", "{\"a\": ", 6, 2000, &err);
    g_assert_error(err, DCD_ERROR, DCD_ERR_IO);
    g_clear_error(&err);

    for (int i = 0; i < 100; i++) {
        g_string_append(deep, "{\"a\": ");
    }
    g_string_append(deep, "1");
    for (int i = 0; i < 100; i++) {
        g_string_append_c(deep, '}');
    }
    o = call_fake("200 OK", deep->str, deep->len, 2000, &err);
    g_assert_error(err, DCD_ERROR, DCD_ERR_IO);
    g_clear_error(&err);

    o = call_fake("500 Internal Server Error", nospc, strlen(nospc), 2000,
                  &err);
    g_assert_error(err, DCD_ERROR, DCD_ERR_NOSPC);
    g_clear_error(&err);

    o = call_fake("400 Bad Request", other, strlen(other), 2000, &err);
    g_assert_error(err, DCD_ERROR, DCD_ERR_IO);
    g_assert_nonnull(strstr(err->message, "too many operations"));
    g_clear_error(&err);
}

static void test_too_large(void)
{
    size_t len = DCD_ETCD_MAX_REPLY + 4096;
    g_autofree char *big = g_malloc(len);
    g_autoptr(GError) err = NULL;
    JsonObject *o;

    memset(big, ' ', len);
    big[0] = '{';
    big[len - 1] = '}';
    o = call_fake("200 OK", big, len, 10000, &err);
    g_assert_null(o);
    g_assert_error(err, DCD_ERROR, DCD_ERR_IO);
}

static void test_silent(void)
{
    g_autoptr(GError) err = NULL;
    gint64 t0 = g_get_monotonic_time();
    JsonObject *o = call_fake(NULL, NULL, 0, 300, &err);
    gint64 took = g_get_monotonic_time() - t0;

    g_assert_null(o);
    g_assert_error(err, DCD_ERROR, DCD_ERR_UNAVAIL);
    g_assert_cmpint(took, >=, 300 * 1000);
    g_assert_cmpint(took, <, 1300 * 1000);
}

/* A loopback port that was free a moment ago: nobody listens there. */
static unsigned dead_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    g_assert_cmpint(bind(fd, (struct sockaddr *)&a, sizeof(a)), ==, 0);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&a, &alen), ==, 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_refused(void)
{
    g_autoptr(GError) err = NULL;
    unsigned port = dead_port();
    g_autofree char *url = NULL;
    DcdEtcd *c;

    url = g_strdup_printf("etcd://127.0.0.1:%u,127.0.0.1:%u", port, port);
    c = dcd_etcd_new(url, 2000, NULL, NULL);
    g_assert_null(dcd_etcd_call(c, "/v3/kv/range", "{}", NULL, &err));
    g_assert_error(err, DCD_ERROR, DCD_ERR_UNAVAIL);
    dcd_etcd_free(c);
}

/* A dead endpoint is passed over for the next one. */
static void test_next_endpoint(void)
{
    const char *ok = "{\"header\": {\"revision\": \"5\"}}";
    Fake *f = fake_new("200 OK", ok, strlen(ok));
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) o = NULL;
    g_autofree char *url = NULL;
    DcdEtcd *c;

    url = g_strdup_printf("etcd://127.0.0.1:%u,127.0.0.1:%u", dead_port(),
                          f->port);
    c = dcd_etcd_new(url, 2000, NULL, NULL);
    o = dcd_etcd_call(c, "/v3/kv/range", "{}", NULL, &err);
    g_assert_no_error(err);
    g_assert_nonnull(o);
    dcd_etcd_free(c);
    fake_free(f);
}

/* Whether etcd said no (nothing applied) or may have applied it. */
static void test_refused_or_not(void)
{
    const char *bad = "{\"error\": \"etcdserver: duplicate key given in txn"
                      " request\", \"code\": 3}";
    const char *timed = "{\"error\": \"etcdserver: request timed out\","
                        " \"code\": 14}";
    const char *ok = "{\"header\": {\"revision\": \"5\"}}";
    g_autoptr(GError) err = NULL;
    JsonObject *o;

    o = call_fake("400 Bad Request", bad, strlen(bad), 2000, &err);
    g_assert_null(o);
    g_assert_true(last_refused);
    g_clear_error(&err);
    o = call_fake("503 Service Unavailable", timed, strlen(timed), 2000,
                  &err);
    g_assert_error(err, DCD_ERROR, DCD_ERR_UNAVAIL);
    g_assert_false(last_refused);
    g_clear_error(&err);
    o = call_fake(NULL, NULL, 0, 300, &err);
    g_assert_false(last_refused);
    g_clear_error(&err);
    o = call_fake("200 OK", ok, strlen(ok), 2000, &err);
    g_assert_nonnull(o);
    g_assert_false(last_refused);
    json_object_unref(o);
}

/* Round trips and errors (metrics): one a call, endpoints tried or not. */
/*
 * A member that takes a txn and is gone before it answers may have
 * applied it: the call fails as of unknown outcome (unavail, not
 * refused) instead of sending it to the next member, where its compares
 * would fail on its own first landing; the next call goes there.
 */
static void test_no_resend(void)
{
    const char *ok = "{\"header\": {\"revision\": \"5\"}}";
    Fake *gone = fake_new("HANGUP", "", 0);
    Fake *next = fake_new("200 OK", ok, strlen(ok));
    g_autofree char *url = g_strdup_printf("etcd://127.0.0.1:%u,"
                                           "127.0.0.1:%u", gone->port,
                                           next->port);
    DcdEtcd *c = dcd_etcd_new(url, 2000, NULL, NULL);
    g_autoptr(GError) err = NULL;
    bool refused = true;
    JsonObject *o;

    g_assert_null(dcd_etcd_call(c, "/v3/kv/txn", "{}", &refused, &err));
    g_test_message("member gone mid-txn: %s", err->message);
    g_assert_error(err, DCD_ERROR, DCD_ERR_UNAVAIL);
    g_assert_false(refused);
    g_assert_cmpuint(gone->seen->len, ==, 1);
    g_assert_cmpuint(next->seen->len, ==, 0);
    o = dcd_etcd_call(c, "/v3/kv/txn", "{}", NULL, NULL);
    g_assert_nonnull(o);
    json_object_unref(o);
    g_assert_cmpuint(next->seen->len, ==, 1);
    dcd_etcd_free(c);
    fake_free(gone);
    fake_free(next);
}

static void test_counts(void)
{
    const char *ok = "{\"header\": {\"revision\": \"5\"}}";
    const char *bad = "{\"error\": \"etcdserver: duplicate key given in txn"
                      " request\", \"code\": 3}";
    Fake *good = fake_new("200 OK", ok, strlen(ok));
    Fake *no = fake_new("400 Bad Request", bad, strlen(bad));
    g_autofree char *url = NULL, *no_url = NULL;
    uint64_t calls, errors;
    JsonObject *o;
    DcdEtcd *c;

    url = g_strdup_printf("etcd://127.0.0.1:%u,127.0.0.1:%u", dead_port(),
                          good->port);
    c = dcd_etcd_new(url, 2000, NULL, NULL);
    dcd_etcd_counts(c, &calls, &errors);
    g_assert_cmpuint(calls, ==, 0);
    o = dcd_etcd_call(c, "/v3/kv/range", "{}", NULL, NULL);
    g_assert_nonnull(o);
    json_object_unref(o);
    dcd_etcd_counts(c, &calls, &errors);
    g_assert_cmpuint(calls, ==, 1);
    g_assert_cmpuint(errors, ==, 0);
    dcd_etcd_free(c);

    no_url = g_strdup_printf("etcd://127.0.0.1:%u", no->port);
    c = dcd_etcd_new(no_url, 2000, NULL, NULL);
    g_assert_null(dcd_etcd_call(c, "/v3/kv/range", "{}", NULL, NULL));
    dcd_etcd_counts(c, &calls, &errors);
    g_assert_cmpuint(calls, ==, 1);
    g_assert_cmpuint(errors, ==, 1);
    dcd_etcd_free(c);
    fake_free(good);
    fake_free(no);
}

/* ---- security options and authentication --------------------------------*/

typedef struct Secrets {
    char *dir;
    char *pw;                /* mode 0600, "secret\n" */
} Secrets;

static char *file_in(const char *dir, const char *name, const char *text,
                     int mode)
{
    char *path = g_build_filename(dir, name, NULL);

    g_assert_true(g_file_set_contents(path, text, -1, NULL));
    g_assert_cmpint(g_chmod(path, mode), ==, 0);
    return path;
}

static void secrets_init(Secrets *s)
{
    s->dir = g_dir_make_tmp("dcd-etcd-test-XXXXXX", NULL);
    g_assert_nonnull(s->dir);
    s->pw = file_in(s->dir, "pw", "secret\n", 0600);
}

static void secrets_clear(Secrets *s)
{
    g_autoptr(GDir) d = g_dir_open(s->dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(s->dir, name, NULL);

        g_unlink(path);
    }
    g_rmdir(s->dir);
    g_free(s->dir);
    g_free(s->pw);
}

/* Bad combinations and files are refused before anything is sent. */
static void test_security_options(void)
{
    Secrets sx;
    g_autofree char *open_pw = NULL, *empty_pw = NULL, *no_cert = NULL;
    g_autofree char *missing = NULL;
    DcdEtcdSecurity ok = { 0 };
    struct {
        const char *url;
        DcdEtcdSecurity sec;
        const char *says;
    } bad[] = {
        { "etcd://127.0.0.1:2379", { .cacert = "/etc/hostname" },
          "etcds://" },
        { "etcd://127.0.0.1:2379", { .cert = "c", .key = "k" }, "etcds://" },
        { "etcds://127.0.0.1:2379", { .cert = "c" }, "go together" },
        { "etcds://127.0.0.1:2379", { .key = "k" }, "go together" },
        { "etcds://127.0.0.1:2379", { .user = "dcd" }, "go together" },
        { "etcds://127.0.0.1:2379", { .password_file = "p" },
          "go together" },
        { "etcds://127.0.0.1:2379", { .user = "", .password_file = "p" },
          "--etcd-user" },
        { "etcds://127.0.0.1:2379", { 0 }, NULL },   /* open_pw */
        { "etcds://127.0.0.1:2379", { 0 }, NULL },   /* empty_pw */
        { "etcds://127.0.0.1:2379", { 0 }, NULL },   /* missing */
        { "etcds://127.0.0.1:2379", { 0 }, NULL },   /* no_cert */
        { "etcds://127.0.0.1:2379", { 0 }, NULL },   /* no_cert as cert */
    };
    DcdEtcd *c;

    secrets_init(&sx);
    open_pw = file_in(sx.dir, "open", "secret", 0644);
    empty_pw = file_in(sx.dir, "empty", "\n", 0600);
    no_cert = file_in(sx.dir, "no-cert.pem", "not a certificate\n", 0644);
    missing = g_build_filename(sx.dir, "missing", NULL);
    bad[7].sec = (DcdEtcdSecurity){ .user = "dcd", .password_file = open_pw };
    bad[7].says = "chmod 600";
    bad[8].sec = (DcdEtcdSecurity){ .user = "dcd",
                                    .password_file = empty_pw };
    bad[8].says = "empty";
    bad[9].sec = (DcdEtcdSecurity){ .user = "dcd", .password_file = missing };
    bad[9].says = missing;
    bad[10].sec = (DcdEtcdSecurity){ .cacert = no_cert };
    bad[10].says = "--etcd-cacert";
    bad[11].sec = (DcdEtcdSecurity){ .cert = no_cert, .key = no_cert };
    bad[11].says = "--etcd-cert";
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;

        g_assert_null(dcd_etcd_new(bad[i].url, 500, &bad[i].sec, &err));
        g_test_message("bad security %u: %s", i, err->message);
        g_assert_error(err, DCD_ERROR, DCD_ERR_INVAL);
        g_assert_nonnull(strstr(err->message, bad[i].says));
    }
    /* A good one; TLS with the system's CAs; no request is sent yet. */
    ok.user = "dcd";
    ok.password_file = sx.pw;
    c = dcd_etcd_new("etcds://127.0.0.1:2379,localhost:2379", 500, &ok,
                     NULL);
    g_assert_nonnull(c);
    dcd_etcd_free(c);
    secrets_clear(&sx);
}

#define OK_ANSWER "{\"header\": {\"revision\": \"5\"}}"
#define TOKEN(t) "{\"header\": {\"revision\": \"5\"}, \"token\": \"" t "\"}"
#define BAD_TOKEN "{\"error\": \"etcdserver: invalid auth token\"," \
                  " \"message\": \"etcdserver: invalid auth token\"," \
                  " \"code\": 16}"

/* A client as etcd user dcd, and a fake etcd answering script. */
typedef struct AuthRig {
    Fake *f;
    Secrets sx;
    DcdEtcd *c;
} AuthRig;

static void rig_init(AuthRig *r, const char *const *script)
{
    g_autofree char *url = NULL;
    DcdEtcdSecurity sec = { .user = "dcd" };

    r->f = fake_script(script);
    secrets_init(&r->sx);
    sec.password_file = r->sx.pw;
    url = g_strdup_printf("etcd://127.0.0.1:%u", r->f->port);
    /* Plain HTTP: it warns that the password goes in clear. */
    g_test_expect_message("dcd-broker", G_LOG_LEVEL_WARNING,
                          "*unencrypted*");
    r->c = dcd_etcd_new(url, 2000, &sec, NULL);
    g_test_assert_expected_messages();
    g_assert_nonnull(r->c);
}

/* Checks what the fake saw, then ends the rig. */
static void rig_end(AuthRig *r, const char *want_seen)
{
    g_autofree char *seen = fake_seen(r->f);

    g_assert_cmpstr(seen, ==, want_seen);
    dcd_etcd_free(r->c);
    fake_free(r->f);
    secrets_clear(&r->sx);
}

typedef struct Async {
    GMainLoop *loop;
    JsonObject *reply;
    GError *err;
} Async;

static void on_async(JsonObject *reply, const GError *err, gpointer opaque)
{
    Async *a = opaque;

    a->reply = reply ? json_object_ref(reply) : NULL;
    a->err = err ? g_error_copy(err) : NULL;
    g_main_loop_quit(a->loop);
}

/*
 * A token first, then with every request; a token etcd refuses is
 * replaced once and the request sent again, on either call path.
 */
static void test_auth_token(void)
{
    static const char *const script[] = {
        "200 OK", TOKEN("t1.5"),
        "200 OK", OK_ANSWER,
        "401 Unauthorized", BAD_TOKEN,
        "200 OK", TOKEN("t2.6"),
        "200 OK", OK_ANSWER,
        "401 Unauthorized", BAD_TOKEN,
        "200 OK", TOKEN("t3.7"),
        "200 OK", OK_ANSWER,
        NULL
    };
    AuthRig r;
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) o = NULL;
    Async a = { .loop = g_main_loop_new(NULL, FALSE) };

    rig_init(&r, script);
    o = dcd_etcd_call(r.c, "/v3/kv/range", "{}", NULL, &err);
    g_assert_no_error(err);
    g_assert_nonnull(o);
    g_clear_pointer(&o, json_object_unref);
    /* etcd forgot the token (it ran out, a member restarted). */
    o = dcd_etcd_call(r.c, "/v3/kv/txn", "{}", NULL, &err);
    g_assert_no_error(err);
    g_assert_nonnull(o);
    /* The same on the main loop. */
    dcd_etcd_call_async(r.c, "/v3/lease/grant", "{}", on_async, &a);
    g_main_loop_run(a.loop);
    g_assert_no_error(a.err);
    g_assert_nonnull(a.reply);
    json_object_unref(a.reply);
    g_main_loop_unref(a.loop);
    rig_end(&r, "/v3/auth/authenticate -\n"
                "/v3/kv/range t1.5\n"
                "/v3/kv/txn t1.5\n"
                "/v3/auth/authenticate -\n"
                "/v3/kv/txn t2.6\n"
                "/v3/lease/grant t2.6\n"
                "/v3/auth/authenticate -\n"
                "/v3/lease/grant t3.7\n");
}

/* A token refused again is not chased: one new token per request. */
static void test_auth_once(void)
{
    static const char *const script[] = {
        "200 OK", TOKEN("t1.5"),
        "401 Unauthorized", BAD_TOKEN,
        "200 OK", TOKEN("t2.6"),
        "401 Unauthorized", BAD_TOKEN,
        NULL
    };
    AuthRig r;
    g_autoptr(GError) err = NULL;
    bool refused = false;

    rig_init(&r, script);
    g_assert_null(dcd_etcd_call(r.c, "/v3/kv/txn", "{}", &refused, &err));
    g_test_message("refused twice: %s", err->message);
    g_assert_error(err, DCD_ERROR, DCD_ERR_PERM);
    g_assert_true(refused);
    rig_end(&r, "/v3/auth/authenticate -\n/v3/kv/txn t1.5\n"
                "/v3/auth/authenticate -\n/v3/kv/txn t2.6\n");
}

/* A wrong password: refused, saying so, and the request never sent. */
static void test_auth_refused(void)
{
    static const char *const script[] = {
        "400 Bad Request", "{\"error\": \"etcdserver: authentication"
        " failed, invalid user ID or password\", \"code\": 3}",
        NULL
    };
    AuthRig r;
    g_autoptr(GError) err = NULL;
    g_autofree char *where = NULL;
    bool refused = false;

    rig_init(&r, script);
    where = g_strdup_printf("http://127.0.0.1:%u", r.f->port);
    g_assert_null(dcd_etcd_call(r.c, "/v3/kv/txn", "{}", &refused, &err));
    g_test_message("wrong password: %s", err->message);
    g_assert_error(err, DCD_ERROR, DCD_ERR_PERM);
    g_assert_nonnull(strstr(err->message, "etcd user dcd"));
    g_assert_nonnull(strstr(err->message, "invalid user ID or password"));
    g_assert_nonnull(strstr(err->message, where));
    g_assert_true(refused);
    rig_end(&r, "/v3/auth/authenticate -\n");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/etcd/kv", test_kv);
    g_test_add_func("/etcd/oversized-value", test_oversized_value);
    g_test_add_func("/etcd/prefix-end", test_prefix_end);
    g_test_add_func("/etcd/bad-urls", test_bad_urls);
    g_test_add_func("/etcd/answers", test_answers);
    g_test_add_func("/etcd/too-large", test_too_large);
    g_test_add_func("/etcd/silent", test_silent);
    g_test_add_func("/etcd/refused", test_refused);
    g_test_add_func("/etcd/next-endpoint", test_next_endpoint);
    g_test_add_func("/etcd/refused-or-not", test_refused_or_not);
    g_test_add_func("/etcd/counts", test_counts);
    g_test_add_func("/etcd/no-resend", test_no_resend);
    g_test_add_func("/etcd/security-options", test_security_options);
    g_test_add_func("/etcd/auth-token", test_auth_token);
    g_test_add_func("/etcd/auth-once", test_auth_once);
    g_test_add_func("/etcd/auth-refused", test_auth_refused);
    return g_test_run();
}
