"""``python -m CCRCCStagingLib.cli``: what the Slicer module runs in a child process."""

from . import run

run()
