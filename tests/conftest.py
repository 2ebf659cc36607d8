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


# --- Google Cloud emulators (gcp backends); started on first use, stopped at the end of the session ---


@pytest.fixture(scope="session")
def firestore_emu(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from tests.fixtures.gcp import firestore_emulator

    with firestore_emulator(tmp_path_factory.mktemp("firestore") / "emulator.log") as emu:
        yield emu


@pytest.fixture(scope="session")
def gcs_emu():  # type: ignore[no-untyped-def]
    from tests.fixtures.gcp import storage_emulator

    with storage_emulator("synthscope-uploads", "synthscope-results") as emu:
        yield emu


@pytest.fixture(scope="session")
def tasks_emu():  # type: ignore[no-untyped-def]
    from tests.fixtures.gcp import tasks_emulator

    with tasks_emulator() as emu:
        yield emu
