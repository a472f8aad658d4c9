"""Write the people model the bot ships: DeepLabV3-MobileNetV2 (0.5) cut down to what an answer needs.

    python -m inference.export_people [--source ../shared/models/deeplabv3_mnv2_dm05_pascal_quant.tflite]

The source model (PASCAL VOC segmentation, Apache 2.0, provenance in
models/people/README.md) takes a 513×513 photo and returns a 513×513 class
map, at several times the classifier's cost per photo. To tell whether
and how much of a photo shows people, its 33×33 class scores are enough, and
a smaller input too. This script, run once, edits the flatbuffer: drops the
two upsampling resizes and the arg-max after the last convolution (the output
becomes the grid's uint8 class scores) and resizes the graph to `--side`
(the ASPP branch's global pooling and its resize follow the grid). Training
time only: it needs TensorFlow's flatbuffer tools; the bot loads the result
with LiteRT. Figures for each side are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

SOURCE = Path(__file__).resolve().parent.parent.parent / "shared" / "models" / "deeplabv3_mnv2_dm05_pascal_quant.tflite"
OUT = Path(__file__).resolve().parent.parent / "models" / "people" / "person_segmentation.tflite"
SOURCE_SIDE, SOURCE_GRID, STRIDE = 513, 33, 16


def cut(source: Path, out: Path, side: int) -> dict:
    """Write the edited model; returns what was done, for the README."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    if (side - 1) % STRIDE:
        raise ValueError(f"--side must be {STRIDE}·n + 1 (257, 321, 385, 513), got {side}")
    grid = (side - 1) // STRIDE + 1
    model = flatbuffer_utils.read_model(str(source))
    graph = model.subgraphs[0]
    codes = [model.operatorCodes[op.opcodeIndex].builtinCode for op in graph.operators]
    tail = [schema.BuiltinOperator.RESIZE_BILINEAR, schema.BuiltinOperator.RESIZE_BILINEAR]
    if codes[-3:-1] != tail or codes[-1] != schema.BuiltinOperator.ARG_MAX:
        raise ValueError(f"{source} does not end in resize, resize, arg-max: not the expected DeepLab graph")
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
    out.parent.mkdir(parents=True, exist_ok=True)
    flatbuffer_utils.write_model(model, str(out))
    return {
        "source": source.name,
        "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "input": [side, side, 3],
        "output": [grid, grid, 21],
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference.export_people", description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--side", type=int, default=257, help="input side in pixels, 16·n + 1")
    args = parser.parse_args(argv)
    try:
        print(json.dumps(cut(args.source, args.out, args.side)))
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
