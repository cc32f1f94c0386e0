"""``ae-magic``: the engine on the command line (CI, scripts, the demo).

    ae-magic check FILE.py [FILE.py ...] [--data NAME] [--model NAME] [--json] [--no-train] [--latent N] [--progress] ...
    ae-magic demo [--html PATH] [--no-train]
    ae-magic --version

Each file runs as one cell in a fresh namespace; several files share one
process so a batch pays TensorFlow's import once. Exit status: 0 when no
finding is an error, 1 when any is, 2 for usage errors, 3 when a file
built no Keras model (nothing was checked).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from . import options
from .errors import UsageError, describe

# 3: the file built no Keras model, so nothing was checked (not a pass).
EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_NO_MODEL = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 on usage errors too; keep its message short
        self.print_usage(sys.stderr)
        print(f"ae-magic: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser shared by the CLI entry point and its tests (flags from the options table)."""
    from . import __version__

    p = _Parser(prog="ae-magic", description="Find the silent failures of Keras autoencoders.")
    p.add_argument("--version", action="version", version=f"ae-magic {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="diagnose the autoencoder each Python file builds")
    c.add_argument("files", nargs="+", metavar="FILE.py")
    options.add_arguments(c, options.CLI)
    d = sub.add_parser("demo", help="diagnose the bundled broken autoencoder on bundled data")
    d.add_argument("--html", metavar="PATH", default="ae_magic_demo_report.html", help="where to write the HTML report")
    d.add_argument("--no-train", dest="train", action="store_false", default=True, help="skip the probes")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ae-magic`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from .backends import BackendMissingError, import_keras

    try:  # once, before any file: a missing backend is one sentence, not a traceback per file
        import_keras()
    except BackendMissingError as exc:
        print(f"ae-magic: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "demo":
        return _demo(args)
    values = options.given(args, options.CLI)
    try:
        values = options.validate(values, options.CLI)
    except UsageError as exc:
        parser.error(str(exc))
    missing = [f for f in args.files if not os.path.isfile(f)]
    if missing:
        print(f"ae-magic: error: no such file: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    show = args.progress if args.progress is not None else _isatty(sys.stderr)
    codes = [_check_file(path, values, index=i, total=len(args.files), progress=show) for i, path in enumerate(args.files)]
    # The most telling status of the batch: a usage error, then an error finding, then a file without a model.
    return next((c for c in (EXIT_USAGE, EXIT_ERRORS, EXIT_NO_MODEL) if c in codes), EXIT_OK)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


class _ProgressBar:
    """The probes' progress events (``options.progress``) as a tqdm bar per phase, on stderr.

    stderr only, so ``--json`` output on stdout stays one JSON object per file.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.phase: str | None = None
        self.bar: Any = None

    def __call__(self, event: dict[str, Any]) -> None:
        from tqdm import tqdm

        phase = str(event.get("phase", ""))
        total = int(event.get("total") or 0) or None
        if phase != self.phase or self.bar is None:
            self.close()
            self.phase = phase
            self.bar = tqdm(total=total, desc=f"{self.label}: {phase}", file=sys.stderr, leave=False,
                            dynamic_ncols=True, mininterval=0.2)
        step = int(event.get("step") or 0)
        if total and self.bar.total != total:
            self.bar.total = total
        loss = event.get("loss")
        if isinstance(loss, float) and loss == loss and abs(loss) != float("inf"):
            self.bar.set_postfix_str(f"loss {loss:.4g}", refresh=False)
        self.bar.update(max(0, step - self.bar.n))

    def close(self) -> None:
        """Close the current phase's bar (it is erased: the report follows)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _check_file(path: str, values: dict[str, Any], *, index: int, total: int, progress: bool = False) -> int:
    from .session import Session

    as_json = bool(values.get("json"))
    try:
        with open(path, encoding="utf-8") as fh:
            source = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        return _usage(path, f"can't read the file ({describe(exc)})", as_json)
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": os.path.abspath(path)}
    bar = _ProgressBar(path) if progress else None
    usage: str | None = None
    # With --json, stdout is the JSON alone: what the cell prints (print, model.summary()) goes to stderr.
    with _stdout_to_stderr() if as_json else contextlib.nullcontext():
        try:
            opts = options.Options.from_values(values, options.CLI, progress=bar)
            session = Session.from_cell(source, namespace=namespace, data=values.get("data"), target=values.get("target"),
                                        model=values.get("model"), options=opts, filename=path, label=path)
            try:
                report = session.run()
                tried = _try_fixes(session, report) if values.get("try_fixes") else None
            finally:
                session.close()
                if bar is not None:
                    bar.close()
        except UsageError as exc:
            usage = str(exc)
    if usage is not None:
        return _usage(path, usage, as_json)
    if as_json:
        obj = report.to_dict()
        obj["file"] = path
        if values.get("try_fixes"):
            obj["try_all"] = tried
        print(json.dumps(obj, allow_nan=False), flush=True)
    else:
        if total > 1:
            print(f"== {path}")
        print(report.text(color=bool(values.get("color"))), flush=True)
        if values.get("try_fixes"):
            print(_tried_text(report, tried), flush=True)
        if total > 1 and index < total - 1:
            print()
    if values.get("html"):
        from .render.html import write_html

        out = values["html"] if total == 1 else f"{os.path.splitext(values['html'])[0]}-{index + 1}.html"
        write_html(report, out)
        if not as_json:
            print(f"HTML report written to {out}")
    if report.model is None and not report.has_errors:
        # Nothing was diagnosed: a file without a model must not pass a CI gate.
        if not as_json:
            print(f"{path}: no Keras model found; nothing was checked.", file=sys.stderr)
        return EXIT_NO_MODEL
    return EXIT_ERRORS if report.has_errors else EXIT_OK


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send everything written to stdout meanwhile to stderr, Python's writes and the C libraries' alike."""
    sys.stdout.flush()
    saved = None
    try:
        fd = sys.__stdout__.fileno() if sys.__stdout__ is not None else -1
        if fd >= 0 and sys.__stderr__ is not None:
            saved = os.dup(fd)
            os.dup2(sys.__stderr__.fileno(), fd)
    except (OSError, ValueError, AttributeError):  # no real file descriptors (an embedding host): Python's writes only
        saved = None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        for stream in (sys.__stdout__, sys.stderr):  # what was buffered meanwhile belongs to stderr
            with contextlib.suppress(Exception):
                stream.flush()
        if saved is not None:
            os.dup2(saved, fd)
            os.close(saved)


def _try_fixes(session: Any, report: Any) -> dict[str, Any] | None:
    """``--try-fixes``: each finding with an edit gets ``verified`` and its before/after evidence; then all at once."""
    from .trial import verify_report

    return verify_report(session, report)


def _tried_text(report: Any, tried: dict[str, Any] | None) -> str:
    """The ``--try-fixes`` verdicts as text lines."""
    lines = ["Try the fix:"]
    for f in report.findings:
        if f.edit:
            mark = "verified" if f.verified else "not verified"
            lines.append(f"  {f.code} (line {f.edit['start_line']}): {mark}: {(f.trial or {}).get('reason', '')}")
    if len(lines) == 1:
        return "Try the fix: no fix of this report is an edit of the cell."
    if tried:
        lines.append(f"  all at once: {'verified' if tried.get('verified') else 'not verified'}: {tried.get('reason', '')}")
    return "\n".join(lines)


def _usage(path: str, message: str, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"file": path, "usage_error": message, "ok": False, "findings": []}), flush=True)
    else:
        print(f"{path}: usage error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(out_html=args.html, train=args.train)
    # The demo model is broken on purpose: its findings are the expected
    # output, so the demo succeeds when it ran, whatever it found.
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
