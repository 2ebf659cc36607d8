"""Timeline plot: P(AI) per window, shaded by label, with the decision bands."""

from __future__ import annotations

from pathlib import Path

from synthscope.reports.schema import AnalysisResult

COLORS = {"ai": "#d62728", "human": "#2ca02c", "uncertain": "#ffbf00", "silent": "#bbbbbb"}


def plot_timeline(result: AnalysisResult, target: Path, *, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.2), dpi=120)
    for w in result.timeline:
        p = w.ai_probability if w.ai_probability is not None else 0.0
        ax.bar(
            w.start,
            p if w.ai_probability is not None else 1.0,
            width=w.end - w.start,
            align="edge",
            color=COLORS[w.label.value],
            alpha=0.85 if w.ai_probability is not None else 0.25,
            edgecolor="white",
            linewidth=0.5,
        )
    ax.axhspan(0.35, 0.65, color="#ffbf00", alpha=0.08)
    ax.axhline(0.5, color="black", linewidth=0.6, linestyle="--")
    end = result.timeline[-1].end if result.timeline else max(result.audio.duration_s, 1.0)
    ax.set(xlim=(0, end), ylim=(0, 1), xlabel="time (s)", ylabel="P(AI)")
    verdict = result.verdict.value + (f" ({result.reason.value})" if result.reason else "")
    prob = f", P(AI) {result.ai_probability:.2f}" if result.ai_probability is not None else ""
    ax.set_title(f"{title}: {verdict}{prob}" if title else f"{verdict}{prob}")
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target)
    plt.close(fig)
    return target
