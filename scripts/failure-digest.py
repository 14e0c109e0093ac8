#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""failure-digest.py BUILD: what each failed test said, in a few lines.

`meson test --print-errorlogs` prints whole logs (a guest suite's runs to
thousands of lines of console) before its summary; whoever reads only the
end of the output still needs to know which case failed and why.  This
prints, after the summary, each failed test from its first error line.
"""
import json
import os
import re
import sys

# GLib's own failure lines first: a guest's console, printed before them,
# may say "error" too
FIRST = [re.compile(r'^(\*\* )?ERROR:|\*\* (ERROR|CRITICAL) \*\*|^not ok|'
                    r'^Bail out!'),
         re.compile(r'AddressSanitizer|runtime error|Assertion|ERROR')]
MAX_LINES = 16


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else 'build'
    path = os.path.join(build, 'meson-logs', 'testlog.json')
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            tests = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        print(f'failure-digest: no test log: {e}')
        return
    for t in tests:
        if t.get('result') in ('OK', 'SKIP', 'EXPECTEDFAIL'):
            continue
        print(f"==== {t.get('name')}: {t.get('result')} "
              f"(exit {t.get('returncode')}, {t.get('duration', 0):.0f} s)")
        text = (t.get('stdout') or '') + (t.get('stderr') or '')
        lines = [l.rstrip() for l in text.splitlines()]
        first = next((i for pat in FIRST for i, l in enumerate(lines)
                      if pat.search(l)), max(0, len(lines) - MAX_LINES))
        for l in lines[first:first + MAX_LINES]:
            print('  ' + l[:300])


if __name__ == '__main__':
    main()
