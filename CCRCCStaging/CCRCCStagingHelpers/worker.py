"""The warm worker: one ``python -m CCRCCStagingLib.cli serve`` process that keeps the library imported and runs the
module's ``analyze`` and ``report`` commands one after another (the protocol is described in
``CCRCCStagingLib/commands/serve.py``).

The first request starts it; later ones reuse it. It is replaced when it died (the request that was running when it
died fails with its exit code and last output), when the environment it should run in changed, and after a cancel:
cancelling stops its whole process tree (``runner.stopProcessTree``) and the next request starts a new one; the same
``stop`` ends it on Reload and quit. It also ends by itself when its standard input closes, so it never outlives
Slicer.

``WorkerRunner`` is the runner the Logic uses (one per run, as ``runner.CliRunner``): it turns a command line
(``python -m CCRCCStagingLib.cli analyze …``) into a request and the answers back into the lines the CLI would have
printed, so that the Logic reads the worker's output exactly as a one-shot process's.
"""

import collections
import io
import itertools
import json
import logging
import queue
import subprocess
import threading

from . import AnalysisError
from .runner import EXIT_ON_STDIN_CLOSE, readLines, startProcess, stopProcessTree

PROTOCOL_VERSION = 1
#: How long a new worker may take to import the library (seconds).
START_TIMEOUT_S = 180.0
STARTING_MESSAGE = "starting the analysis worker"


class _Worker:
    """One worker process and the events read from it (protocol messages, and its standard error as
    ``{"event": "stderr"}``), ending with None when its standard output closes."""

    def __init__(self, command, env):
        self.env = env
        self.process = startProcess(command, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.events = queue.Queue()
        self.lastErrors = collections.deque(maxlen=20)
        for stream, put in ((self.process.stdout, self._putMessage), (self.process.stderr, self._putError)):
            text = _textLines(stream)
            threading.Thread(target=readLines, args=(text, put), daemon=True).start()

    def _putMessage(self, line):
        if line is None:
            self.events.put(None)
            return
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        self.events.put(message if isinstance(message, dict) else {"event": "output", "text": line})

    def _putError(self, line):
        if line is not None:
            self.lastErrors.append(line)
            self.events.put({"event": "stderr", "text": line})

    def alive(self):
        return self.process.poll() is None

    def send(self, message):
        self.process.stdin.write((json.dumps(message) + "\n").encode("utf-8"))
        self.process.stdin.flush()


def _textLines(stream):
    return io.TextIOWrapper(stream, encoding="utf-8", errors="replace")


class WorkerClient:
    """Owns the worker process: ``request`` (one at a time, blocking, any thread) and ``stop`` (any thread).
    ``command`` is the CLI (``[python, "-m", "CCRCCStagingLib.cli"]``)."""

    def __init__(self, command):
        self.command = list(command)
        self._worker = None
        self._requestLock = threading.Lock()
        self._workerLock = threading.Lock()
        self._ids = itertools.count(1)
        self.started = 0  # how many worker processes were started (the benchmark and tests read it)

    @property
    def pid(self):
        worker = self._worker
        return worker.process.pid if worker is not None and worker.alive() else None

    def request(self, args, env, onLine, isCancelled=lambda: False):
        """Run the command line ``args`` (``[*command, "analyze", …]``) in the worker, handing ``onLine`` the lines
        the CLI would print; return its exit code, or None when ``isCancelled()`` (after ``stop``)."""
        if list(args[:len(self.command)]) != self.command or len(args) == len(self.command):
            raise ValueError(f"not a command of {self.command}: {args}")
        with self._requestLock:
            worker = self._ensureWorker(self._workerEnvironment(env), onLine, isCancelled)
            if worker is None or isCancelled():
                return None
            self._drain(worker, onLine)
            requestId = next(self._ids)
            try:
                worker.send({"id": requestId, "command": args[len(self.command)],
                             "arguments": list(args[len(self.command) + 1:])})
            except (OSError, ValueError):
                pass  # it died: its end is read below
            return self._answer(worker, requestId, onLine, isCancelled)

    @staticmethod
    def _workerEnvironment(env):
        env = dict(env)
        env.pop(EXIT_ON_STDIN_CLOSE, None)  # the worker reads its standard input itself
        return env

    def _ensureWorker(self, env, onLine, isCancelled):
        with self._workerLock:
            worker = self._worker
            if worker is not None and worker.alive() and worker.env == env:
                return worker
            if worker is not None:
                self._worker = None
                stopProcessTree(worker.process)
            if isCancelled():
                return None
            onLine(f"progress: 0.00 {STARTING_MESSAGE}")
            worker = self._worker = _Worker([*self.command, "serve"], env)
            self.started += 1
        return self._awaitReady(worker, isCancelled)

    def _awaitReady(self, worker, isCancelled):
        while True:
            try:
                event = worker.events.get(timeout=START_TIMEOUT_S)
            except queue.Empty:
                self._forget(worker, kill=True)
                raise AnalysisError(f"The analysis worker did not start within {START_TIMEOUT_S:g} s.") from None
            if event is None:
                self._forget(worker)
                if isCancelled():
                    return None
                raise AnalysisError(f"The analysis worker could not start (exit code {worker.process.wait()}). Last "
                                    "output:\n" + "\n".join(worker.lastErrors))
            if event.get("event") == "ready":
                if event.get("protocol") != PROTOCOL_VERSION:
                    self._forget(worker, kill=True)
                    raise AnalysisError(f"The analysis worker speaks protocol {event.get('protocol')}, not "
                                        f"{PROTOCOL_VERSION}: the library and the module are of different versions.")
                return worker
            if event.get("event") == "stderr":
                logging.info(f"ccrcc-staging worker: {event.get('text')}")

    @staticmethod
    def _drain(worker, onLine):
        """What the worker wrote to its standard error while idle goes to the log, not to the next request."""
        while True:
            try:
                event = worker.events.get_nowait()
            except queue.Empty:
                return
            if event is None:
                worker.events.put(None)
                return
            logging.info(f"ccrcc-staging worker: {event.get('text', event)}")

    def _answer(self, worker, requestId, onLine, isCancelled):
        while True:
            event = worker.events.get()
            if event is None:  # it died, or was killed
                self._forget(worker)
                if isCancelled():
                    return None
                exitCode = worker.process.wait()
                return exitCode if exitCode != 0 else 1
            kind = event.get("event")
            if kind == "progress" and event.get("id") == requestId:
                onLine(f"progress: {float(event.get('fraction', 0.0)):.2f} {event.get('message', '')}")
            elif kind in ("output", "stderr"):
                onLine(str(event.get("text", "")))
            elif kind == "done" and event.get("id") == requestId:
                if event.get("exit_code") == 2 and event.get("error"):
                    onLine(f"error: {event['error']}")  # a malformed request has no output line of its own
                return int(event.get("exit_code", 1))

    def _forget(self, worker, kill=False):
        with self._workerLock:
            if self._worker is worker:
                self._worker = None
        if kill:
            stopProcessTree(worker.process)

    def stop(self):
        """Stop the worker's whole process tree now (cancel, Reload, quit): its standard input closes and SIGTERM
        reaches every process of its group — an idle worker or a running analysis ends cleanly —, and what is left
        after a short grace is killed. A running request then returns None; the next one starts a new worker."""
        with self._workerLock:
            worker, self._worker = self._worker, None
        if worker is not None:
            stopProcessTree(worker.process)


class WorkerRunner:
    """The runner of one run through the worker (the interface of ``runner.CliRunner``)."""

    def __init__(self, client):
        self._client = client
        self._cancelled = False
        self._running = False
        self._lock = threading.Lock()

    @property
    def cancelled(self):
        return self._cancelled

    def run(self, args, env, onLine):
        with self._lock:
            if self._cancelled:
                return None
            self._running = True
        try:
            return self._client.request(args, env, onLine, isCancelled=lambda: self._cancelled)
        finally:
            with self._lock:
                self._running = False

    def cancel(self):
        with self._lock:
            self._cancelled = True
            running = self._running
        if running:
            self._client.stop()
