"""Trends: catalogue, tag rules, composer, Instaloader through recorded HTTP, refresher back-off, cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import responses

from inference.classifier import load_imagenet_labels
from inference.model_folder import DEFAULT_MODEL_DIR
from inference.scene import PEOPLE_KEYS, Named, Scene
from inference.subjects import SubjectTree
from storage import trend_store
from storage.database import DAY, open_database
from tests.support.counting_db import CountingWrites
from trends.cache import TrendCache
from trends.catalogue import Catalogue, entry_key
from trends.composer import (
    BROAD,
    TrendFacts,
    candidate_queries,
    candidates,
    compose_hashtags,
    load_starter_blocklist,
)
from trends.instagram import InstagramClient, InstagramRefused
from trends.refresher import RefreshSettings, TrendRefresher
from trends.tags import is_valid, tags_from_label
from trends.tiers import CURATED, tier_of

SEARCH_URL = "https://www.instagram.com/web/search/topsearch/"
WEB_INFO_URL = "https://i.instagram.com/api/v1/tags/web_info/"
NO_WAIT = RefreshSettings(spacing=0.0)


DAISY = Scene((Named("daisy", "daisy", 0.93, "trained"),))
CAT = Scene((Named("cat", "a cat", 0.9, "subject", detail="Egyptian cat"),))
BEACH_PARTY = Scene(
    (
        Named("group", "a group of people", 0.8, "people"),
        Named("beach", "the beach", 0.4, "subject", setting="at the beach"),
    )
)


def search_body(*tags: tuple[str, int]) -> dict:
    return {
        "users": [],
        "places": [],
        "hashtags": [
            {"position": i, "hashtag": {"name": t, "media_count": c, "id": i}} for i, (t, c) in enumerate(tags)
        ],
        "status": "ok",
    }


# -- catalogue and tag rules -------------------------------------------------


def test_catalogue_covers_every_shipped_class_and_subject_with_valid_tags() -> None:
    catalogue = Catalogue()
    classes = json.loads((DEFAULT_MODEL_DIR / "labels.json").read_text())["classes"]
    imagenet = {name.casefold() for name in load_imagenet_labels()}
    subjects = set(SubjectTree().subjects)
    for name in [*classes, *subjects, *PEOPLE_KEYS, BROAD]:
        tiers = {entry.tier for entry in catalogue.lookup(name)}
        assert tiers == set(CURATED), name
    known = {entry_key(name) for name in [*imagenet, *classes]}
    for label, tags in catalogue.labels.items():
        assert label in known, f"{label} is neither a class nor an ImageNet label"
        assert all(is_valid(t.tag) for t in tags)
    assert set(catalogue.subjects) == {entry_key(s) for s in subjects | PEOPLE_KEYS | {BROAD}}, "a subject lacks tags"
    assert catalogue.lookup("sports car") == catalogue.lookup("Sports Car") == catalogue.lookup("sportscar")
    assert catalogue.lookup("cat")[0].tag == "cat"


def test_catalogue_rejects_bad_entries(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("labels:\n  daisy:\n    popular: ['two words']\n")
    with pytest.raises(ValueError, match="not a valid hashtag"):
        Catalogue(bad)


@pytest.mark.parametrize(
    ("tag", "valid"),
    [
        ("daisy", True),
        ("café", True),
        ("東京", True),
        ("rose_garden", True),
        ("2024", False),
        ("a b", False),
        ("hello!", False),
        ("", False),
        ("_x", False),
    ],
)
def test_tag_syntax(tag: str, valid: bool) -> None:
    assert is_valid(tag) is valid


def test_tags_from_label_text() -> None:
    assert tags_from_label("Egyptian cat") == ["egyptiancat", "cat"]
    assert tags_from_label("daisy") == ["daisy"]
    assert tags_from_label("black-and-tan coonhound") == ["blackandtancoonhound", "coonhound"]


# -- composer ------------------------------------------------------------------


def test_composer_ranks_the_label_tags_first_and_caps_mega_tags() -> None:
    facts = TrendFacts({"flowers": 90_000_000, "flower": 60_000_000, "nature": 500_000_000, "daisy": 4_000_000}, {})
    result = compose_hashtags(DAISY, Catalogue(), facts, load_starter_blocklist(), count=5)
    assert len(result.tags) == 5
    assert result.tags[0].label == "daisy"
    crowded = [t for t in result.tags if t.tier in ("mega", "popular")]
    assert len(crowded) <= 1
    assert result.line.startswith("#") and result.line.count("#") == 5


def test_a_coarse_subject_gives_its_curated_tags_and_its_sure_detail() -> None:
    result = compose_hashtags(CAT, Catalogue(), TrendFacts({}, {}), frozenset(), count=30)
    tags = [t.tag for t in result.tags]
    assert {t.label for t in result.tags} == {"cat"}, "every tag is for the subject the answer names"
    assert "catlover" in tags and "egyptiancat" in tags
    assert candidate_queries(CAT) == ["cat", "egyptiancat"], "the detail is searched too"
    related = compose_hashtags(CAT, Catalogue(), TrendFacts({}, {"egyptiancat": ["maucat"]}), frozenset(), count=30)
    assert "maucat" in [t.tag for t in related.tags]


def test_each_named_subject_gets_a_tag_and_an_unsure_answer_gets_broad_tags_only() -> None:
    result = compose_hashtags(BEACH_PARTY, Catalogue(), TrendFacts({}, {}), frozenset(), count=3)
    assert {t.label for t in result.tags} == {"group", "beach"}, "the place is named, so it gets a tag"
    broad = compose_hashtags(Scene(()), Catalogue(), TrendFacts({}, {}), frozenset(), count=5)
    assert {t.label for t in broad.tags} == {BROAD}
    assert {t.tag for t in broad.tags} <= {entry.tag for entry in Catalogue().lookup(BROAD)}


def test_composer_uses_related_tags_from_search() -> None:
    facts = TrendFacts({"daisychain": 300_000}, {"daisy": ["daisychain", "daisies"]})
    result = compose_hashtags(DAISY, Catalogue(), facts, frozenset(), count=30)
    assert "daisychain" in [t.tag for t in result.tags]


@pytest.mark.parametrize("count", [1, 3, 5, 12, 30, 99])
def test_composer_properties(count: int) -> None:
    blocklist = load_starter_blocklist() | {"daisy", "flowers"}
    facts = TrendFacts({"daisies": 1_000}, {"daisy": ["follow4follow", "Daisies", "not valid!", "daisy_love"]})
    first = compose_hashtags(DAISY, Catalogue(), facts, blocklist, count=count)
    again = compose_hashtags(DAISY, Catalogue(), facts, blocklist, count=count)
    assert first == again
    tags = [t.tag for t in first.tags]
    assert 1 <= len(tags) <= min(count, 30)
    assert len({t.casefold() for t in tags}) == len(tags)
    assert not set(tags) & blocklist
    assert all(is_valid(t) for t in tags)


def test_tiers_from_counts() -> None:
    assert [tier_of(n) for n in (50_000_000, 2_000_000, 200_000, 20_000, 50)] == [
        "mega",
        "popular",
        "medium",
        "niche",
        "tiny",
    ]


# -- Instaloader through recorded HTTP -----------------------------------------


@responses.activate
def test_search_reads_counts_from_the_search_node_in_one_request() -> None:
    responses.get(SEARCH_URL, json=search_body(("daisy", 5_100_000), ("daisies", 800_000), ("daisychain", 9_000)))
    found = InstagramClient().search("daisy")
    assert found == {"daisy": 5_100_000, "daisies": 800_000, "daisychain": 9_000}
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"graphql": {"hashtag": {"name": "daisy", "edge_hashtag_to_media": {"count": 5100000}}}},
        {"data": {"name": "daisy", "media_count": 5100000}, "status": "ok"},
    ],
    ids=["graphql-shape", "data-shape"],
)
@responses.activate
def test_web_info_count_in_both_json_shapes(body: dict) -> None:
    responses.get(WEB_INFO_URL, json=body)
    assert InstagramClient().media_count("daisy") == 5_100_000


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind"),
    [
        (429, {"message": "rate limited", "status": "fail"}, {}, "rate_limited"),
        (401, {"message": "Please wait a few minutes before you try again.", "status": "fail"}, {}, "please_wait"),
        (400, {"message": "checkpoint_required", "status": "fail"}, {}, "checkpoint"),
        (403, {"message": "login_required", "status": "fail"}, {}, "login_required"),
        (302, None, {"location": "https://www.instagram.com/accounts/login/"}, "login_required"),
        (200, None, {}, "connection"),
    ],
    ids=["429", "401-please-wait", "checkpoint", "403-login-required", "redirect-to-login", "malformed-json"],
)
@responses.activate
def test_instagram_errors_become_one_typed_refusal(status, body, headers, kind) -> None:
    if body is None and status == 200:
        responses.get(SEARCH_URL, body="<html>not json</html>", status=200)
    else:
        responses.get(SEARCH_URL, json=body, status=status, headers=headers)
    with pytest.raises(InstagramRefused) as caught:
        InstagramClient().search("daisy")
    assert caught.value.kind == kind
    assert len(responses.calls) == 1, "one attempt only: no retries, no sleeping"


@responses.activate
def test_changed_json_shape_is_reported_as_bad_response() -> None:
    responses.get(WEB_INFO_URL, json={"data": {"name": "daisy", "something_else": 1}, "status": "ok"})
    with pytest.raises(InstagramRefused) as caught:
        InstagramClient().media_count("daisy")
    assert caught.value.kind in ("bad_response", "connection")


@responses.activate
def test_timeout_is_a_refusal() -> None:
    responses.get(SEARCH_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(InstagramRefused) as caught:
        InstagramClient().search("daisy")
    assert caught.value.kind in ("timeout", "connection")


# -- refresher and cache --------------------------------------------------------


@pytest.fixture
async def db(tmp_path: Path):
    connection = await open_database(tmp_path / "bot.sqlite3")
    yield connection
    await connection.close()


@responses.activate
async def test_new_label_is_queued_then_refreshed_into_the_cache(db) -> None:
    cache = TrendCache(db, Catalogue())
    first = await cache.facts_for(DAISY)
    assert first.related == {} and first.counts == {}
    assert await trend_store.due_queries(db, 1e9, 1e9, 10) == ["daisy"], "only what the answer names is searched"

    responses.get(SEARCH_URL, json=search_body(("daisy", 5_100_000), ("daisychain", 9_000)))
    responses.get(WEB_INFO_URL, json={"data": {"name": "x", "media_count": 700_000}, "status": "ok"})
    refresher = TrendRefresher(db, InstagramClient(), Catalogue(), NO_WAIT)
    made = await refresher.run_once()
    assert made >= 2

    facts = await cache.facts_for(DAISY)
    assert facts.related["daisy"] == ["daisy", "daisychain"]
    assert facts.counts["daisy"] == 5_100_000 and facts.counts["daisychain"] == 9_000
    offered = {c.tag for c in candidates(DAISY, Catalogue(), facts.related)}
    assert offered <= set(facts.counts), "the refresher counted every tag the composer may choose"
    health = await trend_store.health(db)
    assert health.last_success is not None and health.failures == 0
    result = compose_hashtags(DAISY, Catalogue(), facts, load_starter_blocklist())
    assert any(t.media_count for t in result.tags)


async def test_a_label_waiting_for_instagram_is_queued_once_not_on_every_reply(db) -> None:
    """Without an Instagram session nothing is ever searched: the replies after the first write nothing."""
    counted = CountingWrites(db)
    cache = TrendCache(counted, Catalogue())
    await cache.facts_for(DAISY)
    assert counted.writes == 1
    for _ in range(5):
        assert (await cache.facts_for(DAISY)).related == {}
    assert counted.writes == 1
    assert await trend_store.due_queries(db, 1e9, 1e9, 10) == ["daisy"]
    await cache.facts_for(CAT)
    assert counted.writes == 2, "a new label is still queued"


@responses.activate
async def test_refusal_pauses_with_exponential_backoff_and_replies_still_work(db) -> None:
    await trend_store.queue_queries(db, ["daisy"])
    responses.get(SEARCH_URL, json={"message": "rate limited", "status": "fail"}, status=429)
    refresher = TrendRefresher(db, InstagramClient(), Catalogue(), NO_WAIT)
    assert await refresher.run_once() == 1
    first = await trend_store.health(db)
    assert first.paused and first.failures == 1 and "rate_limited" in first.last_error
    assert await refresher.run_once() == 0, "paused: no request while backing off"
    assert len(responses.calls) == 1

    await db.write("UPDATE instagram_health SET pause_until = 0")
    await db.write("UPDATE searches SET error_at = 0")
    await refresher.run_once()
    second = await trend_store.health(db)
    assert second.failures == 2
    assert second.pause_until - second.last_failure == pytest.approx(2 * (first.pause_until - first.last_failure))

    facts = await TrendCache(db, Catalogue()).facts_for(DAISY)
    result = compose_hashtags(DAISY, Catalogue(), facts, load_starter_blocklist())
    assert result.tags and all(t.media_count is None for t in result.tags), "catalogue fallback"


@responses.activate
async def test_unknown_tag_is_recorded_not_a_pause(db) -> None:
    await trend_store.queue_queries(db, ["daisy"])
    responses.get(SEARCH_URL, json=search_body())
    responses.get(WEB_INFO_URL, status=404, json={"status": "fail"})
    await TrendRefresher(db, InstagramClient(), Catalogue(), NO_WAIT).run_once()
    assert not (await trend_store.health(db)).paused
    assert (await db.execute_fetchall("SELECT count(*) FROM hashtags WHERE last_error LIKE 'not_found%'"))[0][0] >= 1


@responses.activate
async def test_timeout_pauses_the_refresher_and_is_recorded(db) -> None:
    await trend_store.queue_queries(db, ["daisy"])
    responses.get(SEARCH_URL, body=requests.exceptions.ConnectTimeout("connect timed out"))
    assert await TrendRefresher(db, InstagramClient(), Catalogue(), NO_WAIT).run_once() == 1
    health = await trend_store.health(db)
    assert health.paused and health.failures == 1
    assert health.last_error.startswith(("timeout", "connection"))


@responses.activate
async def test_expired_counts_are_refreshed_without_a_new_search(db) -> None:
    await trend_store.save_counts(db, {"daisy": 1_000})
    await db.write("UPDATE hashtags SET fetched_at = fetched_at - ?", (8 * DAY,))
    responses.get(WEB_INFO_URL, json={"data": {"name": "daisy", "media_count": 5_100_000}, "status": "ok"})
    assert await TrendRefresher(db, InstagramClient(), Catalogue(), NO_WAIT).run_once() == 1
    assert await trend_store.media_counts(db, ["daisy"]) == {"daisy": 5_100_000}
    assert await TrendRefresher(db, InstagramClient(), Catalogue(), NO_WAIT).run_once() == 0, "fresh now"


@responses.activate
async def test_a_subject_of_several_words_gets_counts_for_its_curated_tags(db) -> None:
    scene = Scene((Named("big cat", "a big cat", 0.9, "subject"),))
    cache = TrendCache(db, Catalogue())
    await cache.facts_for(scene)
    assert await trend_store.due_queries(db, 1e9, 1e9, 10) == ["bigcat"]
    responses.get(SEARCH_URL, json=search_body(("bigcat", 90_000)))
    responses.get(WEB_INFO_URL, json={"data": {"name": "x", "media_count": 700_000}, "status": "ok"})
    await TrendRefresher(db, InstagramClient(), Catalogue(), NO_WAIT).run_once()
    facts = await cache.facts_for(scene)
    assert {entry.tag for entry in Catalogue().lookup("big cat")} <= set(facts.counts)
