"""Corpus sources: registry, file rendering, the extended decoder, planning and Kokoro blends.

Every fixture is generated here (tones, noise, fake package trees); nothing is downloaded.
"""

from __future__ import annotations

import gzip
import pickle
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from synthscope.audio.decode import decode_all
from synthscope.train.sources import (
    AI,
    HUMAN,
    MUSIC,
    REGISTRY,
    SPEECH,
    Item,
    PlanContext,
    tts_espeak,
    tts_festival,
    tts_flite,
    tts_kokoro,
    tts_piper,
)
from synthscope.train.sources.budget import Voice, tts_items
from synthscope.train.sources.files import ChannelVariants, FilesSpec
from synthscope.train.sources.human_music import plan_moh
from synthscope.train.sources.human_speech import plan_asterisk, plan_hedgewars_voices, plan_klettres
from synthscope.train.sources.text import asterisk_prompts, prompt_sentences

HUMAN_SOURCES = {
    "asterisk",
    "fillets-cs",
    "fillets-nl",
    "klettres",
    "hedgewars-voices",
    "hedgewars-music",
    "fretsonfire",
    "fillets-music",
    "asterisk-moh",
}
AI_SOURCES = {"espeak-ng", "flite", "festival", "piper", "kokoro", "nanotts"}
TWIN_SOURCES = {"hifigan-lectura", "hifigan-ts", "world", "griffinlim"}


def _tone(freq: float, dur: float, sr: int) -> np.ndarray:
    t = np.arange(int(dur * sr)) / sr
    return (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _steps(sr: int, freqs: tuple[float, ...] = (300.0, 700.0, 1100.0, 1500.0)) -> np.ndarray:
    """One second per frequency: an excerpt's content tells where it was cut from."""
    return np.concatenate([_tone(f, 1.0, sr) for f in freqs])


def _peak_hz(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / sr)[int(np.argmax(spec))])


def _ctx(cache: Path, budget: float = 1e9) -> PlanContext:
    return PlanContext(cache=cache, budget_s=budget, rng=np.random.default_rng(0), seed=0)


def _write_g722(path: Path, x: np.ndarray, sr: int = 16000) -> Path:
    pcm = (np.clip(x, -1, 1) * 32767).astype(np.int16)
    with av.open(str(path), "w", format="g722") as c:
        stream = c.add_stream("g722", rate=sr)
        stream.layout = "mono"  # type: ignore[union-attr]
        frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
        frame.sample_rate = sr
        for packet in [*stream.encode(frame), *stream.encode(None)]:  # type: ignore[union-attr]
            c.mux(packet)
    return path


def _pkg(cache: Path, name: str) -> Path:
    root = cache / "pkgs" / name
    root.mkdir(parents=True)
    (root / ".extracted").touch()
    return root


# --------------------------------------------------------------------------------------------
# Registry


def test_registry_names_labels_kinds() -> None:
    assert set(REGISTRY) == HUMAN_SOURCES | AI_SOURCES | TWIN_SOURCES
    for name, src in REGISTRY.items():
        assert src.name == name
        assert src.label == (HUMAN if name in HUMAN_SOURCES else AI)
        assert src.derived == (name in TWIN_SOURCES)
        assert src.kind in ((SPEECH, MUSIC) if name not in TWIN_SOURCES else (f"{SPEECH}+{MUSIC}",))
    assert {n for n, s in REGISTRY.items() if s.kind == MUSIC} == {
        "hedgewars-music",
        "fretsonfire",
        "fillets-music",
        "asterisk-moh",
    }


def test_tts_voice_families_and_groups() -> None:
    assert {v.family for v in tts_espeak.VOICES} == {"espeak"}
    assert {v.family for v in tts_flite.VOICES} == {"flite"}
    assert {v.family for v in tts_piper.VOICES} == {"piper"}
    assert {v.family for v in tts_kokoro.VOICES} == {"kokoro"}
    hts = {v.vid for v in tts_festival.VOICES if v.family == "festival-hts"}
    assert hts == {"cmu_us_slt_arctic_hts", "upc_ca_ona_hts"}
    assert {v.family for v in tts_festival.VOICES} == {"festival-hts", "festival-diphone"}
    # exactly the allowed festvox voices (13), and the old non-allowed extras are gone
    assert len({v.vid for v in tts_festival.VOICES}) == 13
    # one person, one split group across engines
    flite_groups = {v.vid: v.group for v in tts_flite.VOICES}
    fest_groups = {v.vid: v.group for v in tts_festival.VOICES}
    assert flite_groups["kal"] == flite_groups["kal16"] == fest_groups["kal_diphone"]
    assert flite_groups["slt"] == fest_groups["cmu_us_slt_arctic_hts"]


def test_tts_items_spread_budget_over_voices() -> None:
    voices = [Voice("a", "voice:a", "en", "fam-a"), Voice("b", "voice:b", "xx", "fam-b")]
    pools = {"en": [f"english sentence number {i}" for i in range(50)], "xx": [f"other {i} text" for i in range(50)]}
    items = tts_items("eng", "pkg", voices, _ctx(Path("."), budget=40.0), pools.__getitem__, lambda v, t: FilesSpec(()))
    for v in voices:
        mine = [it for it in items if it.speaker == f"eng:{v.vid}"]
        spent = sum(it.est_s for it in mine)
        assert 20.0 <= spent < 20.0 + max(it.est_s for it in mine)  # half the budget each
        assert {it.family for it in mine} == {v.family} and {it.group for it in mine} == {v.group}
        assert all(it.text in pools[v.lang] and it.label == AI for it in mine)
    assert len({it.key for it in items}) == len(items)


# --------------------------------------------------------------------------------------------
# The extended decoder


def test_decode_all_sample_rate_and_native(tmp_path: Path) -> None:
    p = tmp_path / "a.wav"
    sf.write(p, _tone(440.0, 2.0, 44100), 44100)
    assert decode_all(p).size == 32000  # default unchanged: 16 kHz
    assert decode_all(p, sample_rate=22050).size == 44100
    assert decode_all(p, sample_rate=None).size == 88200  # the file's own rate


def test_decode_all_raw_g722(tmp_path: Path) -> None:
    x = _tone(440.0, 2.0, 16000)
    p = _write_g722(tmp_path / "a.g722", x)
    y = decode_all(p, format="g722")
    assert abs(y.size - x.size) <= 160
    assert abs(_peak_hz(y[4000:20000], 16000) - 440.0) < 5
    assert 0.3 < np.abs(y).max() < 0.6
    assert decode_all(p, format="g722", sample_rate=8000).size == pytest.approx(x.size / 2, abs=80)


# --------------------------------------------------------------------------------------------
# FilesSpec


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg"])
def test_files_spec_whole_and_excerpt(tmp_path: Path, suffix: str) -> None:
    p = tmp_path / f"steps{suffix}"
    sf.write(p, _steps(44100), 44100)
    whole = FilesSpec((str(p),)).render("", 16000)
    assert abs(whole.size - 64000) <= 400
    cut = FilesSpec((str(p),), offset=1.25, duration=1.5).render("", 16000)
    assert cut.size == 24000
    assert abs(_peak_hz(cut[:8000], 16000) - 700.0) < 10  # cut at 1.25 s: the second tone
    assert abs(_peak_hz(cut[-8000:], 16000) - 1100.0) < 10
    assert FilesSpec((str(p),), offset=1.0, duration=1.0).render("", 22050).size == 22050


def test_files_spec_pack_crossfades_without_silence(tmp_path: Path) -> None:
    sr = 22050
    rng = np.random.default_rng(0)
    paths = []
    for i, f in enumerate((300.0, 900.0, 1500.0)):
        p = tmp_path / f"c{i}.wav"
        room = [(1e-3 * rng.standard_normal(int(0.5 * sr))).astype(np.float32) for _ in range(2)]
        sf.write(p, np.concatenate([room[0], _tone(f, 0.6, sr), room[1]]), sr, subtype="FLOAT")
        paths.append(str(p))
    y = FilesSpec(tuple(paths), pack=True).render("", 16000)
    assert 3 * 0.6 * 16000 <= y.size < 3 * 1.0 * 16000  # quiet edges trimmed, a little room tone kept
    zero = np.flatnonzero(np.abs(y) < 1e-7)
    runs = np.split(zero, np.flatnonzero(np.diff(zero) != 1) + 1) if zero.size else []
    assert max((len(r) for r in runs), default=0) < 5  # no digital silence inserted between clips
    plain = FilesSpec(tuple(paths)).render("", 16000)
    assert plain.size == pytest.approx(3 * 1.6 * 16000, abs=300)


def test_files_spec_mixes_stems(tmp_path: Path) -> None:
    a, b = tmp_path / "song.ogg", tmp_path / "guitar.ogg"
    sf.write(a, _tone(300.0, 3.0, 44100), 44100)
    sf.write(b, _tone(1200.0, 3.0, 44100), 44100)
    y = FilesSpec((str(a), str(b)), offset=1.0, duration=1.0, mix=True).render("", 16000)
    assert y.size == 16000
    mag = np.abs(np.fft.rfft(y))
    freqs = np.fft.rfftfreq(y.size, 1 / 16000)
    assert mag[np.argmin(np.abs(freqs - 300))] > 0.3 * mag.max()
    assert mag[np.argmin(np.abs(freqs - 1200))] > 0.3 * mag.max()


def test_channel_variants_pick_by_key(tmp_path: Path) -> None:
    wav, g722 = tmp_path / "p.wav", tmp_path / "p.g722"
    sf.write(wav, _tone(500.0, 1.0, 8000), 8000)
    _write_g722(g722, _tone(500.0, 1.0, 16000))
    variants = (FilesSpec((str(g722),), fmt="g722"), FilesSpec((str(wav),)))
    chosen = {ChannelVariants(f"k{i}", variants).chosen.fmt for i in range(20)}
    assert chosen == {"g722", None}  # both encodings are used across items
    spec = ChannelVariants("k1", variants)
    assert spec.chosen == ChannelVariants("k1", variants).chosen  # a function of the key
    y = spec.render("", 16000)
    assert abs(y.size - 16000) <= 200 and abs(_peak_hz(y, 16000) - 500) < 10
    assert pickle.loads(pickle.dumps(spec)) == spec


# --------------------------------------------------------------------------------------------
# Human planning on fake package trees (the keys are resume keys: their format must not change)


def test_hedgewars_and_klettres_keys_families(tmp_path: Path) -> None:
    voices = _pkg(tmp_path, "hedgewars-data") / "usr/share/games/hedgewars/Data/Sounds/voices"
    for d in ("Default_es", "Robot", "Classic"):
        (voices / d).mkdir(parents=True)
        for i in range(4):
            sf.write(voices / d / f"w{i}.ogg", _tone(200.0 + 50 * i, 2.0, 44100), 44100)
    items = plan_hedgewars_voices(_ctx(tmp_path))
    assert sorted(it.key for it in items) == [
        "hedgewars-data__hedgewars-Classic__0000",
        "hedgewars-data__hedgewars-Classic__0001",
        "hedgewars-data__hedgewars-Default_es__0000",
        "hedgewars-data__hedgewars-Default_es__0001",
    ]  # Robot dropped; 2-s clips packed by three (≥ 5 s)
    es = next(it for it in items if it.key.endswith("Default_es__0000"))
    assert (es.lang, es.group, es.family, es.pool) == (
        "es",
        "hedgewars:Default",
        "hedgewars-voices",
        "hedgewars-voices",
    )
    assert isinstance(es.spec, FilesSpec) and es.spec.pack and len(es.spec.paths) == 3

    kl = _pkg(tmp_path, "klettres-data") / "usr/share/klettres"
    (kl / "en_GB" / "alpha").mkdir(parents=True)
    for i in range(2):
        sf.write(kl / "en_GB" / "alpha" / f"{i}.ogg", _tone(400.0, 6.0, 44100), 44100)
    k = plan_klettres(_ctx(tmp_path))
    assert [it.key for it in k] in (
        ["klettres-data__klettres-en_GB__0000", "klettres-data__klettres-en_GB__0001"],
        ["klettres-data__klettres-en_GB__0001", "klettres-data__klettres-en_GB__0000"],
    )
    assert {(it.speaker, it.lang, it.family) for it in k} == {("klettres:en", "en_GB", "klettres")}


def test_budget_is_respected(tmp_path: Path) -> None:
    root = _pkg(tmp_path, "asterisk-moh-opsound-g722") / "usr/share/asterisk/moh"
    root.mkdir(parents=True)
    for name in ("a", "b"):
        _write_g722(root / f"{name}.g722", _tone(300.0, 60.0, 16000))
    everything = plan_moh(_ctx(tmp_path))
    some = plan_moh(_ctx(tmp_path, budget=25.0))
    assert len(everything) == 10 and {it.family for it in everything} == {"asterisk-moh"}
    assert 25.0 <= sum(it.est_s for it in some) < 35.0
    assert {it.speaker for it in some} == {"asterisk-moh:a", "asterisk-moh:b"}  # balanced
    assert {it.key for it in everything} >= {"asterisk-moh-opsound-g722__a__00002"}
    y = some[0].spec.render("", 16000)
    assert y.size == 160000


def test_asterisk_one_item_both_channels_with_transcript(tmp_path: Path) -> None:
    names = {"vm-goodbye": 3.0, "vm-intro": 6.0, "beep": 0.5}
    for lang, voice in (("en", "en_US_f_Allison"), ("es", "es_MX_f_Allison"), ("fr", "fr_CA_f_June")):
        g = _pkg(tmp_path, f"asterisk-core-sounds-{lang}-g722") / "usr/share/asterisk/sounds" / voice
        w = _pkg(tmp_path, f"asterisk-core-sounds-{lang}-wav") / "usr/share/asterisk/sounds" / voice
        (g / "digits").mkdir(parents=True)
        (w / "digits").mkdir(parents=True)
        for n, d in {**names, "digits/1": 1.0}.items():
            _write_g722(g / f"{n}.g722", _tone(440.0, d, 16000))
            sf.write(w / f"{n}.wav", _tone(440.0, d, 8000), 8000, subtype="PCM_16")
        doc = _pkg(tmp_path, f"asterisk-core-sounds-{lang}") / f"usr/share/doc/asterisk-core-sounds-{lang}"
        doc.mkdir(parents=True)
        text = "; Core\n\nbeep: [a beep]\ndigits/1: one\nvm-goodbye: Goodbye *\nvm-intro: Please leave a message.\n"
        (doc / f"core-sounds-{lang}.txt.gz").write_bytes(gzip.compress(text.encode()))
    for lang in ("it", "ru"):  # empty prompt sets
        _pkg(tmp_path, f"asterisk-core-sounds-{lang}-g722")
        _pkg(tmp_path, f"asterisk-core-sounds-{lang}-wav")
        doc = _pkg(tmp_path, f"asterisk-core-sounds-{lang}") / f"usr/share/doc/asterisk-core-sounds-{lang}"
        doc.mkdir(parents=True)
        (doc / f"core-sounds-{lang}.txt.gz").write_bytes(gzip.compress(b""))

    items = plan_asterisk(_ctx(tmp_path))
    assert len(items) == 3 * 2  # per language: the digits folder, and the two prompts (beep dropped)
    assert {it.family for it in items} == {"asterisk"}
    assert {it.group for it in items if it.lang in ("en", "es")} == {"asterisk:allison"}
    for it in items:
        assert isinstance(it.spec, ChannelVariants) and len(it.spec.variants) == 2
        g722, wav = it.spec.variants
        assert [Path(p).stem for p in g722.paths] == [Path(p).stem for p in wav.paths]
        assert g722.fmt == "g722" and wav.fmt is None
    en = next(it for it in items if it.lang == "en" and "digits" not in it.key)
    assert en.text == "Goodbye star. Please leave a message."
    y = en.spec.render(en.text, 16000)
    assert abs(y.size / 16000 - 9.0) < 0.5  # both prompts, trimmed edges kept
    assert len({it.key for it in items}) == len(items)


def test_prompt_transcripts_feed_tts(tmp_path: Path) -> None:
    doc = _pkg(tmp_path, "asterisk-core-sounds-fr") / "usr/share/doc/asterisk-core-sounds-fr"
    doc.mkdir(parents=True)
    body = "\ufeff; French\nbeep: [beep]\nsilence/1: (1 second of silence)\na: oui\nb: non\nc: merci\n"
    body += "d: Appuyez sur # pour continuer, ou sur * pour revenir au menu principal.\n"
    (doc / "core-sounds-fr.txt.gz").write_bytes(gzip.compress(body.encode()))
    prompts = asterisk_prompts(tmp_path, "fr")
    assert set(prompts) == {"a", "b", "c", "d"}
    assert "dièse" in prompts["d"] and "étoile" in prompts["d"]
    assert prompts["d"] == "Appuyez sur dièse pour continuer, ou sur étoile pour revenir au menu principal."
    # short prompts are joined in order (as the recordings are packed) until the pack is long enough
    assert prompt_sentences(prompts) == [f"oui. non. merci. {prompts['d']}"]
    assert prompt_sentences({"x": prompts["d"], "y": "oui"}) == [prompts["d"], "oui."]


# --------------------------------------------------------------------------------------------
# Engines that run in the test environment


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_espeak_renders_speech() -> None:
    spec = tts_espeak.EspeakSpec("en-us", 160, 50)
    y = spec.render("- Hello there. This sentence starts with a dash.", 16000)
    assert y.dtype == np.float32 and 1.5 < y.size / 16000 < 8.0
    assert float(np.sqrt(np.mean(y**2))) > 0.01
    item = Item("k", AI, SPEECH, "espeak-ng", "espeak-ng", "espeak", "s", "en", "g", "p", 2.0, spec, text="hi")
    assert pickle.loads(pickle.dumps(item)) == item


# --------------------------------------------------------------------------------------------
# Kokoro blends (the maths, without the model)


def test_kokoro_blends_are_convex_deterministic_distinct() -> None:
    blends = tts_kokoro.make_blends(24, seed=7)
    assert len(blends) == 24 and blends == tts_kokoro.make_blends(24, seed=7)
    assert blends != tts_kokoro.make_blends(24, seed=8)
    w = np.array([b.weights for b in blends])
    assert (w >= 0).all() and np.allclose(w.sum(axis=1), 1.0)
    assert len({tuple(np.round(r, 6)) for r in w}) == 24
    for b in blends:
        assert b.dominant == tts_kokoro.KOKORO_VOICES[int(np.argmax(b.weights))]
    assert len(tts_kokoro.BLENDS) >= 20
    by_name = {v.speaker: v.group for v in tts_kokoro.VOICES}
    for b in tts_kokoro.BLENDS:
        assert by_name[f"kokoro:{b.name}"] == f"voice:kokoro:{b.dominant}"


def test_kokoro_mix_style_and_forbidden_voices() -> None:
    rng = np.random.default_rng(0)
    npz = {v: rng.normal(size=(510, 1, 256)).astype(np.float32) for v in (*tts_kokoro.KOKORO_VOICES, "jf_tebukuro")}
    tables = tts_kokoro.style_tables(npz)
    assert set(tables) == set(tts_kokoro.KOKORO_VOICES)
    weights = (0.2, 0.3, 0.5)
    mixed = tts_kokoro.mix_style(tables, weights)
    expect = sum(w * tables[v] for v, w in zip(tts_kokoro.KOKORO_VOICES, weights, strict=True))
    assert mixed.shape == (510, 1, 256) and np.allclose(mixed, expect, atol=1e-5)
    assert np.allclose(tts_kokoro.mix_style(tables, (1.0, 0.0, 0.0)), tables["jf_alpha"])
    with pytest.raises(ValueError, match="held out"):
        tts_kokoro.style_tables(npz, names=("jf_tebukuro",))
    with pytest.raises(ValueError, match="held out"):
        tts_kokoro.check_voice("jm_kumo")
    with pytest.raises(ValueError):
        tts_kokoro.mix_style(tables, (0.7, 0.7, -0.4))  # not convex
    with pytest.raises(ValueError):
        tts_kokoro.KokoroSpec("jm_kumo", (1.0, 0.0, 0.0), "ja", 1.0, "/tmp")
