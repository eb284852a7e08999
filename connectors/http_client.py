"""A minimal JSON-over-HTTP client for alert channels: standard library only, always a timeout.

Failures are one error type, `DeliveryError`, saying whether trying again may help.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

DEFAULT_TIMEOUT_S = 5.0


class DeliveryError(RuntimeError):
    """A channel could not deliver; ``retryable`` says whether trying again may help.

    A refused connection, a timeout or an HTTP 5xx/408/429 is retryable (the endpoint is
    down or overloaded: an outage); any other HTTP answer (a 400 for a malformed alert, a 401
    for a wrong secret, a redirect) is not (the request is rejected). ``delivered`` counts
    the leading changes of a batch that did get through before the failure; ``rejected`` how
    many changes after those a non-retryable failure rejects.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        status: int | None = None,
        delivered: int = 0,
        rejected: int = 1,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.delivered = delivered
        self.rejected = rejected

    def after(self, delivered: int, rejected: int = 1) -> DeliveryError:
        """The same failure, at position ``delivered`` of a batch."""
        error = DeliveryError(
            str(self), retryable=self.retryable, status=self.status, delivered=delivered, rejected=rejected
        )
        error.__cause__ = self.__cause__
        return error


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib turns a redirected POST into a GET without the body and calls that a success;
    # an alert endpoint that redirects is misconfigured, so report the 3xx instead.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def shown(url: str) -> str:
    """``url`` fit for logs and messages: any user info (credentials) replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = "***@" + parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def post_json(url: str, body: bytes, *, timeout_s: float, headers: dict[str, str] | None = None) -> int:
    """POST ``body`` as JSON; the HTTP status on 2xx, else raise `DeliveryError` (without credentials)."""
    parts = urllib.parse.urlsplit(url)
    sent_headers = {"Content-Type": "application/json", "User-Agent": "mfgsync-alerting", **(headers or {})}
    if parts.username is not None:  # http://user:password@host/...: HTTP basic authentication
        credentials = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        sent_headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
        url = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    request = urllib.request.Request(url, data=body, method="POST", headers=sent_headers)
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        detail = ""
        with contextlib.suppress(OSError):
            detail = exc.read(300).decode("utf-8", "replace").strip()
        exc.close()
        retryable = exc.code >= 500 or exc.code in (408, 429)
        msg = f"POST {shown(url)} answered HTTP {exc.code}: {detail or exc.reason}"
        raise DeliveryError(msg, retryable=retryable, status=exc.code) from exc
    except urllib.error.URLError as exc:  # refused, DNS, timeout while connecting
        msg = f"POST {shown(url)} failed: {exc.reason}"
        raise DeliveryError(msg) from exc
    except (OSError, http.client.HTTPException) as exc:  # read timeout, reset, bad status line
        msg = f"POST {shown(url)} failed: {exc!r}"
        raise DeliveryError(msg) from exc
