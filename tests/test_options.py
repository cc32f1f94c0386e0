"""The options table is the one source: API signatures, magic arguments and CLI flags follow it."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import ae_magic
from ae_magic import options
from ae_magic.cli import build_parser, main
from ae_magic.errors import UsageError

# Parameters of the public functions that are not options of the table.
NOT_OPTIONS = {"source", "namespace", "label", "progress"}


@pytest.mark.parametrize("fn", [ae_magic.check, ae_magic.probe])
def test_api_signature_matches_the_table(fn) -> None:
    sig = inspect.signature(fn)
    params = {n: p for n, p in sig.parameters.items() if n not in NOT_OPTIONS}
    table = {o.name: o for o in options.for_front(options.API)}
    # probe() takes the model positionally; check() takes it by keyword.
    if fn is ae_magic.probe:
        table.pop("model")
        params.pop("model")
    assert set(params) == set(table), (set(params) ^ set(table))
    for name, p in params.items():
        if name == "data" and fn is ae_magic.probe:
            continue  # required there
        assert p.default == table[name].default, name
    # Real signatures, not (*args, **kwargs), with a docstring.
    assert not any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in sig.parameters.values())
    assert fn.__doc__ and len(fn.__doc__) > 100


def test_cli_flags_match_the_table() -> None:
    parser = build_parser()
    check = next(a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == "check")[1]
    flags = {s for a in check._actions for s in a.option_strings} - {"-h", "--help"}
    assert flags == {f for o in options.for_front(options.CLI) for f in o.flags}


def test_magic_arguments_match_the_table() -> None:
    from IPython.core.magic_arguments import construct_parser

    from ae_magic.magics import AeMagics

    for magic, front in ((AeMagics.ae_check, options.MAGIC_CHECK), (AeMagics.ae_probe, options.MAGIC_PROBE)):
        parser = construct_parser(magic)
        flags = {s for a in parser._actions for s in a.option_strings} - {"-h", "--help"}
        assert flags == {o.flag for o in options.for_front(front)}, magic


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"epochs": 0}, "epochs= must be at least 1"),
        ({"epochs": -3}, "epochs= must be at least 1"),
        ({"epochs": 2.5}, "epochs= must be a whole number"),
        ({"epochs": True}, "whole number"),
        ({"lr": 0}, "lr= must be greater than 0"),
        ({"lr": float("nan")}, "finite"),
        ({"lr": "fast"}, "must be a number"),
        ({"seed": 1.5}, "seed= must be a whole number"),
        ({"seed": "a"}, "whole number"),
        ({"seed": -1}, "at least 0"),
        ({"latent": 0}, "latent= must be at least 1"),
        ({"train": "no"}, "True or False"),
        ({"bogus": 1}, "unknown option 'bogus'"),
        ({"target": "y"}, "target= needs data="),
        ({"train": False, "epochs": 3}, "train=False turns the probes off"),
    ],
)
def test_bad_values_are_refused(values, needle) -> None:
    with pytest.raises(UsageError, match=needle.replace("(", r"\(")):
        options.validate(values)


def test_check_refuses_bad_options_before_running_the_cell() -> None:
    ns: dict = {}
    with pytest.raises(UsageError):
        ae_magic.check("ran = True\n", namespace=ns, epochs=0)
    assert "ran" not in ns


def test_good_values_pass_converted() -> None:
    import numpy as np

    out = options.validate({"epochs": np.int64(3), "lr": 1, "seed": 7, "range_test": True})
    assert out == {"epochs": 3, "lr": 1.0, "seed": 7, "range_test": True}
    assert type(out["epochs"]) is int and type(out["lr"]) is float


def test_one_default_for_the_range_test_everywhere() -> None:
    assert options.BY_NAME["range_test"].default is False
    assert inspect.signature(ae_magic.check).parameters["range_test"].default is False
    assert inspect.signature(ae_magic.probe).parameters["range_test"].default is False
    args = build_parser().parse_args(["check", "f.py"])
    assert options.Options.from_values(options.given(args, options.CLI), options.CLI).range_test is False


@pytest.mark.parametrize(
    "argv",
    [["--epochs", "0"], ["--epochs", "-3"], ["--lr", "0"], ["--lr", "nan"], ["--latent", "0"], ["--seed", "x"],
     ["--no-train", "--epochs", "2"]],
)
def test_cli_refuses_nonsense_with_exit_2(argv, tmp_path, capsys) -> None:
    f = tmp_path / "m.py"
    f.write_text("x = 1\n")
    with pytest.raises(SystemExit) as info:
        main(["check", str(f), *argv])
    assert info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_cli_version() -> None:
    out = subprocess.run([sys.executable, "-m", "ae_magic.cli", "--version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == f"ae-magic {ae_magic.__version__}"


def test_cli_file_without_a_model_fails(tmp_path, capsys) -> None:
    f = tmp_path / "nomodel.py"
    f.write_text("import numpy as np\nx = np.arange(32.0).reshape(8, 4)\n")  # not constant: that is an error of its own
    assert main(["check", str(f), "--data", "x"]) == 3
    assert "no Keras model" in capsys.readouterr().err
