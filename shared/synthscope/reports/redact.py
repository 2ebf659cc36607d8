"""Tier redaction, applied when a report is read (DESIGN §2, §8).

The worker always stores the full result; this trims it to what the caller's tier
may see, so an upgrade shows the detail at once without re-processing. The
redacted result keeps the schema (lists emptied, never keys removed), so clients
parse one shape for every tier.
"""

from __future__ import annotations

import copy
from typing import Any

from synthscope.config import TIER_LIMITS, Tier


def redact_result(result: dict[str, Any] | None, tier: Tier | str) -> tuple[dict[str, Any] | None, bool]:
    """(result as the tier may see it, whether anything was withheld). The input is not modified."""
    if result is None:
        return None, False
    limits = TIER_LIMITS[Tier(tier)]
    if limits.detector_detail and limits.timeline_windows is None:
        return result, False
    out = copy.copy(result)
    limited = False
    timeline = list(result.get("timeline") or [])
    if limits.timeline_windows is not None and len(timeline) > limits.timeline_windows:
        timeline = timeline[: limits.timeline_windows]
        limited = True
    if not limits.detector_detail:
        if any(w.get("detectors") for w in timeline):
            limited = True
        timeline = [{**w, "detectors": {}} for w in timeline]
        if result.get("detectors") or result.get("explanation"):
            limited = True
        out["detectors"] = []
        out["explanation"] = []
    out["timeline"] = timeline
    return out, limited


def redact_report(doc: dict[str, Any], tier: Tier | str) -> dict[str, Any]:
    """A report document as the caller sees it: result redacted, tier and `limited` filled in."""
    result, limited = redact_result(doc.get("result"), tier)
    return {**doc, "result": result, "tier": Tier(tier).value, "limited": limited}
