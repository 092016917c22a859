"""Running the analysis and the report without blocking Slicer, and without a nested event loop.

A task (``logic.AnalysisTask``, ``export.ReportTask``) has a command line, reads its output (``addLine``), turns the
command's exit code into its outcome on the GUI thread (``finish``, which may change the scene) and removes its
temporary files (``discard``). ``RunSlot`` runs one task at a time: the blocking ``runner.run`` on a thread, whose
lines and end are queued; the GUI's timer calls ``poll``, which hands them to the task and, at the end, calls
``onDone(outcome, error)`` — all on the GUI thread. ``cancel`` stops the runner's process tree, discards the task and
calls ``onDone(None, None)`` at once; what the thread still delivers afterwards is dropped, and ``finish`` is never
called, so a cancelled run never touches the scene.

``ModuleSession`` is what the module's widget does around a run: cancel it when the scene closes, and cancel it and
stop the warm worker on Reload and when Slicer quits. Nothing here needs Qt: the widget gives a ``QTimer`` (anything
with ``start`` and ``stop``) and connects its timeout to ``poll``; the tests give a fake.
"""

import logging
import queue
import threading

from . import AnalysisError

#: How often the GUI's timer polls a running task (milliseconds).
POLL_INTERVAL_MS = 50


class RunSlot:
    """At most one task running in the background."""

    def __init__(self, timer):
        self._timer = timer
        self._run = None

    @property
    def running(self):
        return self._run is not None

    def start(self, runner, task, onDone):
        """Run ``task`` with ``runner``; ``onDone(outcome, error)`` on the GUI thread when it ended (outcome None and
        no error: cancelled)."""
        if self._run is not None:
            raise AnalysisError("An analysis or a report is already running; wait for it or cancel it.")
        self._run = _Run(runner, task, onDone)
        self._run.thread.start()
        self._timer.start()

    def poll(self):
        """Called by the GUI's timer: deliver what the running task printed, and its end."""
        run = self._run
        if run is None:
            self._timer.stop()
            return
        for kind, value in run.takeEvents():
            if run is not self._run:  # cancelled by one of its own lines' handlers
                return
            if kind == "line":
                _guarded(run.task.addLine, value)
            else:
                self._end(run, kind, value)
                return

    def _end(self, run, kind, value):
        self._run = None
        self._timer.stop()
        outcome, error = None, None
        try:
            if kind == "failed":
                raise value
            outcome = run.task.finish(value)
        except AnalysisError as raised:
            error = raised
        except Exception as raised:  # unforeseen: reported like a failed run, with the cause in the log
            logging.exception("CCRCCStaging: the run failed")
            error = AnalysisError(f"The run failed unexpectedly: {raised}")
        finally:
            _guarded(run.task.discard)
        run.onDone(outcome, error)

    def cancel(self):
        """Stop the running task (its whole process tree); returns whether one was running."""
        run = self._run
        if run is None:
            return False
        self._run = None
        self._timer.stop()
        run.runner.cancel()
        _guarded(run.task.discard)
        run.onDone(None, None)
        return True


class _Run:
    def __init__(self, runner, task, onDone):
        self.runner, self.task, self.onDone = runner, task, onDone
        self.events = queue.Queue()
        self.thread = threading.Thread(target=self._work, name="CCRCCStaging-run", daemon=True)

    def _work(self):
        try:
            exitCode = self.runner.run(self.task.command, self.task.environment,
                                       lambda line: self.events.put(("line", line)))
            self.events.put(("end", exitCode))
        except BaseException as error:  # handed to the GUI thread, raised there
            self.events.put(("failed", error))

    def takeEvents(self):
        while True:
            try:
                yield self.events.get_nowait()
            except queue.Empty:
                return


def _guarded(function, *args):
    try:
        function(*args)
    except Exception:
        logging.exception("CCRCCStaging: ignored error")


class ModuleSession:
    """The module's runs, and what happens to them when the scene closes, the module is reloaded or Slicer quits."""

    def __init__(self, logic, timer):
        self.logic = logic
        self.runs = RunSlot(timer)

    @property
    def running(self):
        return self.runs.running

    def start(self, task, onDone, runner=None):
        self.runs.start(runner or self.logic.newRunner(), task, onDone)

    def poll(self):
        self.runs.poll()

    def cancel(self):
        return self.runs.cancel()

    def onSceneStartClose(self):
        """The scene is about to be cleared: a run must not add segments to it. The warm worker stays."""
        self.runs.cancel()
        self.logic.discardLastAnalysis()

    def shutdown(self):
        """Reload (the widget's cleanup) and application quit: nothing may outlive the module."""
        self.runs.cancel()
        self.logic.shutdown()
