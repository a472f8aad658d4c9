"""Read a folder-per-class photo set through the same decoder the bot uses.

Training, evaluation and benchmarks all read photos this way, so the model
never sees a photo prepared differently from how the bot will prepare it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference.decode import ImageRejected, decode_image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"}


@dataclass
class PhotoSet:
    """Decoded photos with integer labels indexing `classes`."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    paths: list[Path]
    skipped: list[tuple[Path, str]]


def list_classes(root: Path) -> list[str]:
    """Class names are the sub-folder names, sorted, so the order is reproducible."""
    if not root.is_dir():
        raise FileNotFoundError(f"No such data folder: {root}")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(f"{root} has no class sub-folders (expected {root}/<class>/*.jpg)")
    return classes


def list_photos(root: Path, classes: list[str] | None = None) -> dict[str, list[Path]]:
    """Image files per class under `root/<class>/`, sorted; a missing class folder has none."""
    photos = {}
    for name in classes or list_classes(root):
        folder = root / name
        files = folder.iterdir() if folder.is_dir() else ()
        photos[name] = sorted(p for p in files if p.suffix.lower() in IMAGE_SUFFIXES)
    return photos


def load_photo_set(root: Path, classes: list[str] | None = None) -> PhotoSet:
    """Decode every photo under `root/<class>/`; unreadable files are skipped and reported."""
    photos = list_photos(root, classes)
    images, labels, paths, skipped = [], [], [], []
    for index, files in enumerate(photos.values()):
        for path in files:
            try:
                images.append(decode_image(path.read_bytes()))
            except ImageRejected as error:
                skipped.append((path, error.message))
                continue
            labels.append(index)
            paths.append(path)
    if not images:
        raise ValueError(f"No readable photos under {root}")
    return PhotoSet(np.stack(images), np.asarray(labels, dtype=np.int64), list(photos), paths, skipped)
