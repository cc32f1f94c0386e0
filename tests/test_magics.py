"""%%ae_check and %ae_probe through IPython's InteractiveShell: namespace
effects, flags, usage errors and the cell's own exceptions."""

from __future__ import annotations

import json
import re
import types
from typing import Any

import numpy as np
import pytest
import zoo
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from ae_magic.render.panel import AePanel

# IPython's own bookkeeping names (output cache, input history), not the cell's.
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_IPY_NAME = re.compile(r"^(_+|_i+|_i\d+|_\d+|_ih|_oh|_dh|In|Out|exit|quit|get_ipython)$")


@pytest.fixture(scope="module")
def ip() -> InteractiveShell:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "ae_magic")
    return shell


@pytest.fixture
def shown(ip, monkeypatch) -> list[Any]:
    """Every object the magics display (the panel, or an HTML box)."""
    import IPython.display

    objs: list[Any] = []
    monkeypatch.setattr(IPython.display, "display", lambda *o, **kw: objs.extend(o))
    return objs


def _fresh(ip: InteractiveShell) -> None:
    import keras

    ip.reset(new_session=False)
    # Same auto layer names and the same initial weights for both runs.
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)


def _describe(value: Any) -> Any:
    """A comparable snapshot of a namespace value (copies, so later changes show)."""
    import keras

    from ae_magic import keras_compat as kc

    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, value.copy())
    if isinstance(value, keras.Model):
        opt = getattr(value, "optimizer", None)
        opt_vars = [np.array(v) for v in getattr(opt, "variables", [])] if opt is not None else []
        return (
            "model",
            type(value).__name__,
            value.name,
            [(layer.name, type(layer).__name__) for layer in value.layers],
            [np.array(w) for w in value.get_weights()],
            kc.loss_name(value) if kc.is_compiled(value) else None,
            opt_vars,
        )
    if isinstance(value, keras.layers.Layer):
        return ("layer", type(value).__name__, value.name, [np.array(w) for w in value.get_weights()])
    if kc.is_keras_tensor(value):
        return ("tensor", tuple(value.shape), str(value.dtype), value.name)
    if isinstance(value, (int, float, str, bool, type(None), complex)):
        return value
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_describe(v) for v in value])
    if isinstance(value, dict):
        return ("dict", {k: _describe(v) for k, v in value.items()})
    if isinstance(value, types.ModuleType):
        # tf's lazy `keras` loader becomes the module once loaded: same module.
        return ("module", value.__name__)
    if hasattr(value, "__name__") and hasattr(value, "__module__"):
        return ("named", type(value).__name__, value.__module__, value.__name__)
    return ("object", type(value).__module__, type(value).__qualname__)


def _snapshot(ip: InteractiveShell) -> dict[str, Any]:
    hidden = set(ip.user_ns_hidden)
    return {k: _describe(v) for k, v in ip.user_ns.items() if k not in hidden and not _IPY_NAME.match(k)}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
        )
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return a == b


def _namespace_diff(plain: dict[str, Any], magic: dict[str, Any]) -> list[str]:
    diffs = [f"only without the magic: {k}" for k in plain.keys() - magic.keys()]
    diffs += [f"only with the magic: {k}" for k in magic.keys() - plain.keys()]
    diffs += [f"value differs: {k}" for k in plain.keys() & magic.keys() if not _same(plain[k], magic[k])]
    return sorted(diffs)


def _check_kwargs_line(kwargs: dict[str, Any]) -> str:
    return " ".join(f"--{k} {v}" for k, v in kwargs.items())


# Cells of our own: output, a last expression, an exception after some
# assignments, a syntax error, a cell without any model, IPython syntax.
OWN_CELLS: dict[str, tuple[str, str]] = {
    "print_and_expr": (zoo.HEALTHY["dense"] + "print('shape', x.shape)\nlosses = [1.0, 0.5]\nx.shape\n", "--data x"),
    "raises_midway": ("a = 1\nb = [a, 2]\nraise ValueError('boom')\nc = 3\n", ""),
    "syntax_error": ("a = 1\nb = (\n", ""),
    "no_model": ("import numpy as np\nv = np.arange(5.0)\ndef f(t):\n    return t * 2\nw = f(v)\n", ""),
    "ipython_syntax": ("import numpy as np\nq = np.ones(3)\n%time r = q.sum()\n", ""),
    "rebinds_existing": ("import numpy as np\nx = np.zeros((4, 3))\nx = x + 1\n", ""),
}

# The zoo cells whose namespace is compared: one of each way a cell binds names (Sequential, functional, composed
# models, a subclass, a nested or shared model, a Lambda, a custom layer, a model compiled by hand, a tf.constant,
# an unbuilt model, a second `fit`). What the magic could change is what the cell binds, not which fault the model
# has, and each comparison runs the cell (and its fit) twice: all 48 zoo cells took 240 s of CI's 40 minutes. The
# engine's own no-change tests (tests/test_copy_safety.py, tests/test_no_forward.py) run on every backend.
NS_HEALTHY = ["dense", "sequential_input", "composed", "lstm", "denoising", "nested_sequential", "shared_encoder",
              "subclassed", "dense_scaling_lambda"]
NS_FAULTY = ["000_ex1_decoder_reads_input", "000_prose_standalone_decoder", "001_ex2_custom_layer_tf_constant",
             "002_ex2_no_input_shape", "003_ex1_latent_and_loss", "003_ex3_low_lr_clipping"]
NS_CELLS: list[tuple[str, str, str]] = (
    [(f"own:{k}", src, line) for k, (src, line) in OWN_CELLS.items()]
    + [(f"healthy:{k}", zoo.HEALTHY[k], _check_kwargs_line(zoo.HEALTHY_CALLS[k])) for k in NS_HEALTHY]
    + [(f"faulty:{k}", zoo.FAULTY[k][0], _check_kwargs_line(zoo.FAULTY[k][1])) for k in NS_FAULTY]
)


@pytest.mark.parametrize(("name", "cell", "line"), NS_CELLS, ids=[c[0] for c in NS_CELLS])
def test_namespace_after_magic_equals_plain_run(ip, shown, name: str, cell: str, line: str) -> None:
    _fresh(ip)
    ip.run_cell(cell)
    plain = _snapshot(ip)
    _fresh(ip)
    ip.run_cell_magic("ae_check", f"{line} --no-train", cell)
    magic = _snapshot(ip)
    assert _namespace_diff(plain, magic) == []
    assert len(plain) > 0
    # And the panel was shown for it.
    assert any(isinstance(o, AePanel) for o in shown), shown


def test_training_probes_leave_the_users_model_alone(ip, shown) -> None:
    cell = zoo.HEALTHY["dense"]
    _fresh(ip)
    ip.run_cell(cell)
    plain = _snapshot(ip)
    _fresh(ip)
    ip.run_cell_magic("ae_check", "--data x --epochs 1", cell)
    assert _namespace_diff(plain, _snapshot(ip)) == []
    report = next(o for o in shown if isinstance(o, AePanel)).runs[0]
    assert report.params["train"] is True and report.params["epochs"] == 1


# -- output and exceptions show as usual ----------------------------------------
def test_cell_output_and_last_expression_show(ip, shown, capsys) -> None:
    _fresh(ip)
    result = ip.run_cell("%%ae_check --no-train\nprint('hello from the cell')\n6 * 7\n")
    out = capsys.readouterr().out
    assert result.success
    assert "hello from the cell" in out
    assert "42" in out  # the displayhook showed the last expression
    assert any(isinstance(o, AePanel) for o in shown)


def test_cell_exception_shows_once_fails_the_cell_and_the_panel_reports(ip, shown, capsys) -> None:
    _fresh(ip)
    result = ip.run_cell("%%ae_check --no-train\na = 1\nraise ValueError('boom from the cell')\n")
    out = _ANSI.sub("", capsys.readouterr().out)
    assert isinstance(result.error_in_exec, ValueError)  # the cell fails, as without the magic
    assert out.count("ValueError: boom from the cell") == 1  # shown once, as without the magic
    assert "ae_magic" not in out.replace("%%ae_check", "")  # no internal traceback
    assert ip.user_ns["a"] == 1
    panel = next(o for o in shown if isinstance(o, AePanel))
    report = panel.runs[0]
    assert report.cell_error["type"] == "ValueError"
    assert report.has_errors
    err = next(f for f in report.findings if f.severity == "error")
    assert err.line == 3  # the notebook cell's line: line 1 is the magic itself
    assert "boom from the cell" in panel.findings.value


def test_cell_error_line_in_panel_counts_the_magic_line(ip, shown) -> None:
    _fresh(ip)
    cell = zoo.FAULTY["000_prose_standalone_decoder"][0]
    kwargs = zoo.FAULTY["000_prose_standalone_decoder"][1]
    ip.run_cell_magic("ae_check", _check_kwargs_line(kwargs) + " --no-train", cell)
    report = next(o for o in shown if isinstance(o, AePanel)).runs[0]
    lines = cell.splitlines()
    for f in report.findings:
        if f.line is not None and f.source_line:
            # The finding's line is the notebook cell's line: one more than the body's.
            assert lines[f.line - 2].strip() == f.source_line


# -- flags ------------------------------------------------------------------------
def test_json_flag_prints_the_report(ip, shown, capsys) -> None:
    _fresh(ip)
    ip.run_cell_magic("ae_check", "--data x --no-train --json", zoo.HEALTHY["dense"])
    data = json.loads(capsys.readouterr().out)
    assert data["schema_version"] and data["model"]["variable"] == "autoencoder"
    assert data["data"]["name"] == "x" and data["params"]["train"] is False
    assert not any(isinstance(o, AePanel) for o in shown)


def test_no_train_skips_probes(ip, shown) -> None:
    _fresh(ip)
    ip.run_cell_magic("ae_check", "--data x --no-train", zoo.HEALTHY["dense"])
    report = next(o for o in shown if isinstance(o, AePanel)).runs[0]
    assert report.params["train"] is False
    assert "training" not in report.traces and "gradients" not in report.traces


def test_options_reach_the_engine(ip, shown, monkeypatch) -> None:
    from ae_magic.session import Session

    seen: dict[str, Any] = {}
    real = Session.from_cell.__func__

    def spy(cls: Any, source: str, **kwargs: Any) -> Any:
        seen.update(kwargs)
        opts = kwargs["options"]
        seen["epochs"], seen["lr"], seen["line_offset"] = opts.epochs, opts.lr, opts.line_offset
        return real(cls, source, **{**kwargs, "options": opts.replace(train=False, epochs=None, lr=None)})

    monkeypatch.setattr(Session, "from_cell", classmethod(spy))
    _fresh(ip)
    ip.run_cell_magic(
        "ae_check",
        "--data x_noisy --target x --model autoencoder --epochs 2 --lr 3e-3",
        zoo.HEALTHY["denoising"],
    )
    assert seen["data"] == "x_noisy" and seen["target"] == "x" and seen["model"] == "autoencoder"
    assert seen["epochs"] == 2 and seen["lr"] == pytest.approx(3e-3)
    assert seen["line_offset"] == 1 and seen["namespace"] is ip.user_ns and callable(seen["runner"])
    report = next(o for o in shown if isinstance(o, AePanel)).runs[0]
    assert report.data["name"] == "x_noisy" and report.data["target"]["name"] == "x"


def test_model_flag_picks_the_model(ip, shown) -> None:
    _fresh(ip)
    cell = zoo.HEALTHY["dense"] + "encoder = keras.Model(inp, code)\n"
    ip.run_cell_magic("ae_check", "--data x --no-train --model encoder", cell)
    report = next(o for o in shown if isinstance(o, AePanel)).runs[0]
    assert report.model["variable"] == "encoder"


def test_ae_probe_probes_an_existing_model(ip, shown) -> None:
    _fresh(ip)
    ip.run_cell(zoo.HEALTHY["dense"])
    before = _snapshot(ip)
    ip.run_line_magic("ae_probe", "autoencoder --data x --no-train")
    report = next(o for o in shown if isinstance(o, AePanel)).runs[0]
    assert report.model["variable"] == "autoencoder" and report.data["name"] == "x"
    assert report.ok
    assert _namespace_diff(before, _snapshot(ip)) == []


# -- usage errors: one line, no traceback ----------------------------------------------
@pytest.mark.parametrize(
    ("magic", "line", "needle"),
    [
        ("ae_check", "--bogus", "unrecognized arguments: --bogus"),
        ("ae_check", "--epochs many", "--epochs"),
        ("ae_check", "--epochs 0", "argument --epochs: must be at least 1"),
        ("ae_check", "--lr -1", "argument --lr: must be greater than 0"),
        ("ae_check", "--seed 1.5", "argument --seed: must be a whole number"),
        ("ae_check", "--data nope", "no variable named 'nope'"),
        ("ae_check", "--data x --model nope", "no variable named 'nope'"),
        ("ae_check", "--data x --model x", "not a Keras model"),
        ("ae_check", "--target x", "--target needs --data"),
        ("ae_check", "--no-train --epochs 3", "--no-train"),
        ("ae_probe", "", "arguments are required: MODEL"),
        ("ae_probe", "nope --data x", "no variable named 'nope'"),
        ("ae_probe", "x --data x", "not a Keras model"),
    ],
)
def test_bad_arguments_give_a_one_line_usage_error(ip, shown, magic: str, line: str, needle: str) -> None:
    _fresh(ip)
    ip.run_cell("import numpy as np\nx = np.zeros((8, 4), 'float32')\n")
    with pytest.raises(UsageError) as info:
        if magic == "ae_check":
            ip.run_cell_magic(magic, line, "y = 1\n")
        else:
            ip.run_line_magic(magic, line)
    msg = str(info.value)
    assert needle in msg
    assert "\n" not in msg.strip()
    assert "Traceback" not in msg


def test_usage_error_in_a_notebook_cell_is_one_line(ip, capsys) -> None:
    _fresh(ip)
    result = ip.run_cell("%%ae_check --data nope\ny = 1\n")
    out = capsys.readouterr()
    text = out.out + out.err
    assert not result.success
    assert "UsageError" in text and "no variable named 'nope'" in text
    assert "Traceback" not in text


def test_internal_failure_shows_a_short_box_and_keeps_the_kernel(ip, shown, monkeypatch, capsys) -> None:
    import ae_magic.engine as engine

    def broken(ctx: Any, **kwargs: Any) -> Any:
        raise RuntimeError("internal kaboom")

    monkeypatch.setattr(engine, "diagnose", broken)
    _fresh(ip)
    result = ip.run_cell("%%ae_check --no-train\nz = 41 + 1\n")
    out = capsys.readouterr()
    assert result.success
    assert ip.user_ns["z"] == 42
    assert "Traceback" not in out.out + out.err
    boxes = [o for o in shown if "ae-internal-error" in getattr(o, "data", "")]
    assert len(boxes) == 1 and "internal kaboom" in boxes[0].data


# -- extension lifecycle and help -----------------------------------------------
def test_load_and_unload_extension() -> None:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "ae_magic")
    assert shell.find_cell_magic("ae_check") is not None
    assert shell.find_line_magic("ae_probe") is not None
    shell.run_line_magic("unload_ext", "ae_magic")
    assert shell.find_cell_magic("ae_check") is None
    assert shell.find_line_magic("ae_probe") is None
    assert "AeMagics" not in shell.magics_manager.registry
    shell.run_line_magic("load_ext", "ae_magic")
    shell.run_line_magic("reload_ext", "ae_magic")
    assert shell.find_cell_magic("ae_check") is not None


def test_help_lists_options_and_explains(ip, capsys) -> None:
    ip.run_cell("%%ae_check?\n")
    out = capsys.readouterr().out
    for opt in ("--data NAME", "--model NAME", "--target NAME", "--epochs N", "--lr X", "--latent N", "--no-train",
                "--json"):
        assert opt in out
    assert "exactly as without the magic" in out
    doc = ip.find_line_magic("ae_probe").__doc__
    assert "MODEL" in doc and "already exists" in doc


def test_latent_flag_probes_a_rebuilt_copy_and_leaves_the_model(ip, shown) -> None:
    cell = zoo.HEALTHY["dense"]
    _fresh(ip)
    ip.run_cell(cell)
    plain = _snapshot(ip)
    _fresh(ip)
    ip.run_cell_magic("ae_check", "--data x --latent 4 --no-train", cell)
    assert _namespace_diff(plain, _snapshot(ip)) == []
    assert ip.user_ns["autoencoder"].layers[2].units == 8
    panel = next(o for o in shown if isinstance(o, AePanel))
    assert panel.runs[0].model["graph"]["code_width"] == 4
    assert panel.latent.value == 4 and panel.latent_user == 8


def test_latent_flag_on_a_subclassed_model_is_a_usage_error(ip, shown) -> None:
    _fresh(ip)
    with pytest.raises(UsageError, match="subclassed") as info:
        ip.run_cell_magic("ae_check", "--data x --latent 4 --no-train", zoo.HEALTHY["subclassed"])
    assert "\n" not in str(info.value)
    assert "autoencoder" in ip.user_ns  # the cell itself ran


def test_a_terminal_ipython_prints_the_report_once() -> None:
    """No widget in a terminal: the text report, once (a widget's text form printed again on each update)."""
    import subprocess
    import sys

    cell = ("import keras\ninp = keras.Input((8,))\n"
            "out = keras.layers.Dense(8)(keras.layers.Dense(2)(inp))\nautoencoder = keras.Model(inp, out)\n")
    code = (
        "get_ipython().run_line_magic('load_ext', 'ae_magic')\n"
        f"get_ipython().run_cell_magic('ae_check', '--no-train', {cell!r})\n"
    )
    out = subprocess.run([sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor", "-c", code],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("ae_magic: model `autoencoder`") == 1, out.stdout
    assert "AE109" in out.stdout and "AePanel" not in out.stdout


# -- display: the live panel and its static copy ------------------------------------
SOFTMAX_BCE_CELL = """\
import keras
from keras import layers
inp = keras.Input((64,))
h = layers.Dense(16, activation="relu")(inp)
out = layers.Dense(64, activation="softmax")(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
"""


def test_checked_cell_outputs_a_widget_and_a_static_report_shown_once(ip) -> None:
    from IPython.utils.capture import capture_output

    from ae_magic.render import plots

    _fresh(ip)
    ip.user_ns["x"] = (np.random.default_rng(0).random((256, 64)) < 0.3).astype("float32")
    with capture_output() as cap:
        ip.run_cell_magic("ae_check", "--data x --epochs 3", SOFTMAX_BCE_CELL)
    outs = [o.data for o in cap.outputs]
    widget = [d for d in outs if WIDGET_VIEW in d]
    static = [d for d in outs if "text/html" in d]
    assert len(widget) == 1 and len(static) == 1, [sorted(d) for d in outs]
    # The widget's output carries no HTML copy; the static output no widget view:
    # JupyterLab without a live kernel renders the static one.
    assert "text/html" not in widget[0] and WIDGET_VIEW not in static[0]
    html = static[0]["text/html"]
    sid = re.search(r'class="ae-report ae-static" id="(ae-static-[0-9a-f]+)"', html).group(1)
    assert 'data-code="AE108"' in html and "data:image/png;base64," in html
    # The live panel hides exactly that copy: with a kernel the diagnosis shows once.
    import ae_magic.magics as magics

    panel = next(p for _, p, _ in magics._LIVE.values() if isinstance(p, AePanel) and p.static_id == sid)
    assert f"#{sid}{{display:none" in panel.static_style.value
    # Root cause first, in the static copy too.
    codes = re.findall(r'class="ae-finding [^"]*" data-code="(AE\d+)"', html)
    assert codes[0] == "AE108"
    # Line numbers agree: the graph tab, the findings and the cell (line 1 is %%ae_check).
    report = panel.runs[0]
    cell = ["%%ae_check", *SOFTMAX_BCE_CELL.splitlines()]
    f = report.get("AE108")
    assert f is not None and cell[f.line - 1].strip() == f.source_line
    nodes = {n["name"]: n["id"] for n in report.model["graph"]["nodes"]}
    glines = plots.graph_lines(report)
    assert glines[nodes[f.layer]] == f.line
    for c in report.calls:
        assert glines[nodes[c["layer"]]] == c["line"]
        assert cell[c["line"] - 1].strip().startswith(f"{c['variable']} = ")
    assert cell[glines[nodes["input_layer"]] - 1].startswith("inp = keras.Input")
    labels = [t.get_text() for t in plots.graph_figure(report).axes[0].texts if t.get_text().startswith("line ")]
    assert f"line {f.line}" in labels
