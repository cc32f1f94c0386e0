"""IPython magics: ``%%ae_check`` (check the autoencoder a cell builds) and
``%ae_probe`` (probe a model that already exists).

``%load_ext ae_magic`` registers them; ``%unload_ext ae_magic`` removes them.
The magics only parse arguments, run the cell through IPython as usual and
hand the Report to the panel; the work is in :mod:`ae_magic.engine`.
"""

from __future__ import annotations

import contextlib
import html
import sys
from collections import OrderedDict
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from . import options
from .errors import AeMagicError as AeError
from .errors import describe

MAGIC_NAMES = {"cell": ["ae_check"], "line": ["ae_probe"]}
# The Report of the latest %%ae_check / %ae_probe in this process.
LAST_REPORT: Any = None
# Live checks whose panels can still re-run, oldest first: key -> (Session, panel, progress bar).
# A cell that runs again closes its old panel and releases its Session, and
# at most MAX_LIVE stay alive, so memory does not grow run over run.
MAX_LIVE = 8
_LIVE: OrderedDict[str, tuple[Any, Any, Any]] = OrderedDict()


def _options(front: str, skip: tuple[str, ...] = ()) -> Any:
    """``magic_arguments`` decorators for every option of ``front``, from the options table."""

    def deco(func: Any) -> Any:
        for opt in reversed(options.for_front(front)):
            if opt.name in skip:
                continue
            flags, kw = options.argparse_kwargs(opt, front)
            func = argument(*flags, **kw)(func)
        return func

    return deco


@magics_class
class AeMagics(Magics):
    """The ae_magic magics; one instance per shell."""

    @magic_arguments()
    @_options(options.MAGIC_CHECK)
    @cell_magic
    def ae_check(self, line: str, cell: str) -> None:
        """Run the cell as usual, then diagnose the Keras autoencoder it builds.

        The cell runs once, in your namespace, exactly as without the magic:
        its variables exist afterwards, its output and exceptions show as
        usual. Then a panel shows what is wrong (findings with the cell line,
        the evidence and a fix), plots of loss, gradients, activations,
        reconstructions and the layer graph, and controls to re-run the
        probes with another learning rate, latent size or number of epochs.
        Probes train a copy: your model, its weights and optimizer are never
        changed.

        Examples::

            %%ae_check --data x_train
            %%ae_check --data x_noisy --target x_train --epochs 5
            %%ae_check --no-train
        """
        values = self._parse(self.ae_check, line, options.MAGIC_CHECK)
        shell = self.shell
        # run_cell inside a cell: remember the outer cell's result so the
        # cell's own exception can fail the outer cell too (stops "Run all"),
        # without showing its traceback a second time.
        outer = getattr(shell.displayhook, "exec_result", None)
        raised: list[BaseException] = []

        def runner(source: str) -> BaseException | None:
            result = shell.run_cell(source, store_history=False)
            err = result.error_before_exec or result.error_in_exec
            if err is not None:
                raised.append(err)
            return err

        def make(opts: Any) -> Any:
            from .session import Session

            return Session.from_cell(cell, namespace=shell.user_ns, data=values.get("data"), target=values.get("target"),
                                     model=values.get("model"), options=opts, runner=runner)

        self._run(make, values, key=_cell_key(shell, cell))
        if raised and outer is not None and outer.error_in_exec is None and outer.error_before_exec is None:
            outer.error_in_exec = raised[0]

    @magic_arguments()
    @argument("model", metavar="MODEL", help="Variable holding the Keras autoencoder to probe.")
    @_options(options.MAGIC_PROBE)
    @line_magic
    def ae_probe(self, line: str) -> None:
        """Diagnose and probe a Keras autoencoder that already exists.

        Like ``%%ae_check`` without running a cell: structure, data, gradient
        and training probes on a copy of MODEL, shown in the same panel.

        Examples::

            %ae_probe autoencoder --data x_train
            %ae_probe autoencoder --data x_train --lr 3e-3 --latent 16
        """
        if "--model" in line.split() or "--model=" in line:
            # %%ae_check's --model picks among the models a cell builds; %ae_probe is given its model.
            raise UsageError("%ae_probe takes the model as its first argument, not --model: %ae_probe MODEL --data NAME.")
        values = self._parse(self.ae_probe, line, options.MAGIC_PROBE)
        name = values.pop("model")
        ns = self.shell.user_ns
        if name not in ns:
            raise UsageError(f"%ae_probe {name}: no variable named {name!r} exists.")
        from . import keras_compat as kc

        if not kc.is_model(ns[name]):
            raise UsageError(f"%ae_probe {name}: {name!r} is a {type(ns[name]).__name__}, not a Keras model.")
        if values.get("data") is None:
            raise UsageError(f"%ae_probe {name}: the probes need data; add --data NAME (the array the model trains on).")
        for k in ("data", "target"):
            _lookup(ns, values.get(k), k)

        def make(opts: Any) -> Any:
            from .session import Session

            return Session.from_model(ns[name], values["data"], target=values.get("target"), options=opts,
                                      namespace=ns, name=name)

        self._run(make, values, key=f"ae_probe {name}")

    # -- shared ------------------------------------------------------------
    @staticmethod
    def _parse(magic: Any, line: str, front: str) -> dict[str, Any]:
        """Parsed and validated options (IPython's UsageError for bad ones, before anything runs)."""
        args = parse_argstring(magic, line)
        values = {k: v for k, v in vars(args).items() if v is not None}
        try:
            checked = options.validate(
                {k: v for k, v in values.items() if k in options.BY_NAME and front in options.BY_NAME[k].fronts}, front
            )
        except AeError as exc:
            raise UsageError(" ".join(str(exc).split())) from None
        return {**values, **checked}

    def _run(self, make: Any, values: dict[str, Any], *, key: str) -> None:
        from IPython.display import HTML, display

        from . import trial
        from .render.panel import ProbeProgress, show

        as_json = bool(values.get("json"))
        train = values.get("train", True)
        # A progress bar while the probes run, in a kernel with a frontend
        # (a terminal IPython would print it as text), not for --json.
        progress = None
        if not as_json and train and getattr(self.shell, "kernel", None) is not None:
            progress = ProbeProgress()
        # The same cell ran again: its old output is replaced, so close its panel.
        _release(key, close=True)
        try:
            opts = options.Options.from_values(values, options.MAGIC_CHECK, line_offset=1 if key.startswith("cell") else 0,
                                               progress=progress)
            session = make(opts)
            report = session.run()
        except AeError as exc:
            raise UsageError(" ".join(str(exc).split())) from None
        except Exception as exc:  # an ae_magic bug must not reach the user as a traceback
            box = HTML(_error_box(exc))
            if progress is None or not progress.replace(box):
                display(box)
            return
        global LAST_REPORT
        # Kept outside the user's namespace (which must stay as without the
        # magic) so tutorials and tests can assert on it: ae_magic.last_report().
        LAST_REPORT = report
        if as_json:
            session.close()
            print(report.to_json(indent=2))
            return
        if _is_terminal(self.shell):
            # A terminal shows a widget as text, and again on each update:
            # print the report once instead.
            session.close()
            print(report.text(color=sys.stdout.isatty()))
            return
        panel = None
        try:
            panel = show(report, progress, rerun_fn=session.rerun, fix_fn=trial.fix_fn(session))
        except Exception as exc:
            display(HTML(_error_box(exc, what="showing the report")))
        if panel is None:
            session.close()
            return
        _LIVE[key] = (session, panel, progress)
        while len(_LIVE) > MAX_LIVE:
            _release(next(iter(_LIVE)))


def _is_terminal(shell: Any) -> bool:
    """A terminal IPython (no frontend to draw widgets)."""
    try:
        from IPython.terminal.interactiveshell import TerminalInteractiveShell
    except ImportError:  # pragma: no cover - IPython without its terminal part
        return False
    return isinstance(shell, TerminalInteractiveShell)


def _cell_key(shell: Any, cell: str) -> str:
    """What identifies "the same cell run again": the frontend's cell id, else the cell's text."""
    cell_id = None
    kernel = getattr(shell, "kernel", None)
    try:
        parent = kernel.get_parent() if kernel is not None else None
        cell_id = ((parent or {}).get("metadata") or {}).get("cellId")
    except Exception:  # an old kernel without get_parent: fall back to the text
        cell_id = None
    return f"cell {cell_id}" if cell_id else f"cell text {hash(cell)}"


def _release(key: str, *, close: bool = False) -> None:
    """Release the Session of ``key``; close its panel (``close``) or keep it shown with re-runs off."""
    entry = _LIVE.pop(key, None)
    if entry is None:
        return
    session, panel, progress = entry
    # The panel's state is cosmetic; releasing the session is what matters.
    with contextlib.suppress(Exception):
        if close:
            panel.close_all()
            if progress is not None:
                progress.close()
        else:
            panel.retire(f"Re-runs are off: only the {MAX_LIVE} most recent checks keep their model copies alive; "
                         "run this cell again to re-run its probes.")
    session.close()


def _lookup(ns: dict[str, Any], name: str | None, what: str) -> Any:
    if name is None:
        return None
    if name not in ns:
        raise UsageError(f"--{what} {name}: no variable named {name!r} exists.")
    return ns[name]


def _error_box(exc: BaseException, what: str = "checking the cell") -> str:
    """A short, kernel-friendly message for an internal failure of ae_magic."""
    msg = html.escape(describe(exc))
    return (
        '<div class="ae-internal-error" style="color:#c62828;background:#fdecea;padding:6px 10px;'
        'border-radius:3px;font-family:sans-serif;font-size:13px">'
        f"ae_magic failed while {html.escape(what)} (a bug in ae_magic, not in your code): <code>{msg}</code>. "
        "Your cell ran normally; please report this.</div>"
    )


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%%ae_check`` and ``%ae_probe`` (``%load_ext ae_magic``)."""
    ipython.register_magics(AeMagics)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magics again (``%unload_ext ae_magic``)."""
    mm = ipython.magics_manager
    for kind, names in MAGIC_NAMES.items():
        for name in names:
            mm.magics[kind].pop(name, None)
    mm.registry.pop("AeMagics", None)
