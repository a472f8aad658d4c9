"""Turn the bytes a user sent into the RGB array the model expects.

Chat users send anything: 12-megapixel phone photos, screenshots, stickers,
PDFs, half-uploaded files. Decoding is the first thing that can go wrong, so
every failure here becomes one `ImageRejected` whose message can be shown to
the user as it is, and nothing else escapes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MODEL_SIZE = 224
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "MPO")
DEFAULT_MAX_PIXELS = 50_000_000
MIN_SIDE = 32
VIEW_CROP = 0.8
# open_image enforces its own, configurable pixel limit from the header, before
# any decoding; Pillow's global limit would only answer with a vaguer message.
Image.MAX_IMAGE_PIXELS = None
# Pillow allocates image memory in 16 MiB blocks, under glibc's 32 MiB mmap threshold: a huge image's
# blocks came from the decoding thread's malloc arena and stayed with the process after it was freed
# (2.5 GB after twenty 7000×7000 PNGs, bench.decode_memory). 64 MiB blocks are mmapped and go back
# to the system when freed; an ordinary photo needs less than one block, so nothing changes for it.
Image.core.set_block_size(64 * 1024 * 1024)

# Signatures of files people send by mistake, so the answer can say what it was.
_KNOWN_NON_IMAGES = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive or office document"),
    (b"\x1aE\xdf\xa3", "a video (WebM/MKV)"),
    (b"OggS", "an audio file"),
    (b"ID3", "an audio file"),
)


@dataclass(frozen=True)
class ImageRejected(Exception):
    """A photo we cannot use; `message` is written for the person who sent it."""

    reason: str
    message: str

    def __str__(self) -> str:
        return self.message


def might_be_image(mime_type: str | None) -> bool:
    """Whether a file announced with this MIME type is worth fetching: the bytes decide, not the label.

    Phones and desktop clients send JPEGs as `application/octet-stream` or with no
    type at all; only a type that names something else (a PDF, a video) rules a file out.
    """
    mime = (mime_type or "").split(";")[0].strip().lower()
    return mime in ("", "application/octet-stream", "binary/octet-stream") or mime.startswith("image/")


def _sniff(data: bytes) -> str | None:
    """Name what a non-image file looks like, or None when unknown."""
    for magic, name in _KNOWN_NON_IMAGES:
        if data.startswith(magic):
            return name
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
            return "HEIC"
        if brand == b"avif":
            return "AVIF"
        return "a video (MP4/MOV)"
    return None


def _unsupported(kind: str) -> ImageRejected:
    if kind in ("HEIC", "AVIF"):
        return ImageRejected(
            "unsupported_format",
            f"{kind} photos are not supported yet. Please send the photo as JPEG or PNG "
            "(on iPhone: Settings → Camera → Formats → Most Compatible), or as a photo "
            "rather than a file.",
        )
    return ImageRejected("not_an_image", f"That looks like {kind}, not a photo. Please send a JPEG, PNG or WebP image.")


def open_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open and validate an image without decoding its pixels yet.

    Checking the header first lets a decompression bomb be refused before a
    single pixel is allocated.
    """
    if not data:
        raise ImageRejected("empty", "The file is empty. Please send the photo again.")
    kind = _sniff(data)
    if kind:
        raise _unsupported(kind)
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageRejected(
            "not_an_image", "That file is not an image I can read. Please send a JPEG, PNG or WebP photo."
        ) from None
    except (OSError, ValueError, SyntaxError):
        raise ImageRejected("corrupt", "The image looks damaged. Please send it again.") from None
    if image.format not in ACCEPTED_FORMATS:
        raise ImageRejected(
            "unsupported_format",
            f"{image.format} images are not supported. Please send a JPEG, PNG, WebP, BMP or GIF.",
        )
    width, height = image.size
    if width * height > max_pixels:
        raise ImageRejected(
            "too_many_pixels",
            f"The image is too large ({width}×{height} pixels; the limit is "
            f"{max_pixels / 1e6:.0f} megapixels). Please send a smaller version.",
        )
    if min(width, height) < MIN_SIDE:
        raise ImageRejected(
            "too_small",
            f"The image is too small ({width}×{height} pixels). Please send a photo at least "
            f"{MIN_SIDE} pixels on each side.",
        )
    return image


def decoded_bytes(data: bytes, draft_side: int = MODEL_SIZE) -> int:
    """The memory decoding `data` will need at its peak, from its header alone: what `DecodeBudget` counts.

    Pixels (a JPEG at the smallest of libjpeg's scales, 1/2, 1/4, 1/8, that keeps `draft_side`) times
    what each takes in Pillow's mode and in the one conversion made at full size (`PEAK_BYTES`): a
    7000×7000 16-bit PNG of 95 KB needs 6 bytes a pixel, not the 4 of an RGB photo of that size.
    Unreadable data counts 0: the decode itself says what is wrong with it.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            (width, height), kind, mode = image.size, image.format, image.mode
    except (OSError, ValueError, SyntaxError):
        return 0
    if kind in ("JPEG", "MPO"):
        scale = max(s for s in (1, 2, 4, 8) if s == 1 or min(width, height) // s >= draft_side)
        width, height = width // scale, height // scale
    return width * height * PEAK_BYTES.get(mode, 4)


# Bytes a pixel takes at the decode's peak, by Pillow mode: the mode itself, the full-size conversion
# of palettes and 1-bit images, and for alpha the premultiplied copy that resizing makes. Otherwise 4.
PEAK_BYTES = {"1": 2, "L": 1, "P": 5, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2, "RGBA": 8, "LA": 8, "PA": 8}
# A reduced image keeps at least this many times the side the model needs (`_square` resizes the rest).
REDUCED_SIDES = 3


def _to_rgb(image: Image.Image) -> Image.Image:
    """Flatten any mode to RGB; transparent areas become white, as chat apps show them."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode == "CMYK" and image.format == "JPEG":
        # Adobe writes CMYK JPEGs inverted; Pillow's plain convert already accounts for it.
        return image.convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float32)
        scale = 255.0 / max(float(array.max()), 1.0)
        return Image.fromarray((array * scale).astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


def _reduced(image: Image.Image, draft_side: int) -> Image.Image:
    """A big image shrunk by a whole factor (a box filter, as libjpeg's draft) before any other work, keeping
    `REDUCED_SIDES` times `draft_side`: conversions and rotations then touch a few hundred thousand pixels,
    not fifty million. Only palettes and 1-bit images, which Pillow would shrink by picking pixels, are
    converted at full size first. RGB needs no conversion: `_square`'s resize reduces it as it goes,
    without the intermediate image that would stay in a malloc arena after the decode."""
    factor = min(image.size) // (REDUCED_SIDES * draft_side)
    if factor < 2 or image.mode == "RGB":
        return image
    if image.mode in ("P", "1"):
        image = image.convert("L" if image.mode == "1" else "RGBA" if "transparency" in image.info else "RGB")
    return image.resize((image.width // factor, image.height // factor), Image.Resampling.BOX)


def _load_rgb(data: bytes, max_pixels: int, draft_side: int) -> Image.Image:
    """Validated, upright RGB pixels; JPEGs decoded at the smallest scale that keeps `draft_side`."""
    image = open_image(data, max_pixels)
    try:
        if image.format in ("JPEG", "MPO"):
            image.draft("RGB", (draft_side, draft_side))
        image.seek(0)
        image.load()
        image = _reduced(image, draft_side)
        # In place: without an EXIF rotation, exif_transpose would otherwise return a full copy.
        ImageOps.exif_transpose(image, in_place=True)
        return _to_rgb(image)
    except (OSError, ValueError, SyntaxError, EOFError, IndexError):
        raise ImageRejected("corrupt", "The image looks damaged or incomplete. Please send it again.") from None


def _centred(width: int, height: int, side: float) -> tuple[float, float, float, float]:
    """The box of a `side`-wide square in the middle of the image."""
    return ((width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2)


def _square(rgb: Image.Image, box: tuple[float, float, float, float], size: int) -> np.ndarray:
    return np.asarray(rgb.resize((size, size), Image.Resampling.BILINEAR, box=box, reducing_gap=3.0), dtype=np.uint8)


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, size: int = MODEL_SIZE) -> np.ndarray:
    """Decode an upload into a `size`×`size`×3 uint8 RGB array: the centre square, resized.

    The centre crop keeps the subject's proportions, as in ImageNet training;
    on the flower dev set it scores 3 points above squashing the whole frame.

    JPEGs are decoded with Pillow's draft mode, which lets libjpeg scale by
    1/2, 1/4 or 1/8 while decoding: a 12-megapixel photo never exists in
    memory at full size. Animated images contribute their first frame.
    """
    return decode_photo(data, max_pixels, size=size)[0]


def decode_photo(
    data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, whole_side: int | None = None, size: int = MODEL_SIZE
) -> tuple[np.ndarray, np.ndarray | None]:
    """`decode_image`'s centre square, and with `whole_side` also the whole frame squashed to that square.

    The people model looks at the whole frame: a person at the edge of a
    landscape photo is still in it. One decode serves both: the JPEG is read
    once, at `decode_image`'s draft scale, so the centre square is exactly
    `decode_image`'s (the people model needs no more detail than that).
    """
    rgb = _load_rgb(data, max_pixels, size)
    centre = _square(rgb, _centred(*rgb.size, min(rgb.size)), size)
    return centre, None if whole_side is None else _square(rgb, (0, 0, *rgb.size), whole_side)


def decode_views(
    data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, size: int = MODEL_SIZE, mirrored: bool = True
) -> np.ndarray:
    """The photo seen 12 ways (centre square, four corner and one centre 80 % crop, each mirrored): 12×size×size×3.

    A class taught from ten photos is only as good as its mean embedding;
    these views steady it and show the head how the class varies (with 10
    photos, 12 views more than double the taught recall of 2: `bench/few_shot.py`).
    A photo the head has in question is judged on the 6 views without their
    mirror images (`mirrored=False`): about as good as all 12 there, at half the cost.
    The first view is exactly `decode_image`'s.
    """
    rgb = _load_rgb(data, max_pixels, round(size / VIEW_CROP))
    width, height = rgb.size
    side = min(width, height)
    crop = side * VIEW_CROP
    corners = [(0, 0), (width - crop, 0), (0, height - crop), (width - crop, height - crop)]
    boxes = [_centred(width, height, side), _centred(width, height, crop)]
    boxes += [(left, top, left + crop, top + crop) for left, top in corners]
    views = []
    for box in boxes:
        view = _square(rgb, box, size)
        views += [view, view[:, ::-1]] if mirrored else [view]
    return np.stack(views)
