"""A stand-in for CTK's AppLauncher as Slicer configures ``PythonSlicer``: it starts the real interpreter as a child of
its own with the given arguments, the child sharing its standard input, output and error (no pipe in between),
forwards no signal (SIGTERM and SIGINT end the launcher at once and leave the child running), and ends with the
child's exit code (1 when the child was killed by a signal, as a crashed QProcess).

    python launcher_standin.py -m CCRCCStagingLib.cli analyze …
"""

import signal
import subprocess
import sys



def main():
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # no KeyboardInterrupt: the default action, as in the C++ launcher
    child = subprocess.Popen([sys.executable, *sys.argv[1:]])
    code = child.wait()
    return 1 if code < 0 else code


if __name__ == "__main__":  # (Testing/slicer is also searched as part of the `slicer` package by slicer-core)
    sys.exit(main())
