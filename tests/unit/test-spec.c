/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-spec.c - the host protocol is written down three times: the code
 * (include/dcd/proto.h), its specification (docs/protocol.md), and, in
 * the QEMU series, QEMU's wire header.  They must not disagree: every
 * message type and number, every error code, every limit and every
 * record size is checked across the three.  (QEMU's interop document is
 * docs/protocol.md itself, converted: the protocol-rst test checks it.)
 *
 * The QEMU header is read from the patch that adds it (the series keeps
 * it in one patch, so its added lines are the file).
 */
#include <string.h>

#include "dcd/proto.h"

#define QEMU_HEADER "include/hw/cxl/cxl_dcd_broker_proto.h"

static char *protocol_md, *qemu_header;

static char *source_file(const char *rel)
{
    g_autofree char *path = g_build_filename(g_getenv("DCD_SOURCE_ROOT"), rel,
                                             NULL);
    g_autoptr(GError) err = NULL;
    char *text = NULL;

    g_file_get_contents(path, &text, NULL, &err);
    g_assert_no_error(err);
    return text;
}

/*
 * The files the series adds under name: the '+' lines of that file's
 * diff in each patch.  Exactly one patch may touch it.
 */
static char *file_from_series(const char *name)
{
    g_autofree char *series = source_file("qemu/patches/series");
    g_auto(GStrv) patches = g_strsplit(series, "\n", -1);
    g_autofree char *marker = g_strdup_printf("+++ b/%s", name);
    GString *out = NULL;

    for (unsigned p = 0; patches[p]; p++) {
        g_autofree char *rel = NULL, *text = NULL;
        g_auto(GStrv) lines = NULL;
        bool in = false;

        g_strstrip(patches[p]);
        if (!*patches[p] || *patches[p] == '#') {
            continue;
        }
        rel = g_build_filename("qemu/patches", patches[p], NULL);
        text = source_file(rel);
        if (!strstr(text, marker)) {
            continue;
        }
        if (out) {
            g_error("%s: a second patch (%s) changes %s; keep it in one patch"
                    " or teach this test to apply the series", G_STRLOC,
                    patches[p], name);
        }
        out = g_string_new(NULL);
        lines = g_strsplit(text, "\n", -1);
        for (unsigned i = 0; lines[i]; i++) {
            if (g_str_has_prefix(lines[i], "diff --git ")) {
                in = false;
            } else if (!strcmp(lines[i], marker)) {
                in = true;
            } else if (in && lines[i][0] == '+') {
                g_string_append(out, lines[i] + 1);
                g_string_append_c(out, '\n');
            }
        }
    }
    g_assert_nonnull(out);
    return g_string_free(out, FALSE);
}

/* Does text have a line matching the regex? */
static bool has_line(const char *text, const char *re)
{
    return g_regex_match_simple(re, text, G_REGEX_MULTILINE, 0);
}

static void expect_line(const char *where, const char *text, const char *re)
{
    if (!has_line(text, re)) {
        g_test_message("%s has no line matching /%s/", where, re);
        g_test_fail();
    }
}

/* The value QEMU's header gives a name (#define or enum), or -1. */
static long long qemu_value(const char *name)
{
    g_autofree char *re = g_strdup_printf("^\\s*(#define\\s+)?%s\\s*=?\\s*"
                                          "(0x[0-9a-fA-F]+|[0-9]+)u?", name);
    g_autoptr(GRegex) r = g_regex_new(re, G_REGEX_MULTILINE, 0, NULL);
    g_autoptr(GMatchInfo) m = NULL;
    g_autofree char *v = NULL;

    if (!g_regex_match(r, qemu_header, 0, &m)) {
        return -1;
    }
    v = g_match_info_fetch(m, 2);
    return g_ascii_strtoll(v, NULL, 0);
}

static void test_messages(void)
{
    for (unsigned t = 1; t < DCD_MSG__MAX; t++) {
        const char *name = dcd_msg_type_name(t);
        g_autofree char *md = g_strdup_printf("^\\| %u \\| %s \\|", t, name);
        g_autofree char *hdr = g_strdup_printf("CXL_DCDB_MSG_%s", name);
        g_autofree char *sec = g_strdup_printf("^### %s \\(%u\\)", name, t);

        expect_line("docs/protocol.md (type table)", protocol_md, md);
        expect_line("docs/protocol.md (section)", protocol_md, sec);
        g_assert_cmpint(qemu_value(hdr), ==, t);
    }
    expect_line(QEMU_HEADER, qemu_header,
                "CXL_DCDB_MSG_MAX = CXL_DCDB_MSG_WITHDRAW,");
    g_assert_cmpint(DCD_MSG__MAX - 1, ==, DCD_MSG_WITHDRAW);
}

static void test_errors(void)
{
    for (unsigned c = 1; c < DCD_ERR__MAX; c++) {
        const char *name = dcd_err_name(c);
        g_autofree char *md = g_strdup_printf("^\\| %u \\| %s \\|", c, name);
        g_autofree char *up = g_ascii_strup(name, -1);
        g_autofree char *hdr = g_strdup_printf("CXL_DCDB_ERR_%s", up);
        long long want = c == DCD_ERR_TIMEOUT ? -1 : (long long)c;

        expect_line("docs/protocol.md (error codes)", protocol_md, md);
        /* timeout is the control socket's alone: never on the wire */
        g_assert_cmpint(qemu_value(hdr), ==, want);
    }
}

static void test_limits(void)
{
    g_autofree char *hdr = g_strdup_printf("^\\| header \\| %u bytes \\|",
                                           DCD_HDR_SIZE);
    g_autofree char *pay = g_strdup_printf("^\\| payload \\| %u bytes \\|",
                                           DCD_MAX_PAYLOAD);
    g_autofree char *ext = g_strdup_printf("^\\| extents per .* \\| %u \\|",
                                           DCD_MAX_EXTENTS);
    g_autofree char *rng = g_strdup_printf("^\\| ranges per .* \\| %u \\|",
                                           DCD_MAX_RANGES);
    g_autofree char *reg = g_strdup_printf("^\\| regions per host \\| 1\\.\\.%u"
                                           " \\|", DCD_MAX_REGIONS);
    g_autofree char *txt = g_strdup_printf("^\\| ERROR text \\| %u bytes \\|",
                                           DCD_MAX_TEXT);
    g_autofree char *ver = g_strdup_printf("^# dcd-broker host protocol, "
                                           "version %u$", DCD_PROTO_VERSION);

    expect_line("docs/protocol.md (limits)", protocol_md, hdr);
    expect_line("docs/protocol.md (limits)", protocol_md, pay);
    expect_line("docs/protocol.md (limits)", protocol_md, ext);
    expect_line("docs/protocol.md (limits)", protocol_md, rng);
    expect_line("docs/protocol.md (limits)", protocol_md, reg);
    expect_line("docs/protocol.md (limits)", protocol_md, txt);
    expect_line("docs/protocol.md (title)", protocol_md, ver);
    g_assert_cmpint(qemu_value("CXL_DCDB_MAGIC"), ==, DCD_PROTO_MAGIC);
    g_assert_cmpint(qemu_value("CXL_DCDB_VERSION"), ==, DCD_PROTO_VERSION);
    g_assert_cmpint(qemu_value("CXL_DCDB_HDR_VERSION"), ==, DCD_HDR_VERSION);
    g_assert_cmpint(qemu_value("CXL_DCDB_MAX_PAYLOAD"), ==, DCD_MAX_PAYLOAD);
    g_assert_cmpint(qemu_value("CXL_DCDB_MAX_EXTENTS"), ==, DCD_MAX_EXTENTS);
    g_assert_cmpint(qemu_value("CXL_DCDB_MAX_RANGES"), ==, DCD_MAX_RANGES);
    g_assert_cmpint(qemu_value("CXL_DCDB_MAX_REGIONS"), ==, DCD_MAX_REGIONS);
    g_assert_cmpint(qemu_value("CXL_DCDB_MAX_TEXT"), ==, DCD_MAX_TEXT);
    g_assert_cmpint(qemu_value("CXL_DCDB_NAME_LEN"), ==, DCD_NAME_LEN);
}

/* Each wire record: its size here, in QEMU's header and in the spec. */
static void test_records(void)
{
    static const struct {
        const char *qemu;
        size_t size;
        const char *md;     /* "Payload: N bytes" of this message, or NULL */
    } recs[] = {
        { "CXLDCDBHdr", DCD_HDR_SIZE, NULL },
        { "CXLDCDBRange", sizeof(struct dcd_range), NULL },
        { "CXLDCDBExtent", sizeof(struct dcd_extent), NULL },
        { "CXLDCDBRegion", sizeof(struct dcd_region), NULL },
        { "CXLDCDBHello", sizeof(struct dcd_hello), "HELLO" },
        { "CXLDCDBHelloLimits", sizeof(struct dcd_hello_limits), NULL },
        { "CXLDCDBHelloReply", sizeof(struct dcd_hello_reply), NULL },
        { "CXLDCDBError", sizeof(struct dcd_error), "ERROR" },
        { "CXLDCDBPool", sizeof(struct dcd_pool), "POOL" },
        { "CXLDCDBExtents", sizeof(struct dcd_offer), "OFFER" },
        { "CXLDCDBExtents", sizeof(struct dcd_release), "RELEASE" },
        { "CXLDCDBAccept", sizeof(struct dcd_accept), "ACCEPT" },
        { "CXLDCDBReleased", sizeof(struct dcd_released), "RELEASED" },
        { "CXLDCDBAddReq", sizeof(struct dcd_add_req), "ADD_REQ" },
        { "CXLDCDBReleaseReq", sizeof(struct dcd_release_req), "RELEASE_REQ" },
        { "CXLDCDBHold", sizeof(struct dcd_hold), "HOLD" },
        { "CXLDCDBWithdraw", sizeof(struct dcd_withdraw), "WITHDRAW" },
    };

    for (unsigned i = 0; i < G_N_ELEMENTS(recs); i++) {
        g_autofree char *q = g_strdup_printf("QEMU_BUILD_BUG_ON\\(sizeof\\(%s\\)"
                                             " != %zu\\);", recs[i].qemu,
                                             recs[i].size);

        expect_line(QEMU_HEADER, qemu_header, q);
        if (recs[i].md) {
            /* the section's first "Payload:" line names the fixed part */
            g_autofree char *re = g_strdup_printf(
                "^### %s \\([0-9]+\\)[^#]*?Payload: %zu bytes", recs[i].md,
                recs[i].size);

            if (!g_regex_match_simple(re, protocol_md, G_REGEX_MULTILINE |
                                      G_REGEX_DOTALL, 0)) {
                g_test_message("docs/protocol.md: %s's payload is not %zu"
                               " bytes", recs[i].md, recs[i].size);
                g_test_fail();
            }
        }
    }
}

int main(int argc, char **argv)
{
    int rc;

    g_test_init(&argc, &argv, NULL);
    if (!g_getenv("DCD_SOURCE_ROOT")) {
        g_error("DCD_SOURCE_ROOT is not set: run the tests with meson test");
    }
    protocol_md = source_file("docs/protocol.md");
    qemu_header = file_from_series(QEMU_HEADER);
    g_test_add_func("/spec/messages", test_messages);
    g_test_add_func("/spec/errors", test_errors);
    g_test_add_func("/spec/limits", test_limits);
    g_test_add_func("/spec/records", test_records);
    rc = g_test_run();
    g_free(protocol_md);
    g_free(qemu_header);
    return rc;
}
