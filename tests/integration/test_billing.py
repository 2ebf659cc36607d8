"""Stripe billing end to end in-process: real signatures, the stripe library's real HTTP client against a local
Stripe-shaped server (tests/fixtures/stripe_fake.py), and the tier it grants read by the analysis flow."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from synthscope.pipeline import Pipeline
from synthscope.reports.schema import Report
from synthscope_api.app import create_app
from tests.fixtures import stripe_fake
from tests.fixtures.audio import voice_like, write_audio
from tests.fixtures.stripe_fake import FakeStripe, event, sign, subscription
from tests.integration.test_api import assert_problem, make_settings, token, upload

PRICES = {"pro": "price_pro_monthly", "enterprise": "price_enterprise"}


@pytest.fixture
def stripe_server() -> Iterator[FakeStripe]:
    with stripe_fake.fake_stripe() as fake:
        yield fake


@pytest.fixture
def client(tmp_path: Path, tiny_bundle: Path, stripe_server: FakeStripe) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path,
        tiny_bundle,
        stripe_api_key=SecretStr(stripe_fake.API_KEY),
        stripe_webhook_secret=SecretStr(stripe_fake.WEBHOOK_SECRET),
        stripe_prices=PRICES,
        stripe_api_base=stripe_server.url,
    )
    with TestClient(create_app(settings)) as c:
        yield c


def deliver(c: TestClient, body: str, signature: str | None) -> Any:
    headers = {"Content-Type": "application/json", **({"Stripe-Signature": signature} if signature else {})}
    return c.post("/billing/webhook", content=body.encode(), headers=headers)


def checkout(c: TestClient, user: str) -> str:
    r = c.post("/billing/checkout", json={"tier": "pro"}, headers=token(c, user))
    assert r.status_code == 200, r.text
    return str(r.json()["customer_id"])


def test_checkout_creates_the_customer_first_and_once(client: TestClient, stripe_server: FakeStripe) -> None:
    auth = token(client, "alice")
    r = client.post("/billing/checkout", json={"tier": "pro"}, headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["checkout_url"].startswith("https://checkout.stripe.test/") and body["session_id"].startswith("cs_")
    assert stripe_server.paths() == ["POST /v1/customers", "POST /v1/checkout/sessions"]
    _, _, cus_params = stripe_server.calls[0]
    assert cus_params["metadata[user_id]"] == ["alice"]
    _, _, session = stripe_server.calls[1]
    assert session["customer"] == [body["customer_id"]] and session["mode"] == ["subscription"]
    assert session["line_items[0][price]"] == [PRICES["pro"]] and session["client_reference_id"] == ["alice"]
    store = client.app.state.api.backends.accounts  # type: ignore[attr-defined]
    assert store.user_for_customer(body["customer_id"]) == "alice"
    again = client.post("/billing/checkout", json={"tier": "enterprise"}, headers=auth).json()
    assert again["customer_id"] == body["customer_id"]  # the stored customer is reused
    assert stripe_server.paths()[2:] == ["POST /v1/checkout/sessions"]
    assert_problem(client.post("/billing/checkout", json={"tier": "pro"}, headers=token(client)), 403)
    sub = client.get("/billing/subscription", headers=auth).json()
    assert sub["tier"] == "free" and sub["status"] == "none"  # nothing paid yet


def test_upgrade_unlocks_the_same_task_and_cancellation_locks_it_again(
    client: TestClient, stripe_server: FakeStripe, tmp_path: Path
) -> None:
    state = client.app.state.api  # type: ignore[attr-defined]
    wav = write_audio(tmp_path / "a.wav", voice_like(10.0, np.random.default_rng(5))).read_bytes()
    # the analysis flow: token -> upload -> report -> poll; Stripe is never called on it
    auth = token(client, "bob")
    task = client.post("/report", json={"object_name": upload(client, auth, wav)}, headers=auth).json()
    Pipeline(state.settings, state.engine, state.backends.blobs, state.backends.reports).process(task["task_id"])
    free = Report.model_validate(client.get(task["status_url"], headers=auth).json())
    assert free.status == "completed" and free.tier == "free" and free.limited and free.result is not None
    assert len(free.result.timeline) == 3 and free.result.detectors == [] and free.result.explanation == []
    assert all(w.detectors == {} for w in free.result.timeline)
    assert free.result.verdict and free.result.summary.windows > 3  # verdict, probability, summary stay
    assert stripe_server.calls == [], stripe_server.paths()

    customer = checkout(client, "bob")
    stripe_server.subscriptions[customer] = subscription(customer, PRICES["pro"])
    body = event("evt_checkout_1", "checkout.session.completed", {"id": "cs_1", "customer": customer})
    r = deliver(client, body, sign(body))
    assert r.status_code == 200 and r.json()["handled"], r.text
    assert stripe_server.paths()[-1] == "GET /v1/subscriptions"
    _, _, listed = stripe_server.calls[-1]
    assert listed == {"customer": [customer], "limit": ["1"], "status": ["all"]}
    before = len(stripe_server.calls)
    pro = Report.model_validate(client.get(task["status_url"], headers=auth).json())  # same task, not re-run
    assert pro.tier == "pro" and not pro.limited and pro.result is not None
    assert state.backends.reports.get(task["task_id"])["attempts"] == 1  # read-time redaction: never re-processed
    assert len(pro.result.timeline) == pro.result.summary.windows and pro.result.detectors
    sub = client.get("/billing/subscription", headers=auth).json()
    assert sub["tier"] == "pro" and sub["status"] == "active" and sub["price_id"] == PRICES["pro"]
    assert len(stripe_server.calls) == before  # polling and reading the entitlement never call Stripe

    stripe_server.subscriptions[customer] = subscription(customer, PRICES["pro"], status="canceled")
    body = event("evt_deleted_1", "customer.subscription.deleted", stripe_server.subscriptions[customer])
    assert deliver(client, body, sign(body)).json()["handled"]
    again = Report.model_validate(client.get(task["status_url"], headers=auth).json())
    assert again.tier == "free" and again.limited and again.result is not None and len(again.result.timeline) == 3
    assert client.get("/billing/subscription", headers=auth).json()["status"] == "canceled"


def test_bad_replayed_and_out_of_order_webhooks_change_nothing(client: TestClient, stripe_server: FakeStripe) -> None:
    store = client.app.state.api.backends.accounts  # type: ignore[attr-defined]
    customer = checkout(client, "carol")
    stripe_server.subscriptions[customer] = subscription(customer, PRICES["pro"])
    calls = len(stripe_server.calls)
    body = event("evt_paid_1", "invoice.paid", {"id": "in_1", "object": "invoice", "customer": customer})
    tampered = body.replace("invoice.paid", "invoice.paid ")
    stale = sign(body, t=int(time.time()) - 600)  # Stripe's tolerance is 300 s
    for bad in (
        deliver(client, tampered, sign(body)),  # the body changed after signing
        deliver(client, body, stale),
        deliver(client, body, sign(body, "whsec_someone_else")),
        deliver(client, body, None),
        deliver(client, body, sign(body).replace("v1=", "v1=00")),
    ):
        assert_problem(bad, 400, "invalid-signature")
    assert store.get_entitlement("carol") is None and len(stripe_server.calls) == calls  # nothing changed

    ok = deliver(client, body, sign(body))
    assert ok.status_code == 200 and ok.json() == {
        "received": True,
        "event_id": "evt_paid_1",
        "handled": True,
        "duplicate": False,
    }
    assert store.get_entitlement("carol")["tier"] == "pro" and len(stripe_server.calls) == calls + 1
    # a replay (same event, freshly signed, later) is acknowledged and ignored: no Stripe read, no write
    stripe_server.subscriptions[customer] = subscription(customer, PRICES["enterprise"])
    replay = deliver(client, body, sign(body, t=int(time.time()) + 1))
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    assert store.get_entitlement("carol")["tier"] == "pro" and len(stripe_server.calls) == calls + 1

    # out of order: the cancellation arrives, then an older "updated" event that still says active. Each event
    # re-reads Stripe, so the stale payload cannot resurrect the subscription.
    canceled = subscription(customer, PRICES["pro"], status="canceled")
    stripe_server.subscriptions[customer] = canceled
    newer = event("evt_del_2", "customer.subscription.deleted", canceled, created=int(time.time()))
    older = event(
        "evt_upd_1",
        "customer.subscription.updated",
        subscription(customer, PRICES["pro"]),
        created=int(time.time()) - 60,
    )
    assert deliver(client, newer, sign(newer)).json()["handled"]
    assert deliver(client, older, sign(older)).json()["handled"]
    ent = store.get_entitlement("carol")
    assert (
        ent["status"] == "canceled"
        and client.get("/billing/subscription", headers=token(client, "carol")).json()["tier"] == "free"
    )
    # events for other things are acknowledged without a sync
    other = event("evt_x", "charge.refunded", {"id": "ch_1", "customer": customer})
    assert deliver(client, other, sign(other)).json()["handled"] is False


def test_unconfigured_billing_is_503_and_analysis_still_works(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, None))) as c:
        body = json.dumps({"id": "evt_1", "type": "invoice.paid"})
        assert_problem(deliver(c, body, sign(body)), 503, "unavailable")
        assert_problem(c.post("/billing/checkout", json={"tier": "pro"}, headers=token(c, "dave")), 503)
        assert c.get("/billing/subscription", headers=token(c, "dave")).json()["tier"] == "free"
