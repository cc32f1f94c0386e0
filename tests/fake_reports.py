"""Hand-built Reports following the shared trace schema, so the renderers
(plots, HTML, panel) can be tested without Keras or the engine.
"""

from __future__ import annotations

import math
from typing import Any

from ae_magic.report import Finding, Report


def training_trace(lr: float = 1e-3, epochs: int = 3, spe: int = 4, image: bool = False, start: float = 0.5,
                   diverge: bool = False) -> dict[str, Any]:
    """A plausible traces["training"] dict."""
    steps = epochs * spe
    loss = [start * math.exp(-0.15 * k) for k in range(steps)]
    if diverge:
        loss[-2:] = [float("nan"), float("nan")]
    shape = [8, 8] if image else [6]
    width = math.prod(shape)
    inputs = [[((i * 7 + j) % 11) / 10 for j in range(width)] for i in range(4)]
    before = [[0.5 for _ in range(width)] for _ in range(4)]
    after = [[v * 0.9 + 0.05 for v in row] for row in inputs]
    return {
        "lr": lr,
        "epochs": epochs,
        "steps_per_epoch": spe,
        "batch_size": 32,
        "subset": 128,
        "loss": loss,
        "epoch_loss": [sum(loss[e * spe:(e + 1) * spe]) / spe for e in range(epochs)],
        "val_loss": [loss[(e + 1) * spe - 1] * 1.1 for e in range(epochs)],
        "grad_steps": [0, spe, 2 * spe],
        "grad_norms": {"enc": [0.5, 0.3, 0.2], "code": [0.2, 0.1, 0.05], "dec": [1.0, 0.7, 0.4]},
        "recon": {"shape": shape, "indices": [0, 1, 2, 3], "inputs": inputs, "before": before, "after": after},
        "baselines": {"mean": start * 0.8, "pca": start * 0.2, "pca_width": 2, "final": loss[-1]},
        "output_spread": 0.3,
        "input_spread": 0.32,
    }


def gradients_trace() -> dict[str, Any]:
    """A plausible traces["gradients"] dict."""
    return {
        "layers": [
            {"layer": "enc", "class": "Dense", "activation": "relu", "grad_norm": 0.5, "n_vars": 2, "none_vars": 0,
             "zero_vars": 0, "dead_share": 0.25, "saturated_share": None},
            {"layer": "code", "class": "Dense", "activation": "sigmoid", "grad_norm": 1e-4, "n_vars": 2,
             "none_vars": 0, "zero_vars": 0, "dead_share": None, "saturated_share": 0.8},
            {"layer": "dec", "class": "Dense", "activation": "linear", "grad_norm": 1.2, "n_vars": 2, "none_vars": 0,
             "zero_vars": 0, "dead_share": None, "saturated_share": None},
            {"layer": "stray", "class": "Dense", "activation": "relu", "grad_norm": 0.0, "n_vars": 2, "none_vars": 2,
             "zero_vars": 0, "dead_share": None, "saturated_share": None},
        ],
        "batches": 2,
    }


def graph_dict() -> dict[str, Any]:
    """A graph in the shape report.model["graph"] carries (GraphInfo.to_dict)."""
    def node(i: int, name: str, cls: str, parents: list[int], width: int, act: str | None = None,
             line: int | None = None) -> dict[str, Any]:
        return {"id": i, "name": name, "class": cls, "parents": parents, "shape": [None, width], "width": width,
                "activation": act, "is_input": cls == "Input", "line": line, "variable": name}

    return {
        "kind": "functional",
        "has_graph": True,
        "nodes": [
            node(0, "input_layer", "Input", [], 6, line=1),
            node(1, "enc", "Dense", [0], 4, "relu", 2),
            node(2, "code", "Dense", [1], 2, "sigmoid", 3),
            node(3, "concat", "Concatenate", [2, 0], 8, None, 4),
            node(4, "dec", "Dense", [3], 6, "linear", 5),
        ],
        "inputs": [0],
        "outputs": [4],
        "main_path": [0, 1, 2, 3, 4],
        "code": 2,
        "code_width": 2,
        "input_width": 6,
        "bypass_paths": [[0, 3, 4]],
        "n_paths": 2,
        "divergence": None,
    }


FINDINGS = [
    Finding(code="AE106", severity="warning", title="Saturating bottleneck",
            message="The code layer `code` uses sigmoid <script>alert(1)</script>.", line=4, layer="code",
            evidence={"activation": "sigmoid", "saturated_share": 0.8},
            fix="code = Dense(2, activation='relu')(h)", source_line="code = Dense(2, activation='sigmoid')(h)"),
    Finding(code="AE102", severity="error", title="Dangling layer", message="`stray` never reaches the output.",
            line=6, layer="stray", evidence={"variable": "stray"}, fix="# delete the line, or use `stray`",
            source_line="stray = Dense(3)(inp)"),
    Finding(code="AE406", severity="info", title="Learning-rate suggestion",
            message="lr 3e-3 learns faster than 1e-3.", evidence={"suggested": 3e-3, "configured": 1e-3}),
]


def make_report(lr: float = 1e-3, latent: int | None = 2, image: bool = False, findings: bool = True,
                diverge: bool = False, label: str | None = None) -> Report:
    """A complete hand-built report with every trace and a graph."""
    rep = Report(
        findings=[Finding(**f.__dict__) for f in FINDINGS] if findings else [],
        model={"variable": "autoencoder", "name": "ae", "kind": "functional", "input_shape": [None, 6],
               "output_shape": [None, 6], "params": 120, "compiled": True, "loss": "mse", "graph": graph_dict()},
        data={"name": "x", "shape": [128, 6], "dtype": "float32"},
        traces={
            "gradients": gradients_trace(),
            "training": training_trace(lr=lr, image=image, diverge=diverge),
            "lr_range": {"lrs": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1], "losses": [0.5, 0.45, 0.3, 0.2, 2.0],
                         "suggested": 1e-2, "configured": lr},
        },
        params={"train": True, "lr": lr, "latent": latent, "epochs": 3},
        source="x = 1\n",
        label=label,
        notes=["no optimizer: probes use Adam(1e-3)"],
    )
    rep.sort()
    return rep
