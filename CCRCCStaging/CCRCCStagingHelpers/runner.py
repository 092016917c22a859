"""Running ``python -m CCRCCStagingLib.cli …`` in a child process and reading what it prints.

The runner is injected into the Logic (``analyze``, ``exportReport``), so that tests can swap it: ``CliRunner``
blocks in plain Python, ``QtCliRunner`` waits in a local Qt event loop so that Slicer's window keeps repainting
and the Cancel button stays clickable.
"""

import collections
import logging
import queue
import re
import subprocess
import threading

from . import AnalysisError

#: The CLI's exit code for a user mistake; it then prints one line ``error: <sentence>``.
EXIT_USER_ERROR = 2

_PROGRESS_LINE = re.compile(r"^progress:\s*([0-9.]+)\s*(.*)$")
# "error: …" from the CLI, "ccrcc-staging analyze: error: …" from argparse.
_ERROR_LINE = re.compile(r"(?:^|: )error: (.*)$")


class CliRunner:
    """Runs a command as a child process and hands each line of its output (stdout and stderr merged) to
    ``onLine``. ``run`` blocks until the process ends and returns its exit code, or None if ``cancel`` was
    called. The output is read on a thread, so a chatty child can never block on a full pipe, and ``cancel``
    may be called from ``onLine`` or from a GUI slot while ``run`` waits."""

    def __init__(self):
        self._process = None
        self._cancelled = False

    def run(self, args, env, onLine):
        self._cancelled = False
        self._process = subprocess.Popen(
            args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, encoding="utf-8", errors="replace",
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))  # no console window on Windows
        lines = queue.Queue()
        threading.Thread(target=self._readLines, args=(self._process.stdout, lines), daemon=True).start()
        self._deliverLines(lines, onLine)
        exitCode = self._process.wait()
        return None if self._cancelled else exitCode

    def cancel(self):
        self._cancelled = True
        if self._process and self._process.poll() is None:
            self._process.terminate()

    @staticmethod
    def _readLines(stream, lines):
        for line in stream:
            lines.put(line.rstrip("\r\n"))
        lines.put(None)

    def _deliverLines(self, lines, onLine):
        for line in iter(lines.get, None):
            onLine(line)


class QtCliRunner(CliRunner):
    """The same, but it waits in a local Qt event loop (Slicer only)."""

    def _deliverLines(self, lines, onLine):
        import qt

        loop = qt.QEventLoop()
        timer = qt.QTimer()
        timer.setInterval(50)

        def deliver():
            while True:
                try:
                    line = lines.get_nowait()
                except queue.Empty:
                    return
                if line is None:
                    timer.stop()
                    loop.quit()
                    return
                onLine(line)

        timer.connect("timeout()", deliver)
        timer.start()
        loop.exec_()


class CliOutput:
    """Reads the CLI's output: progress lines for the progress bar, the one-line error sentence, and the last
    lines for a report when the CLI fails in a way it did not foresee. ``task`` names the step in that report."""

    def __init__(self, onProgress, task="analysis"):
        self._onProgress = onProgress
        self._task = task
        self._errorSentence = None
        self._lastLines = collections.deque(maxlen=20)

    def addLine(self, line):
        progress = _PROGRESS_LINE.match(line)
        if progress:
            if self._onProgress:
                self._onProgress(min(max(float(progress.group(1)), 0.0), 1.0), progress.group(2))
            return
        error = _ERROR_LINE.search(line)
        if error:
            self._errorSentence = error.group(1).strip()
        self._lastLines.append(line)
        logging.info(f"ccrcc-staging: {line}")

    def failure(self, exitCode):
        if exitCode == EXIT_USER_ERROR and self._errorSentence:
            return AnalysisError(self._errorSentence)
        return AnalysisError(f"The {self._task} stopped unexpectedly (exit code {exitCode}). Last output:\n"
                             + "\n".join(self._lastLines))
