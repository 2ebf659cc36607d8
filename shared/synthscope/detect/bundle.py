"""Model bundles: a directory with `manifest.json` and weight files.

Loading refuses anything it cannot vouch for: a missing or altered file (sha256),
a manifest from another format, or preprocessing constants that differ from the
code's. A model fed features computed another way would still emit confident
numbers, just wrong ones, so this must fail loudly.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from synthscope.config import SAMPLE_RATE
from synthscope.detect import acoustic, fakeprint, spectro_cnn, speech_encoder
from synthscope.detect.base import Detector
from synthscope.detect.ensemble import Ensemble
from synthscope.detect.profiles import Profile, fast_members
from synthscope.detect.verdict import Thresholds
from synthscope.errors import BundleError

FORMAT = 1
MANIFEST = "manifest.json"

#: Detectors a bundle may contain: module (for VERSION and CONSTANTS) and class (for load).
REGISTRY: dict[str, tuple[Any, Any]] = {
    spectro_cnn.NAME: (spectro_cnn, spectro_cnn.SpectroCNNDetector),
    fakeprint.NAME: (fakeprint, fakeprint.FakeprintDetector),
    acoustic.NAME: (acoustic, acoustic.AcousticDetector),
    speech_encoder.NAME: (speech_encoder, speech_encoder.SpeechEncoderDetector),
}


def default_bundle_path() -> Path:
    return Path(__file__).resolve().parent.parent / "models" / "default"


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Bundle:
    path: Path
    manifest: dict[str, Any]
    sha256: str  # of manifest.json, which pins every other file by hash
    detectors: dict[str, Detector]
    ensemble: Ensemble
    thresholds: Thresholds

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def window_s(self) -> float:
        return float(self.manifest["constants"]["window_s"])

    @property
    def profiles(self) -> dict[str, list[str]]:
        """Profile name -> detectors it runs (see `detect/profiles.py`)."""
        return profiles_of(self.manifest)

    def members(self, profile: str) -> list[str]:
        """Detectors of `profile`; raises ValueError for a profile the bundle does not define."""
        try:
            return self.profiles[profile]
        except KeyError:
            raise ValueError(f"unknown profile {profile!r}; this bundle has {sorted(self.profiles)}") from None


def profiles_of(manifest: dict[str, Any]) -> dict[str, list[str]]:
    """The manifest's profiles; a bundle without any runs everything as `default`, and `fast`
    without the encoder detectors (when that leaves something)."""
    declared = manifest.get("profiles")
    if declared:
        return {str(k): sorted(v) for k, v in declared.items()}
    everything = sorted(manifest["ensemble"]["detectors"])
    fast = fast_members(everything)
    return {Profile.default: everything, **({Profile.fast: fast} if fast else {})}


def save_bundle(
    directory: Path,
    *,
    name: str,
    version: str,
    detectors: list[Any],
    ensemble: Ensemble,
    thresholds: Thresholds,
    window_s: float,
    training_data: dict[str, Any],
    metrics: dict[str, Any] | None = None,
    profiles: dict[str, list[str]] | None = None,
) -> Path:
    """Write weights, then the manifest last: a crash mid-write leaves no valid-looking bundle."""
    tmp = directory.with_name(directory.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    entries = []
    files: dict[str, str] = {}
    for det in detectors:
        saved = det.save(tmp)
        entries.append({"name": det.name, "version": det.version, **saved})
        for f in saved["files"]:
            files[f] = sha256_file(tmp / f)
    manifest = {
        "format": FORMAT,
        "name": name,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "constants": {"sample_rate": SAMPLE_RATE, "window_s": window_s},
        "detectors": entries,
        "ensemble": ensemble.to_json(),
        "thresholds": thresholds.__dict__,
        "training_data": training_data,
        "metrics": metrics or {},
        "files": files,
    }
    if profiles:
        manifest["profiles"] = {k: sorted(v) for k, v in profiles.items()}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    if directory.exists():
        shutil.rmtree(directory)
    tmp.rename(directory)
    return directory


def update_manifest(directory: Path, **fields: Any) -> None:
    """Add results (metrics) after training; weights and their hashes are untouched."""
    path = directory / MANIFEST
    manifest = json.loads(path.read_text())
    manifest.update(fields)
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _read_manifest(path: Path) -> dict[str, Any]:
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"no {MANIFEST} in bundle {path}")
    try:
        manifest = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{mpath} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{mpath}: unsupported bundle format {manifest.get('format')!r}; expected {FORMAT}")
    for key in ("name", "version", "constants", "detectors", "ensemble", "files"):
        if key not in manifest:
            raise BundleError(f"{mpath}: missing {key!r}")
    return manifest


def verify_bundle(path: Path) -> dict[str, Any]:
    """Check hashes and constants without loading weights; return the manifest."""
    manifest = _read_manifest(path)
    for rel, digest in manifest["files"].items():
        f = path / rel
        if not f.is_file():
            raise BundleError(f"bundle file {rel} is missing")
        if sha256_file(f) != digest:
            raise BundleError(f"bundle file {rel} does not match its sha256 in the manifest (corrupt or altered)")
    if manifest["constants"].get("sample_rate") != SAMPLE_RATE:
        raise BundleError(f"bundle sample rate {manifest['constants'].get('sample_rate')} != {SAMPLE_RATE}")
    for entry in manifest["detectors"]:
        name = entry.get("name")
        if name not in REGISTRY:
            raise BundleError(f"bundle names unknown detector {name!r}")
        module = REGISTRY[name][0]
        if entry.get("version") != module.VERSION:
            raise BundleError(f"{name} weights are version {entry.get('version')}, this code runs {module.VERSION}")
        if entry.get("config", {}).get("constants") != module.CONSTANTS:
            raise BundleError(f"{name} preprocessing constants in the bundle differ from the code's")
        for rel in entry.get("files", []):
            if rel not in manifest["files"]:
                raise BundleError(f"{name} file {rel} is not pinned by a sha256 in the manifest")
    return manifest


def load_bundle(path: Path | None = None, *, device: str = "auto") -> Bundle:
    path = Path(path) if path is not None else default_bundle_path()
    if not path.is_dir():
        raise BundleError(f"model bundle directory {path} does not exist")
    manifest = verify_bundle(path)
    detectors: dict[str, Detector] = {}
    for entry in manifest["detectors"]:
        cls = REGISTRY[entry["name"]][1]
        try:
            detectors[entry["name"]] = cls.load(path, entry.get("config", {}), device)
        except Exception as exc:  # weights that hash right but do not fit the code
            raise BundleError(f"cannot load {entry['name']} weights: {exc}") from exc
    try:
        ensemble = Ensemble.from_json(manifest["ensemble"])
    except (KeyError, ValueError, TypeError) as exc:
        raise BundleError(f"ensemble section invalid: {exc}") from None
    missing = set(ensemble.detectors) - set(detectors)
    if missing:
        raise BundleError(f"ensemble uses detectors the bundle does not contain: {sorted(missing)}")
    for profile, members in profiles_of(manifest).items():
        if not members or set(members) - set(ensemble.detectors):
            raise BundleError(f"profile {profile!r} names detectors outside the ensemble: {members}")
    return Bundle(
        path=path,
        manifest=manifest,
        sha256=sha256_file(path / MANIFEST),
        detectors=detectors,
        ensemble=ensemble,
        thresholds=Thresholds.from_json(manifest.get("thresholds")),
    )
