"""python -m llmviz: see llmviz/cli/main.py."""

import sys

from llmviz.cli.main import main

sys.exit(main())
