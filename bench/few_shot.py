"""Few-shot benchmark: how well a class taught from 10 or 30 photos is recognised, and what it costs.

    .venv/bin/python -m bench.few_shot [--shots 10 30] [--draws 3]

For each flower class in turn the class is "new": the other four keep all
their `train` photos, and the new one is taught with `shots` random `train`
photos. Reported on `dev`: the new class's recall, and how many points the
other classes lose against the trained head alone. The trained head is
stood in for by a softmax head fitted on the other four classes'
embeddings, because fine-tuning a model per held-out class would take 25
minutes; the shipped model's own head is stronger, so its losses can only be
smaller.

Three ways to teach are compared in the same run, on the same draws:
- `shipped`: `inference.few_shot` as the bot runs it (shrinkage LDA over 12
  views per photo, the trained classes' statistics, the n-photo correction;
  a photo is taught only when the LDA puts it in the taught class and it lies
  inside that class's region with the model's calibrated radius, judged on
  its 6 unmirrored views when one leaves the taught class in question);
- `softmax`: a class-weighted softmax head refitted on every class's
  embeddings (photo + mirror), the reference in issue 8;
- `cosine`: nearest class mean by cosine over raw embeddings.

Then the bot itself: how long `Teaching.add` takes for a photo (decode 12
views, embed, store, refit), the reply latency of another user's photos
while an admin teaches and after, against the same photos with nobody
teaching, and replies per second to 16 users before and after.

`--holdout` scores on `train` photos that nothing was fitted on, instead of
`dev`, on which the method's settings were chosen.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from bench.serving import FLOWERS_DEV
from inference.classifier import Classifier
from inference.dataset import list_classes, list_photos
from inference.decode import decode_views
from inference.embedding_stats import ClassStats
from inference.few_shot import fit_head, pool_views
from inference.model_folder import DEFAULT_MODEL_DIR
from inference.open_set import Regions
from inference.values import TaughtClass

FLOWERS = FLOWERS_DEV.parent
HOLDOUT_FIT = 40
METHODS = ("shipped", "softmax", "cosine")


def embed_set(
    classifier: Classifier, root: Path, views: int, mirrored: bool = True
) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    """photos×views×dim embeddings, labels and paths of a folder-per-class set."""
    embedded, labels, paths = [], [], []
    for index, paths_of_class in enumerate(list_photos(root).values()):
        for path in paths_of_class:
            embedded.append(classifier.run(decode_views(path.read_bytes(), mirrored=mirrored)[:views])[2])
            labels.append(index)
            paths.append(path)
    return np.stack(embedded), np.array(labels), paths


def fit_softmax(x: np.ndarray, y: np.ndarray, classes: int, l2: float = 1e-2, steps: int = 300) -> np.ndarray:
    """Class-weighted multinomial logistic regression by Adam on L2-normalised rows; bias as last row."""
    x = np.hstack([x / np.linalg.norm(x, axis=1, keepdims=True), np.ones((len(x), 1))])
    weights = np.zeros((x.shape[1], classes))
    counts = np.bincount(y, minlength=classes)
    sample_weight = (len(y) / (classes * np.maximum(counts, 1)))[y]
    sample_weight /= sample_weight.sum()
    targets = np.eye(classes)[y]
    m = np.zeros_like(weights)
    v = np.zeros_like(weights)
    for step in range(1, steps + 1):
        logits = x @ weights
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        grad = x.T @ ((p - targets) * sample_weight[:, None]) + l2 * weights
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        weights -= 0.005 * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return weights


def softmax_predict(weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return (np.hstack([x, np.ones((len(x), 1))]) @ weights).argmax(axis=1)


def two_views(examples: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Photo and mirror image rows (views 0 and 1), for the softmax reference."""
    return examples[:, :2].reshape(-1, examples.shape[-1]), np.repeat(labels, 2)


def trained_head_predictions(train: np.ndarray, labels: np.ndarray, old: np.ndarray, dev: np.ndarray) -> np.ndarray:
    """The stand-in for a head trained without the new class: dev predictions as class indexes."""
    others = np.array(sorted(set(labels[old])))
    rows, targets = two_views(train[old], np.searchsorted(others, labels[old]))
    return others[softmax_predict(fit_softmax(rows, targets, len(others)), dev)]


def teach_and_predict(
    method: str,
    train: np.ndarray,
    labels: np.ndarray,
    old: np.ndarray,
    chosen: np.ndarray,
    dev_views: np.ndarray,
    trained_head: np.ndarray,
    regions: tuple[np.ndarray, float],
) -> tuple[np.ndarray, float, np.ndarray]:
    """Dev predictions (class indexes; the trained head's for untaught photos), the seconds teaching took,
    and which dev photos were judged on all their views."""
    new = int(labels[chosen[0]])
    dev = dev_views[:, 0]
    started = time.perf_counter()
    if method == "shipped":
        stats = ClassStats.from_examples({str(c): train[old][labels[old] == c] for c in sorted(set(labels[old]))})
        head = fit_head(stats, [TaughtClass("new", train[chosen])], Regions.fit(stats, *regions))
        seconds = time.perf_counter() - started
        looked = np.array([head.in_question(e) for e in dev])
        queries = [pool_views(v) if look else v[0] for v, look in zip(dev_views, looked, strict=True)]
        predicted = [new if head.match(q) else t for q, t in zip(queries, trained_head, strict=True)]
        return np.array(predicted), seconds, looked
    picked = np.concatenate([old, chosen])
    if method == "softmax":
        rows, targets = two_views(train[picked], labels[picked])
        predicted = softmax_predict(fit_softmax(rows, targets, labels.max() + 1), dev)
    else:
        raw = train[picked][:, :2]
        means = np.stack([raw[labels[picked] == c].mean(axis=(0, 1)) for c in range(labels.max() + 1)])
        means /= np.linalg.norm(means, axis=1, keepdims=True)
        predicted = (dev / np.linalg.norm(dev, axis=1, keepdims=True) @ means.T).argmax(axis=1)
    return predicted, time.perf_counter() - started, np.zeros(len(dev), dtype=bool)


def holdout_split(labels: np.ndarray, kept: int = HOLDOUT_FIT) -> tuple[np.ndarray, np.ndarray]:
    """Indexes of `kept` photos per class to fit on and the rest to score on (fixed seed)."""
    rng = np.random.default_rng(0)
    order = [rng.permutation(np.flatnonzero(labels == c)) for c in range(labels.max() + 1)]
    return np.concatenate([o[:kept] for o in order]), np.concatenate([o[kept:] for o in order])


def quality(
    classifier: Classifier,
    shots_list: list[int],
    draws: int,
    methods: list[str],
    views: int = 12,
    holdout: bool = False,
) -> dict:
    """Taught recall and the others' loss on `dev`; with `holdout`, on train photos never fitted on instead."""
    train, labels, _ = embed_set(classifier, FLOWERS / "train", views=max(views, 2))
    scored = FLOWERS / ("train" if holdout else "dev")
    dev_views, dev_labels, _ = embed_set(classifier, scored, views=views, mirrored=False)
    if holdout:
        fit, rest = holdout_split(labels)
        train, labels, dev_views, dev_labels = train[fit], labels[fit], dev_views[rest], dev_labels[rest]
    dev = dev_views[:, 0]
    regions = (classifier.imagenet_layer()[0], classifier.regions.radius)
    results: dict[str, dict] = {}
    for shots in shots_list:
        for method in methods:
            recalls, losses, seconds, per_class, looked_others, looked_new = [], [], [], {}, [], []
            for new in range(labels.max() + 1):
                old = np.flatnonzero(labels != new)
                trained_head = trained_head_predictions(train, labels, old, dev)
                kept = dev_labels != new
                baseline = (trained_head[kept] == dev_labels[kept]).mean()
                for draw in range(draws):
                    rng = np.random.default_rng(100 * draw + new)
                    chosen = rng.choice(np.flatnonzero(labels == new), shots, replace=False)
                    predicted, took, looked = teach_and_predict(
                        method, train, labels, old, chosen, dev_views, trained_head, regions
                    )
                    looked_others.append(looked[kept].mean())
                    looked_new.append(looked[~kept].mean())
                    recall = float((predicted[dev_labels == new] == new).mean())
                    recalls.append(recall)
                    per_class.setdefault(list_classes(FLOWERS / "train")[new], []).append(recall)
                    losses.append(float(baseline - (predicted[kept] == dev_labels[kept]).mean()))
                    seconds.append(took)
            results[f"{shots} shots, {method}"] = {
                "taught_recall_mean": round(float(np.mean(recalls)), 3),
                "taught_recall_by_class": {k: round(float(np.mean(v)), 3) for k, v in per_class.items()},
                "other_classes_points_lost": round(100 * float(np.mean(losses)), 2),
                "fit_seconds_median": round(float(np.median(seconds)), 3),
                "judged_on_more_views": {
                    "other_classes": round(float(np.mean(looked_others)), 3),
                    "taught_class": round(float(np.mean(looked_new)), 3),
                },
            }
    return results


async def in_the_bot(model_dir: Path, photos: int) -> dict:
    """Teaching time per photo, and another user's reply latency while an admin teaches and after.

    The other user sends roses while tulips are taught: the hard case, since roses look most like tulips
    and are the photos most often judged on all their views.
    """
    from bot.pipeline import Pipeline
    from bot.teaching import GLOBAL, parse_learn
    from storage.database import open_database
    from trends.catalogue import Catalogue

    paths = sorted((FLOWERS / "train" / "tulip").glob("*.jpg"))[:photos]
    probes = [p.read_bytes() for p in sorted((FLOWERS / "dev" / "rose").glob("*.jpg"))[:photos]]
    classifier = Classifier(model_dir)
    db = await open_database(":memory:")
    pipeline = Pipeline(classifier, db, Catalogue())
    await pipeline.teaching.load()
    command = parse_learn("tulip bunch #tulips")
    await pipeline.teaching.start(GLOBAL, command, "bench")

    async def replies(stop: asyncio.Event | None) -> list[float]:
        latencies = []
        for data in probes * 3:
            started = time.perf_counter()
            await pipeline.answer(data, "bench", "1", "1")
            latencies.append((time.perf_counter() - started) * 1000)
            if stop is not None and stop.is_set():
                break
        return latencies

    alone = await replies(None)
    teaching_ms: list[float] = []
    stop = asyncio.Event()

    async def teach() -> None:
        for path in paths:
            started = time.perf_counter()
            await pipeline.teaching.add(GLOBAL, command.name, path.read_bytes(), "bench")
            teaching_ms.append((time.perf_counter() - started) * 1000)
        stop.set()

    async def throughput(users: int = 16) -> float:
        """Replies per second to `users` people each sending the probes one after another."""

        async def user(number: int) -> None:
            for data in probes:
                await pipeline.answer(data, "bench", str(number), str(number))

        started = time.perf_counter()
        await asyncio.gather(*(user(number) for number in range(users)))
        return users * len(probes) / (time.perf_counter() - started)

    untaught_rate = await throughput()
    during, _ = await asyncio.gather(replies(stop), teach())
    images = classifier.images_run
    after = await replies(None)
    views = len(decode_views(probes[0], mirrored=False))
    more_views = (classifier.images_run - images - len(after)) / views / len(after)
    taught_rate = await throughput()
    await pipeline.drain()
    await classifier.aclose()
    await db.close()
    return {
        "teach_photo_ms_median": round(statistics.median(teaching_ms), 1),
        "teach_photo_ms_max": round(max(teaching_ms), 1),
        "reply_ms_median_nobody_teaching": round(statistics.median(alone), 1),
        "reply_ms_median_while_teaching": round(statistics.median(during), 1),
        "reply_ms_max_while_teaching": round(max(during), 1),
        "reply_ms_median_after_teaching": round(statistics.median(after), 1),
        "reply_ms_max_after_teaching": round(max(after), 1),
        "replies_judged_on_more_views_after_teaching": round(more_views, 2),
        "replies_per_second_16_users_nothing_taught": round(untaught_rate, 1),
        "replies_per_second_16_users_after_teaching": round(taught_rate, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.few_shot", description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--shots", type=int, nargs="+", default=[10, 30])
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--views", type=int, default=12, help="views per photo, trained and taught (the bot uses 12)")
    parser.add_argument("--bot-photos", type=int, default=10, help="photos taught in the in-bot measurement (0: skip)")
    parser.add_argument(
        "--holdout",
        action="store_true",
        help=f"score on train photos instead of dev: {HOLDOUT_FIT} per class fitted on, the rest scored",
    )
    args = parser.parse_args(argv)
    results = quality(Classifier(args.model), args.shots, args.draws, args.methods, args.views, args.holdout)
    if args.bot_photos:
        results["in the bot"] = asyncio.run(in_the_bot(args.model, args.bot_photos))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
