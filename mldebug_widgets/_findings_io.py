"""Data and models for the generated pytest files: loaders, fingerprints, row selection.

A loader is ``"package.module:function"`` (imported and called with no argument) or, for a
model, the path of a ``.skops`` / ``.joblib`` / ``.pkl`` file; nothing else is run.
"""

from __future__ import annotations

import hashlib
import importlib
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._findings_values import frame, predicate_mask

_LOADER_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
MODEL_SUFFIXES = (".skops", ".joblib", ".pkl", ".pickle")


# -- data and models for generated tests -------------------------------------------------------
def fingerprint(X: pd.DataFrame, y: Any = None) -> str:
    """SHA-256 of a frame's columns, dtypes, index and values (and of ``y``).

    Examples
    --------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"x": [1, 2]})
    >>> fingerprint(a) == fingerprint(a.copy()), fingerprint(a) == fingerprint(a + 1)
    (True, False)
    """
    digest = hashlib.sha256()
    digest.update(repr([(str(c), str(X[c].dtype)) for c in X.columns]).encode())
    digest.update(pd.util.hash_pandas_object(X, index=True).to_numpy().tobytes())
    if y is not None:
        series = pd.Series(y) if not isinstance(y, pd.Series) else y
        digest.update(repr((series.name, str(series.dtype))).encode())
        digest.update(pd.util.hash_pandas_object(series, index=True).to_numpy().tobytes())
    return digest.hexdigest()


def take(X: pd.DataFrame, y: Any, labels: Sequence) -> tuple[pd.DataFrame, Any]:
    """Rows of ``X`` (and ``y``) with the given index labels, in that order.

    Examples
    --------
    >>> import pandas as pd
    >>> X, y = pd.DataFrame({"a": [1, 2, 3]}, index=[5, 6, 7]), pd.Series([0, 1, 0], [5, 6, 7])
    >>> take(X, y, [7, 5])[0]["a"].tolist()
    [3, 1]
    """
    positions = X.index.get_indexer(list(labels))
    if (positions < 0).any():
        raise ValueError(f"{int((positions < 0).sum())} recorded row(s) are not in the data, "
                         f"e.g. {list(labels)[int(np.argmin(positions))]!r}; load the data the "
                         "findings were recorded on.")
    return X.iloc[positions], None if y is None else y.iloc[positions]


def where(X: pd.DataFrame, y: Any, predicates: Sequence) -> tuple[pd.DataFrame, Any]:
    """Rows of ``X`` (and ``y``) that meet every slice predicate.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"a": [1, 2, 3]})
    >>> where(X, None, [("a", ">", 1)])[0].index.tolist()
    [1, 2]
    """
    mask = predicate_mask(X, predicates)
    return X[mask], None if y is None else y[mask]


def embedded(block: Mapping, dtypes: Mapping, y_name: Any = None) -> tuple[pd.DataFrame, Any]:
    """Rebuild rows embedded as literals (``{"index", "columns", "y"}``) in a test file.

    Examples
    --------
    >>> X, y = embedded({"index": [3], "columns": {"a": [1.5]}, "y": [1]}, {"a": "float64"})
    >>> X["a"].tolist(), y.tolist(), X.index.tolist()
    ([1.5], [1], [3])
    """
    X = frame(block["columns"], dtypes, block["index"])
    y = None if block.get("y") is None else pd.Series(block["y"], index=X.index, name=y_name)
    return X, y


def _resolve(spec: str, base: str | Path | None) -> Path:
    path = Path(spec).expanduser()
    if not path.is_absolute() and base is not None:
        path = Path(base).resolve().parent / path
    return path


def _import(spec: str, base: str | Path | None = None) -> Any:
    if base is not None:  # modules beside the test file import as they do under pytest
        folder = str(Path(base).resolve().parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
    module_name, _, attribute = spec.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{spec} is not callable; name a function that returns the object.")
    return target()


def check_loader(spec: Any, *, what: str = "model_loader") -> str:
    """Validate a loader: ``"package.module:function"`` or a model file path.

    Examples
    --------
    >>> check_loader("mypkg.models:load"), check_loader("model.skops")
    ('import', 'file')
    """
    if not isinstance(spec, str) or not spec.strip():
        raise TypeError(f"{what} must be a string: 'package.module:function' or a path to a "
                        f"{'/'.join(MODEL_SUFFIXES)} file; got {spec!r}.")
    if _LOADER_RE.match(spec):
        return "import"
    if what == "model_loader" and Path(spec).suffix.lower() in MODEL_SUFFIXES:
        return "file"
    raise ValueError(f"{what} {spec!r} is neither 'package.module:function' (a function "
                     "that takes no argument and returns the object)"
                     + (f" nor a path ending in {', '.join(MODEL_SUFFIXES)}"
                        if what == "model_loader" else "") + "; no other code is run.")


def load_model(spec: str, *, trusted: Sequence[str] | None = None,
               base: str | Path | None = None) -> Any:
    """Load a model: ``"package.module:function"`` (called), a ``.skops`` or a joblib file.

    A skops file loads only if every type in it is in ``trusted`` (the types found when the
    test file was generated); joblib and pickle files run code when loaded, so only name
    files you made. Relative paths are taken from the directory of ``base`` (the test file).

    Examples
    --------
    >>> load_model("collections:OrderedDict")
    OrderedDict()
    """
    if check_loader(spec) == "import":
        return _import(spec, base)
    path = _resolve(spec, base)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}; save the model there or "
                                "regenerate the tests with another model_loader.")
    if path.suffix.lower() == ".skops":
        import skops.io as sio

        untrusted = set(sio.get_untrusted_types(file=path)) - set(trusted or ())
        if untrusted:
            raise ValueError(f"{path} holds types that were not trusted when the tests were "
                             f"generated: {sorted(untrusted)}; check the file, then regenerate "
                             "the tests (or pass trusted=[...]).")
        return sio.load(path, trusted=list(trusted or ()))
    import joblib

    return joblib.load(path)


def load_data(spec: str, *, expected: str | None = None, y_name: Any = None,
              base: str | Path | None = None) -> tuple[pd.DataFrame, Any]:
    """Call a data loader ``"package.module:function"`` returning ``(X, y)``; check its data.

    ``y`` may be an array: it becomes a Series on ``X``'s index named ``y_name``, as
    :func:`~mldebug_widgets.bind` does. ``expected`` is the fingerprint of the data the
    findings were recorded on.

    Raises
    ------
    AssertionError
        If the data differs from the data the findings were recorded on.

    Examples
    --------
    >>> load_data("collections:OrderedDict")
    Traceback (most recent call last):
    TypeError: collections:OrderedDict must return (X, y) with X a DataFrame; got OrderedDict.
    """
    check_loader(spec, what="data_loader")
    loaded = _import(spec, base)
    if not isinstance(loaded, tuple) or len(loaded) != 2 or not isinstance(loaded[0],
                                                                           pd.DataFrame):
        raise TypeError(f"{spec} must return (X, y) with X a DataFrame; got "
                        f"{type(loaded).__name__}.")
    X, y = loaded
    if y is not None and not isinstance(y, pd.Series):
        y = pd.Series(np.asarray(y), index=X.index, name=y_name)
    if expected is not None and fingerprint(X, y) != expected:
        raise AssertionError(f"the data returned by {spec} differs from the data the findings "
                             "were recorded on; the tests compare numbers on those rows, so "
                             "load that data or regenerate the tests.")
    return X, y
