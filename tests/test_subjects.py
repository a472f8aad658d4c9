"""The ImageNet → subjects table: how it is generated from WordNet, and that the committed one holds together."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inference import wordnet_subjects
from inference.classifier import load_imagenet_labels
from inference.subjects import SUBJECTS_FILE, SubjectTree

# Four synsets in WordNet's data.noun format: tabby → domestic_cat → feline, and a second parent.
FAKE_DATA_NOUN = """\
  1 This software and database is being provided to you, the LICENSEE, by Princeton University
02123045 05 n 02 tabby 0 tabby_cat 0 001 @ 02121808 n 0000 | a cat with a grey or tawny coat
02121808 05 n 02 domestic_cat 0 house_cat 0 002 @ 02121620 n 0000 @ 01317541 n 0000 | any domesticated cat
02121620 05 n 01 cat 0 000 | feline mammal
01317541 05 n 01 domestic_animal 0 000 | a domesticated animal
"""


def test_wordnet_is_read_with_every_hypernym(tmp_path: Path) -> None:
    (tmp_path / "data.noun").write_text(FAKE_DATA_NOUN)
    synsets = wordnet_subjects.read_wordnet(tmp_path)
    assert synsets[2123045] == (["tabby", "tabby_cat"], [2121808])
    assert wordnet_subjects.ancestors(synsets, 2123045) == {2123045, 2121808, 2121620, 1317541}


def test_the_committed_table_covers_the_1000_classes_specific_subject_first() -> None:
    table = json.loads(SUBJECTS_FILE.read_text())
    names = load_imagenet_labels()
    assert [entry["name"] for entry in table["classes"]] == names
    wnids = [entry["wnid"] for entry in table["classes"]]
    assert wnids == sorted(wnids) and len(set(wnids)) == 1000, "Keras's class order is the ids' sorted order"
    tree = SubjectTree()
    for entry in table["classes"]:
        keys = entry["subjects"]
        assert set(keys) <= set(tree.subjects)
        for i, key in enumerate(keys):
            assert not set(tree.subjects[key].parents) & set(keys[:i]), f"{entry['name']}: a parent before {key}"
    by_name = {entry["name"]: entry["subjects"] for entry in table["classes"]}
    assert by_name["tabby"] == ["cat", "animal"] and by_name["sports car"] == ["car", "vehicle"]
    assert by_name["seashore"][0] == "beach" and "furniture" not in by_name["park bench"]
    # Classes WordNet files elsewhere count for the subject people post them as, which keeps its parents.
    assert by_name["car wheel"] == ["car"] and by_name["muzzle"] == ["dog"] and by_name["comic book"] == ["books"]
    assert "vehicle" in tree.subjects["car"].parents and "animal" in tree.subjects["dog"].parents
    assert by_name["parking meter"] == ["street"], "a parking meter is not a clock"
    assert not by_name["revolver"] and not by_name["crate"], "no subject people post"


@pytest.mark.skipif(
    not (wordnet_subjects.DEFAULT_WORDNET / "data.noun").is_file() or not wordnet_subjects.DEFAULT_SAMPLES.is_dir(),
    reason="regenerating needs Debian's wordnet-base and ../shared/data/imagenet_samples",
)
def test_the_committed_table_is_what_the_script_writes(tmp_path: Path) -> None:
    assert wordnet_subjects.main(["--out", str(tmp_path / "subjects.json")]) == 0
    assert (tmp_path / "subjects.json").read_text() == SUBJECTS_FILE.read_text()
