/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * agent.c - the daemon.  One thread: a poll timer reads the DC event
 * logs, groups wait in a queue until they can be answered, and the
 * control socket is served between ticks.
 *
 * Crash safety: a group is saved to the journal ("inflight") before its
 * records are cleared from the device's log, and leaves the journal only
 * once answered.  A restarted agent answers saved groups again; a device
 * refuses a second answer, and the extent list (4801h) then tells what
 * the first one did.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <glib-unix.h>

#include "dcd-guest/agent.h"
#include "dcd-guest/devmem.h"
#include "dcd-guest/journal.h"
#include "dcd-guest/state.h"
#include "dcd-guest/sysfw.h"
#include "dcd-guest/tag.h"
#include "dcd-host/driver.h"

#define DECODER_ALIGN (256ull << 20)
#define REQUEST_MAX 256

#define ERR(errp, code, ...) \
    g_set_error(errp, DCD_HOST_ERROR, code, __VA_ARGS__)

typedef struct Group {
    DcdGuestGroup *j;           /* what the journal keeps: device, events */
    int decision;               /* ask policy: 0 undecided, 1 accept, -1 reject */
    bool withdrawn;             /* Add: the device took the offer back */
    GPtrArray *waiters;         /* control clients (fd) waiting for the end */
} Group;

typedef struct Client {
    DcdAgent *a;
    int fd;
    guint src;
    GString *in;
} Client;

struct DcdAgent {
    DcdAgentOpts o;
    DcdTag *tags;
    DcdHostIo *io;
    DcdDriver *drv;
    GPtrArray *devs;            /* DcdMemdev, by index */
    GArray *event_status;       /* per device: its Event Status register */
    unsigned ticks;
    DcdGuestState *st;
    GPtrArray *groups;          /* complete groups not answered yet */
    unsigned refused;           /* accepts the device refused, for the asker */
    Group **partial;            /* per device: a group still being read */
    int lock_fd, listen_fd;
    char *state_path, *journal_path, *sock_path;
    GMainLoop *loop;
    bool journal_dirty;
    /* tests: die between answering a group and dropping it from the journal */
    bool fault_after_answer;
};

static void say(DcdAgent *a, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void say(DcdAgent *a, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    g_autoptr(GDateTime) now = g_date_time_new_now_local();
    g_autofree char *ts = g_date_time_format(now, "%H:%M:%S.%f");
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    ts[12] = 0;     /* milliseconds */
    fprintf(stderr, "dcd-guest: %s %s\n", ts, msg);
}

static Group *group_new(DcdGuestGroup *j)
{
    Group *g = g_new0(Group, 1);

    g->j = j;
    g->waiters = g_ptr_array_new();
    return g;
}

static void reply(int fd, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void reply(int fd, const char *fmt, ...)
{
    g_autofree char *line = NULL;
    va_list ap;

    va_start(ap, fmt);
    line = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    /* a client that does not read its one line loses it */
    (void)!send(fd, line, strlen(line), MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)!send(fd, "\n", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void group_free(Group *g, const char *outcome)
{
    for (guint i = 0; i < g->waiters->len; i++) {
        int fd = GPOINTER_TO_INT(g->waiters->pdata[i]);

        reply(fd, "%s", outcome);
        close(fd);
    }
    g_ptr_array_unref(g->waiters);
    dcd_guest_group_free(g->j);
    g_free(g);
}

static unsigned group_type(const Group *g)
{
    return g_array_index(g->j->events, DcdEvent, 0).type;
}

/* ---- journal ------------------------------------------------------------ */

static bool journal_save(DcdAgent *a, GError **errp)
{
    g_autoptr(GPtrArray) all = g_ptr_array_new();

    for (guint i = 0; i < a->groups->len; i++) {
        g_ptr_array_add(all, ((Group *)a->groups->pdata[i])->j);
    }
    for (guint d = 0; d < a->devs->len; d++) {
        if (a->partial[d]) {
            g_ptr_array_add(all, a->partial[d]->j);
        }
    }
    a->journal_dirty = false;
    return dcd_guest_journal_save(a->journal_path,
                                  (DcdGuestGroup *const *)all->pdata,
                                  all->len, errp);
}

static bool save_partial(GArray *events, void *opaque, GError **errp)
{
    return journal_save(opaque, errp);
}

/* Groups saved by an agent that is gone: answer them first. */
static bool journal_load(DcdAgent *a, GError **errp)
{
    g_autoptr(GPtrArray) saved = dcd_guest_journal_load(a->journal_path,
                                                        a->devs->len, errp);

    if (!saved) {
        return false;
    }
    for (guint i = 0; i < saved->len; i++) {
        DcdGuestGroup *j = saved->pdata[i];
        bool open = g_array_index(j->events, DcdEvent, j->events->len - 1).more;

        saved->pdata[i] = NULL;
        if (open) {
            /* the rest of the chain is still in the device's log */
            a->partial[j->dev] = group_new(j);
        } else {
            g_ptr_array_add(a->groups, group_new(j));
        }
    }
    if (a->groups->len) {
        say(a, "journal: %u group(s) read by an earlier agent not answered "
            "yet", a->groups->len);
    }
    return true;
}

/* ---- state -------------------------------------------------------------- */

static void publish(DcdAgent *a)
{
    g_autoptr(GError) err = NULL;

    if (!dcd_guest_state_save(a->st, a->state_path, &err)) {
        say(a, "cannot publish state: %s", err->message);
    }
}

static DcdGuestExtent *find_extent(DcdAgent *a, unsigned dev,
                                   const DcdDevExtent *e)
{
    for (guint i = 0; i < a->st->extents->len; i++) {
        DcdGuestExtent *x = &g_array_index(a->st->extents, DcdGuestExtent, i);

        if (x->dev == dev && x->ext.dpa == e->dpa && x->ext.len == e->len) {
            return x;
        }
    }
    return NULL;
}

static void drop_extent(DcdAgent *a, DcdGuestExtent *x)
{
    g_array_remove_index(a->st->extents, x - (DcdGuestExtent *)a->st->extents->data);
}

static uint64_t extent_hpa(DcdAgent *a, unsigned dev, const DcdDevExtent *e)
{
    const DcdGuestRegion *r = dcd_guest_state_region(a->st, dev, e->dpa,
                                                     e->len);

    return r ? r->hpa + (e->dpa - r->dpa) : 0;
}

static void put_extent(DcdAgent *a, unsigned dev, const DcdDevExtent *e,
                       DcdGuestExtentState state)
{
    DcdGuestExtent *x = find_extent(a, dev, e);
    DcdGuestExtent n = { .dev = dev, .ext = *e };

    if (!x) {
        g_array_append_val(a->st->extents, n);
        x = &g_array_index(a->st->extents, DcdGuestExtent,
                           a->st->extents->len - 1);
    }
    x->ext = *e;
    x->state = state;
    x->hpa = state == DCD_GUEST_PENDING ? 0 : extent_hpa(a, dev, e);
}

/* Make the accepted extents of dev what the device says (4801h). */
static GArray *resync(DcdAgent *a, unsigned dev, GError **errp)
{
    DcdMemdev *md = a->devs->pdata[dev];
    g_autoptr(GArray) l = dcd_get_extents(&md->mbox, NULL, errp);

    if (!l) {
        return NULL;
    }
    for (guint i = 0; i < a->st->extents->len;) {
        DcdGuestExtent *x = &g_array_index(a->st->extents, DcdGuestExtent, i);
        bool there = false;

        for (guint j = 0; j < l->len && x->dev == dev; j++) {
            const DcdDevExtent *e = &g_array_index(l, DcdDevExtent, j);

            there |= e->dpa == x->ext.dpa && e->len == x->ext.len;
        }
        if (x->dev == dev && x->state != DCD_GUEST_PENDING && !there) {
            drop_extent(a, x);
            continue;
        }
        i++;
    }
    for (guint j = 0; j < l->len; j++) {
        const DcdDevExtent *e = &g_array_index(l, DcdDevExtent, j);
        DcdGuestExtent *x = find_extent(a, dev, e);

        if (!x || x->state == DCD_GUEST_PENDING) {
            put_extent(a, dev, e, DCD_GUEST_ACCEPTED);
        }
    }
    return g_steal_pointer(&l);
}

static bool listed_on_device(GArray *l, const DcdDevExtent *e)
{
    for (guint j = 0; l && j < l->len; j++) {
        const DcdDevExtent *x = &g_array_index(l, DcdDevExtent, j);

        if (x->dpa == e->dpa && x->len == e->len) {
            return true;
        }
    }
    return false;
}

/* ---- answering groups --------------------------------------------------- */

static GArray *group_extents(const Group *g)
{
    GArray *ext = g_array_new(FALSE, TRUE, sizeof(DcdDevExtent));

    for (guint i = 0; i < g->j->events->len; i++) {
        g_array_append_val(ext, g_array_index(g->j->events, DcdEvent, i).extent);
    }
    return ext;
}

static bool tag_allowed(DcdAgent *a, const uint8_t *tag)
{
    for (unsigned i = 0; i < a->o.n_tags; i++) {
        if (!memcmp(a->tags[i].b, tag, 16)) {
            return true;
        }
    }
    return false;
}

/* Every extent inside a mapped DC region, on its block size. */
static const char *offer_problem(DcdAgent *a, const Group *g)
{
    for (guint i = 0; i < g->j->events->len; i++) {
        const DcdEvent *e = &g_array_index(g->j->events, DcdEvent, i);
        const DcdGuestRegion *r = dcd_guest_state_region(
            a->st, g->j->dev, e->extent.dpa, e->extent.len);

        if (e->type != DCD_EV_ADD) {
            return "mixes event types";
        }
        if (!r || r->index < 0 || !e->extent.len) {
            return "has an extent outside the DC regions";
        }
        if (r->block && ((e->extent.dpa - r->dpa) % r->block ||
                         e->extent.len % r->block)) {
            return "has an extent off the region's block size";
        }
    }
    return NULL;
}

static GString *describe(const Group *g)
{
    GString *s = g_string_new(NULL);
    char tag[DCD_TAG_STR_LEN];
    uint64_t total = 0;

    for (guint i = 0; i < g->j->events->len; i++) {
        total += g_array_index(g->j->events, DcdEvent, i).extent.len;
    }
    dcd_tag_unparse((const DcdTag *)g_array_index(g->j->events, DcdEvent, 0)
                    .extent.tag, tag);
    g_string_printf(s, "%u extent(s), %" G_GUINT64_FORMAT " MiB, tag %s, "
                    "device %u", g->j->events->len, total >> 20, tag, g->j->dev);
    return s;
}

/* An Add group: true when it is answered (or gone) and may be dropped. */
static bool answer_add(DcdAgent *a, Group *g)
{
    DcdMemdev *md = a->devs->pdata[g->j->dev];
    g_autoptr(GArray) ext = group_extents(g);
    g_autoptr(GString) what = describe(g);
    g_autoptr(GError) err = NULL;
    const char *problem = offer_problem(a, g);
    bool accept;

    /* a Forced Release of the offer's extents: nothing to answer */
    if (g->withdrawn) {
        say(a, "offer of %s: withdrawn by the device", what->str);
        a->refused += g->decision > 0 ? ext->len : 0;
        return true;
    }
    if (problem) {
        accept = false;
        say(a, "offer of %s %s: rejecting it", what->str, problem);
    } else if (a->o.policy == DCD_ACCEPT_ALL) {
        accept = true;
    } else if (a->o.policy == DCD_ACCEPT_TAGS) {
        accept = true;
        for (guint i = 0; i < ext->len; i++) {
            accept &= tag_allowed(a, g_array_index(ext, DcdDevExtent, i).tag);
        }
    } else if (g->decision == 0) {
        for (guint i = 0; i < ext->len; i++) {
            put_extent(a, g->j->dev, &g_array_index(ext, DcdDevExtent, i),
                       DCD_GUEST_PENDING);
        }
        return false;   /* held until `dcd-guest accept` or `reject` */
    } else {
        accept = g->decision > 0;
    }

    if (dcd_add_response(&md->mbox, (DcdDevExtent *)ext->data,
                         accept ? ext->len : 0, &err)) {
        if (a->fault_after_answer) {
            say(a, "fault injected: exiting after the answer, before the "
                "journal knows");
            _exit(137);
        }
        for (guint i = 0; i < ext->len; i++) {
            DcdDevExtent *e = &g_array_index(ext, DcdDevExtent, i);
            DcdGuestExtent *x = find_extent(a, g->j->dev, e);

            if (accept) {
                put_extent(a, g->j->dev, e, DCD_GUEST_ACCEPTED);
            } else if (x) {
                drop_extent(a, x);
            }
        }
        say(a, "%s %s", accept ? "accepted" : "rejected", what->str);
        return true;
    }
    /*
     * Refused: answered before (by an agent that died before dropping
     * it from the journal) or withdrawn.  The extent list tells which.
     */
    {
        g_autoptr(GError) err2 = NULL;
        g_autoptr(GArray) l = resync(a, g->j->dev, &err2);
        bool all = l != NULL;

        for (guint i = 0; i < ext->len && all; i++) {
            all = listed_on_device(l, &g_array_index(ext, DcdDevExtent, i));
        }
        for (guint i = 0; i < ext->len && l && !all; i++) {
            DcdGuestExtent *x = find_extent(a, g->j->dev,
                                            &g_array_index(ext, DcdDevExtent, i));

            if (x && x->state == DCD_GUEST_PENDING) {
                drop_extent(a, x);
            }
        }
        say(a, "offer of %s: device refused the answer (%s); %s", what->str,
            err->message, all ? "it was accepted before" :
            l ? "the offer is gone" : err2->message);
        a->refused += accept && !all ? ext->len : 0;
        return l != NULL;
    }
}

/*
 * A Release group (from the device, or asked for here): answered once
 * every tag it touches can be locked exclusively, i.e. no process of
 * the guest holds it.
 */
static bool answer_release(DcdAgent *a, Group *g)
{
    DcdMemdev *md = a->devs->pdata[g->j->dev];
    g_autoptr(GArray) ext = g_array_new(FALSE, TRUE, sizeof(DcdDevExtent));
    g_autoptr(GArray) locks = g_array_new(FALSE, FALSE, sizeof(int));
    g_autoptr(GString) what = describe(g);
    g_autoptr(GError) err = NULL;
    bool ok = true;

    for (guint i = 0; i < g->j->events->len; i++) {
        const DcdEvent *e = &g_array_index(g->j->events, DcdEvent, i);
        DcdGuestExtent *x = find_extent(a, g->j->dev, &e->extent);

        if (x && x->state != DCD_GUEST_PENDING) {
            x->state = DCD_GUEST_RELEASING;
            g_array_append_val(ext, x->ext);
        }
    }
    if (!ext->len) {
        say(a, "release of %s: none of it is held here", what->str);
        return true;
    }
    /* each tag once: a second open of the same lock would conflict */
    for (guint i = 0; i < ext->len && ok; i++) {
        const uint8_t *tag = g_array_index(ext, DcdDevExtent, i).tag;
        bool seen = false;
        int fd;

        for (guint j = 0; j < i && !seen; j++) {
            seen = !memcmp(g_array_index(ext, DcdDevExtent, j).tag, tag, 16);
        }
        if (seen) {
            continue;
        }
        fd = dcd_guest_tag_lock((const DcdTag *)tag, LOCK_EX | LOCK_NB, NULL);
        ok = fd >= 0;
        if (ok) {
            g_array_append_val(locks, fd);
        }
    }
    if (ok && !dcd_release(&md->mbox, (DcdDevExtent *)ext->data, ext->len,
                           &err)) {
        g_autoptr(GArray) l = resync(a, g->j->dev, NULL);

        /* what the device still lists stays usable, not "releasing" */
        for (guint i = 0; i < ext->len; i++) {
            DcdGuestExtent *x = find_extent(a, g->j->dev,
                                            &g_array_index(ext, DcdDevExtent, i));
            if (x && x->state == DCD_GUEST_RELEASING) {
                x->state = DCD_GUEST_ACCEPTED;
            }
        }
        say(a, "release of %s: device refused (%s)%s", what->str,
            err->message, l ? "; the extent list is taken as it is" : "");
    } else if (ok) {
        for (guint i = 0; i < ext->len; i++) {
            DcdGuestExtent *x = find_extent(a, g->j->dev,
                                            &g_array_index(ext, DcdDevExtent, i));
            if (x) {
                drop_extent(a, x);
            }
        }
        say(a, "released %s", what->str);
    }
    if (ok) {
        /* gone from the state before any waiting holder gets the lock */
        publish(a);
    }
    for (guint i = 0; i < locks->len; i++) {
        close(g_array_index(locks, int, i));
    }
    return ok;
}

/*
 * Mark the unanswered offers of dev that hold e withdrawn: a device
 * that takes an offer back (its broker withdrew it) tells the guest with
 * a Forced Release of the offered extents.
 */
static unsigned withdraw_offers(DcdAgent *a, unsigned dev,
                                const DcdDevExtent *e)
{
    unsigned n = 0;

    for (guint i = 0; i < a->groups->len; i++) {
        Group *g = a->groups->pdata[i];

        for (guint k = 0; g->j->dev == dev && group_type(g) == DCD_EV_ADD &&
             k < g->j->events->len; k++) {
            const DcdDevExtent *o = &g_array_index(g->j->events, DcdEvent,
                                                   k).extent;

            if (o->dpa == e->dpa && o->len == e->len && !g->withdrawn) {
                g->withdrawn = true;
                n++;
            }
        }
    }
    return n;
}

static bool answer_forced(DcdAgent *a, Group *g)
{
    g_autoptr(GString) what = describe(g);
    unsigned offers = 0;

    for (guint i = 0; i < g->j->events->len; i++) {
        const DcdDevExtent *e = &g_array_index(g->j->events, DcdEvent,
                                               i).extent;
        DcdGuestExtent *x = find_extent(a, g->j->dev, e);

        if (x) {
            drop_extent(a, x);
        }
        offers += withdraw_offers(a, g->j->dev, e);
    }
    say(a, "forced release of %s: gone%s", what->str,
        offers ? " (an offer taken back)" : "");
    return true;
}

/* Answer what can be answered; keep the rest for the next tick. */
static void process_groups(DcdAgent *a)
{
    g_autofree bool *held = g_new0(bool, a->devs->len);
    bool changed = false;

    for (guint i = 0; i < a->groups->len;) {
        Group *g = a->groups->pdata[i];
        bool done;

        switch (group_type(g)) {
        case DCD_EV_ADD:
            /* a device takes answers in the order it made its offers */
            if (held[g->j->dev]) {
                done = false;
                break;
            }
            done = answer_add(a, g);
            held[g->j->dev] = !done;
            break;
        case DCD_EV_RELEASE:
            done = answer_release(a, g);
            break;
        case DCD_EV_FORCED_RELEASE:
            done = answer_forced(a, g);
            break;
        default:
            done = true;    /* region updates and notices: nothing to do */
            break;
        }
        if (done) {
            g_ptr_array_remove_index(a->groups, i);
            group_free(g, group_type(g) == DCD_EV_RELEASE ?
                       "ok released" : "ok answered");
            changed = true;
            continue;
        }
        i++;
    }
    if (changed) {
        g_autoptr(GError) err = NULL;

        if (!journal_save(a, &err)) {
            say(a, "journal: %s", err->message);
        }
    }
    publish(a);
}

static bool has_dc(DcdAgent *a, unsigned dev)
{
    return ((DcdMemdev *)a->devs->pdata[dev])->dc.n_regions > 0;
}

static gboolean tick(gpointer opaque)
{
    DcdAgent *a = opaque;

    a->ticks++;
    for (guint d = 0; d < a->devs->len; d++) {
        DcdMemdev *md = a->devs->pdata[d];
        uint64_t st;
        g_autoptr(GError) serr = NULL;

        if (!has_dc(a, d)) {
            continue;
        }
        st = dcd_io_rd64(a->io, g_array_index(a->event_status,
                                                       uint64_t, d));

        /*
         * One register read a tick; the log itself only when it has
         * records, a group is half read, or once a second regardless.
         */
        if (!dcd_io_check(a->io, &serr)) {
            say(a, "device %u: event status: %s", d, serr->message);
            continue;
        }
        if (!(st & (1u << CXL_EVENT_LOG_DC)) &&
            !(a->partial[d] && a->partial[d]->j->events->len) &&
            a->ticks % MAX(1000 / a->o.poll_ms, 1u)) {
            continue;
        }
        /* bounded, so one device cannot starve the others or the socket */
        for (unsigned n = 0; n < 16; n++) {
            g_autoptr(GError) err = NULL;
            bool complete;

            if (!a->partial[d]) {
                a->partial[d] = group_new(dcd_guest_group_new(d));
            }
            if (!dcd_group_read(&md->mbox, a->partial[d]->j->events,
                                save_partial, a, &complete, &err)) {
                say(a, "device %u: reading the event log: %s", d,
                    err->message);
                break;
            }
            if (!complete) {
                break;
            }
            g_ptr_array_add(a->groups, a->partial[d]);
            a->partial[d] = NULL;
        }
    }
    if (a->groups->len || a->journal_dirty) {
        process_groups(a);
    }
    return G_SOURCE_CONTINUE;
}

/* ---- control socket ----------------------------------------------------- */

static bool group_has_tag(const Group *g, const char *arg, const DcdTag *tag)
{
    if (!strcmp(arg, "all")) {
        return true;
    }
    for (guint i = 0; i < g->j->events->len; i++) {
        if (memcmp(g_array_index(g->j->events, DcdEvent, i).extent.tag, tag->b,
                   16)) {
            return false;
        }
    }
    return true;
}

static void request_decide(DcdAgent *a, Client *c, const char *arg, int dec)
{
    DcdTag tag = { 0 };
    unsigned n = 0;

    if (strcmp(arg, "all") && !dcd_tag_parse(arg, &tag)) {
        reply(c->fd, "err '%s' is not a tag or \"all\"", arg);
        return;
    }
    for (guint i = 0; i < a->groups->len; i++) {
        Group *g = a->groups->pdata[i];

        if (group_type(g) == DCD_EV_ADD && !g->decision &&
            group_has_tag(g, arg, &tag)) {
            g->decision = dec;
            n += g->j->events->len;
        }
    }
    if (!n) {
        reply(c->fd, "err no offer of %s is waiting", arg);
        return;
    }
    a->refused = 0;
    process_groups(a);
    /* never "accepted" for what the device did not take */
    if (a->refused) {
        reply(c->fd, "err the device refused %u of %u extent(s): the offer "
              "was withdrawn", a->refused, n);
        return;
    }
    reply(c->fd, "ok %s %u extent(s)", dec > 0 ? "accepted" : "rejected", n);
}

static bool request_release(DcdAgent *a, Client *c, const char *arg,
                            bool wait)
{
    g_autofree Group **per_dev = g_new0(Group *, a->devs->len);
    Group *last = NULL;
    unsigned total = 0;
    DcdTag tag;

    if (!dcd_tag_parse(arg, &tag)) {
        reply(c->fd, "err '%s' is not a tag", arg);
        return false;
    }
    /* one group per device: a device takes its own Release DC */
    for (guint i = 0; i < a->st->extents->len; i++) {
        DcdGuestExtent *x = &g_array_index(a->st->extents, DcdGuestExtent, i);
        DcdEvent ev = { .type = DCD_EV_RELEASE, .extent = x->ext };

        if (x->state != DCD_GUEST_ACCEPTED ||
            !dcd_tag_equal((const DcdTag *)x->ext.tag, &tag)) {
            continue;
        }
        if (!per_dev[x->dev]) {
            per_dev[x->dev] = group_new(dcd_guest_group_new(x->dev));
            g_ptr_array_add(a->groups, per_dev[x->dev]);
        }
        g_array_append_val(per_dev[x->dev]->j->events, ev);
        total++;
    }
    for (guint d = 0; d < a->devs->len; d++) {
        GArray *evs = per_dev[d] ? per_dev[d]->j->events : NULL;

        for (guint i = 0; evs && i < evs->len; i++) {
            g_array_index(evs, DcdEvent, i).more = i + 1 < evs->len;
        }
        last = per_dev[d] ? per_dev[d] : last;
    }
    if (!last) {
        reply(c->fd, "err no accepted extent has tag %s", arg);
        return false;
    }
    /* groups are answered in order, so the last one ends the wait */
    if (wait) {
        g_ptr_array_add(last->waiters, GINT_TO_POINTER(c->fd));
    } else {
        reply(c->fd, "ok releasing %u extent(s)", total);
    }
    a->journal_dirty = true;
    process_groups(a);
    return wait;
}

/* One request line; true when the client's fd now belongs to a group. */
static bool handle_request(DcdAgent *a, Client *c, const char *line)
{
    g_auto(GStrv) argv = g_strsplit_set(line, " \t", 4);
    unsigned argc = g_strv_length(argv);

    if (argc == 2 && !strcmp(argv[0], "accept")) {
        request_decide(a, c, argv[1], 1);
    } else if (argc == 2 && !strcmp(argv[0], "reject")) {
        request_decide(a, c, argv[1], -1);
    } else if ((argc == 2 || (argc == 3 && !strcmp(argv[2], "wait"))) &&
               !strcmp(argv[0], "release")) {
        return request_release(a, c, argv[1], argc == 3);
    } else {
        reply(c->fd, "err unknown request");
    }
    return false;
}

static void client_free(Client *c, bool close_fd)
{
    if (close_fd) {
        close(c->fd);
    }
    g_string_free(c->in, TRUE);
    g_free(c);
}

static gboolean client_io(gint fd, GIOCondition cond, gpointer opaque)
{
    Client *c = opaque;
    char buf[REQUEST_MAX];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    char *nl;

    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return G_SOURCE_CONTINUE;
    }
    if (n <= 0) {
        client_free(c, true);
        return G_SOURCE_REMOVE;
    }
    g_string_append_len(c->in, buf, n);
    nl = memchr(c->in->str, '\n', c->in->len);
    if (!nl) {
        if (c->in->len >= REQUEST_MAX) {
            reply(fd, "err request too long");
            client_free(c, true);
            return G_SOURCE_REMOVE;
        }
        return G_SOURCE_CONTINUE;
    }
    *nl = 0;
    /* one request per connection, like the verbs send it */
    client_free(c, !handle_request(c->a, c, g_strstrip(c->in->str)));
    return G_SOURCE_REMOVE;
}

static gboolean accept_client(gint fd, GIOCondition cond, gpointer opaque)
{
    DcdAgent *a = opaque;
    int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    Client *c;

    if (cfd < 0) {
        return G_SOURCE_CONTINUE;
    }
    c = g_new0(Client, 1);
    c->a = a;
    c->fd = cfd;
    c->in = g_string_new(NULL);
    c->src = g_unix_fd_add(cfd, G_IO_IN | G_IO_HUP, client_io, c);
    return G_SOURCE_CONTINUE;
}

static int listen_unix(const char *path, GError **errp)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        ERR(errp, DCD_HOST_ERR_INVALID, "socket path too long: %s", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    unlink(path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
        ERR(errp, DCD_HOST_ERR_IO, "control socket %s: %s", path,
            g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

char *dcd_agent_request(const char *line, GError **errp)
{
    g_autofree char *path = dcd_guest_path("ctl.sock");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_autoptr(GString) in = g_string_new(NULL);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    char buf[512];
    ssize_t n;

    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        ERR(errp, DCD_HOST_ERR_IO, "%s: %s (is `dcd-guest watch` running?)",
            path, g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return NULL;
    }
    if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0 ||
        send(fd, "\n", 1, MSG_NOSIGNAL) < 0) {
        ERR(errp, DCD_HOST_ERR_IO, "%s: %s", path, g_strerror(errno));
        close(fd);
        return NULL;
    }
    while (!memchr(in->str, '\n', in->len) && in->len < 4096 &&
           (n = recv(fd, buf, sizeof(buf), 0)) != 0) {
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            break;
        }
        g_string_append_len(in, buf, n);
    }
    close(fd);
    if (!memchr(in->str, '\n', in->len)) {
        ERR(errp, DCD_HOST_ERR_IO, "the agent hung up without a reply");
        return NULL;
    }
    *strchr(in->str, '\n') = 0;
    if (g_str_has_prefix(in->str, "ok")) {
        return g_strdup(g_strchug(in->str + 2));
    }
    ERR(errp, DCD_HOST_ERR_INVALID, "%s",
        g_str_has_prefix(in->str, "err ") ? in->str + 4 : in->str);
    return NULL;
}

/* ---- bring-up ----------------------------------------------------------- */

/* The 1-way window of md's host bridge, and where free space begins. */
static int window_for(DcdAgent *a, DcdMemdev *md, uint64_t *cursor)
{
    const DcdPlatform *p = &a->drv->plat;
    g_autofree char *uid = g_strdup_printf("%u", p->chbs_uid[md->hb]);

    for (unsigned w = 0; w < p->n_windows; w++) {
        if (p->windows[w].ways == 1 && !strcmp(p->windows[w].targets[0], uid)) {
            if (!cursor[w]) {
                cursor[w] = DCD_ALIGN_UP(p->windows[w].base, DECODER_ALIGN);
            }
            return w;
        }
    }
    return -1;
}

/* Map [dpa, dpa + len) of device dev, adopting earlier decoders. */
static bool map_range(DcdAgent *a, unsigned dev, int index, uint64_t dpa,
                      uint64_t len, uint64_t block, uint64_t *cursor,
                      GError **errp)
{
    DcdMemdev *md = a->devs->pdata[dev];
    const DcdPlatform *p = &a->drv->plat;
    int w = window_for(a, md, cursor);
    DcdGuestRegion r = { .dev = dev, .index = index, .dpa = dpa,
                         .block = block };
    DcdMapping map;
    int found;

    len = DCD_ALIGN_UP(len, DECODER_ALIGN);
    r.len = len;
    if (w < 0) {
        ERR(errp, DCD_HOST_ERR_NOTFOUND, "no 1-way CXL fixed window targets "
            "the host bridge (_UID %u) of device %u", p->chbs_uid[md->hb],
            dev);
        return false;
    }
    r.hpa = cursor[w];
    if (r.hpa - p->windows[w].base + len > p->windows[w].size) {
        ERR(errp, DCD_HOST_ERR_INVALID, "window %d is full", w);
        return false;
    }
    found = dcd_memdev_adopt(md, w, r.hpa, dpa, len, &map, errp);
    if (found < 0) {
        return false;
    }
    if (!found) {
        if (!dcd_mapping_unmap(&map, errp) ||
            !dcd_memdev_map(md, w, r.hpa, dpa, len, &map, errp)) {
            return false;
        }
    }
    cursor[w] += len;
    g_array_append_val(a->st->regions, r);
    say(a, "device %u %s %d: DPA 0x%" G_GINT64_MODIFIER "x +%" G_GUINT64_FORMAT
        " MiB at HPA 0x%" G_GINT64_MODIFIER "x (%s)", dev,
        index < 0 ? "static capacity" : "region", MAX(index, 0), dpa,
        len >> 20, r.hpa, found ? "kept" : "committed");
    return true;
}

static bool bring_up(DcdAgent *a, GError **errp)
{
    DcdPlatform plat;
    uint64_t cursor[DCD_MAX_WINDOWS] = { 0 };

    if (!dcd_sysfw_platform(&plat, errp)) {
        return false;
    }
    a->io = dcd_devmem_io_new(errp);
    if (!a->io) {
        dcd_platform_clear(&plat);
        return false;
    }
    a->drv = dcd_driver_new(a->io, &plat, errp);
    dcd_platform_clear(&plat);
    if (!a->drv) {
        return false;
    }
    for (unsigned i = 0; dcd_driver_memdev(a->drv, i); i++) {
        DcdMemdev *md = dcd_driver_memdev(a->drv, i);
        DcdGuestDevice d = { .ram_size = md->id.volatile_capacity };
        unsigned dev = a->devs->len;

        g_snprintf(d.bdf, sizeof(d.bdf), "0000:%02x:%02x.%x",
                   DCD_BDF_BUS(md->pci->bdf), DCD_BDF_DEV(md->pci->bdf),
                   DCD_BDF_FN(md->pci->bdf));
        uint64_t status = dcd_cxl_find_devcap(a->io, md->regs,
                                              CXL_DEVCAP_STATUS);

        if (!dcd_io_check(a->io, errp)) {
            return false;
        }
        if (!status) {
            ERR(errp, DCD_HOST_ERR_NOTFOUND, "device %s has no device status "
                "registers", d.bdf);
            return false;
        }
        g_array_append_val(a->event_status, status);
        g_ptr_array_add(a->devs, md);
        g_array_append_val(a->st->devices, d);
        if (d.ram_size &&
            !map_range(a, dev, -1, 0, d.ram_size, 0, cursor, errp)) {
            return false;
        }
        for (unsigned r = 0; r < md->dc.n_regions; r++) {
            const DcdRegion *reg = &md->dc.region[r];

            if (!map_range(a, dev, r, reg->base, reg->decode_len,
                           reg->block_size, cursor, errp)) {
                return false;
            }
        }
    }
    if (!a->devs->len) {
        ERR(errp, DCD_HOST_ERR_NOTFOUND, "no CXL memory device found");
        return false;
    }
    return true;
}

DcdAgent *dcd_agent_new(const DcdAgentOpts *o, GError **errp)
{
    g_autoptr(DcdAgent) a = g_new0(DcdAgent, 1);
    g_autofree char *lock = dcd_guest_path("agent.lock");

    a->o = *o;
    a->tags = g_memdup2(o->tags, sizeof(DcdTag) * o->n_tags);
    a->o.tags = a->tags;
    a->lock_fd = a->listen_fd = -1;
    a->devs = g_ptr_array_new();
    a->event_status = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    a->groups = g_ptr_array_new();
    a->st = dcd_guest_state_new();
    a->state_path = dcd_guest_path("state");
    a->journal_path = dcd_guest_path("inflight");
    a->sock_path = dcd_guest_path("ctl.sock");
    a->fault_after_answer = !g_strcmp0(g_getenv("DCD_GUEST_FAULT"),
                                       "exit-after-answer");

    if (!dcd_sysfw_preflight(errp)) {
        return NULL;
    }
    if (g_mkdir_with_parents(dcd_guest_run_dir(), 0755) < 0) {
        ERR(errp, DCD_HOST_ERR_IO, "%s: %s", dcd_guest_run_dir(),
            g_strerror(errno));
        return NULL;
    }
    a->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (a->lock_fd < 0 || flock(a->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        ERR(errp, DCD_HOST_ERR_IO, "%s: %s", lock, errno == EWOULDBLOCK ?
            "another dcd-guest agent is running" : g_strerror(errno));
        return NULL;
    }
    dcd_agent_note_pid(a, getpid());
    if (!bring_up(a, errp)) {
        return NULL;
    }
    a->partial = g_new0(Group *, a->devs->len);
    if (!journal_load(a, errp)) {
        return NULL;
    }
    for (guint d = 0; d < a->devs->len; d++) {
        g_autoptr(GArray) l = NULL;

        if (!has_dc(a, d)) {
            continue;   /* static capacity only: no extents, no DC events */
        }
        l = resync(a, d, errp);

        if (!l) {
            return NULL;
        }
        if (l->len) {
            say(a, "device %u holds %u accepted extent(s)", d, l->len);
        }
    }
    publish(a);
    a->listen_fd = listen_unix(a->sock_path, errp);
    if (a->listen_fd < 0) {
        return NULL;
    }
    return g_steal_pointer(&a);
}

void dcd_agent_note_pid(DcdAgent *a, int pid)
{
    g_autofree char *text = g_strdup_printf("%d\n", pid);

    if (ftruncate(a->lock_fd, 0) == 0) {
        (void)!pwrite(a->lock_fd, text, strlen(text), 0);
    }
}

static gboolean on_signal(gpointer opaque)
{
    g_main_loop_quit(opaque);
    return G_SOURCE_CONTINUE;
}

void dcd_agent_run(DcdAgent *a)
{
    guint s1, s2, s3, t;

    a->loop = g_main_loop_new(NULL, FALSE);
    s1 = g_unix_signal_add(SIGTERM, on_signal, a->loop);
    s2 = g_unix_signal_add(SIGINT, on_signal, a->loop);
    s3 = g_unix_fd_add(a->listen_fd, G_IO_IN, accept_client, a);
    t = g_timeout_add(MAX(a->o.poll_ms, 1u), tick, a);
    say(a, "watching %u device(s), policy %s, polling every %u ms",
        a->devs->len, a->o.policy == DCD_ACCEPT_ALL ? "all" :
        a->o.policy == DCD_ACCEPT_TAGS ? "tags" : "ask", a->o.poll_ms);
    /* the first look right away: offers may be waiting since boot */
    tick(a);
    g_main_loop_run(a->loop);
    g_source_remove(t);
    g_source_remove(s3);
    g_source_remove(s2);
    g_source_remove(s1);
    say(a, "stopping; decoders and extents stay as they are");
}

void dcd_agent_free(DcdAgent *a)
{
    if (!a) {
        return;
    }
    if (a->listen_fd >= 0) {
        close(a->listen_fd);
        unlink(a->sock_path);
    }
    if (a->groups) {
        for (guint i = 0; i < a->groups->len; i++) {
            group_free(a->groups->pdata[i], "err the agent stopped");
        }
        g_ptr_array_unref(a->groups);
    }
    for (guint d = 0; a->partial && d < a->devs->len; d++) {
        if (a->partial[d]) {
            group_free(a->partial[d], "err the agent stopped");
        }
    }
    g_free(a->partial);
    dcd_driver_free(a->drv);
    dcd_io_free(a->io);
    if (a->devs) {
        g_ptr_array_unref(a->devs);
        g_array_unref(a->event_status);
    }
    dcd_guest_state_free(a->st);
    if (a->lock_fd >= 0) {
        close(a->lock_fd);
    }
    if (a->loop) {
        g_main_loop_unref(a->loop);
    }
    g_free(a->tags);
    g_free(a->state_path);
    g_free(a->journal_path);
    g_free(a->sock_path);
    g_free(a);
}
