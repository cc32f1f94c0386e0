"""Is a hand-written loss called with its arguments in the wrong order?

AE108 (output-loss-mismatch), read from the cell's source. Keras' loss
functions take ``(y_true, y_pred)``; PyTorch's take ``(input, target)``,
the prediction first. A VAE's ``call`` or ``train_step`` ported from
PyTorch writes ``binary_crossentropy(x_hat, x)``: the data becomes the
prediction (clipped into (0, 1)) and the reconstruction the label, so the
loss is linear in the output with a pull toward 0 from every background
pixel, and the decoder collapses to a black image (round 20: 1.6x the
mean's error against 0.32x with the arguments swapped back).

Only asymmetric losses matter (cross-entropies, KL, Poisson); a squared or
absolute error is the same either way round. A prediction is a variable
the cell assigned from a call of the model, a decoder (``self.decoder(z)``,
``decoder(z)``) or ``self(x)``, or one named like one (``x_hat``,
``reconstruction``, ``y_pred``).
"""

from __future__ import annotations

import ast
import re
from typing import Any

from ..context import Context
from ..report import Finding

# Loss functions (and Loss classes, called as instances) whose two arguments play different roles.
ASYMMETRIC = {
    "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy", "kl_divergence", "kld",
    "kullback_leibler_divergence", "poisson", "binary_focal_crossentropy", "BinaryCrossentropy",
    "CategoricalCrossentropy", "KLDivergence", "Poisson", "BinaryFocalCrossentropy",
}
# A variable holding a reconstruction, by its name.
_PREDICTION_NAME = re.compile(r"^(x_?hat|x_?recon\w*|recon\w*|reconstruct\w*|decoded\w*|y_?pred\w*|x_?pred\w*|"
                              r"pred\w*|outputs?|x_?tilde|x_?rec)$", re.IGNORECASE)
# A call that makes one: the model, a decoder, or the model itself.
_PREDICTOR = re.compile(r"decod|autoencoder|^self$|^model$|^vae$", re.IGNORECASE)


def _callee(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _loss_name(call: ast.Call) -> str | None:
    """The loss a call computes: ``binary_crossentropy(a, b)`` or ``BinaryCrossentropy(...)(a, b)``."""
    func = call.func
    if isinstance(func, ast.Call):
        func = func.func
    name = _callee(func)
    return name if name in ASYMMETRIC else None


def _predictions(tree: ast.AST) -> set[str]:
    """Variables the cell assigned from a call of the model, a decoder or ``self``."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            who = _callee(node.value.func)
            if who and _PREDICTOR.search(who):
                out.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return out


def swapped_loss_call(source: str | None) -> tuple[int, str, str] | None:
    """``(line, loss, prediction)`` for the first asymmetric loss called as ``loss(prediction, data)``."""
    try:
        tree = ast.parse(source or "")
    except SyntaxError:
        return None
    made = _predictions(tree)

    def is_prediction(arg: ast.AST) -> bool:
        return isinstance(arg, ast.Name) and (arg.id in made or bool(_PREDICTION_NAME.match(arg.id)))

    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or len(node.args) < 2 or any(k.arg in ("y_true", "y_pred") for k in node.keywords):
            continue
        loss = _loss_name(node)
        first, second = node.args[0], node.args[1]
        if loss and is_prediction(first) and not is_prediction(second) and isinstance(second, (ast.Name, ast.Subscript)):
            return node.lineno, loss, first.id  # type: ignore[attr-defined]
    return None


def check_loss_argument_order(ctx: Context) -> list[Finding]:
    """AE108: an asymmetric Keras loss called with the prediction first (PyTorch's order)."""
    hit = swapped_loss_call(ctx.source)
    if hit is None:
        return []
    raw, loss, pred = hit
    line = ctx.cell_line(raw)
    return [
        Finding(
            code="AE108",
            severity="warning",
            title="Loss arguments in the wrong order",
            message=(f"`{loss}` is called with the reconstruction `{pred}` first. Keras' losses take (y_true, y_pred), "
                     "the target first (PyTorch's take the prediction first): as written, the data is treated as the "
                     "prediction and the reconstruction as the label, so the loss does not measure how well the "
                     "reconstruction matches its input, and the decoder is pulled toward a constant output."),
            line=line,
            source_line=ctx.line_text(raw) if line is not None else None,
            evidence={"loss": loss, "first_argument": pred},
            # A comment: the names are the cell's locals, which the fix localiser would blank out.
            fix=f"# the target first, then the reconstruction:\n#   {loss}(<the input>, {pred})  # not {loss}({pred}, <the input>)",
        )
    ]


_BCE = {"binary_crossentropy", "BinaryCrossentropy"}
# Keras' own loss families (``keras_compat.canonical_name``): a compiled loss of these is judged by activations.py.
_KERAS_FAMILIES = {"bce", "cce", "scce", "mse", "mae", "huber", "kld"}
# Output activations whose values BCE reads as probabilities, as it expects.
_PROBABILITIES = {"sigmoid", "hard_sigmoid", "softmax"}


def handwritten_bce(source: str | None, within: str | None = None) -> int | None:
    """The line of the first binary cross-entropy the cell computes itself, on probabilities (no ``from_logits=True``);
    ``within``: only inside the function or class of that name (a loss function given to ``compile``)."""
    try:
        tree: ast.AST = ast.parse(source or "")
    except SyntaxError:
        return None
    if within is not None:
        defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == within]
        if not defs:
            return None
        tree = defs[-1]  # the last definition is the one the cell's later lines use
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or len(node.args) < 2:
            continue
        inner = node.func if isinstance(node.func, ast.Call) else None
        if _callee(inner.func if inner is not None else node.func) not in _BCE:
            continue
        keywords = list(node.keywords) + (list(inner.keywords) if inner is not None else [])
        if any(k.arg == "from_logits" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
               for k in keywords):
            continue
        return node.lineno
    return None


def _in_cell_loss(ctx: Context, find: Any) -> Any:
    """``find(source[, within])`` where the cell computes the model's loss itself: a ``train_step`` or an
    ``add_loss`` term (no compiled loss: the whole cell), or a loss function or ``Loss`` subclass it writes and
    compiles (inside that definition); None for Keras' own compiled losses (``activations.check_output_loss``)."""
    from .. import keras_compat as kc

    if ctx.model is None:
        return None
    loss = kc.compiled_loss(ctx.model)
    if loss is None:
        return find(ctx.source)
    if isinstance(loss, str) or kc.loss_family(loss) in _KERAS_FAMILIES:
        return None
    return find(ctx.source, getattr(loss, "__name__", None) or type(loss).__name__)


def _output(ctx: Context) -> tuple[str | None, Any, bool]:
    """``(activation, graph node or subclassed layer, found)`` of the model's output; ``found`` is False for a
    graph output with no activation of its own (a custom loss layer passing it on): nothing to judge."""
    from .locate import graph_of, output_activation, subclassed_output

    g = graph_of(ctx)
    if g is not None and g.outputs:
        act, node = output_activation(g)
        return act, node, node is not None and node.activation is not None
    act, layer, _ = subclassed_output(ctx)
    return act, layer, True


def check_handwritten_bce_on_linear_output(ctx: Context) -> list[Finding]:
    """AE108: a loss the cell writes itself (``train_step``, ``add_loss``) applies binary cross-entropy on
    probabilities to an output with no sigmoid: in a ``train_step``, an ``add_loss`` term, or a loss function the
    cell writes and compiles. (Keras' own compiled losses are judged by ``activations.check_output_loss``.)"""
    raw = _in_cell_loss(ctx, handwritten_bce)
    if raw is None:
        return []
    act, _, judged = _output(ctx)
    if not judged or act is None or act in _PROBABILITIES:
        return []
    line = ctx.cell_line(raw)
    return [
        Finding(
            code="AE108",
            severity="warning",
            title="Output activation and loss disagree",
            message=(f"The cell's own loss takes binary cross-entropy on probabilities (from_logits=False), but the "
                     f"model's output is {act}: Keras clips its values into (0, 1), and outside that range the loss "
                     "has no gradient, so the reconstruction can't be pulled toward the data."),
            line=line,
            source_line=ctx.line_text(raw) if line is not None else None,
            evidence={"loss": "binary_crossentropy (in the cell)", "from_logits": False, "output_activation": act},
            fix=("# a sigmoid on the output layer: layers.Dense(..., activation='sigmoid')\n"
                 "# or tell the loss the outputs are logits: binary_crossentropy(..., from_logits=True)"),
        )
    ]


# Loss calls that take logits whatever their keywords say (TensorFlow's ``*_with_logits``).
_LOGITS_ALWAYS = {"sigmoid_cross_entropy_with_logits", "weighted_cross_entropy_with_logits"}


def handwritten_logits_bce(source: str | None, within: str | None = None) -> tuple[int, str] | None:
    """``(line, prediction)``: the first binary cross-entropy the cell computes itself on *logits*
    (``tf.nn.sigmoid_cross_entropy_with_logits``, ``from_logits=True``) of a prediction: a variable assigned
    from a call of the model, a decoder or ``self`` (``x_logit = self.decode(z)``), or named like one."""
    try:
        tree: ast.AST = ast.parse(source or "")
    except SyntaxError:
        return None
    made = _predictions(tree)
    if within is not None:
        defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == within]
        if not defs:
            return None
        tree = defs[-1]

    def prediction(arg: ast.AST) -> str | None:
        if isinstance(arg, ast.Name) and (arg.id in made or _PREDICTION_NAME.match(arg.id) or "logit" in arg.id.lower()):
            return arg.id
        if isinstance(arg, ast.Call) and (who := _callee(arg.func)) and _PREDICTOR.search(who):
            return f"{who}(...)"
        return None

    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        inner = node.func if isinstance(node.func, ast.Call) else None
        name = _callee(inner.func if inner is not None else node.func)
        keywords = list(node.keywords) + (list(inner.keywords) if inner is not None else [])
        if name in _LOGITS_ALWAYS:
            arg = next((k.value for k in node.keywords if k.arg == "logits"), node.args[1] if len(node.args) > 1 else None)
        elif name in _BCE and any(k.arg == "from_logits" and isinstance(k.value, ast.Constant) and k.value.value is True
                                  for k in keywords):
            arg = next((k.value for k in node.keywords if k.arg == "y_pred"), node.args[1] if len(node.args) > 1 else None)
        else:
            continue
        pred = prediction(arg) if arg is not None else None
        if pred is not None:
            return node.lineno, pred
    return None


def check_handwritten_logits_bce_on_sigmoid_output(ctx: Context) -> list[Finding]:
    """AE108: a loss the cell writes itself takes logits (``sigmoid_cross_entropy_with_logits``,
    ``from_logits=True``) of a reconstruction whose output layer already applies a sigmoid.

    The loss applies a second sigmoid: the predictions it scores live in (0.5, 0.73), a black pixel can't be
    reached, and the decoder is pushed to its largest outputs (round 79's dx09: the TensorFlow CVAE tutorial
    moved into a ``train_step`` with ``activation="sigmoid"`` added to the last ``Conv2DTranspose``; the loss
    stays flat and every output is the same). Keras' own compiled losses are judged by
    ``activations.check_output_loss``."""
    from ..graph import GNode
    from .locate import layer_line, loc

    hit = _in_cell_loss(ctx, handwritten_logits_bce)
    if hit is None:
        return []
    act, where_out, judged = _output(ctx)
    if not judged or act != "sigmoid":
        return []
    line, text = loc(ctx, where_out) if isinstance(where_out, GNode) else layer_line(ctx, where_out)
    name = getattr(where_out, "name", None)
    raw, pred = hit
    loss_line = ctx.cell_line(raw)
    if line is None:
        line, text = loss_line, (ctx.line_text(raw) if loss_line is not None else None)
    where = f" (line {loss_line})" if loss_line is not None and loss_line != line else ""
    return [
        Finding(
            code="AE108",
            severity="warning",
            title="Output activation and loss disagree",
            message=(f"The cell's own loss{where} takes logits of `{pred}` (binary cross-entropy with the sigmoid "
                     "inside it), but the model's output layer already applies a sigmoid: the loss squashes the "
                     "outputs a second time, so the values it scores only reach (0.5, 0.73). A black pixel (0) can't "
                     "be reached, every target pulls the output the same way, and the decoder drifts to a constant."),
            line=line,
            layer=name,
            source_line=text,
            evidence={"loss": "binary cross-entropy on logits (in the cell)", "from_logits": True,
                      "output_activation": act, "loss_line": loss_line},
            fix=("# drop the sigmoid on the output layer (the loss applies it): activation=None\n"
                 "# or score probabilities: binary_crossentropy(x, x_hat) without from_logits"),
        )
    ]


CHECKS = [check_loss_argument_order, check_handwritten_bce_on_linear_output, check_handwritten_logits_bce_on_sigmoid_output]
