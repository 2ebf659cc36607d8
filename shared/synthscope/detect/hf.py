"""`hf` (optional): any Hugging Face audio-classification model as a detector.

For teams that have their own fine-tuned weights. Nothing is downloaded: the
model is loaded from a local directory (or the local HF cache) only. Its "AI"
probability is the summed softmax mass of the labels named as AI.
"""

from __future__ import annotations

import numpy as np
import torch

from synthscope.config import SAMPLE_RATE
from synthscope.detect.base import resolve_device

NAME = "hf"
VERSION = "1.0"


class HFDetector:
    name = NAME

    def __init__(self, model: str, ai_labels: list[str], device: str = "auto") -> None:
        from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

        self.device = resolve_device(device)
        self.extractor = AutoFeatureExtractor.from_pretrained(model, local_files_only=True)
        self.model = AutoModelForAudioClassification.from_pretrained(model, local_files_only=True)
        self.model.to(self.device).eval()
        wanted = {label.lower() for label in ai_labels}
        id2label = {int(k): str(v) for k, v in self.model.config.id2label.items()}
        self.ai_ids = [i for i, label in id2label.items() if label.lower() in wanted]
        if not self.ai_ids:
            raise ValueError(
                f"none of the model's labels {sorted(id2label.values())} is in the AI set {sorted(wanted)}"
            )
        self.version = f"{VERSION}+{getattr(self.model.config, 'model_type', 'model')}"

    @torch.inference_mode()
    def predict(self, windows: np.ndarray) -> np.ndarray:
        inputs = self.extractor(list(windows), sampling_rate=SAMPLE_RATE, return_tensors="pt", padding=True)
        logits = self.model(**{k: v.to(self.device) for k, v in inputs.items()}).logits
        probs = torch.softmax(logits.float(), dim=-1)[:, self.ai_ids].sum(dim=-1)
        return probs.cpu().numpy().astype(np.float32)
