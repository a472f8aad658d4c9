"""The command line the model benchmarks share: `--model`, a check that what they read is there, figures as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from inference.model_folder import DEFAULT_MODEL_DIR


def model_benchmark(
    argv: list[str] | None,
    name: str,
    doc: str,
    needs: Callable[[argparse.Namespace], list[Path]],
    measure: Callable[[argparse.Namespace], dict],
    options: Callable[[argparse.ArgumentParser], object] = lambda parser: None,
) -> int:
    """Parse `--model` (and `options`), refuse in one line when a file or folder it `needs` is missing (exit 2),
    else print what `measure` returns."""
    parser = argparse.ArgumentParser(prog=f"python -m bench.{name}", description=doc.split("\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    options(parser)
    args = parser.parse_args(argv)
    missing = [str(path) for path in needs(args) if not path.exists()]
    if missing:
        print(f"error: {', '.join(missing)} missing (python -m bench.{name} --help says why)", file=sys.stderr)
        return 2
    print(json.dumps(measure(args), indent=2))
    return 0
