"""python -m llmviz: see llmviz.cli (the commands) and llmviz.cli.main (the parser)."""

import sys

from llmviz.cli.main import main

sys.exit(main())
