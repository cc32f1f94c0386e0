"""Every option of a check, once: its type, default, limits and help text.

The table :data:`OPTIONS` is the single source. ``%%ae_check``/``%ae_probe``
build their ``magic_arguments`` from it, the CLI builds its ``argparse``
flags from it, and :func:`validate` checks the values of every entry point
(API, magics, CLI, the panel's re-runs) before anything runs. The API's
signatures are written out in code so ``help()`` and type checkers see them;
``tests/test_options.py`` holds them to this table.

Defaults, chosen once for every door: the learning-rate range test
(AE406) is **off** by default everywhere (``check()``, ``probe()``, the
magics, the CLI) because it costs about 40 % more probe time; turn it on
with ``range_test=True`` / ``--range-test``. AE401-AE404 run it on demand
anyway so their messages can name a better rate.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageError

# Entry points ("fronts") an option appears in.
API, MAGIC_CHECK, MAGIC_PROBE, CLI = "api", "ae_check", "ae_probe", "cli"
_ALL = frozenset({API, MAGIC_CHECK, MAGIC_PROBE, CLI})
_FRONT_ENDS = frozenset({MAGIC_CHECK, MAGIC_PROBE, CLI})


@dataclass(frozen=True)
class Option:
    """One option: how it is spelled, what it accepts and what it does."""

    name: str
    kind: type  # int, float, bool or str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    # True: the minimum itself is refused (lr > 0).
    exclusive_minimum: bool = False
    metavar: str | None = None
    # Where the option exists. API-only options (the data as an array...) and
    # front-end-only options (--json) are marked here.
    fronts: frozenset[str] = _ALL
    # A boolean whose flag turns it off (``--no-train`` sets train=False).
    negative_flag: bool = False
    # Part of a run's probe settings (what the panel's runs table shows).
    probe_setting: bool = False
    # Help for the flag where it reads differently from the option (``--no-train``).
    flag_help: str | None = None
    # A boolean with both spellings (``--progress`` / ``--no-progress``),
    # whose "not given" (None) means "decide from the situation".
    both_flags: bool = False

    @property
    def flag(self) -> str:
        """The command-line / magic spelling, e.g. ``--no-train`` or ``--batch-size``."""
        stem = self.name.replace("_", "-")
        return f"--no-{stem}" if self.negative_flag else f"--{stem}"

    @property
    def flags(self) -> list[str]:
        """Every spelling of the option on a command line."""
        stem = self.name.replace("_", "-")
        return [self.flag, f"--no-{stem}"] if self.both_flags else [self.flag]

    def spelled(self, front: str) -> str:
        """How the user wrote this option at ``front``: ``--epochs`` or ``epochs=``."""
        return f"{self.name}=" if front == API else self.flag


OPTIONS: tuple[Option, ...] = (
    Option("data", str, None, "Variable holding the training data (array or tensor); the API also takes the array itself.",
           metavar="NAME"),
    Option("target", str, None, "Variable holding the reconstruction target when it is not the data (denoising: the clean data).",
           metavar="NAME"),
    Option("model", str, None, "Variable holding the autoencoder (default: the model the cell binds that maps its input to an "
           "output of the same shape, a compiled one first; the last such one).", metavar="NAME",
           fronts=frozenset({API, MAGIC_CHECK, CLI})),
    Option("train", bool, True, "Run the gradient and training probes (off: structure and data checks only).",
           negative_flag=True, probe_setting=True,
           flag_help="Skip the gradient and training probes (structure and data checks only)."),
    Option("epochs", int, None, "Epochs of the short training probe on a copy of the model (default: 3, at least 120 steps).",
           minimum=1, maximum=1000, metavar="N", probe_setting=True),
    Option("steps", int, None, "Optimizer steps of the whole training probe run, instead of epochs (default: from epochs and data).",
           minimum=1, maximum=100_000, metavar="N", probe_setting=True),
    Option("subset", int, None, "Samples of the data the probes use (default: up to 2,048).",
           minimum=8, maximum=10_000_000, metavar="N", probe_setting=True),
    Option("batch_size", int, None,
           "Batch size of the probes (default: the cell's fit batch_size when below 32, else 32; smaller for little data).",
           minimum=1, maximum=1_000_000, metavar="N", probe_setting=True),
    Option("lr", float, None, "Learning rate of the probe run (default: the model's optimizer's).",
           minimum=0.0, exclusive_minimum=True, maximum=100.0, metavar="X", probe_setting=True),
    Option("latent", int, None, "Probe a copy of the model rebuilt with this bottleneck width (Functional and Sequential models).",
           minimum=1, maximum=1_000_000, metavar="N", probe_setting=True),
    Option("seed", int, 0, "Seed of the probes (copy initialisation, shuffling); your own random state is not touched.",
           minimum=0, maximum=2**32 - 1, metavar="N", probe_setting=True),
    Option("range_test", bool, False, "Also run the learning-rate range test (AE406; about 40 % more probe time).",
           probe_setting=True),
    Option("json", bool, False, "Print the report as JSON instead of showing it.", fronts=_FRONT_ENDS),
    Option("html", str, None, "Also write a static HTML report (one file: PATH; several: PATH-N.html).", metavar="PATH",
           fronts=frozenset({CLI})),
    Option("color", bool, False, "Colour the text output.", fronts=frozenset({CLI})),
    Option("try_fixes", bool, False, "Try every fix that is an edit of the cell: re-check the edited cell and mark each "
           "finding verified when its finding is gone and the held-out MSE is no worse.", fronts=frozenset({CLI})),
    Option("progress", bool, None, "Show a progress bar on stderr while the probes run (default: when stderr is a "
           "terminal).", fronts=frozenset({CLI}), both_flags=True),
)

BY_NAME: dict[str, Option] = {o.name: o for o in OPTIONS}
PROBE_SETTINGS: tuple[str, ...] = tuple(o.name for o in OPTIONS if o.probe_setting)


def for_front(front: str) -> list[Option]:
    """The options that exist at ``front`` (``"api"``, ``"ae_check"``, ``"ae_probe"``, ``"cli"``)."""
    return [o for o in OPTIONS if front in o.fronts]


# -- validation --------------------------------------------------------------
def _check_value(opt: Option, value: Any, front: str) -> Any:
    """``value`` converted to the option's kind, or a UsageError naming the option as the user wrote it."""
    if value is None:
        return None
    who = opt.spelled(front)
    if opt.kind is bool:
        if isinstance(value, bool) or (isinstance(value, numbers.Integral) and value in (0, 1) and type(value).__name__ == "bool_"):
            return bool(value)
        raise UsageError(f"{who} must be True or False, got {value!r}.")
    if opt.kind is str:
        # The API accepts the array itself for data/target and a model object for model.
        return value
    if opt.kind is int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise UsageError(f"{who} must be a whole number, got {value!r}.")
        value = int(value)
    elif opt.kind is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise UsageError(f"{who} must be a number, got {value!r}.")
        value = float(value)
        if not math.isfinite(value):
            raise UsageError(f"{who} must be a finite number, got {value!r}.")
    lo, hi = opt.minimum, opt.maximum
    if lo is not None and (value < lo or (opt.exclusive_minimum and value == lo)):
        bound = f"greater than {lo:g}" if opt.exclusive_minimum else f"at least {lo:g}"
        raise UsageError(f"{who} must be {bound}, got {value!r}.")
    if hi is not None and value > hi:
        raise UsageError(f"{who} must be at most {hi:g}, got {value!r}.")
    return value


def validate(values: Mapping[str, Any], front: str = API) -> dict[str, Any]:
    """Check every value against the table; return them converted.

    Raises :class:`~ae_magic.errors.UsageError` for an unknown option, a
    value of the wrong type or outside its limits, and for combinations that
    can't mean anything (``target`` without ``data``, probe settings with the
    probes off).
    """
    out: dict[str, Any] = {}
    for name, value in values.items():
        opt = BY_NAME.get(name)
        if opt is None or front not in opt.fronts:
            known = ", ".join(o.spelled(front).rstrip("=") for o in for_front(front))
            raise UsageError(f"unknown option {name!r}; the options are {known}.")
        out[name] = _check_value(opt, value, front)
    if out.get("target") is not None and out.get("data") is None and front != MAGIC_PROBE:
        raise UsageError(f"{BY_NAME['target'].spelled(front)} needs {BY_NAME['data'].spelled(front)} too (the input the model reads).")
    if out.get("train") is False:
        moot = [BY_NAME[n].spelled(front) for n in ("epochs", "steps", "lr", "range_test")
                if out.get(n) not in (None, False)]
        if moot:
            off = "train=False" if front == API else BY_NAME["train"].flag
            raise UsageError(f"{off} turns the probes off, so "
                             f"{', '.join(moot)} would have no effect.")
    return out


@dataclass
class Options:
    """The validated probe settings of one run. ``None`` means "the probe's default"."""

    train: bool = True
    epochs: int | None = None
    steps: int | None = None
    subset: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    latent: int | None = None
    seed: int = 0
    range_test: bool = False
    # Added to cell line numbers, e.g. 1 for a %%ae_check cell whose body
    # starts on the cell's second line. Set by the front end, not the user.
    line_offset: int = 0
    # Called during probes with {"phase", "step", "total", "loss", ...} so a
    # panel or the CLI can show progress. Never serialised.
    progress: Callable[[dict[str, Any]], None] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_values(cls, values: Mapping[str, Any], front: str = API, **internal: Any) -> Options:
        """Validated Options from user values (probe settings only; others are ignored here)."""
        checked = validate({k: v for k, v in values.items() if k in PROBE_SETTINGS}, front)
        kw = {k: v for k, v in checked.items() if v is not None or BY_NAME[k].default is None}
        for k in ("train", "seed", "range_test"):
            if kw.get(k) is None:
                kw[k] = BY_NAME[k].default
        return cls(**kw, **internal)

    def replace(self, **changes: Any) -> Options:
        """A copy with some probe settings changed (validated)."""
        checked = validate({k: v for k, v in changes.items() if k != "progress"}, API)
        for k in ("train", "seed", "range_test"):
            if k in checked and checked[k] is None:
                checked[k] = BY_NAME[k].default
        if "progress" in changes:
            checked["progress"] = changes["progress"]
        return dataclasses.replace(self, **checked)

    def settings(self) -> dict[str, Any]:
        """The probe settings as plain data (what a report records as ``params``)."""
        return {k: getattr(self, k) for k in PROBE_SETTINGS}


# -- building front ends -------------------------------------------------------
def _arg_type(opt: Option, front: str) -> Callable[[str], Any]:
    """An argparse ``type`` that converts and range-checks, so a bad value is a usage error before anything runs."""

    def convert(text: str) -> Any:
        try:
            value = opt.kind(text)
        except ValueError:
            kind = "a whole number" if opt.kind is int else "a number"
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None
        try:
            return _check_value(opt, value, front)
        except UsageError as exc:
            # argparse prefixes "argument --epochs:"; keep the reason only.
            reason = str(exc).split(" must ", 1)[-1]
            raise argparse.ArgumentTypeError(f"must {reason.rstrip('.')}") from None

    convert.__name__ = opt.kind.__name__
    return convert


def argparse_kwargs(opt: Option, front: str) -> tuple[list[str], dict[str, Any]]:
    """``(flags, kwargs)`` for ``add_argument`` (argparse and IPython's ``magic_arguments.argument``)."""
    # argparse %-formats help strings.
    kw: dict[str, Any] = {"help": (opt.flag_help or opt.help).replace("%", "%%"), "dest": opt.name}
    if opt.kind is bool and opt.both_flags:
        kw["action"] = argparse.BooleanOptionalAction
        kw["default"] = None
        return [opt.flag], kw
    if opt.kind is bool:
        kw["action"] = "store_false" if opt.negative_flag else "store_true"
        kw["default"] = None  # None = "not given"; the table's default applies later
    else:
        kw["metavar"] = opt.metavar
        if opt.kind is not str:
            kw["type"] = _arg_type(opt, front)
    return [opt.flag], kw


def add_arguments(parser: argparse.ArgumentParser, front: str, skip: Iterable[str] = ()) -> None:
    """Add every option of ``front`` to an argparse parser."""
    for opt in for_front(front):
        if opt.name in skip:
            continue
        flags, kw = argparse_kwargs(opt, front)
        parser.add_argument(*flags, **kw)


def given(namespace: argparse.Namespace, front: str) -> dict[str, Any]:
    """The options the user actually gave on a command line (argparse namespace -> dict)."""
    out = {}
    for opt in for_front(front):
        value = getattr(namespace, opt.name, None)
        if value is not None:
            out[opt.name] = value
    return out
