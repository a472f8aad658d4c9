"""What an answer names: the subjects the bot is sure a photo shows, in the words a person would use.

The answer line and the hashtags both come from this one list, so a tag can
only be for a subject the answer names. In order: the trained or taught
class that claims the photo (inside its region, `inference.open_set`);
people, when the people model sees them; then the most specific coarse
ImageNet subject that is sure, with the fine label as a detail when that is
sure too ("a cat (tabby)"); and a place that is fairly sure ("at the beach").
A class name the model barely believes is never named, and nothing is
better than a wrong subject: "not sure" comes with broad tags only.

Thresholds were set by reading the answers for coco128 and the ImageNet
samples (bench/real_photos.py prints them, with the share of tags that name
something not in the photo).
"""

from __future__ import annotations

from dataclasses import dataclass

from inference.subjects import SubjectTree
from inference.values import People, Prediction

# A coarse subject (its ImageNet classes' summed probability) is named from here.
SURE = 0.6
# A fine ImageNet label is named as the detail of its sure subject from here ("a cat (tabby)").
DETAIL = 0.4
# A fine label that belongs to no subject is named on its own from here: with no subject to fall
# back on, it needs to be surer.
ALONE = 0.5
# A place (beach, mountains, street, landscape) next to a subject that leads is named from here.
SETTING = 0.3
# One person covering this share of the frame is a portrait.
PORTRAIT = 0.2
# Subjects that describe a person rather than stand beside one.
WORN = {"clothes", "hat", "sunglasses", "jewellery", "bag"}
MAX_NAMED = 3


@dataclass(frozen=True)
class Named:
    """One thing an answer names; `key` finds its tags in the catalogue.

    `source` is "trained" or "taught" (a class claimed the photo), "people",
    "subject" (a coarse ImageNet subject) or "label" (a fine ImageNet label
    that belongs to no subject). A place has its `setting` phrase ("at the beach").
    """

    key: str
    phrase: str
    score: float
    source: str
    detail: str = ""
    tags: tuple[str, ...] = ()
    setting: str = ""


@dataclass(frozen=True)
class Scene:
    named: tuple[Named, ...]

    @property
    def sure(self) -> bool:
        return bool(self.named)

    @property
    def line(self) -> str:
        """'a cat (tabby)', '3 people at the beach', 'a portrait wearing clothes (suit)', or a plain 'not sure'."""
        if not self.named:
            return "not sure what this shows"
        things = [n for n in self.named if not n.setting] or list(self.named[:1])
        words = things[0].phrase + (f" ({things[0].detail})" if things[0].detail else "")
        for thing in things[1:]:
            joiner = " wearing " if thing.key in WORN and things[0].source == "people" else " with "
            words += joiner + thing.phrase + (f" ({thing.detail})" if thing.detail else "")
        return " ".join([words, *(n.setting for n in self.named if n.setting and n not in things)])


def people_phrase(people: People) -> tuple[str, str]:
    """(catalogue key, phrase) for what the people model saw; blobs of people standing close count as one."""
    if people.count >= 3:
        return "group", f"{people.count} people" if people.count <= 5 else "a group of people"
    if people.count == 2:
        return "two people", "2 people"
    if people.largest >= PORTRAIT:
        return "portrait", "a portrait"
    return "person", "a person"


def article(name: str) -> str:
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


def describe(prediction: Prediction, tree: SubjectTree) -> Scene:
    """The subjects to name for this photo, the surest first."""
    named: list[Named] = []
    if prediction.confident:
        best = prediction.custom[0]
        named.append(Named(best.name, best.name, best.score, "taught" if best.index < 0 else "trained", tags=best.tags))
    seen = prediction.people is not None and prediction.people.present
    if seen:
        key, phrase = people_phrase(prediction.people)
        named.append(Named(key, phrase, min(1.0, 0.5 + prediction.people.share), "people"))
    scores = {label.name: label.score for label in prediction.subjects}
    sure = sorted((k for k, p in scores.items() if p >= SURE), key=lambda k: (tree.subjects[k].classes, k))
    top = prediction.imagenet[0] if prediction.imagenet else None
    claimed = prediction.confident
    lead = tree.subjects[sure[0]] if sure else None
    # A claimed class is the subject: ImageNet's view of it ("flowers" under "daisy") adds only a place.
    if lead and not (lead.key == "people" and seen) and not (claimed and not lead.setting):
        detail = top.name if top and top.score >= DETAIL and lead.key in tree.class_subjects[top.index] else ""
        setting = lead.setting if named else ""
        named.append(Named(lead.key, lead.phrase, scores[lead.key], "subject", detail=detail, setting=setting))
    if not sure and not claimed and top and top.score >= ALONE and not tree.class_subjects[top.index]:
        named.append(Named(top.name, article(top.name), top.score, "label"))
    if named and not any(n.setting for n in named):
        related = set().union(*(tree.lineage(n.key) for n in named if n.key in tree.subjects))
        places = [
            k
            for k, p in scores.items()
            if p >= SETTING and tree.subjects[k].setting and k not in related and not tree.lineage(k) & related
        ]
        for key in sorted(places, key=lambda k: (tree.subjects[k].classes, k))[:1]:
            place = tree.subjects[key]
            named.append(Named(key, place.phrase, scores[key], "subject", setting=place.setting))
    return Scene(tuple(named[:MAX_NAMED]))
