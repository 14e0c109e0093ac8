/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * main.c - dcd-guest, the verbs.  The agent (watch) owns the device;
 * the other verbs read its published state or send it one request.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dcd-guest/agent.h"
#include "dcd-guest/state.h"
#include "dcd-guest/tag.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define IO_CHUNK (1u << 20)

static const char usage[] =
    "VERB [OPTION...] - the DCD driver for guests whose kernel has none\n"
    "       dcd-guest --version\n"
    "\n"
    "  watch [--accept=all|ask|TAG,...] [--poll-ms=N] [--daemon]\n"
    "                        the agent: decoders, DC events, answers\n"
    "  list [--json]         devices, regions and extents\n"
    "  accept TAG|all        accept offers held by --accept=ask\n"
    "  reject TAG|all        reject them\n"
    "  release TAG [--wait]  give a tag back (waits for its holders)\n"
    "  hold TAG [-- CMD...]  hold the tag while CMD runs (or until killed)\n"
    "  read TAG [--offset=N] [--length=N]    bytes of the tag to stdout\n"
    "  write TAG [--offset=N]                stdin into the tag\n"
    "  sha256 TAG [--offset=N] [--length=N]  SHA-256 of the tag's bytes";

static int fail(const char *what, GError *err)
{
    fprintf(stderr, "dcd-guest: %s%s%s\n", what ? what : "",
            what ? ": " : "", err->message);
    g_error_free(err);
    return EXIT_REFUSED;
}

static int usage_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

static int usage_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("dcd-guest: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (dcd-guest --help)\n", stderr);
    va_end(ap);
    return EXIT_USAGE;
}

/* Parse a verb's options; argv[0] is the verb. */
static bool parse(int *argc, char ***argv, const GOptionEntry *entries,
                  const char *params, GError **errp)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new(params);

    g_option_context_add_main_entries(ctx, entries, NULL);
    return g_option_context_parse(ctx, argc, argv, errp);
}

static bool parse_tag(const char *s, DcdTag *tag)
{
    return s && dcd_tag_parse(s, tag) && !dcd_tag_is_null(tag);
}

/* ---- watch -------------------------------------------------------------- */

static int cmd_watch(int argc, char **argv)
{
    g_autofree char *accept = NULL, *log = NULL;
    int poll_ms = 5;
    gboolean daemon = FALSE;
    const GOptionEntry entries[] = {
        { "accept", 0, 0, G_OPTION_ARG_STRING, &accept,
          "all (default), ask, or a comma-separated list of tags", "POLICY" },
        { "poll-ms", 0, 0, G_OPTION_ARG_INT, &poll_ms,
          "how often to look for DC events (default 5; each look costs one register read)", "N" },
        { "daemon", 0, 0, G_OPTION_ARG_NONE, &daemon,
          "return once the devices are up; log to --log", NULL },
        { "log", 0, 0, G_OPTION_ARG_FILENAME, &log,
          "with --daemon (default: RUN_DIR/agent.log)", "FILE" },
        { NULL }
    };
    g_autoptr(GArray) tags = g_array_new(FALSE, TRUE, sizeof(DcdTag));
    DcdAgentOpts o = { .policy = DCD_ACCEPT_ALL };
    g_autoptr(DcdAgent) a = NULL;
    GError *err = NULL;

    if (!parse(&argc, &argv, entries, "", &err)) {
        return usage_error("%s", err->message);
    }
    if (argc > 1) {
        return usage_error("watch takes no argument '%s'", argv[1]);
    }
    if (poll_ms < 1 || poll_ms > 60000) {
        return usage_error("--poll-ms must be 1 to 60000");
    }
    if (accept && !strcmp(accept, "ask")) {
        o.policy = DCD_ACCEPT_ASK;
    } else if (accept && strcmp(accept, "all")) {
        g_auto(GStrv) list = g_strsplit(accept, ",", -1);

        for (unsigned i = 0; list[i]; i++) {
            DcdTag t;

            if (!parse_tag(list[i], &t)) {
                return usage_error("--accept: '%s' is not a tag", list[i]);
            }
            g_array_append_val(tags, t);
        }
        o.policy = DCD_ACCEPT_TAGS;
        o.tags = (DcdTag *)tags->data;
        o.n_tags = tags->len;
    }
    o.poll_ms = poll_ms;

    if (!(a = dcd_agent_new(&o, &err))) {
        return fail(NULL, err);
    }
    if (daemon) {
        g_autofree char *path = log ? g_strdup(log) : dcd_guest_path("agent.log");
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        pid_t pid;

        if (fd < 0) {
            fprintf(stderr, "dcd-guest: %s: %s\n", path, g_strerror(errno));
            return EXIT_REFUSED;
        }
        fflush(NULL);
        pid = fork();
        if (pid < 0) {
            fprintf(stderr, "dcd-guest: fork: %s\n", g_strerror(errno));
            return EXIT_REFUSED;
        }
        if (pid > 0) {
            dcd_agent_note_pid(a, pid);
            printf("dcd-guest: agent ready (pid %d, log %s)\n", pid, path);
            fflush(stdout);
            _exit(0);
        }
        setsid();
        dup2(fd, STDERR_FILENO);
        dup2(fd, STDOUT_FILENO);
        close(fd);
        fd = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, STDIN_FILENO);
            close(fd);
        }
    }
    dcd_agent_run(a);
    return 0;
}

/* ---- list, accept, reject, release -------------------------------------- */

static bool agent_running(void)
{
    g_autofree char *path = dcd_guest_path("agent.lock");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    bool running = false;

    if (fd >= 0) {
        running = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
        close(fd);
    }
    return running;
}

static int cmd_list(int argc, char **argv)
{
    gboolean json = FALSE;
    const GOptionEntry entries[] = {
        { "json", 0, 0, G_OPTION_ARG_NONE, &json, "one JSON object", NULL },
        { NULL }
    };
    g_autofree char *path = dcd_guest_path("state");
    g_autoptr(DcdGuestState) s = NULL;
    g_autofree char *out = NULL;
    GError *err = NULL;

    if (!parse(&argc, &argv, entries, "", &err)) {
        return usage_error("%s", err->message);
    }
    if (!(s = dcd_guest_state_load(path, &err))) {
        return fail(NULL, err);
    }
    if (!agent_running()) {
        fprintf(stderr, "dcd-guest: the agent is not running; this is what "
                "it left\n");
    }
    out = dcd_guest_state_format(s, json);
    fputs(out, stdout);
    return 0;
}

static int cmd_request(int argc, char **argv)
{
    gboolean wait = FALSE;
    const GOptionEntry entries[] = {
        { "wait", 0, 0, G_OPTION_ARG_NONE, &wait,
          "release: return once released, not once asked", NULL },
        { NULL }
    };
    g_autofree char *line = NULL, *r = NULL;
    GError *err = NULL;
    DcdTag t;

    if (!parse(&argc, &argv, entries, "TAG", &err)) {
        return usage_error("%s", err->message);
    }
    if (argc != 2) {
        return usage_error("%s takes one tag", argv[0]);
    }
    if (strcmp(argv[0], "release") && wait) {
        return usage_error("--wait is for release");
    }
    if (!parse_tag(argv[1], &t) &&
        (strcmp(argv[1], "all") || !strcmp(argv[0], "release"))) {
        return usage_error("'%s' is not a tag", argv[1]);
    }
    line = g_strdup_printf("%s %s%s", argv[0], argv[1], wait ? " wait" : "");
    if (!(r = dcd_agent_request(line, &err))) {
        return fail(argv[0], err);
    }
    printf("%s\n", r);
    return 0;
}

/* ---- hold, read, write, sha256 ------------------------------------------ */

static DcdGuestTag *open_tag(const char *arg, GError **errp)
{
    DcdTag t;

    if (!parse_tag(arg, &t)) {
        g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_INVALID,
                    "'%s' is not a tag", arg ? arg : "");
        return NULL;
    }
    return dcd_guest_tag_open(&t, errp);
}

static int cmd_hold(int argc, char **argv)
{
    g_autoptr(DcdGuestTag) t = NULL;
    GError *err = NULL;
    pid_t pid;
    int st;

    if (argc < 2) {
        return usage_error("hold takes a tag");
    }
    if (argc > 2 && strcmp(argv[2], "--")) {
        return usage_error("hold TAG [-- CMD...]");
    }
    if (!(t = open_tag(argv[1], &err))) {
        return fail(argv[1], err);
    }
    printf("held %s: %" G_GUINT64_FORMAT " bytes in %u extent(s)\n", argv[1],
           dcd_guest_tag_size(t), dcd_guest_tag_extents(t));
    fflush(stdout);
    if (argc <= 3) {
        /* until killed: the lock goes with the process */
        for (;;) {
            pause();
        }
    }
    pid = fork();
    if (pid == 0) {
        execvp(argv[3], argv + 3);
        fprintf(stderr, "dcd-guest: %s: %s\n", argv[3], g_strerror(errno));
        _exit(127);
    }
    while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return pid > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : EXIT_REFUSED;
}

/* The [offset, offset + length) of a tag that options name, checked. */
static bool span(const DcdGuestTag *t, gint64 off, gint64 len, uint64_t *o,
                 uint64_t *l, GError **errp)
{
    uint64_t size = dcd_guest_tag_size(t);

    if (off < 0 || (uint64_t)off > size || len < -1 ||
        (len >= 0 && (uint64_t)len > size - off)) {
        g_set_error(errp, DCD_HOST_ERROR, DCD_HOST_ERR_INVALID,
                    "offset %" G_GINT64_FORMAT " length %" G_GINT64_FORMAT
                    " is outside the tag's %" G_GUINT64_FORMAT " bytes",
                    off, len, size);
        return false;
    }
    *o = off;
    *l = len < 0 ? size - off : (uint64_t)len;
    return true;
}

static int cmd_data(int argc, char **argv)
{
    gint64 off = 0, len = -1;
    const GOptionEntry entries[] = {
        { "offset", 0, 0, G_OPTION_ARG_INT64, &off, "from byte N", "N" },
        { "length", 0, 0, G_OPTION_ARG_INT64, &len,
          "N bytes (default: to the end)", "N" },
        { NULL }
    };
    bool is_write = !strcmp(argv[0], "write");
    g_autoptr(DcdGuestTag) t = NULL;
    GError *err = NULL;
    uint64_t o, l;
    uint8_t *p;

    if (!parse(&argc, &argv, entries, "TAG", &err)) {
        return usage_error("%s", err->message);
    }
    if (argc != 2) {
        return usage_error("%s takes one tag", argv[0]);
    }
    if (!(t = open_tag(argv[1], &err)) ||
        !span(t, off, is_write ? 0 : len, &o, &l, &err)) {
        return fail(argv[1], err);
    }
    p = (uint8_t *)dcd_guest_tag_data(t) + o;
    if (is_write) {
        uint64_t room = dcd_guest_tag_size(t) - o, done = 0;
        ssize_t n;

        while (done < room &&
               (n = read(STDIN_FILENO, p + done, MIN(room - done, IO_CHUNK)))
               != 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                fprintf(stderr, "dcd-guest: stdin: %s\n", g_strerror(errno));
                return EXIT_REFUSED;
            }
            done += n;
        }
        printf("wrote %" G_GUINT64_FORMAT " bytes at %" G_GUINT64_FORMAT "\n",
               done, o);
    } else if (!strcmp(argv[0], "read")) {
        for (uint64_t done = 0; done < l;) {
            ssize_t n = write(STDOUT_FILENO, p + done, MIN(l - done, IO_CHUNK));

            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                fprintf(stderr, "dcd-guest: stdout: %s\n", g_strerror(errno));
                return EXIT_REFUSED;
            }
            done += n;
        }
    } else {
        g_autoptr(GChecksum) c = g_checksum_new(G_CHECKSUM_SHA256);

        for (uint64_t done = 0; done < l; done += MIN(l - done, IO_CHUNK)) {
            g_checksum_update(c, p + done, MIN(l - done, IO_CHUNK));
        }
        printf("%s  %" G_GUINT64_FORMAT "\n", g_checksum_get_string(c), l);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *verb;
        int (*fn)(int argc, char **argv);
    } verbs[] = {
        { "watch", cmd_watch }, { "list", cmd_list },
        { "accept", cmd_request }, { "reject", cmd_request },
        { "release", cmd_request }, { "hold", cmd_hold },
        { "read", cmd_data }, { "write", cmd_data }, { "sha256", cmd_data },
    };

    signal(SIGPIPE, SIG_IGN);
    if (argc == 2 && (!strcmp(argv[1], "--version") ||
                      !strcmp(argv[1], "-V"))) {
        printf("dcd-guest %s\n", PACKAGE_VERSION);
        return 0;
    }
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("Usage: dcd-guest %s\n", usage);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(verbs); i++) {
        if (!strcmp(argv[1], verbs[i].verb)) {
            return verbs[i].fn(argc - 1, argv + 1);
        }
    }
    return usage_error("unknown verb '%s'", argv[1]);
}
