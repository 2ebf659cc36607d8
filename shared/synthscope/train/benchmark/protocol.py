"""Leave-one-source-out folds: who trains, who calibrates, who is judged, for each held-out group.

A detector is used on engines, speakers and channels it never saw (DESIGN §6), so every
model choice is made on folds that hold one group out completely:

* **Groups.** `family` of each manifest row: the engine family for AI rows, the source group
  for human rows (derived from `engine` / `source` when an older manifest has no `family`).
  Every AI family and every human group present gets a fold.
* **Pairs.** A vocoder twin shares speaker and content with the human clip it was made from:
  its `pair_id` is that human's `item`. For a held-out group G let K = {item} ∪ {pair_id} over
  G's rows. A row is *excluded* from G's fold when its family is G, or its `item` or `pair_id`
  is in K: that removes G itself, twins of held-out humans, the human originals of held-out
  twins, and (conservatively) sibling twins of the same original made by other families.
* **fit set** = split `train` minus excluded rows; **calib set** = split `calib` minus excluded
  rows (the ensemble stacker/calibration learns there).
* **eval set** = every row of G (any split) plus the opposite class from the `test` split that
  is not excluded; for a human group also the AI twins of G's items from any split (content
  matched: the hardest negatives for that group).
* **in-distribution** (reported, never used to choose): fit on all `train`, calibrate on all
  `calib`, judge the whole `test` split.

* **scoring** (`folds.py`): each head is refitted on the fit set's cached features (clips as
  stored), the ensemble (`Ensemble.fit`) on the calib set's detector scores, and every eval clip
  is scored under each codec condition; clip score = mean window P(ai). Per group × detector ×
  condition: AUC, EER, FPR / FNR at the shipped threshold, ECE; then mean and worst over groups,
  for AI-family folds, human-group folds and all (`results.py`).
* **copies**: fit/calib rows whose file is byte-identical to an eval clip are dropped too
  (checked on the sha256 the cache keys on), whatever their item or group says.

`check_no_leak` enforces the exclusion on every fold when it is built and again before anything
is fitted.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Side = Literal["ai", "human", "in-distribution"]
IN_DISTRIBUTION = "in-distribution (not used to choose)"


class LeakError(AssertionError):
    """A held-out group (or a pair of one of its clips) reached a fit or calib set."""


@dataclass(frozen=True)
class Row:
    """One manifest row, as far as the benchmark cares."""

    index: int
    path: Path  # absolute
    label: int  # 1 = ai, 0 = human
    kind: str
    source: str
    engine: str
    family: str
    speaker: str
    split: str
    item: str
    pair_id: str


@dataclass(frozen=True)
class Fold:
    """Row indices of one fold's three sets."""

    group: str
    side: Side
    fit: tuple[int, ...]
    calib: tuple[int, ...]
    eval: tuple[int, ...]


def _family(rec: dict[str, str], label: int) -> str:
    fam = (rec.get("family") or "").strip()
    if fam:
        return fam
    return (rec.get("engine") or "").strip() if label else (rec.get("source") or "").strip()


def read_rows(manifest: Path) -> list[Row]:
    """Rows of the manifest; paths resolved against its directory."""
    root = manifest.parent
    rows: list[Row] = []
    with manifest.open(newline="", encoding="utf-8") as f:
        for i, rec in enumerate(csv.DictReader(f)):
            label_text = (rec.get("label") or "").strip().lower()
            if label_text not in ("ai", "human"):
                raise ValueError(f"{manifest}:{i + 2}: label must be 'ai' or 'human', got {label_text!r}")
            label = int(label_text == "ai")
            path = Path(rec["path"])
            item = (rec.get("item") or "").strip() or rec["path"]
            rows.append(
                Row(
                    index=i,
                    path=path if path.is_absolute() else root / path,
                    label=label,
                    kind=(rec.get("kind") or "").strip(),
                    source=(rec.get("source") or "").strip(),
                    engine=(rec.get("engine") or "").strip(),
                    family=_family(rec, label) or "unknown",
                    speaker=(rec.get("speaker") or "").strip(),
                    split=(rec.get("split") or "").strip(),
                    item=item,
                    pair_id=(rec.get("pair_id") or "").strip() or item,
                )
            )
    return rows


def groups(rows: Sequence[Row]) -> tuple[list[str], list[str]]:
    """(AI families, human groups) present, sorted."""
    ai = sorted({r.family for r in rows if r.label == 1})
    human = sorted({r.family for r in rows if r.label == 0})
    return ai, human


def pair_keys(rows: Sequence[Row], group: str) -> set[str]:
    """Items and pair ids of the group's rows: anything sharing one is content-matched with G."""
    members = [r for r in rows if r.family == group]
    return {r.item for r in members} | {r.pair_id for r in members}


def is_excluded(row: Row, group: str, keys: set[str]) -> bool:
    return row.family == group or row.item in keys or row.pair_id in keys


def loso_fold(rows: Sequence[Row], group: str) -> Fold:
    """The fold that holds `group` out (see the module docstring for the rules)."""
    keys = pair_keys(rows, group)
    members = [r for r in rows if r.family == group]
    if not members:
        raise ValueError(f"no rows in group {group!r}")
    labels = {r.label for r in members}
    if len(labels) != 1:
        raise ValueError(f"group {group!r} mixes human and AI rows; families must be one class")
    g_label = labels.pop()
    kept = [r for r in rows if not is_excluded(r, group, keys)]
    fit = tuple(r.index for r in kept if r.split == "train")
    calib = tuple(r.index for r in kept if r.split == "calib")
    opposite = [r.index for r in kept if r.split == "test" and r.label != g_label]
    twins: list[int] = []
    if g_label == 0:
        items = {r.item for r in members}
        twins = [r.index for r in rows if r.label == 1 and r.pair_id in items]
    ev = tuple(sorted({r.index for r in members} | set(opposite) | set(twins)))
    fold = Fold(group, "ai" if g_label else "human", fit, calib, ev)
    check_no_leak(rows, fold)
    return fold


def in_distribution_fold(rows: Sequence[Row]) -> Fold:
    """All of train / calib / test as split by the corpus builder: the figure not used to choose."""
    by = {s: tuple(r.index for r in rows if r.split == s) for s in ("train", "calib", "test")}
    return Fold(IN_DISTRIBUTION, "in-distribution", by["train"], by["calib"], by["test"])


def loso_folds(rows: Sequence[Row], only: Iterable[str] | None = None) -> list[Fold]:
    """One fold per AI family, then one per human group (optionally a named subset)."""
    ai, human = groups(rows)
    wanted = set(only) if only else None
    if wanted is not None:
        unknown = wanted - set(ai) - set(human)
        if unknown:
            raise ValueError(f"unknown groups {sorted(unknown)}; present: {ai + human}")
    return [loso_fold(rows, g) for g in ai + human if wanted is None or g in wanted]


def check_no_leak(rows: Sequence[Row], fold: Fold) -> None:
    """Raise LeakError if a row of the held-out group, or a pair of one, is in fit or calib."""
    if fold.side == "in-distribution":
        return
    keys = pair_keys(rows, fold.group)
    for name, idx in (("fit", fold.fit), ("calib", fold.calib)):
        for i in idx:
            r = rows[i]
            if is_excluded(r, fold.group, keys):
                raise LeakError(
                    f"fold {fold.group!r}: {r.path.name} (family {r.family}, item {r.item}, "
                    f"pair {r.pair_id}) is in the {name} set"
                )


def has_both_classes(rows: Sequence[Row], idx: Iterable[int]) -> bool:
    return len({rows[i].label for i in idx}) == 2
