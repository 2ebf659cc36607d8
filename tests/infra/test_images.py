"""The container images get what they need (parsed and simulated statically; no Docker engine is used).

- every COPY source in the Dockerfile gets through .dockerignore, with every source file under it, while
  by-products (venvs, caches, egg-info, in-tree builds) and the rest of the repository stay out;
- the files the image's installs read (requirements.lock, the three pyproject.toml) get through;
- the model bundle is baked in: the wheel `pip install ./shared` builds from the build context carries every
  file of synthscope/models/default (byte for byte) and the bundled examples, and the bundle verifies; the
  service wheels provide the console scripts the targets' CMDs run.

.dockerignore is matched with Docker's rules (moby/patternmatcher), which differ from .gitignore's: patterns
are anchored at the context root, `**` spans directories, a pattern matching a directory covers everything
under it, and the last matching line wins (`!` re-includes).
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pathspec
import pytest

import synthscope
from synthscope.detect.bundle import default_bundle_path, verify_bundle

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
SERVICES = ("api", "worker")
#: What the image's pip installs read besides the package sources.
RUNTIME_INPUTS = ("requirements.lock", "shared/pyproject.toml", *(f"services/{s}/pyproject.toml" for s in SERVICES))


# --- Dockerfile --------------------------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [arg for kw, arg in self.instructions if kw == keyword]


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) in order: continuation lines joined, comments and blank lines dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return out


@cache
def dockerfile() -> tuple[dict[str, str], tuple[Stage, ...]]:
    """(global ARG defaults, stages in order)."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for keyword, args in instructions(DOCKERFILE.read_text()):
        if keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            assert len(words) in (1, 3), f"unexpected FROM {args!r}"
            stages.append(Stage(words[0], name))
        elif not stages:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            k, _, v = args.partition("=")
            global_args[k] = v
        else:
            stages[-1].instructions.append((keyword, args))
    return global_args, tuple(stages)


def stage(name: str) -> Stage:
    found = [s for s in dockerfile()[1] if s.name == name]
    assert len(found) == 1, f"the Dockerfile has {len(found)} stages named {name!r}"
    return found[0]


def chain(name: str) -> list[Stage]:
    """The stage and the stages it is built FROM, outermost base first."""
    names = {s.name for s in dockerfile()[1]}
    out = [stage(name)]
    while out[0].base in names:
        out.insert(0, stage(out[0].base))
    return out


def effective(name: str, keyword: str) -> str | None:
    """The last value of an inherited setting (USER, CMD, WORKDIR, ...) for a target."""
    values = [v for s in chain(name) for v in s.all(keyword)]
    return values[-1] if values else None


def arg_default(stage_name: str, arg: str) -> str | None:
    for s in chain(stage_name):
        for a in s.all("ARG"):
            k, _, v = a.partition("=")
            if k == arg:
                return v or None
    return None


def copy_sources() -> list[str]:
    """Sources of every COPY/ADD that reads the build context (not --from another stage)."""
    out: list[str] = []
    for s in dockerfile()[1]:
        for kw, args in s.instructions:
            if kw not in ("COPY", "ADD"):
                continue
            words = json.loads(args) if args.startswith("[") else shlex.split(args)
            if any(w.startswith("--from") for w in words):
                continue
            paths = [w for w in words if not w.startswith("--")]
            assert len(paths) >= 2, f"{kw} {args!r}"
            out += paths[:-1]
    return out


# --- .dockerignore (Docker's rules) ----------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """moby/patternmatcher's translation: `**/` any dirs (even none), `**` at the end anything, `*` and `?`
    within one path segment."""
    out, i = "^", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
            out += ".*" if i == len(pattern) else "(.*/)?"
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        elif c in "[]":
            out += c  # character classes pass through, as in Go's filepath.Match
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + "$")


@dataclass(frozen=True)
class DockerIgnore:
    patterns: tuple[tuple[bool, re.Pattern[str]], ...]  # (is a `!` exception, regex)

    @classmethod
    def parse(cls, text: str) -> DockerIgnore:
        patterns = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            if negate:
                line = line[1:].strip()
            line = posixpath.normpath(line)  # Go's filepath.Clean: "shared/" -> "shared"
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
            patterns.append((negate, _pattern_regex(line)))
        return cls(tuple(patterns))

    def excluded(self, path: str) -> bool:
        """Whether `path` (relative to the context root, `/`-separated) is left out of the build context."""
        path = posixpath.normpath(path)
        parts = path.split("/")
        candidates = [path] + ["/".join(parts[: i + 1]) for i in range(len(parts) - 1)]
        excluded = False
        for negate, regex in self.patterns:
            if any(regex.match(c) for c in candidates):
                excluded = not negate
        return excluded


@cache
def dockerignore() -> DockerIgnore:
    return DockerIgnore.parse((ROOT / ".dockerignore").read_text())


@cache
def gitignore() -> pathspec.PathSpec:
    return pathspec.GitIgnoreSpec.from_lines((ROOT / ".gitignore").read_text().splitlines())


def source_files(rel: str) -> list[str]:
    """Files under `rel` that belong to the repository (not ignored by .gitignore), without needing git."""
    base = ROOT / rel
    if base.is_file():
        return [rel]
    out = []
    for dirpath, dirnames, filenames in os.walk(base):
        d = Path(dirpath).relative_to(ROOT).as_posix()
        dirnames[:] = [n for n in dirnames if not gitignore().match_file(f"{d}/{n}/")]
        out += [f"{d}/{n}" for n in filenames if not gitignore().match_file(f"{d}/{n}")]
    return sorted(out)


def context_copy(rel: str, dest: Path) -> Path:
    """Copy what the build context holds under `rel` (every file .dockerignore lets through) to dest/rel."""
    for dirpath, _, filenames in os.walk(ROOT / rel):
        d = Path(dirpath).relative_to(ROOT)
        for n in filenames:
            if not dockerignore().excluded((d / n).as_posix()):
                (dest / d).mkdir(parents=True, exist_ok=True)
                shutil.copy2(Path(dirpath) / n, dest / d / n)
    return dest / rel


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- tests: the matcher itself ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        (["**"], "a/b/c.py", True),
        (["**", "!shared/"], "shared", False),
        (["**", "!shared/"], "shared/pkg/deep/x.py", False),  # a re-included directory covers its contents
        (["**", "!shared/"], "sharedx/y.py", True),
        (["**", "!shared/", "**/__pycache__"], "shared/pkg/__pycache__/m.cpython-311.pyc", True),
        (["**", "!shared/", "**/*.pyc"], "shared/m.pyc", True),
        (["**/*.egg-info"], "shared/synthscope.egg-info/PKG-INFO", True),
        (["*.lock"], "sub/requirements.lock", False),  # anchored at the root, unlike .gitignore
        (["*.lock"], "requirements.lock", True),
        (["/data"], "data/x", True),
        (["a?c"], "abc", True),
        (["a?c"], "a/c", False),
    ],
)
def test_dockerignore_matcher_follows_docker_rules(patterns: list[str], path: str, excluded: bool) -> None:
    assert DockerIgnore.parse("\n".join(patterns)).excluded(path) is excluded


# --- tests: the build context ----------------------------------------------------------------------------


def test_every_copy_source_gets_into_the_context() -> None:
    sources = copy_sources()
    assert sources, "no COPY from the build context"
    for src in sources:
        rel = posixpath.normpath(src)
        assert not rel.startswith(("..", "/")), f"COPY source {src} is outside the context"
        assert (ROOT / rel).exists(), f"COPY source {src} does not exist"
        assert not dockerignore().excluded(rel), f".dockerignore leaves out COPY source {src}"
        files = source_files(rel)
        assert files, f"COPY source {src} holds no files"
        left_out = [f for f in files if dockerignore().excluded(f)]
        assert not left_out, f".dockerignore leaves out files under COPY {src}: {left_out[:10]}"


def test_runtime_inputs_get_into_the_context() -> None:
    for rel in RUNTIME_INPUTS:
        assert (ROOT / rel).is_file(), rel
        assert not dockerignore().excluded(rel), f".dockerignore leaves out {rel}"
    copied = copy_sources()
    for rel in RUNTIME_INPUTS:
        assert any(rel == c or rel.startswith(c.rstrip("/") + "/") for c in copied), f"no COPY brings in {rel}"


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        "data/corpus/manifest.csv",
        "out/eval/report.json",
        "tests/conftest.py",
        "infra/terraform/main.tf",
        "shared/synthscope/__pycache__/engine.cpython-311.pyc",
        "shared/synthscope/engine.pyc",
        "shared/synthscope.egg-info/PKG-INFO",
        "shared/build/lib/synthscope/engine.py",
        "services/api/dist/synthscope_api-0.1.0-py3-none-any.whl",
        "services/worker/.pytest_cache/README.md",
    ],
)
def test_by_products_and_the_rest_of_the_repository_stay_out(path: str) -> None:
    assert dockerignore().excluded(path), f"{path} would be sent to the Docker daemon"


# --- tests: what `pip install ./shared ./services/api ./services/worker` bakes in -------------------------


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, zipfile.ZipFile]:
    """Wheels of shared/ and the services, built from a copy of the build context (as the image does)."""
    tmp = tmp_path_factory.mktemp("context")
    out = tmp / "wheels"
    srcs = {"shared": "shared", **{s: f"services/{s}" for s in SERVICES}}
    for rel in srcs.values():
        context_copy(rel, tmp / "context")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out)]
    proc = subprocess.run(
        [*cmd, *(str(tmp / "context" / rel) for rel in srcs.values())],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    dists = {"shared": "synthscope-", "api": "synthscope_api-", "worker": "synthscope_worker-"}
    found = {}
    for key, prefix in dists.items():
        (whl,) = out.glob(f"{prefix}*.whl")
        found[key] = zipfile.ZipFile(whl)
    return found


def test_model_bundle_is_baked_into_the_shared_wheel(wheels: dict[str, zipfile.ZipFile], tmp_path: Path) -> None:
    whl = wheels["shared"]
    site = Path(synthscope.__file__).resolve().parent.parent  # what the wheel's paths are relative to
    prefix = default_bundle_path().relative_to(site).as_posix()  # synthscope/models/default: where the code looks
    in_wheel = {n for n in whl.namelist() if not n.endswith("/")}
    sources = source_files(f"shared/{prefix}")
    assert f"shared/{prefix}/manifest.json" in sources and len(sources) >= 2
    for f in sources:
        name = f.removeprefix("shared/")
        assert name in in_wheel, f"{f} is not in the wheel"
        assert sha256(whl.read(name)) == sha256((ROOT / f).read_bytes()), f"{name} differs from {f}"
    manifest = json.loads(whl.read(f"{prefix}/manifest.json"))
    pinned = set(manifest["files"]) | {f for d in manifest["detectors"] for f in d.get("files", [])}
    assert {f"{prefix}/{f}" for f in pinned} <= in_wheel, "the manifest names files the wheel lacks"
    # The bundle as installed verifies (every pinned file present and matching its sha256).
    whl.extractall(tmp_path, [n for n in in_wheel if n.startswith(prefix + "/")])
    verify_bundle(tmp_path / prefix)


def test_examples_are_baked_into_the_shared_wheel(wheels: dict[str, zipfile.ZipFile]) -> None:
    whl = wheels["shared"]
    examples = ROOT / "shared" / "synthscope" / "examples"
    sources = source_files(examples.relative_to(ROOT).as_posix())
    assert any(f.endswith(".ogg") for f in sources)
    for f in sources:
        name = Path(f).relative_to("shared").as_posix()
        assert sha256(whl.read(name)) == sha256((ROOT / f).read_bytes()), f"{name} missing or different"


@pytest.mark.parametrize("service", SERVICES)
def test_service_wheel_provides_the_targets_command(service: str, wheels: dict[str, zipfile.ZipFile]) -> None:
    whl = wheels[service]
    (ep,) = [n for n in whl.namelist() if n.endswith(".dist-info/entry_points.txt")]
    scripts = re.search(r"\[console_scripts\]\n((?:[^\[].*\n?)*)", whl.read(ep).decode())
    assert scripts and re.search(rf"^synthscope-{service}\s*=", scripts.group(1), re.M)
    cmd = effective(service, "CMD")
    assert cmd and f"exec synthscope-{service} " in cmd
