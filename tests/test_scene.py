"""What an answer names, and the tags that follow, on everyday photos and on made-up predictions."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
from PIL import Image

from bot.pipeline import Pipeline
from inference.classifier import load_imagenet_labels
from inference.scene import DETAIL, PEOPLE_KEYS, SURE, describe, merge
from inference.subjects import SubjectTree
from inference.values import NOBODY, Label, People, Prediction
from tests.support.pipelines import serving, without_thresholds
from trends.catalogue import Catalogue
from trends.composer import BROAD, TrendFacts, compose_hashtags
from trends.tags import repeated_word

FLOWER_TAGS = {
    entry.tag for name in ("daisy", "dandelion", "rose", "sunflower", "tulip") for entry in Catalogue().lookup(name)
}
LABELS = load_imagenet_labels()
TREE = SubjectTree()


def made_up(fine: dict[str, float], people: People = NOBODY, claimed: str | None = None) -> Prediction:
    """A prediction with these ImageNet probabilities (the rest spread thin), and a custom claim if any."""
    probabilities = np.zeros(1000, np.float32)
    for name, p in fine.items():
        probabilities[LABELS.index(name)] = p
    probabilities += (1 - probabilities.sum()) / 1000
    rolled = TREE.rollup(probabilities[None])[0]
    order = np.argsort(-probabilities)[:3]
    return Prediction(
        custom=(Label(claimed or "daisy", 0.9 if claimed else 0.4, 0),),
        imagenet=tuple(Label(LABELS[k], float(probabilities[k]), int(k)) for k in order),
        claimed=claimed is not None,
        model_version="test",
        embedding=np.zeros(4),
        subjects=tuple(Label(key, float(p), -1) for key, p in zip(TREE.keys, rolled, strict=True) if p >= 0.05),
        people=people,
    )


def test_unsure_fine_labels_roll_up_into_their_sure_subject() -> None:
    scene = describe(made_up({"beach wagon": 0.35, "convertible": 0.18, "racer": 0.11}), TREE)
    assert scene.line == "a car" and scene.named[0].detail == "", "35 % beach wagon is not named"
    tags = compose_hashtags(scene, Catalogue(), TrendFacts({}, {}), frozenset(), count=30)
    assert {t.label for t in tags.tags} == {"car"}
    assert not {"beachwagon", "wagon", "convertible", "racer"} & {t.tag for t in tags.tags}


def test_a_sure_fine_label_is_the_detail_of_its_subject() -> None:
    scene = describe(made_up({"tabby": 0.55, "tiger cat": 0.25}), TREE)
    assert scene.line == "a cat (tabby)"
    assert DETAIL <= 0.55 and SURE <= 0.8


def test_nothing_sure_names_nothing_and_offers_broad_tags_only() -> None:
    scene = describe(made_up({"chest": 0.3, "crate": 0.2}), TREE)
    assert not scene.sure and scene.line == "not sure what this shows"
    tags = compose_hashtags(scene, Catalogue(), TrendFacts({}, {}), frozenset(), count=5)
    assert {t.label for t in tags.tags} == {BROAD}


def test_people_lead_with_a_fairly_sure_place_and_what_they_wear() -> None:
    group = People(share=0.2, count=3, largest=0.08)
    assert describe(made_up({"seashore": 0.25, "sandbar": 0.1}, group), TREE).line == "a group of people at the beach"
    portrait = People(share=0.5, count=1, largest=0.5)
    assert describe(made_up({"suit": 0.8}, portrait), TREE).line == "a portrait wearing clothes (suit)"
    # Blobs of people standing close merge, so two blobs are at least two people: no number is said.
    assert describe(made_up({}, People(0.1, 2, 0.05)), TREE).line == "people"


def test_a_claimed_class_leads_and_hides_imagenet_subjects_but_not_people() -> None:
    scene = describe(made_up({"daisy": 0.9}, People(0.3, 1, 0.1), claimed="daisy"), TREE)
    assert [n.key for n in scene.named] == ["daisy", "person"]


async def test_everyday_photos_get_tags_for_what_they_show(pipeline: Pipeline, everyday_photos) -> None:
    answers = {what: await pipeline.answer(data, "test", "1", "1") for what, data in everyday_photos.items()}
    for what, answer in answers.items():
        assert not FLOWER_TAGS & {t.tag for t in answer.tags.tags}, f"flower tags on the {what} photo"
        assert {t.label for t in answer.tags.tags} <= {n.key for n in answer.scene.named}, "a tag for nothing named"
    assert answers["portrait"].scene.named[0].key == "portrait"
    assert PEOPLE_KEYS & {t.label for t in answers["portrait"].tags.tags}
    assert answers["cat"].scene.line.startswith("a cat") and {t.label for t in answers["cat"].tags.tags} == {"cat"}
    motorbikes = answers["motorbikes"]
    assert motorbikes.scene.line == "a vehicle", "the unsure 'mountain bike' rolls up into the sure vehicle"
    assert motorbikes.prediction.imagenet[0].score < DETAIL
    assert "mountainbike" not in motorbikes.tags.line
    assert "pizza" in answers["pizza"].scene.line and "#pizza" in answers["pizza"].tags.line


async def test_a_model_without_thresholds_still_answers(tmp_path: Path, flower_photos) -> None:
    async with serving(without_thresholds(tmp_path / "old"), tmp_path / "bot.sqlite3") as old:
        answer = await old.answer(flower_photos["daisy"], "test", "1", "1")
        assert answer.scene.line == "daisy" and answer.tags.tags
        assert not old.teaching.available


def test_people_with_a_racket_or_a_ball_are_doing_something() -> None:
    person = People(share=0.3, count=1, largest=0.1)
    tennis = describe(made_up({"racket": 0.2, "tennis ball": 0.05}, person), TREE)
    assert tennis.line == "a person playing tennis"
    tags = compose_hashtags(tennis, Catalogue(), TrendFacts({}, {}), frozenset(), count=5)
    assert {"tennis", "person"} <= {t.label for t in tags.tags}, "tags for what they do, not only that they are there"
    football = describe(made_up({"soccer ball": 0.3}, People(0.2, 3, 0.05)), TREE)
    assert football.line == "a group of people playing football"
    assert "playing" not in describe(made_up({"soccer ball": 0.3}), TREE).line, "no people, no players"
    skydiver = describe(made_up({"parachute": 0.25}, person), TREE)
    assert skydiver.line == "a person skydiving"
    tags = compose_hashtags(skydiver, Catalogue(), TrendFacts({}, {}), frozenset())
    assert "skydiving" in {t.label for t in tags.tags}


def test_objects_filed_elsewhere_in_wordnet_are_named_as_people_post_them() -> None:
    comics = describe(made_up({"comic book": 0.65}), TREE)
    assert comics.line == "books (comic book)", "a comic book at 0.65 is not 'not sure'"
    assert "booklover" in {t.tag for t in compose_hashtags(comics, Catalogue(), TrendFacts({}, {}), frozenset()).tags}
    assert describe(made_up({"car wheel": 0.4, "disk brake": 0.25}), TREE).line == "a car (car wheel)"
    assert describe(made_up({"stethoscope": 0.35, "syringe": 0.3}), TREE).line == "health care"
    assert describe(made_up({"umbrella": 0.7}), TREE).line == "an umbrella", "not 'an umbrella (umbrella)'"


def test_a_beach_photo_with_people_gets_beach_tags_among_its_five() -> None:
    group = People(share=0.2, count=3, largest=0.08)
    scene = describe(made_up({"maillot": 0.2, "seashore": 0.15}, group), TREE)
    assert scene.line == "a group of people at the beach", "swimsuits are evidence of the beach, not of fashion"
    tags = compose_hashtags(scene, Catalogue(), TrendFacts({}, {}), frozenset(), count=5)
    assert "beach" in {t.label for t in tags.tags}


def test_a_family_of_unsure_labels_is_sure_together() -> None:
    snowboarder = made_up({"dogsled": 0.24, "snowmobile": 0.23, "alp": 0.05}, People(0.1, 1, 0.05))
    assert describe(snowboarder, TREE).line == "a person in the snow"
    desk = describe(made_up({"laptop": 0.3, "mouse": 0.2, "computer keyboard": 0.15}), TREE)
    assert desk.named[0].key == "desk"
    grocery = describe(made_up({"grocery store": 0.7}, People(0.1, 1, 0.05)), TREE)
    assert grocery.line == "a person at a shop", "a shop is not architecture"


def test_the_people_model_makes_its_object_sure() -> None:
    unsure = made_up({"kelpie": 0.15, "malinois": 0.1})
    assert describe(unsure, TREE).line != "a dog"
    seen = dataclasses.replace(unsure, people=People(0.0, 0, 0.0, (("dog", 0.18),)))
    assert describe(seen, TREE).line == "a dog"


def test_nothing_sure_offers_the_likeliest_subject_as_a_maybe() -> None:
    scene = describe(made_up({"seashore": 0.2, "lakeside": 0.1}), TREE)
    assert scene.tentative and scene.line == "maybe the beach"
    tags = compose_hashtags(scene, Catalogue(), TrendFacts({}, {}), frozenset(), count=5)
    assert {t.label for t in tags.tags} == {"beach"}


async def test_blank_and_single_colour_images_are_not_sure(pipeline: Pipeline) -> None:
    rng = np.random.default_rng(1)
    near_uniform = (np.full((300, 300, 3), 120) + rng.integers(-3, 4, (300, 300, 3))).astype(np.uint8)
    for pixels in (np.zeros((300, 300, 3), np.uint8), np.full((200, 300, 3), (200, 30, 30), np.uint8), near_uniform):
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG")
        answer = await pipeline.answer(buffer.getvalue(), "test", "1", "1")
        assert answer.scene.blank and not answer.scene.sure and not answer.prediction.claimed
        assert answer.scene.line == "a blank or single-colour image"
        assert {t.label for t in answer.tags.tags} == {BROAD}


async def test_everyday_scenes_people_post(pipeline: Pipeline, everyday_photos) -> None:
    baseball = await pipeline.answer(everyday_photos["baseball"], "test", "1", "1")
    assert "playing baseball" in baseball.scene.line and "baseball" in {t.label for t in baseball.tags.tags}
    pier = await pipeline.answer(everyday_photos["pier"], "test", "1", "1")
    assert pier.scene.sure, "a pier at sunset is not 'not sure'"
    assert "beach" in {t.label for t in pier.tags.tags}


async def test_five_tags_never_repeat_one_word_four_times(pipeline: Pipeline, everyday_photos, flower_photos) -> None:
    catalogue = pipeline.catalogue
    for name, data in {**everyday_photos, **flower_photos}.items():
        answer = await pipeline.answer(data, "test", "1", "1")
        tags = [t.tag for t in answer.tags.tags]
        assert repeated_word(tags, catalogue.words, 4) is None, f"{name}: {tags}"
    portrait = describe(made_up({"suit": 0.2}, People(0.5, 1, 0.5)), TREE)
    tags = compose_hashtags(portrait, catalogue, TrendFacts({}, {}), frozenset(), count=5)
    assert repeated_word([t.tag for t in tags.tags], catalogue.words, 3) is None, tags.line


def test_a_post_of_several_photos_names_what_most_of_them_show() -> None:
    cat, dog = made_up({"tabby": 0.8}), made_up({"golden retriever": 0.8})
    person = made_up({}, People(0.3, 1, 0.1))
    scene = merge([describe(p, TREE) for p in (dog, cat, cat, person)])
    assert [n.key for n in scene.named] == ["cat", "dog", "person"]
    assert scene.line == "a cat (tabby), a dog (golden retriever) and a person", "listed, not 'a cat with a dog'"
    assert merge([describe(made_up({"chest": 0.5, "crate": 0.3}), TREE)] * 2).named == ()


def test_the_tags_cover_each_thing_named() -> None:
    scene = describe(made_up({"pizza": 0.7}, People(0.5, 1, 0.5)), TREE)
    assert scene.line == "a portrait with a dish (pizza)"
    tags = compose_hashtags(scene, Catalogue(), TrendFacts({}, {}), frozenset(), count=5)
    labels = [t.label for t in tags.tags]
    assert labels.count("portrait") == 3 and labels.count("dish") == 2, tags.line
