"""Train → export → serve on a tiny synthetic set with a random backbone (no ../shared needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inference import class_stats, evaluate, train
from inference.classifier import Classifier
from inference.dataset import load_photo_set
from inference.embedding_stats import ClassStats
from inference.export import converted, export_model
from inference.few_shot import load_taught, save_taught
from inference.model_folder import KERAS_FILE, REGIONS_FILE, STATS_FILE, TAUGHT_FILE
from inference.report import score
from inference.values import TaughtClass

COLOURS = {"red": (200, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 200)}


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    for name, colour in COLOURS.items():
        (root / name).mkdir()
        for i in range(5):
            noise = rng.normal(0, 25, (48, 64, 3))
            Image.fromarray(np.clip(noise + colour, 0, 255).astype(np.uint8)).save(root / name / f"{i}.png")
    (root / "red" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return root


@pytest.fixture(scope="module")
def trained(tiny_set: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model")
    taught = tmp_path_factory.mktemp("taught") / "taught.npz"
    examples = np.random.default_rng(0).normal(size=(5, 12, 1280)).astype(np.float32)
    save_taught(taught, [TaughtClass("blue ceramic mug", examples, ("mug",))])
    code = train.main(
        [
            "--taught",
            str(taught),
            "--data",
            str(tiny_set),
            "--out",
            str(out),
            "--random-weights",
            "--epochs",
            "2",
            "--fine-tune",
            "2",
            "--fine-tune-epochs",
            "1",
            "--batch-size",
            "8",
            "--seed",
            "3",
            "--precision",
            "fp32",
        ]
    )
    assert code == 0
    return out


def test_training_writes_every_artefact(trained: Path) -> None:
    for name in (
        "model.keras",
        "model.tflite",
        "labels.json",
        "metrics.json",
        "confusion.png",
        "training.png",
        "MODEL_CARD.md",
    ):
        assert (trained / name).stat().st_size > 0, name
    labels = json.loads((trained / "labels.json").read_text())
    assert labels["classes"] == ["blue", "green", "red"]
    assert labels["outputs"] == ["custom", "imagenet", "embedding"]
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["train_count"] + metrics["validation"]["count"] == 15
    assert metrics["weights_sha256"] == "random"
    assert metrics["epochs_run"] == 3
    card = (trained / "MODEL_CARD.md").read_text()
    assert "blue, green, red" in card and "python -m inference.train" in card
    assert metrics["open_set"] == json.loads((trained / REGIONS_FILE).read_text())
    assert f"within {metrics['open_set']['radius']} of its mean" in card
    assert "Taught classes folded in (recognised from their stored examples): blue ceramic mug" in card


def test_class_statistics_and_taught_classes_ship_with_the_model(trained: Path) -> None:
    stats = ClassStats.load(trained / STATS_FILE)
    metrics = json.loads((trained / "metrics.json").read_text())
    assert stats.names == ("blue", "green", "red")
    assert stats.photos.sum() == metrics["train_count"] and stats.rows == 12 * metrics["train_count"]
    assert stats.means.shape == (3, 1280) and np.isfinite(stats.scatter).all()
    (folded,) = load_taught(trained / TAUGHT_FILE)
    assert folded.name == "blue ceramic mug" and folded.examples.shape == (5, 12, 1280) and folded.tags == ("mug",)


def test_keras_and_litert_outputs_agree(trained: Path, tiny_set: Path) -> None:
    import keras

    import inference.model  # noqa: F401 - registers the preprocessing layer

    photos = load_photo_set(tiny_set)
    keras_out = keras.saving.load_model(trained / "model.keras").predict(photos.images.astype("float32"), verbose=0)
    litert_out = Classifier(trained).run(photos.images)
    for name, k, t in zip(("custom", "imagenet", "embedding"), keras_out, litert_out, strict=True):
        assert k.shape == t.shape, name
        assert np.std(k) > 0 or name == "custom", f"{name} output is constant: the comparison would be empty"
        scale = max(float(np.abs(k).max()), 1e-6)
        assert np.abs(k - t).max() / scale < 0.02, name


def test_an_int8_export_serves_like_its_keras_model(trained: Path, tiny_set: Path, tmp_path: Path) -> None:
    import keras

    import inference.model  # noqa: F401 - registers the preprocessing layer

    photos = load_photo_set(tiny_set)
    server = keras.saving.load_model(trained / "model.keras")
    metrics = json.loads((trained / "metrics.json").read_text())
    export_model(
        server, json.loads((trained / "labels.json").read_text())["classes"], metrics, tmp_path, "int8", [photos.images]
    )
    assert json.loads((tmp_path / "metrics.json").read_text())["precision"] == "int8"
    assert "Stored as: int8 weights and activations" in (tmp_path / "MODEL_CARD.md").read_text()
    assert (tmp_path / "model.tflite").stat().st_size < (trained / "model.tflite").stat().st_size / 3
    served = Classifier(tmp_path)
    custom, imagenet, _ = served.run(photos.images)
    assert np.allclose(custom.sum(axis=1), 1, atol=1e-4) and np.allclose(imagenet.sum(axis=1), 1, atol=1e-4)
    # A random backbone's embeddings vanish (1e-11), so only the trained head's answers can be compared.
    keras_custom = server.predict(photos.images.astype("float32"), verbose=0)[0]
    assert (custom.argmax(axis=1) == keras_custom.argmax(axis=1)).mean() >= 0.9
    weights, bias = served.imagenet_layer()
    assert weights.dtype == bias.dtype == np.float32 and weights.shape == (1280, 1000)


def test_training_leaves_what_imagenet_sees_as_it_was(trained: Path) -> None:
    """The fine-tuned blocks are a copy feeding only the custom head: the backbone that gives the ImageNet
    probabilities and the embedding keeps every weight it had before training, while the copy moved (the
    same random backbone, rebuilt from the training run's seed: a random backbone's outputs are too
    flat to compare, so its weights are)."""
    import keras

    from inference.model import BACKBONES, build_model

    keras.utils.set_random_seed(3)
    before = build_model(len(COLOURS), BACKBONES["mobilenetv2"], None, 2, 0.5, 3)
    after = keras.saving.load_model(trained / KERAS_FILE)
    for part in (before.lower, before.upper):
        kept = [w.numpy() for w in part.weights]
        now = [w.numpy() for w in after.get_layer(part.name).weights]
        assert len(kept) == len(now) and all(np.array_equal(a, b) for a, b in zip(kept, now, strict=True)), part.name
    tuned_before = [w.numpy() for w in before.tuned.trainable_weights]
    tuned_after = [w.numpy() for w in after.get_layer(before.tuned.name).trainable_weights]
    assert any(not np.array_equal(a, b) for a, b in zip(tuned_before, tuned_after, strict=True)), "the copy trained"


def test_an_export_precision_is_one_of_three(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs the training views"):
        converted(tmp_path, "int8")
    with pytest.raises(ValueError, match="int8, fp16, fp32"):
        converted(tmp_path, "int4")


def test_split_is_stratified_and_reproducible() -> None:
    labels = np.array([0] * 10 + [1] * 5)
    train_a, val_a = train.stratified_split(labels, 0.2, seed=1)
    train_b, val_b = train.stratified_split(labels, 0.2, seed=1)
    assert np.array_equal(val_a, val_b) and np.array_equal(train_a, train_b)
    assert sorted(labels[val_a].tolist()) == [0, 0, 1]
    assert set(train_a).isdisjoint(val_a) and len(train_a) + len(val_a) == 15


def test_folds_spread_every_class_evenly() -> None:
    labels = np.array([0] * 10 + [1] * 6)
    fold_of = train.folds(labels, 3, seed=1)
    assert np.array_equal(fold_of, train.folds(labels, 3, seed=1))
    for label in (0, 1):
        counts = np.bincount(fold_of[labels == label], minlength=3)
        assert counts.max() - counts.min() <= 1


def test_cross_validation_scores_each_fold_and_says_how_long_is_left(
    tiny_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cv"
    arguments = ["--data", str(tiny_set), "--out", str(out), "--random-weights", "--folds", "3", "--epochs", "2"]
    code = train.main([*arguments, "--fine-tune", "2", "--fine-tune-epochs", "2", "--batch-size", "8", "--views", "2"])
    assert code == 0
    result = json.loads((out / "cross_validation.json").read_text())
    assert len(result["folds"]) == 3 and all(0.0 <= a <= 1.0 for a in result["folds"])
    assert result["accuracy"] == pytest.approx(np.mean(result["folds"]), abs=0.05)  # folds of 5 and 4 photos
    assert set(result["recall"]) == set(COLOURS) and sum(map(sum, result["confusion"])) == 15
    assert not (out / "model.tflite").exists(), "cross-validation exports nothing"
    printed = capsys.readouterr().out
    assert "fold 1/3 · head epoch 1/2" in printed and "fold 3/3 · fine-tuning epoch 2/2" in printed
    assert re.search(r"fold 1/3 · head epoch 1/2 .*about \d+ s left before fine-tuning \(timed on its first", printed)
    assert re.search(r"fold 1/3 · fine-tuning epoch 1/2 .*about \d+ (min \d+ )?s left", printed)
    assert re.search(r"fold 3/3 · fine-tuning epoch 2/2 .*about 0 s left", printed)


def test_training_on_chosen_classes_and_a_class_that_is_not_there(
    tiny_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["--data", str(tiny_set), "--random-weights", "--epochs", "1", "--batch-size", "8"]
    assert train.main([*arguments, "--out", str(tmp_path / "two"), "--classes", "red,blue", "--folds", "2"]) == 0
    assert json.loads((tmp_path / "two" / "cross_validation.json").read_text())["classes"] == ["blue", "red"]
    assert train.main([*arguments, "--out", str(tmp_path / "x"), "--classes", "red,purple"]) == 2
    error = capsys.readouterr().err
    assert "--classes names no folder" in error and "purple" in error


def test_missing_backbone_weights_are_reported_not_trained_from_scratch(
    tiny_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = train.main(["--data", str(tiny_set), "--out", str(tmp_path / "out"), "--backbone", "resnet50"])
    assert code == 2
    assert "resnet50 is unavailable" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_unreadable_training_photos_are_skipped_and_named(tiny_set: Path) -> None:
    photos = load_photo_set(tiny_set)
    assert len(photos.images) == 15
    assert [p.name for p, _ in photos.skipped] == ["broken.jpg"]


def test_an_older_model_gets_its_thresholds_from_its_training_photos(
    trained: Path, tiny_set: Path, tmp_path: Path
) -> None:
    older = tmp_path / "older"
    older.mkdir()
    for path in trained.iterdir():
        if path.name not in (REGIONS_FILE, STATS_FILE):
            (older / path.name).write_bytes(path.read_bytes())
    assert not Classifier(older).open_set
    assert class_stats.main(["--data", str(tiny_set), "--model", str(older)]) == 0
    assert Classifier(older).open_set and (older / STATS_FILE).is_file()
    assert "## Open set" in (older / "MODEL_CARD.md").read_text()


def test_evaluate_reports_open_set_figures_with_an_unknown_set(
    trained: Path, tiny_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unknown = tmp_path / "unknown"
    unknown.mkdir()
    rng = np.random.default_rng(1)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(unknown / f"noise{i}.png")
    (unknown / "skipped.png").write_bytes((unknown / "noise0.png").read_bytes())
    args = ["--model", str(trained), "--data", str(tiny_set), "--tflite-only", "--unknown", str(unknown)]
    assert evaluate.main([*args, "--exclude", "skipped.png", "--card", "--compare", str(trained)]) == 0
    out = capsys.readouterr().out
    assert "of 15 photos claimed by their own class" in out and "of 4 unknown photos" in out and "(1 left out)" in out
    card = (trained / "MODEL_CARD.md").read_text()
    assert "## Open set on" in card
    side_by_side = re.search(r"\| accuracy \| ([\d.]+%) \| ([\d.]+%) \|", card)
    assert side_by_side and side_by_side[1] == side_by_side[2]
    assert f"| {trained} (fp32) | {trained} (fp32) |" in card


def test_the_card_sets_models_trained_on_fewer_classes_beside_the_paper(tmp_path: Path) -> None:
    for name, truth, predicted in (("a-b-c", [0, 1, 2, 2], [0, 1, 2, 1]), ("a-b-d", [0, 1, 2, 2], [0, 1, 2, 2])):
        classes = name.split("-")
        scores = score(np.array(truth), np.array(predicted), classes)
        (tmp_path / name).mkdir()
        (tmp_path / name / "dev.json").write_text(json.dumps({"litert": scores.as_dict()}))
    table = evaluate.subset_table(tmp_path)
    assert table[2:] == [
        "| a, b, c | 75.0% | c 50.0% |",
        "| a, b, d | 100.0% | a 100.0% |",
        "| **mean of 2** | **87.5%** | |",
        "| the paper, MobileNetV2 on its own 3 classes | 96.25% | |",
    ]
    with pytest.raises(FileNotFoundError, match="--json"):
        evaluate.subset_table(tmp_path / "a-b-c")
