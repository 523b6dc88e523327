"""The docs stay in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

from campaign_roi.config import SETTINGS
from campaign_roi.schema import TABLES, data_contract_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_data_contract_is_generated_from_schema() -> None:
    # regenerate with: python -m campaign_roi.schema > docs/data-contract.md
    assert (DOCS / "data-contract.md").read_text(encoding="utf-8") == data_contract_markdown()


def test_data_contract_lists_every_column() -> None:
    text = data_contract_markdown()
    for table, cols in TABLES.items():
        assert f"## `{table}`" in text
        for c in cols:
            assert f"| `{c.name}` |" in text


def test_configuration_documents_every_key() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for key, sub in SETTINGS.items():
        if sub is None:
            assert re.search(rf"`(\[{key}[\].]|{key}`)", text), key
        else:
            for k in sub:
                assert f"`{key}.{k}`" in text, f"{key}.{k}"


def test_cli_doc_names_every_foundation_command() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    for cmd in ("## `validate`", "## `sql QUERY", "## `query list`"):
        assert cmd in text
