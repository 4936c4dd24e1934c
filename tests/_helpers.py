"""Helpers shared by the tests."""

from __future__ import annotations

import hashlib
import pickle

import pandas as pd


def fingerprint(*objects) -> str:
    """A hash of pickled objects: equal before and after means nothing was mutated."""
    digest = hashlib.sha256()
    for obj in objects:
        if isinstance(obj, pd.DataFrame | pd.Series):
            digest.update(pd.util.hash_pandas_object(obj, index=True).to_numpy().tobytes())
            digest.update(repr(obj.dtypes if isinstance(obj, pd.DataFrame) else obj.dtype)
                          .encode())
        else:
            digest.update(pickle.dumps(obj))
    return digest.hexdigest()
