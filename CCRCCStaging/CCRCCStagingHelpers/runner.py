"""Running ``python -m CCRCCStagingLib.cli …`` in a child process, stopping it with everything it started, and reading
what it prints.

In Slicer the child is ``PythonSlicer``, CTK's launcher: it starts the real interpreter (``python-real``) as a child of
its own that shares its standard streams, and it forwards no signal. Stopping the launcher alone would leave the
analysis running. So every child is started as the leader of a process group of its own (POSIX: a new session;
Windows: a new process group), and cancelling stops the whole group:

1. its standard input is closed — the CLI, started with ``CCRCC_EXIT_ON_STDIN_CLOSE=1``, then ends by itself
   (``CCRCCStagingLib.core.processes``), wherever it runs (this is what reaches ``python-real`` on Windows);
2. POSIX: SIGTERM to the group (the CLI turns it into a clean exit), SIGKILL to what is left after a short grace;
   Windows: ``taskkill /T /F`` on the launcher's process tree after the grace.

A runner is used for one run (``run`` then, from any thread, ``cancel``); cancelling before or during the run makes
``run`` return None, and a cancelled runner stays cancelled.
"""

import collections
import logging
import os
import queue
import re
import signal
import subprocess
import threading
import time

from . import AnalysisError

#: The CLI's exit code for a user mistake; it then prints one line ``error: <sentence>``.
EXIT_USER_ERROR = 2
#: Set for the CLI's one-shot commands: they end when their standard input closes.
EXIT_ON_STDIN_CLOSE = "CCRCC_EXIT_ON_STDIN_CLOSE"
#: Set to ``lines``: the CLI reports progress as ``progress: <fraction> <step>`` lines (its default is a terminal
#: bar, or nothing when stderr is not a terminal), which :data:`_PROGRESS_LINE` reads.
PROGRESS_ENV = "CCRCC_PROGRESS"
#: How long the process group has to end after the first request to stop, before it is killed (seconds).
CANCEL_GRACE_S = 0.5
#: How long to wait for the killed group to be gone (seconds).
KILL_WAIT_S = 0.3

_PROGRESS_LINE = re.compile(r"^progress:\s*([0-9.]+)\s*(.*)$")
# "error: …" from the CLI, "ccrcc-staging analyze: error: …" from argparse.
_ERROR_LINE = re.compile(r"(?:^|: )error: (.*)$")


#
# Process trees
#


def processGroupOptions():
    """``subprocess.Popen`` options that make the child the leader of a process group of its own."""
    if os.name == "nt":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | getattr(subprocess, "CREATE_NO_WINDOW", 0)}
    return {"start_new_session": True}


def startProcess(args, env, **options):
    """A child in its own process group, its standard input a pipe that :func:`stopProcessTree` closes."""
    return subprocess.Popen(args, env=env, stdin=subprocess.PIPE, **processGroupOptions(), **options)


def stopProcessTree(process, grace=CANCEL_GRACE_S):
    """Stop ``process`` and every process in its group (see the module documentation); returns when they are gone
    or, at the latest, after about ``grace`` + KILL_WAIT_S seconds."""
    closeQuietly(process.stdin)
    if os.name == "nt":
        if not waitFor(lambda: process.poll() is not None, grace):
            subprocess.run(["taskkill", "/T", "/F", "/PID", str(process.pid)], capture_output=True,
                           creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
            waitFor(lambda: process.poll() is not None, KILL_WAIT_S)
        return
    _signalGroup(process.pid, signal.SIGTERM)
    if not waitFor(lambda: not groupAlive(process), grace):
        _signalGroup(process.pid, signal.SIGKILL)
        waitFor(lambda: not groupAlive(process), KILL_WAIT_S)


def groupAlive(process):
    """Whether any process of ``process``'s group (POSIX) still runs; ``process`` is reaped when it ended."""
    process.poll()  # reaps the leader, which is our child
    return groupAliveById(process.pid)


def groupAliveById(groupId):
    """Whether any process of the group ``groupId`` still runs (Windows: whether the process ``groupId`` does).
    Zombies do not count: an orphan that ended is reaped by init, which may take its time (or, in some containers,
    never happen)."""
    if os.name == "nt":
        listed = subprocess.run(["tasklist", "/FI", f"PID eq {groupId}", "/NH"], capture_output=True, text=True,
                                creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
        return str(groupId) in listed.stdout.split()
    try:
        os.killpg(groupId, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _livingMembers(groupId) if os.path.isdir("/proc") else True


def _livingMembers(groupId):
    """Linux: whether /proc lists a process of the group that is not a zombie."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == groupId and fields[0] != b"Z":
            return True
    return False


def _signalGroup(groupId, signalNumber):
    try:
        os.killpg(groupId, signalNumber)
    except (ProcessLookupError, PermissionError):
        pass


def waitFor(condition, seconds, interval=0.01):
    """Poll ``condition`` until it holds (True) or ``seconds`` have passed (False)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def closeQuietly(stream):
    try:
        if stream is not None:
            stream.close()
    except OSError:
        pass


#
# One process per command
#


class CliRunner:
    """Runs a command as a child process (its own process group) and hands each line of its output (stdout and
    stderr merged) to ``onLine``. ``run`` blocks until the process ends and returns its exit code, or None when the
    run was cancelled. The output is read on a thread, so a chatty child never blocks on a full pipe; ``cancel`` may
    be called from ``onLine``, from another thread or before ``run``."""

    def __init__(self):
        self._process = None
        self._cancelled = False
        self._lock = threading.Lock()

    @property
    def cancelled(self):
        return self._cancelled

    def run(self, args, env, onLine):
        env = dict(env)
        env[EXIT_ON_STDIN_CLOSE] = "1"
        env[PROGRESS_ENV] = "lines"
        with self._lock:
            if self._cancelled:
                return None
            self._process = startProcess(args, env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                         encoding="utf-8", errors="replace")
        lines = queue.Queue()
        threading.Thread(target=readLines, args=(self._process.stdout, lines.put), daemon=True).start()
        for line in iter(lines.get, None):
            onLine(line)
        exitCode = self._process.wait()
        closeQuietly(self._process.stdin)
        return None if self._cancelled else exitCode

    def cancel(self):
        with self._lock:
            self._cancelled = True
            process = self._process
        if process is not None:
            stopProcessTree(process)


def readLines(stream, put):
    """Each line of a text stream (without its end of line), then None at its end."""
    try:
        for line in stream:
            put(line.rstrip("\r\n"))
    except (OSError, ValueError):
        pass
    put(None)


#
# What the CLI prints
#


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
