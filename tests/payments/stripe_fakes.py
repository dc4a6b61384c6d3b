"""Test doubles at the HTTP boundary, for exactly what localstripe lacks.

localstripe (run on loopback) serves PaymentIntents, charges, refunds, customers. It has no
Connect: accounts, account links, transfers, reversals, disputes and payouts are answered here by
`FakeConnect`, a stateful `responses` mock that honours Idempotency-Key like Stripe; every other
request passes through to localstripe. Events are built from the JSON fixtures in
tests/fixtures/stripe/ and signed exactly as Stripe signs them.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import requests
import responses
from django.conf import settings

from marketplace.payments import gateway

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "stripe"
_ids = itertools.count(1)


def fixture(name: str, **overrides: Any) -> dict[str, Any]:
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    data.update(overrides)
    return data


def stripe_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(7)}"


def event(kind: str, obj: dict[str, Any], *, account: str | None = None) -> dict[str, Any]:
    data = fixture("event", id=stripe_id("evt"), type=kind, created=int(time.time()))
    data["data"] = {"object": obj}
    if account:
        data["account"] = account
    return data


def signed(payload: dict[str, Any] | str, *, secret: str, timestamp: int | None = None):
    """(raw body, Stripe-Signature header) as Stripe would send them."""
    body = payload if isinstance(payload, str) else json.dumps(payload)
    header = gateway.webhook_signature(
        payload=body, secret=secret, timestamp=timestamp or int(time.time())
    )
    return body, header


def post_event(client: Any, payload: dict[str, Any], *, connect: bool = False, **kwargs: Any):
    secret = settings.STRIPE_CONNECT_WEBHOOK_SECRET if connect else settings.STRIPE_WEBHOOK_SECRET
    body, header = signed(payload, secret=kwargs.pop("secret", secret), **kwargs)
    url = "/webhooks/stripe/connect/" if connect else "/webhooks/stripe/"
    return client.post(
        url, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )


def _form(request: Any) -> dict[str, str]:
    body = request.body or ""
    if isinstance(body, bytes):
        body = body.decode()
    return dict(parse_qsl(body))


class FakeConnect:
    """Stripe Connect as the platform sees it, kept in memory for one test."""

    def __init__(self, mock: responses.RequestsMock, base: str) -> None:
        self.mock, self.base = mock, base.rstrip("/")
        self.accounts: dict[str, dict[str, Any]] = {}
        self.transfers: dict[str, dict[str, Any]] = {}
        self.disputes: dict[str, dict[str, Any]] = {}
        self.payouts: dict[str, dict[str, Any]] = {}  # payout id -> (account id, payout)
        self.idempotent: dict[str, tuple[int, str]] = {}
        self.calls: list[tuple[str, str]] = []
        self.failures: list[tuple[str, Exception | int]] = []
        # Stripe handles requests with the same Idempotency-Key one at a time (the second waits,
        # or gets a 409 that stripe-python retries): so does the fake, for threaded tests.
        self._lock = threading.RLock()
        routes = [
            ("POST", r"/v1/accounts$", self._account_create),
            ("GET", r"/v1/accounts/(?P<id>acct_\w+)$", self._account_get),
            ("POST", r"/v1/account_links$", self._account_link),
            ("POST", r"/v1/transfers$", self._transfer_create),
            ("GET", r"/v1/transfers/(?P<id>tr_\w+)$", self._transfer_get),
            ("POST", r"/v1/transfers/(?P<id>tr_\w+)/reversals$", self._reversal_create),
            ("GET", r"/v1/disputes/(?P<id>dp_\w+)$", self._dispute_get),
            ("GET", r"/v1/payouts/(?P<id>po_\w+)$", self._payout_get),
        ]
        for method, path, handler in routes:
            mock.add_callback(
                method, re.compile(re.escape(self.base) + path), callback=self._wrap(path, handler)
            )
        mock.add_passthru(self.base)

    # -- test controls -------------------------------------------------------------------------
    def fail_next(self, path_fragment: str, failure: Exception | int) -> None:
        """The next call whose path contains `path_fragment` raises `failure` (e.g.
        requests.ConnectionError) or answers that HTTP status, before doing anything."""
        self.failures.append((path_fragment, failure))

    def enable_payouts(self, account_id: str) -> dict[str, Any]:
        account = self.accounts[account_id]
        account.update(payouts_enabled=True, charges_enabled=True, details_submitted=True)
        account["requirements"]["currently_due"] = []
        account["capabilities"]["transfers"] = "active"
        return copy.deepcopy(account)

    def open_dispute(
        self, *, charge_id: str, amount: int, status: str = "needs_response"
    ) -> dict[str, Any]:
        dispute = fixture(
            "dispute", id=stripe_id("dp"), charge=charge_id, amount=amount, status=status
        )
        self.disputes[dispute["id"]] = dispute
        return copy.deepcopy(dispute)

    def close_dispute(self, dispute_id: str, status: str) -> dict[str, Any]:
        self.disputes[dispute_id]["status"] = status
        return copy.deepcopy(self.disputes[dispute_id])

    def pay_out(self, account_id: str, *, amount: int, status: str = "pending") -> dict[str, Any]:
        """Stripe starts a payout from the connected account to its bank."""
        payout = fixture("payout", id=stripe_id("po"), amount=amount, status=status)
        self.payouts[payout["id"]] = {**payout, "_account": account_id}
        return self.payout(payout["id"])

    def payout_moves(self, payout_id: str, status: str, **fields: Any) -> dict[str, Any]:
        self.payouts[payout_id].update(status=status, **fields)
        return self.payout(payout_id)

    def payout(self, payout_id: str) -> dict[str, Any]:
        return {k: v for k, v in copy.deepcopy(self.payouts[payout_id]).items() if k != "_account"}

    def transfers_to(self, account_id: str) -> list[dict[str, Any]]:
        return [t for t in self.transfers.values() if t["destination"] == account_id]

    # -- plumbing ---------------------------------------------------------------------------------
    def _wrap(self, path: str, handler: Any) -> Any:
        def callback(request: Any) -> tuple[int, dict[str, str], str]:
            with self._lock:
                return handle(request)

        def handle(request: Any) -> tuple[int, dict[str, str], str]:
            self.calls.append((request.method, request.url))
            for i, (fragment, failure) in enumerate(self.failures):
                if fragment in request.url:
                    del self.failures[i]
                    if isinstance(failure, Exception):
                        raise failure
                    return (
                        failure,
                        {},
                        json.dumps({"error": {"message": "injected failure", "type": "api_error"}}),
                    )
            key = request.headers.get("Idempotency-Key")
            if request.method == "POST" and key and key in self.idempotent:
                status, body = self.idempotent[key]
                return status, {"Idempotent-Replayed": "true"}, body
            match = re.search(path, request.url.split("?")[0])
            status, data = handler(request, **(match.groupdict() if match else {}))
            body = json.dumps(data)
            if request.method == "POST" and key:
                self.idempotent[key] = (status, body)
            return status, {}, body

        return callback

    def _not_found(self, what: str) -> tuple[int, dict[str, Any]]:
        return 404, {"error": {"type": "invalid_request_error", "message": f"No such {what}"}}

    def _account_create(self, request: Any) -> tuple[int, dict[str, Any]]:
        form = _form(request)
        account = fixture("account", id=stripe_id("acct"), email=form.get("email"))
        self.accounts[account["id"]] = account
        return 200, account

    def _account_get(self, request: Any, id: str) -> tuple[int, dict[str, Any]]:
        return (200, self.accounts[id]) if id in self.accounts else self._not_found("account")

    def _account_link(self, request: Any) -> tuple[int, dict[str, Any]]:
        form = _form(request)
        if form.get("account") not in self.accounts:
            return self._not_found("account")
        return 200, {
            "object": "account_link",
            "url": f"https://connect.stripe.com/setup/e/{form['account']}/{secrets.token_hex(6)}",
            "expires_at": int(time.time()) + 300,
        }

    def _transfer_create(self, request: Any) -> tuple[int, dict[str, Any]]:
        form = _form(request)
        if form.get("destination") not in self.accounts:
            return self._not_found("destination account")
        if not self.accounts[form["destination"]]["payouts_enabled"]:
            return 400, {"error": {"type": "invalid_request_error", "message": "payouts disabled"}}
        transfer = fixture(
            "transfer",
            id=stripe_id("tr"),
            amount=int(form["amount"]),
            currency=form["currency"],
            destination=form["destination"],
            source_transaction=form.get("source_transaction"),
            transfer_group=form.get("transfer_group"),
        )
        self.transfers[transfer["id"]] = transfer
        return 200, transfer

    def _transfer_get(self, request: Any, id: str) -> tuple[int, dict[str, Any]]:
        return (200, self.transfers[id]) if id in self.transfers else self._not_found("transfer")

    def _reversal_create(self, request: Any, id: str) -> tuple[int, dict[str, Any]]:
        transfer = self.transfers.get(id)
        if transfer is None:
            return self._not_found("transfer")
        amount = int(_form(request).get("amount", transfer["amount"] - transfer["amount_reversed"]))
        if amount > transfer["amount"] - transfer["amount_reversed"]:
            return 400, {"error": {"type": "invalid_request_error", "message": "too much"}}
        reversal = {
            "id": stripe_id("trr"),
            "object": "transfer_reversal",
            "amount": amount,
            "transfer": id,
        }
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        transfer["reversals"]["data"].append(reversal)
        return 200, reversal

    def _payout_get(self, request: Any, id: str) -> tuple[int, dict[str, Any]]:
        # A connected account's payout is read with its Stripe-Account header, as at Stripe.
        payout = self.payouts.get(id)
        if payout is None or request.headers.get("Stripe-Account") != payout["_account"]:
            return self._not_found("payout")
        return 200, self.payout(id)

    def _dispute_get(self, request: Any, id: str) -> tuple[int, dict[str, Any]]:
        return (200, self.disputes[id]) if id in self.disputes else self._not_found("dispute")


__all__ = ["FakeConnect", "event", "fixture", "post_event", "requests", "signed", "stripe_id"]
