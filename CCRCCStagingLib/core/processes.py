"""Processes the commands start, and how they end with the command that started them.

Worker processes (joblib's loky pool for a case's feature extraction or a cohort's cases) are reused between tasks and
outlive a parent that is killed (SIGKILL leaves no chance to shut them down): each worker watches its parent and
exits when it is gone. A command itself turns SIGTERM (the Slicer module's Cancel, a scheduler's stop) into an
ordinary exit, so that temporary files are removed and the output folder's lock released on the way out.

The Slicer module also sets ``CCRCC_EXIT_ON_STDIN_CLOSE=1`` and keeps the command's standard input open: when it
closes (the module cancelled, or Slicer is gone), the command ends the same way. This reaches the command where no
signal does (Windows; a launcher between the module and Python that forwards none).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from typing import Any

#: How often a worker looks whether its parent is still there (seconds).
PARENT_CHECK_INTERVAL = 0.5

#: Set to ``1``: the command also ends when its standard input closes (see :func:`exit_when_stdin_closes`).
EXIT_ON_STDIN_CLOSE = "CCRCC_EXIT_ON_STDIN_CLOSE"
#: After the main thread was asked to stop, how long before the process ends regardless (seconds).
STOP_GRACE_S = 2.0
EXIT_TERMINATED = 128 + 15

_watching = False
_stdin_watched = False


def die_with_parent() -> None:
    """In a worker process: exit as soon as the process that started it is gone. Does nothing in the main process
    (a task run in-process) and when already watching."""
    global _watching
    if _watching or multiprocessing.current_process().name == "MainProcess" or os.name == "nt":
        return
    _watching = True
    parent = os.getppid()

    def watch() -> None:
        while True:
            threading.Event().wait(PARENT_CHECK_INTERVAL)
            if os.getppid() != parent:  # re-parented: the parent died
                os._exit(1)

    threading.Thread(target=watch, name="ccrcc-parent-watch", daemon=True).start()


def exit_cleanly_on_terminate() -> None:
    """SIGTERM (and SIGHUP) become ``SystemExit``: ``finally`` blocks run, temporary files go, locks are released."""

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, terminate)


def stop_main_thread(grace_s: float = STOP_GRACE_S) -> None:
    """From another thread: end the command as SIGTERM does (``SystemExit`` in the main thread, so that ``finally``
    blocks run), and the whole process after ``grace_s`` whatever the main thread is doing (a long native call)."""
    if os.name == "nt":
        import _thread

        _thread.interrupt_main()
    else:
        os.kill(os.getpid(), signal.SIGTERM)
    timer = threading.Timer(grace_s, os._exit, args=(EXIT_TERMINATED,))
    timer.daemon = True
    timer.start()


def exit_when_stdin_closes() -> None:
    """End the command (:func:`stop_main_thread`) as soon as its standard input reaches its end. What arrives on it
    is read and dropped. Does nothing without a standard input, and when already watching."""
    global _stdin_watched
    if _stdin_watched or sys.stdin is None:
        return
    _stdin_watched = True
    descriptor = sys.stdin.fileno()

    def watch() -> None:
        try:
            while os.read(descriptor, 65536):
                pass
        except OSError:
            pass
        stop_main_thread()

    threading.Thread(target=watch, name="ccrcc-stdin-watch", daemon=True).start()


def stdin_watched() -> bool:
    """Whether :func:`exit_when_stdin_closes` reads the standard input (a command that reads it itself cannot)."""
    return _stdin_watched


def run_and_exit(main) -> None:
    """The console entry: clean exits on termination (and on the end of the standard input when
    ``CCRCC_EXIT_ON_STDIN_CLOSE=1``), then ``main()``'s exit code."""
    exit_cleanly_on_terminate()
    if os.environ.get(EXIT_ON_STDIN_CLOSE) == "1":
        exit_when_stdin_closes()
    sys.exit(main())


class Task:
    """A picklable call for :func:`run_parallel` (joblib and Dask ship it to another process)."""

    def __init__(self, function: Callable[..., Any], *args: Any) -> None:
        self.function = function
        self.args = args

    def __call__(self) -> Any:
        die_with_parent()  # a worker of a killed command must not run on
        return self.function(*self.args)


#: Worker processes per CPU core at most (each holds a case's images; more only queue for the cores).
MAX_JOBS_PER_CPU = 4


def run_parallel(
    tasks: list[Callable[[], Any]], jobs: int, scheduler: str | None, description: str, show_progress: bool
) -> Iterator[Any]:
    """Run tasks with joblib (processes, or a Dask cluster at ``scheduler``), yielding results as they finish (a
    tqdm bar on stderr with ``show_progress``)."""
    import joblib
    from tqdm import tqdm

    if scheduler is not None:
        from dask.distributed import Client

        client = Client(scheduler)
        backend = joblib.parallel_backend("dask", wait_for_workers_timeout=60)
    else:
        client = None
        backend = nullcontext()
    # No more processes than tasks, nor than MAX_JOBS_PER_CPU per core: a mistyped --jobs 100000 spawned workers
    # until the run was killed.
    jobs = max(1, min(jobs, len(tasks), MAX_JOBS_PER_CPU * (os.cpu_count() or 1)))
    try:
        with backend:
            parallel = joblib.Parallel(n_jobs=jobs if scheduler is None else -1, return_as="generator_unordered")
            results = parallel(joblib.delayed(task)() for task in tasks)
            yield from tqdm(results, total=len(tasks), desc=description, file=sys.stderr, disable=not show_progress)
    finally:
        if client is not None:
            client.close()
