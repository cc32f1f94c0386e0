"""Fixes as edits of the cell, in the cell's own names (ae_magic.fixes).

Every code fix of the zoo (tests/zoo.py: FAULTY, which holds the seed
articles' cells, CATALOGUE and HEALTHY) reads only names that exist once the
cell has run, and every edit leaves a cell that parses.
"""

from __future__ import annotations

import ast
import builtins
import os
import re

import pytest
import zoo

import ae_magic
from ae_magic import fixes
from ae_magic.fixes import Edit, apply_edits
from ae_magic.report import Finding

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _run(src: str, **kwargs: object) -> tuple[ae_magic.Report, dict]:
    ns: dict = {}
    report = ae_magic.check(src, namespace=ns, **{"train": False, **kwargs})
    return report, ns


def _snippets(fix: str) -> list[str]:
    """The code in a fix text: all of it when it parses, else each line that does, else `backticked` spans."""
    if fixes.is_code(fix):
        return [fix]
    out = []
    for line in fix.split("\n"):
        if fixes.is_code(line):
            out.append(line.strip())
        else:
            out += [m for m in re.findall(r"`([^`\n]+)`", line) if fixes.is_code(m)]
    return out


def _assert_names_exist(name: str, src: str, report: ae_magic.Report, ns: dict) -> None:
    known = set(ns) | set(dir(builtins))
    for f in report.findings:
        for snippet in _snippets(f.fix or ""):
            missing = fixes.reads(snippet.strip()) - known
            assert not missing, f"{name} {f.code}: the fix reads {sorted(missing)}, which the cell never defines: {snippet!r}"
        if f.edit:
            fixed, applied = apply_edits(src, [Edit.from_dict(f.edit)])
            assert applied, (name, f.code, f.edit)
            tree = ast.parse(fixed)  # the edited cell is still Python
            e = Edit.from_dict(f.edit)
            lines = range(e.start_line, e.start_line + len(e.replacement.splitlines()))
            bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
                    and n.lineno in lines}
            assert read <= known | bound, f"{name} {f.code}: the edit reads {sorted(read - known - bound)}"


ZOO = {**{n: (s, kw) for n, (s, kw, _) in zoo.FAULTY.items()},
       **{n: (s, kw) for n, (s, kw, _) in zoo.CATALOGUE.items()},
       **{n: (s, zoo.HEALTHY_CALLS[n]) for n, s in zoo.HEALTHY.items()}}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_zoo_fix_reads_only_the_cells_names(name: str) -> None:
    src, kwargs = ZOO[name]
    report, ns = _run(src, **kwargs)
    _assert_names_exist(name, src, report, ns)


# Cells whose probes give code fixes (learning rates, gradients, collapse).
PROBED = ["002_ex1_sigmoid_everywhere", "002_ex2_high_lr", "004_ex3_unnormalized", "002_prose_pixels_0_255"]


@pytest.mark.parametrize("name", PROBED)
def test_probe_fixes_read_only_the_cells_names(name: str) -> None:
    src, kwargs = ZOO[name]
    report, ns = _run(src, train=True, epochs=1, **kwargs)
    assert any(f.code[:3] in ("AE3", "AE4") for f in report.findings), report.codes
    _assert_names_exist(name, src, report, ns)


def test_healthy_cells_get_no_edit() -> None:
    for name in ("dense", "conv_transpose"):
        report, _ = _run(zoo.HEALTHY[name], **zoo.HEALTHY_CALLS[name])
        assert [f.code for f in report.findings if f.edit] == [], name


# -- the edits, code by code ---------------------------------------------------
def _edit(name: str, code: str) -> tuple[str, Edit]:
    src, kwargs = ZOO[name]
    report, _ = _run(src, **kwargs)
    f = report.get(code)
    assert f is not None and f.edit, (name, code, report.codes)
    return src, Edit.from_dict(f.edit)


def _line(src: str, n: int) -> str:
    return src.splitlines()[n - 1]


def test_raw_pixels_are_scaled_right_after_the_cell_defines_them() -> None:
    src, e = _edit("AE201_uint8_pixels", "AE201")
    assert e.start_line == e.end_line
    assert _line(src, e.start_line).startswith("x = ")
    assert e.replacement.splitlines() == [_line(src, e.start_line), 'x = x.astype("float32") / 255.0']


def test_data_from_outside_the_cell_is_scaled_at_its_top() -> None:
    import numpy as np

    cell = ("import keras\n"
            "inp = keras.Input(shape=(16,))\n"
            "out = keras.layers.Dense(16, activation='sigmoid')(keras.layers.Dense(4, activation='relu')(inp))\n"
            "ae = keras.Model(inp, out)\n"
            "ae.compile(optimizer='adam', loss='mse')\n")
    ns = {"pix": np.random.default_rng(0).integers(0, 256, size=(64, 16)).astype("uint8")}
    report = ae_magic.check(cell, namespace=ns, data="pix", train=False)
    e = Edit.from_dict(report.get("AE201").edit)
    assert (e.start_line, e.end_line) == (1, 1)
    assert e.replacement == 'pix = pix.astype("float32") / 255.0\nimport keras'


def test_softmax_output_with_bce_becomes_sigmoid_on_its_line() -> None:
    src, e = _edit("AE108_softmax_bce", "AE108")
    assert e.replacement == _line(src, e.start_line).replace("softmax", "sigmoid")


def test_classification_loss_becomes_mse_in_compile() -> None:
    _src, e = _edit("AE108_categorical_on_reconstruction", "AE108")
    assert ".compile(" in e.replacement and 'loss="mse"' in e.replacement


def test_from_logits_with_a_sigmoid_output_is_turned_off() -> None:
    src, e = _edit("AE108_sigmoid_with_from_logits", "AE108")
    assert e.replacement == _line(src, e.start_line).replace("from_logits=True", "from_logits=False")


def test_linear_output_with_bce_gets_a_sigmoid() -> None:
    src, e = _edit("004_prose_linear_bce", "AE108")
    assert 'activation="sigmoid"' in e.replacement and "activation" not in _line(src, e.start_line)


def test_saturating_code_becomes_relu() -> None:
    src, e = _edit("AE106_sigmoid_code", "AE106")
    assert e.replacement == _line(src, e.start_line).replace("sigmoid", "relu")


def test_decoder_wired_to_the_input_is_called_on_the_code() -> None:
    src, e = _edit("000_ex1_decoder_reads_input", "AE103")
    assert e.replacement == _line(src, e.start_line).replace("(input_img)", "(encoded)")


def test_uncompiled_model_is_compiled_after_it_is_built() -> None:
    _src, e = _edit("004_ex1_small_capacity", "AE109")
    assert e.replacement.endswith('model.compile(optimizer="adam", loss="mse")')


class _Ctx:
    """The few Context fields the edits read, for cells checked without probes."""

    def __init__(self, source: str, ns: dict) -> None:
        from ae_magic.options import Options

        self.source, self.namespace, self.options = source, ns, Options()
        self.model = self.data = self.target = None
        self.model_name, self.data_name, self.target_name = "ae", None, None

    def var_of(self, obj: object) -> None:
        return None


LR_CELL = ("import keras\n"
           "ae = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(4)])\n"
           "ae.compile(optimizer=keras.optimizers.Adam(1e-3), loss='mse')\n")


@pytest.mark.parametrize("code", ["AE401", "AE403", "AE406", "AE402"])
def test_learning_rate_fix_changes_the_rate_where_the_optimizer_is_made(code: str) -> None:
    import keras

    f = Finding(code=code, severity="warning", title="t", message="m",
                fix="optimizer = keras.optimizers.Adam(learning_rate=0.0001)", evidence={"suggested_lr": 1e-4})
    fixes.attach([f], _Ctx(LR_CELL, {"keras": keras}))
    assert f.edit == {"start_line": 3, "end_line": 3,
                      "replacement": "ae.compile(optimizer=keras.optimizers.Adam(learning_rate=0.0001), loss='mse')"}


def test_learning_rate_fix_spells_out_a_string_optimizer() -> None:
    import keras

    cell = LR_CELL.replace("keras.optimizers.Adam(1e-3)", "'adam'")
    f = Finding(code="AE406", severity="info", title="t", message="m", evidence={"suggested_lr": 0.003})
    fixes.attach([f], _Ctx(cell, {"keras": keras}))
    assert f.edit["replacement"] == "ae.compile(optimizer=keras.optimizers.Adam(learning_rate=0.003), loss='mse')"


def test_exploding_gradient_on_scaled_data_clips_the_norm() -> None:
    import keras

    f = Finding(code="AE303", severity="warning", title="t", message="m")
    fixes.attach([f], _Ctx(LR_CELL, {"keras": keras}))
    assert "Adam(1e-3, clipnorm=1.0)" in f.edit["replacement"]


def test_advice_stays_text_without_an_edit() -> None:
    src, kwargs = _first_with("AE107")
    report, _ = _run(src, **kwargs)
    f = report.get("AE107")
    assert f is not None and f.fix and f.edit is None


def _first_with(code: str) -> tuple[str, dict]:
    for src, kwargs, codes in zoo.CATALOGUE.values():
        if code in codes:
            return src, kwargs
    raise AssertionError(code)


# -- applying edits --------------------------------------------------------------
def test_apply_edits_skips_overlaps_and_duplicates_and_honours_the_line_offset() -> None:
    src = "a = 1\nb = 2\nc = 3\n"
    e1, e2, e3 = Edit(2, 2, "b = 20"), Edit(2, 3, "b = 0\nc = 0"), Edit(3, 3, "c = 30\nd = 4")
    fixed, applied = apply_edits(src, [e1, e1, e2, e3])
    assert fixed == "a = 1\nb = 20\nc = 30\nd = 4\n" and applied == [e1, e3]
    fixed, _ = apply_edits(src, [Edit(3, 3, "b = 5")], line_offset=1)  # a %%ae_check body: cell line 3 is body line 2
    assert fixed == "a = 1\nb = 5\nc = 3\n"


# -- fix texts in the cell's names ------------------------------------------------
def _names(**renames: str) -> fixes.Names:
    return fixes.Names(renames, set(renames.values()) | {"Dense", "tf"}, {"Dense"})


def test_generic_names_become_the_cells() -> None:
    out = fixes.localize("model.compile(optimizer='adam', loss='mse')\nx = x / 255.0", _names(model="ae", x="x_train"))
    assert out == "ae.compile(optimizer='adam', loss='mse')\nx_train = x_train / 255.0"


def test_layers_become_the_imported_class_or_tf_keras() -> None:
    n = fixes.Names({"layers": "tf.keras.layers", "keras": "tf.keras"}, {"Dense", "tf"}, {"Dense"})
    assert fixes.localize("h = layers.Dense(8)(inp)", n) == f"{fixes.TEMPLATE_NOTE}\nh = Dense(8)(...)"
    assert fixes.localize("keras.optimizers.Adam(1e-3)", n) == "tf.keras.optimizers.Adam(1e-3)"


def test_unknown_names_become_a_marked_template_and_prose_stays() -> None:
    text = "Call it on the previous tensor, e.g. `h = dense(previous_tensor)`, and use `h` next."
    out = fixes.localize(text, _names())
    assert "`h = ...(...)`" in out and out.startswith("Call it on the previous tensor")
    assert fixes.reads("layers.Dense(..., activation='relu')") == {"layers"}


def test_no_edit_where_no_setting_fixes_it() -> None:
    """NaN/Inf at the initial weights on scaled data, and a scale set by outliers: advice, not an edit to try."""
    import keras

    f = Finding(code="AE303", severity="warning", title="t", message="m", evidence={"before_any_step": True})
    fixes.attach([f], _Ctx(LR_CELL, {"keras": keras}))
    assert f.edit is None
    g = Finding(code="AE401", severity="error", title="t", message="m", evidence={"before_any_step": True, "suggested_lr": 1e-4})
    fixes.attach([g], _Ctx(LR_CELL, {"keras": keras}))
    assert g.edit is None


def test_a_function_in_a_fix_keeps_its_own_parameters() -> None:
    """A hand-written loss in a fix (``def masked_mse(y_true, y_pred)``) reads its parameters: they are no holes."""
    n = fixes.Names({"ops": "keras.ops"}, {"keras", "model"}, set())
    text = ("def masked_mse(y_true, y_pred):\n"
            "    observed = ops.cast(ops.not_equal(y_true, 0), y_pred.dtype)\n"
            "    return ops.sum(observed * ops.square(y_true - y_pred), axis=-1)\n"
            "\nmodel.compile(optimizer='adam', loss=masked_mse)")
    out = fixes.localize(text, n)
    assert "..." not in out and "y_true - y_pred" in out and "keras.ops.cast" in out, out
    # A name the snippet never binds is still a hole.
    assert "..." in fixes.localize("model.fit(x_missing, x_missing)", n)
