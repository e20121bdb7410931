"""The README's results table is what a fresh run gives (experiments/readme_tables.py):
cycles and energies are deterministic, so the table matches exactly or is stale. After a
change that moves them: `python experiments/readme_tables.py` rewrites it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_results_table_is_fresh():
    spec = importlib.util.spec_from_file_location("readme_tables", ROOT / "experiments" / "readme_tables.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = (ROOT / "README.md").read_text()
    a, b = text.index(mod.BEGIN) + len(mod.BEGIN), text.index(mod.END)
    assert text[a:b].strip() == mod.table().strip(), \
        "README.md's results table is stale: run python experiments/readme_tables.py"
