/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * storm.c - dcd-storm: a fault storm against a real dcd-broker process.
 *
 * Owns: for each configuration (file pools, memfd pools), a broker
 * process on a state dir of its own, 4 in-process hosts (hostclient,
 * reconnect on) on a host thread, a seeded storm of random control
 * operations and host-initiated releases, SIGKILLs of the broker at
 * random instants (a killer thread, so a kill can land while a request
 * is in flight), restarts on the same state dir, and after every restart
 * a check of what must have survived:
 *   ack-lost     an extent a control reply reported accepted (and no
 *                successful release reply since) is live at the broker
 *                and held by its host; an acknowledged pool still exists;
 *   duplicate    no host holds one shared_seq of a tag twice; the
 *                broker's extents and each host's agree;
 *   shared-seq   each layout is dense 0..n-1, back to back in the pool,
 *                and every extent matches its segment on every host;
 *   data         bytes written after a first allocation read back the
 *                same (SHA-256) through every host holding the whole tag,
 *                and every host holding a tag maps the memory the
 *                broker has for it (same inode);
 *   orphan-file  the pool dir holds exactly the broker's file pools;
 *   memory       after settling, no pool lacks memory;
 *   tag-stuck    a tag whose create got no reply and does not exist can
 *                be created again;
 *   crash        the broker never dies by itself;
 *   settle       hosts reconnect and hand back within the bounded wait;
 *   fd-leak      the broker has one fd open for each pool with memory
 *                and none for pools that are gone;
 *   half-done    no pool exists whose create the broker refused;
 *   sigbus       no host dies of SIGBUS touching a pool's memory;
 *   unheld       after every operation, every extent a host maps (seen
 *                mapped before and after the broker's list was read) is
 *                one the broker counts as that host's (pending, accepted,
 *                releasing or revoking).
 * One operation resets a host, as a VM reset does: it drops everything
 * it holds, without being asked.  Host 3 answers late: each offer after
 * 0 to 2 s, while the broker withdraws offers unanswered after 1 s, so
 * withdrawals, and answers that cross them, happen all the time.
 * Host 2 ignores forced releases (keeps mapping, never confirms), as a
 * guest or device that ignores Forced Release would: its broker must
 * keep those extents revoking, and their pools, until the host resets.
 * With --full-disk the state dir and the pool dir are small tmpfs mounts
 * (in a mount namespace of the storm's own) that a filler file fills up
 * and empties again at random between operations, so requests meet a
 * full disk at any step; a request refused for it must change nothing.
 * Requests whose reply never came are uncertain: either outcome is fine.
 * This is a stress tool, not a test: violations are counted and printed
 * (with seed and kill number), never asserted.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <setjmp.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <glib/gstdio.h>

#include "benchlib.h"
#include "dcd-client/hostclient.h"
#include "hostthread.h"
#include "dcd/json.h"

#define KIB 1024ull
#define MIB (1024 * KIB)
#define NHOSTS 4
#define MAX_POOLS 10
#define POOL_UNIT (64 * KIB)      /* every region's block divides it */
#define POOL_UNITS_MAX 16
#define WAIT_TIMEOUT_MS 5000      /* extent-add "timeout-ms" */
#define ACK_WAIT_US (1 * G_USEC_PER_SEC)
#define START_WAIT_S 20
#define MAX_VIOLATION_LIST 500
#define LATE_HOST 3               /* answers offers after 0..LATE_MS */
#define DEAF_HOST 2               /* ignores forced releases */
#define LATE_MS 2000
#define OFFER_TIMEOUT "--offer-timeout=1000"
#define STATE_FS_SIZE "128k"      /* --full-disk: a few hundred records */
#define POOL_FS_SIZE "4m"         /* --full-disk: a few file pools */

/* ---- options ----------------------------------------------------------- */

static gint64 opt_seed = -1;
static gint opt_kills = 1000;
static gint opt_seconds = 540;
static gint opt_settle_ms = 10000;
static gint opt_max_ops = 12;
static char *opt_broker;
static char *opt_out;
static char *opt_configs;
static gboolean opt_keep;
static gboolean opt_full_disk;
static gboolean opt_verbose;

static GOptionEntry entries[] = {
    { "seed", 0, 0, G_OPTION_ARG_INT64, &opt_seed,
      "RNG seed (default: random; printed at start)", "N" },
    { "kills", 0, 0, G_OPTION_ARG_INT, &opt_kills,
      "SIGKILLs across all configurations (default 1000)", "N" },
    { "seconds", 0, 0, G_OPTION_ARG_INT, &opt_seconds,
      "Stop after this long whatever the kill count (default 540)", "S" },
    { "configs", 0, 0, G_OPTION_ARG_STRING, &opt_configs,
      "Configurations to run (default file,memfd)", "LIST" },
    { "broker", 0, 0, G_OPTION_ARG_FILENAME, &opt_broker,
      "dcd-broker to run (default: the build's, next to this program)",
      "PATH" },
    { "out", 0, 0, G_OPTION_ARG_FILENAME, &opt_out,
      "Directory for storm.json (default: the current dir)", "DIR" },
    { "settle-ms", 0, 0, G_OPTION_ARG_INT, &opt_settle_ms,
      "Bounded wait for hosts to reconnect and hand back (default 10000)",
      "MS" },
    { "max-ops", 0, 0, G_OPTION_ARG_INT, &opt_max_ops,
      "Most operations between two kills (default 12)", "N" },
    { "full-disk", 0, 0, G_OPTION_ARG_NONE, &opt_full_disk,
      "State dir and pool dir on small file systems that fill up (root)",
      NULL },
    { "keep", 0, 0, G_OPTION_ARG_NONE, &opt_keep,
      "Keep each configuration's dir (state, pools, broker log)", NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &opt_verbose,
      "Print every operation", NULL },
    { NULL }
};

/* ---- what is counted --------------------------------------------------- */

typedef enum Op {
    OP_POOL_CREATE,
    OP_POOL_DESTROY,
    OP_ADD_FREE,
    OP_ADD_CONTIGUOUS,
    OP_ADD_PRESCRIPTIVE,
    OP_ADD_SHARED,
    OP_RELEASE_TAG,
    OP_RELEASE_PRESCRIPTIVE,
    OP_RELEASE_FORCED,
    OP_HOST_RELEASE,
    OP_HOST_RESET,
    OP__MAX,
} Op;

static const char *const op_names[OP__MAX] = {
    "pool-create", "pool-destroy", "add-free", "add-contiguous",
    "add-prescriptive", "add-shared", "release-tag", "release-prescriptive",
    "release-forced", "host-release", "host-reset",
};

/* How often each operation is drawn. */
static const unsigned op_weight[OP__MAX] = {
    8, 5, 10, 6, 8, 18, 10, 8, 6, 8, 3,
};

typedef enum Viol {
    V_ACK_LOST,
    V_DUPLICATE,
    V_SHARED_SEQ,
    V_DATA,
    V_ORPHAN_FILE,
    V_MEMORY,
    V_TAG_STUCK,
    V_CRASH,
    V_SETTLE,
    V_FD_LEAK,
    V_HALF_DONE,
    V_SIGBUS,
    V_UNHELD,
    V__MAX,
} Viol;

static const char *const viol_names[V__MAX] = {
    "ack-lost", "duplicate", "shared-seq", "data", "orphan-file", "memory",
    "tag-stuck", "crash", "settle", "fd-leak", "half-done", "sigbus",
    "unheld",
};

/* ---- the hosts --------------------------------------------------------- */

/* 1-2 DC regions each, with different block sizes and one unsharable. */
static const struct dcd_region host_regions[NHOSTS][2] = {
    { { 0, 64 * MIB, 64 * KIB, DCD_REGION_SHARABLE },
      { 256 * MIB, 32 * MIB, 4 * KIB, DCD_REGION_SHARABLE } },
    { { 0, 32 * MIB, 4 * KIB, DCD_REGION_SHARABLE } },
    { { 0, 16 * MIB, 64 * KIB, DCD_REGION_SHARABLE },
      { 1024 * MIB, 16 * MIB, 64 * KIB, 0 } },
    { { 4096 * MIB, 64 * MIB, 16 * KIB, DCD_REGION_SHARABLE } },
};
static const unsigned host_nregions[NHOSTS] = { 2, 1, 2, 1 };

typedef struct StormHost {
    DcdHostClient *core;         /* host thread only */
    GRand *late;                 /* host thread only: LATE_HOST's delays */
    unsigned id;
    gint barrier;              /* atomic: 1 once the barrier's reply came */
    gint drops_ok;             /* atomic */
    gint drops_failed;         /* atomic */
    gint withdrawn;            /* atomic: offers the broker took back */
} StormHost;

/* An extent as the storm names it (broker reply or host view). */
typedef struct Ext {
    unsigned host;
    char tag[DCD_TAG_STR_LEN];
    unsigned region;
    uint64_t dpa;
    uint64_t len;
    uint64_t pool_offset;
    unsigned seq;
    bool uncertain;            /* a release of it got no reply */
    /* where it was acknowledged, for the report */
    const char *how;           /* operation, or "extent-list" */
    unsigned kill;             /* kill number then */
    bool armed;                /* by the reply to the op a kill was armed for */
} Ext;

/* One host as seen from its own side, copied off the host thread. */
typedef struct HostView {
    bool connected;
    GArray *ext;               /* Ext: accepted extents */
    unsigned pending;          /* extents offered or awaiting an ack */
    GHashTable *inode;         /* tag -> inode of the pool fd it maps */
} HostView;

/* ---- the broker process ------------------------------------------------ */

typedef struct Broker {
    GSubprocess *proc;
    GDataInputStream *out;
    DcdCtlClient *ctl;
} Broker;

/* SIGKILLs the broker at a deadline, from its own thread. */
typedef struct Killer {
    GThread *thread;
    GMutex lock;
    GCond cond;
    GSubprocess *proc;         /* under lock */
    gint64 deadline;           /* under lock; 0: not armed */
    bool fired;                /* under lock */
    bool quit;                 /* under lock */
} Killer;

/* ---- the storm's model ------------------------------------------------- */

typedef struct Pool {
    char tag[DCD_TAG_STR_LEN];
    uint64_t size;
    bool uncertain;            /* created or destroyed without a reply */
    char *sum;                 /* SHA-256 of its logical bytes, if known */
    GArray *segs;              /* uint64_t: length of shared_seq i */
} Pool;

typedef struct Storm {
    const char *name;
    DcdBacking backing;
    guint32 seed;
    unsigned index;
    GRand *rand;
    char *dir;
    char *host_sock;
    char *ctl_sock;
    char *state_dir;
    char *pool_dir;
    char *log;
    char *exe;
    Broker br;
    Killer killer;
    BenchHostThread *ht;
    StormHost hosts[NHOSTS];
    GPtrArray *pools;          /* Pool, in creation order */
    GPtrArray *exts;           /* Ext: what replies acknowledged */
    GHashTable *reported;      /* keys of violations already counted */
    unsigned kill_no;
    bool armed;                /* the current op has a kill armed */
    Op cur_op;
    double op_us[OP__MAX];     /* moving mean of each operation */
    bool dead;                 /* the broker cannot be started any more */
    /* counts */
    guint64 ops[OP__MAX];
    guint64 op_err[OP__MAX];
    guint64 op_lost[OP__MAX];
    guint64 kills;
    guint64 kills_in_flight;
    guint64 restarts;
    guint64 acked_checked;
    guint64 data_checks;
    guint64 patterns;
    guint64 viol[V__MAX];
    guint64 settles;
    double settle_max_ms;
    double settle_sum_ms;
    double elapsed_s;
    guint64 log_warnings;
    guint64 fills;             /* --full-disk: times a dir was filled up */
    guint64 mapped_checks;     /* unheld checks run */
    guint64 withdrawn;         /* offers withdrawn, as the hosts saw them */
    guint64 forced_deaf;       /* forced releases the deaf host ignored */
} Storm;

typedef struct Violation {
    char *config;
    unsigned kill;
    Viol v;
    char *msg;
} Violation;

static guint32 seed;
static GPtrArray *violations;  /* Violation, for the JSON */
static volatile sig_atomic_t stop; /* SIGINT/SIGTERM: finish and report */

typedef enum CallRes {
    CALL_OK,
    CALL_ERR,                  /* the broker answered with an error */
    CALL_LOST,                 /* no reply: the connection went away */
} CallRes;

/* ---- small helpers ----------------------------------------------------- */

static void say(Storm *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void say(Storm *s, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    if (!opt_verbose) {
        return;
    }
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    printf("[%s kill %u] %s\n", s->name, s->kill_no, msg);
}

static void violation(Storm *s, Viol v, const char *key, const char *fmt,
                      ...) G_GNUC_PRINTF(4, 5);
static void violation(Storm *s, Viol v, const char *key, const char *fmt,
                      ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    /* A state that stays wrong is counted once, not at every kill. */
    if (key) {
        g_autofree char *k = g_strdup_printf("%s/%s", viol_names[v], key);

        if (!g_hash_table_add(s->reported, g_steal_pointer(&k))) {
            return;
        }
    }
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    s->viol[v]++;
    printf("VIOLATION seed=%u config=%s kill=%u %s: %s\n", seed, s->name,
           s->kill_no, viol_names[v], msg);
    fflush(stdout);
    if (violations->len < MAX_VIOLATION_LIST) {
        Violation *x = g_new0(Violation, 1);

        x->config = g_strdup(s->name);
        x->kill = s->kill_no;
        x->v = v;
        x->msg = g_steal_pointer(&msg);
        g_ptr_array_add(violations, x);
    }
}

static unsigned rnd_at(Storm *s, guint64 n, int line)
{
    if (n > G_MAXINT32) {
        g_error("rnd(%" G_GUINT64_FORMAT ") at line %d", n, line);
    }
    return n ? g_rand_int_range(s->rand, 0, n) : 0;
}
#define rnd(s, n) rnd_at(s, n, __LINE__)

/* A tag from the storm's RNG, so a replay creates the same tags. */
static void new_tag(Storm *s, char out[DCD_TAG_STR_LEN])
{
    DcdTag t;

    for (unsigned i = 0; i < 16; i += 4) {
        guint32 r = g_rand_int(s->rand);

        memcpy(t.b + i, &r, 4);
    }
    t.b[6] = (t.b[6] & 0x0f) | 0x40;   /* version 4 */
    t.b[8] = (t.b[8] & 0x3f) | 0x80;   /* RFC 4122 variant */
    dcd_tag_unparse(&t, out);
}

static Pool *find_pool(Storm *s, const char *tag)
{
    for (guint i = 0; i < s->pools->len; i++) {
        Pool *p = s->pools->pdata[i];

        if (g_str_equal(p->tag, tag)) {
            return p;
        }
    }
    return NULL;
}

static void pool_free(gpointer data)
{
    Pool *p = data;

    g_free(p->sum);
    g_array_unref(p->segs);
    g_free(p);
}

static Pool *pool_new(Storm *s, const char *tag, uint64_t size)
{
    Pool *p = g_new0(Pool, 1);

    g_strlcpy(p->tag, tag, sizeof(p->tag));
    p->size = size;
    p->segs = g_array_new(FALSE, TRUE, sizeof(uint64_t));
    g_ptr_array_add(s->pools, p);
    return p;
}

static void drop_pool(Storm *s, Pool *p)
{
    for (guint i = s->exts->len; i-- > 0;) {
        Ext *e = s->exts->pdata[i];

        if (g_str_equal(e->tag, p->tag)) {
            g_ptr_array_remove_index(s->exts, i);
        }
    }
    g_ptr_array_remove(s->pools, p);
}

/* Acknowledged extents of tag on host (any host if host < 0). */
static unsigned model_count(Storm *s, int host, const char *tag)
{
    unsigned n = 0;

    for (guint i = 0; i < s->exts->len; i++) {
        Ext *e = s->exts->pdata[i];

        n += (host < 0 || e->host == (unsigned)host) &&
             g_str_equal(e->tag, tag);
    }
    return n;
}

static bool ext_same(const Ext *a, const Ext *b)
{
    return a->host == b->host && a->dpa == b->dpa && a->len == b->len &&
           a->seq == b->seq && a->region == b->region &&
           a->pool_offset == b->pool_offset && g_str_equal(a->tag, b->tag);
}

static char *ext_str(const Ext *e)
{
    return g_strdup_printf("host %u tag %s seq %u region %u dpa 0x%"
                           G_GINT64_MODIFIER "x len 0x%" G_GINT64_MODIFIER
                           "x pool-offset 0x%" G_GINT64_MODIFIER "x",
                           e->host, e->tag, e->seq, e->region, e->dpa, e->len,
                           e->pool_offset);
}

static void ext_from_json(JsonObject *o, Ext *e)
{
    memset(e, 0, sizeof(*e));
    e->host = json_object_get_int_member(o, "host-id");
    g_strlcpy(e->tag, json_object_get_string_member(o, "tag"),
              sizeof(e->tag));
    e->region = json_object_get_int_member(o, "region");
    e->dpa = json_object_get_int_member(o, "dpa");
    e->len = json_object_get_int_member(o, "len");
    e->pool_offset = json_object_get_int_member_with_default(
        o, "pool-offset", G_MAXINT64);
    e->seq = json_object_get_int_member(o, "shared-seq");
}

static void ext_from_host(unsigned host, const struct dcd_extent *w, Ext *e)
{
    memset(e, 0, sizeof(*e));
    e->host = host;
    dcd_tag_unparse((const DcdTag *)w->tag, e->tag);
    e->region = w->region;
    e->dpa = w->dpa;
    e->len = w->len;
    e->pool_offset = w->pool_offset;
    e->seq = w->shared_seq;
}

static void model_add(Storm *s, const Ext *e, const char *how)
{
    Ext *x = g_memdup2(e, sizeof(*e));

    x->how = how;
    x->kill = s->kill_no;
    x->armed = s->armed;
    g_ptr_array_add(s->exts, x);
}

/* ---- host thread work -------------------------------------------------- */

typedef struct HostsCtx {
    Storm *s;
    HostView *views;           /* snapshot: NHOSTS of them */
    unsigned host;
    DcdTag tag;
    guint8 *buf;
    uint64_t len;
    bool write;
    bool ok;
    bool sigbus;
    uint64_t have;
    GArray *dropped;           /* uint64_t DPAs (a reset: DcdTag) */
    GArray *mapped;            /* Ext: what the hosts map */
} HostsCtx;

static void ev_disconnected(DcdHostClient *h, const GError *why,
                            gpointer opaque)
{
    /* Expected at every kill; the storm polls the state instead. */
}

typedef struct LateAnswer {
    StormHost *sh;
    uint64_t group;
} LateAnswer;

/* The answer comes late; the offer may have been withdrawn meanwhile. */
static gboolean late_answer(gpointer opaque)
{
    LateAnswer *a = opaque;

    if (a->sh->core) {
        dcd_hostclient_accept(a->sh->core, a->group, NULL, 0, NULL);
    }
    return G_SOURCE_REMOVE;
}

static void ev_offered(DcdHostClient *h, const DcdHostClientGroup *g,
                       gpointer opaque)
{
    StormHost *sh = opaque;
    LateAnswer *a = g_new(LateAnswer, 1);
    GSource *src = g_timeout_source_new(g_rand_int_range(sh->late, 0,
                                                         LATE_MS));

    a->sh = sh;
    a->group = g->group;
    g_source_set_callback(src, late_answer, a, g_free);
    g_source_attach(src, g_main_context_get_thread_default());
    g_source_unref(src);
}

static void ev_rejected(DcdHostClient *h, const struct dcd_extent *e,
                        const char *why, gpointer opaque)
{
    StormHost *sh = opaque;

    if (!g_strcmp0(why, "withdrawn")) {
        g_atomic_int_inc(&sh->withdrawn);
    }
}

static const DcdHostClientEvents host_events = {
    .disconnected = ev_disconnected,
    .offered = ev_offered,
    .rejected = ev_rejected,
};

static void hosts_start_cb(gpointer opaque)
{
    Storm *s = opaque;

    for (unsigned i = 0; i < NHOSTS; i++) {
        g_autofree char *name = g_strdup_printf("storm%u", i);
        DcdHostClientConfig cfg = {
            .socket_path = s->host_sock,
            .host_id = i,
            .name = name,
            .regions = host_regions[i],
            .nregions = host_nregions[i],
            .policy = i == LATE_HOST ? DCD_HOST_MANUAL : DCD_HOST_ACCEPT_ALL,
            .reconnect = true,
            .ignore_forced = i == DEAF_HOST,
            .ctx = bench_host_thread_context(s->ht),
        };

        s->hosts[i].id = i;
        s->hosts[i].late = g_rand_new_with_seed(seed + 16 * s->index + i);
        s->hosts[i].core = dcd_hostclient_new(&cfg, &host_events,
                                            &s->hosts[i]);
        dcd_hostclient_start(s->hosts[i].core);
    }
}

static void hosts_stop_cb(gpointer opaque)
{
    Storm *s = opaque;

    for (unsigned i = 0; i < NHOSTS; i++) {
        g_clear_pointer(&s->hosts[i].core, dcd_hostclient_free);
        g_clear_pointer(&s->hosts[i].late, g_rand_free);
        s->withdrawn += g_atomic_int_get(&s->hosts[i].withdrawn);
        g_atomic_int_set(&s->hosts[i].withdrawn, 0);
    }
}

static void snapshot_cb(gpointer opaque)
{
    HostsCtx *c = opaque;

    for (unsigned i = 0; i < NHOSTS; i++) {
        DcdHostClient *h = c->s->hosts[i].core;
        const GPtrArray *xs = dcd_hostclient_extents(h);
        HostView *v = &c->views[i];

        v->connected = dcd_hostclient_is_connected(h);
        v->ext = g_array_new(FALSE, FALSE, sizeof(Ext));
        v->inode = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                         NULL);
        v->pending = 0;
        for (guint j = 0; j < xs->len; j++) {
            const DcdHostClientExtent *x = g_ptr_array_index(xs, j);
            struct stat st;
            Ext e;

            if (x->state != DCD_EXTENT_ACCEPTED) {
                v->pending++;
                continue;
            }
            ext_from_host(i, &x->e, &e);
            g_array_append_val(v->ext, e);
            if (fstat(dcd_hostclient_pool_fd(h, (const DcdTag *)x->e.tag),
                      &st) == 0) {
                g_hash_table_insert(v->inode, g_strdup(e.tag),
                                    GSIZE_TO_POINTER(st.st_ino));
            }
        }
    }
}

static void views_free(HostView *views)
{
    for (unsigned i = 0; i < NHOSTS; i++) {
        g_clear_pointer(&views[i].ext, g_array_unref);
        g_clear_pointer(&views[i].inode, g_hash_table_unref);
    }
}

static void snapshot(Storm *s, HostView *views)
{
    HostsCtx c = { .s = s, .views = views };

    bench_host_thread_call(s->ht, snapshot_cb, &c);
}

static void barrier_done(DcdHostClient *h, const GError *err, gpointer opaque)
{
    StormHost *sh = opaque;

    g_atomic_int_set(&sh->barrier, 1);
}

/*
 * A request no broker can grant (a release of a tag no pool has): its
 * reply comes after the broker has handled everything the host sent
 * before it, the pool hand-backs and HOLD included.
 */
static void barrier_cb(gpointer opaque)
{
    Storm *s = opaque;
    DcdTag none;

    memset(none.b, 0xee, sizeof(none.b));
    for (unsigned i = 0; i < NHOSTS; i++) {
        g_atomic_int_set(&s->hosts[i].barrier, 0);
        if (!dcd_hostclient_release_request(s->hosts[i].core, &none,
                                          DCD_REMOVAL_TAG, 0, 0, NULL, 0,
                                          barrier_done, &s->hosts[i],
                                          NULL)) {
            g_atomic_int_set(&s->hosts[i].barrier, -1);
        }
    }
}

/* Set while a host touches pool memory: a SIGBUS there is a violation. */
static __thread sigjmp_buf *bus_jump;

static void on_sigbus(int sig)
{
    if (!bus_jump) {
        signal(SIGBUS, SIG_DFL);
        raise(SIGBUS);
        return;
    }
    siglongjmp(*bus_jump, 1);
}

static void tag_io_cb(gpointer opaque)
{
    HostsCtx *c = opaque;
    DcdHostClient *h = c->s->hosts[c->host].core;
    sigjmp_buf jump;

    c->have = dcd_hostclient_tag_size(h, &c->tag);
    c->ok = false;
    if (c->have != c->len || !c->buf) {
        return;
    }
    if (sigsetjmp(jump, 1)) {
        bus_jump = NULL;
        c->sigbus = true;
        return;
    }
    bus_jump = &jump;
    c->ok = c->write ? dcd_hostclient_write(h, &c->tag, 0, c->buf, c->len,
                                          NULL)
                     : dcd_hostclient_read(h, &c->tag, 0, c->buf, c->len,
                                         NULL);
    bus_jump = NULL;
}

static void drop_done(DcdHostClient *h, const GError *err, gpointer opaque)
{
    StormHost *sh = opaque;

    g_atomic_int_inc(err ? &sh->drops_failed : &sh->drops_ok);
}

static void drop_cb(gpointer opaque)
{
    HostsCtx *c = opaque;
    StormHost *sh = &c->s->hosts[c->host];
    const GPtrArray *xs = dcd_hostclient_extents(sh->core);

    for (guint i = 0; i < xs->len; i++) {
        const DcdHostClientExtent *x = g_ptr_array_index(xs, i);

        if (x->state == DCD_EXTENT_ACCEPTED &&
            memcmp(x->e.tag, c->tag.b, 16) == 0) {
            g_array_append_val(c->dropped, x->e.dpa);
        }
    }
    /*
     * The host unmaps before it sends RELEASED, so a failure to send
     * (the broker just died) still drops them: keep what is gone.
     */
    c->ok = dcd_hostclient_drop(sh->core, &c->tag, drop_done, sh, NULL);
    for (guint i = c->dropped->len; i-- > 0;) {
        uint64_t dpa = g_array_index(c->dropped, uint64_t, i);
        bool still = false;

        for (guint j = 0; j < xs->len && !still; j++) {
            const DcdHostClientExtent *x = g_ptr_array_index(xs, j);

            still = x->e.dpa == dpa && memcmp(x->e.tag, c->tag.b, 16) == 0;
        }
        if (still) {
            g_array_remove_index(c->dropped, i);
        }
    }
}

/*
 * Read or write a tag's logical bytes through one host, once that host
 * holds all len of them (its ACCEPT may still wait for the broker's ack);
 * false if it does not by the deadline.
 */
static bool tag_io(Storm *s, unsigned host, const char *tag, guint8 *buf,
                   uint64_t len, bool write, gint64 wait_us)
{
    HostsCtx c = { .s = s, .host = host, .buf = buf, .len = len,
                   .write = write };
    gint64 end = g_get_monotonic_time() + wait_us;

    dcd_tag_parse(tag, &c.tag);
    for (;;) {
        bench_host_thread_call(s->ht, tag_io_cb, &c);
        if (c.sigbus) {
            violation(s, V_SIGBUS, tag, "host %u died of SIGBUS %s tag %s",
                      host, write ? "writing" : "reading", tag);
            return false;
        }
        if (c.ok || g_get_monotonic_time() > end) {
            return c.ok;
        }
        g_usleep(1000);
    }
}

/* ---- the broker process ------------------------------------------------ */

static void killer_arm(Killer *k, GSubprocess *proc, gint64 delay_us)
{
    g_mutex_lock(&k->lock);
    g_clear_object(&k->proc);
    k->proc = g_object_ref(proc);
    k->deadline = g_get_monotonic_time() + delay_us;
    k->fired = false;
    g_cond_broadcast(&k->cond);
    g_mutex_unlock(&k->lock);
}

static void killer_disarm(Killer *k)
{
    g_mutex_lock(&k->lock);
    k->deadline = 0;
    g_clear_object(&k->proc);
    g_cond_broadcast(&k->cond);
    g_mutex_unlock(&k->lock);
}

/* Wait for the armed kill; true if it was sent to a live broker. */
static bool killer_wait(Killer *k)
{
    bool fired;

    g_mutex_lock(&k->lock);
    while (k->deadline && !k->fired) {
        g_cond_wait(&k->cond, &k->lock);
    }
    fired = k->fired;
    g_mutex_unlock(&k->lock);
    return fired;
}

static gpointer killer_thread(gpointer opaque)
{
    Killer *k = opaque;

    g_mutex_lock(&k->lock);
    while (!k->quit) {
        if (!k->deadline || k->fired) {
            g_cond_wait(&k->cond, &k->lock);
            continue;
        }
        if (g_get_monotonic_time() < k->deadline) {
            g_cond_wait_until(&k->cond, &k->lock, k->deadline);
            continue;
        }
        /* identifier is NULL once the broker has exited by itself */
        k->fired = g_subprocess_get_identifier(k->proc) != NULL;
        g_subprocess_send_signal(k->proc, SIGKILL);
        k->deadline = 0;
        g_cond_broadcast(&k->cond);
    }
    g_mutex_unlock(&k->lock);
    return NULL;
}

/* The tail of the broker's log, for a crash report. */
static void show_log_tail(Storm *s)
{
    g_autofree char *text = NULL;
    gsize len;

    if (g_file_get_contents(s->log, &text, &len, NULL)) {
        const char *p = text + len;

        for (int lines = 0; p > text && lines < 16; p--) {
            lines += p[-1] == '\n';
        }
        fprintf(stderr, "dcd-storm: end of %s:\n%s\n", s->log, p);
    }
}

static void broker_close(Broker *br)
{
    g_clear_pointer(&br->ctl, dcd_ctl_client_free);
    g_clear_object(&br->out);
    g_clear_object(&br->proc);
}

/*
 * Start the broker on the storm's dir; false (the state is kept for a
 * look) if it does not get ready.  A watchdog kill bounds the wait.
 */
static bool broker_start(Storm *s)
{
    g_autoptr(GSubprocessLauncher) l =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    g_autoptr(GError) err = NULL;
    g_autofree char *line = NULL;
    g_autofree char *a1 = g_strdup_printf("--host-socket=%s", s->host_sock);
    g_autofree char *a2 = g_strdup_printf("--control-socket=%s",
                                          s->ctl_sock);
    g_autofree char *a3 = g_strdup_printf("--state-dir=%s", s->state_dir);
    g_autofree char *a4 = g_strdup_printf("--pool-dir=%s", s->pool_dir);
    /* The storm's one control connection idles while hosts settle. */
    const char *argv[] = { s->exe, a1, a2, a3, a4, "--control-timeout=0",
                           OFFER_TIMEOUT, NULL };
    int logfd = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

    if (logfd < 0) {
        bench_die("%s: %s", s->log, g_strerror(errno));
    }
    g_subprocess_launcher_set_child_setup(l, bench_die_with_parent, NULL,
                                          NULL);
    g_subprocess_launcher_take_stderr_fd(l, logfd);
    s->br.proc = g_subprocess_launcher_spawnv(l, argv, &err);
    if (!s->br.proc) {
        bench_die("starting %s: %s", s->exe, err->message);
    }
    killer_arm(&s->killer, s->br.proc, START_WAIT_S * G_USEC_PER_SEC);
    s->br.out = g_data_input_stream_new(
        g_subprocess_get_stdout_pipe(s->br.proc));
    line = g_data_input_stream_read_line(s->br.out, NULL, NULL, NULL);
    killer_disarm(&s->killer);
    if (!line || !g_str_has_prefix(line, "dcd-broker: ready")) {
        violation(s, V_CRASH, NULL, "the broker did not start again on its"
                  " state dir %s", s->dir);
        show_log_tail(s);
        g_subprocess_force_exit(s->br.proc);
        g_subprocess_wait(s->br.proc, NULL, NULL);
        broker_close(&s->br);
        opt_keep = TRUE;
        s->dead = true;
        return false;
    }
    s->br.ctl = dcd_ctl_client_connect(s->ctl_sock, &err);
    if (!s->br.ctl) {
        bench_die("control socket: %s", err->message);
    }
    return true;
}

/* ---- control calls ----------------------------------------------------- */

static bool is_lost(const GError *err)
{
    return err->domain == DCD_ERROR && err->code == DCD_ERR_UNAVAIL &&
           (g_str_has_prefix(err->message, "the broker closed") ||
            g_str_has_prefix(err->message, "sending to the broker") ||
            g_str_has_prefix(err->message, "cannot reach"));
}

/* One control call; args are taken.  *out gets the result on CALL_OK. */
static CallRes call(Storm *s, const char *cmd, JsonObject *args,
                    JsonNode **out, GError **errp)
{
    g_autoptr(GError) err = NULL;
    JsonNode *n;

    *out = NULL;
    if (!s->br.ctl) {
        if (args) {
            json_object_unref(args);
        }
        return CALL_LOST;
    }
    if (opt_verbose) {
        g_autoptr(JsonNode) an = json_node_new(JSON_NODE_OBJECT);
        g_autofree char *text = NULL;

        if (args) {
            json_node_set_object(an, args);
        }
        text = args ? json_to_string(an, FALSE) : g_strdup("");
        say(s, "> %s %s", cmd, text);
    }
    n = dcd_ctl_client_call(s->br.ctl, cmd, args, &err);
    if (opt_verbose && n) {
        g_autofree char *text = json_to_string(n, FALSE);

        say(s, "< %.*s", 600, text);
    }
    if (args) {
        json_object_unref(args);
    }
    if (n) {
        *out = n;
        return CALL_OK;
    }
    if (is_lost(err)) {
        return CALL_LOST;
    }
    g_propagate_error(errp, g_steal_pointer(&err));
    return CALL_ERR;
}

static JsonObject *args_host_tag(unsigned host, const char *tag)
{
    JsonObject *a = bench_args_tag(tag);

    json_object_set_int_member(a, "host-id", host);
    return a;
}

static void add_range(JsonArray *arr, uint64_t off, uint64_t len)
{
    JsonObject *r = json_object_new();

    json_object_set_int_member(r, "offset", off);
    json_object_set_int_member(r, "len", len);
    json_array_add_object_element(arr, r);
}

/* ---- operations -------------------------------------------------------- */

static void count_op(Storm *s, Op op, CallRes r, const GError *err)
{
    s->ops[op]++;
    s->cur_op = op;
    if (r == CALL_ERR) {
        s->op_err[op]++;
        say(s, "%s: %s: %s", op_names[op], dcd_err_name(err->code),
            err->message);
    } else if (r == CALL_LOST) {
        s->op_lost[op]++;
        say(s, "%s: no reply", op_names[op]);
    } else {
        say(s, "%s: ok", op_names[op]);
    }
}

static CallRes op_pool_create(Storm *s)
{
    char tag[DCD_TAG_STR_LEN];
    uint64_t size = POOL_UNIT * (1 + rnd(s, POOL_UNITS_MAX));
    JsonObject *a = json_object_new();
    g_autoptr(JsonNode) n = NULL;
    g_autoptr(GError) err = NULL;
    CallRes r;

    new_tag(s, tag);
    json_object_set_string_member(a, "tag", tag);
    json_object_set_int_member(a, "size", size);
    json_object_set_string_member(a, "backing",
                                  dcd_backing_name(s->backing));
    r = call(s, "pool-create", a, &n, &err);
    count_op(s, OP_POOL_CREATE, r, err);
    if (r != CALL_ERR) {
        pool_new(s, tag, size)->uncertain = r == CALL_LOST;
    }
    return r;
}

/* A pool, preferably one matching holders (1: held, 0: not held). */
static Pool *pick_pool(Storm *s, int held)
{
    g_autoptr(GPtrArray) c = g_ptr_array_new();

    for (guint i = 0; i < s->pools->len; i++) {
        Pool *p = s->pools->pdata[i];

        if (held < 0 || (model_count(s, -1, p->tag) > 0) == held) {
            g_ptr_array_add(c, p);
        }
    }
    if (!c->len) {
        return s->pools->len ? s->pools->pdata[rnd(s, s->pools->len)]
                             : NULL;
    }
    return c->pdata[rnd(s, c->len)];
}

static CallRes op_pool_destroy(Storm *s)
{
    Pool *p = pick_pool(s, rnd(s, 10) < 8 ? 0 : -1);
    g_autoptr(JsonNode) n = NULL;
    g_autoptr(GError) err = NULL;
    CallRes r;

    if (!p) {
        return op_pool_create(s);
    }
    r = call(s, "pool-destroy", bench_args_tag(p->tag), &n, &err);
    count_op(s, OP_POOL_DESTROY, r, err);
    if (r == CALL_OK) {
        for (guint i = 0; i < s->exts->len; i++) {
            Ext *e = s->exts->pdata[i];
            g_autofree char *es = ext_str(e);

            if (g_str_equal(e->tag, p->tag) && !e->uncertain) {
                violation(s, V_ACK_LOST, NULL, "pool-destroy %s succeeded"
                          " while an acknowledged extent is held: %s",
                          p->tag, es);
            }
        }
        drop_pool(s, p);
    } else if (r == CALL_LOST) {
        p->uncertain = true;
    }
    return r;
}

/* A random aligned offset in a region for len bytes that overlaps
 * neither the host's acknowledged extents nor taken (offset, len) pairs. */
static bool find_spot(Storm *s, unsigned host, unsigned region, uint64_t len,
                      GArray *taken, uint64_t *off)
{
    const struct dcd_region *r = &host_regions[host][region];
    uint64_t slots;

    if (len % r->block_size || len > r->len) {
        return false;
    }
    slots = (r->len - len) / r->block_size + 1;
    for (int tries = 0; tries < 20; tries++) {
        uint64_t o = (uint64_t)rnd(s, MIN(slots, G_MAXINT32)) *
                     r->block_size;
        bool clash = false;

        for (guint i = 0; !clash && i < s->exts->len; i++) {
            Ext *e = s->exts->pdata[i];

            clash = e->host == host && e->region == region &&
                    e->dpa - r->base < o + len && o < e->dpa - r->base +
                                                     e->len;
        }
        for (guint i = 0; !clash && i < taken->len; i += 2) {
            uint64_t to = g_array_index(taken, uint64_t, i);
            uint64_t tl = g_array_index(taken, uint64_t, i + 1);

            clash = to < o + len && o < to + tl;
        }
        if (!clash) {
            g_array_append_val(taken, o);
            g_array_append_val(taken, len);
            *off = o;
            return true;
        }
    }
    return false;
}

/* 1 to 4 prescriptive ranges adding up to the pool's size. */
static JsonArray *prescriptive_ranges(Storm *s, unsigned host,
                                      unsigned region, uint64_t size)
{
    uint64_t block = host_regions[host][region].block_size;
    uint64_t units = size / block;
    unsigned k = 1 + rnd(s, 4);
    g_autoptr(GArray) taken = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    JsonArray *arr = json_array_new();
    uint64_t left = units;

    k = MIN(k, units); /* not in MIN(): it evaluates rnd() twice */
    for (unsigned i = 0; i < k; i++) {
        uint64_t n = i == k - 1 ? left : 1 + rnd(s, left - (k - 1 - i));
        uint64_t off;

        left -= n;
        if (!find_spot(s, host, region, n * block, taken, &off)) {
            off = (uint64_t)rnd(s, host_regions[host][region].len / block) *
                  block;
        }
        add_range(arr, off, n * block);
    }
    return arr;
}

/*
 * After an accepted first allocation: the first host writes a known
 * pattern over the tag (or, if the pool's bytes are known already,
 * checks them), so later reads through any host can be compared.
 */
static void first_bytes(Storm *s, unsigned host, Pool *p)
{
    g_autofree guint8 *buf = g_malloc(p->size);
    g_autoptr(GRand) fill = g_rand_new_with_seed(g_rand_int(s->rand));
    g_autofree char *sum = NULL;

    if (p->sum) {
        if (!tag_io(s, host, p->tag, buf, p->size, false, ACK_WAIT_US)) {
            return;
        }
        s->data_checks++;
        sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, buf, p->size);
        if (!g_str_equal(sum, p->sum)) {
            violation(s, V_DATA, NULL, "tag %s read through host %u after a"
                      " new first allocation: SHA-256 %s, expected %s",
                      p->tag, host, sum, p->sum);
            g_clear_pointer(&p->sum, g_free);
        }
        return;
    }
    for (uint64_t i = 0; i < p->size; i += 4) {
        guint32 v = g_rand_int(fill);

        memcpy(buf + i, &v, 4);
    }
    if (tag_io(s, host, p->tag, buf, p->size, true, ACK_WAIT_US)) {
        p->sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, buf, p->size);
        s->patterns++;
    }
}

/* Record the accepted extents of an extent-add reply. */
static unsigned add_reply(Storm *s, JsonNode *n, Pool *p, bool first)
{
    JsonArray *arr = json_object_get_array_member(json_node_get_object(n),
                                                  "extents");
    unsigned accepted = 0;

    if (first) {
        g_array_set_size(p->segs, json_array_get_length(arr));
    }
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonObject *o = json_array_get_object_element(arr, i);
        Ext e;

        ext_from_json(o, &e);
        if (first && e.seq < p->segs->len) {
            g_array_index(p->segs, uint64_t, e.seq) = e.len;
        }
        if (g_str_equal(json_object_get_string_member(o, "state"),
                        "accepted")) {
            model_add(s, &e, op_names[s->cur_op]);
            accepted++;
        }
    }
    return accepted;
}

static CallRes op_add(Storm *s, Op op)
{
    static const char *const policy[] = {
        [OP_ADD_FREE] = "free",
        [OP_ADD_CONTIGUOUS] = "contiguous",
        [OP_ADD_PRESCRIPTIVE] = "prescriptive",
    };
    Pool *p = pick_pool(s, 0);
    unsigned host = rnd(s, NHOSTS);
    unsigned region = rnd(s, host_nregions[host]);
    g_autoptr(JsonNode) n = NULL;
    g_autoptr(GError) err = NULL;
    JsonObject *a;
    CallRes r;

    if (!p) {
        return op_pool_create(s);
    }
    a = args_host_tag(host, p->tag);
    json_object_set_int_member(a, "region", region);
    json_object_set_string_member(a, "policy", policy[op]);
    if (op == OP_ADD_PRESCRIPTIVE) {
        json_object_set_array_member(a, "extents",
                                     prescriptive_ranges(s, host, region,
                                                         p->size));
    }
    json_object_set_boolean_member(a, "wait", TRUE);
    json_object_set_int_member(a, "timeout-ms", WAIT_TIMEOUT_MS);
    r = call(s, "extent-add", a, &n, &err);
    count_op(s, op, r, err);
    if (r == CALL_OK) {
        unsigned total = json_array_get_length(json_object_get_array_member(
            json_node_get_object(n), "extents"));

        if (add_reply(s, n, p, true) == total && total) {
            first_bytes(s, host, p);
        }
    }
    return r;
}

static CallRes op_add_shared(Storm *s)
{
    Pool *p = pick_pool(s, 1);
    unsigned host = rnd(s, NHOSTS);
    unsigned region = rnd(s, host_nregions[host]);
    g_autoptr(JsonNode) n = NULL;
    g_autoptr(GError) err = NULL;
    JsonObject *a;
    CallRes r;

    if (!p) {
        return op_pool_create(s);
    }
    /* Prefer a host that does not hold the tag yet. */
    for (unsigned i = 0; i < NHOSTS && model_count(s, host, p->tag); i++) {
        host = (host + 1) % NHOSTS;
        region = rnd(s, host_nregions[host]);
    }
    a = args_host_tag(host, p->tag);
    json_object_set_int_member(a, "region", region);
    json_object_set_string_member(a, "policy", "enable-shared-access");
    if (p->segs->len && rnd(s, 10) < 4) {
        g_autoptr(GArray) taken = g_array_new(FALSE, FALSE,
                                              sizeof(uint64_t));
        JsonArray *arr = json_array_new();

        for (guint i = 0; i < p->segs->len; i++) {
            uint64_t len = g_array_index(p->segs, uint64_t, i), off;

            if (!find_spot(s, host, region, len, taken, &off)) {
                off = 0;
            }
            add_range(arr, off, len);
        }
        json_object_set_array_member(a, "extents", arr);
    }
    json_object_set_boolean_member(a, "wait", TRUE);
    json_object_set_int_member(a, "timeout-ms", WAIT_TIMEOUT_MS);
    r = call(s, "extent-add", a, &n, &err);
    count_op(s, OP_ADD_SHARED, r, err);
    if (r == CALL_OK && add_reply(s, n, p, false) && p->sum &&
        rnd(s, 4) == 0) {
        /* The new host must see the first host's bytes. */
        g_autofree guint8 *buf = g_malloc(p->size);

        if (tag_io(s, host, p->tag, buf, p->size, false, ACK_WAIT_US)) {
            g_autofree char *sum = g_compute_checksum_for_data(
                G_CHECKSUM_SHA256, buf, p->size);

            s->data_checks++;
            if (!g_str_equal(sum, p->sum)) {
                violation(s, V_DATA, NULL, "tag %s read through host %u"
                          " after enable-shared-access: SHA-256 %s,"
                          " expected %s", p->tag, host, sum, p->sum);
                g_clear_pointer(&p->sum, g_free);
            }
        }
    }
    return r;
}

/* A (host, tag) with acknowledged extents, or false. */
static bool pick_held(Storm *s, unsigned *host, const char **tag)
{
    Ext *e;

    if (!s->exts->len) {
        return false;
    }
    e = s->exts->pdata[rnd(s, s->exts->len)];
    *host = e->host;
    *tag = e->tag;
    return true;
}

static void model_remove(Storm *s, unsigned host, uint64_t dpa)
{
    for (guint i = 0; i < s->exts->len; i++) {
        Ext *e = s->exts->pdata[i];

        if (e->host == host && e->dpa == dpa) {
            g_ptr_array_remove_index(s->exts, i);
            return;
        }
    }
}

static CallRes op_release(Storm *s, Op op)
{
    unsigned host, region = 0;
    const char *t;
    char tag[DCD_TAG_STR_LEN];
    bool forced = op == OP_RELEASE_FORCED;
    bool presc = op == OP_RELEASE_PRESCRIPTIVE || (forced && rnd(s, 2));
    g_autoptr(JsonNode) n = NULL;
    g_autoptr(GError) err = NULL;
    JsonObject *a;
    CallRes r;

    if (!pick_held(s, &host, &t)) {
        return op_add(s, OP_ADD_FREE);
    }
    g_strlcpy(tag, t, sizeof(tag));
    a = args_host_tag(host, tag);
    if (presc) {
        JsonArray *arr = json_array_new();
        unsigned have = model_count(s, host, tag);
        unsigned want = 1 + rnd(s, have);

        /* A random non-empty subset of the host's extents of the tag. */
        for (guint i = 0; i < s->exts->len && want; i++) {
            Ext *e = s->exts->pdata[i];

            if (e->host != host || !g_str_equal(e->tag, tag)) {
                continue;
            }
            if (rnd(s, have) < want) {
                region = e->region;
                add_range(arr, e->dpa - host_regions[host][region].base,
                          e->len);
                want--;
            }
            have--;
        }
        json_object_set_string_member(a, "removal", "prescriptive");
        json_object_set_int_member(a, "region", region);
        json_object_set_array_member(a, "extents", arr);
    }
    if (forced) {
        json_object_set_boolean_member(a, "forced", TRUE);
    }
    r = call(s, "extent-release", a, &n, &err);
    count_op(s, op, r, err);
    if (r == CALL_OK) {
        JsonArray *arr = json_object_get_array_member(
            json_node_get_object(n), "extents");

        s->forced_deaf += forced && host == DEAF_HOST;
        for (guint i = 0; i < json_array_get_length(arr); i++) {
            Ext e;

            ext_from_json(json_array_get_object_element(arr, i), &e);
            model_remove(s, e.host, e.dpa);
        }
    } else if (r == CALL_LOST) {
        for (guint i = 0; i < s->exts->len; i++) {
            Ext *e = s->exts->pdata[i];

            if (e->host == host && g_str_equal(e->tag, tag)) {
                e->uncertain = true;
            }
        }
    }
    return r;
}

static CallRes op_host_release(Storm *s)
{
    unsigned host;
    const char *tag;
    g_autoptr(GArray) dropped = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    HostsCtx c = { .s = s, .dropped = dropped };

    if (!pick_held(s, &host, &tag)) {
        return op_add(s, OP_ADD_FREE);
    }
    c.host = host;
    dcd_tag_parse(tag, &c.tag);
    bench_host_thread_call(s->ht, drop_cb, &c);
    s->ops[OP_HOST_RELEASE]++;
    if (!c.ok) {
        s->op_err[OP_HOST_RELEASE]++;
    }
    say(s, "host-release: host %u tag %s: %u extents", host, tag,
        dropped->len);
    /* Unmapped already: whatever the broker hears, the host has none. */
    for (guint i = 0; i < dropped->len; i++) {
        model_remove(s, host, g_array_index(dropped, uint64_t, i));
    }
    return CALL_OK;
}

/* Every tag host h holds, for a reset. */
static void held_tags_cb(gpointer opaque)
{
    HostsCtx *c = opaque;
    const GPtrArray *xs = dcd_hostclient_extents(c->s->hosts[c->host].core);

    for (guint i = 0; i < xs->len; i++) {
        const DcdHostClientExtent *x = g_ptr_array_index(xs, i);
        DcdTag t;
        bool seen = false;

        memcpy(t.b, x->e.tag, sizeof(t.b));
        for (guint j = 0; j < c->dropped->len && !seen; j++) {
            seen = dcd_tag_equal(&g_array_index(c->dropped, DcdTag, j), &t);
        }
        if (!seen && x->state == DCD_EXTENT_ACCEPTED) {
            g_array_append_val(c->dropped, t);
        }
    }
}

/* A VM reset: the host drops everything it holds, unasked. */
static CallRes op_host_reset(Storm *s)
{
    unsigned host = rnd(s, NHOSTS);
    g_autoptr(GArray) tags = g_array_new(FALSE, FALSE, sizeof(DcdTag));
    HostsCtx c = { .s = s, .host = host, .dropped = tags };

    bench_host_thread_call(s->ht, held_tags_cb, &c);
    s->ops[OP_HOST_RESET]++;
    say(s, "host-reset: host %u, %u tags", host, tags->len);
    for (guint i = 0; i < tags->len; i++) {
        g_autoptr(GArray) dropped = g_array_new(FALSE, FALSE,
                                                sizeof(uint64_t));
        HostsCtx d = { .s = s, .host = host, .dropped = dropped,
                       .tag = g_array_index(tags, DcdTag, i) };

        bench_host_thread_call(s->ht, drop_cb, &d);
        for (guint j = 0; j < dropped->len; j++) {
            model_remove(s, host, g_array_index(dropped, uint64_t, j));
        }
    }
    return CALL_OK;
}

static Op pick_op(Storm *s)
{
    unsigned total = 0, r;

    if (s->pools->len < 2) {
        return OP_POOL_CREATE;
    }
    for (unsigned i = 0; i < OP__MAX; i++) {
        total += op_weight[i];
    }
    r = rnd(s, total);
    for (unsigned i = 0; i < OP__MAX; i++) {
        if (r < op_weight[i]) {
            return i == OP_POOL_CREATE && s->pools->len >= MAX_POOLS ?
                   OP_POOL_DESTROY : i;
        }
        r -= op_weight[i];
    }
    return OP_ADD_FREE;
}

static CallRes run_op(Storm *s, Op op)
{
    switch (op) {
    case OP_POOL_CREATE:
        return op_pool_create(s);
    case OP_POOL_DESTROY:
        return op_pool_destroy(s);
    case OP_ADD_FREE:
    case OP_ADD_CONTIGUOUS:
    case OP_ADD_PRESCRIPTIVE:
        return op_add(s, op);
    case OP_ADD_SHARED:
        return op_add_shared(s);
    case OP_RELEASE_TAG:
    case OP_RELEASE_PRESCRIPTIVE:
    case OP_RELEASE_FORCED:
        return op_release(s, op);
    case OP_HOST_RESET:
        return op_host_reset(s);
    case OP_HOST_RELEASE:
    default:
        return op_host_release(s);
    }
}

/* ---- a disk that fills up (--full-disk) -------------------------------- */

/* A tmpfs of size at dir, private to the storm's mount namespace. */
static void small_fs(const char *dir, const char *size)
{
    g_autofree char *opts = g_strdup_printf("size=%s,mode=0700", size);

    g_mkdir_with_parents(dir, 0700);
    if (mount("tmpfs", dir, "tmpfs", 0, opts) < 0) {
        bench_die("mounting a %s tmpfs on %s: %s", size, dir,
                  g_strerror(errno));
    }
}

/*
 * Grow or shrink dir's filler file so that about free bytes stay free:
 * none, a little (a record or two, or a block), or all of it.
 */
static void fill(Storm *s, const char *dir)
{
    static const uint64_t leave[] = { 0, 512, 4096, 64 * KIB, UINT64_MAX };
    g_autofree char *path = g_build_filename(dir, "filler", NULL);
    uint64_t want = leave[rnd(s, G_N_ELEMENTS(leave))];
    struct statvfs vfs;
    struct stat st;
    uint64_t avail, size;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0 || fstat(fd, &st) < 0 || fstatvfs(fd, &vfs) < 0) {
        bench_die("%s: %s", path, g_strerror(errno));
    }
    avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    size = st.st_size + avail;
    size = want == UINT64_MAX ? 0 : size > want ? size - want : 0;
    if (ftruncate(fd, MIN((uint64_t)st.st_size, size)) < 0 ||
        (size > (uint64_t)st.st_size &&
         posix_fallocate(fd, 0, size) != 0 &&
         posix_fallocate(fd, 0, size - vfs.f_frsize) != 0)) {
        /* tmpfs rounds to pages: a page short is as full as it gets. */
    }
    s->fills += want == 0;
    close(fd);
}

static void fill_dirs(Storm *s)
{
    if (opt_full_disk && rnd(s, 3) == 0) {
        fill(s, rnd(s, 2) ? s->state_dir : s->pool_dir);
    }
}

static bool view_has(GArray *v, const Ext *e);

static void mapped_cb(gpointer opaque)
{
    HostsCtx *c = opaque;

    for (unsigned i = 0; i < NHOSTS; i++) {
        const GPtrArray *xs = dcd_hostclient_extents(c->s->hosts[i].core);

        for (guint j = 0; j < xs->len; j++) {
            const DcdHostClientExtent *x = g_ptr_array_index(xs, j);
            Ext e;

            if (x->mapped) {
                ext_from_host(i, &x->e, &e);
                g_array_append_val(c->mapped, e);
            }
        }
    }
}

/*
 * unheld: what a host maps is the host's at the broker.  An extent seen
 * mapped before and after the broker's list was read was mapped while
 * the broker answered, so it must be on the list.
 */
static void check_mapped(Storm *s)
{
    g_autoptr(GArray) before = g_array_new(FALSE, FALSE, sizeof(Ext));
    g_autoptr(GArray) after = g_array_new(FALSE, FALSE, sizeof(Ext));
    g_autoptr(GArray) live = g_array_new(FALSE, FALSE, sizeof(Ext));
    g_autoptr(JsonNode) n = NULL;
    HostsCtx c = { .s = s, .mapped = before };
    JsonArray *a;

    bench_host_thread_call(s->ht, mapped_cb, &c);
    if (call(s, "extent-list", NULL, &n, NULL) != CALL_OK) {
        return;
    }
    c.mapped = after;
    bench_host_thread_call(s->ht, mapped_cb, &c);
    a = json_node_get_array(n);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        Ext e;

        ext_from_json(json_array_get_object_element(a, i), &e);
        g_array_append_val(live, e);
    }
    for (guint i = 0; i < before->len; i++) {
        Ext *e = &g_array_index(before, Ext, i);

        if (view_has(after, e) && !view_has(live, e)) {
            g_autofree char *es = ext_str(e);

            violation(s, V_UNHELD, es, "host %u maps an extent the broker"
                      " does not count as its: %s", e->host, es);
        }
    }
    s->mapped_checks++;
}

static CallRes do_op(Storm *s, Op op)
{
    gint64 t0 = g_get_monotonic_time();
    CallRes r;

    s->cur_op = op;
    fill_dirs(s);
    r = run_op(s, op);
    if (r == CALL_OK || r == CALL_ERR) {
        s->op_us[op] += ((g_get_monotonic_time() - t0) - s->op_us[op]) / 16;
        check_mapped(s);
    }
    return r;
}

/* ---- settling ---------------------------------------------------------- */

/* How many hosts are connected now. */
static unsigned count_connected(Storm *s)
{
    HostView v[NHOSTS];
    unsigned n = 0;

    snapshot(s, v);
    for (unsigned i = 0; i < NHOSTS; i++) {
        n += v[i].connected;
    }
    views_free(v);
    return n;
}

static bool all_connected(Storm *s)
{
    return count_connected(s) == NHOSTS;
}

static bool none_connected(Storm *s)
{
    return count_connected(s) == 0;
}

/*
 * Live extents at the broker not yet final (pending, releasing, or
 * revoking: but the deaf host's revoking ones stay so until it resets).
 */
static unsigned broker_unsettled(Storm *s, bool *lost)
{
    g_autoptr(JsonNode) n = NULL;
    g_autoptr(JsonNode) h = NULL;
    JsonArray *arr;
    unsigned busy = 0;

    if (call(s, "extent-list", NULL, &n, NULL) != CALL_OK ||
        call(s, "host-list", NULL, &h, NULL) != CALL_OK) {
        *lost = true;
        return 1;
    }
    arr = json_node_get_array(n);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonObject *e = json_array_get_object_element(arr, i);
        const char *st = json_object_get_string_member(e, "state");

        busy += !g_str_equal(st, "accepted") &&
                !(g_str_equal(st, "revoking") &&
                  json_object_get_int_member(e, "host-id") == DEAF_HOST);
    }
    arr = json_node_get_array(h);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        busy += !json_object_get_boolean_member(
            json_array_get_object_element(arr, i), "connected");
    }
    return busy;
}

/*
 * Wait (bounded) until every host is connected, the broker has handled
 * every host's hand-back, and no extent is pending or releasing.  false
 * if the broker went away meanwhile.
 */
static bool settle(Storm *s)
{
    gint64 t0 = g_get_monotonic_time();
    gint64 end = t0 + (gint64)opt_settle_ms * 1000;
    bool barrier = false, lost = false;
    double ms;

    while (g_get_monotonic_time() < end && !barrier) {
        bool done = true;

        if (!all_connected(s)) {
            g_usleep(2000);
            continue;
        }
        bench_host_thread_call(s->ht, barrier_cb, s);
        for (;;) {
            int failed = 0;

            done = true;
            for (unsigned i = 0; i < NHOSTS; i++) {
                int b = g_atomic_int_get(&s->hosts[i].barrier);

                done = done && b == 1;
                failed += b < 0;
            }
            if (done || failed || g_get_monotonic_time() > end) {
                break;
            }
            g_usleep(500);
        }
        barrier = done;
    }
    while (barrier && g_get_monotonic_time() < end &&
           broker_unsettled(s, &lost) && !lost) {
        g_usleep(2000);
    }
    if (lost) {
        return false;
    }
    ms = (g_get_monotonic_time() - t0) / 1000.0;
    s->settles++;
    s->settle_sum_ms += ms;
    s->settle_max_ms = MAX(s->settle_max_ms, ms);
    if (g_get_monotonic_time() >= end) {
        g_autofree char *key = g_strdup_printf("%u", s->kill_no);

        violation(s, V_SETTLE, key, "not settled after %d ms (%s)",
                  opt_settle_ms, barrier ? "extents still pending or"
                  " releasing, or a host not connected at the broker" :
                  "a host did not reconnect and hand back");
    }
    return true;
}

/* ---- the checks -------------------------------------------------------- */

static JsonObject *find_pool_json(JsonArray *pools, const char *tag)
{
    for (guint i = 0; i < json_array_get_length(pools); i++) {
        JsonObject *o = json_array_get_object_element(pools, i);

        if (g_str_equal(json_object_get_string_member(o, "tag"), tag)) {
            return o;
        }
    }
    return NULL;
}

/* Does the array of Ext (GArray) or broker extents contain e? */
static bool view_has(GArray *v, const Ext *e)
{
    for (guint i = 0; i < v->len; i++) {
        if (ext_same(&g_array_index(v, Ext, i), e)) {
            return true;
        }
    }
    return false;
}

/* Resolve pool creates and destroys that got no reply. */
static void check_pools(Storm *s, JsonArray *pools)
{
    /* A refused create leaves nothing behind. */
    for (guint i = 0; i < json_array_get_length(pools); i++) {
        const char *tag = json_object_get_string_member(
            json_array_get_object_element(pools, i), "tag");

        if (!find_pool(s, tag)) {
            violation(s, V_HALF_DONE, tag, "pool %s exists, but its create"
                      " was refused", tag);
        }
    }
    for (guint i = s->pools->len; i-- > 0;) {
        Pool *p = s->pools->pdata[i];
        g_autoptr(JsonNode) n = NULL;
        g_autoptr(GError) err = NULL;
        JsonObject *a;

        if (find_pool_json(pools, p->tag)) {
            p->uncertain = false;
            continue;
        }
        if (!p->uncertain) {
            violation(s, V_ACK_LOST, NULL, "pool %s was created (acknowledged)"
                      " and never destroyed, but the broker no longer has it",
                      p->tag);
            drop_pool(s, p);
            continue;
        }
        /* Its create or destroy got no reply, and it is gone: the tag
         * must be free for a new pool. */
        a = json_object_new();
        json_object_set_string_member(a, "tag", p->tag);
        json_object_set_int_member(a, "size", p->size);
        json_object_set_string_member(a, "backing",
                                      dcd_backing_name(s->backing));
        s->ops[OP_POOL_CREATE]++;
        switch (call(s, "pool-create", a, &n, &err)) {
        case CALL_OK:
            p->uncertain = false;
            g_clear_pointer(&p->sum, g_free);
            g_array_set_size(p->segs, 0);
            break;
        case CALL_ERR:
            s->op_err[OP_POOL_CREATE]++;
            if (err->code == DCD_ERR_NOSPC) {
                /* No room now: says nothing of the tag. */
                drop_pool(s, p);
                break;
            }
            violation(s, V_TAG_STUCK, p->tag, "pool %s does not exist after"
                      " a create or destroy that got no reply, and cannot be"
                      " created again: %s: %s", p->tag,
                      dcd_err_name(err->code), err->message);
            drop_pool(s, p);
            break;
        case CALL_LOST:
            s->op_lost[OP_POOL_CREATE]++;
            break;
        }
    }
}

static void check_files(Storm *s, JsonArray *pools)
{
    g_autoptr(GHashTable) want = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GDir) d = g_dir_open(s->pool_dir, 0, NULL);
    const char *name;

    for (guint i = 0; i < json_array_get_length(pools); i++) {
        JsonObject *o = json_array_get_object_element(pools, i);
        const char *path = json_object_get_string_member_with_default(
            o, "path", NULL);

        if (path) {
            g_hash_table_add(want, (gpointer)path);
            if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
                violation(s, V_ORPHAN_FILE, path, "file pool %s is listed"
                          " but its file %s is missing",
                          json_object_get_string_member(o, "tag"), path);
            }
        }
    }
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(s->pool_dir, name, NULL);

        /* Only TAG.pool can be a pool (the broker keeps a lock file). */
        if (!g_str_has_suffix(name, ".pool")) {
            continue;
        }
        if (!g_hash_table_contains(want, path)) {
            violation(s, V_ORPHAN_FILE, path, "%s is in the pool dir but no"
                      " pool of the broker's", path);
        }
    }
}

/* Layout dense and back to back; returns the segments as Ext (seq, off,
 * len) in an array indexed by shared_seq, or NULL if broken. */
static GArray *check_layout(Storm *s, JsonObject *pool)
{
    const char *tag = json_object_get_string_member(pool, "tag");
    JsonArray *segs = json_object_get_array_member(pool, "segments");
    guint n = json_array_get_length(segs);
    GArray *out = g_array_sized_new(FALSE, TRUE, sizeof(Ext), n);
    uint64_t next = 0;

    g_array_set_size(out, n);
    for (guint i = 0; i < n; i++) {
        JsonObject *o = json_array_get_object_element(segs, i);
        unsigned seq = json_object_get_int_member(o, "shared-seq");
        uint64_t off = json_object_get_int_member(o, "offset");
        uint64_t len = json_object_get_int_member(o, "len");
        Ext *e;

        if (seq >= n || g_array_index(out, Ext, seq).len) {
            violation(s, V_SHARED_SEQ, tag, "tag %s: layout has shared_seq"
                      " %u out of 0..%u or twice", tag, seq, n - 1);
            g_array_unref(out);
            return NULL;
        }
        e = &g_array_index(out, Ext, seq);
        e->seq = seq;
        e->pool_offset = off;
        e->len = len;
    }
    for (guint i = 0; i < n; i++) {
        Ext *e = &g_array_index(out, Ext, i);

        if (e->pool_offset != next) {
            violation(s, V_SHARED_SEQ, tag, "tag %s: shared_seq %u at pool"
                      " offset 0x%" G_GINT64_MODIFIER "x, not right after %u"
                      " (0x%" G_GINT64_MODIFIER "x)", tag, i, e->pool_offset,
                      i - 1, next);
            g_array_unref(out);
            return NULL;
        }
        next += e->len;
    }
    if (n && next != (uint64_t)json_object_get_int_member(pool, "size")) {
        violation(s, V_SHARED_SEQ, tag, "tag %s: layout covers 0x%"
                  G_GINT64_MODIFIER "x bytes of a 0x%" G_GINT64_MODIFIER
                  "x-byte pool", tag, next,
                  json_object_get_int_member(pool, "size"));
    }
    return out;
}

/* An extent (broker's or a host's) against its tag's layout. */
static void check_seq(Storm *s, JsonArray *pools, GHashTable *layouts,
                      const Ext *e, const char *who)
{
    GArray *l = g_hash_table_lookup(layouts, e->tag);
    g_autofree char *es = ext_str(e);
    g_autofree char *key = g_strdup_printf("%s %s", who, es);
    const Ext *seg;

    if (!find_pool_json(pools, e->tag)) {
        violation(s, V_SHARED_SEQ, key, "%s holds an extent of a tag the"
                  " broker has no pool for: %s", who, es);
        return;
    }
    if (!l) {
        return; /* layout already reported broken */
    }
    if (e->seq >= l->len) {
        violation(s, V_SHARED_SEQ, key, "%s: shared_seq beyond the tag's %u"
                  " segments: %s", who, l->len, es);
        return;
    }
    seg = &g_array_index(l, Ext, e->seq);
    if (seg->pool_offset != e->pool_offset || seg->len != e->len) {
        violation(s, V_SHARED_SEQ, key, "%s: extent differs from its"
                  " segment (pool offset 0x%" G_GINT64_MODIFIER "x len 0x%"
                  G_GINT64_MODIFIER "x): %s", who, seg->pool_offset,
                  seg->len, es);
    }
}

/* No two extents of one tag with the same shared_seq on one host. */
static void check_dups(Storm *s, GArray *v, const char *who)
{
    for (guint i = 0; i < v->len; i++) {
        for (guint j = i + 1; j < v->len; j++) {
            Ext *a = &g_array_index(v, Ext, i), *b = &g_array_index(v, Ext, j);

            if (a->host == b->host && a->seq == b->seq &&
                g_str_equal(a->tag, b->tag)) {
                g_autofree char *as = ext_str(a);
                g_autofree char *bs = ext_str(b);
                g_autofree char *key = g_strdup_printf("%s %s", who, as);

                violation(s, V_DUPLICATE, key, "%s: shared_seq held twice: %s"
                          " and %s", who, as, bs);
            }
        }
    }
}

/*
 * The memory the broker has open for each pool: the inodes behind its
 * pool fds (memfd "dcd-pool-TAG", or TAG.pool in the pool dir), as
 * tag -> GArray of inode numbers.
 */
static GHashTable *broker_inodes(Storm *s)
{
    GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify)g_array_unref);
    const char *pid = s->br.proc ? g_subprocess_get_identifier(s->br.proc)
                                 : NULL;
    g_autofree char *fddir = g_strdup_printf("/proc/%s/fd", pid);
    g_autoptr(GDir) d = pid ? g_dir_open(fddir, 0, NULL) : NULL;
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(fddir, name, NULL);
        g_autofree char *target = g_file_read_link(path, NULL);
        g_autofree char *base = target ? g_path_get_basename(target) : NULL;
        char tag[DCD_TAG_STR_LEN] = "";
        struct stat st;
        GArray *a;

        if (!target) {
            continue;
        }
        if (g_str_has_prefix(target, "/memfd:dcd-pool-")) {
            g_strlcpy(tag, target + strlen("/memfd:dcd-pool-"), sizeof(tag));
        } else if (g_str_has_prefix(target, s->pool_dir) &&
                   g_str_has_suffix(base, ".pool")) {
            g_strlcpy(tag, base, sizeof(tag));
        }
        if (!*tag || stat(path, &st) < 0) {
            continue;
        }
        a = g_hash_table_lookup(t, tag);
        if (!a) {
            a = g_array_new(FALSE, FALSE, sizeof(guint64));
            g_hash_table_insert(t, g_strdup(tag), a);
        }
        g_array_append_val(a, (guint64){ st.st_ino });
    }
    return t;
}

static bool has_inode(GArray *a, guint64 ino)
{
    for (guint i = 0; a && i < a->len; i++) {
        if (g_array_index(a, guint64, i) == ino) {
            return true;
        }
    }
    return false;
}

/*
 * Every host holding a tag maps the same memory, and the broker has it
 * open; the broker has one fd for each pool with memory, none for
 * others.
 */
static void check_inodes(Storm *s, JsonArray *pools, HostView *views)
{
    g_autoptr(GHashTable) br = broker_inodes(s);
    g_autoptr(GHashTable) first = g_hash_table_new(g_str_hash, g_str_equal);
    GHashTableIter it;
    gpointer k, v;

    for (unsigned h = 0; h < NHOSTS; h++) {
        g_hash_table_iter_init(&it, views[h].inode);
        while (g_hash_table_iter_next(&it, &k, &v)) {
            guint64 ino = GPOINTER_TO_SIZE(v);
            gpointer other;
            g_autofree char *key = g_strdup_printf("inode %s %u %" G_GUINT64_FORMAT,
                                                   (char *)k, h, ino);

            if (g_hash_table_lookup_extended(first, k, NULL, &other) &&
                GPOINTER_TO_SIZE(other) != ino) {
                violation(s, V_DATA, key, "hosts holding pool %s map"
                          " different memory (inodes %zu and %" G_GUINT64_FORMAT
                          "): they no longer share bytes", (char *)k,
                          GPOINTER_TO_SIZE(other), ino);
            } else if (!has_inode(g_hash_table_lookup(br, k), ino)) {
                violation(s, V_DATA, key, "host %u maps pool %s from inode %"
                          G_GUINT64_FORMAT " which the broker does not have"
                          " open: it no longer shares bytes with hosts given"
                          " the pool from now on", h, (char *)k, ino);
            }
            g_hash_table_insert(first, k, v);
        }
    }
    g_hash_table_iter_init(&it, br);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        GArray *a = v;
        g_autofree char *key = g_strdup_printf("fds %s %u", (char *)k,
                                               a->len);

        if (!find_pool_json(pools, k)) {
            violation(s, V_FD_LEAK, key, "the broker has %u fd(s) open for"
                      " pool %s, which no longer exists", a->len, (char *)k);
        } else if (a->len > 1) {
            violation(s, V_FD_LEAK, key, "the broker has %u fds open for"
                      " pool %s (inodes %" G_GUINT64_FORMAT " and %"
                      G_GUINT64_FORMAT "%s)", a->len, (char *)k,
                      g_array_index(a, guint64, 0),
                      g_array_index(a, guint64, 1), a->len > 2 ? ", ..." : "");
        }
    }
    for (guint i = 0; i < json_array_get_length(pools); i++) {
        JsonObject *o = json_array_get_object_element(pools, i);
        const char *tag = json_object_get_string_member(o, "tag");

        if (json_object_get_boolean_member(o, "memory") &&
            !g_hash_table_contains(br, tag)) {
            violation(s, V_DATA, tag, "pool %s has memory, says the broker,"
                      " but it has no fd of it open", tag);
        }
    }
}

/* Read the tag through every host holding all of it. */
static void check_data(Storm *s, Pool *p, GArray *layout, HostView *views)
{
    g_autofree guint8 *buf = NULL;

    if (!p->sum || !layout || !layout->len) {
        return;
    }
    buf = g_malloc(p->size);
    for (unsigned h = 0; h < NHOSTS; h++) {
        unsigned have = 0;
        g_autofree char *sum = NULL;

        for (guint i = 0; i < views[h].ext->len; i++) {
            have += g_str_equal(g_array_index(views[h].ext, Ext, i).tag,
                                p->tag);
        }
        if (have != layout->len) {
            continue;
        }
        if (!tag_io(s, h, p->tag, buf, p->size, false, 0)) {
            violation(s, V_DATA, NULL, "host %u holds all %u extents of tag"
                      " %s but cannot read its %" G_GUINT64_FORMAT " bytes",
                      h, have, p->tag, p->size);
            continue;
        }
        s->data_checks++;
        sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, buf, p->size);
        if (!g_str_equal(sum, p->sum)) {
            g_autofree char *key = g_strdup_printf("%s %u %s", p->tag, h,
                                                   sum);

            violation(s, V_DATA, key, "tag %s (%s) read through host %u:"
                      " SHA-256 %s, expected %s", p->tag,
                      dcd_backing_name(s->backing), h, sum, p->sum);
            g_clear_pointer(&p->sum, g_free);
            return;
        }
    }
}

/* A pattern for pools whose bytes are unknown and some host holds whole. */
static void adopt_data(Storm *s, HostView *views, GHashTable *layouts)
{
    for (guint i = 0; i < s->pools->len; i++) {
        Pool *p = s->pools->pdata[i];
        GArray *l = g_hash_table_lookup(layouts, p->tag);

        for (unsigned h = 0; !p->sum && l && l->len && h < NHOSTS; h++) {
            unsigned have = 0;

            for (guint j = 0; j < views[h].ext->len; j++) {
                have += g_str_equal(g_array_index(views[h].ext, Ext, j).tag,
                                    p->tag);
            }
            if (have == l->len) {
                first_bytes(s, h, p);
            }
        }
    }
}

/*
 * Every invariant, after a settle.  held: tags whose pool fd some host
 * kept across the kill (NULL: no kill since the last check).  false if
 * the broker went away during the check.
 */
static bool check(Storm *s, GHashTable *held)
{
    g_autoptr(JsonNode) pn = NULL;
    g_autoptr(JsonNode) en = NULL;
    g_autoptr(GArray) bv = g_array_new(FALSE, FALSE, sizeof(Ext));
    g_autoptr(GHashTable) layouts = g_hash_table_new_full(
        g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_array_unref);
    HostView views[NHOSTS];
    JsonArray *pools, *ext;

    if (call(s, "pool-list", NULL, &pn, NULL) != CALL_OK) {
        return false;
    }
    pools = json_node_get_array(pn);
    check_pools(s, pools);
    g_clear_pointer(&pn, json_node_unref);
    /* Again: check_pools() may have created pools. */
    if (call(s, "pool-list", NULL, &pn, NULL) != CALL_OK ||
        call(s, "extent-list", NULL, &en, NULL) != CALL_OK) {
        return false;
    }
    pools = json_node_get_array(pn);
    ext = json_node_get_array(en);
    for (guint i = 0; i < json_array_get_length(ext); i++) {
        JsonObject *o = json_array_get_object_element(ext, i);
        Ext e;

        const char *st = json_object_get_string_member(o, "state");

        ext_from_json(o, &e);
        /* revoking: still the host's (the deaf host keeps mapping them) */
        if (g_str_equal(st, "accepted") || g_str_equal(st, "releasing") ||
            g_str_equal(st, "revoking")) {
            g_array_append_val(bv, e);
        }
    }
    snapshot(s, views);

    /* ack-lost: what replies acknowledged is live and held. */
    for (guint i = 0; i < s->exts->len; i++) {
        Ext *e = s->exts->pdata[i];
        g_autofree char *es = ext_str(e);
        bool at_broker = view_has(bv, e);
        bool at_host = view_has(views[e->host].ext, e);

        if (e->uncertain) {
            continue;
        }
        s->acked_checked++;
        if (!at_broker || !at_host) {
            violation(s, V_ACK_LOST, NULL, "acknowledged extent %s at the"
                      " broker, %s at the host: %s (acknowledged by %s %s"
                      " kill %u)", at_broker ? "live" : "gone",
                      at_host ? "held" : "gone", es, e->how,
                      e->armed ? "in the reply to the op hit by" : "after",
                      e->kill);
        }
    }

    /* duplicate: no shared_seq twice; broker and hosts agree. */
    check_dups(s, bv, "broker");
    for (unsigned h = 0; h < NHOSTS; h++) {
        g_autofree char *who = g_strdup_printf("host %u", h);

        check_dups(s, views[h].ext, who);
        for (guint i = 0; i < views[h].ext->len; i++) {
            Ext *e = &g_array_index(views[h].ext, Ext, i);

            if (!view_has(bv, e)) {
                g_autofree char *es = ext_str(e);

                violation(s, V_DUPLICATE, es, "host %u holds an extent the"
                          " broker does not list: %s", h, es);
            }
        }
        if (views[h].pending) {
            g_autofree char *key = g_strdup_printf("%s@%u", who, s->kill_no);

            violation(s, V_SETTLE, key, "host %u still has %u extents offered"
                      " or awaiting an ack after settling", h,
                      views[h].pending);
        }
    }
    for (guint i = 0; i < bv->len; i++) {
        Ext *e = &g_array_index(bv, Ext, i);

        if (e->host < NHOSTS && !view_has(views[e->host].ext, e)) {
            g_autofree char *es = ext_str(e);

            violation(s, V_DUPLICATE, es, "the broker lists an extent its"
                      " host does not hold: %s", es);
        }
    }

    /* shared-seq: layouts, and every extent against its layout. */
    for (guint i = 0; i < json_array_get_length(pools); i++) {
        JsonObject *o = json_array_get_object_element(pools, i);
        GArray *l = check_layout(s, o);

        if (l) {
            g_hash_table_insert(layouts,
                                g_strdup(json_object_get_string_member(o,
                                                                       "tag")),
                                l);
        }
    }
    for (guint i = 0; i < bv->len; i++) {
        check_seq(s, pools, layouts, &g_array_index(bv, Ext, i), "broker");
    }
    for (unsigned h = 0; h < NHOSTS; h++) {
        g_autofree char *who = g_strdup_printf("host %u", h);

        for (guint i = 0; i < views[h].ext->len; i++) {
            check_seq(s, pools, layouts, &g_array_index(views[h].ext, Ext, i),
                      who);
        }
    }

    /* memory: nothing left without it after settling. */
    for (guint i = 0; i < json_array_get_length(pools); i++) {
        JsonObject *o = json_array_get_object_element(pools, i);
        const char *tag = json_object_get_string_member(o, "tag");
        int holder = -1;

        if (json_object_get_boolean_member(o, "memory")) {
            continue;
        }
        for (unsigned h = 0; h < NHOSTS && holder < 0; h++) {
            for (guint j = 0; j < views[h].ext->len; j++) {
                if (g_str_equal(g_array_index(views[h].ext, Ext, j).tag,
                                tag)) {
                    holder = h;
                }
            }
        }
        if (holder >= 0) {
            violation(s, V_MEMORY, tag, "pool %s has no memory though"
                      " connected host %d holds it and handed it back", tag,
                      holder);
        } else {
            violation(s, V_MEMORY, tag, "pool %s has no memory and no host"
                      " holds it: nobody can give it back and the broker did"
                      " not renew it", tag);
        }
    }

    /* orphan-file */
    check_files(s, pools);

    /* data: every host maps the broker's memory of the pool. */
    check_inodes(s, pools, views);

    /* data: a memfd pool no host kept across the kill lost its bytes. */
    for (guint i = 0; i < s->pools->len; i++) {
        Pool *p = s->pools->pdata[i];

        if (held && s->backing != DCD_BACKING_FILE &&
            !g_hash_table_contains(held, p->tag)) {
            g_clear_pointer(&p->sum, g_free);
        }
        check_data(s, p, g_hash_table_lookup(layouts, p->tag), views);
    }

    /* From here on, what both sides agree on counts as acknowledged: the
     * extent-list reply just reported it accepted. */
    g_ptr_array_set_size(s->exts, 0);
    for (guint i = 0; i < bv->len; i++) {
        Ext *e = &g_array_index(bv, Ext, i);

        if (e->host < NHOSTS && view_has(views[e->host].ext, e)) {
            model_add(s, e, "extent-list");
        }
    }
    for (guint i = 0; i < json_array_get_length(pools); i++) {
        JsonObject *o = json_array_get_object_element(pools, i);
        const char *tag = json_object_get_string_member(o, "tag");
        Pool *p = find_pool(s, tag);
        GArray *l = g_hash_table_lookup(layouts, tag);

        if (!p) {
            p = pool_new(s, tag, json_object_get_int_member(o, "size"));
        }
        g_array_set_size(p->segs, 0);
        for (guint j = 0; l && j < l->len; j++) {
            g_array_append_val(p->segs, g_array_index(l, Ext, j).len);
        }
    }
    adopt_data(s, views, layouts);
    views_free(views);
    return true;
}

/* ---- kills and restarts ------------------------------------------------ */

/* Tags whose pool fd some host holds now. */
static GHashTable *held_tags(Storm *s)
{
    GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          NULL);
    HostView v[NHOSTS];

    snapshot(s, v);
    for (unsigned h = 0; h < NHOSTS; h++) {
        for (guint i = 0; i < v[h].ext->len; i++) {
            g_hash_table_add(t, g_strdup(g_array_index(v[h].ext, Ext,
                                                       i).tag));
        }
    }
    views_free(v);
    return t;
}

/* Wait for the broker to exit; one that only hung up is killed. */
static void reap(Storm *s)
{
    gint64 end = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;

    while (g_subprocess_get_identifier(s->br.proc) &&
           g_get_monotonic_time() < end) {
        g_usleep(1000);
    }
    if (g_subprocess_get_identifier(s->br.proc)) {
        violation(s, V_CRASH, NULL, "the broker closed the control"
                  " connection but did not exit");
        g_subprocess_force_exit(s->br.proc);
    }
    g_subprocess_wait(s->br.proc, NULL, NULL);
}

/*
 * The broker is gone (killed by us if killed is set): reap it, let the
 * hosts notice, start it again, settle and check.  false once it cannot
 * be started any more.
 */
static bool recover(Storm *s, bool killed)
{
    g_autoptr(GHashTable) held = NULL;
    gint64 end;

    for (;;) {
        reap(s);
        if (!killed || !g_subprocess_get_if_signaled(s->br.proc) ||
            g_subprocess_get_term_sig(s->br.proc) != SIGKILL) {
            violation(s, V_CRASH, NULL, "the broker died by itself (%s %d)",
                      g_subprocess_get_if_signaled(s->br.proc) ? "signal" :
                      "exit status",
                      g_subprocess_get_if_signaled(s->br.proc) ?
                      g_subprocess_get_term_sig(s->br.proc) :
                      g_subprocess_get_exit_status(s->br.proc));
            show_log_tail(s);
        }
        broker_close(&s->br);
        /* The hosts must see the close before their pools are counted. */
        end = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
        while (!none_connected(s) && g_get_monotonic_time() < end) {
            g_usleep(1000);
        }
        held = held_tags(s);
        if (!broker_start(s)) {
            return false;
        }
        s->restarts++;
        if (settle(s) && check(s, held)) {
            return true;
        }
        /* It died again during the check: no kill of ours. */
        killed = false;
        g_clear_pointer(&held, g_hash_table_unref);
    }
}

/*
 * Random kill delays: most within about one control call (so within
 * the request, or just after its reply), the rest later, when the hosts'
 * answers and the broker's follow-ups are under way, or idle.
 */
static gint64 kill_delay_us(Storm *s, Op op)
{
    unsigned call = MAX(50, (unsigned)s->op_us[op]);

    switch (rnd(s, 10)) {
    case 0: case 1: case 2: case 3: case 4: case 5:
        return rnd(s, call);
    case 6: case 7:
        return rnd(s, 5000);
    case 8:
        return rnd(s, 50000);
    default:
        return 50000 + rnd(s, 200000);
    }
}

/* ---- one configuration ------------------------------------------------- */

static void storm_run(Storm *s, unsigned kills, gint64 deadline)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *tmpl = g_strdup_printf("dcd-storm-%s-XXXXXX", s->name);
    gint64 t0 = g_get_monotonic_time();
    guint32 seeds[2] = { seed, s->index };

    s->rand = g_rand_new_with_seed_array(seeds, 2);
    s->dir = g_dir_make_tmp(tmpl, &err);
    if (!s->dir) {
        bench_die("%s", err->message);
    }
    s->host_sock = g_build_filename(s->dir, "host.sock", NULL);
    s->ctl_sock = g_build_filename(s->dir, "control.sock", NULL);
    s->state_dir = g_build_filename(s->dir, "state", NULL);
    s->pool_dir = g_build_filename(s->dir, "pools", NULL);
    s->log = g_build_filename(s->dir, "broker.log", NULL);
    g_mkdir_with_parents(s->pool_dir, 0700);
    if (opt_full_disk) {
        small_fs(s->state_dir, STATE_FS_SIZE);
        small_fs(s->pool_dir, POOL_FS_SIZE);
    }
    s->pools = g_ptr_array_new_with_free_func(pool_free);
    s->exts = g_ptr_array_new_with_free_func(g_free);
    s->reported = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        NULL);
    g_mutex_init(&s->killer.lock);
    g_cond_init(&s->killer.cond);
    s->killer.thread = g_thread_new("killer", killer_thread, &s->killer);
    s->ht = bench_host_thread_new("hosts");

    printf("dcd-storm: %s pools: %u kills, dir %s\n", s->name, kills, s->dir);
    fflush(stdout);
    if (!broker_start(s)) {
        bench_die("the broker did not start; see %s", s->log);
    }
    bench_host_thread_call(s->ht, hosts_start_cb, s);
    if (!settle(s) || !check(s, NULL)) {
        bench_die("the broker went away before the storm began");
    }
    while (s->kills < kills && g_get_monotonic_time() < deadline &&
           !s->dead && !stop) {
        unsigned nops = rnd(s, opt_max_ops + 1);
        bool crashed = false;
        CallRes r;
        Op op;

        for (unsigned i = 0; i < nops && !crashed; i++) {
            crashed = do_op(s, pick_op(s)) == CALL_LOST;
        }
        if (crashed) {
            /* No kill was armed: the broker went away by itself. */
            if (!recover(s, false)) {
                break;
            }
            continue;
        }
        s->kill_no++;
        op = pick_op(s);
        killer_arm(&s->killer, s->br.proc, kill_delay_us(s, op));
        s->armed = true;
        r = do_op(s, op);
        s->armed = false;
        if (!killer_wait(&s->killer)) {
            /* It was dead before the kill: not one of ours. */
            recover(s, false);
            continue;
        }
        s->kills++;
        s->kills_in_flight += r == CALL_LOST;
        if (!recover(s, true)) {
            break;
        }
        if (s->kill_no % 50 == 0) {
            printf("dcd-storm: %s: %u kills, %.0f s\n", s->name, s->kill_no,
                   (g_get_monotonic_time() - t0) / 1e6);
            fflush(stdout);
        }
    }
    s->elapsed_s = (g_get_monotonic_time() - t0) / 1e6;
    /* A clean stop. */
    if (s->br.proc) {
        g_subprocess_send_signal(s->br.proc, SIGTERM);
        g_subprocess_wait(s->br.proc, NULL, NULL);
        broker_close(&s->br);
    }
    bench_host_thread_call(s->ht, hosts_stop_cb, s);
    bench_host_thread_free(s->ht);
    g_mutex_lock(&s->killer.lock);
    s->killer.quit = true;
    g_cond_broadcast(&s->killer.cond);
    g_mutex_unlock(&s->killer.lock);
    g_thread_join(s->killer.thread);
    g_clear_object(&s->killer.proc);
    {
        g_autofree char *text = NULL;

        if (g_file_get_contents(s->log, &text, NULL, NULL)) {
            for (char *p = text; (p = strstr(p, "WARNING")); p++) {
                s->log_warnings++;
            }
            for (char *p = text; (p = strstr(p, "CRITICAL")); p++) {
                s->log_warnings++;
            }
        }
    }
    if (opt_full_disk) {
        umount2(s->state_dir, MNT_DETACH);
        umount2(s->pool_dir, MNT_DETACH);
    }
    if (!opt_keep) {
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", s->dir);

        if (system(cmd) != 0) {
            g_printerr("dcd-storm: could not remove %s\n", s->dir);
        }
    } else {
        printf("dcd-storm: kept %s\n", s->dir);
    }
}

/* ---- output ------------------------------------------------------------ */

static void json_counts(JsonBuilder *jb, const char *k, const guint64 *v,
                        const char *const *names, unsigned n)
{
    json_builder_set_member_name(jb, k);
    json_builder_begin_object(jb);
    for (unsigned i = 0; i < n; i++) {
        dcd_json_int(jb, names[i], v[i]);
    }
    json_builder_end_object(jb);
}

static void json_storm(JsonBuilder *jb, Storm *s)
{
    guint64 ops = 0;

    for (unsigned i = 0; i < OP__MAX; i++) {
        ops += s->ops[i];
    }
    json_builder_begin_object(jb);
    dcd_json_str(jb, "config", s->name);
    dcd_json_int(jb, "kills", s->kills);
    dcd_json_int(jb, "kills-in-flight", s->kills_in_flight);
    dcd_json_int(jb, "restarts", s->restarts);
    dcd_json_int(jb, "operations", ops);
    json_counts(jb, "operations-by-kind", s->ops, op_names, OP__MAX);
    json_counts(jb, "errors-by-kind", s->op_err, op_names, OP__MAX);
    json_counts(jb, "no-reply-by-kind", s->op_lost, op_names, OP__MAX);
    dcd_json_int(jb, "acknowledged-extents-checked", s->acked_checked);
    dcd_json_int(jb, "patterns-written", s->patterns);
    dcd_json_int(jb, "data-checks", s->data_checks);
    json_counts(jb, "violations", s->viol, viol_names, V__MAX);
    dcd_json_double(jb, "settle-mean-ms",
                    s->settles ? s->settle_sum_ms / s->settles : 0);
    dcd_json_double(jb, "settle-max-ms", s->settle_max_ms);
    json_builder_set_member_name(jb, "mean-us-by-kind");
    json_builder_begin_object(jb);
    for (unsigned i = 0; i < OP__MAX; i++) {
        dcd_json_double(jb, op_names[i], s->op_us[i]);
    }
    json_builder_end_object(jb);
    dcd_json_int(jb, "broker-log-warnings", s->log_warnings);
    dcd_json_int(jb, "dirs-filled", s->fills);
    dcd_json_int(jb, "mapped-checks", s->mapped_checks);
    dcd_json_int(jb, "withdrawn-extents", s->withdrawn);
    dcd_json_int(jb, "forced-releases-ignored", s->forced_deaf);
    dcd_json_double(jb, "seconds", s->elapsed_s);
    json_builder_end_object(jb);
}

static guint64 sum(const guint64 *v, unsigned n)
{
    guint64 t = 0;

    for (unsigned i = 0; i < n; i++) {
        t += v[i];
    }
    return t;
}

static void print_table(Storm **st, unsigned n)
{
    printf("\n%-28s", "");
    for (unsigned i = 0; i < n; i++) {
        printf(" %12s", st[i]->name);
    }
    printf("\n");
#define ROW(label, expr) do { \
        printf("%-28s", label); \
        for (unsigned i = 0; i < n; i++) { \
            Storm *s = st[i]; \
            printf(" %12" G_GUINT64_FORMAT, (guint64)(expr)); \
        } \
        printf("\n"); \
    } while (0)
    ROW("kills", s->kills);
    ROW("  in flight", s->kills_in_flight);
    ROW("restarts", s->restarts);
    for (unsigned o = 0; o < OP__MAX; o++) {
        g_autofree char *l = g_strdup_printf("op %s", op_names[o]);

        ROW(l, s->ops[o]);
    }
    ROW("  errors (all kinds)", sum(s->op_err, OP__MAX));
    ROW("  no reply (all kinds)", sum(s->op_lost, OP__MAX));
    ROW("acked extents checked", s->acked_checked);
    ROW("patterns written", s->patterns);
    ROW("data checks", s->data_checks);
    for (unsigned v = 0; v < V__MAX; v++) {
        g_autofree char *l = g_strdup_printf("VIOLATIONS %s", viol_names[v]);

        ROW(l, s->viol[v]);
    }
    ROW("settle max ms", s->settle_max_ms);
    ROW("broker log warnings", s->log_warnings);
    ROW("dirs filled up", s->fills);
    ROW("mapped-subset checks", s->mapped_checks);
    ROW("extents withdrawn", s->withdrawn);
    ROW("forced releases ignored", s->forced_deaf);
    ROW("seconds", s->elapsed_s);
#undef ROW
}

static void on_stop(int sig)
{
    stop = 1;
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) octx = g_option_context_new(
        "- SIGKILL storm against dcd-broker, with invariant checks");
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonBuilder) jb = json_builder_new();
    g_autofree char *path = NULL;
    g_auto(GStrv) configs = NULL;
    g_autofree Storm **st = NULL;
    gint64 t0 = g_get_monotonic_time();
    gint64 end;
    guint64 total_viol = 0;
    unsigned n, kills_left;
    double load[3] = { 0 };

    g_option_context_add_main_entries(octx, entries, NULL);
    if (!g_option_context_parse(octx, &argc, &argv, &err)) {
        g_printerr("dcd-storm: %s\n", err->message);
        return 2;
    }
    bench_init("dcd-storm");
    signal(SIGPIPE, SIG_IGN);
    signal(SIGBUS, on_sigbus);
    /* Mounts that vanish with the storm, whatever ends it. */
    if (opt_full_disk &&
        (unshare(CLONE_NEWNS) < 0 ||
         mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)) {
        bench_die("--full-disk needs root (a mount namespace of its own):"
                  " %s", g_strerror(errno));
    }
    signal(SIGINT, on_stop);
    signal(SIGTERM, on_stop);
    end = t0 + (gint64)opt_seconds * G_USEC_PER_SEC;
    seed = opt_seed >= 0 ? (guint32)opt_seed : g_random_int();
    if (!opt_broker) {
        opt_broker = bench_default_broker();
    }
    if (!opt_broker || !g_file_test(opt_broker, G_FILE_TEST_IS_EXECUTABLE)) {
        bench_die("no dcd-broker at %s; give --broker",
                  opt_broker ? opt_broker : "(unknown)");
    }
    configs = g_strsplit(opt_configs ? opt_configs : "file,memfd", ",", 0);
    n = g_strv_length(configs);
    st = g_new0(Storm *, n);
    violations = g_ptr_array_new();
    printf("dcd-storm: seed %u (replay: --seed %u), %d kills, at most %d s,"
           " broker %s\n", seed, seed, opt_kills, opt_seconds, opt_broker);
    fflush(stdout);

    kills_left = opt_kills;
    for (unsigned i = 0; i < n; i++) {
        Storm *s = st[i] = g_new0(Storm, 1);
        unsigned kills = (kills_left + (n - i) - 1) / (n - i);
        gint64 now = g_get_monotonic_time();

        s->name = configs[i];
        s->index = g_str_equal(configs[i], "memfd") ? 1 : 0;
        s->exe = opt_broker;
        if (!dcd_backing_parse(configs[i], &s->backing) ||
            s->backing == DCD_BACKING_HUGETLB) {
            bench_die("unknown configuration '%s' (file or memfd)",
                      configs[i]);
        }
        if (stop) {
            n = i;
            break;
        }
        storm_run(s, kills, now + (end - now) / (n - i));
        kills_left -= MIN(kills_left, s->kills);
    }

    print_table(st, n);
    getloadavg(load, 3);
    json_builder_begin_object(jb);
    dcd_json_int(jb, "seed", seed);
    dcd_json_int(jb, "kills-requested", opt_kills);
    dcd_json_int(jb, "seconds-limit", opt_seconds);
    json_builder_set_member_name(jb, "configs");
    json_builder_begin_array(jb);
    for (unsigned i = 0; i < n; i++) {
        json_storm(jb, st[i]);
        for (unsigned v = 0; v < V__MAX; v++) {
            total_viol += st[i]->viol[v];
        }
    }
    json_builder_end_array(jb);
    json_builder_set_member_name(jb, "violation-list");
    json_builder_begin_array(jb);
    for (guint i = 0; i < violations->len; i++) {
        Violation *x = violations->pdata[i];

        json_builder_begin_object(jb);
        dcd_json_str(jb, "config", x->config);
        dcd_json_int(jb, "kill", x->kill);
        dcd_json_str(jb, "invariant", viol_names[x->v]);
        dcd_json_str(jb, "message", x->msg);
        json_builder_end_object(jb);
    }
    json_builder_end_array(jb);
    dcd_json_int(jb, "violations-total", total_viol);
    dcd_json_double(jb, "seconds", (g_get_monotonic_time() - t0) / 1e6);
    bench_json_loadavg(jb, "loadavg", load);
    json_builder_end_object(jb);
    path = g_build_filename(opt_out ? opt_out : ".", "storm.json", NULL);
    if (!bench_json_write(jb, path, &err)) {
        bench_die("%s: %s", path, err->message);
    }
    printf("\ndcd-storm: seed %u, %" G_GUINT64_FORMAT " violations; load"
           " average %.2f %.2f %.2f; wrote %s\n", seed, total_viol, load[0],
           load[1], load[2], path);
    return 0;
}
