"""The Stripe side of billing, after the t3dotgg/stripe-recommendations pattern (notes/gcp-pitfalls.md §3).

1. The customer is created *before* checkout, with our user id in its metadata, and stored user <-> customer.
2. Webhooks are verified on the raw body (`stripe.Webhook.construct_event`), de-duplicated on `event.id`
   in the store, and never trusted for state: Stripe does not guarantee order, so every relevant event
   calls one `sync(customer_id)` that re-reads the customer's subscription and writes the entitlement.
3. Requests read the stored entitlement; Stripe is never asked per request.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import stripe

from synthscope.config import Settings, Tier
from synthscope.errors import Forbidden, InvalidSignature, Unavailable
from synthscope.ports import AccountStore

log = logging.getLogger("synthscope.billing")

#: Events after which the entitlement may have changed (all answered by the same re-read).
SYNC_EVENTS = frozenset(
    {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.paid",
        "invoice.payment_failed",
    }
)


class Billing:
    def __init__(self, settings: Settings, store: AccountStore) -> None:
        self.settings = settings
        self.store = store
        self._client: stripe.StripeClient | None = None

    # -- Stripe API ----------------------------------------------------------------------------------------

    @property
    def client(self) -> stripe.StripeClient:
        """Built on first use, so a deployment without billing never needs a key."""
        if self._client is None:
            key = self.settings.stripe_api_key
            if key is None:
                raise Unavailable("billing is not configured (SYNTHSCOPE_STRIPE_API_KEY)", retry_after_s=3600)
            base = self.settings.stripe_api_base
            self._client = stripe.StripeClient(
                key.get_secret_value(),
                base_addresses={"api": base} if base else None,
                max_network_retries=2,
            )
        return self._client

    def customer_for(self, user_id: str) -> str:
        """The user's Stripe customer, created (with our user id in metadata) and stored on first use."""
        existing = self.store.customer_for_user(user_id)
        if existing is not None:
            return existing
        customer = self.client.v1.customers.create(
            params={"metadata": {"user_id": user_id}}, options={"idempotency_key": f"customer-{user_id}"}
        )
        return self.store.link_customer(user_id, customer.id)

    def checkout(self, user_id: str, tier: Tier) -> dict[str, str]:
        """A Checkout Session subscribing the user's customer to the tier's configured price."""
        client = self.client  # 503 first when billing is not configured at all
        price = self.settings.stripe_prices.get(tier.value)
        if price is None:
            raise Unavailable(f"no Stripe price is configured for the {tier.value} tier", retry_after_s=3600)
        customer_id = self.customer_for(user_id)
        session = client.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "customer": customer_id,
                "client_reference_id": user_id,
                "line_items": [{"price": price, "quantity": 1}],
                "success_url": self.settings.billing_success_url,
                "cancel_url": self.settings.billing_cancel_url,
                "metadata": {"user_id": user_id},
            }
        )
        return {"checkout_url": str(session.url), "session_id": session.id, "customer_id": customer_id}

    def sync(self, customer_id: str) -> dict[str, Any] | None:
        """Re-read the customer's subscription from Stripe and write the user's entitlement (the only writer).

        Returns what was written; None when the customer is not one of ours.
        """
        user_id = self.store.user_for_customer(customer_id)
        if user_id is None:
            log.warning("stripe customer with no linked user", extra={"customer_id": customer_id})
            return None
        subs = self.client.v1.subscriptions.list(params={"customer": customer_id, "limit": 1, "status": "all"})
        ent: dict[str, Any] = {"tier": Tier.free.value, "status": "none", "customer_id": customer_id}
        if subs.data:
            sub = subs.data[0].to_dict()  # plain dicts: fields absent in one API version read as None
            items = (sub.get("items") or {}).get("data") or []
            item = items[0] if items else None
            price_id = item["price"]["id"] if item is not None else None
            tier = self.settings.tier_for_price(price_id)
            # since API version 2025-03-31 the period lives on the item; older versions keep it on the subscription
            end = (item.get("current_period_end") if item is not None else None) or sub.get("current_period_end")
            ent.update(
                {
                    "tier": (tier or Tier.free).value,
                    "status": sub["status"],
                    "price_id": price_id,
                    "subscription_id": sub.get("id"),
                    "current_period_end": end,
                    "cancel_at_period_end": bool(sub.get("cancel_at_period_end")),
                }
            )
            if tier is None:
                log.warning("subscription price maps to no tier", extra={"price_id": price_id})
        ent["updated_at"] = time.time()
        self.store.set_entitlement(user_id, ent)
        return ent

    # -- webhooks ------------------------------------------------------------------------------------------

    def handle_webhook(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """Verify, de-duplicate, sync. Raises InvalidSignature (400) and changes nothing on a bad signature."""
        secret = self.settings.stripe_webhook_secret
        if secret is None:
            raise Unavailable("billing webhooks are not configured (SYNTHSCOPE_STRIPE_WEBHOOK_SECRET)", 3600)
        if not signature:
            raise InvalidSignature("missing Stripe-Signature header")
        try:
            event = stripe.Webhook.construct_event(
                payload, signature, secret.get_secret_value(), tolerance=self.settings.stripe_webhook_tolerance_s
            )
        except stripe.SignatureVerificationError as exc:
            raise InvalidSignature(f"the webhook signature does not verify: {exc.user_message or exc}") from None
        except ValueError:
            raise InvalidSignature("the webhook body is not a Stripe event") from None
        if event.type not in SYNC_EVENTS:
            return {"received": True, "event_id": event.id, "handled": False}
        if not self.store.record_event(event.id, event.type):
            return {"received": True, "event_id": event.id, "handled": False, "duplicate": True}
        obj = event.data.object.to_dict()
        customer = obj.get("customer")
        customer_id = customer if isinstance(customer, str) else (customer or {}).get("id")
        try:
            if customer_id:
                self.sync(customer_id)
        except Exception:
            self.store.forget_event(event.id)  # Stripe retries a non-2xx answer; let that retry be handled
            raise
        return {"received": True, "event_id": event.id, "handled": True}

    def subscription(self, user_id: str) -> dict[str, Any]:
        """The stored entitlement: what requests are gated on (no Stripe call)."""
        return self.store.get_entitlement(user_id) or {"tier": Tier.free.value, "status": "none"}


def require_user(user_id: str | None) -> str:
    if user_id is None:
        raise Forbidden("billing needs a signed-in user (a token bound to a user_id)")
    return user_id
