"""Analysis profiles: which of a bundle's detectors run for a request.

`default` is the most accurate ensemble the leave-one-source-out benchmark found; `fast`
leaves out every detector that needs the speech encoder, for bulk screening. The bundle's
manifest lists each profile's members (chosen when the bundle is built); the ensemble has a
stacker fitted for every subset, so a profile is calibrated for exactly what it runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Profile(StrEnum):
    default = "default"
    fast = "fast"


#: Detectors that run the Whisper encoder: never in the fast profile.
NEEDS_ENCODER = frozenset({"speech_encoder"})


def fast_members(detectors: Iterable[str]) -> list[str]:
    return sorted(d for d in detectors if d not in NEEDS_ENCODER)
