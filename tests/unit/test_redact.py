"""Tier redaction: free sees verdict, probability, summary and 3 windows; paid tiers see everything."""

from __future__ import annotations

import copy
from typing import Any

from synthscope.config import TIER_LIMITS, Tier
from synthscope.reports.redact import redact_report, redact_result
from synthscope.reports.schema import AnalysisResult


def full_result(n: int = 10) -> dict[str, Any]:
    return {
        "verdict": "ai",
        "ai_probability": 0.9,
        "confidence": 0.8,
        "reason": None,
        "summary": {"windows": n, "ai_windows": n, "human_windows": 0, "uncertain_windows": 0, "ai_share": 1.0},
        "timeline": [
            {
                "start": 3.0 * i,
                "end": 3.0 * i + 3,
                "ai_probability": 0.9,
                "label": "ai",
                "detectors": {"spectro_cnn": 0.9, "fakeprint": 0.8},
            }
            for i in range(n)
        ],
        "detectors": [{"name": "spectro_cnn", "version": "1", "ai_probability": 0.9, "weight": 0.5}],
        "explanation": ["Pitch is unusually stable"],
        "audio": {
            "duration_s": 3.0 * n,
            "sample_rate": 16000,
            "channels": 1,
            "format": "wav",
            "sha256": "0" * 64,
            "size_bytes": 1,
        },
        "model": {"bundle": "b", "version": "1", "sha256": "1" * 64},
        "timing": {"decode_ms": 1, "analyze_ms": 1, "total_ms": 2},
    }


def test_free_tier_is_trimmed_but_keeps_the_schema() -> None:
    full = full_result()
    before = copy.deepcopy(full)
    out, limited = redact_result(full, Tier.free)
    assert limited and out is not None
    assert full == before  # the stored document is never modified
    assert len(out["timeline"]) == TIER_LIMITS[Tier.free].timeline_windows == 3
    assert all(w["detectors"] == {} for w in out["timeline"])
    assert out["detectors"] == [] and out["explanation"] == []
    assert (out["verdict"], out["ai_probability"], out["summary"]) == ("ai", 0.9, full["summary"])
    AnalysisResult.model_validate(out)


def test_paid_tiers_see_everything() -> None:
    full = full_result()
    for tier in (Tier.pro, Tier.enterprise):
        out, limited = redact_result(full, tier)
        assert out == full and not limited


def test_nothing_to_hide_is_not_limited() -> None:
    small = full_result(2)
    small["detectors"], small["explanation"] = [], []
    small["timeline"] = [{**w, "detectors": {}} for w in small["timeline"]]
    assert redact_result(small, Tier.free) == (small, False)
    assert redact_result(None, Tier.free) == (None, False)


def test_report_view_names_the_tier() -> None:
    view = redact_report({"task_id": "rep_x", "result": full_result()}, "free")
    assert view["tier"] == "free" and view["limited"] is True and len(view["result"]["timeline"]) == 3
