"""Bearer tokens, API keys and the caller's entitlement."""
