"""``ccrcc-staging serve``: the Slicer module's warm worker. One process keeps the library imported and runs
``analyze`` and ``report`` requests (and the steps of the module's batch: ``predict-list``, ``predict-case``,
``predict-summary``) one after another, speaking JSON lines on its standard input and output.

Protocol — one JSON object per line, UTF-8; ``id`` is the client's, echoed in every answer to that request:

- worker → ``{"event": "ready", "protocol": 1, "pid": …, "commands": ["analyze", "report", "predict-list", …]}``
  once, when the library is imported;
- client → ``{"id": 7, "command": "analyze", "arguments": ["ct.nrrd", "mask.nrrd", "--out", "out", …]}``: the
  command's arguments exactly as on the command line (``ccrcc-staging analyze …``);
- worker → ``{"id": 7, "event": "progress", "fraction": 0.35, "message": "…"}`` for each progress line,
  ``{"id": 7, "event": "output", "text": "…"}`` for every other line the command prints (warnings, the summary,
  the ``error: …`` sentence), and last ``{"id": 7, "event": "done", "exit_code": 0, "seconds": 1.23}`` — the exit
  code the command would end with (2 and ``"error": "<sentence>"`` for a user mistake, 1 for an unexpected failure,
  whose traceback comes as output lines). The worker stays up after a failed request, a malformed one included;
- client → ``{"command": "quit"}``, or closing the worker's standard input: the worker exits. Closing it during a
  request stops that request as SIGTERM does (a clean exit), so a client that dies never leaves a worker behind.

Only the protocol goes to the standard output: the command's own output is wrapped in events, and whatever a native
library writes to file descriptor 1 lands on the standard error, which the client only logs.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import io
import json
import os
import queue
import re
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional

from ..core.errors import CCRCCStagingError
from ..core.processes import stdin_watched, stop_main_thread
from .common import PROGRESS_ENV

PROTOCOL_VERSION = 1
#: The commands a worker runs: the Slicer module's analyze and report, and the steps of its batch (``predict``'s
#: :data:`~CCRCCStagingLib.commands.predict.STEP_COMMANDS`, the same names, checked by a test).
BATCH_STEPS = ("predict-list", "predict-case", "predict-summary")
SERVED_COMMANDS = ("analyze", "report", *BATCH_STEPS)
EXIT_USER_ERROR = 2
EXIT_FAILURE = 1
#: Imported before ``ready`` (what every analysis needs), and once idle after the first request (the report's).
PRELOAD_ANALYSIS = ("CCRCCStagingLib.commands.analyze", "radiomics.featureextractor", "radiomics.imageoperations",
                    "radiomics.shape")
PRELOAD_REPORT = ("CCRCCStagingLib.reports.case.render",)

_PROGRESS = re.compile(r"^progress:\s*([0-9.]+)\s*(.*)$")
_ERROR = re.compile(r"(?:^|: )error: (.*)$")

Message = Dict[str, Any]


def run_serve(args: argparse.Namespace) -> int:
    """``serve``: answer requests until ``quit`` or the end of the standard input; 0 then."""
    if stdin_watched():
        raise CCRCCStagingError("'serve' reads its standard input itself: unset CCRCC_EXIT_ON_STDIN_CLOSE for it.")
    os.environ[PROGRESS_ENV] = "lines"  # the commands' progress, which becomes progress events
    channel = Channel(claim_stdout())
    requests = Requests()
    preload(PRELOAD_ANALYSIS)
    channel.send({"event": "ready", "protocol": PROTOCOL_VERSION, "pid": os.getpid(),
                  "commands": list(SERVED_COMMANDS)})
    preloaded_report = False
    while True:
        line = requests.next()
        if line is None:
            return 0
        request = parse_request(line)
        if request.get("command") == "quit":
            return 0
        with requests.busy():
            channel.send(handle(request, args.command_parser, channel.send))
        gc.collect()
        if not preloaded_report and requests.idle():
            preload(PRELOAD_REPORT)
            preloaded_report = True


def preload(modules: Iterable[str]) -> None:
    """Import what the commands import lazily, so that a request does not wait for it (a module that is absent is
    left to fail in the request that needs it, with that command's own message)."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            continue


def parse_request(line: str) -> Message:
    """A request as sent, or ``{"invalid": <why>}`` (answered with exit code 2)."""
    try:
        request = json.loads(line)
    except ValueError as error:
        return {"invalid": f"the request is not JSON ({error})"}
    if not isinstance(request, dict):
        return {"invalid": "the request is not a JSON object"}
    return request


def handle(request: Message, build_parser: Callable[[], argparse.ArgumentParser], send: Callable[[Message], None]
           ) -> Message:
    """Run one request, sending its progress and output; return its ``done`` event."""
    request_id = request.get("id")
    problem = request.get("invalid") or request_problem(request)
    if problem:
        return {"id": request_id, "event": "done", "exit_code": EXIT_USER_ERROR, "error": problem, "seconds": 0.0}
    start = time.perf_counter()
    output = EventOutput(request_id, send)
    if request["command"] in BATCH_STEPS:
        from .predict import build_steps_parser as build_parser
    with captured(output):
        exit_code = run_command(build_parser, [request["command"], *request.get("arguments", [])])
    done = {"id": request_id, "event": "done", "exit_code": exit_code,
            "seconds": round(time.perf_counter() - start, 4)}
    if exit_code == EXIT_USER_ERROR and output.error is not None:
        done["error"] = output.error
    return done


def request_problem(request: Message) -> Optional[str]:
    """Why a request cannot be run, or None."""
    command, arguments = request.get("command"), request.get("arguments", [])
    if command not in SERVED_COMMANDS:
        return f"unknown command {command!r}: a worker runs {', '.join(SERVED_COMMANDS)} (or quit)"
    if not isinstance(arguments, list) or not all(isinstance(argument, str) for argument in arguments):
        return "'arguments' must be a list of strings, as on the command line"
    return None


def run_command(build_parser: Callable[[], argparse.ArgumentParser], argv: List[str]) -> int:
    """One command as ``ccrcc-staging`` runs it, in this process: its exit code; a user mistake prints the
    ``error:`` sentence (exit code 2), anything unforeseen its traceback (exit code 1)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit:  # an option mistake: argparse printed the one error line
        return exit.code if isinstance(exit.code, int) else EXIT_USER_ERROR
    module, _, function = args.handler.partition(":")
    try:
        handler = getattr(importlib.import_module(f"{__package__}.{module}"), function)
        return int(handler(args) or 0)
    except CCRCCStagingError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception:  # the worker outlives it; the client reports the traceback
        traceback.print_exc()
        return EXIT_FAILURE


class EventOutput:
    """Lines a command prints, as events of its request: progress lines as ``progress``, the rest as ``output``."""

    def __init__(self, request_id: Any, send: Callable[[Message], None]) -> None:
        self._id, self._send = request_id, send
        self.error: Optional[str] = None
        self._partial = ""
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        progress = _PROGRESS.match(text)
        if progress:
            self._send({"id": self._id, "event": "progress", "fraction": float(progress.group(1)),
                        "message": progress.group(2)})
            return
        error = _ERROR.search(text)
        if error:
            self.error = error.group(1).strip()
        self._send({"id": self._id, "event": "output", "text": text})

    def write(self, text: str) -> None:
        with self._lock:
            lines = (self._partial + text).split("\n")
            self._partial = lines.pop()
        for line in lines:
            self.line(line.rstrip("\r"))

    def close(self) -> None:
        if self._partial:
            self.line(self._partial)
            self._partial = ""


class _Stream(io.TextIOBase):
    """``sys.stdout`` / ``sys.stderr`` during a request."""

    def __init__(self, write: Callable[[str], None]) -> None:
        super().__init__()
        self._write = write

    def write(self, text: str) -> int:
        self._write(text)
        return len(text)

    def writable(self) -> bool:
        return True


@contextmanager
def captured(output: EventOutput) -> Iterator[None]:
    """What the command prints (on either stream) goes to ``output``, line by line."""
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = _Stream(output.write)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
        output.close()


def claim_stdout() -> io.TextIOBase:
    """The protocol's stream: the original standard output. File descriptor 1 itself (and so ``sys.stdout`` and
    any native library's output) is pointed at the standard error from now on."""
    sys.stdout.flush()
    protocol = os.dup(1)
    os.dup2(2, 1)
    return io.open(protocol, "w", encoding="utf-8", newline="\n")


class Channel:
    """Sends protocol messages, one JSON line each, whole even when sent from several threads."""

    def __init__(self, stream: io.TextIOBase) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message: Message) -> None:
        line = json.dumps(message, ensure_ascii=True, allow_nan=False, default=str)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()


class Requests:
    """Request lines from the standard input, read on a thread. Its end while a request runs stops the worker
    (:func:`~CCRCCStagingLib.core.processes.stop_main_thread`); while idle, :meth:`next` returns None."""

    def __init__(self) -> None:
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._busy = threading.Event()
        threading.Thread(target=self._read, name="ccrcc-serve-requests", daemon=True).start()

    def _read(self) -> None:
        try:
            for raw in sys.stdin.buffer:
                line = raw.decode("utf-8", errors="replace").strip()
                if line:
                    self._lines.put(line)
        except (OSError, ValueError):
            pass
        self._lines.put(None)
        if self._busy.is_set():
            stop_main_thread()

    def next(self) -> Optional[str]:
        return self._lines.get()

    def idle(self) -> bool:
        return self._lines.empty()

    @contextmanager
    def busy(self) -> Iterator[None]:
        self._busy.set()
        try:
            yield
        finally:
            self._busy.clear()
