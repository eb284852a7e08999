"""The generic JSON webhook channel (SPEC 7): one signed POST per signal's latest state.

The body is the signal record itself (``model_dump(mode="json")``); `ALERT_STATUS_HEADER`
says whether the alert fires or ends; with a secret, `SIGNATURE_HEADER` carries an
HMAC-SHA256 of the body that receivers check with `verify_signature`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence

from pydantic import SecretStr

from mfgsync.connectors.alert_dispatch import AlertChange
from mfgsync.connectors.http_client import DEFAULT_TIMEOUT_S, DeliveryError, post_json
from mfgsync.schemas.outputs import ShortageSignal
from mfgsync.schemas.vocabulary import SHORTAGE_STATES

SIGNATURE_HEADER = "X-Mfgsync-Signature"
"""Header carrying ``sha256=<hex HMAC-SHA256 of the body>`` on signed webhook requests."""

ALERT_STATUS_HEADER = "X-Mfgsync-Alert-Status"
"""Header saying ``firing`` or ``resolved`` on webhook requests; ``resolved`` also when a signal
fell below the minimum severity (its body then still says RAISED/UPDATED, with that severity)."""


def _secret_bytes(secret: SecretStr | str | bytes) -> bytes:
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    return secret.encode() if isinstance(secret, str) else secret


def sign(body: bytes, secret: SecretStr | str | bytes) -> str:
    """The signature header value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(_secret_bytes(secret), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secret: SecretStr | str | bytes) -> bool:
    """True when ``header`` is the signature of exactly ``body`` under ``secret``.

    For receivers: verify the raw request body before parsing it. Compares in constant time.
    """
    if not header:
        return False
    return hmac.compare_digest(header.strip().encode(), sign(body, secret).encode())


def webhook_body(signal: ShortageSignal) -> bytes:
    """The JSON body a webhook receives: the signal's fields as ``model_dump(mode="json")``."""
    return json.dumps(signal.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False).encode()


class WebhookChannel:
    """POSTs each change as the signal's JSON; an end only for an alert it delivered as firing.

    The ids it delivered as firing and not ended are its state (bounded by the open alerts),
    so the end of an alert the receiver never saw firing is not sent.
    """

    def __init__(
        self,
        url: str,
        secret: SecretStr | None = None,
        *,
        name: str = "webhook",
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.name = name
        self.url = url
        self.timeout_s = timeout_s
        self._secret = secret
        self._open: set[str] = set()

    @property
    def active_alerts(self) -> int:
        """How many alerts the receiver was last told are firing."""
        return len(self._open)

    def deliver(self, changes: Sequence[AlertChange]) -> None:
        for position, (signal, firing) in enumerate(changes):
            if not firing and signal.signal_id not in self._open:
                continue
            try:
                self._post(signal, firing)
            except DeliveryError as exc:
                raise exc.after(position) from exc.__cause__
            if firing:
                self._open.add(signal.signal_id)
            else:
                self._open.discard(signal.signal_id)

    def _post(self, signal: ShortageSignal, firing: bool) -> None:
        body = webhook_body(signal)
        headers = {
            ALERT_STATUS_HEADER: "firing" if firing and signal.state != SHORTAGE_STATES.closed else "resolved"
        }
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(body, self._secret)
        post_json(self.url, body, timeout_s=self.timeout_s, headers=headers)

    def maintain(self) -> None:
        return None

    def resync(self) -> None:
        return None  # every change waits, coalesced, until delivered: nothing else to replay
