"""Getting sources onto the machine: Debian data packages into a cache, engines via apt and pip.

Data packages are downloaded and unpacked, never installed (they are only read); TTS engines and
voices are installed when missing, at planning time, so worker processes find them ready.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

#: Versions the corpus was checked with; pip installs are constrained to them when present.
CORPUS_LOCK = Path(__file__).resolve().parents[4] / "requirements-corpus.lock"


def fetch_deb(pkg: str, cache: Path) -> Path:
    """`apt-get download` + `dpkg-deb -x` a data package into cache/pkgs/PKG (once)."""
    root = cache / "pkgs" / pkg
    done = root / ".extracted"
    if done.exists():
        return root
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{pkg}_*.deb"))
    if not found:
        cmd = ["apt-get", "download", pkg]
        r = subprocess.run(cmd, cwd=debs, capture_output=True, text=True)
        if r.returncode != 0:  # stale lists: refresh once and retry
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
            subprocess.run(cmd, cwd=debs, check=True, capture_output=True)
        found = sorted(debs.glob(f"{pkg}_*.deb"))
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(root)], check=True)
    done.touch()
    return root


def ensure_apt(pkgs: Iterable[str]) -> None:
    """Install Debian packages (TTS engines and voices) that are not installed yet."""
    missing = []
    for p in pkgs:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True)
        if "install ok installed" not in r.stdout:
            missing.append(p)
    if not missing:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        subprocess.run(cmd, env=env, check=True, capture_output=True)


def ensure_pip(modules: dict[str, str]) -> None:
    """pip-install PyPI packages (module name -> distribution) into this interpreter if missing."""
    missing = [dist for mod, dist in modules.items() if importlib.util.find_spec(mod) is None]
    if missing:
        cmd = [sys.executable, "-m", "pip", "install", "-q", *missing]
        if CORPUS_LOCK.exists():  # pin to the versions the project was checked with
            cmd += ["-c", str(CORPUS_LOCK)]
        subprocess.run(cmd, check=True)
        importlib.invalidate_caches()
