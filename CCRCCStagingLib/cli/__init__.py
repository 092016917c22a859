"""``ccrcc-staging``: the command line — parse, then hand over to the command in :mod:`CCRCCStagingLib.commands`.

User mistakes (:class:`~CCRCCStagingLib.core.errors.CCRCCStagingError`) end with one line ``error: …`` on stderr and
exit code 2; ``--debug`` shows the traceback. Progress goes to stderr as ``progress: <fraction> <message>``
(the Slicer module reads these lines to drive its progress bar).
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Sequence

from ..core.errors import CCRCCStagingError
from ..core.processes import run_and_exit
from .parser import build_parser

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
#: The Slicer module's batch steps (``commands.predict.STEP_COMMANDS``, named here so that parsing imports nothing heavy;
#: a test checks they agree).
BATCH_STEPS = ("predict-list", "predict-case", "predict-summary")


def run() -> None:
    """The ``ccrcc-staging`` console script and ``python -m CCRCCStagingLib.cli``: :func:`main`, exiting cleanly on
    SIGTERM (the Slicer module's Cancel)."""
    run_and_exit(main)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (0, 2 for a user mistake, 130 when interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in BATCH_STEPS:  # the Slicer module's batch, step by step (not in --help)
        from ..commands.predict import build_steps_parser

        args = build_steps_parser().parse_args(argv)
    else:
        args = build_parser().parse_args(argv)
    module, _, function = args.handler.partition(":")
    try:
        handler = getattr(importlib.import_module(f"CCRCCStagingLib.commands.{module}"), function)
        return handler(args)
    except CCRCCStagingError as error:
        if args.debug:
            traceback.print_exc()
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("error: interrupted; no partial result was written under the final names.", file=sys.stderr)
        return EXIT_INTERRUPTED
