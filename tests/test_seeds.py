"""The seed articles' code examples get exactly the codes the catalogue gives them.

The cells live in ``zoo.FAULTY`` (seeds 000-004, completed minimally; the
comments there say how and where a seed's claim does not hold under Keras 3).
These tests run the static and data families only (``train=False``); the
probe codes each cell should also get are in ``zoo.FAULTY_PROBE_CODES``.
``zoo.CATALOGUE`` adds one minimal cell per catalogue fault the seeds'
snippets do not show.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import zoo

import ae_magic

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _check(name: str, **overrides: object) -> ae_magic.Report:
    src, kwargs, _ = zoo.FAULTY[name]
    return ae_magic.check(src, train=False, **{**kwargs, **overrides})


def _line_of(src: str, needle: str) -> int:
    """1-based line of the first cell line containing ``needle``."""
    for i, text in enumerate(src.splitlines(), start=1):
        if needle in text:
            return i
    raise AssertionError(f"{needle!r} not in the cell")


def _loud(report: ae_magic.Report) -> set[str]:
    return {f.code for f in report.findings if f.severity in ("error", "warning")}


@pytest.mark.parametrize("name", sorted(zoo.FAULTY))
def test_seed_example_gets_exactly_its_codes(name: str) -> None:
    _, _, expected = zoo.FAULTY[name]
    if name in zoo.TF_ONLY:  # it calls TensorFlow itself; on another backend that is the finding
        expected = {"AE100"}
    report = _check(name)
    got = _loud(report)
    detail = [(f.code, f.severity, f.line, f.message[:160]) for f in report.findings]
    assert got == expected, f"{name}: expected {sorted(expected)}, got {sorted(got)}: {detail}"
    info = {f.code for f in report.findings if f.severity == "info"}
    if name not in zoo.TF_ONLY:
        assert zoo.FAULTY_INFO.get(name, set()) <= info, f"{name}: info {sorted(info)}"
    assert report.internal_errors == [], report.internal_errors


@pytest.mark.parametrize("name", sorted(zoo.CATALOGUE))
def test_catalogue_cell_gets_exactly_its_codes(name: str) -> None:
    src, kwargs, expected = zoo.CATALOGUE[name]
    report = ae_magic.check(src, train=False, **kwargs)
    got = _loud(report)
    detail = [(f.code, f.severity, f.line, f.message[:160]) for f in report.findings]
    assert got == expected, f"{name}: expected {sorted(expected)}, got {sorted(got)}: {detail}"
    assert report.internal_errors == [], report.internal_errors
    # Structural findings point at a cell line.
    for f in report.findings:
        if f.code in expected and f.code.startswith("AE1") and name not in LINE_GAPS:
            assert f.line is not None, (f.code, f.message)


# Cells whose finding cannot name a line (none today: raw keras.ops calls
# are recorded through Operation.symbolic_call).
LINE_GAPS: set[str] = set()


def test_raw_op_finding_names_its_line() -> None:
    src, kwargs, _ = zoo.CATALOGUE["AE111_raw_stop_gradient_op"]
    f = ae_magic.check(src, train=False, **kwargs).get("AE111")
    assert f is not None
    assert f.line == _line_of(src, "keras.ops.stop_gradient(h)")


def test_every_seed_is_covered() -> None:
    for seed in ("000", "001", "002", "003", "004"):
        assert any(n.startswith(seed) for n in zoo.FAULTY), seed
    # Corrected/improved versions that are real autoencoders must be silent.
    for name in ("000_ex3_corrected", "002_ex3_improved"):
        assert zoo.FAULTY[name][2] == set()
    # Every probe expectation names a known cell.
    assert set(zoo.FAULTY_PROBE_CODES) <= set(zoo.FAULTY)
    assert set(zoo.FAULTY_INFO) <= set(zoo.FAULTY)


# -- findings name the user's variables and lines ------------------------------


def test_000_ex1_names_dangling_encoded_and_bypassing_decoder() -> None:
    src = zoo.FAULTY["000_ex1_decoder_reads_input"][0]
    report = _check("000_ex1_decoder_reads_input")
    dangling = report.get("AE102")
    assert dangling is not None and dangling.severity == "warning"
    assert dangling.line == _line_of(src, "encoded = Dense(")
    assert "encoded" in dangling.message
    bypass = report.get("AE103")
    assert bypass is not None
    assert bypass.line == _line_of(src, "decoded = Dense(")
    assert "input_img" in bypass.message


def test_000_ex2_sigmoid_code_layer() -> None:
    src = zoo.FAULTY["000_ex2_sigmoid_bottleneck"][0]
    f = _check("000_ex2_sigmoid_bottleneck").get("AE106")
    assert f is not None and f.severity == "warning"
    assert f.line == _line_of(src, "encoded = Dense(")
    assert "sigmoid" in f.message


def test_000_standalone_decoder_is_disconnected_and_autoencoder_still_diagnosed() -> None:
    src = zoo.FAULTY["000_prose_standalone_decoder"][0]
    report = _check("000_prose_standalone_decoder")
    f = report.get("AE101")
    assert f is not None and f.severity == "error"
    assert f.line == _line_of(src, "decoder = keras.Model(")
    assert "input_img" in f.message
    assert report.model is not None and report.model["variable"] == "autoencoder"


def test_001_ex1_unused_layer_object() -> None:
    src = zoo.FAULTY["001_ex1_broken"][0]
    f = _check("001_ex1_broken").get("AE102")
    assert f is not None
    assert f.line == _line_of(src, "dense1 = keras.layers.Dense(")
    assert "dense1" in f.message


def test_002_decoder_size_divergence_is_located() -> None:
    report = _check("002_prose_decoder_32_for_28")
    f = report.get("AE105")
    assert f is not None and f.severity == "error"
    assert "28" in f.message and "32" in f.message
    assert f.line is not None
    assert f.fix


def test_003_unbuilt_sequential_with_and_without_data() -> None:
    src = zoo.FAULTY["003_ex1_latent_and_loss"][0]
    line = _line_of(src, "keras.Model(inputs=encoder.input")
    with_data = _check("003_ex1_latent_and_loss")
    f = with_data.get("AE112")
    assert f is not None and f.severity == "warning" and f.line == line
    assert with_data.model is not None and with_data.model["variable"] == "autoencoder"
    # Built from the data's shape: 100 features in and out.
    assert with_data.model["input_shape"] == [None, 100]
    assert with_data.model["output_shape"] == [None, 100]

    without = _check("003_ex1_latent_and_loss", data=None)
    f = without.get("AE112")
    assert f is not None and f.severity == "error" and f.line == line
    assert without.internal_errors == []


def test_003_small_initializer_measured() -> None:
    src = zoo.FAULTY["003_ex2_initializer"][0]
    f = _check("003_ex2_initializer").get("AE110")
    assert f is not None and f.severity == "warning"
    # Points at the first layer that uses the hand-set RandomNormal(0.05).
    assert f.line == _line_of(src, "Dense(50, activation='relu', kernel_initializer=initializer)")
    assert "shrink" in f.message


def test_004_unnormalised_data_evidence() -> None:
    report = _check("004_ex3_unnormalized")
    scale = report.get("AE201")
    assert scale is not None and "data" in scale.message
    rng = report.get("AE203")
    assert rng is not None and "sigmoid" in rng.message


# -- the Keras 3 facts the expectations above rest on --------------------------


def _run(src: str) -> dict:
    ns: dict = {}
    exec(compile(src, "<seed>", "exec"), ns)
    return ns


def test_keras3_001_ex2_both_versions_compute_the_same_connected_function() -> None:
    # The seed says tf.constant "creates a disconnected tensor" and the model
    # "will probably fail compilation"; under Keras 3 both versions build,
    # compile and compute inputs + [1, 2].
    a = np.array([[0.0, 0.0], [1.0, 5.0]], dtype="float32")
    for name in sorted({"001_ex2_custom_layer_tf_constant", "001_ex2_corrected"} - zoo.TF_ONLY):
        ns = _run(zoo.FAULTY[name][0])
        model = ns["model"]
        model.compile(optimizer="adam", loss="mse")
        np.testing.assert_allclose(model.predict(a, verbose=0), [[1.0, 2.0], [2.0, 7.0]])


def test_keras3_001_ex1_broken_model_predicts() -> None:
    # "Attempting to predict will likely fail due to the disconnected graph":
    # it does not; dense1 is simply unused.
    ns = _run(zoo.FAULTY["001_ex1_broken"][0])
    assert ns["model"].predict(np.zeros((1, 10), "float32"), verbose=0).shape == (1, 1)


def test_keras3_003_encoder_input_raises() -> None:
    # Keras 2 built the Sequential lazily; Keras 3 raises on `encoder.input`.
    src = zoo.FAULTY["003_ex1_latent_and_loss"][0]
    # (PyTorch backend: torch.nn.Module.__getattr__ rewords it.)
    with pytest.raises(AttributeError, match=r"no defined input|has no attribute .input."):
        _run(src)
