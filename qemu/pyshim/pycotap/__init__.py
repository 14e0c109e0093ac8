# SPDX-License-Identifier: GPL-2.0-or-later
"""Minimal stand-in for the 'pycotap' module.

QEMU's configure insists on a Python package named pycotap (a TAP runner
for its functional tests), but Debian does not package it and QEMU's
bundled wheels are stripped from the +ds source.  This small TAP runner
satisfies the check and runs the series' one functional test
(qemu/functional.sh) with TAP output.
"""
import enum
import sys
import unittest


class LogMode(enum.Enum):
    LogToError = "error"
    LogToDiagnostics = "diagnostics"
    LogToYAML = "yaml"
    LogToAttachment = "attachment"


class _TAPResult(unittest.TestResult):
    def __init__(self, stream):
        super().__init__()
        self._out = stream
        self._n = 0

    def _line(self, ok, test, note=""):
        self._n += 1
        status = "ok" if ok else "not ok"
        self._out.write("%s %d %s%s\n" % (status, self._n, test.id(), note))
        self._out.flush()

    def addSuccess(self, test):
        super().addSuccess(test)
        self._line(True, test)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        sys.stderr.write(self._exc_info_to_string(err, test))
        self._line(False, test)

    def addError(self, test, err):
        super().addError(test, err)
        sys.stderr.write(self._exc_info_to_string(err, test))
        self._line(False, test)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line(True, test, " # SKIP %s" % reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._line(True, test, " # TODO expected failure")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._line(False, test, " # unexpected success")


class TAPTestRunner:
    def __init__(self, message_log=LogMode.LogToError,
                 test_output_log=LogMode.LogToError, stream=None):
        self.message_log = message_log
        self.test_output_log = test_output_log
        self.stream = stream or sys.stdout

    def run(self, test):
        result = _TAPResult(self.stream)
        self.stream.write("TAP version 13\n")
        test(result)
        self.stream.write("1..%d\n" % result.testsRun)
        self.stream.flush()
        return result
