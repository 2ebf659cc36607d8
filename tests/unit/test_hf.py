"""The optional `hf` detector with a tiny randomly initialised model built here (nothing downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthscope.config import Settings
from synthscope.engine import Engine
from tests.fixtures.audio import voice_like, write_audio

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_hf_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.manual_seed(0)
    config = transformers.Wav2Vec2Config(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8),
        conv_kernel=(10, 3),
        conv_stride=(5, 2),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        classifier_proj_size=8,
        num_labels=2,
        id2label={0: "bonafide", 1: "spoof"},
        label2id={"bonafide": 0, "spoof": 1},
    )
    model = transformers.Wav2Vec2ForSequenceClassification(config)
    out = tmp_path_factory.mktemp("hf") / "tiny-w2v2"
    model.save_pretrained(out)
    transformers.Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(out)
    return out


def test_hf_detector_scores_windows(tiny_hf_model: Path) -> None:
    from synthscope.detect.hf import HFDetector

    det = HFDetector(str(tiny_hf_model), ["spoof"], device="cpu")
    rng = np.random.default_rng(0)
    p = det.predict(np.stack([voice_like(3.0, rng), voice_like(3.0, rng)]))
    assert p.shape == (2,) and np.all((p >= 0) & (p <= 1))


def test_hf_needs_a_matching_ai_label(tiny_hf_model: Path) -> None:
    from synthscope.detect.hf import HFDetector

    with pytest.raises(ValueError, match="AI set"):
        HFDetector(str(tiny_hf_model), ["deepfake"], device="cpu")


def test_engine_blends_hf_in(tiny_bundle: Path, tiny_hf_model: Path, tmp_path: Path) -> None:
    eng = Engine.load(Settings(device="cpu", hf_model=str(tiny_hf_model), hf_ai_labels=["spoof"]), tiny_bundle)
    r = eng.analyze(write_audio(tmp_path / "a.wav", voice_like(6.0, np.random.default_rng(0))))
    names = [d.name for d in r.detectors]
    assert names == ["spectro_cnn", "fakeprint", "acoustic", "speech_encoder", "hf"]
    assert all("hf" in w.detectors for w in r.timeline)
