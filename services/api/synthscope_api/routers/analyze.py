"""POST /analyze: synchronous analysis of a multipart upload (local/dev and small files)."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from synthscope.analysis import Limits, analyze_file
from synthscope.audio.validate import check_extension
from synthscope.detect.profiles import Profile
from synthscope.errors import EmptyFile, Unavailable, UploadTooLarge
from synthscope.reports.redact import redact_result
from synthscope.uploads import sanitize_file_name
from synthscope_api.deps import AppState, CurrentUser
from synthscope_api.models import AnalyzeResponse
from synthscope_api.problems import operation

router = APIRouter(tags=["analyze"])

MULTIPART_OVERHEAD = 64 * 1024


@router.post(
    "/analyze",
    **operation("analyzeFile", "Analyse one file synchronously", AnalyzeResponse, 400, 401, 413, 415, 422, 503),
)
async def analyze(
    file: Annotated[UploadFile, File(description="One audio file (mp3, wav, flac, ogg/opus, m4a/aac, webm)")],
    user: CurrentUser,
    state: AppState,
    request: Request,
    profile: Annotated[
        Profile, Form(description="default: the most accurate ensemble; fast: no speech encoder, for bulk screening")
    ] = Profile.default,
) -> AnalyzeResponse:
    """The same result a report would hold, redacted by tier, in one request. Large files: use /report."""
    shared = state.engine
    if shared is None:
        raise Unavailable("synchronous analysis is off here (SYNTHSCOPE_API_SYNC_ANALYZE); use POST /report", 60)
    limit = user.limits.max_file_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise UploadTooLarge(f"the upload is over the {user.tier.value} tier's limit of {limit} bytes")
    name = sanitize_file_name(file.filename or "upload")
    ext = check_extension(name)
    with tempfile.TemporaryDirectory(prefix="synthscope-analyze-") as tmp:
        path = Path(tmp) / ("audio" + ext)
        h = hashlib.sha256()
        size = 0
        with path.open("wb") as out:
            while chunk := await file.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise UploadTooLarge(f"the file is over the {user.tier.value} tier's limit of {limit} bytes")
                h.update(chunk)
                out.write(chunk)
        if size == 0:
            raise EmptyFile("the file is empty")
        limits = Limits(limit, user.limits.max_duration_s)
        analysed = await run_in_threadpool(
            analyze_file, shared, state.backends.reports, path, h.hexdigest(), limits, name=name, profile=profile
        )
        result, limited = redact_result(analysed.result, user.tier)
    return AnalyzeResponse.model_validate({"tier": user.tier.value, "limited": limited, "result": result})
