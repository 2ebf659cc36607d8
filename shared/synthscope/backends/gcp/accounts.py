"""Firestore AccountStore: quotas, entitlements, API keys, billing customers and processed webhook events.

The same collections as before the split (prefix + name), so deployed data stays where it is.
Read-modify-writes (quota counters, key revocation, customer links) run in transactions;
event de-duplication is one `create()`, which fails when the id exists.
"""

from __future__ import annotations

import hashlib
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore

from synthscope.backends.gcp.firestore_base import FirestoreStore, iso


class FirestoreAccountStore(FirestoreStore):
    def open_collections(self) -> None:
        self.entitlements = self.collection("entitlements")
        self.quotas = self.collection("quotas")
        self.customers = self.collection("billing_customers")  # doc id: user id
        self.customer_users = self.collection("billing_customer_users")  # doc id: customer id
        self.events = self.collection("webhook_events")  # doc id: event id
        self.api_keys = self.collection("api_keys")  # doc id: key id (the hash is a field)

    def consume_quota(self, key: str, period: str, limit: int, *, amount: int = 1) -> tuple[bool, int]:
        ref = self.quotas.document(hashlib.sha256(f"{key}\x00{period}".encode()).hexdigest())

        def body(tx: Any) -> tuple[bool, int]:
            snap = ref.get(transaction=tx)
            used = int((snap.to_dict() or {}).get("used", 0)) if snap.exists else 0
            if amount > 0 and used + amount > limit:
                return False, used
            used = max(0, used + amount)
            tx.set(ref, {"key": key, "period": period, "used": used, "updated_at": iso(self.clock())})
            return True, used

        out: tuple[bool, int] = self._tx(body)
        return out

    def get_entitlement(self, user_id: str) -> dict[str, Any] | None:
        snap = self.entitlements.document(user_id).get()
        if not snap.exists:
            return None
        doc = snap.to_dict() or {}
        doc.pop("_updated_at", None)
        return doc

    def set_entitlement(self, user_id: str, entitlement: dict[str, Any]) -> None:
        self.entitlements.document(user_id).set({**entitlement, "_updated_at": self.clock()})

    def put_api_key(self, key_id: str, record: dict[str, Any]) -> None:
        self.api_keys.document(key_id).create({**record, "key_id": key_id, "_created": self.clock()})

    def get_api_key(self, key_id: str) -> dict[str, Any] | None:
        snap = self.api_keys.document(key_id).get()
        return {k: v for k, v in (snap.to_dict() or {}).items() if not k.startswith("_")} if snap.exists else None

    def revoke_api_key(self, key_id: str, *, revoked_at: float) -> bool:
        ref = self.api_keys.document(key_id)

        def body(tx: Any) -> bool:
            snap = ref.get(transaction=tx)
            if not snap.exists or (snap.to_dict() or {}).get("revoked_at") is not None:
                return False
            tx.update(ref, {"revoked_at": revoked_at})
            return True

        out: bool = self._tx(body)
        return out

    def list_api_keys(self, org: str | None = None) -> list[dict[str, Any]]:
        q: Any = self.api_keys
        if org is not None:
            q = q.where(filter=firestore.FieldFilter("org", "==", org))
        docs = [s.to_dict() or {} for s in q.stream()]
        docs.sort(key=lambda d: d.get("_created", 0))
        return [{k: v for k, v in d.items() if not k.startswith("_")} for d in docs]

    def link_customer(self, user_id: str, customer_id: str) -> str:
        ref, rev = self.customers.document(user_id), self.customer_users.document(customer_id)

        def body(tx: Any) -> str:
            snap = ref.get(transaction=tx)
            if snap.exists:
                return str((snap.to_dict() or {})["customer_id"])
            now = iso(self.clock())
            tx.create(ref, {"customer_id": customer_id, "created_at": now})
            tx.set(rev, {"user_id": user_id, "created_at": now})
            return customer_id

        out: str = self._tx(body)
        return out

    def customer_for_user(self, user_id: str) -> str | None:
        snap = self.customers.document(user_id).get()
        return str((snap.to_dict() or {})["customer_id"]) if snap.exists else None

    def user_for_customer(self, customer_id: str) -> str | None:
        snap = self.customer_users.document(customer_id).get()
        return str((snap.to_dict() or {})["user_id"]) if snap.exists else None

    def record_event(self, event_id: str, event_type: str) -> bool:
        """Firestore `create()` fails when the id exists: the de-duplication is one atomic write."""
        try:
            self.events.document(event_id).create({"type": event_type, "received_at": iso(self.clock())})
        except gexc.AlreadyExists:
            return False
        return True

    def forget_event(self, event_id: str) -> None:
        self.events.document(event_id).delete()

    def ping(self) -> None:
        self.entitlements.document("_ping").get(timeout=5.0)

    def close(self) -> None:
        pass  # the client is the report store's; it closes it
