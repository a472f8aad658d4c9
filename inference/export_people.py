"""Write the people model the bot ships: DeepLabV3-MobileNetV2 (0.5) cut down to what an answer needs.

    python -m inference.export_people [--source ../shared/models/deeplabv3_mnv2_dm05_pascal_quant.tflite]
        [--side 257] [--precision int8|uint8] [--calibration ../shared/data/flowers/train]

The source model (PASCAL VOC segmentation, Apache 2.0, provenance in
models/people/README.md) takes a 513×513 photo and returns a 513×513 class
map, at several times the classifier's cost per photo. To tell whether
and how much of a photo shows people, its 33×33 class scores are enough, and
a smaller input too. This script, run once, edits the flatbuffer: drops the
two upsampling resizes and the arg-max after the last convolution (the output
becomes the grid's class scores) and resizes the graph to `--side`
(the ASPP branch's global pooling and its resize follow the grid).

The source is quantised to uint8, which XNNPACK runs at twice the cost of
int8 (docs/benchmarks.md, issue 23), so by default the graph is rewritten as
int8 too (`to_int8`). Training time only: it needs TensorFlow's flatbuffer
tools; the bot loads the result with LiteRT. Figures for each side are in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
SOURCE = SHARED / "models" / "deeplabv3_mnv2_dm05_pascal_quant.tflite"
CALIBRATION = SHARED / "data" / "flowers" / "train"
OUT = Path(__file__).resolve().parent.parent / "models" / "people" / "person_segmentation.tflite"
SOURCE_SIDE, SOURCE_GRID, STRIDE = 513, 33, 16
INT8_STEPS = 127


def cut(model, side: int) -> int:
    """Edit the parsed source model in place: grid class scores out, `side`×`side` photos in; the grid's side."""
    from tensorflow.lite.python import schema_py_generated as schema

    if (side - 1) % STRIDE:
        raise ValueError(f"--side must be {STRIDE}·n + 1 (257, 321, 385, 513), got {side}")
    grid = (side - 1) // STRIDE + 1
    graph = model.subgraphs[0]
    codes = [model.operatorCodes[op.opcodeIndex].builtinCode for op in graph.operators]
    tail = [schema.BuiltinOperator.RESIZE_BILINEAR, schema.BuiltinOperator.RESIZE_BILINEAR]
    if codes[-3:-1] != tail or codes[-1] != schema.BuiltinOperator.ARG_MAX:
        raise ValueError("the source does not end in resize, resize, arg-max: not the expected DeepLab graph")
    scores = graph.operators[-3].inputs[0]
    graph.operators = graph.operators[:-3]
    graph.outputs = np.array([scores], dtype=np.int32)
    for op, code in zip(graph.operators, codes, strict=False):
        if code == schema.BuiltinOperator.AVERAGE_POOL_2D and op.builtinOptions.filterWidth == SOURCE_GRID:
            op.builtinOptions.filterWidth = op.builtinOptions.filterHeight = grid
        if code == schema.BuiltinOperator.RESIZE_BILINEAR:
            size = graph.tensors[op.inputs[1]]
            model.buffers[size.buffer].data = np.frombuffer(np.array([grid, grid], "<i4").tobytes(), np.uint8)
    for tensor in graph.tensors:
        resized = {SOURCE_GRID: grid, SOURCE_SIDE: side}
        tensor.shape = np.array([resized.get(int(d), int(d)) for d in tensor.shape], dtype=np.int32)
    return grid


def symmetric_filter(
    weights: np.ndarray, zero_point: int, scale: float, channel_axis: int
) -> tuple[np.ndarray, np.ndarray]:
    """A uint8 filter (one scale and zero point for the layer) as int8 with a scale per channel and no zero point.

    A channel whose values lie within 127 steps of the zero point keeps its scale and is exact; in the
    source that is every channel but the one or two per layer whose range set the layer's scale. Those
    get a scale of their own (their largest weight at 127) and are rounded to it.
    """
    steps = weights.astype(np.int32) - zero_point
    axes = tuple(axis for axis in range(weights.ndim) if axis != channel_axis)
    widest = np.abs(steps).max(axis=axes)
    step_scales = np.maximum(widest, INT8_STEPS) / INT8_STEPS
    shape = [1] * weights.ndim
    shape[channel_axis] = -1
    rounded = np.clip(np.round(steps / step_scales.reshape(shape)), -INT8_STEPS, INT8_STEPS).astype(np.int8)
    return rounded, (step_scales * scale).astype(np.float32)


def bias_shift(
    weights: np.ndarray,
    zero_point: int,
    scale: float,
    rounded: np.ndarray,
    scales: np.ndarray,
    channel_axis: int,
    input_mean: np.ndarray,
) -> np.ndarray:
    """What rounding took from each output channel on an average input (real units), for its bias to give back.

    The rounded channels are the widest, so a small error in each weight adds up over the inputs; on the
    mean activations of the calibration photos the shift is exact, and the class map agrees with the
    uint8 model's as often as LiteRT's two uint8 kernels agree with each other (docs/benchmarks.md).
    `weights` are laid out as TFLite's conv (out, h, w, in; channel axis 0) or depthwise filters
    (1, h, w, channels; channel axis 3, one output per input channel in MobileNetV2).
    """
    shape = [1] * 4
    shape[channel_axis] = -1
    lost = (weights.astype(np.float64) - zero_point) * scale - rounded * scales.reshape(shape).astype(np.float64)
    return np.einsum("ohwc,c->c" if channel_axis == 3 else "ohwc,c->o", lost, input_mean)


def convolutions(model) -> list[tuple[object, int]]:
    """The graph's convolutions with their filters' channel axis (conv: 0, depthwise: 3)."""
    from tensorflow.lite.python import schema_py_generated as schema

    axes = {schema.BuiltinOperator.CONV_2D: 0, schema.BuiltinOperator.DEPTHWISE_CONV_2D: 3}
    found = []
    for op in model.subgraphs[0].operators:
        code = model.operatorCodes[op.opcodeIndex].builtinCode
        if code in axes:
            found.append((op, axes[code]))
    return found


def input_means(model, photos: list[Path]) -> dict[int, np.ndarray]:
    """Each convolution's mean input per channel (real units) over `photos`, by input tensor index."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from tensorflow.lite.tools import flatbuffer_utils

    from inference.decode import ImageRejected, decode_photo

    interpreter = Interpreter(
        model_content=bytes(flatbuffer_utils.convert_object_to_bytearray(model)),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        experimental_preserve_all_tensors=True,
    )
    interpreter.allocate_tensors()
    entry = interpreter.get_input_details()[0]
    details = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
    sums = {int(op.inputs[0]): 0.0 for op, _ in convolutions(model)}
    seen = 0
    for path in photos:
        try:
            _, whole = decode_photo(path.read_bytes(), whole_side=int(entry["shape"][1]))
        except ImageRejected:
            continue
        interpreter.set_tensor(entry["index"], whole[None])
        interpreter.invoke()
        seen += 1
        for index in sums:
            quantization = details[index]["quantization_parameters"]
            values = interpreter.get_tensor(index)
            steps = values.reshape(-1, values.shape[-1]).astype(np.float64) - quantization["zero_points"][0]
            sums[index] = sums[index] + steps.mean(axis=0) * quantization["scales"][0]
    if not seen:
        raise ValueError("no readable calibration photos")
    return {index: total / seen for index, total in sums.items()}


def to_int8(model, means: dict[int, np.ndarray]) -> tuple[int, int]:
    """Rewrite the parsed uint8 model as int8 in place; returns (exact channels, all filter channels).

    Activations and their zero points move down by 128 (exact: the same real values); filters become
    symmetric per channel (`symmetric_filter`), their biases rescaled and corrected (`bias_shift`).
    """
    from tensorflow.lite.python import schema_py_generated as schema

    graph = model.subgraphs[0]
    filters = {int(op.inputs[1]): (axis, op) for op, axis in convolutions(model)}
    exact = total = 0
    for index, tensor in enumerate(graph.tensors):
        if tensor.type != schema.TensorType.UINT8:
            continue
        quantization, buffer = tensor.quantization, model.buffers[tensor.buffer]
        zero_point, scale = int(quantization.zeroPoint[0]), float(quantization.scale[0])
        if index in filters:
            axis, op = filters[index]
            weights = np.frombuffer(bytes(buffer.data), np.uint8).reshape(tensor.shape)
            rounded, scales = symmetric_filter(weights, zero_point, scale, axis)
            exact += int(np.sum(np.isclose(scales, scale)))
            total += len(scales)
            input_scale = float(graph.tensors[op.inputs[0]].quantization.scale[0])
            bias_tensor = graph.tensors[op.inputs[2]]
            bias_buffer = model.buffers[bias_tensor.buffer]
            bias = np.frombuffer(bytes(bias_buffer.data), np.int32) * (input_scale * scale)
            bias = bias + bias_shift(weights, zero_point, scale, rounded, scales, axis, means[op.inputs[0]])
            bias_scales = (input_scale * scales).astype(np.float32)
            bias_buffer.data = np.frombuffer(np.round(bias / bias_scales).astype("<i4").tobytes(), np.uint8)
            buffer.data = np.frombuffer(rounded.tobytes(), np.uint8)
            quantization.scale, quantization.quantizedDimension = scales, axis
            quantization.zeroPoint = np.zeros(len(scales), np.int64)
            bias_tensor.quantization.scale = bias_scales
            bias_tensor.quantization.zeroPoint = np.zeros(len(scales), np.int64)
        else:
            quantization.zeroPoint = quantization.zeroPoint.astype(np.int64) - 128
            if buffer.data is not None and len(buffer.data):
                buffer.data = (np.frombuffer(bytes(buffer.data), np.uint8) ^ 0x80).view(np.uint8)
        tensor.type = schema.TensorType.INT8
    operator = schema.BuiltinOperator
    per_channel = {operator.CONV_2D: 3, operator.DEPTHWISE_CONV_2D: 3}
    for code in model.operatorCodes:
        code.version = max(code.version, per_channel.get(code.builtinCode, 2))
    return exact, total


def export(source: Path, out: Path, side: int, precision: str, calibration: list[Path]) -> dict:
    """Write the edited model; returns what was done, for the README."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(source))
    grid = cut(model, side)
    done = {"source": source.name, "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest()}
    if precision == "int8":
        means = input_means(model, calibration)
        exact, total = to_int8(model, means)
        done |= {"exact_channels": exact, "channels": total, "calibration_photos": len(calibration)}
    out.parent.mkdir(parents=True, exist_ok=True)
    flatbuffer_utils.write_model(model, str(out))
    return done | {
        "precision": precision,
        "input": [side, side, 3],
        "output": [grid, grid, 21],
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
    }


def main(argv: list[str] | None = None) -> int:
    from inference.dataset import list_photos

    parser = argparse.ArgumentParser(prog="python -m inference.export_people", description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--side", type=int, default=257, help="input side in pixels, 16·n + 1")
    parser.add_argument("--precision", choices=("int8", "uint8"), default="int8", help="uint8: the source's own")
    parser.add_argument(
        "--calibration", type=Path, default=CALIBRATION, help="photos (<folder>/<class>/*) for int8's bias correction"
    )
    args = parser.parse_args(argv)
    try:
        photos = [] if args.precision == "uint8" else [p for ps in list_photos(args.calibration).values() for p in ps]
        print(json.dumps(export(args.source, args.out, args.side, args.precision, photos)))
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
