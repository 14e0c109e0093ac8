/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz.h - what the fuzz targets share: the libFuzzer entry points, a
 * quiet and strict GLib log setup, running the default main context
 * until it is idle, socket pairs, and a byte reader for scripts.
 *
 * Each target is built twice: with libFuzzer (meson -Dfuzzing=true) and
 * with replay.c's main(), which feeds it the committed corpus as a test.
 */
#ifndef DCD_FUZZ_H
#define DCD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <gio/gio.h>

#include "dcd/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Abort with a message: the fuzzer's oracle found a broken invariant. */
#define FUZZ_CHECK(cond, ...)                                         \
    do {                                                              \
        if (!(cond)) {                                                \
            fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);        \
        }                                                             \
    } while (0)
G_NORETURN void fuzz_fail(const char *file, int line, const char *cond,
                          const char *fmt, ...) G_GNUC_PRINTF(4, 5);

/*
 * Once per process: broker logs are dropped (set FUZZ_VERBOSE=1 to see
 * them) and a g_critical() aborts, as G_DEBUG=fatal-criticals does in
 * the tests; and liburcu's helper thread is kept (see common.c).
 */
void fuzz_init_logging(void);

/*
 * Dispatch the default main context until nothing is ready; idle_fn, if
 * set, is called whenever it goes idle and returns true if it did
 * something (then the loop goes on).  Aborts if the loop never settles.
 */
void fuzz_pump(bool (*idle_fn)(gpointer), gpointer opaque);

/*
 * A connected unix stream socket pair: *ours is a plain non-blocking fd,
 * *theirs a GSocket for the broker (the caller unrefs it).
 */
void fuzz_socketpair(int *ours, GSocket **theirs);

/*
 * Write all of buf to fd, pumping the main context while the socket is
 * full.  False if the peer has gone (or stops reading).
 */
bool fuzz_write(int fd, const void *buf, size_t len, const int *fds,
                unsigned nfds);

/* A private directory under the temp dir, removed at exit. */
const char *fuzz_tmpdir(void);
/* rm -r of a directory's contents. */
void fuzz_clear_dir(const char *dir);

/* Reads a fuzz input as a script; past the end everything reads as 0. */
typedef struct FuzzIn {
    const uint8_t *p;
    size_t left;
} FuzzIn;

static inline bool fuzz_more(const FuzzIn *in)
{
    return in->left > 0;
}

static inline uint8_t fuzz_u8(FuzzIn *in)
{
    uint8_t v = 0;

    if (in->left) {
        v = *in->p++;
        in->left--;
    }
    return v;
}

static inline uint16_t fuzz_u16(FuzzIn *in)
{
    uint16_t lo = fuzz_u8(in);

    return lo | (uint16_t)fuzz_u8(in) << 8;
}

/* Up to n bytes; *got says how many there were. */
static inline const uint8_t *fuzz_bytes(FuzzIn *in, size_t n, size_t *got)
{
    const uint8_t *p = in->p;

    *got = MIN(n, in->left);
    in->p += *got;
    in->left -= *got;
    return p;
}

/* Fixed tags the targets pre-create pools under (see make-seeds.c). */
#define FUZZ_NTAGS 4
extern const char *const fuzz_tag_str[FUZZ_NTAGS];
void fuzz_tag(unsigned i, DcdTag *tag);

/* fuzz-host-session's script ops (described there). */
enum {
    HS_SEND,
    HS_SEND_FD,
    HS_HELLO,
    HS_POOL_NEW,
    HS_POOL_DEL,
    HS_ADD,
    HS_RELEASE,
    HS_ACCEPT,
    HS_RELEASED,
    HS_HOLD,
    HS_RECONNECT,
    HS_PUMP,
    HS_POOL_BACK,
    HS_HANG_UP,
    HS__MAX,
};

#endif
