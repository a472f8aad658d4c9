"""What an answer names, and the tags that follow, on everyday photos and on made-up predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bot.pipeline import Pipeline
from inference.classifier import load_imagenet_labels
from inference.scene import DETAIL, SURE, describe
from inference.subjects import SubjectTree
from inference.values import NOBODY, Label, People, Prediction
from tests.conftest import serving, without_thresholds
from trends.catalogue import Catalogue
from trends.composer import BROAD, TrendFacts, compose_hashtags

FLOWER_TAGS = {
    entry.tag for name in ("daisy", "dandelion", "rose", "sunflower", "tulip") for entry in Catalogue().lookup(name)
}
PEOPLE_KEYS = {"portrait", "person", "two people", "group"}
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
        confident=claimed is not None,
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
    scene = describe(made_up({"chest": 0.3, "pencil sharpener": 0.2}), TREE)
    assert not scene.sure and scene.line == "not sure what this shows"
    tags = compose_hashtags(scene, Catalogue(), TrendFacts({}, {}), frozenset(), count=5)
    assert {t.label for t in tags.tags} == {BROAD}


def test_people_lead_with_a_fairly_sure_place_and_what_they_wear() -> None:
    group = People(share=0.2, count=3, largest=0.08)
    assert describe(made_up({"seashore": 0.25, "sandbar": 0.1}, group), TREE).line == "3 people at the beach"
    portrait = People(share=0.5, count=1, largest=0.5)
    assert describe(made_up({"suit": 0.8}, portrait), TREE).line == "a portrait wearing clothes (suit)"
    assert describe(made_up({}, People(0.1, 2, 0.05)), TREE).line == "2 people"


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
