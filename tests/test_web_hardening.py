"""The web side under attack, against the real `python -m bot` over real sockets: slow and silent clients,
a file limit, forged addresses behind a proxy, foreign host names, broken requests, guessed tokens."""

from __future__ import annotations

import asyncio
import hashlib
import json
import resource
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.support.bot_process import ROOT, bot_env, free_port, free_ports

API_TOKEN = "hardening-api-token-0123"
ADMIN_TOKEN = "hardening-admin-token-0123"
IDLE = 2  # WEB_IDLE_TIMEOUT_SECONDS and WEB_BODY_TIMEOUT_SECONDS of the bots here
FILE_LIMIT = 128  # the bot's RLIMIT_NOFILE, soft and hard, as in the attack that stopped the page


class WebBot:
    """A web-only `python -m bot` on its own port, database and log file."""

    def __init__(self, tmp: Path, file_limit: int | None = None, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = tmp / "bot.sqlite3"
        self.log = tmp / "bot.log"
        env = bot_env(tmp, WEB_PORT=str(self.port), **settings)

        def limit_files() -> None:
            if file_limit:
                resource.setrlimit(resource.RLIMIT_NOFILE, (file_limit, file_limit))

        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot"],
            cwd=tmp,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log.open("w"),
            text=True,
            preexec_fn=limit_files,
        )
        line = self.process.stdout.readline()
        assert line.startswith("Try it in a browser"), self.log.read_text()

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebBot]:
    """One bot for the tests that only read its answers."""
    running = WebBot(
        tmp_path_factory.mktemp("web"),
        WEB_IDLE_TIMEOUT_SECONDS=str(IDLE),
        WEB_BODY_TIMEOUT_SECONDS=str(IDLE),
        WEB_API_TOKEN=API_TOKEN,
        WEB_ADMIN_TOKEN=ADMIN_TOKEN,
    )
    yield running
    running.stop()


def closed_by_server(connection: socket.socket, within: float = 30) -> bool:
    """Whether the server closes `connection` (EOF or reset) within `within` seconds, reading what it sends."""
    connection.settimeout(within)
    try:
        while connection.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def http(bot: WebBot, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `raw` as it is (broken requests included) and read the whole answer."""
    with socket.create_connection(("127.0.0.1", bot.port), timeout=30) as connection:
        connection.sendall(raw)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def request(bot: WebBot, method: str, path: str, body: bytes = b"", **headers: str) -> tuple[int, dict, bytes]:
    fields = {"Host": f"127.0.0.1:{bot.port}", "Content-Length": str(len(body)), "Connection": "close", **headers}
    head = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    return http(bot, f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode() + body)


def web_users(bot: WebBot, count: int) -> list[str]:
    """The client ids of the web request log, once it holds `count` rows (the bot writes them in the background)."""
    deadline = time.monotonic() + 30
    while True:
        with sqlite3.connect(bot.database) as db:
            users = [row[0] for row in db.execute("SELECT user_id FROM requests WHERE platform = 'web' ORDER BY id")]
        if len(users) >= count or time.monotonic() > deadline:
            return users
        time.sleep(0.02)


def test_connections_that_send_nothing_are_closed_after_the_idle_timeout(bot: WebBot) -> None:
    silent = [socket.create_connection(("127.0.0.1", bot.port), timeout=30) for _ in range(3)]
    try:
        assert all(closed_by_server(connection) for connection in silent)
    finally:
        for connection in silent:
            connection.close()
    assert request(bot, "GET", "/")[0] == 200


def test_connections_beyond_the_file_limit_are_turned_away_and_logged_once(tmp_path: Path) -> None:
    """120 silent connections with the process's file limit at 128 (the idle timeout long enough not to
    free any meanwhile): 48 are held (and at most a burst of BACKLOG accepted at once before the count
    catches up, which the file budget leaves room for), the rest turned away at once; the log says so
    once, `accept()` never runs out of files, and the page answers as soon as the clients let go."""
    import select

    from bot.web.security import BACKLOG

    capped = WebBot(tmp_path, file_limit=FILE_LIMIT, WEB_IDLE_TIMEOUT_SECONDS="120")
    silent = [socket.create_connection(("127.0.0.1", capped.port), timeout=30) for _ in range(120)]
    try:
        turned_away: set[socket.socket] = set()
        deadline = time.monotonic() + 30
        while len(turned_away) < 120 - 48 - BACKLOG and time.monotonic() < deadline:
            readable, _, _ = select.select([s for s in silent if s not in turned_away], [], [], 1.0)
            turned_away |= {s for s in readable if closed_by_server(s, within=1)}
        assert len(turned_away) >= 120 - 48 - BACKLOG, "all but what the file limit leaves room for, turned away"
    finally:
        for connection in silent:
            connection.close()
    try:
        deadline = time.monotonic() + 30
        while True:  # until the server has seen the clients go: it counts a connection until it reads the EOF
            try:
                status, _, body = request(capped, "GET", "/")
                break
            except ConnectionResetError:
                assert time.monotonic() < deadline, "the page never answered again"
                time.sleep(0.05)
        log = capped.output()
    finally:
        capped.stop()
    assert status == 200 and b"Hashtags for a photo" in body
    assert "at most 48 web connections" in log and log.count("web connections at the limit") == 1, log
    assert "out of system resource" not in log and "Too many open files" not in log


def test_a_client_sending_its_headers_slowly_is_cut_off(bot: WebBot) -> None:
    """One header line every half second never becomes a request: the connection is closed."""
    with socket.create_connection(("127.0.0.1", bot.port), timeout=30) as connection:
        connection.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{bot.port}\r\n".encode())
        connection.settimeout(0.5)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                connection.sendall(b"X-Slow: yes\r\n")
                if connection.recv(4096) == b"":
                    break
            except TimeoutError:
                continue  # nothing from the server yet: send the next line, as a slow client does
            except (BrokenPipeError, ConnectionResetError):
                break
        else:
            pytest.fail("a connection sending a header line every 0.5 s stayed open for 30 s")


def test_a_body_that_trickles_in_gets_a_408(bot: WebBot) -> None:
    with socket.create_connection(("127.0.0.1", bot.port), timeout=30) as connection:
        connection.sendall(
            f"POST /api/hashtags HTTP/1.1\r\nHost: 127.0.0.1:{bot.port}\r\nContent-Type: image/jpeg\r\n"
            f"Authorization: Bearer {API_TOKEN}\r\nContent-Length: 100000\r\n\r\n".encode()
        )
        connection.settimeout(0.5)
        received = b""
        deadline = time.monotonic() + 30
        while b"\r\n\r\n" not in received and time.monotonic() < deadline:
            try:
                connection.sendall(b"\xff" * 10)
                received += connection.recv(4096)
            except TimeoutError:
                continue
        assert received.startswith(b"HTTP/1.1 408"), received
        assert json.loads(received.partition(b"\r\n\r\n")[2])["reason"] == "too_slow"


def test_every_response_carries_the_security_headers(bot: WebBot) -> None:
    for path in ("/", "/admin", "/static/app.js", "/nowhere"):
        status, headers, _ = request(bot, "GET", path)
        assert status == (404 if path == "/nowhere" else 200), path
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "default-src 'self'" in headers["content-security-policy"]
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["server"] == "hashtag-bot", "no Python or aiohttp version for the asking"


def test_a_foreign_host_name_is_refused(bot: WebBot) -> None:
    """A page on another site whose name rebinds to 127.0.0.1 sends its own name as Host."""
    status, headers, body = request(bot, "GET", "/", Host=f"rebind.attacker.example:{bot.port}")
    assert status == 421 and json.loads(body)["reason"] == "unknown_host"
    assert headers["content-type"].startswith("application/json")
    for host in (f"localhost:{bot.port}", "127.0.0.1", f"[::1]:{bot.port}"):
        assert request(bot, "GET", "/", Host=host)[0] == 200, host


@pytest.mark.parametrize(
    ("headers", "body", "status", "reason"),
    [
        ({"Authorization": "Bearer é"}, b"x", 401, "unauthorized"),
        ({"Content-Type": "multipart/form-data"}, b"--x\r\n\r\n", 400, "bad_form"),
        (
            {"Content-Type": "multipart/form-data; boundary=x"},
            b'--x\r\nContent-Disposition: form-data; filename="a.jpg"\r\n\r\nabc\r\n--x--\r\n',
            400,
            "bad_form",
        ),
        (
            {"Content-Type": "multipart/form-data; boundary=x"},
            b'--x\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\nabc',
            400,
            "bad_form",
        ),
    ],
    ids=["non-ascii-token", "no-boundary", "part-without-name", "no-closing-boundary"],
)
def test_broken_requests_get_json_refusals(bot: WebBot, headers: dict, body: bytes, status: int, reason: str) -> None:
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    got, response_headers, answer = request(bot, "POST", "/api/hashtags", body, **(auth | headers))
    assert (got, json.loads(answer)["reason"]) == (status, reason)
    assert response_headers["content-type"].startswith("application/json")
    log = bot.output()
    assert "Traceback" not in log and "Error handling request" not in log


@pytest.mark.parametrize(
    "raw",
    [
        b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        b"\x16\x03\x01 TLS hello\r\n\r\n",
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n",
    ],
    ids=["bad-header", "tls-on-plain-port", "line-too-long"],
)
def test_requests_that_cannot_be_parsed_get_json_and_leave_no_address_in_the_log(bot: WebBot, raw: bytes) -> None:
    status, headers, body = http(bot, raw)
    assert status == 400 and json.loads(body)["reason"] == "bad_request"
    assert headers["server"] == "hashtag-bot" and "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "Error handling request" not in bot.output() and "127.0.0.1 " not in bot.output()


def test_client_ids_are_keyed_with_the_installations_secret(bot: WebBot) -> None:
    photo = next((ROOT / "tests" / "fixtures").glob("*.jpg")).read_bytes()
    status, _, _ = request(bot, "POST", "/api/hashtags", photo, Authorization=f"Bearer {API_TOKEN}")
    assert status == 200
    users = set(web_users(bot, 1))
    with sqlite3.connect(bot.database) as db:
        (key,) = db.execute("SELECT value FROM installation_secrets WHERE name = 'web_client_ids'").fetchone()
    assert users and hashlib.sha256(b"127.0.0.1").hexdigest()[:16] not in users, "not a plain hash of the address"
    assert len(bytes.fromhex(key)) == 32


def test_guessing_the_admin_token_is_logged_and_slowed_down(bot: WebBot) -> None:
    statuses = [request(bot, "GET", "/api/dashboard", Authorization=f"Bearer guess-{n}")[0] for n in range(8)]
    assert statuses == [401] * 5 + [429] * 3
    status, headers, _ = request(bot, "GET", "/api/dashboard", Authorization=f"Bearer {ADMIN_TOKEN}")
    assert status == 429 and int(headers["retry-after"]) >= 1, "refused for the rest of the minute, right or wrong"
    log = bot.output()
    assert log.count("wrong admin token from web client") == 5 and log.count("too many wrong tokens") == 1
    assert "guess-" not in log and ADMIN_TOKEN not in log


def test_short_tokens_are_refused_at_start(tmp_path: Path) -> None:
    env = bot_env(tmp_path, WEB_ADMIN_TOKEN="short")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--check"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "at least 16 characters" in result.stderr
    assert "short" not in result.stderr.replace("shorter", "")


async def test_behind_a_trusted_proxy_each_client_is_itself(tmp_path: Path) -> None:
    """A proxy in front, sending the headers the shipped nginx config sends: two clients get their own rate
    and their own log rows; a forged header straight to the bot is refused."""
    import re

    proxy_port, _ = free_ports(2)
    bot = WebBot(tmp_path, WEB_TRUSTED_PROXIES="127.0.0.1", WEB_PHOTOS_PER_MINUTE="2")
    photo = next((ROOT / "tests" / "fixtures").glob("*.jpg")).read_bytes()
    shipped = re.findall(r"proxy_set_header (\S+) (\S+);", (ROOT / "deploy" / "nginx-web.conf").read_text())
    assert {name for name, _ in shipped} >= {"X-Forwarded-For", "Host"}

    async def forward(request: web.Request) -> web.Response:
        nginx = {"$remote_addr": request.remote, "$scheme": "https", "$host": request.url.host}
        headers = {name: nginx[value] for name, value in shipped} | {"Content-Type": request.content_type}
        body = await request.read()
        url = bot.url + request.path_qs
        async with (
            aiohttp.ClientSession() as session,
            session.request(request.method, url, data=body, headers=headers) as got,
        ):
            return web.Response(status=got.status, body=await got.read(), content_type=got.content_type)

    app = web.Application(client_max_size=2**24)
    app.router.add_route("*", "/{path:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", proxy_port).start()

    async def send(source: str, url: str, **headers: str) -> int:
        connector = aiohttp.TCPConnector(local_addr=(source, 0))
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.post(f"{url}/api/hashtags", data=photo, headers=headers) as response,
        ):
            await response.read()
            return response.status

    try:
        proxy = f"http://127.0.0.1:{proxy_port}"
        first = [await send("127.0.0.2", proxy) for _ in range(3)]
        second = await send("127.0.0.3", proxy)
        forged = await send("127.0.0.4", bot.url, **{"X-Forwarded-For": "127.0.0.9"})
    finally:
        await runner.cleanup()
        await asyncio.to_thread(bot.stop)
    assert first == [200, 200, 429] and second == 200, "the proxy's clients are counted apart"
    assert forged == 400, "X-Forwarded-For is believed only from the proxy"
    users = web_users(bot, 3)
    assert len(users) == 3 and users[0] == users[1] != users[2]
    assert "127.0.0.2" not in bot.output() and "127.0.0.3" not in bot.output()
