"""What a model folder holds: `inference.train` writes these files and the bot reads them.

Everything the bot needs of a model is in its one folder, so a model is
swapped by swapping the folder (`MODEL_DIR`). Importing this module loads
no model runtime.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "flowers"
MODEL_FILE = "model.tflite"  # what the bot serves (LiteRT)
PRECISIONS = ("int8", "fp16", "fp32")  # how model.tflite may store the network (inference.export)
EARLIER_PRECISION = "fp16"  # what a model exported before metrics.json recorded its precision holds
KERAS_FILE = "model.keras"  # the same graph for inference.evaluate (not committed)
LABELS_FILE = "labels.json"  # class names, version, output layout
METRICS_FILE = "metrics.json"
CARD_FILE = "MODEL_CARD.md"
STATS_FILE = "class_stats.npz"  # the classes' mean embeddings and pooled scatter
REGIONS_FILE = "open_set.json"  # the radius within which a class claims a photo
TAUGHT_FILE = "taught.npz"  # labels taught in the chat, folded in at training
