"""The shipped LiteRT model, served the way the bot serves it."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inference import predict
from inference.classifier import Classifier, load_imagenet_labels
from inference.decode import decode_image, decode_photo
from inference.embedding_stats import ClassStats
from inference.model_folder import DEFAULT_MODEL_DIR
from inference.open_set import CLAIM_SHARE, Regions, calibrate
from inference.people import PeopleDetector, blobs
from inference.subjects import SubjectTree
from tests.support.bot_process import ROOT
from tests.support.photos import FIXTURES
from tests.support.pipelines import without_thresholds

FLOWERS = {path: path.name.split("-")[0] for path in sorted(FIXTURES.glob("*-*.jpg"))}


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(DEFAULT_MODEL_DIR)


def test_fixtures_are_present() -> None:
    assert len(FLOWERS) >= 3


def test_shipped_model_is_small_and_described() -> None:
    assert (DEFAULT_MODEL_DIR / "model.tflite").stat().st_size <= 16 * 1024 * 1024
    assert (DEFAULT_MODEL_DIR / "MODEL_CARD.md").exists()


@pytest.mark.parametrize("path", list(FLOWERS), ids=[p.name for p in FLOWERS])
def test_fixture_photo_gets_its_class(classifier: Classifier, path: Path) -> None:
    prediction = classifier.predict(decode_image(path.read_bytes())[None])[0]
    assert prediction.custom[0].name == FLOWERS[path]
    assert prediction.claimed
    assert len(prediction.imagenet) == 3
    assert prediction.embedding.shape == (1280,)
    assert prediction.model_version == classifier.version


def test_imagenet_labels_follow_keras_order() -> None:
    labels = load_imagenet_labels()
    assert len(labels) == 1000
    assert labels[0] == "tench" and labels[985] == "daisy" and labels[999] == "toilet tissue"


@pytest.mark.parametrize("what", ["portrait", "cat", "motorbikes", "pizza"])
def test_flower_classes_do_not_claim_everyday_photos(classifier: Classifier, everyday_photos, what: str) -> None:
    prediction = classifier.predict(decode_image(everyday_photos[what])[None])[0]
    assert not prediction.claimed, f"{prediction.custom[0].name} claimed the {what} photo"
    assert prediction.region is not None and prediction.region > 1


def test_a_model_without_thresholds_loads_says_so_and_claims_by_softmax(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    image = decode_image(next(iter(FLOWERS)).read_bytes())[None]
    with caplog.at_level(logging.WARNING):
        old = Classifier(without_thresholds(tmp_path / "old"))
    assert not old.open_set and "has no open-set thresholds" in caplog.text
    prediction = old.predict(image)[0]
    assert prediction.claimed and prediction.region is None
    assert not Classifier(without_thresholds(tmp_path / "strict"), confidence=1.01).predict(image)[0].claimed


def test_calibrated_radius_keeps_the_share_of_held_out_photos_it_promises() -> None:
    rng = np.random.default_rng(0)
    examples = {name: rng.normal(size=(60, 3, 16)) + 4 * np.eye(16)[k] for k, name in enumerate("abc")}
    weights = rng.normal(size=(16, 24))
    calibration = calibrate(examples, weights, folds=10)
    assert calibration["held_out_photos"] == 180 and calibration["claim_share"] == CLAIM_SHARE
    stats = ClassStats.from_examples(examples)
    regions = Regions.fit(stats, weights, calibration["radius"])
    fresh = {name: rng.normal(size=(400, 16)) + 4 * np.eye(16)[k] for k, name in enumerate("abc")}
    centres = regions.centres(stats.means)
    kept = [
        (regions.distances(regions.project(photos), centres[k : k + 1])[:, 0] <= regions.radius).mean()
        for k, photos in enumerate(fresh.values())
    ]
    assert 0.9 <= np.mean(kept) <= 0.99, kept
    far = regions.distances(regions.project(rng.normal(size=(200, 16)) + 8 * np.eye(16)[5]), centres)
    assert (far.min(axis=1) > regions.radius).mean() > 0.95, "photos of another kind fall outside every region"


def test_the_imagenet_layer_read_from_the_model_file_reproduces_its_output(classifier: Classifier) -> None:
    weights, bias = classifier.imagenet_layer()
    _, imagenet, embedding = classifier.run(decode_image(next(iter(FLOWERS)).read_bytes())[None])
    logits = embedding @ weights + bias
    probabilities = np.exp(logits - logits.max())
    assert np.abs(probabilities / probabilities.sum() - imagenet).max() < 2e-3


def test_subjects_add_up_their_fine_classes() -> None:
    tree = SubjectTree()
    labels = load_imagenet_labels()
    probabilities = np.zeros((1, 1000), np.float32)
    for name, p in (("beach wagon", 0.35), ("convertible", 0.18), ("racer", 0.11), ("tabby", 0.2)):
        probabilities[0, labels.index(name)] = p
    rolled = dict(zip(tree.keys, tree.rollup(probabilities)[0], strict=True))
    assert rolled["car"] == pytest.approx(0.64) and rolled["vehicle"] == pytest.approx(0.64)
    assert rolled["cat"] == pytest.approx(0.2) and rolled["animal"] == pytest.approx(0.2)
    assert tree.lineage("cat") == {"cat", "animal"}
    assert all(tree.class_subjects[labels.index(d)][0] == "dog" for d in ("pug", "golden retriever", "Chihuahua"))


def test_people_are_seen_in_a_portrait_and_not_in_a_cat_photo(everyday_photos) -> None:
    detector = PeopleDetector()
    _, portrait = decode_photo(everyday_photos["portrait"], whole_side=detector.side)
    _, cat = decode_photo(everyday_photos["cat"], whole_side=detector.side)
    seen = detector.detect(portrait)
    assert seen.present and seen.count == 1 and seen.largest >= 0.2
    assert not detector.detect(cat).present
    assert blobs(np.array([[1, 1, 0, 0], [0, 0, 0, 1], [1, 0, 0, 1]], bool)) == [2, 2, 1]


async def test_fifty_concurrent_calls_are_answered_correctly_in_batches(classifier: Classifier) -> None:
    photos = list(FLOWERS.items())
    images = [decode_image(path.read_bytes()) for path, _ in photos]
    expected = [classifier.predict(image[None])[0].custom[0] for image in images]
    served = Classifier(DEFAULT_MODEL_DIR, max_batch=8)
    try:
        results = await asyncio.gather(*(served.classify(images[i % len(images)]) for i in range(50)))
    finally:
        await served.aclose()
    for i, result in enumerate(results):
        best = result.custom[0]
        assert best.name == expected[i % len(images)].name
        assert best.score == pytest.approx(expected[i % len(images)].score, abs=1e-4)
    assert served.batches_run < 50, "concurrent requests should share batches"


async def test_event_loop_keeps_running_during_inference(classifier: Classifier) -> None:
    """While photos are classified, other coroutines (other users) still get turns."""
    image = decode_image(next(iter(FLOWERS)).read_bytes())
    served = Classifier(DEFAULT_MODEL_DIR, max_batch=1)
    turns = 0
    done = asyncio.Event()

    async def other_user() -> None:
        nonlocal turns
        while not done.is_set():
            turns += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(other_user())
    try:
        await asyncio.gather(*(served.classify(image) for _ in range(5)))
    finally:
        done.set()
        await ticker
        await served.aclose()
    assert turns > 5


async def test_a_failing_batch_fails_its_callers_and_the_next_call_works(classifier: Classifier) -> None:
    served = Classifier(DEFAULT_MODEL_DIR)
    good = decode_image(next(iter(FLOWERS)).read_bytes())
    try:
        with pytest.raises(ValueError):
            await served.classify(np.zeros((10, 10, 3), np.uint8))
        assert (await served.classify(good)).custom
    finally:
        await served.aclose()


def test_predict_cli_prints_labels(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path, name = next(iter(FLOWERS.items()))
    bad = tmp_path / "notes.txt"
    bad.write_text("not a photo")
    assert predict.main([str(path), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"classes:  {name}" in out and "inside its region" in out
    assert "imagenet:" in out and "subjects:" in out and f"answer:   {name}" in out
    assert "notes.txt: That file is not an image" in out


def loaded_runtimes(code: str) -> list[str]:
    """The model runtimes (LiteRT, TensorFlow, Keras) a fresh interpreter has loaded after running `code`."""
    runtimes = "{'ai_edge_litert', 'tensorflow', 'keras'}"
    report = f"; import sys, json; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {runtimes})))"
    out = subprocess.run(
        [sys.executable, "-c", code + report],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout)


def test_serving_never_imports_tensorflow() -> None:
    code = "import numpy as np; from inference.classifier import Classifier as C; C().run(np.zeros((1, 224, 224, 3)))"
    assert loaded_runtimes(code) == ["ai_edge_litert"]


def test_storage_trends_and_config_load_without_the_model_runtime() -> None:
    code = (
        "import bot.config, bot.render, storage.taught, storage.request_log, trends.cache, trends.refresher, "
        "inference.scene, inference.values"
    )
    assert loaded_runtimes(code) == []
