"""Export the API's OpenAPI document: `python -m synthscope_api.openapi > openapi.json`.

Built from default settings so the document does not depend on the environment;
a test fails when the committed openapi.json drifts from the code.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from synthscope.config import Settings


def document() -> dict[str, Any]:
    from synthscope_api.app import create_app

    return create_app(Settings(_env_file=None)).openapi()  # type: ignore[call-arg]


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
