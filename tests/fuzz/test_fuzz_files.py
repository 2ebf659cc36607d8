"""Issue 12, item 2: a few hundred malformed files through the engine and POST /analyze, every one judged.

Each path gets the same cases (`FuzzCorpus(SEED)`); a failure lists the case names, which carry their class and
index, so `FuzzCorpus(SEED).case(i)` rebuilds the file. `make fuzz` runs the same harness on 10 000 files.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from synthscope.audio.decode import AudioStream
from synthscope.engine import Engine
from synthscope.errors import AudioTooLong
from synthscope.reports.schema import Verdict
from synthscope_api.app import create_app
from tests.fuzz import Outcome, run_api, run_engine
from tests.fuzz.generate import (
    BAD_NAME,
    EMPTY,
    FINITE,
    FREE_LIMIT_S,
    INVALID,
    KINDS,
    MAX_CASE_BYTES,
    RESULT,
    SCHEDULE,
    TOO_LONG,
    Case,
    FuzzCorpus,
    disk_name,
    flac_bomb,
)
from tests.integration.test_api import make_settings, token

SEED = 12
N_FILES = 16 * len(SCHEDULE)  # 304: every class at least 16 times
#: Far above any case's real cost (tens of ms; a bomb's capped decode well under a second): a hang, not noise.
MAX_SECONDS_PER_FILE = 30.0
#: The engine's own cap here: any cap stops a bomb (each outlasts the free tier); a low one keeps a DC bomb's
#: judged windows few. /analyze runs at the free tier's limit.
ENGINE_LIMIT_S = 60.0


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Each file is one window: a second intra-op thread buys nothing, and on two busy cores its spin-waits made
    this module 10x slower (247 s against 20 s, measured at load 6). Restored for the modules after this one."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return list(FuzzCorpus(SEED).cases(N_FILES))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, tiny_bundle: Path) -> Iterator[TestClient]:
    """The real API app on the local backends; a 500 comes back as a response instead of re-raising here."""
    settings = make_settings(tmp_path_factory.mktemp("fuzz-api"), tiny_bundle)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _report(cases: list[Case], outcomes: list[Outcome]) -> str:
    bad = [(i, c, o) for i, (c, o) in enumerate(zip(cases, outcomes, strict=True)) if o.violation]
    lines = [f"{len(bad)} of {len(cases)} files broke the contract (FuzzCorpus({SEED}).case(index) rebuilds one):"]
    lines += [f"- index {i} [{c.kind}] {c.name[:120]!r}: {o.label}\n    {o.violation}" for i, c, o in bad[:15]]
    return "\n".join(lines)


def _check(cases: list[Case], outcomes: list[Outcome]) -> None:
    assert not any(o.violation for o in outcomes), _report(cases, outcomes)
    labels = Counter(o.label.split(":", 1)[0] for o in outcomes)
    assert labels["result"] > 0 and labels["problem"] > 0, labels  # the run judged files both ways: not vacuous
    slowest = max(zip(outcomes, cases, strict=True), key=lambda oc: oc[0].seconds)
    assert slowest[0].seconds < MAX_SECONDS_PER_FILE, f"{slowest[1].name}: {slowest[0].seconds:.1f} s"


def test_the_generator_is_deterministic_small_and_covers_every_class(cases: list[Case]) -> None:
    again = FuzzCorpus(SEED)
    for i in (0, 1, 5, 16, 17, len(SCHEDULE) + 3, N_FILES - 1):
        assert again.case(i) == cases[i], i
    other = FuzzCorpus(SEED + 1)
    assert sum(other.case(i).data != cases[i].data for i in range(40)) > 30  # empty files are alike, little else
    assert Counter(c.kind for c in cases).keys() == set(KINDS)
    assert {c.expect for c in cases} >= {RESULT, EMPTY, TOO_LONG, INVALID, FINITE, BAD_NAME}  # each pinned outcome
    assert all(len(c.data) <= MAX_CASE_BYTES for c in cases)
    assert len({disk_name(c, i) for i, c in enumerate(cases)}) == len(cases)


def test_the_bomb_is_tiny_and_outlasts_the_free_tier() -> None:
    data = flac_bomb(FREE_LIMIT_S + 60, claimed=16000)  # and its header says one second
    assert len(data) < 8 * 1024
    with AudioStream(io.BytesIO(data)) as stream:
        seconds = sum(chunk.size for chunk in stream) / stream.info.output_rate
    assert seconds > FREE_LIMIT_S + 59
    with pytest.raises(AudioTooLong), AudioStream(io.BytesIO(data), max_duration_s=FREE_LIMIT_S) as capped:
        for _ in capped:
            pass


def test_a_constant_dc_file_gets_no_verdict(engine: Engine, tmp_path: Path) -> None:
    """Found by the fuzzer: a 146-byte FLAC holding 30 s of one constant sample value is no audio at all, yet its
    windows were scored (the shipped bundle called it human, P(ai) 0.22) and a DC bomb cost a full analysis. The gate
    now measures loudness without the mean."""
    path = tmp_path / "dc.flac"
    path.write_bytes(flac_bomb(30.0, value=8000))
    result = engine.analyze(path)
    assert result.verdict is Verdict.not_applicable, (result.verdict, result.ai_probability)


def test_the_engine_returns_a_result_or_a_typed_error(engine: Engine, cases: list[Case], tmp_path: Path) -> None:
    outcomes = [
        run_engine(engine, c, tmp_path / disk_name(c, i), max_duration_s=ENGINE_LIMIT_S) for i, c in enumerate(cases)
    ]
    _check(cases, outcomes)


def test_analyze_answers_a_result_or_a_4xx_problem(client: TestClient, cases: list[Case]) -> None:
    auth = token(client)  # anonymous: the free tier, so its duration limit is the one the bombs must hit
    outcomes = [run_api(client, auth, c) for c in cases]
    _check(cases, outcomes)
