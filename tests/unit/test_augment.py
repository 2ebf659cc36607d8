"""The debiasing chain: same random distribution for both classes, every evaluation codec works."""

from __future__ import annotations

import numpy as np
import pytest

from synthscope.train.augment import EVAL_CODECS, apply_codec, augment
from tests.fixtures.audio import voice_like


def _hf_share(x: np.ndarray, hz: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / 16000)
    return float(spec[freqs > hz].sum() / spec.sum())


@pytest.mark.parametrize("codec", EVAL_CODECS)
def test_eval_codecs_keep_length_and_level(codec: str) -> None:
    x = voice_like(3.0, np.random.default_rng(0)) + 0.01 * np.random.default_rng(1).standard_normal(48000).astype(
        np.float32
    )
    y = apply_codec(x, codec)
    assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all()
    assert 0.3 < np.sqrt(np.mean(y**2)) / np.sqrt(np.mean(x**2)) < 2.0


def test_telephone_band_removes_high_frequencies() -> None:
    x = np.random.default_rng(0).standard_normal(48000).astype(np.float32) * 0.1
    assert _hf_share(x, 4000) > 0.4
    assert _hf_share(apply_codec(x, "tel_8k"), 4000) < 0.01


def test_unknown_codec_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown codec"):
        apply_codec(np.zeros(1600, np.float32), "gsm")


def test_augment_is_a_function_of_the_rng_only() -> None:
    x = voice_like(4.0, np.random.default_rng(0))
    a, info_a = augment(x, np.random.default_rng(42))
    b, info_b = augment(x, np.random.default_rng(42))
    assert info_a == info_b and np.array_equal(a, b)
    assert a.dtype == np.float32 and np.isfinite(a).all() and a.size > 0


def test_augment_draws_the_same_chain_whatever_the_label() -> None:
    # The chain never sees the label: two different signals with the same seed get the same choices.
    human, ai = voice_like(4.0, np.random.default_rng(0)), voice_like(4.0, np.random.default_rng(9))
    infos = [augment(sig, np.random.default_rng(s))[1] for s in range(20) for sig in (human, ai)]
    for k in range(0, len(infos), 2):
        a, b = infos[k], infos[k + 1]
        assert a["codec"] == b["codec"] and a.get("lowpass_hz") == b.get("lowpass_hz")
    assert len({i["codec"] for i in infos}) >= 3
