"""How the module runs the library: Cancel that stops the whole process tree behind a launcher like PythonSlicer, the
warm worker and its protocol, runs in the background without a nested event loop, and what scene close, Reload and
quit do to a run.

The launcher stand-in (``launcher_standin.py``) behaves like CTK's AppLauncher: it starts the real interpreter as its
own child sharing its standard streams and forwards no signal; "no process left" is checked with psutil on the
launcher's whole tree, captured while it runs (a zombie counts as gone: it has ended, and this container's init does
not reap orphans).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import SimpleITK as sitk

from slicer_harness import (
    LAUNCHER_STANDIN,
    MrmlApplication,
    addCase,
    moduleNames,
    phantomCase,
    requireSlicerCore,
    sceneSnapshot,
)

CLI = ["-m", "CCRCCStagingLib.cli"]
#: Cancel must return within this (seconds).
CANCEL_LIMIT_S = 1.0


@pytest.fixture(scope="module")
def ccrcc():
    return moduleNames()


@pytest.fixture(scope="module")
def caseFiles(tmp_path_factory):
    """A small CT and tumour mask on disk (an analysis takes a few seconds)."""
    folder = tmp_path_factory.mktemp("case")
    image, mask = phantomCase(shape=(20, 40, 40))
    for array, name in ((image, "ct.nrrd"), (mask, "mask.nrrd")):
        written = sitk.GetImageFromArray(array)
        written.SetSpacing((0.7, 0.8, 2.5))
        sitk.WriteImage(written, str(folder / name))
    return folder / "ct.nrrd", folder / "mask.nrrd"


@pytest.fixture(scope="module")
def bigCaseFiles(tmp_path_factory):
    """A CT large enough that its analysis runs for several seconds: something to cancel."""
    folder = tmp_path_factory.mktemp("big")
    image, mask = phantomCase(shape=(60, 160, 160), seed=1)
    for array, name in ((image, "ct.nrrd"), (mask, "mask.nrrd")):
        written = sitk.GetImageFromArray(array)
        written.SetSpacing((0.7, 0.8, 2.5))
        sitk.WriteImage(written, str(folder / name))
    return folder / "ct.nrrd", folder / "mask.nrrd"


def environment():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                        env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def launcherCommand():
    """``PythonSlicer -m CCRCCStagingLib.cli`` as in Slicer: the launcher stand-in in front of the interpreter."""
    return [sys.executable, str(LAUNCHER_STANDIN), *CLI]


def analyzeArguments(caseFiles, out, *extra):
    image, mask = caseFiles
    return ["analyze", str(image), str(mask), "--out", str(out), "--label", "1", "--report", "none", "--no-model",
            "--habitats", "2", *extra]


def tree(pid):
    """The process and all its descendants, as psutil objects (captured while they run)."""
    process = psutil.Process(pid)
    return [process, *process.children(recursive=True)]


def running(processes):
    """Those of ``processes`` still running (ended ones, zombies included, do not count)."""
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            continue
    return alive


def waitUntil(condition, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


class LineRecorder:
    def __init__(self):
        self.lines = []
        self.progressed = threading.Event()

    def __call__(self, line):
        self.lines.append(line)
        if line.startswith("progress:") and "starting" not in line and "reading" not in line:
            self.progressed.set()


#
# Cancel stops the whole tree behind the launcher
#


def test_theLauncherStandInLeavesTheInterpreterRunningWhenItAloneIsKilled(ccrcc, bigCaseFiles, tmp_path):
    """Why the process group is needed: what a plain terminate() did to PythonSlicer."""
    process = subprocess.Popen([*launcherCommand(), *analyzeArguments(bigCaseFiles, tmp_path / "out")],
                               env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        waitUntil(lambda: len(tree(process.pid)) > 1)
        interpreter = tree(process.pid)[1]
        process.terminate()
        process.wait(timeout=5)
        time.sleep(0.5)
        assert running([interpreter]) == [interpreter]  # the analysis runs on, without a parent
    finally:
        os.killpg(process.pid, 9)


@pytest.mark.parametrize("through", ["process", "worker"])
def test_cancelStopsTheWholeTreeBehindTheLauncherWithinOneSecond(ccrcc, bigCaseFiles, tmp_path, through):
    client = ccrcc.WorkerClient(launcherCommand())
    runner = ccrcc.CliRunner() if through == "process" else ccrcc.WorkerRunner(client)
    lines = LineRecorder()
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(code=runner.run(
        [*launcherCommand(), *analyzeArguments(bigCaseFiles, tmp_path / "out")], environment(), lines)))
    thread.start()
    try:
        assert lines.progressed.wait(120), lines.lines
        processes = tree(runner._process.pid if through == "process" else client.pid)
        assert len(processes) >= 2  # the launcher and the interpreter (at least)
        start = time.monotonic()
        runner.cancel()
        cancelSeconds = time.monotonic() - start
        thread.join(5)
        assert not thread.is_alive() and outcome["code"] is None
        assert cancelSeconds < CANCEL_LIMIT_S
        assert running(processes) == []
        assert client.pid is None
    finally:
        client.stop()


def test_theCliEndsWhenItsStandardInputCloses(ccrcc, bigCaseFiles, tmp_path):
    """The second line of defence, where no signal reaches the interpreter (Windows): closing the launcher's
    standard input, which the interpreter shares, ends the analysis cleanly."""
    env = {**environment(), ccrcc.EXIT_ON_STDIN_CLOSE: "1", ccrcc.PROGRESS_ENV: "lines"}
    process = subprocess.Popen([*launcherCommand(), *analyzeArguments(bigCaseFiles, tmp_path / "out")], env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    waitUntil(lambda: len(tree(process.pid)) > 1)
    processes = tree(process.pid)
    # Closed mid-analysis: once the first step past loading has been reported (a fixed sleep can outlast it).
    for line in process.stderr:
        if line.startswith("progress:") and float(line.split()[1]) > 0:
            break
    process.stdin.close()
    assert process.wait(timeout=5) == 143  # the clean exit of SIGTERM, passed on by the launcher
    waitUntil(lambda: running(processes) == [], timeout=5)
    assert not (tmp_path / "out" / "result.json").exists()


#
# The warm worker
#


def test_theWorkerAnswersLikeTheCommandLineAndStaysWarm(ccrcc, caseFiles, tmp_path):
    client = ccrcc.WorkerClient([sys.executable, *CLI])
    try:
        lines = LineRecorder()
        assert client.request([*client.command, *analyzeArguments(caseFiles, tmp_path / "w1")], environment(),
                              lines) == 0
        assert client.started == 1 and lines.lines[0] == f"progress: 0.00 {ccrcc.STARTING_MESSAGE}"
        assert any(line.startswith("progress: 1.00") for line in lines.lines)
        firstWorker = tree(client.pid)
        # The same analysis as a one-shot process writes the same files.
        assert ccrcc.CliRunner().run([sys.executable, *CLI, *analyzeArguments(caseFiles, tmp_path / "p")],
                                     environment(), lambda line: None) == 0
        worker, process = (json.loads((tmp_path / name / "result.json").read_text()) for name in ("w1", "p"))
        for result in (worker, process):
            result.pop("timings_s")
        assert worker == process
        assert (tmp_path / "w1" / "features.csv").read_bytes() == (tmp_path / "p" / "features.csv").read_bytes()

        # A later case reuses the worker.
        assert client.request([*client.command, *analyzeArguments(caseFiles, tmp_path / "w2")], environment(),
                              lambda line: None) == 0
        assert client.started == 1 and client.pid == firstWorker[0].pid
    finally:
        client.stop()
    assert client.pid is None and running(firstWorker) == []


def test_aFailingRequestGivesTheErrorSentenceAndTheWorkerStays(ccrcc, caseFiles, tmp_path):
    client = ccrcc.WorkerClient([sys.executable, *CLI])
    try:
        output = ccrcc.CliOutput(None)
        missing = [*client.command, "analyze", str(tmp_path / "absent.nrrd"), str(caseFiles[1]), "--out",
                   str(tmp_path / "out")]
        assert client.request(missing, environment(), output.addLine) == ccrcc.EXIT_USER_ERROR
        assert "does not exist" in str(output.failure(2)) and "\n" not in str(output.failure(2))
        pid = client.pid
        # An option mistake, as argparse reports it.
        output = ccrcc.CliOutput(None)
        assert client.request([*client.command, "report", str(tmp_path), "--bogus"],
                              environment(), output.addLine) == 2
        assert "unrecognized arguments" in str(output.failure(2))
        # Only analyze and report are served.
        with pytest.raises(ValueError):
            client.request(["python", "-m", "other"], environment(), print)
        output = ccrcc.CliOutput(None)
        assert client.request([*client.command, "train", "x"], environment(), output.addLine) == 2
        assert "unknown command 'train'" in str(output.failure(2))
        assert client.pid == pid and client.started == 1
        assert client.request([*client.command, *analyzeArguments(caseFiles, tmp_path / "ok")], environment(),
                              lambda line: None) == 0
    finally:
        client.stop()


def test_theProtocolOnTheWire(caseFiles, tmp_path):
    """Raw JSON lines: ready, progress, output and done per request; malformed requests answered; quit."""
    process = subprocess.Popen([sys.executable, *CLI, "serve"], env=environment(), stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    requests = ["not json", json.dumps([1, 2]), json.dumps({"id": "a", "command": "analyze", "arguments": "x"}),
                json.dumps({"id": 7, "command": "analyze", "arguments": analyzeArguments(caseFiles, tmp_path / "o")[1:]}),
                json.dumps({"command": "quit"})]
    stdout, _ = process.communicate("\n".join(requests) + "\n", timeout=120)
    messages = [json.loads(line) for line in stdout.splitlines()]
    assert process.returncode == 0
    assert messages[0]["event"] == "ready" and messages[0]["protocol"] == 1
    assert [message["exit_code"] for message in messages[1:4]] == [2, 2, 2]
    assert "not JSON" in messages[1]["error"] and "list of strings" in messages[3]["error"]
    answers = [message for message in messages if message.get("id") == 7]
    assert {message["event"] for message in answers} == {"progress", "output", "done"}
    assert answers[-1]["event"] == "done" and answers[-1]["exit_code"] == 0
    assert all(0 <= message["fraction"] <= 1 for message in answers if message["event"] == "progress")


def test_theWorkerEndsWhenItsStandardInputClosesEvenDuringARequest(bigCaseFiles, tmp_path):
    process = subprocess.Popen([sys.executable, *CLI, "serve"], env=environment(), stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert json.loads(process.stdout.readline())["event"] == "ready"
    process.stdin.write(json.dumps({"id": 1, "command": "analyze",
                                    "arguments": analyzeArguments(bigCaseFiles, tmp_path / "o")[1:]}) + "\n")
    process.stdin.flush()
    assert json.loads(process.stdout.readline())["event"] == "progress"
    process.stdin.close()
    assert process.wait(timeout=5) == 143  # SIGTERM's clean exit


def test_aDeadWorkerIsRestarted(ccrcc, caseFiles, bigCaseFiles, tmp_path):
    client = ccrcc.WorkerClient([sys.executable, *CLI])
    try:
        assert client.request([*client.command, *analyzeArguments(caseFiles, tmp_path / "a")], environment(),
                              lambda line: None) == 0
        # Killed while idle: the next request starts a new worker.
        psutil.Process(client.pid).kill()
        waitUntil(lambda: client.pid is None)
        assert client.request([*client.command, *analyzeArguments(caseFiles, tmp_path / "b")], environment(),
                              lambda line: None) == 0
        assert client.started == 2
        # Killed during a request: that request fails with the exit code, the next one gets a new worker.
        lines = LineRecorder()
        outcome = {}
        thread = threading.Thread(target=lambda: outcome.update(code=client.request(
            [*client.command, *analyzeArguments(bigCaseFiles, tmp_path / "c")], environment(), lines)))
        thread.start()
        assert lines.progressed.wait(60)
        psutil.Process(client.pid).kill()
        thread.join(10)
        assert outcome["code"] == -9
        assert client.request([*client.command, *analyzeArguments(caseFiles, tmp_path / "d")], environment(),
                              lambda line: None) == 0
        assert client.started == 3
    finally:
        client.stop()


#
# Runs in the background, with fakes: no Qt, no process
#


class FakeTimer:
    def __init__(self):
        self.active = False

    def start(self):
        self.active = True

    def stop(self):
        self.active = False


class FakeRunner:
    """Blocks in ``run`` until released; hands over the lines it was given; records cancel."""

    def __init__(self, lines=(), exitCode=0, error=None):
        self.lines, self.exitCode, self.error = list(lines), exitCode, error
        self.release = threading.Event()
        self.cancelled = False
        self.started = threading.Event()
        self.thread = None

    def run(self, args, env, onLine):
        self.thread = threading.current_thread()
        self.started.set()
        for line in self.lines:
            onLine(line)
        self.release.wait(10)
        if self.error:
            raise self.error
        return None if self.cancelled else self.exitCode

    def cancel(self):
        self.cancelled = True
        self.release.set()


class FakeTask:
    command, environment = ["cli", "analyze"], {}

    def __init__(self, outcome="result", error=None):
        self.outcome, self.error = outcome, error
        self.lines, self.finished, self.discarded = [], [], 0
        self.threads = set()

    def addLine(self, line):
        self.threads.add(threading.current_thread())
        self.lines.append(line)

    def finish(self, exitCode):
        self.threads.add(threading.current_thread())
        self.finished.append(exitCode)
        if self.error:
            raise self.error
        return None if exitCode is None else self.outcome

    def discard(self):
        self.discarded += 1


class Done:
    def __init__(self):
        self.calls = []

    def __call__(self, outcome, error):
        self.calls.append((outcome, error))


def pollUntilDone(slot, done, timeout=10):
    deadline = time.monotonic() + timeout
    while not done.calls:
        assert time.monotonic() < deadline
        slot.poll()
        time.sleep(0.005)


def test_aRunDeliversItsLinesAndItsEndOnThePollingThread(ccrcc):
    timer, task, done = FakeTimer(), FakeTask(), Done()
    runner = FakeRunner(lines=["progress: 0.50 half", "warning: x"])
    slot = ccrcc.RunSlot(timer)
    slot.start(runner, task, done)
    assert slot.running and timer.active
    runner.started.wait(5)
    assert task.lines == []  # nothing is delivered outside poll
    runner.release.set()
    pollUntilDone(slot, done)
    assert task.lines == ["progress: 0.50 half", "warning: x"]
    assert task.finished == [0] and task.discarded == 1 and done.calls == [("result", None)]
    assert task.threads == {threading.current_thread()} and runner.thread is not threading.current_thread()
    assert not slot.running and not timer.active
    slot.start(FakeRunner(), FakeTask(), Done())
    with pytest.raises(ccrcc.AnalysisError, match="already running"):
        slot.start(FakeRunner(), FakeTask(), Done())
    slot.cancel()


def test_aFailedRunReportsItsErrorAndCleansUp(ccrcc):
    for task, runner, expected in (
            (FakeTask(error=ccrcc.AnalysisError("The mask is empty.")), FakeRunner(exitCode=2), "The mask is empty."),
            (FakeTask(), FakeRunner(error=OSError("PythonSlicer not found")), "PythonSlicer not found")):
        done, slot = Done(), ccrcc.RunSlot(FakeTimer())
        slot.start(runner, task, done)
        runner.release.set()
        pollUntilDone(slot, done)
        (outcome, error), = done.calls
        assert outcome is None and expected in str(error) and task.discarded == 1


def test_cancelEndsTheRunAtOnceAndNothingLateArrives(ccrcc):
    timer, task, done = FakeTimer(), FakeTask(), Done()
    runner = FakeRunner(lines=["progress: 0.10 started"])
    slot = ccrcc.RunSlot(timer)
    slot.start(runner, task, done)
    runner.started.wait(5)
    assert slot.cancel() is True
    assert runner.cancelled and done.calls == [(None, None)] and task.discarded == 1
    assert not slot.running and not timer.active
    time.sleep(0.05)
    slot.poll()  # the thread's late lines and end are dropped; finish never runs
    assert task.finished == [] and task.lines == [] and done.calls == [(None, None)]
    assert slot.cancel() is False


class FakeLogic:
    def __init__(self):
        self.calls = []

    def newRunner(self):
        return FakeRunner()

    def discardLastAnalysis(self):
        self.calls.append("discardLastAnalysis")

    def shutdown(self):
        self.calls.append("shutdown")


@pytest.mark.parametrize("event, logicCalls", [("onSceneStartClose", ["discardLastAnalysis"]),
                                               ("shutdown", ["shutdown"])])
def test_sceneCloseReloadAndQuitCancelTheRun(ccrcc, event, logicCalls):
    logic, task, done = FakeLogic(), FakeTask(), Done()
    session = ccrcc.ModuleSession(logic, FakeTimer())
    session.start(task, done)
    getattr(session, event)()
    assert not session.running and done.calls == [(None, None)] and task.finished == []
    assert logic.calls == logicCalls  # scene close keeps the warm worker; Reload and quit stop it
    getattr(session, event)()  # again, idle: nothing to cancel
    assert done.calls == [(None, None)]


#
# The same on real MRML, the real worker behind the launcher stand-in
#


@pytest.fixture
def scene():
    requireSlicerCore()
    application = MrmlApplication()
    import slicer

    yield slicer
    application.close()


def test_closingTheSceneOrQuittingDuringARealRunLeavesNothingBehind(ccrcc, scene, monkeypatch):
    image, mask = phantomCase(shape=(60, 160, 160), seed=1)
    volumeNode, segmentationNode, tumourId = addCase(scene, image, mask, None)
    logic = ccrcc.CCRCCStagingLogic()
    monkeypatch.setattr(logic, "cliCommand", launcherCommand)
    timer = FakeTimer()
    session = ccrcc.ModuleSession(logic, timer)
    try:
        for event in ("onSceneStartClose", "shutdown"):
            before = sceneSnapshot(scene.mrmlScene)
            progress, done = [], Done()
            task = logic.prepareAnalysis(volumeNode, segmentationNode, tumourId, model=ccrcc.MODEL_NONE,
                                         onProgress=lambda *step: progress.append(step))
            session.start(task, done)
            waitUntil(lambda: session.poll() or any(fraction > 0 for fraction, _message in progress))
            processes = tree(logic.worker.pid)
            start = time.monotonic()
            getattr(session, event)()
            assert time.monotonic() - start < (CANCEL_LIMIT_S if event == "onSceneStartClose" else 3.0)
            assert done.calls == [(None, None)] and not task.workDir.exists()
            assert sceneSnapshot(scene.mrmlScene) == before and logic.lastOutputDir is None
            assert running(processes) == [] and logic.worker.pid is None
    finally:
        logic.shutdown()
