"""The layer-graph plot: the chain from input to output with the bottleneck, dangling calls and bypasses."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure

from .plot_style import LITERAL, layer_label, layer_names, new_figure, text_label

if TYPE_CHECKING:
    from ..report import Report


def _dangling_names(report: Report) -> list[str]:
    """Layers the AE102 findings call dangling (they are not in the model's graph)."""
    out: list[str] = []
    for f in report.findings:
        if f.code == "AE102":
            name = f.layer or f.evidence.get("layer") or f.evidence.get("variable")
            if name and str(name) not in out:
                out.append(str(name))
    return out


def graph_lines(report: Report) -> dict[Any, int]:
    """Graph node id -> its cell line, counted as the findings count them.

    The graph's own node lines count from the cell's first line of code, while
    ``report.calls`` (and the findings) count as the user sees the cell: under
    ``%%ae_check`` the magic line is line 1. The calls' lines win for the
    layers they name; the shift they show applies to the other nodes (inputs).
    """
    graph = (report.model or {}).get("graph") or {}
    nodes = [n for n in graph.get("nodes") or [] if isinstance(n, dict)]
    by_layer: dict[str, int] = {}
    for c in report.calls:
        if isinstance(c, dict) and isinstance(c.get("line"), int) and isinstance(c.get("layer"), str):
            by_layer.setdefault(c["layer"], c["line"])
    shifts = [by_layer[n["name"]] - n["line"] for n in nodes
              if isinstance(n.get("line"), int) and n.get("name") in by_layer]
    shift = max(set(shifts), key=shifts.count) if shifts else 0
    out: dict[Any, int] = {}
    for i, n in enumerate(nodes):
        nid = n.get("id", i)
        if n.get("name") in by_layer:
            out[nid] = by_layer[n["name"]]
        elif isinstance(n.get("line"), int) and n["line"] > 0:
            out[nid] = n["line"] + shift
    return out


def graph_figure(report: Report) -> Figure | None:
    """The layer chain, input at the top, with the bottleneck, dangling calls and bypasses highlighted.

    Reads ``report.model["graph"]`` (``GraphInfo.to_dict``): nodes with ids and
    parents, ``main_path``, ``code`` (the bottleneck node) and ``bypass_paths``.
    """
    graph = (report.model or {}).get("graph")
    if not graph or not graph.get("has_graph", True):
        return None
    nodes = [n for n in graph.get("nodes") or [] if isinstance(n, dict)]
    if not nodes:
        return None
    by_id = {n.get("id", i): n for i, n in enumerate(nodes)}
    order = list(by_id)  # ids are topological: parents are added before children
    main = [i for i in graph.get("main_path") or [] if i in by_id]
    main_set = set(main)
    code = graph.get("code")
    main_edges = set(itertools.pairwise(main))
    bypass_edges: set[tuple[Any, Any]] = set()
    for path in graph.get("bypass_paths") or []:
        for a, b in itertools.pairwise(path):
            if (a, b) not in main_edges:
                bypass_edges.add((a, b))
    dangling = _dangling_names(report)
    # AE103 may name the layer that reads the input instead of the code: its
    # incoming edges are the bypass even when the graph has one path only.
    name_to_id = {str(n.get("name")): nid for nid, n in by_id.items()}
    for f in report.findings:
        reader = f.evidence.get("reader") if f.code == "AE103" else None
        rid = name_to_id.get(str(reader)) if reader is not None else None
        if rid is not None:
            for pid in by_id[rid].get("parents") or []:
                bypass_edges.add((pid, rid))
            if code == rid:
                code = None  # the narrowest layer found is the reader, not a real code
    lines = graph_lines(report)
    lnames = layer_names(report)
    y_of = {nid: float(k) for k, nid in enumerate(order)}
    x_of = {nid: (0.0 if (nid in main_set or not main) else 2.2) for nid in order}

    n = len(order)
    fig = new_figure(7.2, max(2.4, 0.36 * (n + len(dangling)) + 0.9))
    ax = fig.add_subplot()
    ax.set_xlim(-3.6, 4.6)
    ax.set_ylim(n - 0.3 + len(dangling), -0.8)
    ax.axis("off")
    for nid in order:
        for pid in by_id[nid].get("parents") or []:
            if pid not in y_of:
                continue
            red = (pid, nid) in bypass_edges
            color, lw = ("#d62728", 2.0) if red else ("0.45", 1.0)
            x0, y0, x1, y1 = x_of[pid], y_of[pid], x_of[nid], y_of[nid]
            if x0 == x1 and abs(y1 - y0) == 1:
                ax.annotate("", (x1, y1 - 0.28), (x0, y0 + 0.28),
                            arrowprops={"arrowstyle": "->", "color": color, "lw": lw})
            else:
                # Skips arc around the right side of the chain so they stay visible.
                ax.annotate("", (x1 + 1.0, y1), (x0 + 1.0, y0),
                            arrowprops={"arrowstyle": "->", "color": color, "lw": lw,
                                        "connectionstyle": "arc3,rad=-0.5"})
    if bypass_edges:
        ys = [y_of[b] for _, b in bypass_edges if b in y_of]
        ax.text(2.3, sum(ys) / len(ys), "bypasses the\nbottleneck", color="#d62728", fontsize=8, va="center", **LITERAL)
    for nid in order:
        node = by_id[nid]
        shape = node.get("shape") or []
        dims = "×".join("?" if d is None else str(d) for d in shape[1:])
        act = node.get("activation")
        text = f"{layer_label(lnames, node.get('name'))}  {text_label(node.get('class') or '')}  ({text_label(dims)})"
        if act and act != "linear":
            text += f"  {text_label(act)}"
        is_code = nid == code
        face = "#fde9b3" if is_code else ("#e8eef7" if nid in main_set or not main else "#f3e5f5")
        edge = "#d08c00" if is_code else "#6b7b93"
        ax.text(x_of[nid], y_of[nid], text, ha="center", va="center", fontsize=8.5, **LITERAL,
                bbox={"boxstyle": "round,pad=0.25", "fc": face, "ec": edge, "lw": 2 if is_code else 1})
        if lines.get(nid):
            ax.text(-3.5, y_of[nid], f"line {text_label(lines[nid])}", fontsize=8, va="center", color="0.45", **LITERAL)
        if is_code:
            ax.text(-2.6, y_of[nid], "bottleneck", color="#d08c00", fontsize=8, va="center", weight="bold", **LITERAL)
    for k, name in enumerate(dangling):
        ax.text(0, n + k, f"{text_label(name)}  (dangling: never reaches the output)", ha="center", va="center", fontsize=7.5,
                **LITERAL,
                color="#d62728", bbox={"boxstyle": "round,pad=0.25", "fc": "#fbd0d0", "ec": "#d62728", "ls": "--"})
    ax.set_title("Layer graph (input at the top)", fontsize=10, **LITERAL)
    return fig


