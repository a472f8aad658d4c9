"""A local fake of the Telegram Bot API (aiohttp on 127.0.0.1), strict where Telegram is strict.

The real python-telegram-bot talks HTTP to it. It delivers updates through
getUpdates long polling, serves files, records what the bot sends, and
rejects what Telegram would reject: malformed HTML, over-long messages,
invalid buttons and commands. Tests can inject Bot API errors per method.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

from tests.support.changes import Changes

TOKEN = "123456:TEST-token-for-the-fake-server"
BOT = {"id": 123456, "is_bot": True, "first_name": "Hashtags", "username": "hashtag_test_bot"}
ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "code",
    "pre",
    "a",
    "tg-spoiler",
    "blockquote",
    "span",
}


class _HtmlCheck(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problem: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in ALLOWED_TAGS:
            self.problem = f'Unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.problem = f'Unexpected end tag "{tag}"'


def html_problem(text: str) -> str | None:
    if re.search(r"&(?![a-zA-Z]+;|#\d+;|#x[0-9a-fA-F]+;)", text):
        return "Can't parse entities: unescaped '&'"
    if re.search(r"<(?![a-zA-Z/])", text):
        return "Can't parse entities: unescaped '<'"
    checker = _HtmlCheck()
    checker.feed(text)
    checker.close()
    if checker.problem:
        return f"Can't parse entities: {checker.problem}"
    if checker.stack:
        return f'Can\'t parse entities: unclosed tag "{checker.stack[-1]}"'
    return None


def plain_text(text: str) -> str:
    return re.sub(r"<[^>]+>", "", text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def markup_problem(markup: dict | None) -> str | None:
    for row in (markup or {}).get("inline_keyboard", []):
        for button in row:
            if not button.get("text"):
                return "Bad Request: text buttons are unallowed in the inline keyboard"
            if "callback_data" in button and not 1 <= len(button["callback_data"].encode()) <= 64:
                return "Bad Request: BUTTON_DATA_INVALID"
            if "copy_text" in button and not 1 <= len(button["copy_text"]["text"]) <= 256:
                return "Bad Request: COPY_TEXT_INVALID"
            if sum(k in button for k in ("callback_data", "copy_text", "url")) != 1:
                return "Bad Request: exactly one button action is required"
    return None


class FakeTelegram:
    """The fake server and everything it saw."""

    def __init__(self) -> None:
        self.updates: list[dict] = []
        self.files: dict[str, bytes] = {}
        self.file_delays: list[float] = []  # the next downloads are answered only after these many seconds
        self.gone: set[str] = set()  # files getFile still describes but whose download is a 404
        self.sent: list[dict] = []
        self.sent_by_chat: dict[int, list[dict]] = {}
        self.edits: list[dict] = []
        self.contents: dict[tuple[int, int], tuple[str, Any]] = {}
        self.calls: list[tuple[str, dict]] = []
        self.commands: list[dict] = []
        self.rejected: list[tuple[str, str]] = []
        self.errors: dict[str, list[dict]] = {}
        self.chat_admins: set[int] = set()
        self.delivered_at: dict[int, float] = {}
        self.webhook: dict = {}
        self.confirmed = 0  # update ids below this were confirmed by an offset, and are gone as on Telegram
        self.held: dict[str, int] = {}  # method -> calls still answered; later ones wait for `release`
        self.holding = 0
        self._release = asyncio.Event()
        self._changes = Changes()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._file_ids = itertools.count(1)
        self.runner: web.AppRunner | None = None
        self.port = 0

    # -- test side ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def file_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def start(self, port: int = 0) -> None:
        """Serve on 127.0.0.1:`port` (any free one by default)."""
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_post(r"/bot{token}/{method}", self._method)
        app.router.add_get(r"/file/bot{token}/{path:.+}", self._file)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()
            self.runner = None

    def add_file(self, data: bytes, size: int | None = None, announce_size: bool = True) -> dict:
        """A file the bot can fetch; Telegram sometimes leaves `file_size` out (`announce_size=False`)."""
        file_id = f"file{next(self._file_ids)}"
        self.files[file_id] = data
        sized = {"file_size": len(data) if size is None else size} if announce_size else {}
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", **sized}

    def message(self, user_id: int, chat_id: int | None = None, chat_type: str = "private", **fields: Any) -> dict:
        chat_id = user_id if chat_id is None else chat_id
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": chat_type, **({"title": "group"} if chat_type != "private" else {})},
            "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
            **fields,
        }

    def photo_message(
        self, user_id: int, data: bytes, renditions: list[tuple[int, int, bytes]] | None = None, **fields: Any
    ) -> dict:
        """A compressed photo in Telegram's three sizes (the bot must pick one of them).

        `renditions` gives each size its own bytes, as Telegram has; by default all share `data`.
        """
        renditions = renditions or [(w, h, data) for w, h in ((90, 67), (320, 240), (1280, 960))]
        sizes = [{**self.add_file(blob), "width": w, "height": h} for w, h, blob in renditions]
        return self.message(user_id, photo=sizes, **fields)

    def document_message(
        self, user_id: int, data: bytes, mime: str | None, name: str, size: int | None = None, **fields: Any
    ) -> dict:
        """A file; `mime` None leaves the type out, as some clients do. `announce_size` goes to `add_file`."""
        announce = fields.pop("announce_size", True)
        document = {**self.add_file(data, size, announce), "file_name": name, **({"mime_type": mime} if mime else {})}
        return self.message(user_id, document=document, **fields)

    def command_message(self, user_id: int, text: str, **fields: Any) -> dict:
        command = text.split()[0]
        entities = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self.message(user_id, text=text, entities=entities, **fields)

    async def push(self, message: dict | None = None, callback: dict | None = None) -> int:
        """Queue an update for the bot's next getUpdates; returns its update_id."""
        update: dict[str, Any] = {"update_id": next(self._update_ids)}
        if message is not None:
            update["message"] = message
        if callback is not None:
            update["callback_query"] = callback
        self.updates.append(update)
        self._changes.notify()
        return update["update_id"]

    def callback(self, user_id: int, message: dict, data: str) -> dict:
        return {
            "id": str(next(self._file_ids)),
            "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
            "message": message,
            "chat_instance": "1",
            "data": data,
        }

    async def replies(self, chat_id: int, count: int = 1) -> list[dict]:
        """The messages sent to `chat_id`, once there are at least `count`."""
        await self.wait_for(lambda: len(self.replies_to(chat_id)) >= count)
        return self.replies_to(chat_id)

    async def wait_for(self, predicate, timeout: float = 30.0) -> None:
        """Wait until `predicate()` holds; woken by every request the bot makes."""
        await self._changes.wait_for(predicate, timeout)

    def replies_to(self, chat_id: int) -> list[dict]:
        return self.sent_by_chat.get(chat_id, [])

    def inject_error(self, method: str, code: int, description: str, retry_after: int | None = None) -> None:
        error: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if retry_after is not None:
            error["parameters"] = {"retry_after": retry_after}
        self.errors.setdefault(method, []).append(error)

    def hold_after(self, method: str, calls: int) -> None:
        """Answer `calls` more calls to `method`; hold the ones after until `release` (a stuck API)."""
        self.held[method] = calls

    def release(self) -> None:
        """Stop holding. Held calls whose client has gone (killed) are dropped unprocessed."""
        self.held.clear()
        self._release.set()

    def inject_reset(self, method: str) -> None:
        """The next call to `method` has its connection dropped before any answer."""
        self.errors.setdefault(method, []).append({"reset": True})

    def inject_delay(self, method: str, seconds: float) -> None:
        """The next call to `method` is carried out, but answered only after `seconds`."""
        self.errors.setdefault(method, []).append({"delay": seconds})

    # -- Bot API side -------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict:
        if request.content_type == "application/json":
            return await request.json()
        form = await request.post()
        params = {}
        for key, value in form.items():
            text = value if isinstance(value, str) else value.file.read().decode()
            try:
                params[key] = json.loads(text)
            except ValueError:
                params[key] = text
        return params

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params = await self._params(request)
        self.calls.append((method, params))
        if method in self.held:
            if self.held[method] > 0:
                self.held[method] -= 1
            else:
                self.holding += 1
                self._changes.notify()
                await self._release.wait()
                self.holding -= 1
                if request.transport is None or request.transport.is_closing():
                    return web.Response(status=499)
        fault = self.errors[method].pop(0) if self.errors.get(method) else {}
        if fault.get("reset"):
            request.transport.abort()
            self._changes.notify()
            return web.Response()
        if "error_code" in fault:
            return web.json_response(fault, status=fault["error_code"])
        handler = getattr(self, f"api_{method}", None)
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        result = await handler(params)
        if "delay" in fault:
            self._changes.notify()
            await asyncio.sleep(fault["delay"])
        if isinstance(result, tuple):
            self.rejected.append((method, result[1]))
            self._changes.notify()
            return web.json_response({"ok": False, "error_code": 400, "description": result[1]}, status=400)
        self._changes.notify()
        return web.json_response({"ok": True, "result": result})

    async def _file(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        self.calls.append(("download", {"file_path": path}))
        data = self.files.get(path)
        if data is None or path in self.gone:  # as Telegram's file server answers
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        if self.file_delays:
            await asyncio.sleep(self.file_delays.pop(0))
        return web.Response(body=data)

    async def api_getMe(self, params: dict) -> dict:
        return BOT

    async def api_deleteWebhook(self, params: dict) -> bool:
        return True

    async def api_setWebhook(self, params: dict) -> bool:
        self.webhook = params
        return True

    async def api_setMyCommands(self, params: dict):
        for command in params["commands"]:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command["command"]) or not 1 <= len(command["description"]) <= 256:
                return (False, f"Bad Request: BOT_COMMAND_INVALID {command}")
        self.commands = params["commands"]
        return True

    async def api_getUpdates(self, params: dict) -> list:
        offset = int(params.get("offset", 0) or 0)
        timeout = float(params.get("timeout", 0) or 0)

        self.confirmed = max(self.confirmed, offset)

        def pending() -> list[dict]:
            # update_ids are 1, 2, 3, ... in list order, so the unconfirmed ones are a tail slice.
            return self.updates[max(self.confirmed - 1, 0) :]

        with contextlib.suppress(TimeoutError):
            await self._changes.wait_for(lambda: bool(pending()), timeout)
        updates = pending()
        now = asyncio.get_running_loop().time()
        for update in updates:
            self.delivered_at.setdefault(update["update_id"], now)
        return updates

    async def api_sendChatAction(self, params: dict) -> bool:
        return True

    async def api_getFile(self, params: dict):
        file_id = params["file_id"]
        if file_id not in self.files:
            return (False, "Bad Request: invalid file_id")
        if len(self.files[file_id]) > 20 * 1024 * 1024:
            return (False, "Bad Request: file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(self.files[file_id]),
            "file_path": file_id,
        }

    def _check_text(self, params: dict):
        text = params.get("text", "")
        if params.get("parse_mode") == "HTML":
            problem = html_problem(text)
            if problem:
                return (False, f"Bad Request: {problem}")
            text = plain_text(text)
        if not 1 <= len(text) <= 4096:
            return (False, "Bad Request: message is too long" if text else "Bad Request: message text is empty")
        problem = markup_problem(params.get("reply_markup"))
        return (False, problem) if problem else None

    async def api_sendMessage(self, params: dict):
        problem = self._check_text(params)
        if problem:
            return problem
        chat_id = int(params["chat_id"])
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": BOT,
            "text": plain_text(params["text"]) if params.get("parse_mode") == "HTML" else params["text"],
            "raw_text": params["text"],
            "reply_markup": params.get("reply_markup"),
            "reply_parameters": params.get("reply_parameters"),
        }
        message["received_at"] = asyncio.get_running_loop().time()
        self.contents[(chat_id, message["message_id"])] = (params["text"], params.get("reply_markup"))
        self.sent.append(message)
        self.sent_by_chat.setdefault(chat_id, []).append(message)
        hidden = ("raw_text", "reply_parameters", "received_at")
        return {k: v for k, v in message.items() if k not in hidden and v is not None}

    async def api_editMessageText(self, params: dict):
        problem = self._check_text(params)
        if problem:
            return problem
        key, content = (int(params["chat_id"]), int(params["message_id"])), (params["text"], params.get("reply_markup"))
        if self.contents.get(key) == content:
            return (
                False,
                "Bad Request: message is not modified: specified new message content and reply markup are exactly "
                "the same as a content and reply markup of the current message",
            )
        self.contents[key] = content
        self.edits.append(params)
        return {
            "message_id": int(params["message_id"]),
            "date": int(time.time()),
            "chat": {"id": int(params["chat_id"]), "type": "private"},
            "text": plain_text(params["text"]),
        }

    async def api_answerCallbackQuery(self, params: dict) -> bool:
        return True

    async def api_getChatMember(self, params: dict) -> dict:
        user_id = int(params["user_id"])
        status = "administrator" if user_id in self.chat_admins else "member"
        user = {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}
        extra = (
            {
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": True,
                "can_restrict_members": True,
                "can_promote_members": False,
                "can_change_info": True,
                "can_invite_users": True,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
            }
            if status == "administrator"
            else {}
        )
        return {"status": status, "user": user, **extra}
