"""POST /generate-upload-url, and in local mode the signed PUT target itself (`/local-upload/...`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from synthscope.errors import BadInput, NotFound, UploadTooLarge
from synthscope.uploads import admit, new_object_name
from synthscope_api.deps import AppState, CurrentUser, backend_call
from synthscope_api.models import UploadUrlRequest, UploadUrlResponse
from synthscope_api.problems import operation

router = APIRouter(tags=["uploads"])
local_router = APIRouter(tags=["uploads"])


@router.post(
    "/generate-upload-url",
    **operation(
        "createUploadUrl", "Get a signed URL to PUT one audio file to", UploadUrlResponse, 400, 401, 413, 415, 422
    ),
)
async def generate_upload_url(
    body: UploadUrlRequest, user: CurrentUser, state: AppState, request: Request
) -> UploadUrlResponse:
    """The URL accepts exactly one PUT with the returned headers, until `expires_at`, of at most `size_bytes`."""
    safe_name, mime = admit(body.file_name, body.file_type)
    if body.size_bytes > user.limits.max_file_bytes:
        raise UploadTooLarge(
            f"{body.size_bytes} bytes is over the {user.tier.value} tier's limit of {user.limits.max_file_bytes}"
        )
    s = state.settings
    signed = await backend_call(
        state,
        state.backends.blobs.signed_upload,
        new_object_name(user.sub, safe_name),
        content_type=mime,
        max_bytes=body.size_bytes,
        ttl_s=s.upload_url_ttl_s,
        base_url=s.public_url or str(request.base_url),
    )
    return UploadUrlResponse(
        upload_url=signed.upload_url,
        headers=signed.headers,
        object_name=signed.object_name,
        bucket=signed.bucket,
        expires_at=signed.expires_at,
    )


@local_router.api_route("/local-upload/{object_name:path}", methods=["PUT", "POST", "GET"], include_in_schema=False)
async def local_upload(object_name: str, request: Request, state: AppState) -> Response:
    """Local stand-in for the storage endpoint: verifies the signature like GCS, then stores the body atomically."""
    receiver = state.backends.upload_receiver
    if receiver is None:
        raise NotFound("uploads go straight to the storage bucket in this deployment")
    grant = receiver.verify_upload(request.method, object_name, dict(request.query_params), dict(request.headers))
    with receiver.writer(grant) as f:
        written = 0
        async for chunk in request.stream():
            written += len(chunk)
            if written > grant.content_length:
                raise BadInput("the body is longer than its Content-Length")
            f.write(chunk)
    return Response(status_code=200)
