"""AE201 at the line that scaled some columns only (``checks/partial_scaling.py``).

Round 87's lc02, a credit-card fraud detector: ``Amount`` standardised on its own, the raw ``Time`` column (up to
172,792 s) left as it was. AE201 named ``x = df.values``; the scaling the user wrote, and would extend to every
column, is the line that scaled ``Amount`` alone. Cells that scale every column, or that only derive a column from
others, keep AE201 (or its absence) as before.
"""

from __future__ import annotations

import pytest

import ae_magic


def _line(src: str, text: str) -> int:
    return next(i for i, line in enumerate(src.splitlines(), 1) if text in line)


def _codes(report: ae_magic.Report, code: str) -> list[ae_magic.Finding]:
    return [f for f in report.findings if f.code == code and f.severity in ("warning", "error")]


TABLE = """\
import numpy as np
import keras
from keras import layers

rng = np.random.default_rng(0)
n = 2000
v = rng.normal(size=(n, 3)) @ rng.normal(size=(3, 12))
seconds = np.sort(rng.uniform(0, 172792, n))
amount = rng.lognormal(3, 1.5, n)
table = np.column_stack([seconds, v, amount]).astype("float32")
table[:, -1] = (table[:, -1] - table[:, -1].mean()) / table[:, -1].std()
EXTRA
x = table[: 1600]

inp = keras.Input(shape=(14,))
h = layers.Dense(8, activation="relu")(inp)
code = layers.Dense(4, activation="relu")(h)
h = layers.Dense(8, activation="relu")(code)
out = layers.Dense(14)(h)
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
"""


def test_one_column_scaled_the_raw_one_named_at_that_scaling() -> None:
    src = TABLE.replace("EXTRA\n", "")
    report = ae_magic.check(src, namespace={}, data="x", train=False)
    found = _codes(report, "AE201")
    assert found, [f.code for f in report.findings]
    f = found[0]
    assert f.line == _line(src, "table[:, -1] = (")
    assert f.evidence["partial_scaling"]["raw"] == 1 and f.evidence["partial_scaling"]["worst"] == 0
    assert "table[:, -1]" in f.message and "only" in f.message
    assert "axis=0" in (f.fix or "")


def test_every_column_scaled_afterwards_is_silent() -> None:
    src = TABLE.replace("EXTRA", "table = (table - table.mean(axis=0)) / table.std(axis=0)")
    report = ae_magic.check(src, namespace={}, data="x", train=False)
    assert not _codes(report, "AE201"), [(f.code, f.line) for f in report.findings]


def test_a_derived_column_is_not_a_scaling() -> None:
    # No column is scaled here: AE201 stays where the data's values were made.
    src = TABLE.replace("table[:, -1] = (table[:, -1] - table[:, -1].mean()) / table[:, -1].std()",
                        "table[:, -1] = table[:, -1] - table[:, 1]")
    report = ae_magic.check(src.replace("EXTRA\n", ""), namespace={}, data="x", train=False)
    found = _codes(report, "AE201")
    assert found and "partial_scaling" not in found[0].evidence
    assert found[0].line != _line(src, "table[:, -1] = table")


def test_a_dataframe_column_scaled_alone_pandas() -> None:
    pytest.importorskip("pandas")
    src = """\
import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler
import keras
from keras import layers

rng = np.random.default_rng(0)
n = 2000
df = pd.DataFrame(rng.normal(size=(n, 3)) @ rng.normal(size=(3, 12)), columns=[f"V{i}" for i in range(12)])
df.insert(0, "Time", np.sort(rng.uniform(0, 172792, n)))
df["Amount"] = rng.lognormal(3, 1.5, n)
df["Amount"] = StandardScaler().fit_transform(df["Amount"].values.reshape(-1, 1))
x = df.values.astype("float32")

inp = keras.Input(shape=(14,))
code = layers.Dense(4, activation="relu")(layers.Dense(8, activation="relu")(inp))
out = layers.Dense(14)(layers.Dense(8, activation="relu")(code))
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
"""
    pytest.importorskip("sklearn")
    report = ae_magic.check(src, namespace={}, data="x", train=False)
    found = _codes(report, "AE201")
    assert found and found[0].line == _line(src, 'df["Amount"] = StandardScaler()')


def test_columns_named_by_a_list_variable_pandas() -> None:
    pytest.importorskip("pandas")
    pytest.importorskip("sklearn")
    src = """\
import numpy as np
import pandas as pd
from sklearn.preprocessing import MinMaxScaler
import keras
from keras import layers

rng = np.random.default_rng(1)
n = 2000
df = pd.DataFrame(rng.normal(size=(n, 3)) @ rng.normal(size=(3, 10)), columns=[f"s{i}" for i in range(10)])
df["pressure"] = rng.normal(101325, 900, n)
df["flow"] = rng.lognormal(2, 1, n)
scaled_cols = ["flow"]
df[scaled_cols] = MinMaxScaler().fit_transform(df[scaled_cols])
x = df.to_numpy(dtype="float32")

inp = keras.Input(shape=(12,))
code = layers.Dense(4, activation="relu")(layers.Dense(8, activation="relu")(inp))
out = layers.Dense(12)(layers.Dense(8, activation="relu")(code))
autoencoder = keras.Model(inp, out)
autoencoder.compile(optimizer="adam", loss="mse")
"""
    report = ae_magic.check(src, namespace={}, data="x", train=False)
    found = _codes(report, "AE201")
    assert found and found[0].line == _line(src, "df[scaled_cols] = MinMaxScaler()")
    assert "df[scaled_cols]" in found[0].message
