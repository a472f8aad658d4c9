"""The shipped LiteRT model, served the way the bot serves it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inference import predict
from inference.classifier import DEFAULT_MODEL_DIR, Classifier, load_imagenet_labels
from inference.decode import decode_image

FIXTURES = Path(__file__).parent / "fixtures"
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
    assert prediction.confident
    assert len(prediction.imagenet) == 3
    assert prediction.embedding.shape == (1280,)
    assert prediction.model_version == classifier.version


def test_imagenet_labels_follow_keras_order() -> None:
    labels = load_imagenet_labels()
    assert len(labels) == 1000
    assert labels[0] == "tench" and labels[985] == "daisy" and labels[999] == "toilet tissue"


def test_unsure_custom_head_is_reported_as_not_confident(classifier: Classifier) -> None:
    image = decode_image(next(iter(FLOWERS)).read_bytes())[None]
    strict = Classifier(DEFAULT_MODEL_DIR, confidence=1.01)
    assert classifier.predict(image)[0].confident
    assert not strict.predict(image)[0].confident


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
    assert f"classes:  {name}" in out
    assert "imagenet:" in out
    assert "notes.txt: That file is not an image" in out


def test_serving_never_imports_tensorflow() -> None:
    code = (
        "import sys, numpy as np; from inference.classifier import Classifier; "
        "Classifier().run(np.zeros((1, 224, 224, 3), np.uint8)); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent
    )
    assert out.stdout.strip() == "[]"
