"""Festival: exactly the allowed festvox voices (diphone, unit selection, clunits, HTS).

Voice functions were read from /usr/share/festival/voices/*/*/festvox/*.scm and each voice was
checked to speak with text2wave. Each voice gets text in its own language and encoding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from .base import AI, SPEECH, Item, PlanContext, Source
from .budget import Voice, tts_items
from .cli import run_to_file
from .fetch import ensure_apt
from .runtime import resample
from .text import tts_texts

DIPHONE, HTS = "festival-diphone", "festival-hts"  # diphone / unit selection / clunits vs HTS

# (voice function suffix, split group, text language, text encoding, family); package in comments
_TABLE = [
    ("kal_diphone", "kal", "en", "ascii", DIPHONE),  # festvox-kallpc16k (flite's kal: same man)
    ("ked_diphone", "ked", "en", "ascii", DIPHONE),  # festvox-kdlpc16k
    ("cmu_us_slt_arctic_hts", "slt", "en", "ascii", HTS),  # festvox-us-slt-hts (flite's slt)
    ("upc_ca_ona_hts", "upc_ca_ona", "ca", "iso-8859-15", HTS),  # festvox-ca-ona-hts
    ("upc_ca_ona_hts", "upc_ca_ona", "es", "iso-8859-15", HTS),  # ona also reads Spanish (more text)
    ("czech_dita", "czech_dita", "cs", "iso-8859-2", DIPHONE),  # festvox-czech-dita
    ("czech_krb", "czech_krb", "cs", "iso-8859-2", DIPHONE),  # festvox-czech-krb
    ("czech_machac", "czech_machac", "cs", "iso-8859-2", DIPHONE),  # festvox-czech-machac
    ("czech_ph", "czech_ph", "cs", "iso-8859-2", DIPHONE),  # festvox-czech-ph
    ("suo_fi_lj_diphone", "suo_fi_lj", "fi", "latin-1", DIPHONE),  # festvox-suopuhe-lj
    ("hy_fi_mv_diphone", "hy_fi_mv", "fi", "latin-1", DIPHONE),  # festvox-suopuhe-mv
    ("lp_diphone", "lp_diphone", "it", "latin-1", DIPHONE),  # festvox-italp16k
    ("pc_diphone", "pc_diphone", "it", "latin-1", DIPHONE),  # festvox-itapc16k
    ("msu_ru_nsh_clunits", "msu_ru_nsh", "ru", "utf-8", DIPHONE),  # festvox-ru
]
VOICES = tuple(Voice(v, f"voice:{g}", lang, fam) for v, g, lang, _, fam in _TABLE)
ENCODING = {v: enc for v, _, _, enc, _ in _TABLE}
PACKAGES = [
    "festival",
    "festival-czech",
    "festvox-kallpc16k",
    "festvox-kdlpc16k",
    "festvox-us-slt-hts",
    "festvox-ca-ona-hts",
    "festvox-czech-dita",
    "festvox-czech-krb",
    "festvox-czech-machac",
    "festvox-czech-ph",
    "festvox-suopuhe-lj",
    "festvox-suopuhe-mv",
    "festvox-italp16k",
    "festvox-itapc16k",
    "festvox-ru",
]


@dataclass(frozen=True)
class FestivalSpec:
    """One text2wave call: `voice` is the suffix of its (voice_...) function."""

    voice: str
    encoding: str
    cost: float = 0.1  # measured 0.05-0.10 s/s (ru clunits, HTS slowest)

    def render(self, text: str, sr: int) -> np.ndarray:
        """Write the text in the voice's encoding (unencodable characters dropped) and synthesize.

        Leading punctuation ('... so what') crashes the diphone voices (SIGSEGV): it is dropped.
        """
        payload = re.sub(r"^\W+", "", text).encode(self.encoding, errors="ignore")

        def argv(d: Path) -> list[str]:
            (d / "in.txt").write_bytes(payload)
            return ["text2wave", "-eval", f"(voice_{self.voice})", str(d / "in.txt"), "-o", str(d / "o.wav")]

        x, sr_in = run_to_file(argv, timeout=300)
        return resample(x, sr_in, sr)


def plan(ctx: PlanContext) -> list[Item]:
    """Budget spread evenly over the voices."""
    ensure_apt(PACKAGES)
    return tts_items(
        "festival",
        "festival",
        VOICES,
        ctx,
        partial(tts_texts, ctx.cache),
        lambda v, t: FestivalSpec(v.vid, ENCODING[v.vid]),
    )


SOURCE = Source("festival", AI, SPEECH, plan)
