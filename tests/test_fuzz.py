"""Generated fuzz test: whatever the cell, the model, the data and the options,
``check()`` and ``probe()`` keep their promises.

For every case (generated in ``tests/fuzz_cases.py``) the same cell first runs
with a plain ``exec`` in a fresh dict, from the same seeds; that run is the
reference. Then ``ae_magic.check`` (or ``probe``) runs it, and:

* no exception escapes except ``ae_magic.errors.UsageError``, with a
  non-empty message, and exactly when an option is invalid or a name
  (data, target, model) does not exist / is not what it must be;
* ``report.internal_errors == []``, ``json.loads(report.to_json())`` works
  (and ``report.text()`` renders);
* a cell that raised (in the plain run) gets a cell finding (AE100, AE101,
  AE112) and ``report.cell_error``; a cell that did not, gets neither;
* the user's models are byte-identical to the plain run's (every variable,
  non-trainable and optimizer variables included, the built/compiled state)
  and models passed as objects are byte-identical before and after, with
  the same optimizer and loss objects;
* the namespace has exactly the plain run's keys, and its arrays the same bytes;
* ``random`` and ``np.random`` draw after the check what they draw after the
  plain run.

All failures of one case are collected into one assertion message, with a
standalone reproduction of the case.
"""

from __future__ import annotations

import json
import random
import traceback
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import pytest

import ae_magic
from ae_magic.errors import UsageError, safe_str
from tests.fuzz_cases import BAD, DATA, EITHER, MODELS, PRELUDE, RAISES, Case, generate

CASES = generate()
CELL_CODES = {"AE100", "AE101", "AE112"}


# -- helpers -------------------------------------------------------------------------


def _seed(s: int) -> None:
    keras.utils.set_random_seed(int(s))


def _draws() -> tuple[float, list[float]]:
    return random.random(), np.random.random(3).tolist()


def _exec_plain(source: Any, ns: dict[str, Any]) -> BaseException | None:
    """The cell as Python runs it without ae_magic."""
    try:
        exec(compile(source, "<plain-cell>", "exec"), ns)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        return exc
    return None


def _model_state(m: Any) -> dict[str, Any]:
    """Everything of a model a check must not disturb, compared by position
    (layer names carry global counters that differ between two runs)."""
    opt = getattr(m, "optimizer", None)
    return {
        "variables": [(str(v.path), tuple(v.shape), str(v.dtype), bool(v.trainable), np.asarray(v.numpy()).tobytes())
                      for v in m.variables],
        "optimizer": None if opt is None else (type(opt).__name__, [(str(v.path), np.asarray(v.numpy()).tobytes()) for v in opt.variables]),
        "built": bool(m.built),
        "compiled": bool(getattr(m, "compiled", False)),
        "trainable": [bool(layer.trainable) for layer in m.layers],
    }


def _state_diff(name: str, before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    out: list[str] = []
    bv, av = before["variables"], after["variables"]
    if len(bv) != len(av):
        out.append(f"model `{name}`: {len(bv)} variables before, {len(av)} after")
    else:
        for i, ((path, shape, dtype, tr, b), (_p, shape2, dtype2, tr2, a)) in enumerate(zip(bv, av, strict=True)):
            if (shape, dtype, tr, b) != (shape2, dtype2, tr2, a):
                kind = "trainable" if tr else "non-trainable"
                out.append(f"model `{name}`: {kind} variable #{i} ({path}) changed")
    bo, ao = before["optimizer"], after["optimizer"]
    if (bo is None) != (ao is None) or (bo is not None and (bo[0], [b for _p, b in bo[1]]) != (ao[0], [a for _p, a in ao[1]])):
        if bo is None or ao is None or bo[0] != ao[0] or len(bo[1]) != len(ao[1]):
            out.append(f"model `{name}`: optimizer {bo and (bo[0], len(bo[1]))} -> {ao and (ao[0], len(ao[1]))} (class, #variables)")
        else:
            changed = [p for (p, b), (_q, a) in zip(bo[1], ao[1], strict=True) if b != a]
            out.append(f"model `{name}`: optimizer variables changed: {changed}")
    for key in ("built", "compiled", "trainable"):
        if before[key] != after[key]:
            out.append(f"model `{name}`: {key} {before[key]} -> {after[key]}")
    return out


def _is_model(v: Any) -> bool:
    return isinstance(v, keras.Model)


def _arrayable(v: Any) -> bool:
    try:
        return np.asarray(v).ndim > 0
    except Exception:
        return False


def _tail(exc: BaseException, lines: int = 14) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return "\n".join("      " + ln for ln in text.rstrip().splitlines()[-lines:])


def _tb_tail(tb: str, lines: int = 12) -> str:
    return "\n".join("      " + ln for ln in tb.rstrip().splitlines()[-lines:])


# -- shared, already built models (kind "model"/"probe") --------------------------------

_SHARED: dict[tuple[str, str], Any] = {}


def _shared_model(model: str, compile_: str) -> Any:
    key = (model, compile_)
    if key not in _SHARED:
        _seed(0)
        ns: dict[str, Any] = {}
        exec(compile(PRELUDE + Case(id="", kind="model", model=model, compile=compile_).model_source(), "<shared>", "exec"), ns)
        _SHARED[key] = ns["autoencoder"]
    return _SHARED[key]


def _data_object(case: Case) -> Any:
    ns: dict[str, Any] = {}
    exec(compile(PRELUDE + case.data_source(), "<data>", "exec"), ns)
    return ns["x"]


PREPOP = {"previous": 1, "_": None, "In": [""]}


def _prepopulated() -> dict[str, Any]:
    ns = dict(PREPOP)
    ns["old_model"] = _shared_model("dense", "mse")
    return ns


# -- what must happen ----------------------------------------------------------------


@dataclass
class Plain:
    ns: dict[str, Any]
    exc: BaseException | None
    draws: tuple[float, list[float]]


def expected(case: Case, ns: dict[str, Any], raised: bool, data_obj: Any) -> str:
    """"usage", "report" or "either" for this case, given the plain run's namespace."""
    if case.invalid == BAD:
        return "usage"
    if case.kind == "probe":
        if data_obj is None or isinstance(data_obj, str) or not _arrayable(data_obj):
            return "usage"
        return "either" if case.invalid == EITHER else "report"
    if case.model_opt:
        name = {"name": "autoencoder", "missing": "autoencodr", "not_a_model": "x"}[case.model_opt]
        if name not in ns or not _is_model(ns[name]):
            return "usage"
    data_present = False
    if case.data is not None or case.data_mode == "missing":
        if case.data_mode == "object" and not isinstance(data_obj, str):
            if data_obj is not None:
                if not _arrayable(data_obj):
                    return "usage"
                data_present = True
        else:
            name = data_obj if case.data_mode == "object" else "x_missing" if case.data_mode == "missing" else "x"
            if name not in ns:
                if not raised:
                    return "usage"
                # documented: a cell that raised before defining the data is diagnosed without it
            elif not _arrayable(ns[name]):
                return "usage"
            else:
                data_present = True
    if case.target and data_present:
        tname = {"same": "x", "noisy": "noisy", "missing": "clean_missing", "wrong_shape": "clean"}[case.target]
        if tname not in ns:
            if not raised:
                return "usage"
            return "either"  # the cell raised before defining the target: a note or a usage error
        if not _arrayable(ns[tname]):
            return "usage"
    return "either" if case.invalid == EITHER else "report"


# -- the test ----------------------------------------------------------------------------


def run_case(case: Case) -> list[str]:
    """Run one case; return its failures (empty when every promise holds)."""
    fails: list[str] = []
    kwargs = case.kwargs()
    data_obj = None
    if case.data is not None and (case.data_mode == "object" or case.kind in ("model", "probe")):
        data_obj = _data_object(case)
    if case.data is not None or case.data_mode == "missing":
        kwargs["data"] = {"name": "x", "missing": "x_missing", "object": data_obj}[case.data_mode]
    if case.target:
        kwargs["target"] = {"same": "x", "noisy": "noisy", "missing": "clean_missing", "wrong_shape": "clean"}[case.target]
    if case.model_opt:
        kwargs["model"] = {"name": "autoencoder", "missing": "autoencodr", "not_a_model": "x"}[case.model_opt]

    shared = None
    before_shared = None
    extra_models: dict[str, tuple[Any, dict[str, Any]]] = {}

    # The reference: a plain run (or nothing, for an existing model).
    if case.kind in ("cell", "api"):
        pre = _prepopulated() if case.prepopulated else {}
        plain_ns = dict(pre)
        _seed(case.seed_state)
        try:
            plain_exc = _exec_plain(case.cell(), plain_ns)
        except TypeError as exc:  # compile() refuses a non-str source
            plain_exc = exc
        plain = Plain(plain_ns, plain_exc, _draws())
        _seed(case.seed_state)
        untouched = Plain(dict(pre), None, _draws())  # the reference when a usage error stops the check before the cell
        ns = dict(pre)
        for k, v in pre.items():
            if _is_model(v):
                extra_models[k] = (v, _model_state(v))
    else:
        shared = _shared_model(case.model, case.compile)
        before_shared = _model_state(shared)
        opt_obj, loss_obj = getattr(shared, "optimizer", None), getattr(shared, "loss", None)
        ns = {"x": data_obj}
        if case.kind == "model" and case.data_mode == "name":
            kwargs["data"] = "x"
        _seed(case.seed_state)
        plain = Plain(dict(ns), None, _draws())
    data_bytes = data_obj.tobytes() if isinstance(data_obj, np.ndarray) and data_obj.dtype != object else None

    want = expected(case, plain.ns, plain.exc is not None, data_obj)

    # The check.
    _seed(case.seed_state)
    report = None
    usage: UsageError | None = None
    try:
        if case.kind == "probe":
            report = ae_magic.probe(shared, data_obj, **{k: v for k, v in kwargs.items() if k != "data"})
        elif case.kind == "model":
            report = ae_magic.check(None, namespace=ns, model=shared, **kwargs)
        else:
            report = ae_magic.check(case.cell(), namespace=ns, **kwargs)
    except UsageError as exc:
        usage = exc
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        fails.append(f"exception escaped check(): {type(exc).__name__}: {safe_str(exc)[:300]}\n{_tail(exc)}")
    draws = _draws()

    # Outcome.
    if usage is not None:
        msg = safe_str(usage).strip()
        if not msg:
            fails.append("UsageError with an empty message")
        if want == "report":
            fails.append(f"unexpected UsageError (the options and names are valid): {msg[:300]}")
    elif report is not None and want == "usage":
        bad = [o.label() for o in case.opts if o.validity == BAD]
        fails.append(f"expected a UsageError ({', '.join(bad) or 'a name that is missing or not usable'}), got a report "
                     f"with codes {report.codes}")

    # The report.
    if report is not None:
        for err in report.internal_errors:
            first = (err.get("error") or "").strip().splitlines() or [""]
            fails.append(f"internal error in {err.get('check')}: {first[0][:300]}\n{_tb_tail(err.get('traceback', ''))}")
        try:
            json.loads(report.to_json())
        except Exception as exc:
            fails.append(f"report.to_json() does not serialise: {type(exc).__name__}: {safe_str(exc)[:300]}\n{_tail(exc)}")
        try:
            report.text()
        except Exception as exc:
            fails.append(f"report.text() raised {type(exc).__name__}: {safe_str(exc)[:300]}\n{_tail(exc)}")
        if case.kind in ("cell", "api"):
            cell_codes = CELL_CODES & set(report.codes)
            if plain.exc is not None and not cell_codes:
                fails.append(f"the cell raised {type(plain.exc).__name__} but the report has no AE100/AE101/AE112 "
                             f"(codes {report.codes})")
            if plain.exc is not None and report.cell_error is None:
                fails.append(f"the cell raised {type(plain.exc).__name__} but report.cell_error is None")
            # AE112 is also the unbuilt-model finding of a cell that ran cleanly, and AE100 that of the cell's
            # own code (a loss, a Lambda) raising when the probes run the model, as fit would.
            run_time = {"AE100"} if all(f.evidence.get("during") == "probe" for f in report.findings
                                        if f.code == "AE100") else set()
            if plain.exc is None and (cell_codes - {"AE112"} - run_time or report.cell_error is not None):
                err = (report.cell_error or {}).get("type")
                fails.append(f"the cell runs cleanly with exec, but the check reports a cell error {err} ({sorted(cell_codes)})")

    # A usage error may come before the cell runs (a bad option): then nothing may have changed at all.
    if usage is not None and case.kind in ("cell", "api") and set(ns) == set(untouched.ns) != set(plain.ns):
        plain = untouched

    # The user's objects.
    if case.kind in ("cell", "api"):
        k_plain, k_check = set(plain.ns), set(ns)
        if k_plain != k_check:
            fails.append(f"namespace keys differ from a plain exec: extra {sorted(k_check - k_plain)}, "
                         f"missing {sorted(k_plain - k_check)}")
        plain_models = {k: v for k, v in plain.ns.items() if _is_model(v) and k not in extra_models}
        for name, pm in plain_models.items():
            cm = ns.get(name)
            if not _is_model(cm):
                fails.append(f"`{name}` is a model after the plain run but a {type(cm).__name__} after the check")
                continue
            diff = _state_diff(name, _model_state(pm), _model_state(cm))
            if diff:
                # Tell a changed model from a cell that does not build the same model twice.
                again: dict[str, Any] = dict(_prepopulated() if case.prepopulated else {})
                _seed(case.seed_state)
                _exec_plain(case.cell(), again)
                if _is_model(again.get(name)) and not _state_diff(name, _model_state(pm), _model_state(again[name])):
                    fails.extend(d + " (compared with a plain exec of the same cell from the same seeds)" for d in diff)
                else:
                    fails.append(f"[fuzz harness] the cell does not build `{name}` identically twice; cannot compare")
        for name, pv in plain.ns.items():
            cv = ns.get(name)
            same = isinstance(cv, np.ndarray) and cv.shape == pv.shape and cv.dtype == pv.dtype and cv.tobytes() == pv.tobytes()
            if isinstance(pv, np.ndarray) and pv.dtype != object and not same:
                fails.append(f"array `{name}` differs from the plain run's after the check")
        for name, (m, before) in extra_models.items():
            fails.extend(d + " (a model of an earlier cell)" for d in _state_diff(name, before, _model_state(m)))
    else:
        fails.extend(d + " (the model passed to the check)" for d in _state_diff(case.model, before_shared, _model_state(shared)))
        if getattr(shared, "optimizer", None) is not opt_obj:
            fails.append("the model's optimizer object was replaced")
        if getattr(shared, "loss", None) is not loss_obj:
            fails.append("the model's loss object was replaced")
        if set(ns) != set(plain.ns):
            fails.append(f"namespace keys changed: {sorted(set(ns) ^ set(plain.ns))}")
    if data_bytes is not None and data_obj.tobytes() != data_bytes:
        fails.append("the data array passed as an object was modified")

    if draws != plain.draws:
        which = [n for n, a, b in (("random", draws[0], plain.draws[0]), ("np.random", draws[1], plain.draws[1])) if a != b]
        fails.append(f"global random state differs from a plain run afterwards: {', '.join(which)}")
    return fails


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fuzz(case: Case) -> None:
    fails = run_case(case)
    if fails:
        body = "\n".join(f"  {i}. {f}" for i, f in enumerate(fails, 1))
        pytest.fail(f"{len(fails)} broken promise(s) for case {case.id}:\n{body}\n\n--- reproduction ---\n{case.repro()}",
                    pytrace=False)


def test_generator_is_deterministic_and_covers_every_axis() -> None:
    again = generate()
    assert [c.id for c in again] == [c.id for c in CASES]
    assert len({c.id for c in CASES}) == len(CASES) >= 300
    cells = [c for c in CASES if c.kind == "cell"]
    assert {c.model for c in cells} == set(MODELS)
    assert {c.data for c in cells if c.data} == set(DATA)
    assert {c.raises for c in cells} == set(RAISES)
    trained = [c for c in CASES if (c.kind == "probe" and c.invalid != BAD) or any(o.name == "train" and o.value is True for o in c.opts)]
    assert 30 <= len(trained) <= 50
