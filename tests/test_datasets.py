"""The bundled datasets: shapes, ranges, licences, and the offline fallback of load_mnist."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ae_magic import datasets
from ae_magic.datasets import DATASETS, info, load, load_digits, load_mnist

PKG_DIR = Path(datasets.__file__).parent


def test_mnist_default_is_normalised_28x28_float32() -> None:
    x = load()
    assert x.shape == (5000, 28, 28)
    assert x.dtype == np.float32
    assert float(x.min()) == 0.0
    assert float(x.max()) == 1.0
    # Real digits: mostly background, a stroke in every image.
    assert 0.05 < float(x.mean()) < 0.25
    assert (x.reshape(len(x), -1).max(axis=1) > 0.5).all()


def test_mnist_raw_is_uint8_0_255_and_matches_normalised() -> None:
    raw = load(normalize=False)
    assert raw.dtype == np.uint8
    assert int(raw.max()) == 255
    np.testing.assert_allclose(load(), raw.astype(np.float32) / 255.0)


def test_flatten_and_limit_and_labels() -> None:
    x, y = load(flatten=True, limit=1000, return_labels=True)
    assert x.shape == (1000, 784)
    assert y.shape == (1000,)
    # The file is shuffled, so any prefix holds every digit.
    assert set(np.unique(y).tolist()) == set(range(10))
    _, all_y = load(return_labels=True)
    assert np.bincount(all_y).tolist() == [500] * 10


def test_digits() -> None:
    x, y = load_digits(return_labels=True)
    assert x.shape == (1797, 8, 8)
    assert x.dtype == np.float32
    assert float(x.max()) == 1.0
    raw = load("digits", normalize=False, flatten=True)
    assert raw.shape == (1797, 64)
    assert int(raw.max()) == 16
    assert set(y.tolist()) == set(range(10))


def test_bad_names_and_limits_give_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"Unknown dataset 'cifar'.*digits, mnist"):
        load("cifar")
    with pytest.raises(ValueError, match="positive"):
        load(limit=0)


def test_licences_are_recorded_for_every_file() -> None:
    licence = (PKG_DIR / "LICENSE-DATA.md").read_text()
    readme = (PKG_DIR / "README.md").read_text()
    for meta in DATASETS.values():
        assert (PKG_DIR / "data" / meta.file).is_file()
        assert meta.file in licence
        assert meta.file in readme
        assert info(meta.name) is meta
    assert "CC BY-SA 3.0" in licence
    assert "CC BY 4.0" in licence


def test_bundled_data_is_small() -> None:
    # Binder pulls the whole image: keep the package data under 5 MB.
    total = sum(f.stat().st_size for f in (PKG_DIR / "data").iterdir())
    assert total < 5 * 1024 * 1024


def test_load_mnist_without_download_is_the_bundled_subset() -> None:
    x, source = load_mnist(flatten=True, return_source=True)
    assert source == "bundled"
    np.testing.assert_array_equal(x, load(flatten=True))


def test_load_mnist_falls_back_when_host_unreachable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(datasets, "_host_reachable", lambda *a, **k: False)

    def must_not_download(timeout: float) -> None:
        raise AssertionError("keras download attempted although the host is unreachable")

    monkeypatch.setattr(datasets, "_keras_mnist", must_not_download)
    x, y, source = load_mnist(allow_download=True, return_labels=True, return_source=True)
    assert source == "bundled"
    assert x.shape == (5000, 28, 28)
    assert y.shape == (5000,)


def test_load_mnist_falls_back_when_download_breaks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(datasets, "_host_reachable", lambda *a, **k: True)

    def broken(timeout: float) -> None:
        raise OSError("connection reset by peer")

    monkeypatch.setattr(datasets, "_keras_mnist", broken)
    x, source = load_mnist(allow_download=True, return_source=True)
    assert source == "bundled"
    assert x.shape == (5000, 28, 28)


def test_load_mnist_uses_keras_when_it_works(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = np.full((7, 28, 28), 255, dtype=np.uint8)
    monkeypatch.setattr(datasets, "_host_reachable", lambda *a, **k: True)
    monkeypatch.setattr(datasets, "_keras_mnist", lambda timeout: (fake, np.arange(7)))
    x, source = load_mnist(allow_download=True, flatten=True, return_source=True)
    assert source == "keras"
    assert x.shape == (7, 784)
    assert x.dtype == np.float32
    assert float(x.max()) == 1.0


def test_host_check_respects_its_deadline() -> None:
    # A port nothing listens on at localhost is refused at once; the real
    # point is that the function returns False instead of raising.
    assert datasets._host_reachable("127.0.0.1", 9, timeout=0.5) is False


def test_load_mnist_offline_really_returns(tmp_path: Path) -> None:
    """End to end in a fresh process with the real network code (no monkeypatching).

    Whatever this machine's network does, the call must come back with data;
    the subprocess timeout is a hang guard, not a speed measurement.
    """
    code = textwrap.dedent(
        """
        from ae_magic.datasets import load_mnist
        x, source = load_mnist(allow_download=True, timeout=2.0, return_source=True)
        print(source, x.shape, x.dtype)
        """
    )
    env = dict(os.environ, KERAS_HOME=str(tmp_path), TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    source, _, rest = out.stdout.strip().partition(" ")
    assert source in {"bundled", "keras"}
    assert "float32" in rest
    if source == "bundled":
        assert "(5000, 28, 28)" in rest
    else:
        assert "(60000, 28, 28)" in rest


def test_show_digits_draws_rows_as_png() -> None:
    from ae_magic.datasets import show_digits

    x = load(flatten=True, limit=10)
    grid = show_digits(x, load(limit=10), titles=["flat", "square"], n=5)
    assert len(grid.figure.axes) == 10
    assert grid._repr_png_().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="square images"):
        show_digits(np.zeros((3, 10)))
