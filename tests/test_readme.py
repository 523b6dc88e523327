"""The README stays true: its two quick-start commands, its test command in .ci/run, and the
output of every example (run on sample_data/). `python tests/test_readme.py --update` rewrites
the example outputs after an intended change."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DEMO = ('python3 -m venv .venv && .venv/bin/pip install -e . && '
        '.venv/bin/campaign-roi demo --out demo_out')
TESTS = ('python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && '
         '.venv/bin/python -m pytest -q')
EXAMPLE = re.compile(r"```\n\$ (campaign-roi [^\n]+)\n(.*?)```", re.S)


def run_example(command: str) -> str:
    from campaign_roi.cli import main

    args = shlex.split(command)[1:]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_quick_start_is_exactly_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)\n```", quick, re.S)
    assert blocks == [DEMO, TESTS]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert '.venv/bin/pip install -q -e ".[test,dev]"' in ci or \
        '.venv/bin/python -m pip install -q -e ".[test,dev]"' in ci
    assert ".venv/bin/python -m pytest -q" in ci


def test_examples_show_their_real_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    text = README.read_text(encoding="utf-8")
    examples = EXAMPLE.findall(text)
    assert len(examples) >= 5
    for command, shown in examples:
        assert run_example(command) == shown, f"README example is stale: {command}"


def update() -> None:
    import os

    os.chdir(ROOT)
    text = README.read_text(encoding="utf-8")
    text = EXAMPLE.sub(lambda m: f"```\n$ {m[1]}\n{run_example(m[1])}```", text)
    README.write_text(text, encoding="utf-8")


if __name__ == "__main__" and "--update" in sys.argv:
    sys.path.insert(0, str(ROOT))
    update()
