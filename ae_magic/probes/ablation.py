"""The code ablated: does the trained copy's reconstruction still follow its input without the code?

A model with no layer graph (a subclassed ``call``) can route its input
around the code where no graph shows it: round 82's gb07, a GRU seq2seq
whose ``call`` feeds the decoder ``decoder_inputs = inputs`` ("teacher
forcing", unshifted), so each output step copies the same input step. Here
every inner layer at most ``NARROW`` times the code's width (the code, a
VAE's ``z_mean``/``z_log_var``/``z`` alike) has its output replaced by its
batch mean on one eager forward pass of the trained copy. A model that
reconstructs through its code then outputs about the same for every input
(error near the per-feature mean's); one that still reconstructs its input
goes around the code (AE103, ``checks/code_ablation.py``).

Runs on the probes' copy only, after its training run and before its
weights are put back; each patched layer's ``call`` is restored at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .. import keras_compat as kc

# Inner layers at most this many times the code's width are ablated with it.
NARROW = 2
# Samples of the validation split the ablated pass reads.
ROWS = 256


@contextlib.contextmanager
def _batch_means(layers: list[Any]) -> Iterator[None]:
    """Each of ``layers`` returns its outputs' batch means (broadcast back to their shapes) meanwhile."""
    ops = kc.keras.ops

    def mean_of(t: Any) -> Any:
        if not kc.keras.ops.is_tensor(t) and not isinstance(t, np.ndarray):
            return t
        return ops.broadcast_to(ops.mean(t, axis=0, keepdims=True), ops.shape(t))

    patched = []
    try:
        for layer in layers:
            original = layer.call

            def call(*args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
                return kc.keras.tree.map_structure(mean_of, _original(*args, **kwargs))

            had = "call" in layer.__dict__
            layer.call = call
            patched.append((layer, original, had))
        yield
    finally:
        for layer, original, had in patched:
            if had:
                layer.call = original
            else:
                with contextlib.suppress(AttributeError):
                    del layer.call


def code_ablation(layers: list[Any], widths: dict[str, int], output_layers: set[str], code_width: int | None,
                  forward: Callable[[np.ndarray], Any], x: np.ndarray, r: np.ndarray) -> dict[str, Any] | None:
    """``{"layers", "ablated_mse", "mean_mse"}``: the reconstruction's MSE against ``r`` with the narrow inner layers
    ablated, and the per-feature mean's; None when there is no code or the ablated pass fails."""
    if not code_width or len(x) < 8:
        return None
    names = {n for n, w in widths.items() if n not in output_layers and w <= NARROW * code_width}
    chosen = [la for la in layers if la.name in names]
    if not chosen:
        return None
    xb, rb = np.asarray(x[:ROWS]), np.asarray(r[:ROWS], dtype=np.float64)
    try:
        with kc.preserved_random_state(), _batch_means(chosen):
            out = np.asarray(kc.to_numpy(forward(xb)), dtype=np.float64)
    except Exception:  # a call the patch does not survive: nothing is claimed
        return None
    if out.shape != rb.shape or not np.all(np.isfinite(out)):
        return None
    return {"layers": sorted(names), "ablated_mse": float(np.mean((out - rb) ** 2)),
            "mean_mse": float(np.mean((rb - rb.mean(axis=0)) ** 2))}
