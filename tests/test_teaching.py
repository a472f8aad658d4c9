"""Teaching new classes: the few-shot head, its storage, and the shared teaching logic behind every platform."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.pipeline import Pipeline
from bot.teaching import GLOBAL, Teaching, TeachingError, parse_learn
from inference.classifier import Classifier
from inference.decode import decode_image, decode_views
from inference.embedding_stats import ClassStats
from inference.few_shot import fit_head, load_taught, pool_views, save_taught
from inference.model_folder import DEFAULT_MODEL_DIR
from inference.open_set import Regions, calibrate
from inference.values import TaughtClass
from storage import taught
from storage.database import open_database
from tests.support.photos import tablecloth
from trends.catalogue import Catalogue

LABEL = parse_learn("checked tablecloth #picnic #gingham")


async def teach(pipeline: Pipeline, scope: str = GLOBAL, photos: int = 5, command=LABEL) -> int:
    await pipeline.teaching.start(scope, command, "42")
    count = 0
    for seed in range(photos):
        count = await pipeline.teaching.add(scope, command.name, tablecloth(seed), "42")
    return count


def test_parse_learn_splits_label_and_tags() -> None:
    assert parse_learn("Blue Ceramic Mug #Mug #ceramics #mug") == parse_learn("blue ceramic mug #mug #ceramics")
    assert parse_learn("blue ceramic mug #Mug #ceramics").tags == ("mug", "ceramics")
    for bad, why in [("", "Name the label"), ("#onlytags", "Name the label"), ("mug #no-dash", "Not a valid")]:
        with pytest.raises(TeachingError, match=why):
            parse_learn(bad)


def test_views_start_with_the_served_view() -> None:
    photo = tablecloth(0)
    views = decode_views(photo)
    assert views.shape == (12, 224, 224, 3)
    assert np.array_equal(views[0], decode_image(photo))
    assert np.array_equal(views[1], views[0][:, ::-1])
    assert np.array_equal(decode_views(photo, mirrored=False), views[::2])


def test_stats_add_up_to_one_fit_over_all_examples() -> None:
    rng = np.random.default_rng(0)
    examples = {name: rng.normal(size=(6, 3, 8)) + 3 * i for i, name in enumerate("abc")}
    whole = ClassStats.from_examples(examples)
    parts = ClassStats.from_examples({"a": examples["a"]}) + ClassStats.from_examples({k: examples[k] for k in "bc"})
    assert whole.names == parts.names and whole.rows == parts.rows == 54
    assert np.allclose(whole.scatter, parts.scatter) and np.allclose(whole.means, parts.means)


def test_head_prefers_the_nearest_class_and_rejects_far_photos() -> None:
    rng = np.random.default_rng(1)
    axes = 6 * np.eye(16)

    def around(axis: int, photos: int) -> np.ndarray:
        return rng.normal(size=(photos, 2, 16)) + axes[axis]

    examples = {"a": around(0, 20), "b": around(1, 20)}
    trained = ClassStats.from_examples(examples)
    regions = Regions.fit(trained, np.eye(16), calibrate(examples, np.eye(16), folds=5)["radius"])
    taught_class = TaughtClass("c", around(2, 5), ("c_tag",))
    head = fit_head(trained, [taught_class, TaughtClass("too few", around(3, 2))], regions)
    assert head.names == ("a", "b", "c"), "a class under MIN_EXAMPLES is not used yet"
    assert head.match(axes[2])[0] is taught_class
    assert head.match(axes[0]) is None, "nearest to a trained class: the trained head answers"
    assert head.match(axes[5]) is None, "far from everything: outside the taught class's region too"
    assert head.in_question(axes[2])
    views = np.stack([axes[0] + 0.9 * axes[2], axes[2] + 0.2 * axes[0]])
    assert head.in_question(views[0]), "nearest a trained class, taught class runner-up"
    assert head.match(views[0]) is None and head.match(pool_views(views))[0] is taught_class


def test_taught_file_round_trip(tmp_path: Path) -> None:
    classes = [TaughtClass("mug", np.ones((5, 12, 4), np.float32), ("mug", "ceramics"))]
    save_taught(tmp_path / "taught.npz", classes)
    (loaded,) = load_taught(tmp_path / "taught.npz")
    assert loaded.name == "mug" and loaded.tags == ("mug", "ceramics") and (loaded.examples == 1).all()
    assert load_taught(tmp_path / "missing.npz") == []


async def test_taught_label_wins_on_its_photos_and_nowhere_else(pipeline: Pipeline, flower_photos) -> None:
    assert await teach(pipeline) == 5
    answer = await pipeline.answer(tablecloth(100), "test", "1", "1")
    assert answer.prediction.custom[0].name == "checked tablecloth"
    assert {"picnic", "gingham"} <= {t.tag for t in answer.tags.tags}
    for name, data in flower_photos.items():
        assert (await pipeline.answer(data, "test", "1", "1")).prediction.custom[0].name == name
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    noise.save(buffer, "JPEG")
    assert (await pipeline.answer(buffer.getvalue(), "test", "1", "1")).prediction.custom[0].name != LABEL.name


async def test_a_label_is_used_only_from_five_photos(pipeline: Pipeline) -> None:
    await teach(pipeline, photos=4)
    assert (await pipeline.teaching.review(GLOBAL, LABEL.name))[1][0].startswith("“checked tablecloth” needs")
    assert (await pipeline.answer(tablecloth(100), "test", "1", "1")).prediction.custom[0].name != LABEL.name


async def test_server_labels_stay_in_their_server(pipeline: Pipeline) -> None:
    await teach(pipeline, scope="discord:1")
    in_server = await pipeline.answer(tablecloth(100), "test", "1", "1", taught_scope="discord:1")
    elsewhere = await pipeline.answer(tablecloth(100), "test", "1", "1", taught_scope="discord:2")
    assert in_server.prediction.custom[0].name == LABEL.name
    assert elsewhere.prediction.custom[0].name != LABEL.name
    assert "checked tablecloth: 5 photos" in await pipeline.teaching.describe("discord:1")
    assert "checked tablecloth" not in await pipeline.teaching.describe(GLOBAL)


async def test_only_photos_a_taught_class_might_claim_cost_more_views(pipeline: Pipeline, flower_photos) -> None:
    await teach(pipeline, scope="discord:1")
    runs = pipeline.classifier.images_run
    await pipeline.answer(tablecloth(100), "test", "1", "1", taught_scope="discord:2")
    assert pipeline.classifier.images_run == runs + 1, "no taught class here: one view"
    for data in flower_photos.values():
        await pipeline.answer(data, "test", "1", "1", taught_scope="discord:1")
    assert pipeline.classifier.images_run == runs + 1 + len(flower_photos), "nothing like the taught class"
    runs = pipeline.classifier.images_run
    answer = await pipeline.answer(tablecloth(100), "test", "1", "1", taught_scope="discord:1")
    assert answer.prediction.custom[0].name == LABEL.name
    assert pipeline.classifier.images_run == runs + 1 + 6, "in question: judged on 6 views"


async def test_examples_survive_a_restart_and_forget_removes_them(tmp_path: Path) -> None:
    classifier = Classifier(DEFAULT_MODEL_DIR)
    try:
        db = await open_database(tmp_path / "bot.sqlite3")
        pipeline = Pipeline(classifier, db, None)
        await teach(pipeline)
        await db.close()
        db = await open_database(tmp_path / "bot.sqlite3")
        restarted = Teaching(db, classifier)
        await restarted.load()
        photo = tablecloth(100)
        probe = await classifier.classify(decode_image(photo))
        assert (await restarted.apply(probe, GLOBAL, photo)).custom[0].name == LABEL.name
        assert [
            tuple(row) for row in await db.execute_fetchall("SELECT length(embedding), views FROM taught_examples")
        ] == [(12 * 1280 * 2, 12)] * 5, "float16, no photo"
        assert await restarted.forget(GLOBAL, LABEL.name)
        assert (await restarted.apply(probe, GLOBAL, photo)).custom[0].name != LABEL.name
        assert not await restarted.forget(GLOBAL, LABEL.name)
        assert (await db.execute_fetchall("SELECT count(*) FROM taught_examples"))[0][0] == 0
        await db.close()
    finally:
        await classifier.aclose()


async def test_labels_taught_in_one_process_reach_the_others(database: Path | str) -> None:
    """Two processes on one database (here two handles): what one teaches or forgets, the other's next
    `sync` (every TAUGHT_SYNC_SECONDS in the bot) picks up; with nothing changed, it does no work."""
    classifier = Classifier(DEFAULT_MODEL_DIR)
    here, there = await open_database(database), await open_database(database)
    try:
        teacher = Pipeline(classifier, here, Catalogue())
        other = Teaching(there, classifier)
        await other.load()
        await teacher.teaching.load()
        assert not await other.sync()
        await teach(teacher)
        photo = tablecloth(100)
        probe = await classifier.classify(decode_image(photo))
        assert (await other.apply(probe, GLOBAL, photo)).custom[0].name != LABEL.name, "not before it looks"
        assert await other.sync()
        assert (await other.apply(probe, GLOBAL, photo)).custom[0].name == LABEL.name
        assert not await other.sync()
        assert await teacher.teaching.forget(GLOBAL, LABEL.name)
        assert await other.sync()
        assert (await other.apply(probe, GLOBAL, photo)).custom[0].name != LABEL.name
    finally:
        await here.close()
        await there.close()
        await classifier.aclose()


async def test_bad_photo_is_rejected_and_nothing_is_lost(pipeline: Pipeline) -> None:
    from inference.decode import ImageRejected

    await teach(pipeline, photos=3)
    with pytest.raises(ImageRejected):
        await pipeline.teaching.add(GLOBAL, LABEL.name, b"not a photo at all", "42")
    assert await taught.example_count(pipeline.db, GLOBAL, LABEL.name) == 3


async def test_warnings_for_a_trained_name_and_for_look_alikes(pipeline: Pipeline, flower_photos) -> None:
    warnings = await pipeline.teaching.start(GLOBAL, parse_learn("rose"), "42")
    assert "one of the model's own classes" in warnings[0]
    yellow = parse_learn("yellow flower")
    await pipeline.teaching.start(GLOBAL, yellow, "42")
    photo = Image.open(io.BytesIO(flower_photos["dandelion"]))
    for k in range(5):
        crop = photo.crop((k * 4, k * 3, photo.width - k * 5, photo.height - k * 2))
        buffer = io.BytesIO()
        (crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if k % 2 else crop).save(buffer, "JPEG")
        await pipeline.teaching.add(GLOBAL, yellow.name, buffer.getvalue(), "42")
    count, advice = await pipeline.teaching.review(GLOBAL, yellow.name)
    assert count == 5 and "already look like “dandelion”" in advice[0]
    assert (await pipeline.teaching.review(GLOBAL, "rose"))[0] == 0


async def test_at_most_thirty_examples_per_label(pipeline: Pipeline) -> None:
    await pipeline.teaching.start(GLOBAL, LABEL, "42")
    embeddings = np.zeros((12, 1280), np.float32)
    for _ in range(30):
        await taught.add_example(pipeline.db, GLOBAL, LABEL.name, "mobilenetv2", embeddings, "42")
    with pytest.raises(TeachingError, match="already has 30"):
        await pipeline.teaching.add(GLOBAL, LABEL.name, tablecloth(0), "42")


async def test_a_server_label_named_like_a_global_one_is_its_own(pipeline: Pipeline) -> None:
    await teach(pipeline)
    warnings = await pipeline.teaching.start("discord:1", LABEL, "7")
    assert "already taught “checked tablecloth” for everyone" in warnings[0]
    assert (await pipeline.teaching.review("discord:1", LABEL.name))[0] == 0
    assert (await pipeline.teaching.review(GLOBAL, LABEL.name))[0] == 5


async def test_a_model_without_class_statistics_answers_but_cannot_learn(tmp_path: Path, flower_photos) -> None:
    for name in ("model.tflite", "labels.json"):
        (tmp_path / name).symlink_to(DEFAULT_MODEL_DIR / name)
    classifier = Classifier(tmp_path)
    db = await open_database(":memory:")
    try:
        pipeline = Pipeline(classifier, db, Catalogue())
        await pipeline.teaching.load()
        assert not pipeline.teaching.available
        name, photo = next(iter(flower_photos.items()))
        assert (await pipeline.answer(photo, "test", "1", "1")).prediction.custom[0].name == name
        for attempt in (pipeline.teaching.start(GLOBAL, LABEL, "42"), pipeline.teaching.review(GLOBAL, LABEL.name)):
            with pytest.raises(TeachingError, match="without class statistics"):
                await attempt
        assert "No taught classes yet." in await pipeline.teaching.describe(GLOBAL)
    finally:
        await classifier.aclose()
        await db.close()
