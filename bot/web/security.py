"""What stands between a client and the web side's routes: connections, proxies, host names, headers, refusals.

The web side may face the internet (behind nginx, the README's advice) or a
browser on this machine, where another site's page can still reach it through
a rebinding DNS name. So, before any route runs:

- a connection must send each request's headers within WEB_IDLE_TIMEOUT_SECONDS
  of opening or of its last answer (aiohttp's keep-alive timer, which also
  runs before the first request), and at most WEB_MAX_CONNECTIONS are open,
  kept below the process's file limit so `accept()` never runs out;
- X-Forwarded-For is believed only from WEB_TRUSTED_PROXIES (aiohttp-remotes'
  XForwardedStrict): everyone else is one client per address;
- only the configured host names are served, whatever the port;
- every refusal is JSON with a `reason`, including the framework's own 404s and
  any failure inside a route; no log line holds a client's address.

Each response carries a strict Content-Security-Policy: the page and the
dashboard load only their own files, never inline script, and cannot be framed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import resource
import time
from collections.abc import Awaitable, Callable
from typing import NoReturn

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp_remotes import XForwardedStrict

from bot.config import Config
from bot.flood import FloodGuard
from bot.render import APOLOGY

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none';"
        " form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Server": "hashtag-bot",
}
# Names the web side answers to without WEB_ALLOWED_HOSTS: this machine's.
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
# Files the process keeps open besides web clients: the database, the models, the chat platforms' connections.
OTHER_FILES = 64
# Connections the kernel may queue, and asyncio accept in one go, before the cap is checked.
BACKLOG = 16
# A full server says so at most this often (seconds).
FULL_LOG_EVERY = 60.0
# Wrong tokens one client may send in TOKEN_WINDOW seconds before it is refused for the rest of the window.
TOKEN_TRIES, TOKEN_WINDOW = 5, 60.0
STATUS_REASONS = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "too_slow",
    413: "too_big",
    429: "too_many",
}


class Refusal(Exception):
    """A request refused with a status, a machine `reason` and a message for people."""

    def __init__(self, status: int, reason: str, message: str, **headers: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.headers = status, reason, message, headers

    def response(self) -> web.Response:
        body = {"reason": self.reason, "message": self.message}
        return web.json_response(body, status=self.status, headers=self.headers)


def error(status: int, reason: str, message: str, **headers: str) -> web.Response:
    """Every refusal the API gives: JSON with a machine `reason` and a `message` for people."""
    return Refusal(status, reason, message, **headers).response()


@web.middleware
async def json_refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The outermost layer: whatever went wrong inside becomes a JSON refusal, never a traceback page."""
    try:
        return await handler(request)
    except Refusal as refusal:
        return refusal.response()
    except web.HTTPException as exception:
        if exception.status < 400:
            raise
        reason = STATUS_REASONS.get(exception.status, "refused")
        kept = {name: value for name, value in exception.headers.items() if name in ("Allow", "Retry-After")}
        return error(exception.status, reason, exception.reason, **kept)
    except Exception:  # the client gets JSON; the log gets the traceback, never the address
        log.exception("web request failed: %s %s", request.method, request.path)
        return error(500, "error", APOLOGY)


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)


class TrustedProxies(XForwardedStrict):
    """With WEB_TRUSTED_PROXIES set the web side sits behind them: a request that did not come through
    one of them (or carries a forged chain) is refused, since its address could not be trusted."""

    async def raise_error(self, request: web.Request) -> NoReturn:
        log.info("refused a request that did not come through a trusted proxy (WEB_TRUSTED_PROXIES)")
        raise Refusal(400, "not_via_proxy", "This server is reached through its proxy only.")


def known_hosts(config: Config) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """Only this server's own names: a page elsewhere whose name rebinds to this address is refused.
    (A client that sends no Host header at all is no browser, and is let through.)"""
    names = {name.lower() for name in (*LOCAL_HOSTS, *config.web_allowed_hosts)}
    if config.web_host not in ("0.0.0.0", "::", ""):
        names.add(config.web_host.lower())

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if "Host" in request.headers and (request.url.host or "").lower() not in names:
            raise Refusal(421, "unknown_host", "This server does not answer to that host name (WEB_ALLOWED_HOSTS).")
        return await handler(request)

    return middleware


def guard(app: web.Application, config: Config) -> None:
    """Put the checks every request passes through on `app`, outermost first."""
    app.middlewares.append(json_refusals)
    if config.web_trusted_proxies:
        app.middlewares.append(TrustedProxies([list(config.web_trusted_proxies)]).middleware)
    app.middlewares.append(known_hosts(config))
    app.on_response_prepare.append(add_security_headers)
    # aiohttp-remotes logs each refused request with the client's address; our own line says it without.
    logging.getLogger("aiohttp_remotes").setLevel(logging.CRITICAL)


class ClientIds:
    """Who is asking, as the request log and the limits keep it: a keyed hash of the address.

    The key is this installation's secret (`storage.secrets`), so the log cannot be
    turned back into addresses by hashing every address there is.
    """

    def __init__(self, key: bytes) -> None:
        self.key = key

    def __call__(self, request: web.Request) -> str:
        return hmac.new(self.key, (request.remote or "?").encode(), hashlib.sha256).hexdigest()[:16]


class TokenCheck:
    """Compare a bearer token in constant time, log wrong ones (never the token), and refuse a client
    that keeps guessing for the rest of the window."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.wrong = FloodGuard(TOKEN_TRIES, TOKEN_WINDOW)

    def check(self, client: str, given: str, token: str) -> bool:
        """True for the right token; raises `Refusal` (429) while `client` is locked out."""
        if wait := self.wrong.wait(client):
            raise Refusal(
                429,
                "too_many_wrong_tokens",
                "Too many wrong tokens: wait a minute before trying again.",
                **{"Retry-After": str(max(1, round(wait)))},
            )
        if hmac.compare_digest(given.encode(), token.encode()):
            return True
        self.wrong.allow(client)
        tries = self.wrong.count(client)
        log.warning("wrong %s from web client %s (%d in the last minute)", self.name, client, tries)
        if tries == TOKEN_TRIES:
            log.warning("web client %s is refused for %.0f s: too many wrong tokens", client, TOKEN_WINDOW)
        return False


def bearer(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def connection_limit(wanted: int) -> int:
    """How many web connections may be open: `wanted`, or fewer when the process's file limit is lower.

    The soft limit is raised to the hard one first (systemd's LimitNOFILE sets both); what is left
    after the bot's other files and the accept backlog is the most the web side may hold.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    room = soft - OTHER_FILES - BACKLOG
    if room < wanted:
        log.warning(
            "the process may open only %d files: at most %d web connections (WEB_MAX_CONNECTIONS=%d)",
            soft,
            max(room, 1),
            wanted,
        )
    return max(1, min(wanted, room))


class _TurnedAway(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.abort()


class QuietRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering a request it cannot even parse (a bad header, a line too
    long, TLS on the plain port) in JSON like every other refusal, and logging it without the address."""

    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        log.debug("refused a malformed HTTP request (%s)", type(exc).__name__ if exc else status)
        response = error(status, STATUS_REASONS.get(status, "error"), "The request could not be read.")
        response.headers.update(SECURITY_HEADERS)
        response.force_close()
        return response


class ConnectionCap:
    """The web server's protocol factory: `QuietRequestHandler`s, and connections beyond `limit` turned
    away at once.

    Turned-away connections are closed without a word (a full server cannot afford the answer);
    the log says so at most once a minute, with how many, not once per connection.
    """

    def __init__(self, server: web.Server, limit: int, **handler_options: object) -> None:
        self.server, self.limit, self.options = server, limit, handler_options
        self.turned_away = 0
        self._said_at: float | None = None

    def __call__(self) -> asyncio.Protocol:
        if len(self.server.connections) < self.limit:
            return QuietRequestHandler(self.server, loop=asyncio.get_running_loop(), **self.options)
        self.turned_away += 1
        now = time.monotonic()
        if self._said_at is None or now - self._said_at >= FULL_LOG_EVERY:
            log.warning(
                "web connections at the limit (%d): turning new ones away until some close (%d so far)",
                self.limit,
                self.turned_away,
            )
            self._said_at = now
        return _TurnedAway()
