"""Generator of the fuzz cases of ``tests/test_fuzz.py``.

Cells are assembled from snippets along independent axes (data, model,
compile, a raising tail) and combined with option values, deterministically
(``random.Random(GENERATOR_SEED)``), so each run of the suite sees the same
cases with the same ids. Every axis value is drawn round-robin from a
shuffled pool, so each appears several times in different company.

This module imports no Keras: it only builds source text and option dicts.
The test decides what the outcome must be (see ``test_fuzz.expected``) from
a plain ``exec`` of the same cell and the validity marks of the options here.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np

GENERATOR_SEED = 20240611

# -- the cell's parts -------------------------------------------------------------

PRELUDE = "import random\nimport numpy as np\nimport keras\nfrom keras import layers\n"

# Per-sample shape of each model's input.
FLAT = (8,)
IMAGE = (8, 8, 1)

# name -> (per-sample shape, source that binds `autoencoder`)
MODELS: dict[str, tuple[tuple[int, ...], str]] = {
    "dense": (FLAT, """\
inp = keras.Input(shape=(8,))
code = layers.Dense(3, activation="relu")(inp)
autoencoder = keras.Model(inp, layers.Dense(8, activation="sigmoid")(code))
"""),
    "bn_dropout": (FLAT, """\
inp = keras.Input(shape=(8,))
h = layers.Dense(6, activation="relu")(inp)
h = layers.BatchNormalization()(h)
h = layers.Dropout(0.2)(h)
code = layers.Dense(3, activation="relu")(h)
h = layers.GaussianNoise(0.05)(code)
autoencoder = keras.Model(inp, layers.Dense(8, activation="sigmoid")(h))
"""),
    "conv": (IMAGE, """\
inp = keras.Input(shape=(8, 8, 1))
h = layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(inp)
h = layers.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu")(h)
autoencoder = keras.Model(inp, layers.Conv2D(1, 3, padding="same", activation="sigmoid")(h))
"""),
    "seq_noinput": (FLAT, """\
autoencoder = keras.Sequential([layers.Dense(3, activation="relu"), layers.Dense(8, activation="sigmoid")])
"""),
    "seq_input": (FLAT, """\
autoencoder = keras.Sequential([keras.Input(shape=(8,)), layers.Dense(3, activation="relu"), layers.Dense(8)])
"""),
    "subclassed": (FLAT, """\
class AE(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.enc = layers.Dense(3, activation="relu")
        self.dec = layers.Dense(8, activation="sigmoid")

    def call(self, t):
        return self.dec(self.enc(t))


autoencoder = AE()
autoencoder(np.zeros((1, 8), dtype="float32"))
"""),
    "subclassed_unbuilt": (FLAT, """\
class AE(keras.Model):
    def __init__(self):
        super().__init__()
        self.enc = layers.Dense(3, activation="relu")
        self.dec = layers.Dense(8, activation="sigmoid")

    def call(self, t):
        return self.dec(self.enc(t))


autoencoder = AE()
"""),
    "multi_output": (FLAT, """\
inp = keras.Input(shape=(8,))
code = layers.Dense(3, activation="relu")(inp)
autoencoder = keras.Model(inp, [layers.Dense(8, activation="sigmoid")(code), layers.Dense(8)(code)])
"""),
    "dict_output": (FLAT, """\
inp = keras.Input(shape=(8,))
code = layers.Dense(3, activation="relu")(inp)
autoencoder = keras.Model(inp, {"recon": layers.Dense(8, activation="sigmoid", name="recon")(code)})
"""),
    "multi_input": (FLAT, """\
a = keras.Input(shape=(8,))
b = keras.Input(shape=(8,))
code = layers.Dense(3, activation="relu")(layers.Concatenate()([a, b]))
autoencoder = keras.Model([a, b], layers.Dense(8, activation="sigmoid")(code))
"""),
    "no_weights": (FLAT, """\
inp = keras.Input(shape=(8,))
autoencoder = keras.Model(inp, layers.Activation("sigmoid")(inp))
"""),
    "no_trainable": (FLAT, """\
inp = keras.Input(shape=(8,))
code = layers.Dense(3, activation="relu")(inp)
autoencoder = keras.Model(inp, layers.Dense(8, activation="sigmoid")(code))
autoencoder.trainable = False
"""),
    "lambda": (FLAT, """\
inp = keras.Input(shape=(8,))
code = layers.Dense(3, activation="relu")(layers.Lambda(lambda t: t * 2.0 - 1.0)(inp))
autoencoder = keras.Model(inp, layers.Dense(8, activation="sigmoid")(code))
"""),
    "custom_noconfig": (FLAT, """\
class Scale(layers.Layer):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, t):
        return t * self.w * self.factor


inp = keras.Input(shape=(8,))
code = layers.Dense(3, activation="relu")(Scale(0.5)(inp))
autoencoder = keras.Model(inp, layers.Dense(8, activation="sigmoid")(code))
"""),
    # A layer whose non-trainable state changes whenever the model really runs:
    # ae_magic must never call the user's model.
    "counter": (FLAT, """\
class Counter(layers.Layer):
    def build(self, input_shape):
        self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False, name="calls")

    def call(self, t):
        self.calls.assign_add(1.0)
        return t


inp = keras.Input(shape=(8,))
code = Counter()(layers.Dense(3, activation="relu")(inp))
autoencoder = keras.Model(inp, layers.Dense(8, activation="sigmoid")(code))
"""),
    "odd_names": (FLAT, """\
inp = keras.Input(shape=(8,), name="in put $x")
h = layers.Dense(4, activation="relu", name="my layer")(inp)
h = layers.Dense(3, activation="relu", name="q'uo\\"te")(h)
h = layers.Dense(4, activation="relu", name="$cost {0} %s")(h)
autoencoder = keras.Model(inp, layers.Dense(8, activation="sigmoid", name="\\u00fc\\u5c42 <b>&amp;<i>")(h), name="auto encoder $1")
"""),
    "empty_name": (FLAT, """\
inp = keras.Input(shape=(8,))
h = layers.Dense(3, activation="relu", name="")(inp)
autoencoder = keras.Model(inp, layers.Dense(8, activation="sigmoid")(h), name="")
"""),
    "nested": (FLAT, """\
inp = keras.Input(shape=(8,))
encoder = keras.Model(inp, layers.Dense(3, activation="relu")(inp), name="encoder")
lat = keras.Input(shape=(3,))
decoder = keras.Model(lat, layers.Dense(8, activation="sigmoid")(lat), name="decoder")
autoencoder = keras.Model(inp, decoder(encoder(inp)))
"""),
    "raw_ops": (FLAT, """\
inp = keras.Input(shape=(8,))
code = layers.Dense(3, activation="relu")(inp)
autoencoder = keras.Model(inp, keras.ops.sigmoid(layers.Dense(8)(code) * 2.0))
"""),
}

# Models small enough to train in the training-probe cases.
TRAINABLE_MODELS = ["dense", "bn_dropout", "conv", "seq_noinput", "seq_input", "subclassed", "no_trainable", "lambda",
                    "custom_noconfig", "counter", "odd_names", "nested", "no_weights", "multi_output", "dict_output",
                    "empty_name", "raw_ops", "subclassed_unbuilt", "multi_input"]

# name -> source compiling `autoencoder` ("" leaves it uncompiled)
COMPILES: dict[str, str] = {
    "mse": 'autoencoder.compile(optimizer="adam", loss="mse")\n',
    "bce": 'autoencoder.compile(optimizer="adam", loss="binary_crossentropy")\n',
    "uncompiled": "",
    "unknown_loss": 'autoencoder.compile(optimizer="adam", loss="nonexistent_loss")\n',
    "raising_loss": """\
def broken_loss(y_true, y_pred):
    raise RuntimeError("the user's loss is broken")


autoencoder.compile(optimizer="adam", loss=broken_loss)
""",
    "nan_loss": """\
def nan_loss(y_true, y_pred):
    return keras.ops.mean(keras.ops.square(y_true - y_pred)) * float("nan")


autoencoder.compile(optimizer="adam", loss=nan_loss)
""",
    "sparse_cce": 'autoencoder.compile(optimizer="adam", loss="sparse_categorical_crossentropy")\n',
    "no_loss": 'autoencoder.compile(optimizer="adam")\n',
    "loss_object": "autoencoder.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss=keras.losses.MeanSquaredError())\n",
    "lambda_loss": 'autoencoder.compile(optimizer="rmsprop", loss=lambda y, p: keras.ops.mean(keras.ops.abs(y - p)))\n',
    "lr_schedule": ("autoencoder.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(1e-3, 100, 0.9)), "
                    "loss='mse')\n"),
    "lr_zero": 'autoencoder.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")\n',
    "dict_loss": 'autoencoder.compile(optimizer="adam", loss={"recon": "mse"})\n',
    "list_loss": 'autoencoder.compile(optimizer="adam", loss=["mse", "mae"])\n',
    "metrics": 'autoencoder.compile(optimizer="adam", loss="mse", metrics=["mae"])\n',
}

# name -> source template binding `x`; {N} samples, {S} the per-sample shape
# as "a, b", {W} a wrong per-sample shape, {F} features per sample.
# Templates that use the global np.random / random generators on purpose
# check that the check leaves those streams where a plain run leaves them.
DATA: dict[str, str] = {
    "normal": "x = rng.random(({N}, {S})).astype('float32')",
    "global_np": "x = np.random.rand({N}, {S}).astype('float32')\n_unused = random.random()",
    "pixels_u8": "x = rng.integers(0, 256, ({N}, {S})).astype('uint8')",
    "pixels_int": "x = rng.integers(0, 256, ({N}, {S}))",
    "nan_inf": "x = rng.random(({N}, {S})).astype('float32')\nx.flat[0] = np.nan\nx.flat[-1] = np.inf",
    "all_nan": "x = np.full(({N}, {S}), np.nan, dtype='float32')",
    "empty": "x = np.zeros((0, {S}), dtype='float32')",
    "one_sample": "x = rng.random((1, {S})).astype('float32')",
    "two_samples": "x = rng.random((2, {S})).astype('float32')",
    "constant": "x = np.full(({N}, {S}), 0.5, dtype='float32')",
    "all_zero": "x = np.zeros(({N}, {S}), dtype='float32')",
    "mostly_zero": "x = (rng.random(({N}, {S})) > 0.99).astype('float32')",
    "wrong_shape": "x = rng.random(({N}, {W})).astype('float32')",
    "wrong_rank": "x = rng.random(({N}, {S}, 2)).astype('float32')",
    "rank1": "x = rng.random({N}).astype('float32')",
    "pylist": "x = rng.random(({N}, {S})).astype('float32').tolist()",
    "ragged": "x = [[0.1, 0.2], [0.3]]",
    "string": "x = 'not an array'",
    "str_array": "x = np.array(['a'] * ({N} * {F})).reshape({N}, {S})",
    "bool": "x = rng.random(({N}, {S})) > 0.5",
    "float16": "x = rng.random(({N}, {S})).astype('float16')",
    "float64": "x = rng.random(({N}, {S}))",
    "huge": "x = (rng.random(({N}, {S})) * 1e30).astype('float32')",
    "huge_f64": "x = rng.random(({N}, {S})) * 1e300",
    "tiny": "x = (rng.random(({N}, {S})) * 1e-30).astype('float32')",
    "negative": "x = (-5.0 * rng.random(({N}, {S}))).astype('float32')",
    "object": "x = rng.random(({N}, {S})).astype(object)",
    "complex": "x = rng.random(({N}, {S})) + 1j",
    "dict": "x = {{'a': 1}}",
    "none": "x = None",
    "scalar": "x = 3.0",
    "tensor": "x = keras.ops.convert_to_tensor(rng.random(({N}, {S})).astype('float32'))",
    "strided": "x = rng.random(({N2}, {S})).astype('float32')[::2]",
    "readonly": "x = rng.random(({N}, {S})).astype('float32')\nx.flags.writeable = False",
    "int64_big": "x = np.full(({N}, {S}), 2 ** 62, dtype='int64')",
    "generator": "x = (i for i in range(3))",
    "no_features": "x = np.zeros(({N}, 0), dtype='float32')",
}
# Data a training probe can run on (used by the training cases).
TRAINABLE_DATA = ["normal", "global_np", "pixels_u8", "float16", "float64", "bool", "constant", "mostly_zero", "negative",
                  "pylist", "one_sample", "two_samples", "tensor", "strided", "readonly", "tiny", "pixels_int"]

# name -> (source appended to the cell, where: "end" | "start" | "replace")
RAISES: dict[str, tuple[str, str]] = {
    "ok": ("", "end"),
    "name_error": ("undefined_name_xyz\n", "end"),
    "name_error_first": ("undefined_name_xyz\n", "start"),
    "bad_str": ("""\
class BadStr(Exception):
    def __str__(self):
        raise RuntimeError("__str__ is broken")


raise BadStr("hidden")
""", "end"),
    "bad_str_repr": ("""\
class BadBoth(Exception):
    def __str__(self):
        raise RuntimeError("__str__ is broken")

    def __repr__(self):
        raise RuntimeError("__repr__ is broken")


raise BadBoth()
""", "end"),
    "bad_str_first": ("""\
class BadStr(Exception):
    def __str__(self):
        raise RuntimeError("__str__ is broken")


raise BadStr("hidden")
""", "start"),
    "syntax": ("x = (1,\n", "end"),
    "indentation": ("if True:\nprint('no indent')\n", "end"),
    "system_exit": ("raise SystemExit(3)\n", "end"),
    "sys_exit_first": ("import sys\nsys.exit('bye')\n", "start"),
    "base_exception": ("class Stop(BaseException):\n    pass\n\n\nraise Stop('a BaseException')\n", "end"),
    "object_arg": ("raise ValueError(object(), {'k': [1, 2]})\n", "end"),
    "nested_call": ("def f(n):\n    return 1 / n\n\n\nf(0)\n", "end"),
    "huge_message": ("raise ValueError('m' * 200_000)\n", "end"),
    "ansi_message": ("raise ValueError('\\x1b[31mred\\x1b[0m \\u00fc\\u5c42 \\x00 <script>alert(1)</script> ```')\n", "end"),
    "exception_group": ("raise ExceptionGroup('group', [ValueError('a'), TypeError('b')])\n", "end"),
    "chained": ("try:\n    {}['k']\nexcept KeyError as e:\n    raise RuntimeError('wrapped') from e\n", "end"),
    "stop_iteration": ("next(iter([]))\n", "end"),
    "recursion": ("def r():\n    return r()\n\n\nr()\n", "end"),
    "disconnect": ("_other = keras.Input(shape=(8,))\nbroken = keras.Model(_other, autoencoder.outputs)\n", "end"),
    "use_output": ("_out = autoencoder.output\n", "end"),
    "del_data": ("del x\n", "end"),
    "rebind_x": ("x = autoencoder\n", "end"),
    "keras_error": ("layers.Dense(-1)\n", "end"),
}


# -- option values ---------------------------------------------------------------

OK, BAD, EITHER = "ok", "bad", "either"


@dataclass(frozen=True)
class Opt:
    """One option value and whether ``check()`` must accept it."""

    name: str
    value: Any
    validity: str  # OK: a report; BAD: UsageError; EITHER: a report or UsageError

    def label(self) -> str:
        v = self.value
        if isinstance(v, float) and math.isnan(v):
            text = "nan"
        elif isinstance(v, np.generic):
            text = f"np.{type(v).__name__}({v.item()!r})"
        elif isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10**10:
            text = f"1e{len(str(abs(v))) - 1}" if v > 0 else f"-1e{len(str(abs(v))) - 1}"
        else:
            text = repr(v)
        return f"{self.name}={text}"

    def code(self) -> str:
        v = self.value
        if isinstance(v, float) and math.isnan(v):
            return f"{self.name}=float('nan')"
        if isinstance(v, float) and math.isinf(v):
            return f"{self.name}=float('{'inf' if v > 0 else '-inf'}')"
        if isinstance(v, np.generic):
            return f"{self.name}=np.{type(v).__name__}({v.item()!r})"
        return f"{self.name}={v!r}"


VALID_OPTS: dict[str, list[Any]] = {
    "lr": [None, None, 1e-3, 0.05, 1, 1e-7],
    "epochs": [None, 1],
    "latent": [None, None, 2, 4],
    "seed": [0, 7, np.int64(3), 123456, None, 2**32 - 1],
}
# Validity follows the options table (ae_magic/options.py, the documented
# limits of every option): lr in (0, 100], epochs in [1, 1000], latent in
# [1, 10**6], seed in [0, 2**32 - 1], steps >= 1, subset >= 8, batch_size >= 1,
# whole numbers for the int options (no bools, no floats, no strings), True or
# False for the switches.
INVALID_OPTS: list[Opt] = [
    Opt("lr", 0, BAD), Opt("lr", 0.0, BAD), Opt("lr", -1e-3, BAD), Opt("lr", float("nan"), BAD), Opt("lr", float("inf"), BAD),
    Opt("lr", "fast", BAD), Opt("lr", [1e-3], BAD), Opt("lr", True, BAD), Opt("lr", 1e9, BAD),
    Opt("epochs", 0, BAD), Opt("epochs", -2, BAD), Opt("epochs", 1.5, BAD), Opt("epochs", "2", BAD), Opt("epochs", float("nan"), BAD),
    Opt("epochs", 10**6, BAD),
    Opt("latent", 0, BAD), Opt("latent", -3, BAD), Opt("latent", 2.5, BAD), Opt("latent", "4", BAD), Opt("latent", 10**9, BAD),
    Opt("seed", 1.5, BAD), Opt("seed", "a", BAD), Opt("seed", [1], BAD), Opt("seed", float("nan"), BAD),
    Opt("seed", -1, BAD), Opt("seed", 2**40, BAD), Opt("seed", True, BAD),
    Opt("steps", 0, BAD), Opt("steps", -5, BAD), Opt("subset", 0, BAD), Opt("subset", -1, BAD), Opt("subset", 4, BAD),
    Opt("batch_size", 0, BAD), Opt("batch_size", -8, BAD), Opt("batch_size", 2.5, BAD),
    Opt("train", "no", BAD), Opt("range_test", "yes", BAD), Opt("train", None, EITHER),
]
# Probe settings that are moot with train=False (a usage error: "would have no effect").
# (latent is not: the structure checks run on the rebuilt copy.)
MOOT_WITHOUT_TRAINING = ("epochs", "steps", "lr", "range_test")
# Options probe() takes.
PROBE_OPTS = {"train", "lr", "latent", "epochs", "steps", "subset", "batch_size", "seed", "range_test"}


# -- cases -------------------------------------------------------------------------


@dataclass
class Case:
    """One fuzz case: what to run and with which options.

    kind: "cell" (``check(source, namespace=ns, ...)``), "model"
    (``check(None, namespace=ns, model=<shared model>, ...)``), "probe"
    (``probe(<shared model>, data, ...)``) or "api" (odd ``source`` values).
    """

    id: str
    kind: str
    model: str | None = None
    compile: str | None = None
    data: str | None = None
    raises: str = "ok"
    n: int = 64
    source: Any = None
    # keyword options passed to check()/probe(), as Opt (validity marked)
    opts: list[Opt] = field(default_factory=list)
    data_mode: str = "name"  # "name": data="x"; "object": the array itself; "missing": an unbound name; "none"
    target: str | None = None  # None, "same", "noisy", "missing", "wrong_shape"
    model_opt: str | None = None  # None, "name", "missing", "not_a_model"
    prepopulated: bool = False  # the namespace already holds a previous cell's objects
    seed_state: int = 0  # seeds set before the plain run and before the check
    source_validity: str = OK  # for "api" cases: whether check() must accept this `source`

    @property
    def invalid(self) -> str:
        """BAD when any option is invalid, else EITHER when any is ambiguous, else OK."""
        marks = {o.validity for o in self.opts} | {self.source_validity}
        kw = self.kwargs()
        if kw.get("train", True) is False and any(kw.get(n) not in (None, False) for n in MOOT_WITHOUT_TRAINING):
            marks.add(BAD)
        return BAD if BAD in marks else EITHER if EITHER in marks else OK

    def kwargs(self) -> dict[str, Any]:
        return {o.name: o.value for o in self.opts}

    def data_source(self) -> str | None:
        """The snippet binding ``x`` (None when there is no data)."""
        if self.data is None:
            return None
        shape = MODELS[self.model][0] if self.model else FLAT
        wrong = (*shape[:-1], shape[-1] + 3)
        feats = int(np.prod(shape))
        return f"rng = np.random.default_rng({self.n})\n" + DATA[self.data].format(
            N=self.n, N2=2 * self.n, S=", ".join(map(str, shape)), W=", ".join(map(str, wrong)), F=feats
        ) + "\n"

    def model_source(self) -> str:
        """The snippet building (and compiling) ``autoencoder``."""
        if self.compile == "fitted":
            shape = ", ".join(map(str, MODELS[self.model][0]))
            return MODELS[self.model][1] + COMPILES["mse"] + (
                f"_fit_x = np.random.default_rng(1).random((64, {shape})).astype('float32')\n"
                "try:  # real optimizer state (not every model can fit this)\n"
                "    autoencoder.fit(_fit_x, _fit_x, epochs=1, batch_size=32, verbose=0)\n"
                "except Exception:\n"
                "    pass\n"
            )
        return MODELS[self.model][1] + COMPILES[self.compile]

    def cell(self) -> str:
        """The full cell of a "cell" case."""
        if self.kind == "api":
            return self.source
        body = PRELUDE
        tail, where = RAISES[self.raises]
        if where == "start":
            body += tail
        if self.data is not None and self.data_mode in ("name", "missing"):
            body += self.data_source()
        body += self.model_source()
        if self.target == "noisy":
            body += "noisy = np.clip(np.asarray(x, dtype='float32') + 0.1, 0.0, 1.0)\n"
        elif self.target == "wrong_shape":
            body += "clean = np.zeros((5, 3), dtype='float32')\n"
        if where == "end":
            body += tail
        return body

    def check_kwargs_code(self) -> list[str]:
        """The check()/probe() keyword arguments as source, for the reproduction."""
        parts: list[str] = []
        if self.data is not None:
            parts.append({"name": "data='x'", "object": "data=x", "missing": "data='x_missing'"}.get(self.data_mode, ""))
        elif self.data_mode == "missing":
            parts.append("data='x_missing'")
        if self.target:
            parts.append({"same": "target='x'", "noisy": "target='noisy'", "missing": "target='clean_missing'",
                          "wrong_shape": "target='clean'"}[self.target])
        if self.model_opt:
            parts.append({"name": "model='autoencoder'", "missing": "model='autoencodr'", "not_a_model": "model='x'"}[self.model_opt])
        parts.extend(o.code() for o in self.opts)
        return [p for p in parts if p]

    def repro(self) -> str:
        """A standalone script reproducing the case (without the invariant checks)."""
        head = "import random\nimport numpy as np\nimport keras\nimport ae_magic\n\n"
        kw = ", ".join(self.check_kwargs_code())
        seed = f"keras.utils.set_random_seed({self.seed_state})\n"
        if self.kind == "api":
            return head + seed + f"report = ae_magic.check({self.source!r}, namespace={{}}{', ' + kw if kw else ''})\n"
        if self.kind == "cell":
            # (the test's prepopulated namespace also holds `old_model`, a compiled model of an earlier cell)
            ns = "{'previous': 1, '_': None, 'In': ['']}" if self.prepopulated else "{}"
            readable = "".join("# " + ln + "\n" for ln in self.cell().splitlines())
            data = ""
            if self.data is not None and self.data_mode == "object":
                data = "_d = {}\nexec(" + repr(PRELUDE + self.data_source()) + ", _d)\nx = _d['x']  # passed as an object\n"
            return (head + data + f"CELL = {self.cell()!r}\n" + "# the cell, readable:\n" + readable
                    + seed + f"ns = {ns}\n"
                    + f"report = ae_magic.check(CELL, namespace=ns{', ' + kw if kw else ''})\n"
                    + "print(report.codes, report.internal_errors)\n")
        build = PRELUDE + self.model_source() + (self.data_source() or "")
        setup = "ns = {}\nexec(" + repr(build) + ", ns)\nautoencoder, x = ns['autoencoder'], ns.get('x')\n"
        kw = ", ".join(p for p in self.check_kwargs_code() if not p.startswith("data="))
        if self.kind == "model":
            data_kw = "data='x'" if self.data_mode == "name" else "data=x"
            call = f"report = ae_magic.check(None, namespace={{'x': x}}, model=autoencoder, {data_kw}{', ' + kw if kw else ''})\n"
        else:
            call = f"report = ae_magic.probe(autoencoder, x{', ' + kw if kw else ''})\n"
        return head + setup + seed + call + "print(report.codes, report.internal_errors)\n"


class _Cycle:
    """Round-robin over a shuffled pool, reshuffled each round (every value appears, in varying company)."""

    def __init__(self, rng: random.Random, pool: list[Any]) -> None:
        self.rng, self.pool, self.queue = rng, list(pool), []

    def next(self) -> Any:
        if not self.queue:
            self.queue = list(self.pool)
            self.rng.shuffle(self.queue)
        return self.queue.pop()


def _valid_opt(rng: random.Random, name: str) -> Opt | None:
    v = rng.choice(VALID_OPTS[name])
    return None if v is None else Opt(name, v, OK)


def _replace(c: Case, opt: Opt) -> None:
    """Set option ``opt`` on ``c``, replacing a value of the same option."""
    c.opts = [o for o in c.opts if o.name != opt.name] + [opt]


def _label(c: Case) -> str:
    bits = [f"{len(CASES_SO_FAR):03d}", c.kind]
    if c.kind == "api":
        bits.append(type(c.source).__name__)
    else:
        bits += [c.model or "-", c.compile or "-", c.data or "nodata"]
        if c.data_mode != "name" and c.data is not None:
            bits.append(f"data_{c.data_mode}")
        if c.raises != "ok":
            bits.append(c.raises)
        if c.target:
            bits.append(f"target_{c.target}")
        if c.model_opt:
            bits.append(f"model_{c.model_opt}")
        if c.prepopulated:
            bits.append("prepop")
    opts = ",".join(o.label() for o in c.opts)
    label = "-".join(bits) + (f"-[{opts}]" if opts else "")
    return "".join(ch if 32 < ord(ch) < 127 else "_" for ch in label)


CASES_SO_FAR: list[Case] = []


def generate() -> list[Case]:
    """All cases, deterministically."""
    CASES_SO_FAR.clear()
    rng = random.Random(GENERATOR_SEED)
    out = CASES_SO_FAR

    def add(c: Case) -> None:
        c.seed_state = rng.randrange(1000)
        c.id = _label(c)
        out.append(c)

    models = _Cycle(rng, list(MODELS))
    compiles = _Cycle(rng, list(COMPILES))
    datas = _Cycle(rng, list(DATA))
    raises = _Cycle(rng, list(RAISES))
    invalid = _Cycle(rng, INVALID_OPTS)
    sizes = _Cycle(rng, [16, 32, 64, 100, 128, 200, 256])

    # 1. Cells, structure and data checks only (train=False): the bulk.
    for _ in range(230):
        c = Case(id="", kind="cell", model=models.next(), compile=compiles.next(), data=datas.next(), n=sizes.next())
        # a raising tail in about 40% of the cells, every kind in turn
        c.raises = raises.next() if rng.random() < 0.45 else "ok"
        c.opts.append(Opt("train", False, OK))
        if rng.random() < 0.4:
            o = _valid_opt(rng, "seed")
            if o is not None:
                c.opts.append(o)
        if rng.random() < 0.08:  # a probe setting with the probes off: moot (a usage error) unless latent
            name = rng.choice(["lr", "epochs", "latent"])
            # A latent size the model can't take (subclassed, unreadable config) is a usage error too.
            c.opts.append(Opt(name, rng.choice([v for v in VALID_OPTS[name] if v is not None]), EITHER if name == "latent" else OK))
        if rng.random() < 0.22:
            _replace(c, invalid.next())
        r = rng.random()
        c.data_mode = "missing" if r < 0.06 else "object" if r < 0.14 else "none" if r < 0.18 else "name"
        if c.data_mode == "none":
            c.data = None
        if c.data is not None and rng.random() < 0.12:
            c.target = rng.choice(["same", "noisy", "missing", "wrong_shape"])
            if c.target == "noisy" and c.data not in TRAINABLE_DATA:
                c.target = "same"
        if rng.random() < 0.1:
            c.model_opt = rng.choice(["name", "name", "missing", "not_a_model"])
        c.prepopulated = rng.random() < 0.2
        add(c)

    # 2. Cells with the training probe: tiny models, 64-200 samples, one epoch.
    #    Every trainable model once with an ordinary compile and ordinary data
    #    (so a failure is the model's), then a few wild combinations.
    tdatas = _Cycle(rng, TRAINABLE_DATA)
    tcompiles = _Cycle(rng, list(COMPILES))
    traises = _Cycle(rng, ["name_error", "bad_str", "system_exit", "use_output", "nested_call"])
    plain_models = list(TRAINABLE_MODELS)
    rng.shuffle(plain_models)
    odd_compiles = [k for k in COMPILES if k not in ("mse", "bce", "uncompiled")]
    plan = [(m, None) for m in plain_models] + [("dense", k) for k in odd_compiles] + [(None, None)] * 3
    for i, (model, comp) in enumerate(plan):
        wild = model is None
        c = Case(id="", kind="cell", model=rng.choice(TRAINABLE_MODELS) if wild else model,
                 compile=tcompiles.next() if wild else comp or rng.choice(["mse", "bce", "uncompiled"]),
                 data=tdatas.next() if wild else rng.choice(["normal", "pixels_u8", "float64", "global_np"]),
                 n=rng.choice([64, 100, 128, 200]), raises=traises.next() if wild and i % 2 else "ok")
        c.opts += [Opt("train", True, OK), Opt("epochs", 1, OK)]
        if rng.random() < 0.5:
            c.opts.append(Opt("lr", rng.choice([1e-3, 0.05, 1e-5]), OK))
        c.opts.append(Opt("seed", rng.choice([0, 5, np.int64(9)]), OK))
        # odd but valid probe sizes
        if wild:
            for name, values in (("batch_size", [1, 7, 512]), ("subset", [8, 50]), ("steps", [1, 3])):
                if rng.random() < 0.4:
                    c.opts.append(Opt(name, rng.choice(values), OK))
        if i % 8 == 3:
            c.opts.append(Opt("range_test", True, OK))
        if i % 6 == 1:
            c.target = "noisy"
        c.prepopulated = i % 5 == 2
        add(c)

    # 3. Shared (already built) models passed as objects: no cell runs.
    mmodels = _Cycle(rng, [m for m in MODELS if m not in ("subclassed_unbuilt",)] + ["subclassed_unbuilt"])
    mcompiles = _Cycle(rng, ["mse", "bce", "uncompiled", "raising_loss", "sparse_cce", "unknown_loss", "lr_schedule",
                             "no_loss", "fitted", "fitted", "nan_loss", "dict_loss"])
    for i in range(40):
        train = i % 10 == 0
        c = Case(id="", kind="model", model=mmodels.next(), compile=mcompiles.next(),
                 data=tdatas.next() if train else datas.next(), n=rng.choice([64, 128]))
        c.data_mode = "object" if i % 3 else "name"
        c.opts.append(Opt("train", train, OK))
        if train:
            c.opts.append(Opt("epochs", 1, OK))
            if i % 8 == 4:
                c.opts.append(Opt("batch_size", rng.choice([1, 3]), OK))
                c.opts.append(Opt("steps", 2, OK))
        else:
            if rng.random() < 0.4:
                o = _valid_opt(rng, "seed")
                if o is not None:
                    c.opts.append(o)
            if rng.random() < 0.1:
                c.opts.append(Opt("latent", 2, EITHER))  # probes off: structure checks of a rebuilt copy (or a usage error)
            if rng.random() < 0.3:
                _replace(c, invalid.next())
        add(c)

    # 4. probe() on shared models: a few real runs, the rest invalid options (fail fast).
    pinvalid = _Cycle(rng, [o for o in INVALID_OPTS if o.name in PROBE_OPTS])
    pmodels = _Cycle(rng, ["dense", "seq_noinput", "subclassed", "conv", "custom_noconfig", "counter", "bn_dropout"])
    for i in range(22):
        real = i % 3 == 0
        c = Case(id="", kind="probe", model=pmodels.next(), compile=rng.choice(["mse", "bce", "uncompiled", "fitted"]),
                 data=tdatas.next() if real else rng.choice(list(DATA)), n=rng.choice([64, 128]), data_mode="object")
        c.opts += [Opt("epochs", 1, OK), Opt("range_test", False, OK)]
        if real:
            if i % 2 == 0:
                # documented: a model whose code width can't be changed raises a usage error
                c.opts.append(Opt("latent", 2, EITHER))
            c.opts.append(Opt("lr", rng.choice([1e-3, 0.01]), OK))
        else:
            _replace(c, pinvalid.next())
        add(c)

    # 5. Pinned combinations the round-robin may not pair: an unbuilt model is
    #    built from the data's shape, so odd data shapes reach the model itself.
    for model, data in (("seq_noinput", "no_features"), ("seq_noinput", "rank1"), ("seq_noinput", "wrong_rank"),
                        ("subclassed_unbuilt", "no_features"), ("seq_noinput", "empty")):
        c = Case(id="", kind="cell", model=model, compile="mse", data=data, n=16)
        c.opts.append(Opt("train", False, OK))
        add(c)

    # 6. Odd `source` values.
    for src, validity in [(123, BAD), (b"x = 1\n", EITHER), (["x = 1"], BAD), ("x = 1\0\n", OK), ("\ufeffx = 1\n", OK),
                          ("x = 1\r\ny = 2\r\n", OK), ("\t\n", OK), ("# only a comment", OK), ("x = 1\n" * 2000, OK),
                          ("import sys\nsys.exit()\n", OK), ("x = '\ud800'\n", OK), ("x = " + "-" * 100_000 + "1\n", OK),
                          ("(" * 300 + ")" * 300 + "\n", OK), ("def f(:\n    pass\n", OK)]:
        c = Case(id="", kind="api", source=src, source_validity=validity)
        c.opts.append(Opt("train", False, OK))
        add(c)
    return list(out)


def opt_pairs() -> list[tuple[str, str]]:
    """(option, value label) pairs the generated cases cover, for a coverage test."""
    return sorted({(o.name, o.label()) for c in generate() for o in c.opts})


__all__ = ["BAD", "EITHER", "OK", "Case", "Opt", "generate"]
