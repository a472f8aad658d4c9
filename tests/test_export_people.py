"""The people model's int8 rewrite (`inference.export_people`): the same class scores as the uint8 source.

The shipped source needs ../shared, so these tests build a small uint8 model of the same kinds of layers
(a strided convolution, a depthwise one, a 1×1 one to 21 class scores) with TensorFlow's uint8 converter.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from inference.decode import decode_photo
from inference.export_people import bias_shift, input_means, symmetric_filter, to_int8
from inference.people import PeopleDetector
from tests.support.photos import FIXTURES

SIDE = 33


@pytest.fixture(scope="module")
def uint8_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tf = pytest.importorskip("tensorflow")
    v1 = tf.compat.v1
    rng = np.random.default_rng(0)
    graph = v1.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        photo = v1.placeholder(tf.float32, [1, SIDE, SIDE, 3], name="photo")
        first = v1.constant(rng.normal(0, 0.3, (3, 3, 3, 8)).astype(np.float32))
        scores = tf.nn.relu6(tf.nn.conv2d(photo, first, 2, "SAME") + 0.1)
        depthwise = v1.constant(rng.normal(0, 0.3, (3, 3, 8, 1)).astype(np.float32))
        scores = tf.nn.relu6(tf.nn.depthwise_conv2d(scores, depthwise, [1, 1, 1, 1], "SAME"))
        last = v1.constant(rng.normal(0, 0.3, (1, 1, 8, 21)).astype(np.float32))
        scores = tf.identity(tf.nn.conv2d(scores, last, 1, "SAME"), name="scores")
        converter = v1.lite.TFLiteConverter.from_session(session, [photo], [scores])
        converter.inference_type = tf.uint8
        converter.quantized_input_stats = {"photo": (128.0, 127.5)}
        converter.default_ranges_stats = (-6, 6)
        path = tmp_path_factory.mktemp("people") / "uint8.tflite"
        path.write_bytes(converter.convert())
    return path


def test_the_int8_rewrite_sees_what_the_uint8_model_sees(uint8_model: Path, tmp_path: Path) -> None:
    from tensorflow.lite.tools import flatbuffer_utils

    photos = sorted(FIXTURES.glob("*.jpg"))
    model = flatbuffer_utils.read_model(str(uint8_model))
    exact, channels = to_int8(model, input_means(model, photos))
    int8_model = tmp_path / "int8.tflite"
    flatbuffer_utils.write_model(model, str(int8_model))
    assert channels == 8 + 8 + 21 and 0 < exact < channels  # the widest channels had to be rounded

    assert Interpreter(str(int8_model)).get_input_details()[0]["dtype"] == np.int8
    source, rewritten = PeopleDetector(uint8_model), PeopleDetector(int8_model)
    agree = []
    for path in photos:
        _, whole = decode_photo(path.read_bytes(), whole_side=SIDE)
        before, after = source.cells(whole), rewritten.cells(whole)
        agree.append(np.mean(before == after))
        assert source.detect(whole).share == pytest.approx(rewritten.detect(whole).share, abs=0.05)
    assert np.mean(agree) >= 0.97


def test_a_filter_within_127_steps_of_its_zero_point_is_kept_exactly() -> None:
    weights = np.array([[0, 137, 255], [3, 130, 250]], np.uint8).reshape(2, 1, 1, 3)
    rounded, scales = symmetric_filter(weights, zero_point=130, scale=0.5, channel_axis=0)
    real = (weights.astype(np.float64) - 130) * 0.5
    assert scales[1] == 0.5 and np.array_equal(rounded[1] * 0.5, real[1])
    assert scales[0] == pytest.approx(130 / 127 * 0.5)  # the channel reaching 130 steps below its zero point
    assert np.abs(rounded[0] * scales[0] - real[0]).max() <= scales[0] / 2
    assert rounded.dtype == np.int8 and np.abs(rounded).max() <= 127


def test_the_bias_gives_back_what_rounding_took_on_an_average_input() -> None:
    rng = np.random.default_rng(1)
    weights = rng.integers(0, 256, (4, 3, 3, 5)).astype(np.uint8)
    rounded, scales = symmetric_filter(weights, zero_point=60, scale=0.01, channel_axis=0)
    mean = rng.normal(1.0, 0.2, 5)
    patch = np.broadcast_to(mean, (3, 3, 5))
    exact = np.einsum("ohwc,hwc->o", (weights.astype(np.float64) - 60) * 0.01, patch)
    shift = bias_shift(weights, 60, 0.01, rounded, scales, 0, mean)
    approximate = np.einsum("ohwc,hwc->o", rounded * scales[:, None, None, None].astype(np.float64), patch)
    assert np.abs(approximate - exact).max() > 1e-4
    assert approximate + shift == pytest.approx(exact, abs=1e-9)
