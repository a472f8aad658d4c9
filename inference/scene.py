"""What an answer names: the subjects the bot is sure a photo shows, in the words a person would use.

The answer line and the hashtags both come from this one list, so a tag can
only be for a subject the answer names. In order: the trained or taught
class that claims the photo (inside its region, `inference.open_set`);
people, when the people model sees them, with what they are doing ("playing
tennis"); then the most specific coarse ImageNet subject that is sure, with
the fine label as a detail when that is sure too ("a cat (tabby)"); and a
place that is fairly sure ("at the beach"). A family of classes counts as
one subject (snow: ski + dogsled + snowmobile + alp), so a scene whose fine
labels disagree can still be sure of its family. An object the people model
sees (a car, a dog, a dining table) makes its ImageNet subject sure from a
lower score. When nothing is sure, the likeliest subject is offered as
what the photo might be; "not sure" is left for photos where the models
have nothing, and for blank or single-colour images.

Thresholds were chosen on coco128 (bench/real_photos.py prints the answers
and their figures; docs/benchmarks.md has the sweep) and checked on the
ImageNet samples, which they were not tuned on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from inference.subjects import SubjectTree
from inference.values import SEEN_SHARE, Label, People, Prediction

# A coarse subject (its ImageNet classes' summed probability) is named from here.
SURE = 0.6
# A fine ImageNet label is named as the detail of its sure subject from here ("a cat (tabby)").
DETAIL = 0.4
# A fine label that belongs to no subject is named on its own from here: with no subject to fall
# back on, it needs to be surer.
ALONE = 0.8
# A place (beach, snow, a desk, home, the street) next to a subject that leads is named from here.
SETTING = 0.3
# What people are doing (an activity's gear: a racket, a ballplayer) is named beside them from here.
ACTIVITY = 0.2
# A subject the people model also sees (its class covers SEEN_SHARE of the frame) is sure from here.
SEEN_FROM = 0.2
# With nothing sure, a subject this likely is offered as what the photo might be (swept on coco128 with
# the int8 model: docs/benchmarks.md).
MAYBE = 0.23
# One person covering this share of the frame is a portrait.
PORTRAIT = 0.2
# The catalogue keys of what the people model saw (`people_phrase`).
PEOPLE_KEYS = frozenset({"portrait", "person", "group"})
# Subjects that describe a person rather than stand beside one.
WORN = {"clothes", "hat", "sunglasses", "jewellery", "bag"}
MAX_NAMED = 3
MAYBE_NAMED = 1
# The people model's PASCAL VOC classes, as the subjects they are evidence for.
VOC_SUBJECTS = {
    "aeroplane": "aircraft",
    "bicycle": "bicycle",
    "bird": "bird",
    "boat": "boat",
    "bottle": "drink",
    "bus": "bus",
    "car": "car",
    "cat": "cat",
    "chair": "furniture",
    "cow": "farm animal",
    "diningtable": "food",
    "dog": "dog",
    "horse": "horse",
    "motorbike": "motorbike",
    "pottedplant": "plant",
    "sheep": "farm animal",
    "sofa": "home",
    "train": "train",
    "tvmonitor": "electronics",
}


@dataclass(frozen=True)
class Named:
    """One thing an answer names; `key` finds its tags in the catalogue.

    `source` is "trained" or "taught" (a class claimed the photo), "people",
    "subject" (a coarse ImageNet subject), "label" (a fine ImageNet label
    that belongs to no subject) or "maybe" (a subject offered when nothing
    is sure). A place has its `setting` phrase ("at the beach"), an activity
    what people are `doing` ("playing tennis").
    """

    key: str
    phrase: str
    score: float
    source: str
    detail: str = ""
    tags: tuple[str, ...] = ()
    setting: str = ""
    doing: str = ""


@dataclass(frozen=True)
class Scene:
    named: tuple[Named, ...]
    blank: bool = False
    several: bool = False  # the photos of one post (`merge`)

    @property
    def sure(self) -> bool:
        return bool(self.named)

    @property
    def tentative(self) -> bool:
        """Whether the answer only offers what the photo might be."""
        return bool(self.named) and all(n.source == "maybe" for n in self.named)

    @property
    def line(self) -> str:
        """'a cat (tabby)', 'people playing tennis at the beach', 'maybe a car or a street', or 'not sure'."""
        if self.blank:
            return "a blank or single-colour image"
        if not self.named:
            return "not sure what this shows"
        if self.tentative:
            return "maybe " + " or ".join(n.phrase for n in self.named)
        things = [n for n in self.named if not n.setting] or list(self.named[:1])
        people = things[0].source == "people" or things[0].key == "people"
        parts = [things[0].phrase + (f" ({things[0].detail})" if things[0].detail else "")]
        for thing in things[1:]:
            detail = f" ({thing.detail})" if thing.detail else ""
            if thing.doing and people:
                parts[-1] += f" {thing.doing}{detail}"
            elif thing.key in WORN and people:
                parts[-1] += f" wearing {thing.phrase}{detail}"
            else:
                parts.append(thing.phrase + detail)
        # The photos of a post are listed ('daisy, rose and a cat'); one photo's things are together.
        listed = self.several and len(parts) > 1
        words = f"{', '.join(parts[:-1])} and {parts[-1]}" if listed else " with ".join(parts)
        return " ".join([words, *(n.setting for n in self.named if n.setting and n not in things)])


def people_phrase(people: People) -> tuple[str, str]:
    """(catalogue key, phrase) for what the people model saw.

    Blobs of people standing close merge, so two or more blobs are said without a number: on coco128
    two blobs were exactly two people in 2 photos of 10 and more in 7 (docs/benchmarks.md), and
    "2 people" with #duo on a ball game names a pair that is not there.
    """
    if people.count >= 2:
        return "group", "people" if people.count == 2 else "a group of people"
    if people.largest >= PORTRAIT:
        return "portrait", "a portrait"
    return "person", "a person"


def article(name: str) -> str:
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


def subject_scores(prediction: Prediction) -> dict[str, float]:
    """ImageNet's subject probabilities, the one the people model sees most of raised to SURE.

    Only the largest object counts: the people model's small patches often take a cat for a dog.
    """
    scores = {label.name: label.score for label in prediction.subjects}
    objects = prediction.people.objects if prediction.people else ()
    if objects:
        name, share = objects[0]
        key = VOC_SUBJECTS.get(name)
        if key and share >= SEEN_SHARE and scores.get(key, 0.0) >= SEEN_FROM:
            scores[key] = max(scores[key], SURE)
    return scores


def describe(prediction: Prediction, tree: SubjectTree) -> Scene:
    """The subjects to name for this photo, the surest first."""
    if prediction.plain:
        return Scene((), blank=True)
    named: list[Named] = []
    if prediction.claimed:
        best = prediction.custom[0]
        named.append(Named(best.name, best.name, best.score, "taught" if best.index < 0 else "trained", tags=best.tags))
    seen = prediction.people is not None and prediction.people.present
    if seen:
        key, phrase = people_phrase(prediction.people)
        named.append(Named(key, phrase, min(1.0, 0.5 + prediction.people.share), "people"))
    scores = subject_scores(prediction)
    subjects = tree.subjects
    sure = sorted((k for k, p in scores.items() if p >= SURE), key=lambda k: (subjects[k].classes, k))
    top = prediction.imagenet[0] if prediction.imagenet else None
    claimed = prediction.claimed
    people = seen or scores.get("people", 0.0) >= MAYBE
    # People doing something: the activity leads what is said of them, from a lower score.
    activities = sorted((k for k, p in scores.items() if subjects[k].doing and p >= ACTIVITY), key=lambda k: -scores[k])
    if people and activities and not claimed:
        if not seen:
            named.append(Named("people", "people", scores["people"], "subject"))
        # Named as what the people do, it is as sure as they are: its tags weigh as theirs.
        activity = subjects[activities[0]]
        named.append(Named(activity.key, activity.phrase, named[-1].score, "subject", doing=activity.doing))
    # The activity already says what its gear is: a racket is not named again as "sports gear".
    doing = {n.key for n in named if n.doing}
    lead = next(
        (subjects[k] for k in sure if not (k == "people" and seen) and not doing & _sharing(k, top, tree)), None
    )
    # A claimed class is the subject: ImageNet's view of it ("flowers" under "daisy") adds only a place.
    if lead and not (claimed and not lead.setting) and lead.key not in {n.key for n in named}:
        # The fine label is a detail when it says more than the subject ("a mushroom (mushroom)" does not).
        fine = top and top.score >= DETAIL and top.name != lead.key and lead.key in tree.class_subjects[top.index]
        detail = top.name if fine else ""
        setting = lead.setting if named else ""
        named.append(Named(lead.key, lead.phrase, scores[lead.key], "subject", detail=detail, setting=setting))
    if not named and top and top.score >= ALONE and not tree.class_subjects[top.index]:
        named.append(Named(top.name, article(top.name), top.score, "label"))
    if named and not any(n.setting for n in named):
        related = set().union(*(tree.lineage(n.key) for n in named if n.key in subjects))
        places = [
            k
            for k, p in scores.items()
            if p >= SETTING and subjects[k].setting and k not in related and not tree.lineage(k) & related
        ]
        for key in sorted(places, key=lambda k: (subjects[k].classes, k))[:1]:
            place = subjects[key]
            named.append(Named(key, place.phrase, scores[key], "subject", setting=place.setting))
    if not named:
        named = maybe(scores, tree)
    return Scene(tuple(named[:MAX_NAMED]))


def _sharing(key: str, top: Label | None, tree: SubjectTree) -> set[str]:
    """The subjects that the top fine label counts for, when it counts for `key` too."""
    keys = set(tree.class_subjects[top.index]) if top else set()
    return keys if key in keys else set()


def maybe(scores: dict[str, float], tree: SubjectTree) -> list[Named]:
    """The likeliest subjects, none above another ("a cat" rather than "an animal"), as what the photo might be."""
    likely = sorted((k for k, p in scores.items() if p >= MAYBE), key=lambda k: (-scores[k], k))
    chosen: list[str] = []
    for key in likely:
        if any(key in tree.lineage(other) for other in chosen):
            continue
        chosen = [other for other in chosen if other not in tree.lineage(key)] + [key]
    chosen = sorted(chosen, key=lambda k: -scores[k])[:MAYBE_NAMED]
    return [Named(k, tree.subjects[k].phrase, scores[k], "maybe") for k in chosen]


def merge(scenes: Sequence[Scene]) -> Scene:
    """One scene for the photos of one post (an album, an Instagram carousel): one set of tags for all.

    What several photos show comes first, then the surest; people count as one subject however many
    there are in each photo, named as most photos show them. A thing is offered as a maybe only when
    no photo is sure of it.
    """
    if len(scenes) == 1:
        return scenes[0]
    found: dict[str, list[Named]] = {}
    for scene in scenes:
        for named in scene.named:
            found.setdefault("people" if named.source == "people" else named.key, []).append(named)
    if not found:
        return Scene((), blank=all(scene.blank for scene in scenes), several=True)

    def chosen(group: list[Named]) -> Named:
        keys = [n.key for n in group]
        best = max(group, key=lambda n: (keys.count(n.key), n.source != "maybe", n.score))
        return replace(best, score=max(n.score for n in group))

    groups = sorted(found.values(), key=lambda group: (-len(group), -max(n.score for n in group)))
    named = [chosen(group) for group in groups]
    # A place leads only when nothing else is named; beside something else it is where that is.
    things = [n for n in named if not n.setting] or named[:1]
    places = [n for n in named if n not in things]
    return Scene(tuple((things + places)[:MAX_NAMED]), several=True)
