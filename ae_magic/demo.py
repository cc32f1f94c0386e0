"""``ae-magic demo``: the quickstart's broken autoencoder, diagnosed on bundled MNIST.

The cell below is the same one ``notebooks/00-quickstart.ipynb`` checks (a
test keeps them in step). It packs three classic mistakes into eight lines:
raw 0-255 pixels, a sigmoid code layer and a learning rate of 0.1.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

from .report import Report

DEFAULT_HTML = "ae_magic_demo_report.html"

# Prepared before the checked cell, as in the notebook: 2,000 digits as raw
# pixels. The missing ``/ 255`` is the first mistake.
DATA_CELL = """\
from ae_magic.datasets import load

x_train = load(normalize=False, flatten=True)[:2000]  # raw pixels, 0-255
"""

BROKEN_CELL = """\
import keras
from keras import layers

inputs = keras.Input(shape=(784,))
h = layers.Dense(128, activation="relu")(inputs)
code = layers.Dense(32, activation="sigmoid")(h)
h = layers.Dense(128, activation="relu")(code)
outputs = layers.Dense(784, activation="sigmoid")(h)
autoencoder = keras.Model(inputs, outputs)
autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate=0.1), loss="mse")
"""

FIXED_DATA_CELL = """\
x_train = load(flatten=True)[:2000]  # float32 in [0, 1]
"""

FIXED_CELL = """\
import keras
from keras import layers

inputs = keras.Input(shape=(784,))
h = layers.Dense(128, activation="relu")(inputs)
code = layers.Dense(32, activation="relu")(h)
h = layers.Dense(128, activation="relu")(code)
outputs = layers.Dense(784, activation="sigmoid")(h)
autoencoder = keras.Model(inputs, outputs)
autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mse")
"""


def run_demo(out_html: str | os.PathLike[str] | None = None, *, train: bool = True, quiet: bool = False) -> Report:
    """Check the quickstart's broken autoencoder, print the findings, write an HTML report.

    ``out_html`` defaults to ``ae_magic_demo_report.html`` in the current
    directory. ``train=False`` skips the gradient/training probes (seconds
    instead of tens of seconds). Returns the :class:`Report`.
    """
    from . import keras_compat  # noqa: F401 - quiets TF's C++ logs before the cell imports keras
    from .api import check

    namespace: dict[str, Any] = {}
    exec(compile(DATA_CELL, "<ae-magic demo: data>", "exec"), namespace)
    report = check(BROKEN_CELL, namespace=namespace, data="x_train", train=train, label="ae-magic demo")
    path = Path(out_html if out_html is not None else DEFAULT_HTML)
    written = write_report_html(report, path)
    if not quiet:
        print(report_text(report))
        print()
        print(f"HTML report: {written.resolve()}")
    return report


def write_report_html(report: Report, path: Path) -> Path:
    """The panel's static HTML report, or a plain-text page until the renderer exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        from .render.html import write_html
    except ImportError:
        write_html = None
    if write_html is not None:
        write_html(report, str(path))
        return path
    page = (
        "<!doctype html><meta charset='utf-8'><title>ae_magic report</title>"
        f"<pre>{html.escape(report_text(report))}</pre>"
    )
    path.write_text(page, encoding="utf-8")
    return path


def report_text(report: Report) -> str:
    """``report.text()``, or a plain listing while the text renderer is missing."""
    try:
        return report.text()
    except ImportError:
        lines = [f"{f.severity.upper():7} {f.code} {f.title}: {f.message}" for f in report.findings]
        return "\n".join(lines) or "No findings."
