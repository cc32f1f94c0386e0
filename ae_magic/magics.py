"""IPython magics: ``%%ae_check`` (check the autoencoder a cell builds) and
``%ae_probe`` (probe a model that already exists).

``%load_ext ae_magic`` registers them; ``%unload_ext ae_magic`` removes them.
The magics only parse arguments, run the cell through IPython as usual and
hand the Report to the panel; the work is in :mod:`ae_magic.engine`.
"""

from __future__ import annotations

import html
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

MAGIC_NAMES = {"cell": ["ae_check"], "line": ["ae_probe"]}
# The Report of the latest %%ae_check / %ae_probe in this process.
LAST_REPORT: Any = None


def _common_args(func: Any) -> Any:
    """The options %%ae_check and %ae_probe share."""
    for deco in reversed(
        [
            argument("--data", metavar="NAME", help="Variable holding the training data (array or tensor)."),
            argument("--target", metavar="NAME",
                     help="Variable holding the reconstruction target, if it is not the data (denoising)."),
            argument("--epochs", metavar="N", type=int, help="Epochs of the short probe run on a copy of the model."),
            argument("--lr", metavar="X", type=float, help="Learning rate for the probe run (default: the model's)."),
            argument("--latent", metavar="N", type=int,
                     help="Probe a copy of the model rebuilt with this bottleneck width."),
            argument("--no-train", action="store_true",
                     help="Skip the gradient and training probes (structure and data checks only)."),
            argument("--json", action="store_true", help="Print the report as JSON instead of showing the panel."),
        ]
    ):
        func = deco(func)
    return func


def _positive(name: str, value: Any, kind: type = int) -> None:
    if value is not None and value <= 0:
        raise UsageError(f"--{name} must be a positive {'integer' if kind is int else 'number'}, got {value}.")


@magics_class
class AeMagics(Magics):
    """The ae_magic magics; one instance per shell."""

    @magic_arguments()
    @argument("--model", metavar="NAME",
              help="Variable holding the autoencoder (default: the Keras model the cell builds).")
    @_common_args
    @cell_magic
    def ae_check(self, line: str, cell: str) -> None:
        """Run the cell as usual, then diagnose the Keras autoencoder it builds.

        The cell runs in your namespace exactly as without the magic: its
        variables exist afterwards, its output and exceptions show as usual.
        Then a panel shows what is wrong (findings with the cell line, the
        evidence and a fix), plots of loss, gradients, activations,
        reconstructions and the layer graph, and sliders to re-run the probes
        with another learning rate, latent size or number of epochs. Probes
        train a copy: your model, its weights and optimizer are never changed.

        Examples::

            %%ae_check --data x_train
            %%ae_check --data x_noisy --target x_train --epochs 5
            %%ae_check --no-train
        """
        args = parse_argstring(self.ae_check, line)
        self._validate(args)
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

        self._run(
            line,
            dict(
                source=cell,
                namespace=shell.user_ns,
                runner=runner,
                line_offset=1,
                model=args.model,
            ),
            args,
        )
        if raised and outer is not None and outer.error_in_exec is None and outer.error_before_exec is None:
            outer.error_in_exec = raised[0]

    @magic_arguments()
    @argument("model", metavar="MODEL", help="Variable holding the Keras autoencoder to probe.")
    @_common_args
    @line_magic
    def ae_probe(self, line: str) -> None:
        """Diagnose and probe a Keras autoencoder that already exists.

        Like ``%%ae_check`` without running a cell: structure, data, gradient
        and training probes on a copy of MODEL, shown in the same panel.

        Examples::

            %ae_probe autoencoder --data x_train
            %ae_probe autoencoder --data x_train --lr 3e-3 --latent 16
        """
        args = parse_argstring(self.ae_probe, line)
        self._validate(args)
        if args.model not in self.shell.user_ns:
            raise UsageError(f"%ae_probe: no variable named {args.model!r} exists.")
        self._run(line, dict(source=None, namespace=self.shell.user_ns, model=args.model), args)

    # -- shared ------------------------------------------------------------
    @staticmethod
    def _validate(args: Any) -> None:
        _positive("epochs", args.epochs)
        _positive("latent", args.latent)
        _positive("lr", args.lr, float)
        if args.target is not None and args.data is None:
            raise UsageError("--target needs --data too (the input the model reads).")
        if args.no_train and (args.epochs is not None or args.lr is not None):
            raise UsageError("--no-train skips the probe run, so --epochs/--lr would have no effect.")

    def _run(self, line: str, kwargs: dict[str, Any], args: Any) -> None:
        from IPython.display import HTML, display

        from .engine import AeMagicUsageError, check
        from .render.panel import ProbeProgress, show

        # A progress bar while the probes run, in a kernel with a frontend
        # (a terminal IPython would print it as text), not for --json.
        progress = None
        if not args.json and not args.no_train and getattr(self.shell, "kernel", None) is not None:
            progress = ProbeProgress()
        try:
            if args.latent is None:
                # The notebook experience includes the learning-rate range test
                # (AE406 and the LR plot); check()'s plain default leaves it off.
                report = check(
                    data=args.data, target=args.target, train=not args.no_train, epochs=args.epochs, lr=args.lr,
                    progress=progress, range_test=True, **kwargs,
                )
            else:
                # check() records --latent but probes the model as built; the
                # re-run engine is what rebuilds a copy with another code width.
                from .rerun import rerun

                first = check(data=args.data, target=args.target, train=False, **kwargs)
                report = rerun(first, latent=args.latent, train=not args.no_train, epochs=args.epochs, lr=args.lr,
                               progress=progress)
        except AeMagicUsageError as exc:
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
        if args.json:
            print(report.to_json(indent=2))
            return
        try:
            show(report, progress)
        except Exception as exc:
            display(HTML(_error_box(exc, what="showing the report")))


def _error_box(exc: BaseException, what: str = "checking the cell") -> str:
    """A short, kernel-friendly message for an internal failure of ae_magic."""
    msg = html.escape(f"{type(exc).__name__}: {exc}")
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
