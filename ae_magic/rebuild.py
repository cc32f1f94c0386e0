"""Rebuild a Functional/Sequential autoencoder with another code (latent) width.

The model is rebuilt from its config with the code layer's ``units`` (Dense,
recurrent) or ``filters`` (conv) changed. The layers that must change with it
change with it: the layers after the code are rebuilt from config without
their recorded build shapes, so they take the new width on their first call,
and a nested decoder whose ``Input`` has the old code width gets the new one.
Weights are copied by layer name wherever the shapes still match, so the
rest of the model starts where the user's model is. The user's model is only
read (``get_config``, ``get_weights``).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from . import keras_compat as kc
from .errors import RebuildError, describe
from .probes import leaf_layers

keras = kc.keras

SUBCLASSED_MESSAGE = (
    "latent size can't be changed for subclassed models: ae_magic rebuilds the model from its config, "
    "which a subclassed model does not describe. Change the code width in your class and re-run the cell."
)
# Config keys that set a layer's output width, in the order they are tried.
WIDTH_KEYS = ("units", "filters")




def _width(layer: Any) -> int | None:
    try:
        shape = layer.output.shape
    except Exception:
        return None
    return kc.width_of(shape)


def find_code_layer(model: Any) -> tuple[Any, str] | None:
    """``(layer, config_key)`` of the layer that sets the code width, or None.

    The code is the narrowest inner layer output (the model's output layer
    excluded); the layer that sets its width is the last layer at or before
    it, within the run of equally wide layers, with ``units``/``filters``.
    """
    if kc.model_kind(model) == "subclassed" or not kc.is_built(model):
        return None
    leaves = leaf_layers(model)
    widths = [(layer, _width(layer)) for layer in leaves[:-1]]
    known = [w for _, w in widths if w is not None]
    if not known:
        return None
    narrow = min(known)
    last = max(i for i, (_, w) in enumerate(widths) if w == narrow)
    for j in range(last, -1, -1):
        layer, w = widths[j]
        if w != narrow:
            return None
        cfg = _config(layer)
        for key in WIDTH_KEYS:
            if isinstance(cfg.get(key), int):
                return layer, key
    return None


def current_latent(model: Any) -> int | None:
    """The code layer's ``units``/``filters`` (the panel slider's value), or None."""
    found = find_code_layer(model)
    if found is None:
        return None
    layer, key = found
    return int(_config(layer)[key])


def _config(layer: Any) -> dict[str, Any]:
    """``layer.get_config()``, or {} for a custom layer that has none (NotImplementedError)."""
    try:
        cfg = layer.get_config()
    except Exception:
        return {}
    return cfg if isinstance(cfg, dict) else {}


def can_change_latent(model: Any) -> tuple[bool, str]:
    """Whether :func:`rebuild_with_latent` can work on ``model``, and why not."""
    if not kc.is_model(model):
        return False, "not a Keras model."
    if kc.model_kind(model) == "subclassed":
        return False, SUBCLASSED_MESSAGE
    if not kc.is_built(model):
        return False, "the model is not built yet (no Input): build it, or run check() with data first."
    if find_code_layer(model) is None:
        return False, "no Dense, convolutional or recurrent layer sets the code width, so there is no latent size to change."
    try:
        model.get_config()
    except Exception as exc:  # e.g. a custom layer without get_config(): NotImplementedError
        return False, f"the model's config can't be read ({describe(exc)}); give every custom layer a get_config()."
    return True, ""


def rebuild_with_latent(model: Any, latent: int) -> tuple[Any, dict[str, Any]]:
    """A new, uncompiled model with code width ``latent``, weights copied where shapes match.

    Returns ``(model, info)``; ``info`` names the code layer, the old and new
    width, and which layers kept the user's weights. Raises
    :class:`RebuildError` with a readable message when it can't.
    """
    latent = int(latent)
    if latent < 1:
        raise RebuildError(f"latent size must be at least 1, got {latent}.")
    ok, reason = can_change_latent(model)
    if not ok:
        raise RebuildError(reason)
    found = find_code_layer(model)
    assert found is not None  # can_change_latent checked it
    code, key = found
    try:
        old = int(code.get_config()[key])
        cfg = copy.deepcopy(model.get_config())
    except Exception as exc:
        raise RebuildError(f"the model's config can't be read ({describe(exc)}); give every custom layer a get_config().") from None
    if not _set_width(cfg, code.name, key, latent):
        raise RebuildError(f"couldn't find layer {code.name!r} in the model's config.")
    _retarget_inputs(cfg, old, latent, top=True)
    _drop_build_configs(cfg)
    custom = {type(layer).__name__: type(layer) for layer in _all_layers(model)}
    try:
        with keras.saving.custom_object_scope(custom):
            new = type(model).from_config(cfg)
    except Exception as exc:
        raise RebuildError(f"rebuilding with {key}={latent} in {code.name!r} failed: {describe(exc)}") from None
    copied, fresh = _copy_weights(model, new)
    kc.finalize_states(new)  # an adapted Normalization's constants, from the weights just copied
    info = {"layer": code.name, "param": key, "old": old, "new": latent, "copied": copied, "fresh": fresh}
    return new, info


# -- config surgery ------------------------------------------------------------
def _layer_entries(cfg: Any) -> list[dict[str, Any]]:
    """Every ``{"class_name", "config"}`` entry in a (nested) model config."""
    out: list[dict[str, Any]] = []
    if isinstance(cfg, dict):
        if "class_name" in cfg and isinstance(cfg.get("config"), dict):
            out.append(cfg)
        for v in cfg.values():
            out += _layer_entries(v)
    elif isinstance(cfg, list):
        for v in cfg:
            out += _layer_entries(v)
    return out


def _set_width(cfg: dict[str, Any], name: str, key: str, value: int) -> bool:
    done = False
    for entry in _layer_entries(cfg):
        if entry["config"].get("name") == name and key in entry["config"]:
            entry["config"][key] = value
            done = True
    return done


def _retarget_inputs(cfg: Any, old: int, new: int, *, top: bool) -> None:
    """A nested model fed by the code (its ``Input`` is ``(None, old)``) gets ``(None, new)``.

    The top-level model's own inputs are the data's and never change.
    """
    for entry in _layer_entries(cfg.get("config", cfg) if top else cfg):
        if entry["class_name"] not in ("Functional", "Sequential", "Model"):
            continue
        for sub in _layer_entries(entry["config"].get("layers", [])):
            if sub["class_name"] != "InputLayer":
                continue
            shape = sub["config"].get("batch_shape") or sub["config"].get("batch_input_shape")
            if isinstance(shape, (list, tuple)) and len(shape) == 2 and shape[-1] == old:
                key = "batch_shape" if "batch_shape" in sub["config"] else "batch_input_shape"
                sub["config"][key] = [shape[0], new]


def _drop_build_configs(cfg: Any) -> None:
    # Recorded build shapes would build the layers after the code for the old
    # width; without them they build on their first call, with the new one.
    if isinstance(cfg, dict):
        cfg.pop("build_config", None)
        cfg.pop("compile_config", None)
        for v in cfg.values():
            _drop_build_configs(v)
    elif isinstance(cfg, list):
        for v in cfg:
            _drop_build_configs(v)


def _all_layers(model: Any) -> list[Any]:
    out: list[Any] = []
    for layer in getattr(model, "layers", []):
        out.append(layer)
        if isinstance(layer, keras.Model):
            out += _all_layers(layer)
    return out


def _copy_weights(src: Any, dst: Any) -> tuple[list[str], list[str]]:
    by_name = {layer.name: layer for layer in leaf_layers(src)}
    copied: list[str] = []
    fresh: list[str] = []
    for layer in leaf_layers(dst):
        old = by_name.get(layer.name)
        if old is None or not layer.weights:
            continue
        pairs = list(zip(layer.weights, old.weights, strict=False))
        if len(layer.weights) == len(old.weights) and all(tuple(a.shape) == tuple(b.shape) for a, b in pairs):
            for a, b in pairs:
                a.assign(np.asarray(b.numpy()))
            copied.append(layer.name)
        else:
            fresh.append(layer.name)
    return copied, fresh
