"""Firestore ReportStore: the SQLite store's contract on Firestore (DESIGN §7).

Every read-modify-write (claim, conditional update, finish, idempotency key) runs in
one Firestore transaction, so two workers can never both hold a report; the lease
token and expiry live beside the report fields (prefixed `_`, never returned).
A timeline too big for a document (1 MiB cap) is written as gzip JSON to the results
bucket first, and the document keeps a pointer; `get` puts the timeline back, so a
caller never sees the difference.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import secrets
from datetime import UTC, datetime
from typing import Any, Protocol

from google.api_core import exceptions as gexc
from google.cloud import firestore

from synthscope.backends.gcp.firestore_base import FirestoreStore, iso
from synthscope.ports import CallbackState, Claim, IdempotencyRecord
from synthscope.reports.schema import Status
from synthscope.reports.status import check_transition, claimable, is_terminal

#: Timelines whose JSON is longer than this spill to the results bucket (a 6 h report is ~1.1 MB).
DEFAULT_SPILL_BYTES = 256 * 1024
LEASE_TOKEN, LEASE_EXPIRES, ATTEMPTS = "_lease_token", "_lease_expires", "attempts"
SPILL_KEY = "timeline_ref"


class ObjectSink(Protocol):
    """Where spilled timelines go: the results bucket (`GcsBlobStore`)."""

    bucket: str

    def put_bytes(
        self, object_name: str, data: bytes, content_type: str, *, content_encoding: str | None = None
    ) -> None: ...

    def get_bytes(self, object_name: str) -> bytes: ...


MAX_DOC_BYTES = 1_048_576
#: Room left for the fields a write does not carry (status, lease, timestamps, the rest of the report).
DOC_MARGIN_BYTES = 64 * 1024


def stored_size(value: Any) -> int:
    """Firestore's documented storage size of a field value (strings +1, numbers 8, maps key + value, ...)."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, int | float | datetime):
        return 8
    if isinstance(value, str):
        return len(value.encode()) + 1
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, dict):
        return sum(len(str(k).encode()) + 1 + stored_size(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return sum(stored_size(v) for v in value)
    return 16  # sentinels, references: small


def _read(tx: Any, ref: Any) -> dict[str, Any] | None:
    """A document read inside a transaction: its fields, or None when it does not exist."""
    snap = ref.get(transaction=tx)
    return (snap.to_dict() or {}) if snap.exists else None


#: How long an object's pin is kept: longer than a V4 signed URL can live.
PIN_TTL_S = 8 * 86_400


class FirestoreReportStore(FirestoreStore):
    def __init__(
        self,
        client: firestore.Client,
        *,
        spill: ObjectSink | None = None,
        spill_bytes: int = DEFAULT_SPILL_BYTES,
        **store: Any,
    ) -> None:
        """`spill`: where timelines too big for a document go; `store`: FirestoreStore's prefix, clock and
        max_attempts."""
        self.spill = spill
        self.spill_bytes = spill_bytes
        super().__init__(client, **store)

    def open_collections(self) -> None:
        self.reports = self.collection("reports")
        self.idempotency = self.collection("idempotency")
        self.results = self.collection("results")
        self.object_pins = self.collection("object_pins")  # doc id: sha256 of the object name

    # -- plumbing --------------------------------------------------------------------------------------

    @staticmethod
    def _public(raw: dict[str, Any]) -> dict[str, Any]:
        doc = {k: v for k, v in raw.items() if not k.startswith("_")}
        doc[ATTEMPTS] = int(raw.get(ATTEMPTS, 0))
        return doc

    def _spill_result(self, result: Any, name: str) -> Any:
        """A copy of `result` whose big timeline is in the results bucket, with a pointer left in its place."""
        if self.spill is None or not isinstance(result, dict) or not isinstance(result.get("timeline"), list):
            return result
        body = json.dumps(result["timeline"], separators=(",", ":")).encode()
        if len(body) <= self.spill_bytes:
            return result
        object_name = f"timelines/{name}-{secrets.token_hex(6)}.json.gz"
        self.spill.put_bytes(object_name, gzip.compress(body, 6), "application/json", content_encoding="gzip")
        ref = {
            "bucket": self.spill.bucket,
            "object_name": object_name,
            "windows": len(result["timeline"]),
            "encoding": "gzip+json",
            "sha256": hashlib.sha256(body).hexdigest(),
        }
        return {**result, "timeline": [], SPILL_KEY: ref}

    def _unspill_result(self, result: Any) -> Any:
        if not isinstance(result, dict) or SPILL_KEY not in result:
            return result
        ref = result[SPILL_KEY]
        if self.spill is None:
            raise RuntimeError("this report's timeline is in the results bucket but no bucket is configured")
        body = gzip.decompress(self.spill.get_bytes(ref["object_name"]))
        out = {k: v for k, v in result.items() if k != SPILL_KEY}
        out["timeline"] = json.loads(body)
        return out

    def _prepare(self, fields: dict[str, Any], name: str) -> dict[str, Any]:
        if "result" in fields:
            fields = {**fields, "result": self._spill_result(fields["result"], name)}
        if stored_size(fields) > MAX_DOC_BYTES - DOC_MARGIN_BYTES:  # fail clearly here, not at Firestore
            raise ValueError(f"report {name}: fields too large for one Firestore document even after the spill")
        return fields

    # -- reports ---------------------------------------------------------------------------------------

    def create(self, report: dict[str, Any]) -> bool:
        now = self.clock()
        doc = {**report, "created_at": report.get("created_at") or iso(now), "updated_at": iso(now)}
        doc = self._prepare(doc, doc["task_id"])
        doc.setdefault("owner", "")
        doc[ATTEMPTS] = 0
        try:
            self.reports.document(doc["task_id"]).create(doc)
        except gexc.AlreadyExists:
            return False
        return True

    def get(self, task_id: str) -> dict[str, Any] | None:
        snap = self.reports.document(task_id).get()
        if not snap.exists:
            return None
        doc = self._public(snap.to_dict() or {})
        if "result" in doc:
            doc["result"] = self._unspill_result(doc["result"])
        return doc

    def raw(self, task_id: str) -> dict[str, Any] | None:
        """The stored document as is (tests and tools: size checks, the spill pointer)."""
        snap = self.reports.document(task_id).get()
        return snap.to_dict() if snap.exists else None

    def list_by_owner(self, owner: str, *, limit: int = 50) -> list[dict[str, Any]]:
        """The owner's newest reports (an equality filter plus order: composite index owner+created_at)."""
        q = (
            self.reports.where(filter=firestore.FieldFilter("owner", "==", owner))
            .order_by("created_at", direction=firestore.Query.DESCENDING)
            .limit(limit)
        )
        return [self._public(s.to_dict() or {}) for s in q.stream()]

    def update(
        self,
        task_id: str,
        fields: dict[str, Any],
        *,
        lease_token: str | None = None,
        extend_lease_s: float | None = None,
    ) -> bool:
        ref = self.reports.document(task_id)
        prepared = self._prepare(fields, task_id)

        def body(tx: Any) -> bool:
            raw = _read(tx, ref)
            if raw is None:
                return False
            if lease_token is not None and (raw.get(LEASE_TOKEN) != lease_token or raw.get("status") != "processing"):
                return False
            if "status" in fields and fields["status"] != raw.get("status"):
                check_transition(raw["status"], fields["status"])
            now = self.clock()
            change = {**prepared, "updated_at": iso(now)}
            if extend_lease_s is not None and lease_token is not None:
                change[LEASE_EXPIRES] = now + extend_lease_s
            tx.update(ref, change)  # top-level fields replaced whole, as in the SQLite store
            return True

        return bool(self._tx(body))

    def claim(self, task_id: str, *, worker_id: str, lease_s: float) -> Claim:
        ref = self.reports.document(task_id)

        def body(tx: Any) -> Claim:
            raw = _read(tx, ref)
            if raw is None:
                return Claim("missing")
            now = self.clock()
            if is_terminal(raw["status"]):
                return Claim("finished", self._public(raw))
            if not claimable(raw["status"], raw.get(LEASE_EXPIRES), now):
                return Claim("busy", self._public(raw))
            token = f"{worker_id}:{secrets.token_hex(8)}"
            change = {
                "status": "processing",
                "stage": "downloading",
                "updated_at": iso(now),
                LEASE_TOKEN: token,
                LEASE_EXPIRES: now + lease_s,
                ATTEMPTS: int(raw.get(ATTEMPTS, 0)) + 1,
            }
            tx.update(ref, change)
            return Claim("claimed", self._public({**raw, **change}), token)

        claim: Claim = self._tx(body)
        if claim.report is not None and "result" in claim.report:
            claim = Claim(
                claim.outcome,
                {**claim.report, "result": self._unspill_result(claim.report["result"])},
                claim.lease_token,
            )
        return claim

    def finish(
        self,
        task_id: str,
        fields: dict[str, Any],
        *,
        lease_token: str | None,
        cache_key: tuple[str, str] | None = None,
    ) -> bool:
        if not is_terminal(fields["status"]):
            raise ValueError("finish() writes a terminal status")
        ref = self.reports.document(task_id)
        prepared = self._prepare(fields, task_id)
        cache_ref = self.results.document(f"{cache_key[0]}_{cache_key[1]}") if cache_key else None

        def body(tx: Any) -> bool:
            raw = _read(tx, ref)
            if raw is None:
                return False
            if is_terminal(raw["status"]):
                return False
            if lease_token is not None and raw.get(LEASE_TOKEN) != lease_token:
                return False
            check_transition(raw["status"], fields["status"])
            cached = cache_ref.get(transaction=tx) if cache_ref is not None else None  # reads before writes
            now = self.clock()
            change = {**prepared, "updated_at": iso(now), LEASE_TOKEN: None, LEASE_EXPIRES: None}
            tx.update(ref, change)
            if cache_ref is not None and cached is not None and not cached.exists and prepared.get("result"):
                tx.set(cache_ref, {"result": prepared["result"], "created_at": iso(now)})
            return True

        return bool(self._tx(body))

    def fail_abandoned(self, task_id: str, *, max_attempts: int, fields: dict[str, Any]) -> bool:
        if fields.get("status") != Status.failed.value:
            raise ValueError("fail_abandoned() writes a failed status")
        ref = self.reports.document(task_id)
        prepared = self._prepare(fields, task_id)

        def body(tx: Any) -> bool:
            raw = _read(tx, ref)
            if raw is None:
                return False
            if raw.get("status") != Status.processing.value or int(raw.get(ATTEMPTS, 0)) < max_attempts:
                return False
            now = self.clock()
            if not claimable(raw["status"], raw.get(LEASE_EXPIRES), now):  # an attempt still holds a live lease
                return False
            tx.update(ref, {**prepared, "updated_at": iso(now), LEASE_TOKEN: None, LEASE_EXPIRES: None})
            return True

        return bool(self._tx(body))

    def mark_callback(self, task_id: str, state: CallbackState, detail: str) -> None:
        record = {"state": state, "at": iso(self.clock()), "detail": detail}
        try:
            self.reports.document(task_id).update({"callback": record})  # one field: no transaction needed
        except gexc.NotFound:
            return

    # -- de-duplicated results -------------------------------------------------------------------------

    def cached_result(self, audio_sha256: str, bundle_sha256: str) -> dict[str, Any] | None:
        snap = self.results.document(f"{audio_sha256}_{bundle_sha256}").get()
        if not snap.exists:
            return None
        result: dict[str, Any] = self._unspill_result((snap.to_dict() or {})["result"])
        return result

    def pin_object(self, object_name: str, audio_sha256: str) -> str:
        """`create()` fails when the pin exists: first writer wins in one atomic write."""
        ref = self.object_pins.document(hashlib.sha256(object_name.encode()).hexdigest())
        try:
            now = self.clock()
            ref.create(
                {
                    "object_name": object_name,
                    "sha256": audio_sha256,
                    "pinned_at": iso(now),
                    # past any signed URL's life (V4: 7 days), so a replay can't outlive its pin; Firestore TTL
                    "expires_at": datetime.fromtimestamp(now + PIN_TTL_S, UTC),
                }
            )
        except gexc.AlreadyExists:
            return str((ref.get().to_dict() or {})["sha256"])
        return audio_sha256

    # -- idempotency keys ------------------------------------------------------------------------------

    def remember_idempotency(
        self, scope: str, key: str, fingerprint: str, task_id: str, *, ttl_s: int
    ) -> IdempotencyRecord:
        doc_id = hashlib.sha256(f"{scope}\x00{key}".encode()).hexdigest()
        ref = self.idempotency.document(doc_id)

        def body(tx: Any) -> IdempotencyRecord:
            snap = ref.get(transaction=tx)
            now = self.clock()
            if snap.exists:
                raw = snap.to_dict() or {}
                if float(raw["expires_ts"]) > now:
                    return IdempotencyRecord(key, raw["fingerprint"], raw["task_id"], created=False)
            tx.set(
                ref,
                {
                    "scope": scope,
                    "key": key,
                    "fingerprint": fingerprint,
                    "task_id": task_id,
                    "created_at": iso(now),
                    "expires_ts": now + ttl_s,
                    # a Firestore TTL policy on this field deletes expired keys (infra); reads check expires_ts
                    "expires_at": datetime.fromtimestamp(now + ttl_s, UTC),
                },
            )
            return IdempotencyRecord(key, fingerprint, task_id, created=True)

        record: IdempotencyRecord = self._tx(body)
        return record

    def forget_idempotency(self, scope: str, key: str, task_id: str) -> None:
        ref = self.idempotency.document(hashlib.sha256(f"{scope}\x00{key}".encode()).hexdigest())

        def body(tx: Any) -> None:
            snap = ref.get(transaction=tx)
            if snap.exists and (snap.to_dict() or {}).get("task_id") == task_id:
                tx.delete(ref)

        self._tx(body)

    # -- concurrency -----------------------------------------------------------------------------------

    def count_active(self, quota_key: str, limit: int) -> int:
        """Equality + `in` filters only: Firestore serves them by merging single-field indexes (no composite one)."""
        q = (
            self.reports.where(filter=firestore.FieldFilter("quota_key", "==", quota_key))
            .where(filter=firestore.FieldFilter("status", "in", ["queued", "processing"]))
            .limit(limit)
        )
        return sum(1 for _ in q.stream())

    def ping(self) -> None:
        self.reports.document("_ping").get(timeout=5.0)

    def close(self) -> None:
        self.db.close()
