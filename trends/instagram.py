"""Ask Instagram, through Instaloader, how popular hashtags are — carefully.

Instaloader is synchronous and, by default, sleeps for up to 30 minutes when
Instagram pushes back. Here it makes one attempt per request with a short
timeout, and its rate controller raises instead of sleeping; the caller
(the background refresher, in a worker thread) decides when to try again.
Every Instagram failure becomes one `InstagramRefused` with a `kind`.
"""

from __future__ import annotations

from pathlib import Path

import instaloader
import requests
from instaloader import exceptions as ig

from trends.tags import is_valid, normalise


class InstagramRefused(Exception):
    """Instagram did not answer usefully. `kind` says how, for back-off and admin display."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


class RaisingRateController(instaloader.RateController):
    """Instaloader's rate tracking, but a wait becomes an error instead of a sleep."""

    def sleep(self, secs: float) -> None:
        raise InstagramRefused("rate_limited", f"Instaloader wanted to wait {secs:.0f} s")


def _translate(error: Exception) -> InstagramRefused:
    text = str(error)
    if isinstance(error, InstagramRefused):
        return error
    if isinstance(error, ig.TooManyRequestsException) or "429" in text:
        return InstagramRefused("rate_limited", text)
    if isinstance(error, ig.LoginRequiredException) or "login" in text.lower():
        return InstagramRefused("login_required", text)
    if isinstance(error, ig.AbortDownloadException) or "checkpoint" in text or "challenge" in text:
        return InstagramRefused("checkpoint", text)
    if "401" in text or "Please wait" in text:
        return InstagramRefused("please_wait", text)
    if isinstance(error, ig.QueryReturnedNotFoundException):
        return InstagramRefused("not_found", text)
    if isinstance(error, requests.exceptions.Timeout) or "timed out" in text.lower():
        return InstagramRefused("timeout", text)
    if isinstance(error, (KeyError, TypeError, ValueError, ig.BadResponseException)):
        return InstagramRefused("bad_response", f"unexpected JSON shape ({type(error).__name__}: {text})")
    return InstagramRefused("connection", text)


class InstagramClient:
    """Blocking Instagram look-ups; call from a worker thread, never from the event loop."""

    def __init__(self, session_file: Path | None = None, username: str | None = None, timeout: float = 10.0) -> None:
        self.loader = instaloader.Instaloader(
            quiet=True,
            sleep=False,
            max_connection_attempts=1,
            request_timeout=timeout,
            rate_controller=RaisingRateController,
            download_pictures=False,
            download_videos=False,
            save_metadata=False,
        )
        self.logged_in = False
        if session_file and session_file.is_file():
            self.loader.load_session_from_file(
                username or session_file.name.removeprefix("session-"), str(session_file)
            )
            self.logged_in = True

    def search(self, query: str) -> dict[str, int | None]:
        """Related hashtags with their post counts, read from the search result itself (one request)."""
        try:
            results = instaloader.TopSearchResults(self.loader.context, query)
            found: dict[str, int | None] = {}
            for hashtag in results.get_hashtags():
                # The search node already carries media_count; asking Hashtag.mediacount could
                # fire one extra request per tag when the node lacks it.
                node = hashtag._asdict()
                tag = normalise(str(node["name"]))
                count = node.get("media_count")
                if is_valid(tag):
                    found[tag] = int(count) if count is not None else None
            return found
        except Exception as error:
            raise _translate(error) from error

    def media_count(self, tag: str) -> int:
        """Post count of one tag (web_info; both JSON shapes Instagram has used)."""
        try:
            return int(instaloader.Hashtag.from_name(self.loader.context, tag).mediacount)
        except Exception as error:
            raise _translate(error) from error
