"""Reading `infra/terraform` with python-hcl2, shared by the infrastructure tests.

python-hcl2 keeps string quotes, leaves expressions as "${...}" and marks blocks with `__is_block__`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "infra" / "terraform"


def unq(v: Any) -> Any:
    """A quoted string's content; anything else unchanged."""
    if isinstance(v, str) and len(v) >= 2 and v[0] == v[-1] == '"':
        return v[1:-1]
    return v


@cache
def documents() -> tuple[tuple[str, dict[str, Any]], ...]:
    """(file name, parsed document) of every `*.tf` file, in name order."""
    return tuple((p.name, hcl2.loads(p.read_text())) for p in sorted(TF.glob("*.tf")))
