"""The trainable head that turns pooled Whisper-encoder states into a logit (nn.Modules only).

Training lives in `train/encoder_head.py`; the detector that wraps the encoder and this head
in `detect/speech_encoder.py`.
"""

from __future__ import annotations

import torch
from torch import nn


class EncoderHead(nn.Module):
    """[B, states, dim] pooled states -> [B] logit of P(ai).

    The input is standardised with buffers fitted on the training set, so the saved head needs
    no separate scaler. `mix="concat"` reads every state side by side; `mix="weighted"` learns a
    softmax weight per state (the layer-weighting of SSL-based detectors) and reads one
    weighted sum. `hidden=0` makes the head linear (a probe); otherwise one GELU layer.

    `one_class=(m_human, m_ai, alpha)` scores by cosine to one learned direction (OC-softmax:
    human audio is pulled inside margin m_human of it, AI pushed below m_ai), and the logit is
    alpha·(midpoint − cosine): the class that must be compact is the real one, since unseen
    engines are what the detector meets.
    """

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(
        self,
        n_states: int,
        dim: int,
        *,
        hidden: int = 0,
        mix: str = "concat",
        dropout: float = 0.0,
        one_class: tuple[float, float, float] | None = None,
    ):
        super().__init__()
        if mix not in ("concat", "weighted"):
            raise ValueError(f"unknown mix {mix!r}")
        self.mix = mix
        self.one_class = one_class
        self.register_buffer("mean", torch.zeros(n_states, dim))
        self.register_buffer("scale", torch.ones(n_states, dim))
        self.layer_logits = nn.Parameter(torch.zeros(n_states)) if mix == "weighted" else None
        width = dim if mix == "weighted" else n_states * dim
        self.drop = nn.Dropout(dropout)
        if hidden:
            self.body: nn.Module = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout))
            self.out = nn.Linear(hidden, 1)
        else:
            self.body = nn.Identity()
            self.out = nn.Linear(width, 1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The representation the last linear layer reads (what a one-class loss shapes)."""
        z = (x - self.mean) / self.scale
        if self.layer_logits is not None:
            z = (torch.softmax(self.layer_logits, 0)[None, :, None] * z).sum(dim=1)
        else:
            z = z.flatten(1)
        return self.body(self.drop(z))

    def cosine(self, x: torch.Tensor) -> torch.Tensor:
        """Cosine between the embedding and the one-class direction (one-class heads only)."""
        e = nn.functional.normalize(self.embed(x), dim=-1)
        return e @ nn.functional.normalize(self.out.weight[0], dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.one_class is None:
            return self.out(self.embed(x)).squeeze(-1)
        m_human, m_ai, alpha = self.one_class
        return alpha * ((m_human + m_ai) / 2 - self.cosine(x))
