#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""protocol-rst.py - docs/protocol.md as QEMU's docs/interop/dcd-broker.rst.

The host protocol has one specification, docs/protocol.md.  The QEMU series
carries the same text as reStructuredText, made by this script, so the two
cannot disagree; qemu/interop-host.rst (how QEMU plays the host) follows it.

  protocol-rst.py PROTOCOL_MD                   print the rst (the tail,
                                                interop-host.rst, is read
                                                from qemu/ next to this
                                                script's scripts/)
  protocol-rst.py PROTOCOL_MD --check PATCHES   the rst that the one patch of
                                                the series in PATCHES adding
                                                it adds must be exactly that,
                                                and docutils must read it
                                                without a complaint

Only the Markdown that docs/protocol.md uses is understood: headings,
paragraphs, "-" and "1." lists, pipe tables, fenced code blocks, `code`,
**bold**, *emphasis* and [links](target).  Anything else is an error, so
a new construct is noticed rather than mangled.
"""
import re
import sys

RST_PATH = "docs/interop/dcd-broker.rst"

# What QEMU's copy says first; the Markdown's own title and its
# paragraph about where the code lives are left out.
PREAMBLE = """\
.. SPDX-License-Identifier: GPL-2.0-or-later

.. This file is generated from dcd-broker's docs/protocol.md; change it there.

{bar}
{title}
{bar}

A ``cxl-type3`` device with ``dcd-broker=<chardev>`` takes its dynamic
capacity from dcd-broker, an external process that owns tagged memory
pools and decides which host gets which extent.  The device is a *host*
of the broker; ``include/hw/cxl/cxl_dcd_broker_proto.h`` holds the wire
structures QEMU uses.  This is the normative specification of the
protocol, the same text as dcd-broker's ``docs/protocol.md``; names of
other dcd-broker documents (``control.md``, ``dcd-broker(8)``) refer to
dcd-broker's documentation.
"""

UNDERLINE = {2: "=", 3: "-", 4: "~"}


class Unsupported(Exception):
    pass


def inline(text):
    """Markdown inline markup of one line to rst."""
    out = []
    pos = 0
    pattern = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*|"
                         r"\[([^\]]+)\]\(([^)]+)\)")
    for m in pattern.finditer(text):
        out.append(escape(text[pos:m.start()]))
        if m.group(1) is not None:
            piece = "``" + m.group(1) + "``"
        elif m.group(2) is not None:
            piece = "**" + inline_plain(m.group(2)) + "**"
        elif m.group(3) is not None:
            piece = "*" + inline_plain(m.group(3)) + "*"
        else:
            # Links point into dcd-broker's tree: keep the words only
            piece = inline(m.group(4))
        out.append(piece)
        pos = m.end()
    out.append(escape(text[pos:]))
    return join_markup(out)


def inline_plain(text):
    if "`" in text or "[" in text:
        return inline(text)
    return escape(text)


def escape(text):
    """Characters rst would read as markup in plain text."""
    text = text.replace("\\", "\\\\")
    text = re.sub(r"(?<=\w)_(?=\W|$)", r"\\_", text)
    text = text.replace("|", "\\|")
    return text


def join_markup(pieces):
    """Inline markup needs a non-word character on each side: add '\\ '."""
    out = ""
    for i, p in enumerate(pieces):
        markup = i % 2 == 1
        if markup and out and re.search(r"[\w)]$", out):
            out += "\\ "
        elif not markup and i and p and re.match(r"[\w(]", p):
            out += "\\ "
        out += p
    return out


def table(rows):
    cells = [[c.strip() for c in r.strip().strip("|").split("|")]
             for r in rows]
    if len(cells) < 2 or not all(re.fullmatch(r":?-+:?", c)
                                 for c in cells[1]):
        raise Unsupported("a table without a header separator: " + rows[0])
    width = len(cells[0])
    body = [cells[0]] + cells[2:]
    out = [".. list-table::", "   :header-rows: 1", ""]
    for row in body:
        if len(row) != width:
            raise Unsupported("a table row of %d cells, not %d: %s"
                              % (len(row), width, "|".join(row)))
        for j, c in enumerate(row):
            out.append((("   * - " if j == 0 else "     - ") +
                        inline(c)).rstrip())
    return out


def convert(md, tail):
    lines = md.split("\n")
    out = []
    i = 0
    title_seen = False
    skip_intro = 0

    def blank():
        if out and out[-1] != "":
            out.append("")

    while i < len(lines):
        line = lines[i]
        if line.startswith("# "):
            if title_seen:
                raise Unsupported("a second title: " + line)
            title_seen = inline(line[2:].strip())
            skip_intro = 2      # the intro and the code-lives-here paragraph
            i += 1
            continue
        m = re.match(r"(#{2,4}) (.*)$", line)
        if m:
            skip_intro = 0
            text = inline(m.group(2))
            blank()
            out += [text, UNDERLINE[len(m.group(1))] * len(text), ""]
            i += 1
            continue
        if line.startswith("```"):
            blank()
            out += ["::", ""]
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                out.append(("    " + lines[i]).rstrip())
                i += 1
            if i == len(lines):
                raise Unsupported("an unclosed code block")
            i += 1
            out.append("")
            continue
        if line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(lines[i])
                i += 1
            blank()
            out += table(rows) + [""]
            continue
        if not line.strip():
            i += 1
            continue
        if re.match(r"\s*(<|>|\+ |\* )", line):
            raise Unsupported("unknown markup: " + line)
        # A paragraph or a list item, with its continuation lines
        para = [line]
        i += 1
        while i < len(lines) and lines[i].strip() and \
                not re.match(r"(#|```|\|)", lines[i]) and \
                not re.match(r"\s*(- |\d+\. )", lines[i]):
            para.append(lines[i])
            i += 1
        if skip_intro:
            # what the preamble says instead
            skip_intro -= 1
            continue
        item = re.match(r"(\s*)(- |\d+\. )", para[0])
        if not item:
            blank()
        if item:
            indent = item.group(1) + " " * len(item.group(2))
            if not out or out[-1] == "" or \
                    not re.match(r"\s*(- |\d+\. )|\s", out[-1]):
                blank()
            if len(item.group(1)) and out and out[-1] != "":
                out.append("")
            first = para[0][len(item.group(0)):]
            out.append(item.group(1) + item.group(2) + inline(first.strip()))
            for cont in para[1:]:
                out.append(indent + inline(cont.strip()))
            if item.group(1):
                out.append("")
            continue
        out += [inline(p.strip()) for p in para]
        out.append("")
    while out and out[-1] == "":
        out.pop()
    if not title_seen:
        raise Unsupported("no title")
    head = PREAMBLE.format(title=title_seen, bar="=" * len(title_seen))
    return head + "\n" + "\n".join(out) + "\n\n" + tail


def host_tail():
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "qemu", "interop-host.rst"),
              encoding="utf-8") as f:
        return f.read()


def file_from_patch(patch_text, path):
    """The content a patch gives the new file @path (its '+' lines)."""
    out, inside = [], False
    for line in patch_text.split("\n"):
        if line.startswith("diff --git "):
            inside = False
        elif line == "+++ b/" + path:
            inside = True
        elif inside and line.startswith("@@"):
            continue
        elif inside and line.startswith("+"):
            out.append(line[1:])
        elif inside and line.startswith((" ", "-")):
            raise Unsupported(path + " is changed, not added, by the patch")
    if not out:
        raise Unsupported("the patch does not add " + path)
    return "\n".join(out) + "\n"


def patch_adding(patches_dir, path):
    """The one patch of the series in @patches_dir that touches @path."""
    import os
    with open(os.path.join(patches_dir, "series"), encoding="utf-8") as f:
        names = [n.strip() for n in f if n.strip() and not n.startswith("#")]
    found = []
    for name in names:
        with open(os.path.join(patches_dir, name), encoding="utf-8") as f:
            text = f.read()
        if "+++ b/" + path + "\n" in text:
            found.append((name, text))
    if len(found) != 1:
        raise Unsupported("%d patches of the series change %s; keep it in "
                          "one" % (len(found), path))
    return found[0]


def docutils_problems(rst):
    import io
    from docutils.core import publish_doctree
    errors = io.StringIO()
    publish_doctree(rst, settings_overrides={
        "report_level": 2, "halt_level": 5, "warning_stream": errors,
    })
    return errors.getvalue()


def main():
    args = sys.argv[1:]
    if len(args) not in (1, 3) or (len(args) == 3 and args[1] != "--check"):
        sys.exit("usage: protocol-rst.py PROTOCOL_MD [--check PATCHES_DIR]")
    with open(args[0], encoding="utf-8") as f:
        rst = convert(f.read(), host_tail())
    if len(args) == 1:
        sys.stdout.write(rst)
        return
    name, text = patch_adding(args[2], RST_PATH)
    shipped = file_from_patch(text, RST_PATH)
    if shipped != rst:
        want, got = rst.split("\n"), shipped.split("\n")
        n = next((k for k in range(min(len(want), len(got)))
                  if want[k] != got[k]), min(len(want), len(got)))
        sys.exit("protocol-rst: %s in %s differs from docs/protocol.md at "
                 "line %d:\n  patch: %r\n  want:  %r\nRegenerate it with "
                 "scripts/protocol-rst.py." % (
                     RST_PATH, name, n + 1,
                     got[n] if n < len(got) else "(end)",
                     want[n] if n < len(want) else "(end)"))
    problems = docutils_problems(rst)
    if problems:
        sys.exit("protocol-rst: docutils reads %s with complaints:\n%s"
                 % (RST_PATH, problems))
    print("protocol-rst: %s agrees with docs/protocol.md (%d lines)"
          % (RST_PATH, rst.count("\n")))


if __name__ == "__main__":
    try:
        main()
    except Unsupported as e:
        sys.exit("protocol-rst: docs/protocol.md: " + str(e))
