"""``ae-magic``: the engine on the command line (CI, scripts, the demo).

    ae-magic check FILE.py [FILE.py ...] [--data NAME] [--model NAME] [--json] [--no-train]
    ae-magic demo [--html PATH] [--no-train]

Each file runs as one cell in a fresh namespace; several files share one
process so a batch pays TensorFlow's import once. Exit status: 0 when no
finding is an error, 1 when any is, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 on usage errors too; keep its message short
        self.print_usage(sys.stderr)
        print(f"ae-magic: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser shared by the CLI entry point and its tests."""
    p = _Parser(prog="ae-magic", description="Find the silent failures of Keras autoencoders.")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="diagnose the autoencoder each Python file builds")
    c.add_argument("files", nargs="+", metavar="FILE.py")
    c.add_argument("--data", metavar="NAME", help="variable holding the training data")
    c.add_argument("--target", metavar="NAME", help="variable holding the targets (default: the data)")
    c.add_argument("--model", metavar="NAME", help="variable holding the autoencoder (default: found automatically)")
    c.add_argument("--json", action="store_true", help="one JSON object per file, one per line")
    c.add_argument("--no-train", action="store_true", help="skip the gradient and training probes")
    c.add_argument("--epochs", type=int, metavar="N", help="epochs of the training probe")
    c.add_argument("--lr", type=float, metavar="X", help="learning rate of the training probe")
    c.add_argument("--range-test", action="store_true", help="also run the learning-rate range test (AE406)")
    c.add_argument("--html", metavar="PATH", help="also write a static HTML report (one file: PATH; several: PATH-N.html)")
    c.add_argument("--color", action="store_true", help="colour the text output")
    d = sub.add_parser("demo", help="diagnose the bundled broken autoencoder on bundled data")
    d.add_argument("--html", metavar="PATH", default="ae_magic_demo_report.html", help="where to write the HTML report")
    d.add_argument("--no-train", action="store_true", help="skip the probes")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ae-magic`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    missing = [f for f in args.files if not os.path.isfile(f)]
    if missing:
        print(f"ae-magic: error: no such file: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    codes = [_check_file(path, args, index=i, total=len(args.files)) for i, path in enumerate(args.files)]
    return EXIT_USAGE if EXIT_USAGE in codes else max(codes)


def _check_file(path: str, args: argparse.Namespace, *, index: int, total: int) -> int:
    from .engine import AeMagicUsageError, check

    with open(path, encoding="utf-8") as fh:
        source = fh.read()
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": os.path.abspath(path)}
    try:
        report = check(
            source,
            namespace=namespace,
            data=args.data,
            target=args.target,
            model=args.model,
            train=not args.no_train,
            epochs=args.epochs,
            lr=args.lr,
            range_test=args.range_test,
            label=path,
            filename=path,
        )
    except AeMagicUsageError as exc:
        if args.json:
            print(json.dumps({"file": path, "usage_error": str(exc), "ok": False, "findings": []}), flush=True)
        else:
            print(f"{path}: usage error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        obj = report.to_dict()
        obj["file"] = path
        print(json.dumps(obj, allow_nan=False), flush=True)
    else:
        if total > 1:
            print(f"== {path}")
        print(report.text(color=args.color), flush=True)
        if total > 1 and index < total - 1:
            print()
    if args.html:
        from .render.html import write_html

        out = args.html if total == 1 else f"{os.path.splitext(args.html)[0]}-{index + 1}.html"
        write_html(report, out)
        if not args.json:
            print(f"HTML report written to {out}")
    return EXIT_ERRORS if report.has_errors else EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(out_html=args.html, train=not args.no_train)
    # The demo model is broken on purpose: its findings are the expected
    # output, so the demo succeeds when it ran, whatever it found.
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
