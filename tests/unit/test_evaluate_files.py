"""`synthscope evaluate --files`: a user's own folder or CSV scored with the shipped bundle.

The sets are generated here: espeak-ng speech as AI, `voice_like` signals as human, in wav,
mp3, flac and ogg, plus the files a real folder holds by accident (corrupt, empty, not audio,
too short, a name with control characters). What is asserted is the contract: outputs exist,
every bad file is listed with its reason and never crashes the run, counts add up, figures are
numbers in range, and a set that cannot be read exits with 2.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from synthscope.cli import app
from synthscope.train.evaluation.user_files import read_user_files
from tests.fixtures.audio import espeak, tone, voice_like, write_audio

#: A name that looks like shell and Rich markup: harmless (no shell is ever run), scored, shown literally.
ODD_NAME = "x;rm -rf ~ $(id) [bold red]oops.wav"
#: A name with a bell and a terminal escape: cannot be shown faithfully, so it is skipped.
HOSTILE_NAME = "bell\x07\x1b[2Jclear.wav"
SENTENCES = [
    "Please hold while we connect your call.",
    "The meeting has been moved to Thursday afternoon.",
    "Your package will arrive within three business days.",
    "Remember to water the plants before you leave.",
]


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["evaluate", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def _corrupt_mp3(path: Path, rng: np.random.Generator) -> Path:
    """A real MP3 header followed by noise: passes the content sniff, fails in the decoder."""
    write_audio(path, voice_like(4.0, rng))
    data = bytearray(path.read_bytes())
    data[2000:] = rng.bytes(len(data) - 2000)
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(7)
    root = tmp_path_factory.mktemp("user") / "my set"
    human = [
        "human/studio/a.wav",
        "human/studio/b.flac",
        "human/phone/c.mp3",
        "human/phone/d.ogg",
        "human/e.wav",
    ]
    for rel in human:
        write_audio(root / rel, voice_like(float(rng.uniform(4.0, 6.0)), rng))
    ai = ["ai/espeak/f.wav", "ai/espeak/g.mp3", "ai/h.flac", "ai/nested/deeper/i.ogg", f"ai/{ODD_NAME}"]
    for k, rel in enumerate(ai):
        write_audio(root / rel, espeak(SENTENCES[k % len(SENTENCES)], ["en-us", "en-gb"][k % 2]))
    write_audio(root / "human" / HOSTILE_NAME, voice_like(4.0, rng))
    _corrupt_mp3(root / "human/phone/corrupt.mp3", rng)
    (root / "human/empty.wav").write_bytes(b"")
    (root / "ai/[blink]notes.mp3").write_text("<html>not audio</html>\n" * 20)
    write_audio(root / "ai/short.wav", tone(0.4))
    (root / "ai/.DS_Store").write_bytes(b"\0\1junk")  # hidden: not part of the set
    return root


def test_folder_outputs_counts_and_reasons(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    code, output = run_cli("--files", str(folder), "--out", str(out))
    assert code == 0, output
    for name in ("metrics.json", "scores.csv", "report.md"):
        assert (out / name).stat().st_size > 0
    for png in ("roc.png", "det.png", "reliability.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"

    m = json.loads((out / "metrics.json").read_text())
    reasons = {s["path"]: s["reason"] for s in m["skipped"]}
    assert reasons["human/empty.wav"].startswith("empty file")
    assert reasons["ai/[blink]notes.mp3"].startswith("not audio")
    assert reasons["human/phone/corrupt.mp3"].startswith("CorruptAudio")
    assert reasons["ai/short.wav"].startswith("too short")
    assert reasons["human/bell\\x07\\x1b[2Jclear.wav"] == "hostile file name: contains control characters"
    assert len(reasons) == 5
    # 10 good files + 5 bad; 13 pass the pre-checks (corrupt and short only fail while scoring).
    assert (m["n_files"], m["n_clips"], m["n_scored"]) == (15, 12, 10)
    assert (m["overall"]["n"], m["overall"]["n_ai"], m["overall"]["n_human"]) == (10, 5, 5)
    assert m["codecs"] == ["wav"] and m["warnings"] == []
    for key in ("eer", "auc", "accuracy", "ece", "fpr", "fnr"):
        assert 0.0 <= m["overall"][key] <= 1.0, key
    assert set(m["by_group"]) == {"studio", "phone", "ungrouped", "espeak", "nested"}
    assert set(m["by_format"]) == {"wav", "mp3", "flac", "ogg"}
    assert m["by_group"]["nested"]["n_ai"] == 1 and m["by_group"]["phone"]["n_human"] == 2

    with (out / "scores.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12  # one condition: every readable file once, unscored ones with an empty p_ai
    by_path = {r["path"]: r for r in rows}
    assert float(by_path[f"ai/{ODD_NAME}"]["p_ai"]) >= 0.0 and by_path["ai/short.wav"]["p_ai"] == ""
    assert by_path["human/phone/d.ogg"]["group"] == "phone" and by_path["human/phone/d.ogg"]["format"] == "ogg"

    report = (out / "report.md").read_text()
    assert "## Skipped files" in report and "empty file" in report and "By group" in report
    # Names are data: a markup-like name is printed literally, the escape sequence never reaches the terminal.
    assert "ai/[blink]notes.mp3: not audio" in output and "\x1b[2J" not in output and "\x07" not in output
    assert "5 file(s) not scored" in output


def test_csv_relative_paths_groups_and_label_spellings(folder: Path, tmp_path: Path) -> None:
    lists = tmp_path / "lists"
    lists.mkdir()
    rows = [
        ("path", "label", "group"),
        (f"../../{folder.parent.name}/{folder.name}/human/studio/a.wav", "real", "studio"),
        (str(folder / "human/phone/c.mp3"), "0", "phone"),
        (str(folder / "ai/espeak/f.wav"), "FAKE", "espeak"),
        (str(folder / "ai/h.flac"), "1", ""),
        (str(folder / "human/empty.wav"), "human", "studio"),
        ("missing.wav", "ai", "espeak"),
        ("../x;rm -rf.wav", "ai", ""),  # never reaches a shell: just a path that does not exist
    ]
    sheet = lists / "set.csv"
    with sheet.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    # The relative row is resolved against the CSV's folder, not the working directory.
    assert (lists / rows[1][0]).resolve() == (folder / "human/studio/a.wav").resolve()
    out = tmp_path / "eval"
    code, output = run_cli("--files", str(sheet), "--out", str(out), "--codecs", "wav,tel_8k")
    assert code == 0, output
    m = json.loads((out / "metrics.json").read_text())
    assert m["form"] == "csv" and m["codecs"] == ["wav", "tel_8k"]
    assert (m["n_files"], m["n_clips"], m["n_scored"]) == (7, 4, 4)
    assert {s["path"]: s["reason"] for s in m["skipped"]} == {
        str(folder / "human/empty.wav"): "empty file (0 bytes)",
        "missing.wav": "no such file",
        "../x;rm -rf.wav": "no such file",
    }
    assert set(m["by_group"]) == {"studio", "phone", "espeak", "ungrouped"}
    assert (m["overall"]["n_ai"], m["overall"]["n_human"]) == (2, 2)
    assert 0.0 <= m["overall"]["auc"] <= 1.0 and 0.0 <= m["by_codec"]["tel_8k"]["eer"] <= 1.0
    assert len((out / "scores.csv").read_text().splitlines()) == 1 + 4 * 2


def test_one_class_still_scores_and_says_why_no_auc(folder: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "ai_only.csv"
    sheet.write_text(f"path,label\n{folder / 'ai/espeak/f.wav'},ai\n{folder / 'ai/espeak/g.mp3'},ai\n")
    out = tmp_path / "eval"
    code, output = run_cli("--files", str(sheet), "--out", str(out))
    assert code == 0, output
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_scored"] == 2 and m["overall"]["auc"] is None and m["overall"]["eer"] is None
    assert 0.0 <= m["overall"]["accuracy"] <= 1.0
    assert "AUC and EER need both" in m["warnings"][0] and "AUC and EER need both" in output
    assert "AUC and EER need both" in (out / "report.md").read_text()
    with (out / "scores.csv").open(newline="") as f:
        assert [0.0 <= float(r["p_ai"]) <= 1.0 for r in csv.DictReader(f)] == [True, True]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("file,class\na.wav,ai\n", "path,label"),
        ("path,label\na.wav,maybe\nb.wav,\n", "unknown label 'maybe'"),
        ("path;label\na.wav;ai\n", "path,label"),
    ],
)
def test_bad_csv_exits_2(tmp_path: Path, content: str, message: str) -> None:
    sheet = tmp_path / "bad.csv"
    sheet.write_text(content)
    code, output = run_cli("--files", str(sheet), "--out", str(tmp_path / "o"))
    assert code == 2 and message in output
    assert not (tmp_path / "o").exists()


def test_unknown_labels_are_all_listed_with_lines(tmp_path: Path) -> None:
    sheet = tmp_path / "bad.csv"
    sheet.write_text("path,label\na.wav,maybe\nb.wav,\nc.wav,ai\n")
    code, output = run_cli("--files", str(sheet))
    assert code == 2
    assert "line 2: unknown label 'maybe'" in output and "line 3: no label" in output


def test_usage_errors_exit_2(folder: Path, tmp_path: Path) -> None:
    code, output = run_cli("--files", str(tmp_path / "nowhere"))
    assert code == 2 and "no such file or folder" in output
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.wav").write_bytes(b"RIFF")
    code, output = run_cli("--files", str(tmp_path / "flat"))
    assert code == 2 and "human/" in output
    code, output = run_cli("--files", str(folder), "--manifest", "data/corpus/manifest.csv")
    assert code == 2 and "--manifest" in output
    code, output = run_cli("--files", str(folder), "--codecs", "wav,vinyl")
    assert code == 2 and "vinyl" in output


def test_reader_checks_files_without_the_model(folder: Path) -> None:
    user_set = read_user_files(folder)
    assert user_set.form == "folder" and user_set.n_found == 15
    names = {f.name for f in user_set.files}
    assert "ai/nested/deeper/i.ogg" in names and "ai/.DS_Store" not in names
    nested = next(f for f in user_set.files if f.name == "ai/nested/deeper/i.ogg")
    assert (nested.group, nested.format, nested.clip.label) == ("nested", "ogg", 1)
