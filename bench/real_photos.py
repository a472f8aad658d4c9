"""Answers on the photos people really send: do the tags fit, and does any name something that is not there?

    .venv/bin/python -m bench.real_photos [--show]

Runs the bot's own path (`Pipeline.answer`: decode, classify, people, taught
labels, what the answer names, compose; an empty trend cache, so tiers come
from the catalogue) on:

- `../shared/data/coco128`: 128 everyday photos. What each shows is its COCO
  objects (mapped to subjects by `COCO_SUBJECTS`) plus what we saw in it that
  COCO does not label (`bench/expected/coco128_subjects.tsv`: beach, street, food…).
- `../shared/data/imagenet_samples`: 989 photos, one per ImageNet class. What
  each shows is its class and the class's subjects, plus flowers and people
  where we saw them (`bench/expected/imagenet_samples.tsv`).
- `../shared/data/flowers/dev`: the trained classes, for the open-set figures.

A tag fits when the subject it was chosen for (or a subject above it, "a cat is
an animal") is in the photo; people tags are about "people"; the model's
trained classes are flowers. Printed per set: the share of photos whose first
tag fits, whose tags include a fitting one, whose tags name something absent,
and that got "not sure" (broad tags). Then the open-set figures (photos a
flower class claims) and the people figures (people tags on photos whose
largest person covers a fifth of the frame, and on photos without people) and,
on coco128, how often the number of people an answer says agrees with COCO's count.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.command import model_benchmark
from bot.pipeline import Answer, Pipeline
from inference.classifier import Classifier
from inference.dataset import list_photos
from inference.decode import ImageRejected
from inference.scene import PEOPLE_KEYS as SEEN_PEOPLE
from inference.subjects import SubjectTree
from storage.database import open_database
from trends.catalogue import Catalogue
from trends.composer import BROAD
from trends.tags import normalise, repeated_word

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
EXPECTED = Path(__file__).with_name("expected")
# Tags about people: what the people model saw, or ImageNet's people (a groom, a scuba diver).
PEOPLE_KEYS = {"people", *SEEN_PEOPLE}
# An answer repeats a word when this many of its tags share it (#portraits #portraitmood #portraitpage …).
REPEATED = 4
BIG_PERSON = 0.2
COCO_SUBJECTS = {
    "person": ["people"],
    "bicycle": ["bicycle"],
    "car": ["car"],
    "motorcycle": ["motorbike"],
    "airplane": ["aircraft"],
    "bus": ["bus"],
    "train": ["train"],
    "truck": ["truck"],
    "boat": ["boat"],
    "traffic light": ["street"],
    "fire hydrant": ["street"],
    "stop sign": ["street"],
    "parking meter": ["street"],
    "bird": ["bird"],
    "cat": ["cat"],
    "dog": ["dog"],
    "horse": ["horse"],
    "sheep": ["farm animal"],
    "cow": ["farm animal"],
    "elephant": ["elephant"],
    "bear": ["bear"],
    "zebra": ["animal"],
    "giraffe": ["animal"],
    "backpack": ["bag"],
    "handbag": ["bag"],
    "suitcase": ["bag"],
    "tie": ["clothes"],
    "frisbee": ["sports"],
    "skis": ["sports", "snow"],
    "snowboard": ["sports", "snow"],
    "sports ball": ["sports", "ball"],
    "kite": ["sports"],
    "baseball bat": ["sports", "baseball"],
    "baseball glove": ["sports", "baseball"],
    "skateboard": ["sports"],
    "surfboard": ["sports"],
    "tennis racket": ["sports", "tennis"],
    "bottle": ["drink"],
    "wine glass": ["wine", "drink"],
    "cup": ["drink", "coffee"],
    "fork": ["kitchen"],
    "knife": ["kitchen"],
    "spoon": ["kitchen"],
    "bowl": ["kitchen"],
    "banana": ["fruit"],
    "apple": ["fruit"],
    "orange": ["fruit"],
    "sandwich": ["dish", "bread"],
    "broccoli": ["vegetables"],
    "carrot": ["vegetables"],
    "hot dog": ["dish"],
    "pizza": ["dish"],
    "donut": ["dessert"],
    "cake": ["dessert"],
    "chair": ["furniture"],
    "couch": ["furniture", "home"],
    "bed": ["furniture", "home"],
    "dining table": ["furniture"],
    "potted plant": ["plant"],
    "tv": ["electronics"],
    "laptop": ["computer", "electronics", "desk"],
    "mouse": ["computer", "electronics", "desk"],
    "keyboard": ["computer", "electronics", "desk"],
    "remote": ["electronics"],
    "cell phone": ["phone", "electronics"],
    "microwave": ["kitchen", "home"],
    "oven": ["kitchen", "home"],
    "toaster": ["kitchen", "home"],
    "refrigerator": ["kitchen", "home"],
    "toilet": ["home"],
    "sink": ["home"],
    "clock": ["clock"],
    "vase": ["home decor"],
    "scissors": ["tools"],
    "teddy bear": ["toy"],
    "hair drier": ["beauty"],
}


@dataclass
class Photo:
    """One benchmark photo and what it shows: subjects and words (`there`), people: True, False or None (unsure)."""

    path: Path
    there: set[str]
    people: bool | None
    big_person: bool = False
    flowers: bool = False
    persons: int | None = None  # how many people the photo's labels count, where they do


def read_tsv(path: Path) -> list[list[str]]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return [line.split("\t") for line in lines[1:]]


def coco_photos() -> list[Photo]:
    seen = {row[0]: [s for s in row[1].split(",") if s] for row in read_tsv(EXPECTED / "coco128_subjects.tsv")}
    photos = []
    for file, _, _, persons, area, objects in read_tsv(SHARED / "coco128" / "labels.tsv"):
        names = [item.split(":")[0] for item in objects.split(",") if item]
        there = set(seen[file]) | set(names) | {s for name in names for s in COCO_SUBJECTS.get(name, [])}
        path = SHARED / "coco128" / file
        photos.append(Photo(path, there, int(persons) > 0, float(area) >= BIG_PERSON, "flowers" in there, int(persons)))
    return photos


def imagenet_photos(tree: SubjectTree, classes: list[str]) -> list[Photo]:
    photos = []
    for file, flowers, people in read_tsv(EXPECTED / "imagenet_samples.tsv"):
        index = classes.index(file[10:-4].replace("_", " ")) if file[10:-4].replace("_", " ") in classes else None
        there = {file[10:-4].replace("_", " ")} | (set(tree.class_subjects[index]) if index is not None else set())
        if flowers == "yes":
            there.add("flowers")
        if people == "yes":
            there.add("people")
        path = SHARED / "imagenet_samples" / file
        photos.append(Photo(path, there, {"yes": True, "no": False}.get(people), flowers=flowers == "yes"))
    return photos


def fits(key: str, photo: Photo, tree: SubjectTree, trained: set[str]) -> bool | None:
    """Whether a tag chosen for `key` fits the photo; None when it cannot be told (broad, or people half-seen)."""
    if key == BROAD:
        return None
    if key in PEOPLE_KEYS:
        return None if photo.people is None else photo.people
    if key in trained:
        return photo.flowers
    around = set().union(*(tree.lineage(s) for s in photo.there if s in tree.subjects))
    return key in around or normalise(key) in {normalise(w) for w in photo.there}


def count_fits(phrase: str, persons: int) -> bool:
    """Whether the number of people a phrase says agrees with the labels' count: "a person" and "a portrait"
    say one, "people" two or more, "a group of people" three or more."""
    if phrase.startswith(("a person", "a portrait")):
        return persons == 1
    return persons >= (3 if phrase.startswith("a group") else 2)


async def answer_all(pipeline: Pipeline, paths: list[Path]) -> list[Answer | None]:
    answers = []
    for path in paths:
        try:
            answers.append(await pipeline.answer(path.read_bytes(), "bench", "1", "1"))
        except ImageRejected:
            answers.append(None)
    return answers


def score(
    photos: list[Photo],
    answers: list[Answer | None],
    tree: SubjectTree,
    trained: set[str],
    vocabulary: frozenset[str],
    show: bool,
) -> dict:
    first, any_fit, absent, unsure, repeated, claimed = 0, 0, 0, 0, [], []
    with_people, with_people_first = 0, 0
    people_big, people_big_tagged, nobody, nobody_tagged = 0, 0, 0, 0
    counted, counted_right = 0, 0
    for photo, answer in zip(photos, answers, strict=True):
        if answer is None:
            continue
        verdicts = [fits(t.label, photo, tree, trained) for t in answer.tags.tags]
        first += verdicts[0] is True
        any_fit += any(v is True for v in verdicts)
        absent += any(v is False for v in verdicts)
        unsure += not answer.scene.sure
        if word := repeated_word([t.tag for t in answer.tags.tags], vocabulary, REPEATED):
            repeated.append(f"{photo.path.stem}: {word}")
        if photo.people:
            with_people += 1
            with_people_first += verdicts[0] is True
        if any(n.source == "trained" for n in answer.scene.named) and not photo.flowers:
            claimed.append(photo.path.stem)
        tagged = any(t.label in PEOPLE_KEYS for t in answer.tags.tags)
        if photo.big_person:
            people_big += 1
            people_big_tagged += tagged
        if photo.people is False:
            nobody += 1
            nobody_tagged += tagged
        said = next((n.phrase for n in answer.scene.named if n.source == "people"), None)
        if said and photo.persons:
            counted += 1
            counted_right += count_fits(said, photo.persons)
        if show:
            marks = "".join({True: "+", False: "-", None: "?"}[v] for v in verdicts)
            print(f"{photo.path.name:40s} {marks:6s} {answer.scene.line:45s} {answer.tags.line}")
    n = sum(a is not None for a in answers)
    without_flowers = sum(a is not None and not p.flowers for p, a in zip(photos, answers, strict=True))
    result = {
        "photos": n,
        "first_tag_fits": round(first / n, 3),
        "some_tag_fits": round(any_fit / n, 3),
        "names_something_absent": round(absent / n, 3),
        "not_sure": round(unsure / n, 3),
        "one_word_in_four_tags": {"share": round(len(repeated) / n, 3), "photos": repeated},
        "first_tag_fits_with_people": f"{with_people_first} of {with_people}",
        "claimed_by_a_flower_class_without_flowers": {
            "share": round(len(claimed) / without_flowers, 3),
            "of": without_flowers,
            "photos": claimed,
        },
        "people_tags_on_photos_without_people": f"{nobody_tagged} of {nobody}",
    }
    if people_big:
        result["people_tags_where_a_person_covers_a_fifth"] = f"{people_big_tagged} of {people_big}"
    if counted:
        result["number_of_people_said_agrees_with_the_labels"] = f"{counted_right} of {counted}"
    return result


def open_set(classifier: Classifier) -> dict:
    """Share of the trained classes' dev photos claimed at all, and by their own class."""
    root = SHARED / "flowers" / "dev"
    photos = list_photos(root, classifier.classes)
    from inference.decode import decode_image

    any_class, own, total = 0, 0, 0
    for name, paths in photos.items():
        for path in paths:
            prediction = classifier.predict(decode_image(path.read_bytes())[None])[0]
            total += 1
            any_class += prediction.claimed
            own += prediction.claimed and prediction.custom[0].name == name
    return {"photos": total, "claimed": round(any_class / total, 3), "claimed_by_own_class": round(own / total, 3)}


async def run(model: Path, show: bool) -> dict:
    classifier = Classifier(model)
    tree = classifier.subject_tree
    db = await open_database(":memory:")
    pipeline = Pipeline(classifier, db, Catalogue())
    await pipeline.teaching.load()
    trained = set(classifier.classes)
    results = {"model": classifier.version, "flowers_dev": open_set(classifier)}
    for name, photos in (
        ("coco128", coco_photos()),
        ("imagenet_samples", imagenet_photos(tree, classifier.imagenet_classes)),
    ):
        answers = await answer_all(pipeline, [p.path for p in photos])
        results[name] = score(photos, answers, tree, trained, pipeline.catalogue.words, show)
    results["imagenet_samples"]["left_out_as_showing_flowers"] = [p.path.stem for p in photos if p.flowers]
    await pipeline.drain()
    await classifier.aclose()
    await db.close()
    return results


def main(argv: list[str] | None = None) -> int:
    return model_benchmark(
        argv,
        "real_photos",
        __doc__,
        lambda args: [SHARED / "coco128", SHARED / "imagenet_samples"],
        lambda args: asyncio.run(run(args.model, args.show)),
        lambda parser: parser.add_argument(
            "--show", action="store_true", help="print every answer: +/-/? per tag, subject line, tags"
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
