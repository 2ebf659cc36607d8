"""Which address a request comes from, for rate limits and quotas.

`X-Forwarded-For` is written by whoever sends the request, so its left-hand entries are the
caller's to invent. Only entries appended by proxies we run behind can be believed: with
`trusted_proxy_hops = n`, the last n entries were appended by our own proxies and the entry they
appended for the client is `XFF[-n]`. With 0 (local, tests, anything reached directly) the header
is ignored and the TCP peer is the client. On Cloud Run the Google front end appends the client
address as the right-most entry: n = 1 (`SYNTHSCOPE_TRUSTED_PROXY_HOPS`, set by Terraform).
"""

from __future__ import annotations

import ipaddress


def client_ip(peer: str | None, forwarded_for: str | None, trusted_proxy_hops: int) -> str:
    """The client's address.

    Args:
        peer: the TCP peer's address (None when unknown).
        forwarded_for: the raw `X-Forwarded-For` header, all of its values joined with commas.
        trusted_proxy_hops: how many proxies of ours append to the header (0 = trust none).

    Returns:
        The address as text; "unknown" when there is none that can be believed.
    """
    fallback = peer or "unknown"
    if trusted_proxy_hops <= 0 or not forwarded_for:
        return fallback
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    if len(hops) < trusted_proxy_hops:
        return fallback
    candidate = hops[-trusted_proxy_hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:  # not an address: a proxy of ours would not write that
        return fallback
