"""The code of a variational autoencoder: how much each latent dimension carries.

A VAE's sampling layer takes ``[z_mean, z_log_var]`` and returns a sample
``z`` of the same shape. After the training probe, on validation inputs:

* the KL divergence of each dimension's posterior from the N(0, 1) prior,
  ``0.5 * mean(mu^2 + exp(log_var) - 1 - log_var)`` (nats);
* the active dimensions: those whose ``z_mean`` varies across inputs
  (variance above ``ACTIVE_VAR``, the "active units" measure of Burda et
  al., 2016): a collapsed dimension says the same for every input;
* the reconstruction's sensitivity to ``z``: how much the output moves when
  ``z`` moves by one prior standard deviation (z_mean against z_mean plus a
  fixed N(0, 1) draw), relative to the targets' own spread. A decoder that
  ignores its code does not move.

Backend-neutral: eager forward passes on the probe's copy with the sampling
layer's inputs recorded (and its output replaced) through ``Layer.__call__``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import keras_compat as kc
from .batch_scaling import REPEAT, scaling_kind

# A dimension is active when Var_x(E[z|x]) exceeds this.
ACTIVE_VAR = 0.01
SAMPLES = 256


def find_sampling_layer(model: Any, layers: list[Any], x: np.ndarray) -> Any | None:
    """The first user-written (or Lambda) layer called on two same-shaped tensors that returns a new tensor of that shape."""
    candidates = [lyr for lyr in layers if not type(lyr).__module__.startswith("keras") or type(lyr).__name__ == "Lambda"]
    for layer in candidates:
        with kc.intercept_layer(layer) as calls:
            try:
                model(x[:8], training=False)
            except Exception:
                return None
        if not calls:
            continue
        args, out = calls[0]
        parts = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
        if len(parts) != 2 or isinstance(out, (list, tuple, dict)):
            continue
        arrays = [kc.to_numpy(p) for p in parts]
        result = kc.to_numpy(out)
        if not arrays[0].shape == arrays[1].shape == result.shape:
            continue
        # A loss layer hands one of its inputs through unchanged (a VAE's
        # reconstruction term reads [target, reconstruction]); a sampling
        # layer returns something new.
        if any(np.array_equal(a, result) for a in arrays):
            continue
        # ...and it draws: called again on the same inputs it gives another
        # sample (a deterministic merge of two tensors is no sampling layer).
        try:
            again = kc.to_numpy(layer(args[0] if len(args) == 1 else list(args)))
        except Exception:
            continue
        if np.array_equal(again, result):
            continue
        return layer
    return None


# The sampling layer's contract, measured on controlled inputs: z = z_mean + exp(0.5 * z_log_var) * eps.
# Rows of CONTRACT_N samples at z_mean = 0 and log-variances -2, 0, 2, and one row at z_mean = 3.
CONTRACT_N = 512
CONTRACT_LOG_VARS = (-2.0, 0.0, 2.0)
CONTRACT_SHIFT = 3.0
# A layer whose second input is a standard deviation or variance itself (``z_mean + sigma * eps``) is
# read on positive values too.
CONTRACT_SCALES = (0.25, 4.0)


def sampling_contract(model: Any, layer: Any, x: np.ndarray) -> dict[str, Any] | None:
    """How the sampling layer's sample follows its inputs: its mean and spread at set ``z_mean`` and ``z_log_var``.

    A correct reparameterisation (``z_mean + exp(0.5 * z_log_var) * eps``)
    gives a sample centred on ``z_mean`` whose standard deviation grows as
    ``exp(0.5 * z_log_var)`` (or ``exp(z_log_var)`` where the head is a log
    standard deviation). Called on the probe's copy only; None when the
    layer can't be called on such inputs.
    """
    with kc.intercept_layer(layer) as calls:
        model(x[:8], training=False)
    if not calls:
        return None
    args = calls[0][0]
    packed = len(args) == 1
    mean_in = kc.to_numpy(_parts(args)[0])
    shape, dtype = mean_in.shape[1:], mean_in.dtype
    ops = kc.keras.ops

    def draw(mu: float, log_var: float, swapped: bool) -> np.ndarray:
        a = ops.convert_to_tensor(np.full((CONTRACT_N, *shape), mu, dtype=dtype))
        b = ops.convert_to_tensor(np.full((CONTRACT_N, *shape), log_var, dtype=dtype))
        if swapped:
            a, b = b, a
        out = layer([a, b]) if packed else layer(a, b)
        return kc.to_numpy(out).astype(np.float64).reshape(CONTRACT_N, -1)

    def rows(swapped: bool) -> list[dict[str, Any]]:
        out = []
        for mu, lv in [*((0.0, v) for v in (*CONTRACT_LOG_VARS, *CONTRACT_SCALES)), (CONTRACT_SHIFT, 0.0)]:
            z = draw(mu, lv, swapped)
            finite = bool(np.all(np.isfinite(z)))
            out.append({
                "z_mean": mu,
                "log_var": lv,
                "finite": finite,
                "mean": float(np.mean(z)) if finite else None,
                "std": float(np.mean(np.std(z, axis=0))) if finite else None,
            })
        return out

    # The swapped order tells a layer that takes [z_log_var, z_mean] from a wrong one.
    return {"layer": layer.name, "rows": rows(False), "swapped": rows(True)}


def latent_stats(model: Any, layer: Any, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """KL per dimension, active dimensions and the output's sensitivity to ``z`` (see the module doc)."""
    x, y = x[:SAMPLES], y[:SAMPLES]
    with kc.intercept_layer(layer, replace=lambda args, out: _first(args)) as calls:
        base = kc.to_numpy(model(x, training=False))
    added = _own_added_loss(layer)
    parts = _parts(calls[0][0])
    mu = kc.to_numpy(parts[0]).astype(np.float64).reshape(len(x), -1)
    log_var = np.clip(kc.to_numpy(parts[1]).astype(np.float64).reshape(len(x), -1), -30, 30)
    noise = np.random.default_rng(0).standard_normal(mu.shape).astype("float32").reshape(kc.to_numpy(parts[0]).shape)

    def shifted(args: tuple[Any, ...], out: Any) -> Any:
        return kc.keras.ops.add(_first(args), kc.keras.ops.convert_to_tensor(noise, dtype=out.dtype))

    with kc.intercept_layer(layer, replace=shifted):
        moved = kc.to_numpy(model(x, training=False))
    kl = 0.5 * np.mean(mu**2 + np.exp(log_var) - 1.0 - log_var, axis=0)
    var_mu = np.var(mu, axis=0)
    y_spread = float(np.mean(np.std(y.reshape(len(y), -1).astype(np.float64), axis=0)))
    moved_by = float(np.mean(np.abs(moved.astype(np.float64) - base.astype(np.float64))))
    return {
        "layer": layer.name,
        "dims": int(mu.shape[1]),
        "kl_per_dim": [float(v) for v in kl],
        "kl_total": float(np.sum(kl)),
        "mean_variance": [float(v) for v in var_mu],
        "active_dims": int(np.sum(var_mu > ACTIVE_VAR)),
        "z_sensitivity": moved_by / y_spread if y_spread > 0 else None,
        "added_loss": added,
        "added_by_layer": _added_by_layer(model, layer),
    }


def _added_by_layer(model: Any, sampling: Any) -> dict[str, dict[str, Any]]:
    """What each layer but ``sampling`` added itself with ``add_loss`` on the last call.

    Keyed by layer name: ``{"class": name, "value": v}``; the class names where the cell computes it.
    A layer with sublayers of its own counts too (round 27: a ``SparseCode`` layer that owns its
    Dense and adds a sparsity KL), so each layer's *own* terms are read, not its sublayers'.
    """
    out: dict[str, dict[str, Any]] = {}
    try:
        layers = list(model._flatten_layers(include_self=False))
    except Exception:  # a train_step model's forward is a function, not a Model: its layers are not listed
        return out
    for lay in layers:
        if lay is sampling:
            continue
        try:
            own = lay._get_own_losses()
            v = float(np.sum([float(np.sum(kc.to_numpy(t))) for t in own])) if own else None
        except Exception:  # a term that can't be read only loses evidence
            v = None
        if v is not None:
            out[lay.name] = {"class": type(lay).__name__, "value": v}
    return out


def added_terms(model: Any, x: np.ndarray) -> dict[str, dict[str, Any]] | None:
    """Each layer's own ``add_loss`` terms after one forward pass on ``x[:SAMPLES]`` (a model without a
    sampling layer; see :func:`_added_by_layer`), or None when the pass or the reading fails."""
    try:
        model(x[:SAMPLES], training=False)
        return _added_by_layer(model, None)
    except Exception:  # only evidence for the sign check is lost
        return None


def per_sample_added(model: Any, batch: int) -> list[dict[str, Any]]:
    """Layers (the model itself included) whose own ``add_loss`` term on the last call has one value per sample.

    Keras 3 sums every added term, so a per-sample vector (a KL computed with ``axis=-1`` and no mean) counts
    ``batch`` times: its weight against the mean-reduced compiled loss grows with the batch size. Each row is
    ``{"layer", "class", "shape"}``; empty when nothing is read.
    """
    out: list[dict[str, Any]] = []
    try:
        layers = list(model._flatten_layers(include_self=True))
    except Exception:  # a model whose layers can't be listed only loses this evidence
        return out
    for lay in layers:
        try:
            shapes = [tuple(int(d) for d in np.shape(kc.to_numpy(t))) for t in lay._get_own_losses()]
        except Exception:  # a term that can't be read only loses evidence
            continue
        hit = next((sh for sh in shapes if len(sh) >= 1 and sh[0] == batch and batch > 1), None)
        if hit is not None:
            out.append({"layer": lay.name, "class": type(lay).__name__, "shape": list(hit)})
    return out


def _own_terms(model: Any) -> dict[str, tuple[str, float]]:
    """Each layer's (the model's own included) ``add_loss`` total on the last call: name -> (class, value)."""
    out: dict[str, tuple[str, float]] = {}
    for lay in model._flatten_layers(include_self=True):
        own = lay._get_own_losses()
        if own:
            out[lay.name] = (type(lay).__name__, float(np.sum([float(np.sum(kc.to_numpy(t))) for t in own])))
    return out


def batch_summed_added(model: Any, x: np.ndarray, skip: set[str]) -> list[dict[str, Any]]:
    """Layers whose scalar ``add_loss`` term is a sum over the batch (``ops.sum(ops.abs(z))``), measured.

    The model runs on ``x`` and on ``x`` repeated REPEAT times; a term averaged over the batch stays as it
    was, one summed over it grows REPEAT-fold, and then weighs batch-size times against the compiled loss
    (a mean over the batch), as a per-sample vector does (:func:`per_sample_added`; its layers, ``skip``, are
    left out here). Rows ``{"layer", "class", "shape": [], "values": [small, repeated]}``; empty when nothing is
    read. A term that reads exactly 0 on both batches (its penalty has already zeroed what it penalises, round
    56's bx07) can't show how it scales: its row has ``"zero": True`` and the check reads the source instead.
    Runs forward passes: for a copy of the user's model only.
    """
    try:
        model(x, training=False)
        small = _own_terms(model)
        model(np.concatenate([x] * REPEAT), training=False)
        big = _own_terms(model)
    except Exception:  # a model that can't run on these batches only loses this evidence
        return []
    out = []
    for name, (cls, a) in small.items():
        b = big.get(name, (cls, float("nan")))[1]
        if name in skip:
            continue
        if a == 0 and b == 0:
            out.append({"layer": name, "class": cls, "shape": [], "values": [0.0, 0.0], "zero": True})
            continue
        if a <= 0:
            continue
        if scaling_kind(a, b) == "sum":
            out.append({"layer": name, "class": cls, "shape": [], "values": [a, b]})
    return out


def _own_added_loss(layer: Any) -> float | None:
    """The sum of what the sampling layer itself added with ``add_loss`` on the last call (a KL term), or None."""
    try:
        terms = [float(np.sum(kc.to_numpy(v))) for v in layer.losses]
    except Exception:  # a term that can't be read only loses evidence
        return None
    return float(np.sum(terms)) if terms else None


def _parts(args: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (list, tuple)) else args


def _first(args: tuple[Any, ...]) -> Any:
    """``z_mean``: the sampling layer's first input."""
    return _parts(args)[0]
