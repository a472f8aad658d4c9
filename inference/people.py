"""Whether a photo shows people, about how many, and whether one fills the frame.

ImageNet has no person class: a portrait comes back as "suit", "wig" or
"bow tie". A segmentation model trained on PASCAL VOC (people and 19 everyday
objects) looks at the whole photo squashed to a 257×257 square
(`models/people`, cut down by `inference.export_people` to a fraction of the
original 513×513 model's cost, and rewritten from uint8 to int8, which
XNNPACK runs at half the cost) and labels a 17×17 grid. How often it finds
people where they are, and where they are not, is measured on coco128 by
`bench/real_photos.py` (docs/benchmarks.md).

People are counted as separate blobs on the grid, so people standing close
together count as one: the count is a lower bound, said as "a few" or
"a group" beyond two.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from inference.values import SEEN_SHARE, People

PEOPLE_DIR = Path(__file__).resolve().parent.parent / "models" / "people"
PEOPLE_MODEL = PEOPLE_DIR / "person_segmentation.tflite"
VOC_LABELS = PEOPLE_DIR / "pascal_voc_labels.txt"
PERSON = "person"
# A blob this small beside a bigger one is usually part of the same person (an arm, a leg).
MIN_BLOB_SHARE = 0.01


def blobs(mask: np.ndarray) -> list[int]:
    """Sizes of the 4-connected groups of True cells, largest first (the grid is 17×17: a plain flood fill)."""
    seen = np.zeros_like(mask, dtype=bool)
    sizes = []
    rows, cols = mask.shape
    for start in zip(*np.nonzero(mask), strict=True):
        if seen[start]:
            continue
        seen[start] = True
        stack, size = [start], 0
        while stack:
            r, c = stack.pop()
            size += 1
            for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                if 0 <= nr < rows and 0 <= nc < cols and mask[nr, nc] and not seen[nr, nc]:
                    seen[nr, nc] = True
                    stack.append((nr, nc))
        sizes.append(size)
    return sorted(sizes, reverse=True)


def read_classes(path: Path = VOC_LABELS) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


class PeopleDetector:
    """LiteRT segmentation, one photo at a time (the model takes batches of one); not thread-safe."""

    def __init__(self, model_file: Path = PEOPLE_MODEL, threads: int | None = None) -> None:
        self.classes = read_classes()
        self._interpreter = Interpreter(str(model_file), num_threads=threads or 1)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self.side = int(self._input["shape"][1])
        self._person = self.classes.index(PERSON)

    def cells(self, photo: np.ndarray) -> np.ndarray:
        """The class of each grid cell of a side×side×3 uint8 photo (the whole frame, as `decode_photo` gives it)."""
        if self._input["dtype"] == np.int8:
            # An int8 export (`inference.export_people`) takes the same pixels less 128, its zero point moved.
            photo = (photo ^ 0x80).view(np.int8)
        self._interpreter.set_tensor(self._input["index"], photo[None])
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output["index"])[0].argmax(axis=-1)

    def detect(self, photo: np.ndarray) -> People:
        """People in a side×side×3 uint8 photo, and the other classes that cover enough of it."""
        cells = self.cells(photo)
        shares = np.bincount(cells.ravel(), minlength=len(self.classes)) / cells.size
        mask = cells == self._person
        sizes = [size / cells.size for size in blobs(mask)]
        count = sum(1 for size in sizes if size >= MIN_BLOB_SHARE) or (1 if sizes else 0)
        objects = tuple(
            (name, round(float(share), 3))
            for name, share in sorted(zip(self.classes, shares, strict=True), key=lambda item: -item[1])
            if name not in ("background", PERSON) and share >= SEEN_SHARE
        )
        return People(float(shares[self._person]), count, sizes[0] if sizes else 0.0, objects)
