"""The fault catalogue: every code a finding may carry, in one place.

The codes are a public interface (tests, the JSON report, the CLI and the
docs name them): a code never changes meaning once it has shipped, new codes
go at the end of their family, retired codes are never reused.
``docs/faults.md`` is the catalogue's documentation; ``tests/test_catalogue.py``
holds it, the README and every ``code="AE..."`` in ae_magic to this module,
and ``report.Finding`` refuses a code that is not here.

``severity`` is the default; a finding may change it with evidence (AE106 is
a warning from the structure alone, an error when the probe measures the code
saturated; AE112 is a warning when ae_magic could build a copy from the data).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Family = Literal["structure", "data", "gradients", "training"]


@dataclass(frozen=True)
class Fault:
    """One catalogue entry."""

    code: str
    name: str
    family: Family
    severity: Literal["error", "warning", "info"]
    title: str
    # False for a code the catalogue defines but no check of ae_magic emits yet.
    detected: bool = True


_FAULTS = (
    # AE1xx: structure (from the model and the cell's source, no training)
    Fault("AE100", "cell-error", "structure", "error", "The cell raised an exception"),
    Fault("AE101", "graph-disconnected", "structure", "error", "An output is not connected to the model's inputs"),
    Fault("AE102", "dangling-layer", "structure", "warning", "A layer's output never reaches the model's output"),
    Fault("AE103", "bottleneck-bypass", "structure", "warning", "A path from the input to the output bypasses the bottleneck"),
    Fault("AE104", "no-compression", "structure", "warning", "The code is at least as wide as the input"),
    Fault("AE105", "shape-mismatch", "structure", "error", "The reconstruction's shape differs from the input's"),
    Fault("AE106", "saturating-bottleneck", "structure", "warning", "Saturating activation in the bottleneck"),
    Fault("AE107", "saturating-stack", "structure", "warning", "Three or more saturating hidden layers in a row"),
    Fault("AE108", "output-loss-mismatch", "structure", "warning", "Output activation and loss disagree"),
    Fault("AE109", "not-compiled", "structure", "info", "The model is not compiled"),
    Fault("AE110", "bad-initializer", "structure", "warning", "Initial weights are constant or badly scaled"),
    Fault("AE111", "output-ignores-input", "structure", "error", "The output does not depend on the input"),
    Fault("AE112", "unbuilt-model", "structure", "error", "The model has no input shape"),
    Fault("AE113", "subclassed-model", "structure", "info", "Subclassed model: no layer graph to analyse"),
    # AE2xx: data (needs the data the model will train on)
    Fault("AE201", "data-not-normalized", "data", "warning", "The data is not normalised"),
    Fault("AE202", "data-nonfinite", "data", "error", "NaN or Inf values in the data"),
    Fault("AE203", "data-out-of-output-range", "data", "warning", "Targets lie outside the output's range"),
    Fault("AE204", "data-shape-mismatch", "data", "error", "The data's shape does not fit the model's input"),
    Fault("AE205", "data-degenerate", "data", "warning", "The data is constant or mostly zeros"),
    # AE3xx: gradients (a few forward/backward passes on a copy of the model)
    Fault("AE301", "no-gradient", "gradients", "warning", "Trainable weights get no gradient"),
    Fault("AE302", "vanishing-gradient", "gradients", "warning", "Gradients vanish toward the input"),
    Fault("AE303", "exploding-gradient", "gradients", "warning", "Gradients explode or become non-finite"),
    Fault("AE304", "dead-relu", "gradients", "warning", "Many ReLU units are dead"),
    Fault("AE305", "saturated-units", "gradients", "warning", "Many sigmoid/tanh units are saturated"),
    # AE4xx: training (a short run on a copy of the model)
    Fault("AE401", "loss-diverged", "training", "error", "The loss diverged"),
    Fault("AE402", "loss-stagnant", "training", "warning", "The loss barely moves"),
    Fault("AE403", "loss-oscillating", "training", "warning", "The loss oscillates"),
    Fault("AE404", "output-collapse", "training", "error", "The model outputs the same reconstruction for every input"),
    Fault("AE405", "worse-than-baseline", "training", "warning", "Reconstruction no better than a trivial baseline"),
    Fault("AE406", "learning-rate-suggestion", "training", "info", "Another learning rate learns clearly faster"),
    Fault("AE407", "posterior-collapse", "training", "warning", "Posterior collapse: the decoder ignores the code"),
)

CATALOGUE: dict[str, Fault] = {f.code: f for f in _FAULTS}
CODES: tuple[str, ...] = tuple(CATALOGUE)


def fault(code: str) -> Fault:
    """The catalogue entry of ``code``; KeyError for an unknown code."""
    return CATALOGUE[code]


def is_code(code: object) -> bool:
    """Whether ``code`` is a catalogue code."""
    return isinstance(code, str) and code in CATALOGUE
