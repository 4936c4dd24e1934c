"""The ``mldebug-widgets`` command: serve a saved model on a data file as a Voila dashboard.

::

    mldebug-widgets serve model.skops data.csv --target DEFAULT --sensitive SEX AGE
    mldebug-widgets demo

The dashboard listens on 127.0.0.1 only; the URL is printed and Ctrl-C stops it.

**Which model files load.** A ``.skops`` file loads when every type it names beyond skops'
own trusted set is a class defined in scikit-learn, or a NumPy dtype, scalar type, ufunc or
random generator: those only rebuild estimators and arrays. Anything else (a function, a class
of xgboost, lightgbm or your own code) is listed and refused unless you pass ``--trust``.
A joblib or pickle file (``.joblib``, ``.pkl``, ``.pickle``) can run any code while it
loads, so it is refused without ``--trust``; convert it to skops once, where you trust it.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["UsageError", "load_model", "main"]

SKOPS_SUFFIXES = (".skops",)
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz")
PARQUET_SUFFIXES = (".parquet", ".pq")
EXIT_USAGE = 2  # argparse's code for bad arguments; also a refused or unreadable input
PICKLE_REFUSED = """\
{path} is a {kind} file. Loading one runs whatever code it contains, with your permissions:
a file from someone else can install malware or read your data. It is refused unless you
pass --trust, which you should do only for a file you made or fully trust.
Better: convert it once to skops, which stores no code, in a Python session where you trust it:
    import joblib, skops.io
    skops.io.dump(joblib.load("{path}"), "{stem}.skops")
then serve {stem}.skops."""


class UsageError(Exception):
    """Bad input on the command line; the message says how to fix it (exit code 2)."""


def main(argv: list[str] | None = None) -> int:
    """Run the ``mldebug-widgets`` command.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments (``sys.argv[1:]`` when None).

    Returns
    -------
    int
        The exit code: 0 after the server was stopped (Ctrl-C), 2 for bad input or a refused
        model file (the message is printed on stderr), 1 if Voila failed.

    Examples
    --------
    A pickle is refused without ``--trust`` (the reason goes to stderr):

    >>> main(["serve", "model.pkl", "data.csv", "--target", "y"])
    2
    """
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args)
        return _serve(args)
    except UsageError as exc:
        print(f"mldebug-widgets: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="mldebug-widgets",
        description="Serve a model as a debugging dashboard (Voila) on 127.0.0.1.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="serve a saved model on a data file",
        description="Serve MODEL (skops; joblib/pickle only with --trust) on DATA (CSV or "
                    "parquet) as a dashboard on 127.0.0.1.")
    serve.add_argument("model", type=Path, help="the model: .skops, or .joblib/.pkl with --trust")
    serve.add_argument("data", type=Path, help="the rows: .csv or .parquet, with the target")
    serve.add_argument("--target", required=True, metavar="COL", help="the label column")
    serve.add_argument("--sensitive", nargs="+", default=[], metavar="COL",
                       help="sensitive feature columns, for the fairness views")
    serve.add_argument("--index", metavar="COL", help="a column of row IDs to use as labels")
    serve.add_argument("--trust", action="store_true",
                       help="load a joblib/pickle file, or a skops file naming types outside "
                            "scikit-learn and NumPy (only files you trust: they can run code)")
    serve.add_argument("--title", help="the page heading (default: the model file's name)")
    demo = commands.add_parser("demo", help="serve the demo credit model with planted bugs")
    demo.add_argument("--rows", type=int, default=30_000, help="rows to generate (30000)")
    for sub in (serve, demo):
        sub.add_argument("--port", type=int, default=8866, help="port on 127.0.0.1 (0: any free)")
        sub.add_argument("--aggregates-only", action="store_true",
                         help="show aggregates only, no raw rows (for sharing)")
        sub.add_argument("--theme", choices=("light", "dark"), default="light")
        sub.add_argument("--cull-idle-timeout", type=int, default=600, metavar="SECONDS",
                         help="shut down kernels idle this long with no page open (600)")
        sub.add_argument("--no-preheat", action="store_true",
                         help="start a kernel per page instead of keeping one that has run "
                              "the app (slower pages, one kernel's memory less)")
    return parser


def _serve(args: argparse.Namespace) -> int:
    model = load_model(args.model, trust=args.trust)
    data = _read_data(args.data)
    X, y, sensitive = _split(data, args, model)  # noqa: N806
    from ._errors import BindError, ModelError
    from .session import bind

    try:
        session = bind(model, X, y, sensitive_features=sensitive)
    except (BindError, ModelError) as exc:
        raise UsageError(f"{args.model.name} cannot be bound to {args.data.name}: {exc}") from exc
    title = args.title or f"{args.model.name} on {args.data.name}"
    return _run(session, args, title=title)


def _demo(args: argparse.Namespace) -> int:
    from . import datasets
    from .session import bind

    if args.rows < 100:
        raise UsageError(f"--rows must be at least 100, got {args.rows}.")
    print(f"Generating {args.rows:,} rows and training the demo model...", flush=True)
    data = datasets.load_credit(n_rows=args.rows)
    session = bind(datasets.demo_model(data), data.X, data.y, sensitive_features=["SEX", "AGE"],
                   schema=datasets.CREDIT_SCHEMA)
    return _run(session, args, title="Demo: a credit model with planted bugs",
                bins={"AGE": [0, 30, 200]})


def _run(session: Any, args: argparse.Namespace, *, title: str, bins: dict | None = None) -> int:
    from .serve import serve

    try:
        server = serve(session, port=args.port, aggregates_only=args.aggregates_only, bins=bins,
                       title=title, theme=args.theme, cull_idle_timeout=args.cull_idle_timeout,
                       cull_interval=max(1, min(60, args.cull_idle_timeout // 4)),
                       preheat=not args.no_preheat)
    except OSError as exc:
        print(f"mldebug-widgets: {exc}", file=sys.stderr)
        return 1
    print(f"Dashboard of {session!r} at\n    {server.url}\n(127.0.0.1 only; Ctrl-C stops it)",
          flush=True)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        while server.running:
            time.sleep(0.5)
        print(f"mldebug-widgets: Voila exited with code {server.process.returncode}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Stopping the dashboard.", flush=True)
        return 0
    finally:
        server.stop()
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def load_model(path: Path, *, trust: bool = False) -> Any:
    """Load a model file under the trust policy of this module (see its docstring).

    Parameters
    ----------
    path : Path
        A ``.skops`` file, or a ``.joblib`` / ``.pkl`` / ``.pickle`` file.
    trust : bool, default=False
        Load pickles, and skops files naming types outside scikit-learn and NumPy.

    Returns
    -------
    object
        The model.

    Raises
    ------
    UsageError
        For a missing file, an unknown format, or a file refused without ``trust``.

    Examples
    --------
    >>> load_model(Path("model.pickle"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mldebug_widgets.cli.UsageError: model.pickle is a pickle file. Loading one runs ...
    """
    name = path.name.lower()
    if name.endswith(PICKLE_SUFFIXES):
        kind = "joblib" if name.endswith(".joblib") else "pickle"
        if not trust:
            raise UsageError(PICKLE_REFUSED.format(path=path, kind=kind, stem=path.stem))
        _check_exists(path)
        import joblib  # a scikit-learn dependency; reads plain pickles too

        return joblib.load(path)
    if not name.endswith(SKOPS_SUFFIXES):
        raise UsageError(f"{path}: unknown model format; save the model with skops "
                         f"(skops.io.dump(model, 'model.skops')), or pass a .joblib/.pkl "
                         f"file with --trust.")
    _check_exists(path)
    import skops.io as sio

    try:
        types = sio.get_untrusted_types(file=path)
    except Exception as exc:
        raise UsageError(f"{path} is not a readable skops file: {exc}") from exc
    unsafe = [t for t in types if not _is_safe_type(t)]
    if unsafe and not trust:
        raise UsageError(
            f"{path} names types outside scikit-learn and NumPy, which could run code while "
            f"the model loads or predicts: {unsafe}. If you trust the file, pass --trust.")
    return sio.load(path, trusted=types)


def _is_safe_type(name: str) -> bool:
    """Whether a type a skops file names is a scikit-learn class or a NumPy data type."""
    module, _, attr = name.rpartition(".")
    if module.split(".")[0] not in ("sklearn", "numpy") or not attr:
        return False
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return False
    if module.startswith("sklearn"):
        return isinstance(obj, type) and obj.__module__.startswith("sklearn")
    random = (np.random.Generator, np.random.RandomState, np.random.BitGenerator)
    return isinstance(obj, np.ufunc) or (isinstance(obj, type) and issubclass(
        obj, (np.dtype, np.generic, *random)))


def _check_exists(path: Path) -> None:
    if not path.is_file():
        raise UsageError(f"{path}: no such file.")


def _read_data(path: Path) -> pd.DataFrame:
    _check_exists(path)
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return pd.read_csv(path)
    if name.endswith(PARQUET_SUFFIXES):
        try:
            return pd.read_parquet(path)
        except ImportError as exc:
            raise UsageError(f"reading {path} needs pyarrow: pip install pyarrow "
                             f"(or pass the data as CSV).") from exc
    raise UsageError(f"{path}: unknown data format; pass a .csv or .parquet file.")


def _split(data: pd.DataFrame, args: argparse.Namespace, model: Any) -> tuple:
    """Features, labels and sensitive features of the data file, with clear errors."""
    columns = list(data.columns)
    wanted = [("--target", args.target)] + [("--sensitive", c) for c in args.sensitive]
    if args.index:
        wanted.append(("--index", args.index))
    for flag, column in wanted:
        if column not in columns:
            raise UsageError(f"{flag} {column!r} is not a column of {args.data.name}; its "
                             f"columns are: {', '.join(map(str, columns))}.")
    if args.index:
        data = data.set_index(args.index)
    y = data[args.target]
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        missing = [c for c in names if c not in data.columns]
        if missing:
            raise UsageError(f"the model needs columns {missing}, which {args.data.name} lacks.")
        X = data[list(names)]  # noqa: N806
    else:
        X = data.drop(columns=[args.target])  # noqa: N806
    sensitive = data[args.sensitive] if args.sensitive else None
    return X, y, sensitive


if __name__ == "__main__":  # python -m mldebug_widgets.cli
    sys.exit(main())
