"""The web side's JSON API and dashboard, served by aiohttp on 127.0.0.1 and called over real HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.config import Config, ConfigError, load_config
from bot.pipeline import Pipeline
from bot.web.routes import WebHandlers
from bot.web.security import ClientIds


@pytest.fixture
async def serve(config: Config, pipeline: Pipeline) -> AsyncIterator[Callable]:
    """Start the web side with these config fields; returns its base URL."""
    servers: list[TestServer] = []

    async def start(**fields) -> str:
        side = WebHandlers(dataclasses.replace(config, **fields), pipeline, ClientIds(b"test key"))
        server = TestServer(side.application(), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url(""))

    yield start
    for server in servers:
        await server.close()


async def rows(pipeline: Pipeline, count: int) -> list[tuple]:
    await asyncio.wait_for(pipeline.wait_recorded(count), 10)
    return [
        tuple(row) for row in await pipeline.db.execute_fetchall("SELECT platform, outcome FROM requests ORDER BY id")
    ]


async def post(url: str, data, headers: dict | None = None) -> tuple[int, dict, dict]:
    async with aiohttp.ClientSession() as session, session.post(url, data=data, headers=headers or {}) as response:
        return response.status, await response.json(), dict(response.headers)


async def test_a_photo_gets_its_subject_and_tags_and_is_logged_once(serve, pipeline, everyday_photos) -> None:
    base = await serve()
    status, body, _ = await post(f"{base}/api/hashtags?count=7", everyday_photos["cat"], {"Content-Type": "image/jpeg"})
    assert status == 200
    assert body["subject"].startswith("a cat") and body["sure"] and body["named"][0]["key"] == "cat"
    assert len(body["tags"]) == 7 and body["line"] == " ".join(f"#{t['tag']}" for t in body["tags"])
    assert {"tag", "tier", "tier_name", "for"} <= set(body["tags"][0]) and body["photos"] == 1
    assert not any("posts" in tag for tag in body["tags"]), "no Instagram session: no counts, not null ones"
    assert body["model_version"] == pipeline.classifier.version
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/api/answers/{body['id']}?count=3") as response:
            again = await response.json()
        async with session.get(f"{base}/api/answers/unknown?count=3") as response:
            assert response.status == 404
    assert again["subject"] == body["subject"] and len(again["tags"]) == 3, "fewer tags, no second upload"
    assert await rows(pipeline, 1) == [("web", "ok")], "asking again is no new request"


async def test_a_photo_as_a_form_field_works_too(serve, flower_photos) -> None:
    base = await serve()
    form = aiohttp.FormData()
    form.add_field("image", flower_photos["daisy"], filename="daisy.jpg", content_type="image/jpeg")
    status, body, _ = await post(f"{base}/api/hashtags", form)
    assert status == 200 and body["subject"] == "daisy" and len(body["tags"]) == 5


async def test_the_photos_of_one_post_get_one_answer(serve, pipeline, flower_photos, everyday_photos) -> None:
    base = await serve()
    form = aiohttp.FormData()
    for name in ("daisy", "rose"):
        form.add_field("image", flower_photos[name], filename=f"{name}.jpg", content_type="image/jpeg")
    form.add_field("image", b"not a photo at all", filename="notes.txt", content_type="text/plain")
    status, body, _ = await post(f"{base}/api/hashtags", form)
    assert status == 200 and body["photos"] == 3 and "daisy" in body["subject"] and "rose" in body["subject"]
    assert [(s["photo"], s["reason"]) for s in body["skipped"]] == [(3, "not_an_image")]
    assert body["note"].startswith("One set of tags for all 2 photos.")
    assert await rows(pipeline, 1) == [("web", "ok")]
    assert await pipeline.db.execute_fetchall("SELECT photos FROM requests") == [(3,)]
    too_many = aiohttp.FormData()
    for _ in range(5):
        too_many.add_field("image", everyday_photos["cat"], filename="cat.jpg", content_type="image/jpeg")
    status, body, _ = await post(f"{base}/api/hashtags", too_many)
    assert status == 400 and body["reason"] == "too_many_photos"


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (b"%PDF-1.4 a document", 400, "not_an_image"),
        (b"", 400, "empty"),
        (b"\xff\xd8\xff\xe0 half a jpeg", 400, "corrupt"),
    ],
    ids=["pdf", "empty", "damaged"],
)
async def test_bad_files_get_the_chat_messages_as_json(serve, pipeline, data, status, reason) -> None:
    base = await serve()
    code, body, _ = await post(f"{base}/api/hashtags", data)
    assert code == status and body["reason"] in (reason, "not_an_image") and body["message"]
    if data:
        assert [outcome for _, outcome in await rows(pipeline, 1)] == [body["reason"]], "logged once, as refused"


async def test_too_large_too_many_and_bad_count(serve, jpeg: bytes) -> None:
    small = await serve(max_file_bytes=len(jpeg) // 2)
    status, body, _ = await post(f"{small}/api/hashtags", jpeg)
    assert status == 413 and body["reason"] == "too_big"
    limited = await serve(web_photos_per_minute=2)
    answers = [await post(f"{limited}/api/hashtags", jpeg) for _ in range(3)]
    assert [a[0] for a in answers] == [200, 200, 429]
    assert int(answers[2][2]["Retry-After"]) >= 1 and "please wait" in answers[2][1]["message"]
    status, body, _ = await post(f"{limited}/api/hashtags?count=99", jpeg)
    assert status in (400, 429)


async def test_an_exposed_api_needs_its_token(serve, jpeg: bytes) -> None:
    base = await serve(web_host="0.0.0.0", web_api_token="api-secret-of-the-tests")
    assert (await post(f"{base}/api/hashtags", jpeg))[0] == 401
    assert (await post(f"{base}/api/hashtags", jpeg, {"Authorization": "Bearer wrong"}))[0] == 401
    assert (await post(f"{base}/api/hashtags", jpeg, {"Authorization": "Bearer api-secret-of-the-tests"}))[0] == 200
    with pytest.raises(ConfigError, match="WEB_API_TOKEN"):
        load_config({"WEB_HOST": "0.0.0.0"}, env_file=None)


async def test_the_dashboard_needs_the_admin_token_and_draws_the_report(serve, pipeline, everyday_photos) -> None:
    off = await serve()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{off}/api/dashboard") as response:
            assert response.status == 403
        base = await serve(web_admin_token="admin-secret-of-the-tests")
        await post(f"{base}/api/hashtags", everyday_photos["portrait"])
        await rows(pipeline, 1)
        from storage import adapter_state, processes  # as the runner writes it when Discord stops receiving

        await processes.beat(pipeline.db, pipeline.process)
        await adapter_state.set_state(
            pipeline.db, pipeline.process, "discord", False, "DISCORD_BOT_TOKEN was rejected by Discord (4004)"
        )
        async with session.get(f"{base}/api/dashboard", headers={"Authorization": "Bearer nope"}) as response:
            assert response.status == 401
        admin = {"Authorization": "Bearer admin-secret-of-the-tests"}
        async with session.get(f"{base}/api/dashboard", headers=admin) as response:
            html = await response.text()
        async with session.get(f"{base}/admin") as response:
            page = await response.text()
    assert response.status == 200 and "admin-token" in page
    assert html.count("<svg") >= 3 and "portrait" in html and "Taught labels" in html
    assert "<td>discord</td><td>NOT receiving: DISCORD_BOT_TOKEN was rejected by Discord (4004)</td>" in html
    for asset in ("/", "/static/app.js", "/static/style.css", "/static/admin.js"):
        async with aiohttp.ClientSession() as session, session.get(f"{base}{asset}") as response:
            assert response.status == 200, asset
