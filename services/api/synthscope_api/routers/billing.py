"""Billing (Stripe, DESIGN §8): a thin shell over `synthscope.billing.Billing`.

The webhook reads the raw body and hands it over untouched: the signature covers the exact bytes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from starlette.concurrency import run_in_threadpool

from synthscope.auth.entitlements import tier_of
from synthscope.billing import Billing
from synthscope.billing.stripe_billing import require_user
from synthscope.config import Tier
from synthscope.errors import Unavailable
from synthscope_api.deps import AppState, CurrentUser, backend_call
from synthscope_api.models import CheckoutRequest, CheckoutResponse, SubscriptionResponse, WebhookAck
from synthscope_api.problems import operation

router = APIRouter(tags=["billing"])


def _billing(state: AppState) -> Billing:
    if state.billing is None:
        raise Unavailable("billing is not loaded")
    return state.billing


@router.post(
    "/billing/checkout",
    **operation(
        "createCheckout", "Start a Stripe Checkout for a subscription", CheckoutResponse, 400, 401, 403, 422, 503
    ),
)
async def create_checkout(body: CheckoutRequest, user: CurrentUser, state: AppState) -> CheckoutResponse:
    """Creates (once) the user's Stripe customer with the user id in its metadata, then a Checkout Session."""
    user_id = require_user(user.user_id)
    out = await run_in_threadpool(_billing(state).checkout, user_id, Tier(body.tier))
    return CheckoutResponse(**out)


@router.post(
    "/billing/webhook",
    **operation("stripeWebhook", "Stripe webhook endpoint (signature verified on the raw body)", WebhookAck, 400, 503),
)
async def stripe_webhook(
    request: Request,
    state: AppState,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> WebhookAck:
    """Replays and redeliveries (same event id) are acknowledged and ignored; a bad signature is a 400."""
    payload = await request.body()
    out = await run_in_threadpool(_billing(state).handle_webhook, payload, stripe_signature)
    return WebhookAck(**out)


@router.get(
    "/billing/subscription",
    **operation("getSubscription", "The caller's stored entitlement", SubscriptionResponse, 401, 403),
)
async def get_subscription(user: CurrentUser, state: AppState) -> SubscriptionResponse:
    """Read from the store, as every request's tier is; Stripe is not called."""
    user_id = require_user(user.user_id)
    ent = await backend_call(state, _billing(state).subscription, user_id)
    return SubscriptionResponse(
        tier=tier_of(ent).value,  # type: ignore[arg-type]
        status=str(ent.get("status", "none")),
        price_id=ent.get("price_id"),
        current_period_end=ent.get("current_period_end"),
        cancel_at_period_end=bool(ent.get("cancel_at_period_end")),
    )
