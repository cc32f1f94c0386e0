"""The context every check reads: the cell, the model, the data, the options.

Capture fills it, graph analysis adds ``graph``, probes add ``traces``; checks
are small functions ``(Context) -> list[Finding]`` that only read it (probes
also write their measurements into ``traces``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .options import Options

if TYPE_CHECKING:
    import numpy as np


@dataclass
class LayerCall:
    """One call of a Keras layer on symbolic tensors, made by the cell."""

    layer: Any
    line: int | None
    inputs: list[Any]
    outputs: list[Any]
    variable: str | None = None
    # Called by the cell's own code (not by Keras internals such as Sequential.build).
    direct: bool = True

    @property
    def layer_name(self) -> str:
        return str(getattr(self.layer, "name", "?"))

    @property
    def layer_class(self) -> str:
        return type(self.layer).__name__


@dataclass
class CellError:
    """An exception the cell raised, located in the cell."""

    exception: BaseException
    type: str
    message: str
    line: int | None
    traceback: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "message": self.message,
            "line": self.line,
            "traceback": self.traceback,
        }


@dataclass
class Context:
    """What the checks are given."""

    source: str | None = None
    namespace: dict[str, Any] = field(default_factory=dict)
    # Names the cell bound (new or rebound), in order of their last binding.
    bound: list[str] = field(default_factory=list)
    # name -> cell line of its last top-level assignment
    assign_lines: dict[str, int] = field(default_factory=dict)
    calls: list[LayerCall] = field(default_factory=list)
    cell_error: CellError | None = None
    model: Any = None
    model_name: str | None = None
    # Other Keras models the cell bound (name -> model).
    other_models: dict[str, Any] = field(default_factory=dict)
    data: np.ndarray | None = None
    data_name: str | None = None
    target: np.ndarray | None = None
    target_name: str | None = None
    options: Options = field(default_factory=Options)
    # graph.GraphInfo once analysed; typed Any so context does not import graph (graph reads Context).
    graph: Any = None
    traces: dict[str, Any] = field(default_factory=dict)
    # Assumptions the engine made that the report should state.
    notes: list[str] = field(default_factory=list)
    # Set by AE112 when the engine had to build an unbuilt model from data.
    built_from_data: bool = False
    # The namespace as it was before the cell ran (shallow copy).
    pre_namespace: dict[str, Any] = field(default_factory=dict, repr=False)
    # id(layer) -> cell line where the layer object was constructed.
    creation_lines: dict[int, int] = field(default_factory=dict, repr=False)
    # Memo for statistics several checks share (data min/max, samples).
    cache: dict[str, Any] = field(default_factory=dict, repr=False)
    # Family -> why it did not run (or gave up); becomes Report.coverage.
    skipped: dict[str, str] = field(default_factory=dict)
    # The findings of the checks that ran before (the engine's running list):
    # a probe may spare a confirmation run that another finding already explains.
    found: list[Any] = field(default_factory=list, repr=False)
    # Seconds per phase, filled by capture and the pipeline.
    timings: dict[str, float] = field(default_factory=dict)
    # The user's unbuilt Sequential when ``model`` is a copy built from the data's shape.
    unbuilt_original: Any = field(default=None, repr=False)
    # The code width of the probed model when a re-run rebuilt it (--latent).
    applied_latent: int | None = None
    # The probes' live session (copy of the model, compiled step), reused by re-runs.
    probe_session: Any = field(default=None, repr=False)
    # The user's model when ``model`` is a rebuild (another latent size).
    user_model: Any = field(default=None, repr=False)
    # True when ``model`` is ae_magic's own (a latent rebuild): probes may train it directly.
    owned_model: bool = False

    # -- helpers for messages ---------------------------------------------
    def cell_line(self, line: int | None) -> int | None:
        """A capture line number as the user sees it in the cell."""
        if line is None:
            return None
        return line + self.options.line_offset

    def line_text(self, line: int | None) -> str | None:
        """The cell's source text at capture line ``line`` (stripped)."""
        if line is None or not self.source:
            return None
        lines = self.source.splitlines()
        if 1 <= line <= len(lines):
            return lines[line - 1].strip()
        return None

    def statement_end(self, line: int) -> int:
        """The last source line of the longest statement or call that starts at ``line`` (``line`` itself when none
        does): a ``keras.Sequential([...])`` statement, or a ``TimeDistributed(`` call whose argument is written on
        the lines under it."""
        spans = self.cache.get("statement_spans")
        if spans is None:
            import ast

            spans = {}
            try:
                for n in ast.walk(ast.parse(self.source or "")):
                    if isinstance(n, (ast.stmt, ast.Call)):  # the longest that starts on a line (``if a: b``)
                        spans[n.lineno] = max(spans.get(n.lineno, 0), n.end_lineno or n.lineno)
            except SyntaxError:
                spans = {}
            self.cache["statement_spans"] = spans
        return int(spans.get(line, line))

    def wrapped_line(self, layer: Any, line: int) -> int:
        """The line that created the layer a wrapper wraps (``TimeDistributed(`` on ``line``, then
        ``Dense(n, activation="softmax")`` on the line under it) when it lies within the call or statement
        that starts at ``line``; else ``line``. That line is the one a fix changes (round 73's di02)."""
        inner = getattr(layer, "layer", None) if layer is not None else None
        made = self.creation_lines.get(id(inner)) if inner is not None else None
        return made if made and line < made <= self.statement_end(line) else line

    def var_of(self, obj: Any) -> str | None:
        """The namespace name the cell bound to ``obj``, if any."""
        for name in reversed(self.bound):
            if self.namespace.get(name) is obj:
                return name
        return None

    def call_for_output(self, tensor: Any) -> LayerCall | None:
        """The recorded layer call that produced ``tensor``."""
        for call in self.calls:
            if any(o is tensor for o in call.outputs):
                return call
        return None

    def call_for_layer(self, layer: Any) -> LayerCall | None:
        """The last recorded call of ``layer``."""
        for call in reversed(self.calls):
            if call.layer is layer:
                return call
        return None

    def forward_model(self) -> Any:
        """A copy of ``self.model`` (same architecture and weights) for checks that need a forward pass.

        Checks never call the user's model: a forward pass changes stateful
        layers (call counters, RNN states, BatchNorm in training mode) and is
        the user's to make. The copy is made once per check and shared.
        ``None`` when the model can't be copied; the check then does not run
        and says so.
        """
        if self.model is None:
            return None
        if "forward_model" not in self.cache:
            from . import keras_compat as kc

            copy = None
            try:
                sample = None
                if self.data is not None and getattr(self.data, "ndim", 0) >= 1 and len(self.data):
                    sample = self.data[:1]
                # Seeded like the probes' own clone: the probes may adopt this
                # copy, and its dropout/noise layers must draw the same numbers.
                with kc.seeded(self.options.seed):
                    copy, in_place = kc.clone_model(self.model, sample)
                if in_place:
                    copy = None
            except Exception:
                copy = None
            self.cache["forward_model"] = copy
        return self.cache["forward_model"]

    @property
    def is_denoising(self) -> bool:
        """The target differs from the input (denoising or other set-ups)."""
        if self.target is None or self.data is None:
            return False
        if self.target is self.data:
            return False
        try:
            return self.target.shape != self.data.shape or bool((self.target != self.data).any())
        except Exception:
            return True
