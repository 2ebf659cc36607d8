"""CloudEvent entry for GCS "object finalized" on the upload bucket (functions-framework).

Deploy: `functions-framework --target=on_upload_finalized --signature-type=cloudevent`
(or a Cloud Run function with an Eventarc trigger). Non-audio or oversize uploads are
quarantined before anyone submits them; see `synthscope.upload_screen`.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import functions_framework

from synthscope import logs
from synthscope.backends import Backends, build
from synthscope.config import TIER_LIMITS, Settings, Tier, get_settings
from synthscope.upload_screen import Screened, screen_object

log = logging.getLogger("synthscope.upload_check")


@functools.cache
def _backends() -> tuple[Settings, Backends]:
    settings = get_settings()
    logs.configure(settings.log_level, settings.gcp_project)
    return settings, build(settings)


def handle(event_data: dict[str, Any], settings: Settings, backends: Backends) -> Screened:
    """The work of one event; separate from the decorator so it can run with any settings."""
    if event_data.get("bucket") not in (None, backends.blobs.bucket):
        return Screened(str(event_data.get("name", "")), "ignored", "another bucket")
    size = event_data.get("size")
    max_bytes = min(settings.max_file_bytes, TIER_LIMITS[Tier.enterprise].max_file_bytes)
    return screen_object(
        backends.blobs, str(event_data["name"]), int(size) if size is not None else None, max_bytes=max_bytes
    )


@functions_framework.cloud_event
def on_upload_finalized(cloud_event: Any) -> None:
    settings, backends = _backends()
    outcome = handle(cloud_event.data, settings, backends)
    log.info("upload screened", extra={"object_name": outcome.object_name, "action": outcome.action})
