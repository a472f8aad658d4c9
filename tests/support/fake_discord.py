"""A local fake of Discord (gateway websocket + REST + attachment CDN), aiohttp on 127.0.0.1.

The real discord.py logs in, connects to the gateway, receives READY and
INTERACTION_CREATE dispatches, and answers through the REST interaction and
webhook endpoints, which record what it sent and refuse what Discord would
(over-long messages, a second initial response, an unknown interaction).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from aiohttp import WSMsgType, web

from tests.support.changes import Changes

TOKEN = "fake-discord-token.for.tests"
APP_ID = 4242
BOT_USER = {
    "id": str(APP_ID),
    "username": "hashtags",
    "discriminator": "0",
    "avatar": None,
    "bot": True,
    "global_name": None,
}


def _json(data: Any, status: int = 200) -> web.Response:
    """discord.py parses a body only when Content-Type is exactly 'application/json', as Discord sends it."""
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


def _message(message_id: str, content: str, author: dict, attachments: list[dict]) -> dict:
    """A channel message payload as Discord sends it."""
    return {
        "id": message_id,
        "channel_id": "600",
        "content": content,
        "author": author,
        "timestamp": "2024-01-01T00:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": attachments,
        "embeds": [],
        "pinned": False,
        "type": 0,
    }


EPHEMERAL_FLAG = 64


class FakeDiscord:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.callbacks: list[dict] = []
        self.followups: list[dict] = []
        self.synced: dict[str, list[dict]] = {}
        self.rejected: list[str] = []
        self.identified = asyncio.Event()
        self._sockets: list[web.WebSocketResponse] = []
        self.shards: dict[web.WebSocketResponse, tuple[int, int]] = {}  # each connection's [shard id, count]
        self.delivered: dict[str, int] = {}  # event payload id → the shard it was sent to
        self._sequence = itertools.count(1)
        self._ids = itertools.count(10_000)
        self._interactions: dict[str, dict] = {}
        self._changes = Changes()
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.callback_delay = 0.0
        self.deleted_originals: set[str] = set()  # interaction tokens whose deferred response was deleted
        self.cdn_failures: list[int | str] = []  # statuses (or "reset") the next attachment downloads get
        self.gateway_down = 0
        self.rest_down = 0  # the next logins (GET /users/@me) have their connection dropped
        self.closing_code: int | None = None  # the next connections to the gateway are refused (502), as in an outage
        self.followup_failures: list[int] = []  # statuses the next followups get instead of being posted
        self.cdn_open = asyncio.Event()  # cleared: attachment downloads wait (a stuck CDN), counted in cdn_waiting
        self.cdn_open.set()
        self.cdn_waiting = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v10/users/@me", self._me)
        app.router.add_get("/api/v10/oauth2/applications/@me", self._application)
        app.router.add_get("/api/v10/gateway/bot", self._gateway_bot)
        app.router.add_get("/gateway", self._websocket)
        app.router.add_get("/gateway/", self._websocket)
        app.router.add_post("/api/v10/interactions/{id}/{token}/callback", self._callback)
        app.router.add_post("/api/v10/webhooks/{app}/{token}", self._followup)
        app.router.add_delete("/api/v10/webhooks/{app}/{token}/messages/@original", self._delete_original)
        app.router.add_put("/api/v10/applications/{app}/commands", self._sync)
        app.router.add_put("/api/v10/applications/{app}/guilds/{guild}/commands", self._sync)
        app.router.add_get("/attachments/{id}/{name}", self._attachment)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v10"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def stop(self) -> None:
        for socket in self._sockets:
            await socket.close()
        if self.runner:
            await self.runner.cleanup()
            self.runner = None

    # -- test side ----------------------------------------------------------------

    async def close_gateway(self, code: int) -> None:
        """Close every gateway connection with `code`, as Discord does (4004: the token was revoked,
        and every later identify or resume is refused the same way)."""
        self.closing_code = code
        for socket in self._sockets:
            await socket.close(code=code)
        self._sockets.clear()

    def attachment(
        self, data: bytes, name: str = "photo.jpg", content_type: str | None = "image/jpeg", size: int | None = None
    ) -> dict:
        attachment_id = str(next(self._ids))
        self.files[attachment_id] = data
        url = f"{self.url}/attachments/{attachment_id}/{name}"
        return {
            "id": attachment_id,
            "filename": name,
            "size": len(data) if size is None else size,
            "url": url,
            "proxy_url": url,
            **({"content_type": content_type} if content_type else {}),
        }

    def _interaction(self, data: dict, user_id: int, permissions: str = "0", guild_id: int | None = 500) -> dict:
        interaction_id = str(next(self._ids))
        user = {
            "id": str(user_id),
            "username": f"user{user_id}",
            "discriminator": "0",
            "avatar": None,
            "global_name": None,
        }
        payload: dict[str, Any] = {
            "id": interaction_id,
            "application_id": str(APP_ID),
            "type": 2,
            "token": f"token{interaction_id}",
            "version": 1,
            "channel_id": "600",
            "locale": "en-US",
            "app_permissions": "0",
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "authorizing_integration_owners": {},
            "data": data,
            "channel": {
                "id": "600",
                "type": 0,
                "name": "general",
                "position": 0,
                "permission_overwrites": [],
                "nsfw": False,
                "parent_id": None,
                **({"guild_id": str(guild_id)} if guild_id else {}),
            },
        }
        if guild_id:
            payload.update(
                guild_id=str(guild_id),
                guild_locale="en-US",
                context=0,
                member={
                    "user": user,
                    "roles": [],
                    "joined_at": "2024-01-01T00:00:00+00:00",
                    "deaf": False,
                    "mute": False,
                    "permissions": permissions,
                    "flags": 0,
                },
            )
        else:
            payload.update(user=user, context=1)
        self._interactions[interaction_id] = payload
        return payload

    async def slash(
        self,
        user_id: int,
        name: str,
        options: list[dict],
        attachments: list[dict] = (),
        permissions: str = "0",
        guild_id: int | None = 500,
    ) -> str:
        data = {"id": "1", "name": name, "type": 1, "options": options}
        if attachments:
            data["resolved"] = {"attachments": {a["id"]: a for a in attachments}}
        payload = self._interaction(data, user_id, permissions, guild_id)
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload["id"]

    async def ask_for_hashtags(self, user_id: int, photo: bytes) -> str:
        """`/hashtags image:<photo>` once the bot is connected; waits for its answer, returns the interaction id."""
        await asyncio.wait_for(self.identified.wait(), 90)
        attachment = self.attachment(photo)
        interaction = await self.slash(
            user_id, "hashtags", [{"name": "image", "type": 11, "value": attachment["id"]}], [attachment]
        )
        await self.wait_for(lambda: self.responses_to(interaction)[1], timeout=60)
        return interaction

    async def context_menu(self, user_id: int, attachments: list[dict]) -> str:
        message = _message("800", "look", {**BOT_USER, "id": "9", "bot": False}, attachments)
        data = {
            "id": "2",
            "name": "Get hashtags",
            "type": 3,
            "target_id": "800",
            "resolved": {"messages": {"800": message}},
        }
        payload = self._interaction(data, user_id)
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload["id"]

    async def dispatch(self, event: str, data: dict) -> None:
        """Send an event as Discord does: to the connection of the shard its server belongs to
        ((server id >> 22) % shard count; direct messages go to shard 0)."""
        await self.identified.wait()
        message = json.dumps({"op": 0, "t": event, "s": next(self._sequence), "d": data})
        guild = int(data.get("guild_id") or 0)
        for socket in self._sockets:
            shard, count = self.shards.get(socket, (0, 1))
            if (guild >> 22) % count == shard:
                self.delivered[data.get("id", "")] = shard
                await socket.send_str(message)

    async def wait_for(self, predicate, timeout: float = 30.0) -> None:
        await self._changes.wait_for(predicate, timeout)

    def responses_to(self, interaction_id: str) -> tuple[list[dict], list[dict]]:
        token = self._interactions[interaction_id]["token"]
        return (
            [c for c in self.callbacks if c["interaction"] == interaction_id],
            [f for f in self.followups if f["token"] == token],
        )

    # -- Discord side -------------------------------------------------------------

    def _notify(self) -> None:
        self._changes.notify()

    async def _me(self, request: web.Request) -> web.Response:
        if self.rest_down:
            self.rest_down -= 1
            request.transport.abort()  # the REST API unreachable: the login's connection drops
            return web.Response(status=500)
        if request.headers.get("Authorization") != f"Bot {TOKEN}":
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        return _json(BOT_USER)

    async def _application(self, request: web.Request) -> web.Response:
        return _json(
            {
                "id": str(APP_ID),
                "name": "hashtags",
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "00",
                "owner": BOT_USER,
                "flags": 0,
                "interactions_endpoint_url": None,
            }
        )

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        return _json(
            {
                "url": self.ws_url,
                "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
            }
        )

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if self.gateway_down:
            self.gateway_down -= 1
            return web.Response(status=502)
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await socket.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                continue
            payload = json.loads(message.data)
            if payload["op"] in (2, 6) and self.closing_code in (4004, 4010, 4011, 4012, 4013, 4014):
                await socket.close(code=self.closing_code)
                break
            if payload["op"] == 1:
                await socket.send_str(json.dumps({"op": 11}))
            elif payload["op"] == 2:
                shard = payload["d"].get("shard", [0, 1])
                await socket.send_str(
                    json.dumps(
                        {
                            "op": 0,
                            "t": "READY",
                            "s": next(self._sequence),
                            "d": {
                                "v": 10,
                                "user": BOT_USER,
                                "guilds": [],
                                "session_id": "session",
                                "shard": shard,
                                "resume_gateway_url": self.ws_url,
                                "application": {"id": str(APP_ID), "flags": 0},
                                "private_channels": [],
                                "relationships": [],
                            },
                        }
                    )
                )
                self._sockets.append(socket)
                self.shards[socket] = (shard[0], shard[1])
                self.identified.set()
        return socket

    async def _callback(self, request: web.Request) -> web.Response:
        body = await request.json()
        interaction_id = request.match_info["id"]
        interaction = self._interactions.get(interaction_id)
        if interaction is None or any(c["interaction"] == interaction_id for c in self.callbacks):
            self.rejected.append(f"callback for {interaction_id}")
            self._notify()
            return _json({"message": "Interaction has already been acknowledged.", "code": 40060}, status=400)
        content = (body.get("data") or {}).get("content") or ""
        if len(content) > 2000:
            self.rejected.append("content over 2000")
            return _json({"message": "Invalid Form Body", "code": 50035}, status=400)
        self.callbacks.append(
            {
                "interaction": interaction_id,
                "type": body["type"],
                "data": body.get("data") or {},
                "at": asyncio.get_running_loop().time(),
            }
        )
        self._notify()
        return _json(
            {
                "interaction": {
                    "id": interaction_id,
                    "type": interaction["type"],
                    "response_message_loading": body["type"] == 5,
                    "response_message_ephemeral": bool((body.get("data") or {}).get("flags", 0) & 64),
                }
            }
        )

    async def _followup(self, request: web.Request) -> web.Response:
        body = await request.json()
        token = request.match_info["token"]
        if self.followup_failures:
            return _json({"message": "Internal Server Error", "code": 0}, status=self.followup_failures.pop(0))
        if not any(i["token"] == token for i in self._interactions.values()):
            return _json({"message": "Unknown Webhook", "code": 10015}, status=404)
        if not 1 <= len(body.get("content") or "") <= 2000:
            self.rejected.append("followup content length")
            self._notify()
            return _json({"message": "Invalid Form Body", "code": 50035}, status=400)
        flags = body.get("flags", 0)
        interaction_id = next(i for i, data in self._interactions.items() if data["token"] == token)
        deferred = next((c for c in self.callbacks if c["interaction"] == interaction_id and c["type"] == 5), None)
        if deferred and token not in self.deleted_originals and not any(f["token"] == token for f in self.followups):
            # Discord: the first followup after a defer replaces the "thinking…" message and keeps its visibility.
            flags = (flags & ~EPHEMERAL_FLAG) | (deferred["data"].get("flags", 0) & EPHEMERAL_FLAG)
        self.followups.append({"token": token, **body, "sent_flags": body.get("flags", 0), "flags": flags})
        self._notify()
        return _json({**_message(str(next(self._ids)), body["content"], BOT_USER, []), "flags": flags})

    async def _delete_original(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if not any(i["token"] == token for i in self._interactions.values()) or token in self.deleted_originals:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        self.deleted_originals.add(token)
        self._notify()
        return web.Response(status=204)

    async def _sync(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.synced[request.match_info.get("guild", "global")] = body
        self._notify()
        return _json(
            [
                {
                    "description": "",
                    **c,
                    "id": str(next(self._ids)),
                    "application_id": str(APP_ID),
                    "version": "1",
                    "default_member_permissions": c.get("default_member_permissions"),
                }
                for c in body
            ]
        )

    async def _attachment(self, request: web.Request) -> web.Response:
        if self.cdn_failures:
            failure = self.cdn_failures.pop(0)
            if failure == "reset":
                request.transport.abort()
            return web.Response(status=500 if failure == "reset" else failure)
        if not self.cdn_open.is_set():
            self.cdn_waiting += 1
            self._notify()
            await self.cdn_open.wait()
        data = self.files.get(request.match_info["id"])
        return web.Response(body=data) if data is not None else web.Response(status=404)
