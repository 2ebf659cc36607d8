"""Users' own audio for `synthscope evaluate --files`: a CSV list, or a folder with human/ and ai/.

A team checks a detector on its own recordings before trusting it, and those recordings are
whatever it has: mixed formats, nested folders, the odd broken, empty or oddly named file.
Every file is checked here before the model sees it. One that cannot be scored is listed with
its reason; only a set that cannot be read at all (no such path, a CSV without its columns,
a label that means nothing) is an error, so a typo never turns into a silently wrong report.
"""

from __future__ import annotations

import csv
import io
import os
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from synthscope.audio.validate import SNIFF_BYTES, sniff_bytes
from synthscope.errors import SynthscopeError
from synthscope.train.evaluation.scoring import HUMAN_ENGINE, Clip, Skipped

#: Accepted spellings of the two classes (case-insensitive): 1 = AI, 0 = human.
LABELS: dict[str, int] = {"ai": 1, "fake": 1, "1": 1, "human": 0, "real": 0, "0": 0}
#: Class folders of the folder form.
CLASS_DIRS: dict[str, int] = {"human": 0, "ai": 1}
#: Group of a file listed without one (CSV) or lying directly in human/ or ai/ (folder).
UNGROUPED = "ungrouped"
#: Longer files are skipped: evaluation decodes a file whole, and two hours is ~460 MB of samples.
MAX_DURATION_S = 2 * 3600.0
#: Invisible characters that reorder text: a name holding them can disguise what it is.
_BIDI = {"\u200e", "\u200f", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))}
_MAX_LISTED = 5


class UserFilesError(ValueError):
    """The set as a whole cannot be evaluated (the CLI exits with 2)."""


@dataclass(frozen=True)
class UserFile:
    """One file that passed the checks and will be scored."""

    clip: Clip
    name: str  # as written in the CSV, or relative to the folder: what reports show
    group: str
    format: str  # the container sniffed from its bytes (mp3, wav, ...), not from its name


@dataclass
class UserSet:
    """What `--files` pointed at: the files to score and those already ruled out."""

    root: Path
    form: str  # "csv" or "folder"
    files: list[UserFile] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def clips(self) -> list[Clip]:
        return [f.clip for f in self.files]

    @property
    def n_found(self) -> int:
        return len(self.files) + len(self.skipped)

    def add(self, name: str, path: Path, label: int, group: str) -> None:
        """Check one file; keep it for scoring or record why not."""
        problem = name_problem(name)
        if problem is None:
            problem, fmt = _inspect(path)
        if problem is not None:
            self.skipped.append(Skipped(shown(name), problem))
            return
        engine = "ai" if label else HUMAN_ENGINE
        clip = Clip(path=path, label=label, kind="user", source=group, engine=engine, codec=fmt)
        self.files.append(UserFile(clip=clip, name=name, group=group, format=fmt))


def read_user_files(path: Path) -> UserSet:
    """A CSV `path,label[,group]` or a folder with human/ and ai/ subfolders, checked file by file."""
    if not path.exists():
        raise UserFilesError(f"no such file or folder: {shown(str(path))}")
    user_set = _read_folder(path) if path.is_dir() else _read_csv(path)
    if not user_set.n_found:
        raise UserFilesError(f"{shown(str(path))} lists no files")
    return user_set


def name_problem(name: str) -> str | None:
    """Why a file name cannot be reported faithfully (control, undecodable or reordering characters)."""
    if any(unicodedata.category(c) == "Cs" for c in name):
        return "hostile file name: not valid UTF-8"
    if any(unicodedata.category(c) == "Cc" for c in name):
        return "hostile file name: contains control characters"
    if any(c in _BIDI for c in name):
        return "hostile file name: contains bidirectional-override characters"
    return None


def shown(text: str) -> str:
    """The text with every unprintable character escaped, safe for a terminal, CSV or Markdown."""
    out = []
    for c in text:
        if c.isprintable() and c not in _BIDI:
            out.append(c)
        elif 0xDC80 <= ord(c) <= 0xDCFF:  # an undecodable byte, as os.fsdecode keeps it
            out.append(f"\\x{ord(c) - 0xDC00:02x}")
        else:
            out.append(f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
    return "".join(out)


def _inspect(path: Path) -> tuple[str | None, str]:
    """(why the file cannot be scored, or None; its sniffed format) from a stat and its first bytes."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return "no such file", ""
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}", ""
    if stat.S_ISDIR(st.st_mode):
        return "a folder, not a file", ""
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (device, pipe or socket)", ""
    if st.st_size == 0:
        return "empty file (0 bytes)", ""
    try:
        with path.open("rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}", ""
    try:
        return None, sniff_bytes(head).format
    except SynthscopeError as exc:
        return f"not audio: {exc.detail}", ""


def _read_csv(csv_path: Path) -> UserSet:
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UserFilesError(
            f"{shown(str(csv_path))} is not a UTF-8 CSV: pass a CSV with a header path,label[,group], "
            "or a folder holding human/ and ai/"
        ) from None
    except OSError as exc:
        raise UserFilesError(f"cannot read {shown(str(csv_path))}: {exc.strerror or exc}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), [])
        columns = [cell.strip().lower() for cell in header]
        if "path" not in columns or "label" not in columns:
            raise UserFilesError(
                f"{shown(str(csv_path))}: the first row must name the columns path,label[,group]; "
                f"found {shown(','.join(header)) or 'nothing'}"
            )
        i_path, i_label = columns.index("path"), columns.index("label")
        i_group = columns.index("group") if "group" in columns else None
        rows: list[tuple[str, int, str]] = []
        problems: list[str] = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            cells = row + [""] * (len(columns) - len(row))
            raw, label_text = cells[i_path].strip(), cells[i_label].strip()
            label = LABELS.get(label_text.lower())
            if not raw or label is None:
                what = "no path" if not raw else f"unknown label {shown(label_text)!r}" if label_text else "no label"
                problems.append(f"line {reader.line_num}: {what}")
                continue
            rows.append((raw, label, cells[i_group].strip() if i_group is not None else ""))
    except csv.Error as exc:
        raise UserFilesError(f"{shown(str(csv_path))}: not a readable CSV ({exc})") from None
    if problems:  # all of them at once, before any file is touched
        more = len(problems) - _MAX_LISTED
        listed = "; ".join(problems[:_MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")
        raise UserFilesError(f"{shown(str(csv_path))}: {listed}. Labels are human|ai, 0|1 (1 = AI) or real|fake.")
    user_set = UserSet(root=csv_path, form="csv")
    for raw, label, group in rows:
        full = Path(raw) if Path(raw).is_absolute() else csv_path.parent / raw
        user_set.add(raw, full, label, shown(group) or UNGROUPED)
    return user_set


def _read_folder(root: Path) -> UserSet:
    try:
        children = sorted(root.iterdir())
    except OSError as exc:
        raise UserFilesError(f"cannot list {shown(str(root))}: {exc.strerror or exc}") from None
    classes = [(c, CLASS_DIRS[c.name.lower()]) for c in children if c.name.lower() in CLASS_DIRS and c.is_dir()]
    if not classes:
        raise UserFilesError(
            f"{shown(str(root))} has no human/ or ai/ subfolder: put the files in human/ and ai/ "
            "(subfolders below them become groups), or pass a CSV path,label[,group]"
        )
    user_set = UserSet(root=root, form="folder")

    def unreadable(exc: OSError) -> None:
        rel = os.path.relpath(exc.filename, root) if exc.filename else str(root)
        user_set.skipped.append(Skipped(shown(rel), f"folder unreadable: {exc.strerror or exc}"))

    for class_dir, label in classes:
        # Symlinked folders are not followed (no loops, no escaping the set); hidden entries are not files.
        for dirpath, dirnames, filenames in os.walk(class_dir, onerror=unreadable):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for filename in sorted(filenames):
                if filename.startswith("."):
                    continue
                full = Path(dirpath) / filename
                inner = full.relative_to(class_dir).parts
                group = inner[0] if len(inner) > 1 else UNGROUPED
                user_set.add(full.relative_to(root).as_posix(), full, label, shown(group))
    if not user_set.n_found:
        raise UserFilesError(f"{shown(str(root))}: human/ and ai/ hold no files")
    return user_set
