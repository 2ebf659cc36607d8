"""Stripe billing (DESIGN §8): checkout, verified webhooks, and one `sync` that writes the entitlement.

No web framework here; the API's billing router is a thin shell over `Billing`. Nothing on an
analysis request path imports or calls this: the tier is read from the stored entitlement.
"""

from synthscope.billing.stripe_billing import SYNC_EVENTS, Billing

__all__ = ["SYNC_EVENTS", "Billing"]
