"""Screening of a freshly uploaded object (GCS "object finalized"), before anyone asks for a report.

A signed URL lets a client write any bytes under its own prefix; this rejects what is
plainly not audio (magic bytes) or bigger than any tier allows, so it never sits in the
bucket. Rejected objects are quarantined where the store can (kept for inspection, out of
the upload namespace) and deleted otherwise. POST /report and the worker still check
again: this is an early filter, not the gate.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any, Literal

from synthscope.audio.validate import SNIFF_BYTES, sniff_bytes
from synthscope.errors import BadInput, NotFound
from synthscope.ports import BlobStore
from synthscope.uploads import UPLOAD_PREFIX, is_valid_object_name

log = logging.getLogger("synthscope.upload_screen")


@dataclass(frozen=True)
class Screened:
    object_name: str
    action: Literal["kept", "ignored", "quarantined", "deleted"]
    reason: str = ""


def screen_object(blobs: BlobStore, object_name: str, size: int | None, *, max_bytes: int) -> Screened:
    """Keep audio within the size limit; quarantine (or delete) anything else under the upload prefix."""
    if not object_name.startswith(UPLOAD_PREFIX + "/"):
        return Screened(object_name, "ignored", "outside the upload prefix")
    reason = ""
    if not is_valid_object_name(object_name):
        reason = "object name not issued by the API"
    elif size is not None and size > max_bytes:
        reason = f"{size} bytes is over the {max_bytes}-byte limit"
    else:
        try:
            sniff_bytes(blobs.read_head(object_name, SNIFF_BYTES))
        except NotFound:
            return Screened(object_name, "ignored", "already gone")
        except BadInput as exc:
            reason = exc.detail
    if not reason:
        return Screened(object_name, "kept")
    quarantine: Any = getattr(blobs, "quarantine", None)
    if quarantine is not None:
        quarantine(object_name, reason)
        action: Literal["quarantined", "deleted"] = "quarantined"
    else:
        with contextlib.suppress(BadInput):  # a store that cannot even address the name holds no such object
            blobs.delete(object_name)
        action = "deleted"
    log.warning("upload rejected", extra={"object_name": object_name, "reason": reason, "action": action})
    return Screened(object_name, action, reason)
