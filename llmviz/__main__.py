"""python -m llmviz: see llmviz.cli (the commands) and llmviz.cli.main (the parser)."""

import os
import signal
import sys


def _stopped_while_starting(signum, frame):
    # Said and ended here, not raised: a library's bare `except:` while importing would swallow a KeyboardInterrupt.
    os.write(2, b"error: stopped (Ctrl-C) while starting: nothing was done.\n")
    os._exit(130)


# Loading PyTorch, LanceDB, ... takes seconds: Ctrl-C may come meanwhile. A SIGINT this run ignores (started with &)
# stays ignored.
_heard = signal.getsignal(signal.SIGINT)
if _heard is not signal.SIG_IGN:
    signal.signal(signal.SIGINT, _stopped_while_starting)
from llmviz.cli.main import main  # noqa: E402

if _heard is not signal.SIG_IGN:
    signal.signal(signal.SIGINT, _heard)
sys.exit(main())
