"""README stays true to the tree: its module map names every module of llmviz, its commands are the CLI's."""

import re

from llmviz.cli.main import build_parser
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def module_map() -> str:
    start = README.index("\nllmviz/ ")
    return README[start:README.index("```", start)]


def test_the_module_map_names_every_package_and_module_once_and_nothing_that_is_not_there():
    tree = module_map()
    for package in sorted(p for p in (ROOT / "llmviz").iterdir() if (p / "__init__.py").is_file()):
        start = tree.index(f"\n  {package.name}/")
        rest = tree[start + 1:]
        following = re.search(r"\n  \S", rest)
        block = rest[:following.start()] if following else rest
        listed = re.findall(r"\b(\w+)\.py\b", block)
        actual = sorted(f.stem for f in package.glob("*.py") if f.name != "__init__.py")
        assert sorted(listed) == actual, package.name  # every module, once, none that is gone


def test_every_command_of_the_cli_is_shown_in_readme_and_help_says_where_settings_are():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name in commands:
        assert f"python -m llmviz {name}" in README or f"-m llmviz {name} " in README, name
    assert "COMMAND --help" in parser.format_help() and "COMMAND --help" in README
