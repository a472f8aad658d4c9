"""Coarse subjects from ImageNet's 1000 fine classes, read from the generated `subjects.json`.

A subject's probability is the sum of its classes' (WordNet hyponyms):
"beach wagon" 35 %, "convertible" 18 % and "racer" 11 % make a car 64 %.
`python -m inference.wordnet_subjects` writes the table; nothing reads
WordNet at run time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SUBJECTS_FILE = Path(__file__).with_name("subjects.json")


@dataclass(frozen=True)
class Subject:
    """A coarse subject: how an answer names it, its parent subjects, and how it follows people.

    A place has its `setting` ("at the beach"), an activity what people are `doing` ("playing tennis").
    """

    key: str
    phrase: str
    parents: tuple[str, ...]
    setting: str
    classes: int
    doing: str = ""


class SubjectTree:
    """The subjects and which ImageNet classes add up to each."""

    def __init__(self, path: Path = SUBJECTS_FILE) -> None:
        table = json.loads(path.read_text())
        self.keys: list[str] = list(table["subjects"])
        index = {key: i for i, key in enumerate(self.keys)}
        self.class_subjects: list[tuple[str, ...]] = [tuple(entry["subjects"]) for entry in table["classes"]]
        self.membership = np.zeros((len(self.class_subjects), len(self.keys)), dtype=np.float32)
        for k, keys in enumerate(self.class_subjects):
            self.membership[k, [index[key] for key in keys]] = 1.0
        sizes = self.membership.sum(axis=0)
        self.subjects = {
            key: Subject(
                key, entry["phrase"], tuple(entry["parents"]), entry["setting"], int(sizes[index[key]]), entry["doing"]
            )
            for key, entry in table["subjects"].items()
        }

    def rollup(self, probabilities: np.ndarray) -> np.ndarray:
        """N×1000 ImageNet probabilities → N×subjects probabilities, in `keys` order."""
        return probabilities @ self.membership

    def lineage(self, key: str) -> set[str]:
        """The subject and every subject above it (a cat is an animal)."""
        seen, todo = {key}, [key]
        while todo:
            for parent in self.subjects[todo.pop()].parents:
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return seen
