"""The web's routes, in the bot's own process: a page to try it, its JSON API, and the admins' dashboard.

    GET  /                  the try-it page (static, every asset served from bot/web/static)
    POST /api/hashtags      a photo as the body or as multipart field "image" → JSON (see README)
    GET  /api/answers/{id}  the same answer with another number of tags (?count=), without the photo again
    GET  /admin             the dashboard page; its figures come from
    GET  /api/dashboard     with "Authorization: Bearer <WEB_ADMIN_TOKEN>"

It uses the one pipeline, model and database the chat adapters use, on
aiohttp's server (already installed with discord.py). Listening on
127.0.0.1 it needs no token; any other address needs WEB_API_TOKEN, sent as
a bearer token (config refuses to start without it). Tokens are compared in
constant time and never logged: aiohttp's access log is off, and the bot's
own line per request carries no header. What every request passes through
first (connection limits, proxies, host names, headers) is `bot.web.security`.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import web

from bot.config import Config
from bot.flood import FloodGuard
from bot.pipeline import Pipeline
from bot.render import APOLOGY, MAX_TAG_COUNT, TIER_NAMES, post_note, subject_line, tag_count, too_big, too_big_text
from bot.web import PLATFORM
from bot.web.dashboard import render_dashboard
from bot.web.security import ClientIds, Refusal, TokenCheck, bearer, error, guard
from inference.decode import ImageRejected
from inference.scene import Scene
from trends.composer import ChosenTag, ComposedTags

log = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("static")
PAGES = {"/": "index.html", "/admin": "admin.html"}
# Multipart framing around the photos: the body may exceed the photos' own limit by this much.
FORM_OVERHEAD = 64 * 1024
# The photos of one post that one request may carry (each "image" field of a form), answered with one set of tags.
POST_PHOTOS = 4
RATE_WINDOW = 60.0
# A refusal for a photo that is too large to use is 413, like a body over the size limit.
TOO_LARGE = {"too_many_pixels"}
BAD_COUNT = f"count must be a number from 1 to {MAX_TAG_COUNT}."


def answer_json(key: str, scene: Scene, model_version: str, tags: ComposedTags) -> dict:
    """What the API returns for a photo: what it shows, the tags with their tiers and counts, the model."""
    return {
        "id": key,
        "subject": subject_line(scene),
        "sure": scene.sure,
        "named": [
            {"key": n.key, "phrase": n.phrase, "detail": n.detail, "source": n.source, "score": round(n.score, 3)}
            for n in scene.named
        ],
        "tags": [tag_json(t) for t in tags.tags],
        "line": tags.line,
        "model_version": model_version,
    }


def tag_json(tag: ChosenTag) -> dict:
    """One tag; its post count and tier only where they are known (no Instagram session: neither is)."""
    found: dict = {"tag": tag.tag, "for": tag.label}
    if tag.tier in TIER_NAMES:
        found |= {"tier": tag.tier, "tier_name": TIER_NAMES[tag.tier]}
    if tag.media_count is not None:
        found["posts"] = tag.media_count
    return found


class WebHandlers:
    """The routes and what they share: the rate per client and the tokens."""

    def __init__(self, config: Config, pipeline: Pipeline, client_ids: ClientIds) -> None:
        self.config, self.pipeline, self._client = config, pipeline, client_ids
        self.rate = FloodGuard(config.web_photos_per_minute, RATE_WINDOW)
        self.api_token, self.admin_token = TokenCheck("API token"), TokenCheck("admin token")

    def application(self) -> web.Application:
        app = web.Application(client_max_size=self.config.max_file_bytes * POST_PHOTOS + FORM_OVERHEAD)
        guard(app, self.config)
        for path in PAGES:
            app.router.add_get(path, self.page)
        app.router.add_static("/static", STATIC)
        app.router.add_post("/api/hashtags", self.hashtags)
        app.router.add_get("/api/answers/{key}", self.again)
        app.router.add_get("/api/dashboard", self.dashboard)
        return app

    async def page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / PAGES[request.path], headers={"Cache-Control": "no-cache"})

    async def hashtags(self, request: web.Request) -> web.StreamResponse:
        """A photo in, its hashtags out; the same refusals as in the chats, with fitting statuses."""
        client = self._client(request)
        refused = self._refuse_without_token(request, client)
        if refused:
            return refused
        if not self.rate.allow(client):
            wait = max(1, round(self.rate.wait(client)))
            return error(
                429,
                "too_many",
                f"That's a lot of photos at once — please wait {wait} s (limit: {self.rate.limit} a minute).",
                **{"Retry-After": str(wait)},
            )
        count = self._count(request)
        if count is None:
            return error(400, "bad_count", BAD_COUNT)
        try:
            photos = await self._photos(request)
        except web.HTTPRequestEntityTooLarge:
            photos = None
        if photos is None or any(too_big(len(photo), self.config.max_file_bytes) for photo in photos):
            return error(413, "too_big", too_big_text(None, self.config.max_file_bytes))
        if not photos or not all(photos):
            return error(400, "empty", "Send a photo: as the request body, or as the form field “image”.")
        if len(photos) > POST_PHOTOS:
            return error(400, "too_many_photos", f"Send at most {POST_PHOTOS} photos of one post at once.")
        try:
            answer = await self.pipeline.answer(photos, PLATFORM, client, client, tag_count=count)
        except ImageRejected as rejected:
            return error(413 if rejected.reason in TOO_LARGE else 400, rejected.reason, rejected.message)
        except Exception:  # logged by the pipeline and here; the caller gets JSON, not a stack trace
            log.exception("web request failed")
            return error(500, "error", APOLOGY)
        key, kept = self.pipeline.keep(answer)
        body = answer_json(key, kept.scene, kept.model_version, answer.tags) | {"photos": answer.photos}
        if answer.photos > 1:
            body["note"] = post_note(answer)
            body["skipped"] = [
                {"photo": index + 1, "reason": why.reason, "message": why.message} for index, why in answer.skipped
            ]
        response = web.json_response(body)

        async def send() -> None:
            await response.prepare(request)
            await response.write_eof()

        await self.pipeline.deliver([answer], send)
        return response

    async def again(self, request: web.Request) -> web.Response:
        """A kept answer with `count` tags: the page's tag count changes without sending the photo again."""
        refused = self._refuse_without_token(request, self._client(request))
        if refused:
            return refused
        key, count = request.match_info["key"], self._count(request)
        if count is None:
            return error(400, "bad_count", BAD_COUNT)
        kept = await self.pipeline.kept(key)
        if kept is None:
            return error(404, "gone", "This answer is too old — please send the photo again.")
        tags = await self.pipeline.recompose(kept.scene, count)
        return web.json_response(answer_json(key, kept.scene, kept.model_version, tags))

    def _refuse_without_token(self, request: web.Request, client: str) -> web.Response | None:
        token = self.config.web_api_token
        if token and not self.api_token.check(client, bearer(request), token):
            return error(401, "unauthorized", "This API needs its token: Authorization: Bearer <WEB_API_TOKEN>.")
        return None

    def _count(self, request: web.Request) -> int | None:
        return tag_count(request.query.get("count", self.config.default_tag_count))

    async def _photos(self, request: web.Request) -> list[bytes]:
        """The photos' bytes from a raw body (one) or a multipart form (each field "image": the photos of one
        post); nothing else is kept. A body that trickles in is cut off after WEB_BODY_TIMEOUT_SECONDS."""
        try:
            async with asyncio.timeout(self.config.web_body_timeout):
                if not request.content_type.startswith("multipart/"):
                    return [await request.read()]
                form = await request.post()
        except TimeoutError:
            raise Refusal(
                408, "too_slow", "The photo took too long to arrive: please send it again on a faster connection."
            ) from None
        except (ValueError, AssertionError, web.HTTPBadRequest):  # aiohttp's words for a broken form
            raise Refusal(
                400, "bad_form", "The form could not be read: send the photo as the form field “image”."
            ) from None
        return [field.file.read() for field in form.getall("image", []) if isinstance(field, web.FileField)]

    async def dashboard(self, request: web.Request) -> web.Response:
        """The dashboard's sections as HTML, for the admins only."""
        token = self.config.web_admin_token
        if not token:
            return error(403, "disabled", "The dashboard is off: set WEB_ADMIN_TOKEN to turn it on.")
        if not self.admin_token.check(self._client(request), bearer(request), token):
            return error(401, "unauthorized", "Wrong or missing admin token.")
        html = render_dashboard(await self.pipeline.report())
        return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})
