"""python -m llmviz: see llmviz.cli (the commands) and llmviz.cli.main (the parser)."""

import sys

try:
    from llmviz.cli.main import main  # loading PyTorch, LanceDB, ... takes seconds: Ctrl-C may come meanwhile
except KeyboardInterrupt:
    print("error: stopped (Ctrl-C) while starting: nothing was done.", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
