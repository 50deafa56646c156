"""`verify_receipt` exactly as docs/api/receipts.md shows it: tests verify receipts with the
documented code, so the page cannot drift from what works."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

DOC = Path(__file__).parents[1] / "docs" / "api" / "receipts.md"


def documented_verifier() -> Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]:
    code = re.search(r"```python verify-receipt\n(.*?)```", DOC.read_text(), re.S)
    assert code is not None, "the verification example is missing from receipts.md"
    scope: dict[str, Any] = {}
    exec(compile(code.group(1), str(DOC), "exec"), scope)
    return scope["verify_receipt"]  # type: ignore[no-any-return]


verify_receipt = documented_verifier()
