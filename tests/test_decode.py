"""The loader accepts every photo people send and refuses the rest with a readable reason."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from inference.decode import MODEL_SIZE, ImageRejected, decode_image


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def halves(width: int = 400, height: int = 300) -> Image.Image:
    """Left half red, right half blue: orientation and colour are both checkable."""
    array = np.zeros((height, width, 3), dtype=np.uint8)
    array[:, : width // 2] = (220, 20, 20)
    array[:, width // 2 :] = (20, 20, 220)
    return Image.fromarray(array)


@pytest.mark.parametrize(
    ("fmt", "mode", "params"),
    [
        ("JPEG", "RGB", {"quality": 95}),
        ("JPEG", "L", {}),
        ("JPEG", "CMYK", {}),
        ("PNG", "RGB", {}),
        ("PNG", "RGBA", {}),
        ("PNG", "P", {}),
        ("PNG", "LA", {}),
        ("PNG", "I;16", {}),
        ("WEBP", "RGB", {"lossless": True}),
        ("WEBP", "RGBA", {"lossless": True}),
        ("BMP", "RGB", {}),
        ("GIF", "P", {}),
    ],
)
def test_every_accepted_format_and_mode_gives_model_ready_rgb(fmt: str, mode: str, params: dict) -> None:
    image = halves().convert(mode) if mode != "I;16" else Image.fromarray(np.full((300, 400), 30000, np.uint16))
    array = decode_image(encode(image, fmt, **params))
    assert array.shape == (MODEL_SIZE, MODEL_SIZE, 3)
    assert array.dtype == np.uint8
    if mode in ("RGB", "RGBA", "P", "CMYK"):
        left, right = array[:, 20].mean(axis=0), array[:, -20].mean(axis=0)
        assert left[0] > 150 > left[2], left
        assert right[2] > 150 > right[0], right


def test_transparent_areas_become_white() -> None:
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    array = decode_image(encode(image, "PNG"))
    assert array.min() == 255


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 3  # rotated 180°: stored right-to-left
    data = encode(halves(), "JPEG", exif=exif.tobytes(), quality=95)
    array = decode_image(data)
    assert array[:, 20, 2].mean() > 150, "left side should be blue after undoing the 180° rotation"
    assert array[:, -20, 0].mean() > 150


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animated_images_use_the_first_frame(fmt: str) -> None:
    frames = [Image.new("RGB", (64, 64), colour) for colour in ((250, 0, 0), (0, 250, 0), (0, 0, 250))]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    array = decode_image(data)
    assert array[..., 0].mean() > 200 and array[..., 1].mean() < 50


def test_large_jpeg_is_decoded_in_draft_mode() -> None:
    """A 12-MP JPEG decodes through libjpeg's scaling: Pillow reports the reduced size."""
    big = halves(4032, 3024)
    data = encode(big, "JPEG", quality=80)
    image = Image.open(io.BytesIO(data))
    image.draft("RGB", (MODEL_SIZE, MODEL_SIZE))
    assert image.size == (504, 378)
    array = decode_image(data)
    assert array.shape == (MODEL_SIZE, MODEL_SIZE, 3)
    assert array[:, 20, 0].mean() > 150


def test_centre_square_is_kept() -> None:
    """A wide photo keeps its centre: the outer thirds are cropped, proportions kept."""
    array = np.zeros((100, 300, 3), dtype=np.uint8)
    array[:, 100:200] = 255
    out = decode_image(encode(Image.fromarray(array), "PNG"))
    assert out[:, 5:-5].min() > 200


def truncated_jpeg() -> bytes:
    data = encode(halves(800, 600), "JPEG")
    return data[: len(data) // 3]


def corrupt_png() -> bytes:
    data = bytearray(encode(halves(), "PNG"))
    data[60:200] = bytes(140)
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "reason", "words"),
    [
        (b"", "empty", "empty"),
        (b"hello, this is a text file\n" * 10, "not_an_image", "not an image"),
        (b"%PDF-1.7\n%...", "not_an_image", "PDF"),
        (b"\x00\x00\x00\x18ftypmp42" + bytes(64), "not_an_image", "video"),
        (b"\x00\x00\x00\x18ftypheic" + bytes(64), "unsupported_format", "HEIC"),
        (truncated_jpeg(), "corrupt", "damaged"),
        (corrupt_png(), "corrupt", "damaged"),
        (encode(halves(), "TIFF"), "unsupported_format", "TIFF"),
        (encode(Image.new("RGB", (10, 10)), "PNG"), "too_small", "too small"),
    ],
    ids=["empty", "text", "pdf", "mp4", "heic", "truncated-jpeg", "corrupt-png", "tiff", "tiny"],
)
def test_bad_input_is_refused_with_a_readable_reason(data: bytes, reason: str, words: str) -> None:
    with pytest.raises(ImageRejected) as caught:
        decode_image(data)
    assert caught.value.reason == reason
    assert words.lower() in caught.value.message.lower()


def test_decompression_bomb_is_refused_before_decoding() -> None:
    """A 20000×20000 PNG compresses to a few hundred KB but would need 1.2 GB decoded."""
    bomb = encode(Image.new("L", (20000, 20000)), "PNG", optimize=False)
    assert len(bomb) < 2_000_000
    with pytest.raises(ImageRejected) as caught:
        decode_image(bomb, max_pixels=50_000_000)
    assert caught.value.reason == "too_many_pixels"
    assert "20000×20000" in caught.value.message


def test_pixel_limit_is_configurable() -> None:
    data = encode(halves(400, 300), "PNG")
    with pytest.raises(ImageRejected):
        decode_image(data, max_pixels=100_000)
    assert decode_image(data, max_pixels=120_000).shape == (MODEL_SIZE, MODEL_SIZE, 3)


def test_decoded_bytes_counts_what_the_decode_will_hold() -> None:
    """From the header alone: a PNG at full size by what its mode needs, a JPEG at libjpeg's draft scale,
    garbage as nothing: a 16-bit PNG is reduced as it is, an image with alpha needs its premultiplied copy."""
    import io

    from PIL import Image

    from inference.decode import decoded_bytes

    def encoded(size: tuple[int, int], kind: str, mode: str = "RGB") -> bytes:
        buffer = io.BytesIO()
        Image.new(mode, size, 10).save(buffer, kind)
        return buffer.getvalue()

    assert decoded_bytes(encoded((3000, 2000), "PNG")) == 6_000_000 * 4
    sixteen_bits = encoded((3000, 2000), "PNG", "I;16")
    assert decoded_bytes(sixteen_bits) == 6_000_000 * 2 and len(sixteen_bits) < len(encoded((3000, 2000), "PNG"))
    assert decoded_bytes(encoded((3000, 2000), "PNG", "RGBA")) == 6_000_000 * 8
    assert decoded_bytes(encoded((3000, 2000), "PNG", "L")) == 6_000_000
    assert decoded_bytes(encoded((4000, 3000), "JPEG")) == 500 * 375 * 4  # 1/8 still leaves 375 ≥ 224
    assert decoded_bytes(encoded((300, 300), "JPEG")) == 300 * 300 * 4
    assert decoded_bytes(b"not an image") == 0


@pytest.mark.parametrize("mode", ["I;16", "RGBA", "P", "1", "L", "LA"])
def test_big_images_of_every_mode_are_reduced_before_they_are_converted(mode: str) -> None:
    """A 3000×2000 image of any mode gives the same picture as its RGB conversion decoded directly."""
    import io

    from PIL import Image

    rgb = Image.radial_gradient("L").resize((3000, 2000)).convert("RGB")
    image = rgb.convert("L").convert(mode) if mode in ("I;16", "1", "L", "LA") else rgb.convert(mode)
    if mode == "I;16":
        image = Image.fromarray(np.asarray(rgb.convert("L"), dtype=np.uint16) * 257)
    buffer, reference = io.BytesIO(), io.BytesIO()
    image.save(buffer, "PNG")
    (rgb.convert("L") if mode == "I;16" else image).convert("RGB").save(reference, "PNG")  # 16 bits: scaled to 8
    decoded, expected = decode_image(buffer.getvalue()), decode_image(reference.getvalue())
    assert np.abs(decoded.astype(int) - expected.astype(int)).mean() < 2


async def test_the_decode_budget_bounds_big_decodes_and_lets_small_ones_pass() -> None:
    import asyncio

    from inference.decode_budget import DecodeBudget

    budget = DecodeBudget(100)
    entered: list[str] = []
    release = {name: asyncio.Event() for name in ("big1", "big2", "small", "huge")}

    async def decode(name: str, pixels: int) -> None:
        async with budget.hold(pixels):
            entered.append(name)
            await release[name].wait()

    tasks = [asyncio.create_task(decode("big1", 60)), asyncio.create_task(decode("big2", 60))]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(decode("small", 30)))
    for _ in range(3):
        await asyncio.sleep(0)
    assert entered == ["big1", "small"] and budget.used == 90, "the second big one waits; the small one passes it"
    release["big1"].set()
    release["small"].set()
    await asyncio.wait_for(asyncio.gather(tasks[0], tasks[2]), 5)
    tasks.append(asyncio.create_task(decode("huge", 500)))
    while len(entered) < 3:
        await asyncio.sleep(0)
    assert entered[2] == "big2" and budget.used == 60
    release["big2"].set()
    await asyncio.wait_for(tasks[1], 5)
    release["huge"].set()
    await asyncio.wait_for(tasks[3], 5)
    assert entered[3] == "huge" and budget.used == 0, "bigger than the whole budget: runs alone"
