"""Processes the commands start, and how they end with the command that started them.

Worker processes (joblib's loky pool for a case's feature extraction or a cohort's cases) are reused between tasks and
outlive a parent that is killed (SIGKILL leaves no chance to shut them down): each worker watches its parent and
exits when it is gone. A command itself turns SIGTERM (the Slicer module's Cancel, a scheduler's stop) into an
ordinary exit, so that temporary files are removed and the output folder's lock released on the way out.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading

#: How often a worker looks whether its parent is still there (seconds).
PARENT_CHECK_INTERVAL = 0.5

_watching = False


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


def run_and_exit(main) -> None:
    """The console entry: clean exits on termination, then ``main()``'s exit code."""
    exit_cleanly_on_terminate()
    sys.exit(main())
