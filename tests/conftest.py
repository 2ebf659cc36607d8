"""Shared fixtures: a tiny corpus and a bundle trained on it once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthscope.config import Settings
from tests.fixtures.audio import tiny_corpus


@pytest.fixture(scope="session")
def tiny_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def tiny_bundle(tiny_manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from synthscope.train.fit import train_bundle

    out = tmp_path_factory.mktemp("bundles") / "tiny"
    return train_bundle(tiny_manifest, out, cnn_epochs=2, acoustic_epochs=15, log=lambda _: None)


@pytest.fixture(scope="session")
def engine(tiny_bundle: Path):  # type: ignore[no-untyped-def]
    from synthscope.engine import Engine

    return Engine.load(Settings(device="cpu"), tiny_bundle)
