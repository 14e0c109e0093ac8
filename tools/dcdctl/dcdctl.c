/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dcdctl.c - the broker CLI.  Each verb turns its options into one control
 * command; output is a table, or the command's JSON with --json.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcd-client/ctlclient.h"
#include "dcd/paths.h"

#define DEFAULT_TIMEOUT_S 30

static char *opt_socket;
static gboolean opt_json;
static char *opt_timeout;
static gboolean opt_bytes;
/* The reply to extent add --wait may take the wait's own timeout. */
static guint64 wait_ms;

static const GOptionEntry common_entries[] = {
    { "socket", 's', 0, G_OPTION_ARG_FILENAME, &opt_socket,
      "Broker control socket", "PATH" },
    { "json", 'j', 0, G_OPTION_ARG_NONE, &opt_json,
      "Print the result as JSON", NULL },
    { "bytes", 'b', 0, G_OPTION_ARG_NONE, &opt_bytes,
      "Print sizes in bytes, not K/M/G", NULL },
    { "timeout", 'T', 0, G_OPTION_ARG_STRING, &opt_timeout,
      "Give up on a broker that has not answered in this many seconds"
      " (default 30; 0: wait for ever)", "S" },
    { NULL }
};

static G_NORETURN void die(int code, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Exit codes of extent add --wait beyond 0, 1 (refused) and 2 (usage). */
enum {
    EXIT_REJECTED = 3,    /* the host rejected some or all of the extents */
    EXIT_WITHDRAWN = 4,   /* the offer ended unanswered: timed out at the
                           * broker, withdrawn, or the host went away */
    EXIT_TIMED_OUT = 5,   /* --wait-timeout passed; the offer is pending */
};

static void die(int code, const char *fmt, ...)
{
    va_list ap;

    fputs("dcdctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(code);
}

/* ---- output ----------------------------------------------------------- */

typedef struct Table {
    guint ncols;
    GPtrArray *cells; /* char *, row-major; the first row is the header */
} Table;

static Table *table_new(const char *const *header)
{
    Table *t = g_new0(Table, 1);

    t->cells = g_ptr_array_new_with_free_func(g_free);
    for (; header[t->ncols]; t->ncols++) {
        g_ptr_array_add(t->cells, g_strdup(header[t->ncols]));
    }
    return t;
}

static void table_add(Table *t, char *cell)
{
    g_ptr_array_add(t->cells, cell);
}

static void table_print(Table *t)
{
    g_autofree int *w = g_new0(int, t->ncols);

    for (guint i = 0; i < t->cells->len; i++) {
        w[i % t->ncols] = MAX(w[i % t->ncols],
                              (int)strlen(t->cells->pdata[i]));
    }
    for (guint i = 0; i < t->cells->len; i++) {
        bool last = i % t->ncols == t->ncols - 1;

        printf("%-*s%s", last ? 0 : w[i % t->ncols],
               (char *)t->cells->pdata[i], last ? "\n" : "  ");
    }
    g_ptr_array_unref(t->cells);
    g_free(t);
}

static char *size_cell(gint64 v)
{
    char buf[32];

    if (opt_bytes) {
        return g_strdup_printf("%" G_GINT64_FORMAT, v);
    }
    return g_strdup(dcd_size_format(v, buf, sizeof(buf)));
}

static char *hex_cell(gint64 v)
{
    return g_strdup_printf("0x%" G_GINT64_MODIFIER "x", v);
}

static void print_json(JsonNode *n)
{
    g_autofree char *s = json_to_string(n, TRUE);

    puts(s);
}

/* "3", or "3@b" for a host of another node in the cluster. */
static char *host_cell(JsonObject *o)
{
    gint64 id = json_object_get_int_member(o, "host-id");

    if (!json_object_has_member(o, "connected") &&
        json_object_has_member(o, "node") &&
        !json_object_has_member(o, "group")) {
        return g_strdup_printf("%" G_GINT64_FORMAT "@%s", id,
                               json_object_get_string_member(o, "node"));
    }
    return g_strdup_printf("%" G_GINT64_FORMAT, id);
}

static void print_extents(JsonArray *a)
{
    static const char *const hdr[] = {
        "HOST", "REGION", "DPA", "OFFSET", "LEN", "TAG", "SEQ", "POOL-OFFSET",
        "STATE", NULL
    };
    Table *t = table_new(hdr);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *e = json_array_get_object_element(a, i);

        table_add(t, host_cell(e));
        table_add(t, g_strdup_printf("%" G_GINT64_FORMAT,
                                     json_object_get_int_member(e, "region")));
        table_add(t, hex_cell(json_object_get_int_member(e, "dpa")));
        table_add(t, hex_cell(json_object_get_int_member(e, "offset")));
        table_add(t, size_cell(json_object_get_int_member(e, "len")));
        table_add(t, g_strdup(json_object_get_string_member(e, "tag")));
        table_add(t, g_strdup_printf("%" G_GINT64_FORMAT,
                                     json_object_get_int_member(e,
                                                                "shared-seq")));
        table_add(t, json_object_has_member(e, "pool-offset") ?
                  hex_cell(json_object_get_int_member(e, "pool-offset")) :
                  g_strdup("-"));
        table_add(t, g_strdup(json_object_get_string_member(e, "state")));
    }
    table_print(t);
}

static void print_pools(JsonArray *a)
{
    static const char *const hdr[] = {
        "TAG", "SIZE", "BACKING", "SEGMENTS", "HOSTS", "MEMORY", NULL
    };
    Table *t = table_new(hdr);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *p = json_array_get_object_element(a, i);
        JsonArray *hosts = json_object_get_array_member(p, "hosts");
        g_autoptr(GString) hs = g_string_new(NULL);

        for (guint j = 0; j < json_array_get_length(hosts); j++) {
            g_string_append_printf(hs, "%s%" G_GINT64_FORMAT, j ? "," : "",
                                   json_array_get_int_element(hosts, j));
        }
        table_add(t, g_strdup(json_object_get_string_member(p, "tag")));
        table_add(t, size_cell(json_object_get_int_member(p, "size")));
        table_add(t, g_strdup(json_object_get_string_member(p, "backing")));
        table_add(t, g_strdup_printf("%u", json_array_get_length(
            json_object_get_array_member(p, "segments"))));
        table_add(t, g_strdup(hs->len ? hs->str : "-"));
        table_add(t, g_strdup(json_object_get_boolean_member(p, "memory") ?
                              "yes" : "lost"));
    }
    table_print(t);
}

static void print_hosts(JsonArray *a)
{
    static const char *const hdr[] = {
        "HOST", "NAME", "CONNECTED", "REGIONS", "EXTENTS", "REVOKING", NULL
    };
    Table *t = table_new(hdr);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *h = json_array_get_object_element(a, i);
        JsonArray *regions = json_object_get_array_member(h, "regions");
        g_autoptr(GString) rs = g_string_new(NULL);

        for (guint j = 0; j < json_array_get_length(regions); j++) {
            JsonObject *r = json_array_get_object_element(regions, j);
            g_autofree char *len = size_cell(
                json_object_get_int_member(r, "len"));
            g_autofree char *blk = size_cell(
                json_object_get_int_member(r, "block-size"));

            g_string_append_printf(rs, "%s%s/%s%s", j ? " " : "", len, blk,
                json_object_get_boolean_member(r, "sharable") ? "/shared" : "");
        }
        table_add(t, host_cell(h));
        table_add(t, g_strdup(json_object_get_string_member(h, "name")));
        table_add(t, !json_object_has_member(h, "connected") ?
                  g_strdup_printf("on %s",
                                  json_object_get_string_member(h, "node")) :
                  g_strdup(json_object_get_boolean_member(h, "connected") ?
                           "yes" : "no"));
        table_add(t, g_strdup(rs->str));
        table_add(t, g_strdup_printf("%" G_GINT64_FORMAT,
                                     json_object_get_int_member(h, "extents")));
        table_add(t, g_strdup_printf("%" G_GINT64_FORMAT,
                                     json_object_get_int_member_with_default(
                                         h, "revoking", 0)));
    }
    table_print(t);
}

static void print_nodes(JsonArray *a)
{
    static const char *const hdr[] = { "NODE", "HOSTNAME", "PID", "", NULL };
    Table *t = table_new(hdr);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *n = json_array_get_object_element(a, i);

        table_add(t, g_strdup(json_object_get_string_member(n, "node")));
        table_add(t, g_strdup(json_object_get_string_member_with_default(
            n, "hostname", "-")));
        table_add(t, g_strdup_printf("%" G_GINT64_FORMAT,
                                     json_object_get_int_member_with_default(
                                         n, "pid", 0)));
        table_add(t, g_strdup(json_object_get_boolean_member(n, "self") ?
                              "(this broker)" : ""));
    }
    table_print(t);
}

static void print_status(JsonObject *o)
{
    printf("broker %s (epoch %" G_GINT64_FORMAT ", version %s)\n",
           json_object_get_string_member(o, "broker-id"),
           json_object_get_int_member(o, "epoch"),
           json_object_get_string_member(o, "version"));
    printf("pools %" G_GINT64_FORMAT ", hosts %" G_GINT64_FORMAT
           " (%" G_GINT64_FORMAT " connected), extents %" G_GINT64_FORMAT "\n",
           json_object_get_int_member(o, "pools"),
           json_object_get_int_member(o, "hosts"),
           json_object_get_int_member(o, "hosts-connected"),
           json_object_get_int_member(o, "extents"));
    printf("host socket %s\ncontrol socket %s\n",
           json_object_get_string_member(o, "host-socket"),
           json_object_get_string_member(o, "control-socket"));
    if (json_object_has_member(o, "state-dir")) {
        printf("state dir %s\n",
               json_object_get_string_member(o, "state-dir"));
    }
    if (json_object_has_member(o, "cluster-store")) {
        printf("cluster store %s, node %s\n",
               json_object_get_string_member(o, "cluster-store"),
               json_object_get_string_member(o, "node"));
    }
    if (json_object_has_member(o, "store-available") &&
        !json_object_get_boolean_member(o, "store-available")) {
        printf("changes refused: the saved state cannot be written now"
               " (unavail)\n");
    }
}

/* ---- verbs ------------------------------------------------------------ */

typedef struct Verb Verb;
struct Verb {
    const char *noun;
    const char *verb;
    const char *command;
    const char *summary;
    void (*build)(JsonObject *args, int argc, char **argv);
    void (*print)(JsonNode *result);
};

static void parse(const char *usage, const GOptionEntry *entries, int *argc,
                  char ***argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new(usage);
    g_autoptr(GError) err = NULL;

    g_option_context_add_main_entries(ctx, common_entries, NULL);
    if (entries) {
        g_option_context_add_main_entries(ctx, entries, NULL);
    }
    if (!g_option_context_parse(ctx, argc, argv, &err)) {
        die(2, "%s", err->message);
    }
}

static gint64 need_size(const char *what, const char *s)
{
    uint64_t v;

    if (!dcd_size_parse(s, &v) || v > G_MAXINT64) {
        die(2, "%s: '%s' is not a size (e.g. 4096, 256M, 1G)", what, s);
    }
    return v;
}

static gint64 need_uint(const char *what, const char *s, guint64 max)
{
    guint64 v;

    if (!g_ascii_string_to_unsigned(s, 10, 0, max, &v, NULL)) {
        die(2, "%s: '%s' is not a number from 0 to %" G_GUINT64_FORMAT,
            what, s, max);
    }
    return v;
}

static void need_tag(const char *s)
{
    DcdTag t;

    if (!s) {
        die(2, "--tag is required");
    }
    if (!dcd_tag_parse(s, &t)) {
        die(2, "--tag: '%s' is not a UUID", s);
    }
}

static void no_extra(int argc, char **argv)
{
    if (argc > 1) {
        die(2, "unexpected argument '%s'", argv[1]);
    }
}

/* --extent OFFSET:LEN, repeatable */
static void add_extents(JsonObject *args, char **extents)
{
    JsonArray *a;

    if (!extents || !*extents) {
        return;
    }
    a = json_array_new();
    for (char **e = extents; *e; e++) {
        g_auto(GStrv) parts = g_strsplit(*e, ":", 2);
        JsonObject *o = json_object_new();

        if (g_strv_length(parts) != 2) {
            die(2, "--extent: '%s' is not OFFSET:LEN", *e);
        }
        json_object_set_int_member(o, "offset", need_size("--extent", parts[0]));
        json_object_set_int_member(o, "len", need_size("--extent", parts[1]));
        json_array_add_object_element(a, o);
    }
    json_object_set_array_member(args, "extents", a);
}

static void build_none(JsonObject *args, int argc, char **argv)
{
    parse("", NULL, &argc, &argv);
    no_extra(argc, argv);
}

static void build_pool_create(JsonObject *args, int argc, char **argv)
{
    g_autofree char *size = NULL, *tag = NULL, *backing = NULL;
    g_auto(GStrv) requesters = NULL;
    GOptionEntry e[] = {
        { "size", 0, 0, G_OPTION_ARG_STRING, &size, "Pool size (K/M/G)",
          "SIZE" },
        { "tag", 't', 0, G_OPTION_ARG_STRING, &tag,
          "Tag (UUID; generated if absent)", "UUID" },
        { "backing", 'b', 0, G_OPTION_ARG_STRING, &backing,
          "memfd, file, hugetlb or device (default: device with a shared"
          " device, else memfd)", "KIND" },
        { "requester", 'R', 0, G_OPTION_ARG_STRING_ARRAY, &requesters,
          "Only this host may ask for the pool itself (repeatable;"
          " default: any host)", "HOST" },
        { NULL }
    };

    parse("--size SIZE [--tag UUID] [--backing KIND]", e, &argc, &argv);
    no_extra(argc, argv);
    if (!size) {
        die(2, "--size is required");
    }
    json_object_set_int_member(args, "size", need_size("--size", size));
    if (tag) {
        need_tag(tag);
        json_object_set_string_member(args, "tag", tag);
    }
    if (backing) {
        json_object_set_string_member(args, "backing", backing);
    }
    if (requesters) {
        JsonArray *a = json_array_new();

        for (char **r = requesters; *r; r++) {
            json_array_add_int_element(a, need_uint("--requester", *r,
                                                    G_MAXUINT16));
        }
        json_object_set_array_member(args, "requesters", a);
    }
}

static void build_tag_filter(JsonObject *args, int argc, char **argv,
                             bool required)
{
    g_autofree char *tag = NULL;
    GOptionEntry e[] = {
        { "tag", 't', 0, G_OPTION_ARG_STRING, &tag, "Pool tag", "UUID" },
        { NULL }
    };

    parse(required ? "TAG | --tag UUID" : "[--tag UUID]", e, &argc, &argv);
    if (!tag && argc == 2) {
        tag = g_strdup(argv[1]);
        argc--;
    }
    no_extra(argc, argv);
    if (tag || required) {
        need_tag(tag);
        json_object_set_string_member(args, "tag", tag);
    }
}

static void build_pool_list(JsonObject *args, int argc, char **argv)
{
    build_tag_filter(args, argc, argv, false);
}

static void build_pool_destroy(JsonObject *args, int argc, char **argv)
{
    build_tag_filter(args, argc, argv, true);
}

/* --host, --tag and --region: the extent verbs' target. */
static void set_target(JsonObject *args, const char *host, const char *tag,
                       const char *region)
{
    if (!host) {
        die(2, "--host is required");
    }
    need_tag(tag);
    json_object_set_int_member(args, "host-id",
                               need_uint("--host", host, G_MAXUINT16));
    json_object_set_string_member(args, "tag", tag);
    if (region) {
        json_object_set_int_member(args, "region",
                                   need_uint("--region", region, 7));
    }
}

/* --wait and --wait-timeout, shared by extent add and release. */
static void set_wait(JsonObject *args, gboolean wait, const char *timeout)
{
    if (!wait) {
        if (timeout) {
            die(2, "--wait-timeout needs --wait");
        }
        return;
    }
    json_object_set_boolean_member(args, "wait", TRUE);
    wait_ms = 10000;
    if (timeout) {
        wait_ms = need_uint("--wait-timeout", timeout, 3600000);
        json_object_set_int_member(args, "timeout-ms", wait_ms);
    }
}

static void build_extent_add(JsonObject *args, int argc, char **argv)
{
    g_autofree char *host = NULL, *tag = NULL, *region = NULL;
    g_autofree char *policy = NULL, *timeout = NULL;
    g_auto(GStrv) extents = NULL;
    gboolean wait = FALSE;
    GOptionEntry e[] = {
        { "host", 'H', 0, G_OPTION_ARG_STRING, &host, "Host id", "N" },
        { "tag", 't', 0, G_OPTION_ARG_STRING, &tag, "Pool tag", "UUID" },
        { "region", 'r', 0, G_OPTION_ARG_STRING, &region,
          "DC region index (default 0)", "N" },
        { "policy", 'p', 0, G_OPTION_ARG_STRING, &policy,
          "free (default), contiguous, prescriptive, enable-shared-access",
          "POLICY" },
        { "extent", 'e', 0, G_OPTION_ARG_STRING_ARRAY, &extents,
          "Region offset and length (repeatable)", "OFFSET:LEN" },
        { "wait", 'w', 0, G_OPTION_ARG_NONE, &wait,
          "Wait for the host to accept or reject", NULL },
        { "wait-timeout", 0, 0, G_OPTION_ARG_STRING, &timeout,
          "With --wait, the host has this many ms to answer (default"
          " 10000)", "MS" },
        { NULL }
    };

    parse("--host N --tag UUID [--policy P] [--extent OFF:LEN ...]", e,
          &argc, &argv);
    no_extra(argc, argv);
    set_target(args, host, tag, region);
    if (policy) {
        json_object_set_string_member(args, "policy", policy);
    }
    add_extents(args, extents);
    set_wait(args, wait, timeout);
}

static void build_extent_release(JsonObject *args, int argc, char **argv)
{
    g_autofree char *host = NULL, *tag = NULL, *region = NULL;
    g_autofree char *removal = NULL;
    g_auto(GStrv) extents = NULL;
    g_autofree char *timeout = NULL;
    gboolean forced = FALSE, wait = FALSE;
    GOptionEntry e[] = {
        { "host", 'H', 0, G_OPTION_ARG_STRING, &host, "Host id", "N" },
        { "tag", 't', 0, G_OPTION_ARG_STRING, &tag, "Pool tag", "UUID" },
        { "region", 'r', 0, G_OPTION_ARG_STRING, &region,
          "DC region index (default 0)", "N" },
        { "wait", 'w', 0, G_OPTION_ARG_NONE, &wait,
          "Wait until the host has released them", NULL },
        { "wait-timeout", 0, 0, G_OPTION_ARG_STRING, &timeout,
          "With --wait, the host has this many ms (default 10000)", "MS" },
        { "removal", 0, 0, G_OPTION_ARG_STRING, &removal,
          "tag-based (default) or prescriptive", "POLICY" },
        { "extent", 'e', 0, G_OPTION_ARG_STRING_ARRAY, &extents,
          "Region offset and length (repeatable; prescriptive)",
          "OFFSET:LEN" },
        { "forced", 'f', 0, G_OPTION_ARG_NONE, &forced,
          "Release now, without asking the host", NULL },
        { NULL }
    };

    parse("--host N --tag UUID [--removal R] [--extent OFF:LEN ...]", e,
          &argc, &argv);
    no_extra(argc, argv);
    set_target(args, host, tag, region);
    if (removal) {
        json_object_set_string_member(args, "removal", removal);
    } else if (extents) {
        json_object_set_string_member(args, "removal", "prescriptive");
    }
    add_extents(args, extents);
    if (forced) {
        json_object_set_boolean_member(args, "forced", TRUE);
    }
    set_wait(args, wait, timeout);
}

static void build_host_forget(JsonObject *args, int argc, char **argv)
{
    g_autofree char *host = NULL;
    GOptionEntry e[] = {
        { "host", 'H', 0, G_OPTION_ARG_STRING, &host, "Host id", "N" },
        { NULL }
    };

    parse("--host N", e, &argc, &argv);
    no_extra(argc, argv);
    if (!host) {
        die(2, "host forget needs --host");
    }
    json_object_set_int_member(args, "host-id",
                               need_uint("--host", host, G_MAXUINT16));
}

static void build_extent_list(JsonObject *args, int argc, char **argv)
{
    g_autofree char *host = NULL, *tag = NULL;
    gboolean all = FALSE;
    GOptionEntry e[] = {
        { "host", 'H', 0, G_OPTION_ARG_STRING, &host, "Only this host", "N" },
        { "tag", 't', 0, G_OPTION_ARG_STRING, &tag, "Only this tag", "UUID" },
        { "all", 'a', 0, G_OPTION_ARG_NONE, &all,
          "Include rejected, released and reclaimed extents", NULL },
        { NULL }
    };

    parse("[--host N] [--tag UUID] [--all]", e, &argc, &argv);
    no_extra(argc, argv);
    if (host) {
        json_object_set_int_member(args, "host-id",
                                   need_uint("--host", host, G_MAXUINT16));
    }
    if (tag) {
        need_tag(tag);
        json_object_set_string_member(args, "tag", tag);
    }
    if (all) {
        json_object_set_boolean_member(args, "all", TRUE);
    }
}

static void print_status_node(JsonNode *n)
{
    print_status(json_node_get_object(n));
}

static void print_pool_node(JsonNode *n)
{
    JsonArray *a = json_array_new();

    json_array_add_element(a, json_node_copy(n));
    print_pools(a);
    json_array_unref(a);
}

static void print_pools_node(JsonNode *n)
{
    print_pools(json_node_get_array(n));
}

static void print_hosts_node(JsonNode *n)
{
    print_hosts(json_node_get_array(n));
}

static void print_nodes_node(JsonNode *n)
{
    print_nodes(json_node_get_array(n));
}

static void print_extents_node(JsonNode *n)
{
    print_extents(JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) :
                  json_object_get_array_member(json_node_get_object(n),
                                               "extents"));
}

static void print_nothing(JsonNode *n)
{
}

static void build_monitor(JsonObject *args, int argc, char **argv)
{
    parse("", NULL, &argc, &argv);
    no_extra(argc, argv);
}

/* One event as a line: time, event, then what it is about. */
static void print_event(JsonObject *ev)
{
    gint64 ms = json_object_get_int_member(ev, "time-ms");
    g_autoptr(GDateTime) t = g_date_time_new_from_unix_local(ms / 1000);
    g_autofree char *when = g_date_time_format(t, "%H:%M:%S");
    const char *name = json_object_get_string_member(ev, "event");
    g_autoptr(GString) what = g_string_new(NULL);

    if (json_object_has_member(ev, "extent")) {
        JsonObject *e = json_object_get_object_member(ev, "extent");
        g_autofree char *len = size_cell(json_object_get_int_member(e,
                                                                    "len"));

        g_string_printf(what, "host %" G_GINT64_FORMAT " region %"
                        G_GINT64_FORMAT " dpa 0x%" G_GINT64_MODIFIER "x len %s"
                        " tag %s seq %" G_GINT64_FORMAT " %s",
                        json_object_get_int_member(e, "host-id"),
                        json_object_get_int_member(e, "region"),
                        json_object_get_int_member(e, "dpa"), len,
                        json_object_get_string_member(e, "tag"),
                        json_object_get_int_member(e, "shared-seq"),
                        json_object_get_string_member(e, "state"));
    } else if (json_object_has_member(ev, "host")) {
        JsonObject *h = json_object_get_object_member(ev, "host");

        g_string_printf(what, "host %" G_GINT64_FORMAT " (%s)",
                        json_object_get_int_member(h, "host-id"),
                        json_object_get_string_member(h, "name"));
    } else {
        JsonObject *p = json_object_get_object_member(ev, "pool");
        g_autofree char *size = size_cell(json_object_get_int_member(p,
                                                                     "size"));

        g_string_printf(what, "pool %s %s %s%s",
                        json_object_get_string_member(p, "tag"), size,
                        json_object_get_string_member(p, "backing"),
                        json_object_get_boolean_member(p, "memory") ? "" :
                        " (no memory)");
    }
    printf("%s.%03d  %-17s %s\n", when, (int)(ms % 1000), name, what->str);
}

/* Print events as they come, until the broker goes or we are stopped. */
static G_NORETURN void run_monitor(DcdCtlClient *c)
{
    for (;;) {
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonNode) ev = dcd_ctl_client_read_event(c, &err);

        if (!ev) {
            die(1, "%s: %s", dcd_err_name(err->code), err->message);
        }
        if (opt_json) {
            g_autofree char *s = json_to_string(ev, FALSE);

            puts(s);
        } else {
            print_event(json_node_get_object(ev));
        }
        fflush(stdout);
    }
}

static const Verb verbs[] = {
    { "status", NULL, "status", "Show the broker's state",
      build_none, print_status_node },
    { "pool", "create", "pool-create", "Create a tagged pool",
      build_pool_create, print_pool_node },
    { "pool", "list", "pool-list", "List pools", build_pool_list,
      print_pools_node },
    { "pool", "destroy", "pool-destroy", "Destroy a pool no host holds",
      build_pool_destroy, print_nothing },
    { "host", "list", "host-list", "List hosts", build_none,
      print_hosts_node },
    { "host", "forget", "host-forget", "Declare a disconnected host gone:"
      " end its extents (its VM must be dead)", build_host_forget,
      print_extents_node },
    { "node", "list", "node-list", "List the brokers sharing the cluster"
      " store", build_none, print_nodes_node },
    { "extent", "add", "extent-add", "Give a host capacity of a tag",
      build_extent_add, print_extents_node },
    { "extent", "release", "extent-release", "Take capacity back",
      build_extent_release, print_extents_node },
    { "extent", "list", "extent-list", "List extents", build_extent_list,
      print_extents_node },
    { "monitor", NULL, "monitor", "Show hosts, pools and extents changing,"
      " as it happens", build_monitor, print_nothing },
};

static G_NORETURN void usage(int code)
{
    FILE *f = code ? stderr : stdout;

    fprintf(f, "usage: dcdctl [--socket PATH] [--json] [--bytes] [--timeout S]"
            " NOUN [VERB] [OPTIONS]\n\n");
    for (unsigned i = 0; i < G_N_ELEMENTS(verbs); i++) {
        g_autofree char *name = g_strjoin(" ", verbs[i].noun, verbs[i].verb,
                                          NULL);

        fprintf(f, "  %-16s %s\n", name, verbs[i].summary);
    }
    fprintf(f, "\nEach verb takes --help.\n");
    exit(code);
}

/* "dcdctl pool": the verbs of a noun, for one who does not know them. */
static void noun_usage(const char *noun)
{
    bool any = false;

    for (unsigned i = 0; i < G_N_ELEMENTS(verbs); i++) {
        if (g_str_equal(verbs[i].noun, noun) && verbs[i].verb) {
            if (!any) {
                fprintf(stderr, "usage: dcdctl %s VERB [OPTIONS]\n\n", noun);
            }
            fprintf(stderr, "  %-8s %s\n", verbs[i].verb, verbs[i].summary);
            any = true;
        }
    }
    if (any) {
        fprintf(stderr, "\nEach verb takes --help.\n");
        exit(2);
    }
}

/* The outcome of extent add --wait: usable only if every extent is. */
static int add_outcome(JsonNode *result)
{
    JsonArray *a = json_object_get_array_member(
        json_node_get_object(result), "extents");
    int code = 0;

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        const char *st = json_object_get_string_member_with_default(
            json_array_get_object_element(a, i), "state", "");

        if (g_str_equal(st, "rejected")) {
            code = EXIT_REJECTED;
        } else if (!g_str_equal(st, "accepted") && !code) {
            code = EXIT_WITHDRAWN;
        }
    }
    return code;
}

int main(int argc, char **argv)
{
    g_autoptr(DcdCtlClient) c = NULL;
    g_autoptr(JsonNode) result = NULL;
    g_autoptr(GError) err = NULL;
    JsonObject *args = json_object_new();
    const Verb *v = NULL;
    int first = 1, code = 0;

    /* A broker that hangs up on us is an error to report, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    /* Options before the noun apply to every verb. */
    while (first < argc && argv[first][0] == '-') {
        if (g_str_equal(argv[first], "--help") || g_str_equal(argv[first], "-h")) {
            usage(0);
        } else if (g_str_equal(argv[first], "--version") ||
                   g_str_equal(argv[first], "-V")) {
            printf("dcdctl %s\n", PACKAGE_VERSION);
            return 0;
        } else if (g_str_equal(argv[first], "--bytes") ||
                   g_str_equal(argv[first], "-b")) {
            opt_bytes = TRUE;
        } else if (g_str_equal(argv[first], "--json") ||
                   g_str_equal(argv[first], "-j")) {
            opt_json = TRUE;
        } else if ((g_str_equal(argv[first], "--socket") ||
                    g_str_equal(argv[first], "-s")) && first + 1 < argc) {
            opt_socket = g_strdup(argv[++first]);
        } else if (g_str_has_prefix(argv[first], "--socket=")) {
            opt_socket = g_strdup(argv[first] + strlen("--socket="));
        } else if ((g_str_equal(argv[first], "--timeout") ||
                    g_str_equal(argv[first], "-T")) && first + 1 < argc) {
            opt_timeout = g_strdup(argv[++first]);
        } else if (g_str_has_prefix(argv[first], "--timeout=")) {
            opt_timeout = g_strdup(argv[first] + strlen("--timeout="));
        } else {
            die(2, "unknown option '%s'", argv[first]);
        }
        first++;
    }
    if (first >= argc) {
        usage(2);
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(verbs); i++) {
        if (g_str_equal(verbs[i].noun, argv[first]) &&
            (!verbs[i].verb ||
             (first + 1 < argc && g_str_equal(verbs[i].verb,
                                              argv[first + 1])))) {
            v = &verbs[i];
        }
    }
    if (!v) {
        noun_usage(argv[first]);
        die(2, "unknown command '%s%s%s' (see dcdctl --help)", argv[first],
            first + 1 < argc ? " " : "", first + 1 < argc ? argv[first + 1] : "");
    }
    first += v->verb ? 1 : 0;
    /* The verb's own parser sees "dcdctl-VERB OPTIONS...". */
    argv[first] = g_strdup_printf("dcdctl %s%s%s", v->noun,
                                  v->verb ? " " : "", v->verb ? v->verb : "");
    v->build(args, argc - first, argv + first);

    if (!opt_socket) {
        opt_socket = dcd_default_control_socket();
    }
    c = dcd_ctl_client_connect(opt_socket, &err);
    if (c) {
        guint64 t = opt_timeout ? need_uint("--timeout", opt_timeout, 86400) :
                    DEFAULT_TIMEOUT_S;

        /* A stopped broker must not hang a script for ever. */
        if (t) {
            dcd_ctl_client_set_timeout(c, t * 1000 + wait_ms);
        }
        result = dcd_ctl_client_call(c, v->command, args, &err);
        if (result && v->build == build_monitor) {
            dcd_ctl_client_set_timeout(c, 0);
            json_object_unref(args);
            run_monitor(c);
        }
    }
    if (!result) {
        bool waited = v->build == build_extent_add &&
                      json_object_get_boolean_member_with_default(args,
                                                                  "wait",
                                                                  FALSE);

        json_object_unref(args);
        die(waited && err->domain == DCD_ERROR &&
            err->code == DCD_ERR_TIMEOUT ? EXIT_TIMED_OUT : 1, "%s: %s",
            dcd_err_name(err->code), err->message);
    }
    if (v->build == build_extent_add &&
        json_object_get_boolean_member_with_default(args, "wait", FALSE)) {
        code = add_outcome(result);
    }
    /* It is the operator's word against the broker's count: say so. */
    if (v->build == build_host_forget) {
        fprintf(stderr, "dcdctl: host %" G_GINT64_FORMAT " declared gone:"
                " its extents ended and their bytes may go to others; if its"
                " VM still runs, it can still reach them\n",
                json_object_get_int_member(args, "host-id"));
    }
    json_object_unref(args);
    if (opt_json) {
        print_json(result);
    } else {
        v->print(result);
    }
    if (code == EXIT_REJECTED) {
        fprintf(stderr, "dcdctl: the host rejected the offer\n");
    } else if (code == EXIT_WITHDRAWN) {
        fprintf(stderr, "dcdctl: the offer ended before the host accepted"
                " it\n");
    }
    return code;
}
