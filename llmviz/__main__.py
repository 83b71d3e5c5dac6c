"""python -m llmviz: see llmviz/cli.py."""

import sys

from llmviz.cli import main

sys.exit(main())
