"""The Discord adapter with the real discord.py against a local fake gateway + REST API."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import discord
import pytest
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.config import Config
from bot.discord.client import build_client
from bot.pipeline import Pipeline
from deploy.discord_sync import sync
from tests.support.fake_discord import TOKEN, FakeDiscord
from tests.support.photos import FIXTURES, tablecloth
from tests.support.pipelines import gate_classifier

TRUNCATED_JPEG = sorted(FIXTURES.glob("*.jpg"))[0].read_bytes()[:8000]
DEFERRED = 5  # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
EPHEMERAL = 64


@pytest.fixture
def fake(discord_fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> FakeDiscord:
    """The fake Discord (conftest's), with discord.py's class-level addresses restored after the test."""
    monkeypatch.setattr(Route, "BASE", Route.BASE)  # build_client sets it
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(discord_fake.ws_url))
    return discord_fake


@pytest.fixture(params=[False, True], ids=["client", "sharded"])
async def client(request, fake: FakeDiscord, config: Config, pipeline: Pipeline) -> AsyncIterator[discord.Client]:
    config = dataclasses.replace(
        config, discord_token=TOKEN, discord_sharded=request.param, discord_api_base_url=fake.api_url
    )
    bot = build_client(config, pipeline)
    task = asyncio.create_task(bot.start(TOKEN))
    ready = asyncio.create_task(bot.wait_until_ready())
    await asyncio.wait({task, ready}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    assert ready.done(), "discord.py did not become ready against the fake gateway"
    yield bot
    await bot.close()
    await asyncio.gather(task, return_exceptions=True)


def image_option(attachment: dict, name: str = "image") -> dict:
    return {"name": name, "type": 11, "value": attachment["id"]}


async def answered(fake: FakeDiscord, interaction_id: str) -> tuple[list[dict], list[dict]]:
    def done() -> bool:
        callbacks, followups = fake.responses_to(interaction_id)
        return bool(followups) or any(c["type"] == 4 for c in callbacks)

    await fake.wait_for(done)
    return fake.responses_to(interaction_id)


async def test_slash_command_defers_then_follows_up_with_hashtags(client, fake, flower_photos, pipeline) -> None:
    name, data = next(iter(flower_photos.items()))
    photo = fake.attachment(data)
    interaction = await fake.slash(700, "hashtags", [image_option(photo)], [photo])
    callbacks, followups = await answered(fake, interaction)
    assert [c["type"] for c in callbacks] == [DEFERRED]
    assert not callbacks[0]["data"].get("flags", 0) & EPHEMERAL
    text = followups[0]["content"]
    assert name in text.splitlines()[0]
    block = text.split("```\n")[1].split("\n```")[0]
    assert 1 <= len(block.split()) <= 5 and all(tag.startswith("#") for tag in block.split())
    await asyncio.wait_for(pipeline.wait_recorded(1), 10)
    rows = await pipeline.db.execute_fetchall("SELECT platform, chat_id, user_id, outcome FROM requests")
    assert tuple(rows[0]) == ("discord", "500", "700", "ok")


async def test_a_cat_is_named_a_cat_with_cat_tags(client, fake, everyday_photos) -> None:
    photo = fake.attachment(everyday_photos["cat"])
    interaction = await fake.slash(702, "hashtags", [image_option(photo)], [photo])
    _, followups = await answered(fake, interaction)
    text = followups[0]["content"]
    assert "a cat" in text.splitlines()[0]
    block = text.split("```\n")[1].split("\n```")[0]
    assert "#catlover" in block.split() and "#rose" not in block.split()


async def test_count_option_and_private_flag(client, fake, flower_photos) -> None:
    _, data = next(iter(flower_photos.items()))
    photo = fake.attachment(data)
    options = [
        image_option(photo),
        {"name": "count", "type": 4, "value": 9},
        {"name": "private", "type": 5, "value": True},
    ]
    interaction = await fake.slash(701, "hashtags", options, [photo])
    callbacks, followups = await answered(fake, interaction)
    assert callbacks[0]["data"]["flags"] & EPHEMERAL
    assert followups[0]["flags"] & EPHEMERAL
    assert len(followups[0]["content"].split("```\n")[1].split("\n```")[0].split()) == 9


async def test_context_menu_answers_the_images_as_one_post(client, fake, flower_photos, pipeline) -> None:
    photos = list(flower_photos.items())[:2]
    attachments = [fake.attachment(data, name=f"{name}.jpg") for name, data in photos]
    attachments.append(fake.attachment(b"%PDF-1.4", name="menu.pdf", content_type="application/pdf"))
    interaction = await fake.context_menu(702, attachments)
    callbacks, followups = await answered(fake, interaction)
    assert callbacks[0]["data"]["flags"] & EPHEMERAL
    (text,) = [f["content"] for f in followups]
    subject = text.splitlines()[0]
    assert all(name in subject for name, _ in photos), subject
    assert text.count("```") == 2 and "One set of tags for all 2 photos." in text
    assert "menu.pdf" not in text
    await asyncio.wait_for(pipeline.wait_recorded(1), 10)
    assert await pipeline.db.execute_fetchall("SELECT photos FROM requests") == [(2,)]


async def test_hashtags_with_several_images_answers_once_naming_the_skipped(client, fake, flower_photos) -> None:
    (daisy, one), (rose, two) = list(flower_photos.items())[:2]
    photos = [fake.attachment(one, name="a.jpg"), fake.attachment(two, name="b.jpg")]
    photos.append(fake.attachment(one[: len(one) // 3], name="broken_*1*.jpg"))
    options = [image_option(photos[0]), image_option(photos[1], "image2"), image_option(photos[2], "image3")]
    interaction = await fake.slash(712, "hashtags", options, photos)
    _, followups = await answered(fake, interaction)
    (text,) = [f["content"] for f in followups]
    assert daisy in text.splitlines()[0] and rose in text.splitlines()[0]
    escaped = discord.utils.escape_markdown("broken_*1*.jpg")  # once: the name shows as it is
    assert "One set of tags for all 2 photos." in text and f"“{escaped}” skipped: " in text


async def test_context_menu_without_images(client, fake) -> None:
    interaction = await fake.context_menu(703, [])
    callbacks, _ = await answered(fake, interaction)
    assert callbacks[0]["type"] == 4 and "no image" in callbacks[0]["data"]["content"]


@pytest.mark.parametrize("content_type", ["application/octet-stream", None], ids=["octet-stream", "no-type"])
async def test_a_photo_with_a_generic_type_is_judged_by_its_bytes(client, fake, flower_photos, content_type) -> None:
    name, data = next(iter(flower_photos.items()))
    photo = fake.attachment(data, name="IMG_0001", content_type=content_type)
    interaction = await fake.slash(709, "hashtags", [image_option(photo)], [photo])
    _, followups = await answered(fake, interaction)
    assert name in followups[0]["content"] and "#" in followups[0]["content"]


@pytest.mark.parametrize(
    ("attachment", "expected"),
    [
        (dict(data=b"hello", name="notes.txt", content_type="text/plain"), "is not an image"),
        (dict(data=b"x", name="huge.jpg", size=25 * 1024 * 1024), "too big"),
        (dict(data=TRUNCATED_JPEG, name="broken.jpg"), "damaged"),
    ],
    ids=["not-an-image", "oversized", "corrupt"],
)
async def test_bad_attachments_get_an_ephemeral_explanation(client, fake, attachment, expected) -> None:
    """Private even after a public defer (the corrupt photo is found only after deferring), where Discord
    would show a first followup to the whole channel whatever its flags."""
    photo = fake.attachment(**attachment)
    interaction = await fake.slash(704, "hashtags", [image_option(photo)], [photo])
    callbacks, followups = await answered(fake, interaction)
    messages = [c["data"] for c in callbacks if c["type"] == 4] + followups
    assert expected in messages[0]["content"]
    assert messages[0]["flags"] & EPHEMERAL


async def test_slow_classification_still_answers_after_deferring(client, fake, flower_photos, pipeline) -> None:
    """Defer comes at once even while the classifier is busy; the answer follows."""
    name, data = next(iter(flower_photos.items()))
    release = gate_classifier(pipeline)
    photo = fake.attachment(data)
    interaction = await fake.slash(705, "hashtags", [image_option(photo)], [photo])
    await fake.wait_for(lambda: fake.responses_to(interaction)[0])
    assert fake.responses_to(interaction)[0][0]["type"] == DEFERRED
    assert not fake.responses_to(interaction)[1]
    release.set()
    _, followups = await answered(fake, interaction)
    assert name in followups[0]["content"]


async def test_settings_need_manage_server(client, fake, flower_photos) -> None:
    denied = await fake.slash(706, "hashtags-settings", [{"name": "count", "type": 4, "value": 3}])
    callbacks, _ = await answered(fake, denied)
    assert "Manage Server" in callbacks[0]["data"]["content"]
    allowed = await fake.slash(
        706, "hashtags-settings", [{"name": "count", "type": 4, "value": 3}], permissions=str(0x20)
    )
    callbacks, _ = await answered(fake, allowed)
    assert "Tags per photo: 3" in callbacks[0]["data"]["content"]
    _, data = next(iter(flower_photos.items()))
    photo = fake.attachment(data)
    interaction = await fake.slash(707, "hashtags", [image_option(photo)], [photo])
    _, followups = await answered(fake, interaction)
    assert len(followups[0]["content"].split("```\n")[1].split("\n```")[0].split()) == 3


async def test_fifty_commands_at_once_are_all_followed_up(client, fake, flower_photos) -> None:
    photos = list(flower_photos.items())
    started = asyncio.get_running_loop().time()
    interactions = []
    for user in range(2000, 2050):
        name, data = photos[user % len(photos)]
        photo = fake.attachment(data)
        interactions.append((name, await fake.slash(user, "hashtags", [image_option(photo)], [photo])))
    await fake.wait_for(lambda: all(fake.responses_to(i)[1] for _, i in interactions), timeout=120)
    for name, interaction in interactions:
        callbacks, followups = fake.responses_to(interaction)
        assert [c["type"] for c in callbacks] == [DEFERRED]
        assert callbacks[0]["at"] - started < 3.0, "deferred within Discord's 3-second deadline"
        assert len(followups) == 1 and name in followups[0]["content"]
    assert not fake.rejected


async def test_command_sync_payload(fake) -> None:
    """deploy/discord_sync.py registers exactly the commands the bot defines."""
    names = await sync(TOKEN, 500, clear=False, api_base_url=fake.api_url)
    assert sorted(names) == ["Get hashtags", "forget", "hashtags", "hashtags-settings", "labels", "learn"]
    commands = {c["name"]: c for c in fake.synced["500"]}
    assert set(commands) == set(names)
    options = {o["name"]: o for o in commands["hashtags"]["options"]}
    assert options["image"]["type"] == 11 and options["image"]["required"]
    assert options["count"]["type"] == 4 and options["count"]["min_value"] == 1 and options["count"]["max_value"] == 30
    assert options["private"]["type"] == 5
    assert all(o["description"] for o in commands["hashtags"]["options"])
    assert commands["Get hashtags"]["type"] == 3
    assert int(commands["hashtags-settings"]["default_member_permissions"]) == 0x20
    learn = {o["name"]: o for o in commands["learn"]["options"]}
    assert learn["photo1"]["required"] and learn["photo1"]["type"] == 11 and learn["photo10"]["type"] == 11
    assert learn["label"]["max_length"] == 40 and not learn["tags"].get("required")
    for admin_only in ("learn", "forget"):
        assert int(commands[admin_only]["default_member_permissions"]) == 0x20
        assert commands[admin_only]["contexts"] == [0], "servers only"


async def test_shutdown_lets_commands_in_flight_finish(client, fake, flower_photos, pipeline) -> None:
    name, data = next(iter(flower_photos.items()))
    release = gate_classifier(pipeline)
    photo = fake.attachment(data)
    interaction = await fake.slash(708, "hashtags", [image_option(photo)], [photo])
    await fake.wait_for(lambda: fake.responses_to(interaction)[0])
    finishing = asyncio.create_task(client.handlers.finish())
    await asyncio.sleep(0)
    assert not finishing.done(), "a command is still being answered"
    release.set()
    await asyncio.wait_for(finishing, 30)
    assert name in fake.responses_to(interaction)[1][0]["content"]


def learn_options(label: str, photos: list[dict], tags: str | None = None) -> list[dict]:
    options = [{"name": "label", "type": 3, "value": label}]
    options += [{"name": f"photo{i}", "type": 11, "value": p["id"]} for i, p in enumerate(photos, start=1)]
    return options + ([{"name": "tags", "type": 3, "value": tags}] if tags else [])


async def test_learn_forget_and_labels_in_a_server(client, fake, flower_photos) -> None:
    manage_server = str(0x20)
    photos = [fake.attachment(tablecloth(seed)) for seed in range(5)]
    photos.insert(2, fake.attachment(TRUNCATED_JPEG[:300], name="broken.jpg"))
    refused = await fake.slash(720, "learn", learn_options("checked tablecloth", photos[:1]), photos[:1])
    callbacks, _ = await answered(fake, refused)
    assert "Manage Server" in callbacks[0]["data"]["content"] and callbacks[0]["data"]["flags"] & EPHEMERAL

    taught = await fake.slash(
        721, "learn", learn_options("Checked Tablecloth", photos, "picnic, #gingham"), photos, manage_server
    )
    callbacks, followups = await answered(fake, taught)
    assert callbacks[0]["type"] == DEFERRED and callbacks[0]["data"]["flags"] & EPHEMERAL
    report = followups[0]["content"]
    assert report.startswith("“checked tablecloth” has 5 photos.")
    assert "Not added: “broken.jpg”" in report and "recognise it in this server" in report

    async def subject(guild_id: int) -> str:
        photo = fake.attachment(tablecloth(100))
        asked = await fake.slash(722, "hashtags", [image_option(photo)], [photo], guild_id=guild_id)
        return (await answered(fake, asked))[1][0]["content"]

    here = await subject(500)
    assert "checked tablecloth" in here.splitlines()[0] and "#picnic" in here and "#gingham" in here
    assert "checked tablecloth" not in await subject(501), "taught in server 500 only"

    listed = await fake.slash(723, "labels", [])
    assert "• checked tablecloth: 5 photos #picnic #gingham" in (await answered(fake, listed))[0][0]["data"]["content"]

    forgot = await fake.slash(
        721, "forget", [{"name": "label", "type": 3, "value": "checked tablecloth"}], [], manage_server
    )
    assert "Forgot “checked tablecloth”" in (await answered(fake, forgot))[0][0]["data"]["content"]
    assert "checked tablecloth" not in await subject(500)


@pytest.mark.parametrize("status", [500, 502])
async def test_a_failed_followup_is_retried_and_logged_once(client, fake, flower_photos, pipeline, status) -> None:
    """discord.py retries Discord's 5xx answers itself; the request is answered and logged once as ok."""
    fake.followup_failures = [status, status]
    name, data = next(iter(flower_photos.items()))
    photo = fake.attachment(data)
    interaction = await fake.slash(710, "hashtags", [image_option(photo)], [photo])
    _, followups = await answered(fake, interaction)
    assert len(followups) == 1 and name in followups[0]["content"]
    await asyncio.wait_for(pipeline.wait_recorded(1), 10)
    assert [tuple(row) for row in await pipeline.db.execute_fetchall("SELECT outcome FROM requests")] == [("ok",)]


async def test_an_error_after_a_public_defer_stays_private(client, fake, flower_photos, pipeline) -> None:
    await pipeline.classifier.aclose()  # its inference threads are gone: the photo cannot be classified
    photo = fake.attachment(next(iter(flower_photos.values())))
    interaction = await fake.slash(711, "hashtags", [image_option(photo)], [photo])
    callbacks, followups = await answered(fake, interaction)
    assert callbacks[0]["type"] == DEFERRED and not callbacks[0]["data"].get("flags", 0) & EPHEMERAL
    assert followups[0]["content"].startswith("Sorry") and followups[0]["flags"] & EPHEMERAL


async def test_nothing_the_bot_sends_pings_and_file_names_stay_plain(client, fake) -> None:
    name = "x```@everyone.jpg"
    photo = fake.attachment(TRUNCATED_JPEG, name=name)
    message = fake.attachment(b"%PDF-1.4", name="**menu**.pdf", content_type="application/pdf")
    interaction = await fake.context_menu(712, [photo, message])
    _, followups = await answered(fake, interaction)
    assert followups[0]["allowed_mentions"] == {"parse": []}
    assert "x\\`\\`\\`@everyone.jpg" in followups[0]["content"]


@pytest.mark.parametrize(
    ("label", "tags", "expected"),
    [
        ("mug #cup", None, "A label is words, not hashtags: /learn label: blue ceramic mug tags: mug ceramics"),
        ("#mug", None, "A label is words, not hashtags: /learn label:"),
        ("mug", "cup hand-made", "Not a valid hashtag: #hand-made"),
    ],
    ids=["tag-in-label", "label-only-a-tag", "bad-tag"],
)
async def test_learn_checks_label_and_tags_each_in_discord_terms(client, fake, label, tags, expected) -> None:
    photo = fake.attachment(tablecloth(0))
    interaction = await fake.slash(724, "learn", learn_options(label, [photo], tags), [photo], str(0x20))
    callbacks, _ = await answered(fake, interaction)
    assert callbacks[0]["data"]["content"].startswith(expected) and callbacks[0]["data"]["flags"] & EPHEMERAL


@pytest.mark.parametrize(
    ("down", "times", "error"),
    [
        ("gateway_down", 1, "AttributeError"),
        ("rest_down", 5, "ServerDisconnectedError"),
    ],  # more than discord.py retries
    ids=["gateway", "rest"],
)
async def test_the_plain_client_survives_discord_down_at_start(
    fake, config, pipeline, flower_photos, down, times, error
):
    """discord.py's plain client crashes when its first gateway connection fails (Rapptz/discord.py#10520,
    AttributeError on `self.ws.sequence`) and gives up when the login cannot reach the REST API; the adapter
    tries again with a new client, and commands work."""
    from bot.discord.adapter import DiscordAdapter

    config = dataclasses.replace(config, discord_token=TOKEN, discord_api_base_url=fake.api_url)
    states: list[tuple[bool, str]] = []
    receiving = asyncio.Event()

    async def report(now_receiving: bool, detail: str) -> None:
        states.append((now_receiving, detail))
        if now_receiving:
            receiving.set()

    setattr(fake, down, times)
    adapter = DiscordAdapter(config, pipeline, report, first_delay=0.1)
    await adapter.start()
    try:
        await asyncio.wait_for(fake.identified.wait(), 60)
        photo = fake.attachment(next(iter(flower_photos.values())))
        interaction = await fake.slash(725, "hashtags", [image_option(photo)], [photo])
        _, followups = await answered(fake, interaction)
        assert "#" in followups[0]["content"]
        await asyncio.wait_for(receiving.wait(), 30)
        assert not adapter.running.done()
    finally:
        await adapter.stop()
    assert len(states) >= 2 and states[-1] == (True, "receiving")
    assert set(states[:-1]) == {(False, f"Discord did not answer ({error}); trying again")}


@pytest.mark.parametrize("sharded", [False, True], ids=["client", "sharded"])
async def test_a_token_revoked_right_after_ready_stays_reported(fake, config, pipeline, sharded, monkeypatch) -> None:
    """discord.py dispatches `ready` after its wait for GUILD_CREATEs even when the gateway closed for good
    since (the sharded client does): that late event must not report a stopped adapter as receiving. The
    bot waits 0 s; discord.py's default 2 s makes the late event certain."""
    from bot.discord import client
    from bot.discord.adapter import DiscordAdapter

    monkeypatch.setattr(client, "GUILD_READY_WAIT", 2.0)

    config = dataclasses.replace(
        config, discord_token=TOKEN, discord_api_base_url=fake.api_url, discord_sharded=sharded
    )
    states: list[tuple[bool, str]] = []

    async def report(now_receiving: bool, detail: str) -> None:
        states.append((now_receiving, detail))

    adapter = DiscordAdapter(config, pipeline, report)
    await adapter.start()
    try:
        await asyncio.wait_for(fake.identified.wait(), 60)
        await fake.close_gateway(4004)
        with pytest.raises(discord.ConnectionClosed):
            await asyncio.wait_for(asyncio.shield(adapter.running), 30)
        if sharded:
            await adapter.client.wait_for("ready", timeout=30)
            await asyncio.gather(*(t for t in asyncio.all_tasks() if t.get_name() == "discord.py: on_ready"))
    finally:
        await adapter.stop()
    assert (True, "receiving") not in states


@pytest.mark.parametrize(
    ("failures", "expected"),
    [([500, "reset"], None), ([404], "(Discord answered 404)"), ([500, 502, 503], "(Discord answered 503)")],
    ids=["passing", "gone", "down"],
)
async def test_attachment_downloads_are_retried_then_explained(
    client, fake, flower_photos, pipeline, failures, expected
):
    """The CDN failing now and then is retried; failing for good is told to the user, privately, and logged once."""
    name, data = next(iter(flower_photos.items()))
    fake.cdn_failures = list(failures)
    photo = fake.attachment(data)
    interaction = await fake.slash(726, "hashtags", [image_option(photo)], [photo])
    _, followups = await answered(fake, interaction)
    await asyncio.wait_for(pipeline.wait_recorded(1), 10)
    outcomes = [row[0] for row in await pipeline.db.execute_fetchall("SELECT outcome FROM requests")]
    if expected is None:
        assert name in followups[0]["content"] and outcomes == ["ok"]
    else:
        assert expected in followups[0]["content"] and followups[0]["flags"] & EPHEMERAL
        assert outcomes == ["download_failed"]


@pytest.mark.parametrize("count", [0, 31, -5])
async def test_a_count_out_of_range_is_refused_with_the_range(client, fake, flower_photos, count) -> None:
    photo = fake.attachment(next(iter(flower_photos.values())))
    options = [image_option(photo), {"name": "count", "type": 4, "value": count}]
    interaction = await fake.slash(727, "hashtags", options, [photo])
    callbacks, _ = await answered(fake, interaction)
    assert callbacks[0]["data"]["content"] == f"`count` must be from 1 to 30 (got {count})."


async def test_skipped_images_are_named_and_every_answer_fits(client, fake, flower_photos) -> None:
    attachments = [fake.attachment(data, name=f"{name}.jpg") for name, data in flower_photos.items()]
    interaction = await fake.context_menu(729, attachments)
    await fake.wait_for(lambda: any("skipped" in f["content"] for f in fake.responses_to(interaction)[1]))
    texts = [f["content"] for f in fake.responses_to(interaction)[1]]
    assert all(len(t) <= 2000 and t.count("```") % 2 == 0 for t in texts)
    joined = "\n".join(texts)
    assert joined.count("```") == 2 and "One set of tags for all 4 photos." in joined
    assert f"{len(flower_photos) - 4} more skipped" in joined
    assert not fake.rejected


async def test_a_command_cut_short_by_shutdown_is_told_to_try_again(client, fake, flower_photos, pipeline) -> None:
    """Past the shutdown grace a command is stopped, told so privately, and logged once as cancelled."""
    from bot.discord.handlers import RESTARTING

    release = gate_classifier(pipeline)
    photo = fake.attachment(next(iter(flower_photos.values())))
    interaction = await fake.slash(730, "hashtags", [image_option(photo)], [photo])
    await fake.wait_for(lambda: fake.responses_to(interaction)[0])
    await client.handlers.finish(timeout=0.1)
    _, followups = await answered(fake, interaction)
    assert followups == [followups[0]] and followups[0]["content"] == RESTARTING and followups[0]["flags"] & EPHEMERAL
    await asyncio.wait_for(pipeline.wait_recorded(1), 10)
    assert [row[0] for row in await pipeline.db.execute_fetchall("SELECT outcome FROM requests")] == ["cancelled"]
    release.set()
