"""Photos for the tests: the fixture files, and made-up photos that are none of the classes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def tablecloth(seed: int) -> bytes:
    """A photo of a checked tablecloth: none of the flowers, and different every seed (colours, check size)."""
    rng = np.random.default_rng(seed)
    cell = int(rng.integers(16, 40))
    light, dark = rng.integers(150, 256, 3), rng.integers(0, 80, 3)
    rows, cols = np.mgrid[0:300, 0:400]
    checks = ((rows // cell) + (cols // cell)) % 2 == 0
    pixels = np.where(checks[..., None], light, dark) + rng.integers(0, 20, (300, 400, 3))
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()
