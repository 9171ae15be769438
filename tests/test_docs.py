"""docs/safety.md names the test behind every promise: each name must exist."""

from __future__ import annotations

from pathlib import Path
import re

ROOT = Path(__file__).resolve().parents[1]


def test_every_test_named_in_safety_md_exists() -> None:
    text = (ROOT / "docs" / "safety.md").read_text(encoding="utf-8")
    # `test_x.py::test_y` and a bare `test_z` that follows in the same cell.
    references = re.findall(
        r"`((?:tests/)?(?:[\w/]+/)?test_\w+\.py)(?:::(test_\w+))?`|`(test_\w+)`", text
    )
    assert references
    current: Path | None = None
    missing = []
    for path, name, bare in references:
        if path:
            current = ROOT / (path if path.startswith("tests/") else f"tests/{path}")
            assert current.exists(), path
        name = name or bare
        if name:
            assert current is not None
            if not re.search(rf"def {name}\(", current.read_text(encoding="utf-8")):
                missing.append(f"{current.relative_to(ROOT)}::{name}")
    assert missing == []
