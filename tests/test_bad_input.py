"""Bad input gets a clear finding or message, never an internal traceback.

Every check here also asserts that nothing of ours broke on the way
(``report.internal_errors == []``) and that the only exception that may
escape ``check()`` is ``AeMagicUsageError``, for usage errors.
"""

from __future__ import annotations

import numpy as np
import pytest

import ae_magic
from ae_magic import keras_compat as kc
from ae_magic.engine import AeMagicUsageError

# A small healthy autoencoder factory, shared by the cells below.
HEAD = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
x = (1 / (1 + np.exp(-(rng.normal(size=(256, 3)) @ rng.normal(size=(3, 8)))))).astype("float32")


def make_ae(width, name=None):
    i = keras.Input(shape=(8,))
    h = layers.Dense(width, activation="relu")(i)
    ae = keras.Model(i, layers.Dense(8, activation="sigmoid")(h), name=name)
    ae.compile(optimizer="adam", loss="binary_crossentropy")
    return ae

"""


def _check(src: str, **kwargs: object) -> ae_magic.Report:
    report = ae_magic.check(src, train=False, **kwargs)
    assert report.internal_errors == [], report.internal_errors
    # The report must always serialise, whatever went wrong in the cell.
    report.to_json()
    report.text()
    return report


def _line_of(src: str, needle: str) -> int:
    for i, text in enumerate(src.splitlines(), start=1):
        if needle in text:
            return i
    raise AssertionError(f"{needle!r} not in the cell")


def _loud(report: ae_magic.Report) -> set[str]:
    return {f.code for f in report.findings if f.severity in ("error", "warning")}


# -- cells that give no model ------------------------------------------------------


@pytest.mark.parametrize("src", ["", "   \n\n", "# only a comment\n"])
def test_empty_cell(src: str) -> None:
    report = _check(src)
    assert report.model is None
    assert report.cell_error is None
    assert _loud(report) == set()
    assert "no Keras model" in report.text()


def test_syntax_error_names_the_line() -> None:
    src = "import keras\nx = (1,\ny = 2\n"
    report = _check(src)
    f = report.get("AE100")
    assert f is not None and f.severity == "error"
    assert f.line == 2
    assert "SyntaxError" in f.message
    assert report.cell_error is not None and report.cell_error["type"] == "SyntaxError"


def test_cell_without_model() -> None:
    src = "import numpy as np\nx = np.arange(12.0).reshape(3, 4) / 12\n"
    report = _check(src, data="x")
    assert report.model is None
    assert _loud(report) == set()
    assert "no Keras model" in report.text()


def test_cell_raising_before_any_model() -> None:
    src = "import numpy as np\nvalues = [1, 2]\nprint(values[5])\n"
    report = _check(src)
    f = report.get("AE100")
    assert f is not None and f.line == 3
    assert "IndexError" in f.message
    assert report.model is None


# -- choosing the autoencoder among several models ----------------------------------


def test_encoder_decoder_autoencoder_picks_autoencoder() -> None:
    # The autoencoder is bound first; encoder and decoder after it.
    src = HEAD + (
        "inp = keras.Input(shape=(8,))\n"
        "code = layers.Dense(3, activation='relu')(inp)\n"
        "out_layer = layers.Dense(8, activation='sigmoid')\n"
        "autoencoder = keras.Model(inp, out_layer(code))\n"
        "autoencoder.compile(optimizer='adam', loss='binary_crossentropy')\n"
        "encoder = keras.Model(inp, code)\n"
        "latent = keras.Input(shape=(3,))\n"
        "decoder = keras.Model(latent, out_layer(latent))\n"
    )
    report = _check(src, data="x")
    assert report.model is not None and report.model["variable"] == "autoencoder"
    assert {"encoder", "decoder"} <= set(report.model["other_models"])
    assert _loud(report) == set()


def test_two_unrelated_autoencoders_picks_last_bound() -> None:
    src = HEAD + "first = make_ae(3)\nsecond = make_ae(4)\n"
    report = _check(src, data="x")
    assert report.model is not None and report.model["variable"] == "second"


def test_last_bound_means_last_assignment_not_creation() -> None:
    src = HEAD + "second = make_ae(4)\nfirst = make_ae(3)\n"
    report = _check(src, data="x")
    assert report.model is not None and report.model["variable"] == "first"


def test_model_name_overrides_choice() -> None:
    src = HEAD + "first = make_ae(3)\nsecond = make_ae(4)\n"
    report = _check(src, data="x", model="first")
    assert report.model is not None and report.model["variable"] == "first"
    assert report.model["params"] == 8 * 3 + 3 + 3 * 8 + 8


def test_model_object_overrides_choice() -> None:
    ns: dict = {}
    src = HEAD + "first = make_ae(3)\nsecond = make_ae(4)\n"
    exec(compile(src, "<setup>", "exec"), ns)
    report = ae_magic.check(None, namespace=ns, data="x", model=ns["first"], train=False)
    assert report.internal_errors == []
    assert report.model is not None and report.model["variable"] == "first"


def test_single_model_with_wrong_shapes_is_still_chosen() -> None:
    src = HEAD + "inp = keras.Input(shape=(8,))\nclassifier = keras.Model(inp, layers.Dense(2, activation='softmax')(inp))\n"
    report = _check(src)
    assert report.model is not None and report.model["variable"] == "classifier"
    assert "AE105" in _loud(report)


# -- usage errors: a message naming the user's object, no traceback -----------------


def test_unknown_data_name() -> None:
    with pytest.raises(AeMagicUsageError, match="x_trian"):
        ae_magic.check(HEAD + "autoencoder = make_ae(3)\n", data="x_trian", train=False)


def test_unknown_target_name() -> None:
    with pytest.raises(AeMagicUsageError, match="clean"):
        ae_magic.check(HEAD + "autoencoder = make_ae(3)\n", data="x", target="clean", train=False)


def test_unknown_model_name() -> None:
    with pytest.raises(AeMagicUsageError, match="autoencodr"):
        ae_magic.check(HEAD + "autoencoder = make_ae(3)\n", data="x", model="autoencodr", train=False)


def test_non_keras_object_named_by_model() -> None:
    src = HEAD + "autoencoder = make_ae(3)\nsettings = {'epochs': 3}\n"
    with pytest.raises(AeMagicUsageError) as info:
        ae_magic.check(src, data="x", model="settings", train=False)
    msg = str(info.value)
    assert "settings" in msg and "dict" in msg


def test_non_keras_object_given_as_model() -> None:
    with pytest.raises(AeMagicUsageError, match="list"):
        ae_magic.check(None, namespace={}, model=[1, 2, 3], train=False)


def test_data_that_is_not_an_array() -> None:
    src = HEAD + "autoencoder = make_ae(3)\nconfig = {'a': 1}\n"
    with pytest.raises(AeMagicUsageError, match="config"):
        ae_magic.check(src, data="config", train=False)


def test_neither_source_nor_model() -> None:
    with pytest.raises(AeMagicUsageError):
        ae_magic.check(None, train=False)


# -- data that does not fit -----------------------------------------------------------


def test_data_of_wrong_shape() -> None:
    src = HEAD + "autoencoder = make_ae(3)\nwide = rng.random((32, 5)).astype('float32')\n"
    report = _check(src, data="wide")
    f = report.get("AE204")
    assert f is not None and f.severity == "error"
    assert "wide" in f.message and "(5,)" in f.message and "(8,)" in f.message
    assert f.fix


def test_image_data_without_channel_axis() -> None:
    src = (
        "import numpy as np\nimport keras\nfrom keras import layers\n"
        "imgs = np.random.default_rng(0).random((16, 8, 8)).astype('float32')\n"
        "inp = keras.Input(shape=(8, 8, 1))\n"
        "h = layers.Conv2D(4, 3, strides=2, padding='same', activation='relu')(inp)\n"
        "h = layers.Conv2DTranspose(4, 3, strides=2, padding='same', activation='relu')(h)\n"
        "autoencoder = keras.Model(inp, layers.Conv2D(1, 3, padding='same', activation='sigmoid')(h))\n"
        "autoencoder.compile(optimizer='adam', loss='mse')\n"
    )
    report = _check(src, data="imgs")
    f = report.get("AE204")
    assert f is not None and f.severity == "error"
    assert "None" in (f.fix or "") or "reshape" in (f.fix or "")


def test_string_data() -> None:
    src = HEAD + "autoencoder = make_ae(3)\nwords = np.array([['a'] * 8] * 4)\n"
    report = _check(src, data="words")
    f = report.get("AE204")
    assert f is not None and f.severity == "error"
    assert "words" in f.message and "numbers" in f.message


def test_data_given_as_array() -> None:
    src = HEAD + "autoencoder = make_ae(3)\n"
    report = _check(src, data=np.ones((4, 5), dtype="float32") * np.arange(5))
    f = report.get("AE204")
    assert f is not None and f.severity == "error"


def test_nan_data_is_counted() -> None:
    src = HEAD + "autoencoder = make_ae(3)\nx[0, :3] = np.nan\nx[5, 1] = np.inf\n"
    report = _check(src, data="x")
    f = report.get("AE202")
    assert f is not None and f.severity == "error"
    assert "3 NaN" in f.message and "1 Inf" in f.message
    assert "x" in f.message
    # Strict JSON even with non-finite evidence around.
    import json

    assert json.loads(report.to_json())["counts"]["error"] >= 1


def test_nan_in_target_only() -> None:
    src = HEAD + "autoencoder = make_ae(3)\nclean = x.copy()\nclean[2, 2] = np.nan\n"
    report = _check(src, data="x", target="clean")
    f = report.get("AE202")
    assert f is not None and "clean" in f.message


# -- cells that raise ------------------------------------------------------------


def test_cell_raising_after_the_autoencoder_is_built() -> None:
    # The autoencoder has a sigmoid code: its diagnosis (AE106) must still come.
    src = (
        "import numpy as np\nimport keras\nfrom keras import layers\n"
        "x = np.random.default_rng(0).random((64, 16)).astype('float32')\n"
        "inp = keras.Input(shape=(16,))\n"
        "code = layers.Dense(4, activation='sigmoid')(inp)\n"
        "autoencoder = keras.Model(inp, layers.Dense(16, activation='sigmoid')(code))\n"
        "autoencoder.compile(optimizer='adam', loss='mse')\n"
        "history = autoencoder.fitt(x, x)\n"
    )
    report = _check(src, data="x")
    err = report.get("AE100")
    assert err is not None and err.severity == "error"
    assert err.line == _line_of(src, "autoencoder.fitt(")
    assert "AttributeError" in err.message and "fitt" in err.message
    assert report.model is not None and report.model["variable"] == "autoencoder"
    assert "AE106" in _loud(report)
    assert report.cell_error is not None and report.cell_error["traceback"]


STANDALONE_DECODER = """\
import numpy as np
import keras
from keras import layers

input_img = keras.Input(shape=(64,))
encoded = layers.Dense(8, activation="relu")(input_img)
decoded = layers.Dense(64, activation="sigmoid")(encoded)
autoencoder = keras.Model(input_img, decoded)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")

encoder = keras.Model(input_img, encoded)
encoded_input = keras.Input(shape=(8,))
decoder = keras.Model(encoded_input, decoded)
"""


def test_disconnected_standalone_decoder() -> None:
    report = _check(STANDALONE_DECODER)
    f = report.get("AE101")
    assert f is not None and f.severity == "error"
    assert f.line == _line_of(STANDALONE_DECODER, "decoder = keras.Model(")
    # Names the input `decoded` really depends on, and the one it was given.
    assert "input_img" in f.message
    assert "encoded_input" in f.message
    assert f.fix
    # The autoencoder built before the failing line is still diagnosed (healthy).
    assert report.model is not None and report.model["variable"] == "autoencoder"
    assert _loud(report) == {"AE101"}


def test_disconnected_model_with_unrelated_input() -> None:
    src = (
        "import keras\nfrom keras import layers\n"
        "pixels = keras.Input(shape=(32,))\n"
        "h = layers.Dense(4, activation='relu')(pixels)\n"
        "recon = layers.Dense(32, activation='sigmoid')(h)\n"
        "other = keras.Input(shape=(32,))\n"
        "autoencoder = keras.Model(other, recon)\n"
    )
    report = _check(src)
    f = report.get("AE101")
    assert f is not None and f.severity == "error"
    assert f.line == _line_of(src, "autoencoder = keras.Model(")
    assert "pixels" in f.message


@pytest.mark.parametrize(
    "message",
    [
        "Graph disconnected: cannot find parent for tensor <KerasTensor shape=(None, 8), name=keras_tensor_3>. "
        "The following previous operations were accessed without issue: []",
        "Output with path `decoded` is not connected to `inputs`",
        "`inputs` not connected to `outputs`",
    ],
)
def test_all_three_disconnect_wordings(message: str) -> None:
    assert kc.is_disconnect_error(ValueError(message))


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("Input 0 of layer 'dense' is incompatible with the layer"),
        ValueError("All `inputs` values must be KerasTensors"),
        TypeError("Graph disconnected: cannot find parent for tensor"),
        AttributeError("The layer sequential has never been called and thus has no defined input."),
    ],
)
def test_other_errors_are_not_disconnects(exc: BaseException) -> None:
    assert not kc.is_disconnect_error(exc)


def test_real_keras_disconnect_error_is_recognised() -> None:
    import keras

    a = keras.Input(shape=(4,))
    b = keras.Input(shape=(4,))
    out = keras.layers.Dense(4)(a)
    with pytest.raises(ValueError) as info:
        keras.Model(b, out)
    assert kc.is_disconnect_error(info.value)


# -- unbuilt Sequential ----------------------------------------------------------

UNBUILT = """\
import numpy as np
import keras
from keras import layers

x = np.random.default_rng(0).random((64, 8)).astype("float32")
autoencoder = keras.Sequential([layers.Dense(3, activation="relu"), layers.Dense(8, activation="sigmoid")])
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
"""


def test_unbuilt_sequential_with_data_is_built_and_diagnosed() -> None:
    ns: dict = {}
    report = _check(UNBUILT, namespace=ns, data="x")
    f = report.get("AE112")
    assert f is not None and f.severity == "warning"
    assert f.line == _line_of(UNBUILT, "autoencoder = keras.Sequential(")
    assert "keras.Input" in (f.fix or "")
    assert report.model is not None and report.model["variable"] == "autoencoder"
    assert report.model["input_shape"] == [None, 8]
    assert _loud(report) == {"AE112"}
    # The user's model is left as the cell made it: still unbuilt.
    assert not ns["autoencoder"].built


def test_unbuilt_sequential_without_data_is_an_error() -> None:
    report = _check(UNBUILT)
    f = report.get("AE112")
    assert f is not None and f.severity == "error"
    assert f.line == _line_of(UNBUILT, "autoencoder = keras.Sequential(")
    assert "data" in f.message


def test_unbuilt_sequential_diagnosis_finds_faults() -> None:
    # Built from the data, the model is really diagnosed: its sigmoid code shows.
    src = UNBUILT.replace('layers.Dense(3, activation="relu")', 'layers.Dense(3, activation="sigmoid")')
    report = _check(src, data="x")
    assert _loud(report) == {"AE112", "AE106"}


def test_encoder_input_on_unbuilt_sequential() -> None:
    src = (
        "import numpy as np\nimport keras\nfrom keras import layers\n"
        "x = np.random.default_rng(0).random((64, 12)).astype('float32')\n"
        "encoder = keras.Sequential([layers.Dense(4, activation='relu')])\n"
        "decoder = keras.Sequential([layers.Dense(12, activation='sigmoid')])\n"
        "autoencoder = keras.Model(encoder.input, decoder(encoder.output))\n"
    )
    with_data = _check(src, data="x")
    f = with_data.get("AE112")
    assert f is not None and f.severity == "warning"
    assert f.line == _line_of(src, "autoencoder = keras.Model(")
    assert with_data.model is not None and with_data.model["variable"] == "autoencoder"
    assert with_data.model["output_shape"] == [None, 12]

    without = _check(src)
    f = without.get("AE112")
    assert f is not None and f.severity == "error"


# -- the user's exception can't be read, the data has no values (fuzz findings) ----------


def _captured(src: str):
    from ae_magic import capture
    from ae_magic.context import Context

    ctx = Context(source=src, namespace={})
    capture.run_cell(ctx, src)
    return ctx, capture.explain_cell_error(ctx)


BROKEN_STR = """\
class BadStr(Exception):
    def __str__(self):
        raise RuntimeError("__str__ is broken")

    def __repr__(self):
        raise RuntimeError("__repr__ is broken")


raise BadStr("hidden")
"""


def test_exception_whose_str_raises_is_captured_as_a_cell_error() -> None:
    ctx, findings = _captured(BROKEN_STR)
    assert ctx.cell_error is not None and ctx.cell_error.type == "BadStr"
    assert ctx.cell_error.line == _line_of(BROKEN_STR, "raise BadStr(")
    assert "BadStr" in ctx.cell_error.message  # a readable placeholder, not an exception of ours
    assert ctx.cell_error.traceback
    assert [f.code for f in findings] == ["AE100"]
    assert findings[0].line == ctx.cell_error.line


def test_exception_whose_str_raises_only_in_str() -> None:
    src = BROKEN_STR.replace('    def __repr__(self):\n        raise RuntimeError("__repr__ is broken")\n', "")
    ctx, findings = _captured(src)
    assert ctx.cell_error is not None and ctx.cell_error.message
    assert [f.code for f in findings] == ["AE100"]


@pytest.mark.parametrize("shape", [(0, 8), (5, 0), (3000, 0), (0, 0)])
def test_data_without_values_is_empty_not_a_crash(shape: tuple[int, ...]) -> None:
    import keras

    i = keras.Input(shape=(8,))
    model = keras.Model(i, keras.layers.Dense(8, activation="sigmoid")(keras.layers.Dense(3)(i)))
    model.compile(optimizer="adam", loss="mse")
    report = ae_magic.check(None, model=model, data=np.zeros(shape, dtype="float32"),
                            target=np.full(shape, np.nan, dtype="float32"), train=False)
    assert report.internal_errors == [], report.internal_errors
    f = report.get("AE204")
    assert f is not None and f.severity == "error" and "empty" in f.title
    assert "AE202" not in report.codes  # no values, so none of them is NaN
    report.to_json()


def test_empty_data_in_a_cell() -> None:
    src = HEAD + "autoencoder = make_ae(3)\nnone_yet = np.zeros((0, 8), dtype='float32')\n"
    report = _check(src, data="none_yet")
    f = report.get("AE204")
    assert f is not None and "none_yet" in f.message and "no samples" in f.message


@pytest.mark.parametrize(
    ("src", "exc_type"),
    [
        ("x = '\ud800'\n", "UnicodeEncodeError"),  # a lone surrogate: compile() can't encode the source
        ("x = " + "-" * 100_000 + "1\n", "MemoryError"),  # nesting beyond the parser's stack
    ],
    ids=["lone-surrogate", "parser-memory-error"],
)
def test_source_python_cannot_compile_is_a_cell_error(src: str, exc_type: str) -> None:
    # Plain Python raises these from compile(), not SyntaxError: still the cell's error, never ours.
    report = _check(src)
    f = report.get("AE100")
    assert f is not None and exc_type in f.message
    assert report.cell_error is not None and report.cell_error["type"] == exc_type
