"""Hostile names and odd input: every renderer shows the user's strings as typed and safely.

* HTML (``render/html.py``, the panel's widgets): user text is escaped, so no
  tag, attribute or script of the user's reaches the page.
* Plots (``render/plots.py``): a layer named ``$x$`` or ``a_b^c`` is drawn
  literally (``parse_math=False``), not as mathtext, and no name breaks savefig.
* Text (``render/text.py``): no terminal control sequence of the user's
  reaches the terminal (ANSI escapes, other C0/C1 controls, carriage returns,
  BiDi overrides); ae_magic's own colours stay with ``color=True``.

The fast tests use hand-made Reports (as ``fake_reports.py``); the slow ones
build real Keras autoencoders through ``ae_magic.check``. Keras refuses ``/``
in layer names, so ``</script>`` reaches the report through an exception
message and the report's label rather than a layer name.
"""

from __future__ import annotations

import io
import re
import warnings
from html.parser import HTMLParser
from typing import Any

import numpy as np
import pytest
from fake_reports import gradients_trace, graph_dict, training_trace
from matplotlib.text import Text

import ae_magic
from ae_magic import numeric
from ae_magic.errors import UsageError
from ae_magic.render import html as rhtml
from ae_magic.render import plots
from ae_magic.render import text as rtext
from ae_magic.render.verdict import verdict
from ae_magic.report import Finding, Report

# -- the hostile strings ---------------------------------------------------------------
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
DOLLAR = "$x$ a_b^c"
BAD_MATH = r"$\frac{1}{$"  # mathtext that does not even parse: savefig would raise
QUOTES = "enc \"dq\" 'sq' & spaced"
ANSI = "\x1b[31mred\x1b[0m"
ANSI_ONLY = "\x1b[31m"
BIDI = "abc\u202edcba"
CONTROL = "bell\x07nul\x00cr\rline"
OSC = "\x1b]0;pwned\x07title"
LONG = "very_long_layer_name_" * 15  # a name that must not squeeze the plot away
HOSTILE = [SCRIPT, IMG, DOLLAR, BAD_MATH, QUOTES, ANSI, ANSI_ONLY, BIDI, CONTROL, OSC]

# What a terminal must never see from the user: C0 controls but \n and \t, DEL,
# C1 controls, BiDi embeddings/overrides/isolates and marks.
CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
OUR_COLORS = re.compile(r"\x1b\[(?:31|33|36|0)m")

# The markup ae_magic itself writes; anything else in a page came from the user.
# <style>: the renderer's own theme rules (dark-theme colours, hiding the static copy while the panel is live).
OUR_TAGS = {"div", "span", "code", "pre", "details", "summary", "table", "tr", "td", "th", "img", "ul", "li", "style"}

OUR_ATTRIBUTES = {"class", "style", "data-code", "data-severity", "data-count", "data-plot", "data-level", "alt", "src",
                  "open", "id", "data-depth", "data-cause", "data-param"}


class _Tags(HTMLParser):
    """Every tag and attribute of a page, to prove the user's markup stayed text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def assert_safe_html(page: str) -> str:
    """No tag or attribute of the user's, no script URL, no control character; returns the page's text."""
    parser = _Tags()
    parser.feed(page)
    parser.close()
    for tag, attrs in parser.tags:
        assert tag in OUR_TAGS, f"user markup reached the page: <{tag} {attrs}>"
        for name, value in attrs:
            assert not name.startswith("on"), f"event handler attribute in <{tag}>: {name}={value!r}"
            assert name in OUR_ATTRIBUTES, f"unexpected attribute {name}={value!r} in <{tag}>"
            if name == "id":  # only the static copy's generated id
                assert re.fullmatch(r"ae-static-[0-9a-f]+", value or ""), value
        if tag == "img":
            assert dict(attrs)["src"].startswith("data:image/png;base64,")
    for raw in ("<script", "<img src=x", "</script>"):
        assert raw not in page
    assert not CONTROL_CHARS.search(page), "control character in the HTML"
    return "".join(parser.text)


def assert_clean_text(out: str, color: bool = False) -> None:
    """No control character in the text output but newlines, tabs and (with color) our own colour codes."""
    rest = OUR_COLORS.sub("", out) if color else out
    bad = CONTROL_CHARS.search(rest)
    assert bad is None, f"control character {bad.group()!r} in the text output near {rest[max(0, bad.start() - 30):bad.end() + 30]!r}"


def all_texts(fig: Any) -> list[Text]:
    """Every text artist of a figure, tick labels included."""
    return [t for t in fig.findobj(Text) if t.get_text()]


def assert_figure_literal(fig: Any, names: list[str]) -> None:
    """The figure saves (no mathtext error, no missing glyph) and shows every name literally."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    assert buf.getvalue().startswith(b"\x89PNG")
    bad = [str(w.message) for w in caught if "missing from font" in str(w.message) or "collapsed" in str(w.message)]
    assert not bad, bad
    texts = all_texts(fig)
    for t in texts:
        assert not CONTROL_CHARS.search(t.get_text()), t.get_text()
        if "$" in t.get_text() and "\\mathdefault" not in t.get_text():
            assert t.get_parse_math() is False, f"{t.get_text()!r} would be drawn as mathtext"
    for name in names:
        shown = rtext.printable(name)
        hits = [t for t in texts if shown in t.get_text()]
        assert hits, f"{name!r} (shown as {shown!r}) is in no text of the figure: {[t.get_text() for t in texts]}"
        assert all(t.get_parse_math() is False for t in hits), name


# -- printable ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain name", "plain name"),
        (ANSI, "red"),
        (ANSI_ONLY, "\\x1b[31m"),
        (BIDI, "abc\\u202edcba"),
        (CONTROL, "bell\\x07nul\\x00cr\\rline"),
        (OSC, "title"),
        ("a\r\nb\tc", "a\nb\tc"),
        ("\x9b31mC1 csi", "C1 csi"),
        ("\u200fmark", "\\u200fmark"),
        (DOLLAR, DOLLAR),
        (SCRIPT, SCRIPT),
    ],
)
def test_printable_strips_escape_sequences_and_spells_out_controls(raw: str, shown: str) -> None:
    assert rtext.printable(raw) == shown
    assert not CONTROL_CHARS.search(rtext.printable(raw))


def test_printable_survives_objects_whose_str_raises() -> None:
    class Nasty:
        def __str__(self) -> str:
            raise RuntimeError("no str")

        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    assert rtext.printable(Nasty()) == "<Nasty that could not be shown>"
    assert rhtml.esc(Nasty()) == "&lt;Nasty that could not be shown&gt;"


# -- hand-made reports (fast) --------------------------------------------------------------
def hostile_report(train: bool = True) -> Report:
    """A report whose every user string is hostile."""
    gt = gradients_trace()
    for row, name in zip(gt["layers"], (DOLLAR, SCRIPT, ANSI, BAD_MATH), strict=True):
        row["layer"] = name
    gt["layers"].append({**gt["layers"][0], "layer": LONG})
    gt["layers"][0]["activation"] = IMG
    tr = training_trace()
    tr["grad_norms"] = {DOLLAR: [0.5, 0.3, 0.2], BIDI: [0.2, 0.1, 0.05], QUOTES: [1.0, 0.7, 0.4], LONG: [0.1, 0.1, 0.1]}
    graph = graph_dict()
    for node, name in zip(graph["nodes"], ("input", DOLLAR, SCRIPT, BAD_MATH, ANSI_ONLY), strict=True):
        node["name"] = name
    graph["nodes"][0]["name"] = LONG
    findings = [
        Finding(code="AE102", severity="error", title=f"Dangling layer {SCRIPT}", message=f"`{IMG}` {ANSI} {CONTROL}",
                line=3, layer=OSC, evidence={SCRIPT: IMG, "layer": BAD_MATH, "nums": [1.5, float("nan")], "bidi": BIDI},
                fix=f"# delete `{SCRIPT}`\nx = '{ANSI}'", source_line=f"x = Dense(3, name={QUOTES!r})  # {BIDI}"),
        Finding(code="AE106", severity="warning", title=DOLLAR, message=f"code `{DOLLAR}` {OSC}", layer=DOLLAR,
                evidence={"activation": SCRIPT}),
        Finding(code="AE406", severity="info", title=QUOTES, message=CONTROL, evidence={"suggested": 3e-3}),
    ]
    rep = Report(
        findings=findings,
        model={"variable": SCRIPT, "name": ANSI, "params": 10, "graph": graph, "latent": IMG},
        data={"name": IMG, "shape": [128, 6]},
        cell_error={"type": SCRIPT, "message": f"{IMG} {ANSI} {BIDI}"},
        traces={"gradients": gt, "training": tr,
                "lr_range": {"lrs": [1e-4, 1e-3, 1e-2], "losses": [0.5, 0.3, 0.9], "suggested": 1e-3, "configured": 1e-3}}
        if train else {},
        params={"train": train, "lr": 1e-3, "latent": SCRIPT, "epochs": 1},
        source="x = 1\n",
        label=f"{SCRIPT} {ANSI}",
        notes=[f"note {SCRIPT} {ANSI} {BIDI} {CONTROL}", f"`{IMG}`"],
        internal_errors=[{"check": SCRIPT, "error": f"{IMG} {ANSI}"}],
    )
    rep.sort()
    return rep


def test_hand_made_hostile_report_html_is_escaped() -> None:
    for train in (True, False):
        rep = hostile_report(train=train)
        page = rhtml.render_html(rep)
        text = assert_safe_html(page)
        # The user's strings are there, as text.
        for s in (SCRIPT, IMG, QUOTES, DOLLAR):
            assert s in text
        assert "red" in text and "\\u202e" in text


def test_hand_made_hostile_report_standalone_page(tmp_path: Any) -> None:
    path = rhtml.write_html(hostile_report(), tmp_path / "r.html")
    page = path.read_text(encoding="utf-8")
    title = re.search(r"<title>(.*?)</title>", page, re.S)
    assert title and "<" not in title.group(1)
    assert_safe_html(page[page.index('<div class="ae-report"'):page.rindex("</body>")])


@pytest.mark.parametrize("color", [False, True])
def test_hand_made_hostile_report_text_has_no_user_controls(color: bool) -> None:
    rep = hostile_report()
    out = rtext.render_text(rep, color=color)
    assert_clean_text(out, color=color)
    assert SCRIPT in out and DOLLAR in out and QUOTES in out
    assert "\\u202e" in out and "\\x07" in out and "red" in out
    if color:
        assert "\x1b[31mERROR\x1b[0m" in out  # our own colours stay


def test_hand_made_hostile_report_plots_draw_names_literally() -> None:
    rep = hostile_report()
    expect = {
        "gradients": [DOLLAR, SCRIPT, ANSI, BAD_MATH, BIDI, QUOTES],
        "activations": [DOLLAR, IMG],
        "graph": [DOLLAR, SCRIPT, BAD_MATH, ANSI_ONLY],
        "loss": [],
        "lr_range": [],
        "reconstructions": [],
    }
    for name, names in expect.items():
        fig = plots.figure_for(rep, name)
        assert fig is not None, name
        assert_figure_literal(fig, names)
    # A comparison's legend carries run labels built from the params.
    fig = plots.loss_figure([rep, hostile_report()], live={"loss": [0.5, 0.4], "label": f"{DOLLAR} {ANSI}"})
    assert_figure_literal(fig, [f"{DOLLAR} red", "latent <script>alert(1)"])
    # The cached PNGs the HTML embeds come from the same figures.
    assert set(plots.report_pngs(rep)) == set(plots.ALL_PLOTS)


def test_graph_figure_names_dangling_hostile_layers_literally() -> None:
    rep = hostile_report()
    rep.findings[0].layer = BAD_MATH  # the AE102 finding names a dangling layer
    fig = plots.graph_figure(rep)
    assert_figure_literal(fig, [f"{BAD_MATH}  (dangling"])


def test_odd_trace_values_plot_or_are_skipped() -> None:
    rep = hostile_report()
    tr = rep.traces["training"]
    tr["loss"] = ["nan", None, "inf", 10**400, "x", 0.3, object()]
    tr["epoch_loss"] = []
    tr["val_loss"] = ["-inf"]
    rep.traces["gradients"]["layers"][0]["grad_norm"] = "not a number"
    for name in ("loss", "gradients", "activations"):
        fig = plots.figure_for(rep, name)
        assert fig is not None
        fig.savefig(io.BytesIO(), format="png")


def test_numeric_helpers_read_trace_values() -> None:
    assert numeric.num("0.5") == 0.5
    assert numeric.num(np.float32(2)) == 2.0
    for bad in (None, "x", object(), [1, 2]):
        assert np.isnan(numeric.num(bad))
    assert numeric.num(10**400) == float("inf") and numeric.num(-(10**400)) == float("-inf")
    assert numeric.is_finite(1) and numeric.is_finite(0.5) and numeric.is_finite(np.float64(3))
    for bad in (float("nan"), float("inf"), "1.0", None, 10**400):
        assert not numeric.is_finite(bad)
    assert numeric.all_finite([]) and numeric.all_finite([1, 2.0])
    assert not numeric.all_finite([1, None])
    assert numeric.finite_or_none("inf") is None and numeric.finite_or_none("2") == 2.0


def test_panel_widgets_escape_hostile_strings() -> None:
    pytest.importorskip("ipywidgets")
    from ae_magic.render.panel import AePanel

    rep = hostile_report()

    def fail(*_a: Any, **_k: Any) -> Report:
        raise RuntimeError(f"{SCRIPT} {ANSI}")

    p = AePanel(rep, rerun_fn=fail)
    p.button.click()
    for widget in (p.header, p.findings, p.runs_table, p.error, p.status, p.latent_reason, p.rerun_reason,
                   *p.notes.values()):
        assert_safe_html(widget.value)
    assert "&lt;script&gt;" in p.error.value


# -- real Keras autoencoders (slow) --------------------------------------------------------
# Layer names Keras accepts (no "/"), each hostile in its own way.
LAYER_NAMES = {
    "enc": QUOTES,
    "code": DOLLAR,
    "dec": "<script>alert(1)<img src=x onerror=alert(1)>",
    "out": ANSI + "out",
    "mid": BIDI,
}
MODEL_NAME = "m <b>odel$ \x1b[2J"

CELL = f"""\
import keras
from keras import layers

inp = keras.Input(shape=(16,))
h = layers.Dense(8, activation="relu", name={LAYER_NAMES["enc"]!r})(inp)
z = layers.Dense(4, activation="relu", name={LAYER_NAMES["code"]!r})(h)
m = layers.Dense(8, activation="relu", name={LAYER_NAMES["mid"]!r})(z)
d = layers.Dense(8, activation="relu", name={LAYER_NAMES["dec"]!r})(m)
out = layers.Dense(16, activation="sigmoid", name={LAYER_NAMES["out"]!r})(d)
autoencoder = keras.Model(inp, out, name={MODEL_NAME!r})
autoencoder.compile(optimizer="adam", loss="mse")
"""

AE_784 = """\
import keras
from keras import layers

inp = keras.Input(shape=(784,))
autoencoder = keras.Model(inp, layers.Dense(784, activation="sigmoid")(layers.Dense(32, activation="relu")(inp)))
autoencoder.compile(optimizer="adam", loss="mse")
"""

NO_WEIGHTS = """\
import keras
from keras import layers

inp = keras.Input(shape=(16,))
autoencoder = keras.Model(inp, layers.Activation("sigmoid")(inp))
autoencoder.compile(optimizer="adam", loss="mse")
"""


def _data(n: int = 64, d: int = 16) -> np.ndarray:
    return np.random.default_rng(0).random((n, d)).astype("float32")


def _check_all_renderers(rep: Report, layer_names: list[str] | None = None) -> None:
    """Every renderer of a real report is safe, and the report still serialises."""
    rep.to_json()
    page = rhtml.render_html(rep)
    assert_safe_html(page)
    for color in (False, True):
        assert_clean_text(rtext.render_text(rep, color=color), color=color)
    assert_clean_text(str(rep))
    for name in plots.ALL_PLOTS:
        fig = plots.figure_for(rep, name)
        if fig is not None:
            names = [n for n in layer_names or [] if name == "graph"]
            assert_figure_literal(fig, names)


@pytest.fixture(scope="module")
def hostile_static() -> Report:
    return ae_magic.check(CELL, data=_data(), train=False, label=f"{SCRIPT} {ANSI}")


def test_real_hostile_layer_names_static(hostile_static: Report) -> None:
    rep = hostile_static
    assert rep.model is not None, rep.text()
    graph_names = [n for n in LAYER_NAMES.values()]
    assert (rep.model.get("graph") or {}).get("nodes"), "the graph of a functional model should be in the report"
    _check_all_renderers(rep, graph_names)
    page = rhtml.render_html(rep)
    assert rhtml.esc(f"{SCRIPT} red") in page  # the label, escaped and stripped
    # The verdict says the probes were off.
    assert "probes were off" in verdict(rep).summary


def test_real_hostile_layer_names_with_training() -> None:
    # TensorFlow refuses these names as scope names: the user's own fit() fails
    # too, so the probes can't measure this model and the verdict must say so.
    rep = ae_magic.check(CELL, data=_data(), train=True, epochs=1)
    assert rep.model is not None
    _check_all_renderers(rep, list(LAYER_NAMES.values()))
    if not rep.traces.get("training"):
        assert not verdict(rep).ok
    # Whatever the probes measured is drawn with the literal layer names.
    layers = (rep.traces.get("gradients") or {}).get("layers") or []
    if layers:
        fig = plots.gradients_figure(rep)
        assert_figure_literal(fig, [str(r["layer"]) for r in layers])


def test_cell_raising_html_and_ansi_message() -> None:
    src = f"raise ValueError({(SCRIPT + ' ' + ANSI + ' ' + BIDI + ' ' + CONTROL)!r})\n"
    rep = ae_magic.check(src, data=_data(), train=False)
    assert rep.cell_error is not None
    assert any(f.code == "AE100" for f in rep.findings), rep.codes
    _check_all_renderers(rep)
    page = rhtml.render_html(rep)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    out = rep.text()
    assert SCRIPT in out and "\\u202e" in out


def test_cell_raising_html_with_training() -> None:
    src = CELL + f"raise RuntimeError({(IMG + ANSI)!r})\n"
    rep = ae_magic.check(src, data=_data(), train=True, epochs=1)
    _check_all_renderers(rep, list(LAYER_NAMES.values()) if rep.model else None)


def test_cell_raising_exception_whose_str_raises() -> None:
    src = (
        "class Weird(Exception):\n"
        "    def __str__(self):\n"
        "        raise RuntimeError('no message for you')\n"
        "raise Weird()\n"
    )
    rep = ae_magic.check(src, train=False)
    assert rep.cell_error is not None
    _check_all_renderers(rep)


def test_finding_message_whose_str_raises_renders() -> None:
    """A hand-made evidence value whose ``__str__`` raises does not break the renderers."""

    class Weird:
        def __str__(self) -> str:
            raise RuntimeError("no")

    rep = Report(findings=[Finding(code="AE102", severity="warning", title="t", message="m",
                                   evidence={"obj": Weird()})], model={"variable": "m"}, params={"train": True})
    assert "Weird" in rtext.render_text(rep)
    assert_safe_html(rhtml.render_html(rep, with_plots=False))


# -- odd input: findings or a UsageError, never another exception ------------------------
ODD_CASES = {
    "zero samples, flat": (AE_784, lambda: np.zeros((0,), "float32"), False),
    "shape (0, 784)": (AE_784, lambda: np.zeros((0, 784), "float32"), False),
    "shape (0, 784), train": (AE_784, lambda: np.zeros((0, 784), "float32"), True),
    "no trainable weights": (NO_WEIGHTS, _data, False),
    "no trainable weights, train": (NO_WEIGHTS, _data, True),
}


def _odd(case: str) -> Report | None:
    src, data, train = ODD_CASES[case]
    try:
        return ae_magic.check(src, data=data(), train=train, epochs=1)
    except UsageError as exc:
        assert str(exc)
        return None


@pytest.mark.parametrize("case", list(ODD_CASES))
def test_odd_input_gives_findings_or_usage_error(case: str) -> None:
    rep = _odd(case)
    if rep is None:
        return
    _check_all_renderers(rep)
    v = verdict(rep)
    if case.startswith("zero") or case.startswith("shape"):
        # Empty data can't be diagnosed as healthy.
        assert rep.findings, rep.text()
        assert not v.ok and "no problems" not in v.summary.lower()


@pytest.mark.parametrize("case", list(ODD_CASES))
def test_odd_input_breaks_nothing_inside(case: str) -> None:
    rep = _odd(case)
    if rep is not None:
        assert rep.internal_errors == [], rep.internal_errors
