"""How a command fails in words: it raises a `LearnerError` with the plain message, and `main` prints
`error: <message>` on stderr and exits with status 2 (the request is refused) or 1 (`Unfinished`: the work
started and could not be finished). argparse's own errors stay argparse's."""

from __future__ import annotations

import contextlib
import os
import sys

from llmviz.errors import LearnerError

REFUSED = 2
FAILED = 1
INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command Ctrl-C ended


class Unfinished(LearnerError):
    """The command did its work but could not finish it (a checkpoint that could not be written)."""


def complain(error: Exception | str) -> None:
    print(f"error: {error}", file=sys.stderr)


def quiet_stdout() -> None:
    """After a broken pipe: stdout goes nowhere, so Python's own flush at exit writes no second error."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def exit_status(error: LearnerError) -> int:
    return FAILED if isinstance(error, Unfinished) else REFUSED


@contextlib.contextmanager
def in_words(*kinds: type[Exception]):
    """Errors of these kinds raised inside are the learner's: raised again as a LearnerError, same words."""
    try:
        yield
    except LearnerError:
        raise
    except kinds as e:
        raise LearnerError(str(e)) from e
