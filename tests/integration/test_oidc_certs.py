"""The worker's ID-token check keeps Google's certificates as long as their Cache-Control allows, follows a key
rotation, and cannot be made to refetch by tokens with made-up key ids. The certificates come from a real
HTTP server on 127.0.0.1 that counts downloads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from synthscope.backends.gcp.oidc import OidcVerifier
from synthscope.errors import Unauthorized
from tests.fixtures.oidc import Issuer

AUD = "synthscope-worker"
INVOKER = "invoker@demo-synthscope.iam.gserviceaccount.com"


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    i = Issuer()
    yield i
    i.stop()


def bearer(issuer: Issuer) -> str:
    return "Bearer " + issuer.token(audience=AUD, email=INVOKER)


def test_certificates_are_fetched_once_while_fresh(issuer: Issuer) -> None:
    verifier = OidcVerifier(audience=AUD, invoker_email=INVOKER, certs_url=issuer.certs_url)
    for _ in range(5):
        assert verifier.verify(bearer(issuer))["email"] == INVOKER
    assert issuer.fetches == 1


def test_a_rotated_key_is_picked_up_and_forged_key_ids_do_not_cause_refetches(issuer: Issuer) -> None:
    verifier = OidcVerifier(audience=AUD, invoker_email=INVOKER, certs_url=issuer.certs_url, refresh_after_s=60)
    verifier.verify(bearer(issuer))
    issuer.rotate("test-kid-2")  # Google signs with a new key, served beside the old one
    for _ in range(3):
        assert verifier.verify(bearer(issuer))["email"] == INVOKER
    assert issuer.fetches == 2  # one refresh for the new key, then cached again

    forger = Issuer(kid="forged-kid")
    try:
        for _ in range(5):
            with pytest.raises(Unauthorized, match="key id"):
                verifier.verify("Bearer " + forger.token(audience=AUD, email=INVOKER))
    finally:
        forger.stop()
    assert issuer.fetches == 2, "within refresh_after_s an unknown key id must not trigger another download"
    assert verifier.verify(bearer(issuer))["email"] == INVOKER  # and real tokens still pass
