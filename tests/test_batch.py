"""sweep_frame against a naive row-by-row reference, over dtypes, NaN and row counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mldebug_widgets.analysis._batch import sweep_frame


def naive(base: pd.DataFrame, grids: dict, include_base: bool) -> pd.DataFrame:
    rows = [base.iloc[[r]] for r in range(len(base))] if include_base else []
    for feature, values in grids.items():
        for r in range(len(base)):
            for value in values:
                row = base.iloc[[r]].copy()
                if pd.isna(value) and pd.api.types.is_integer_dtype(row[feature].dtype) and \
                        isinstance(row[feature].dtype, np.dtype):
                    row[feature] = row[feature].astype(float)
                row.loc[row.index[0], feature] = value
                rows.append(row)
    return pd.concat(rows, ignore_index=True)


@pytest.fixture
def base():
    return pd.DataFrame({
        "f": [0.5, 1.5, -2.0],
        "i": np.array([1, 2, 3], dtype=np.int64),
        "b": [True, False, True],
        "s": pd.array(["x", "y", None], dtype="str"),
        "c": pd.Categorical(["u", "v", "u"]),
        "n": pd.array([1, None, 3], dtype="Int64"),
    })


@pytest.mark.parametrize("n_rows", [1, 3])
@pytest.mark.parametrize("include_base", [False, True])
def test_matches_naive_reference(base, n_rows, include_base):
    base = base.iloc[:n_rows]
    grids = {"f": np.array([0.0, np.nan, 9.0]), "i": np.array([5, 7]),
             "s": np.array(["y", np.nan], dtype=object), "c": np.array(["v"], dtype=object),
             "n": np.array([4.0, np.nan])}
    got = sweep_frame(base, grids, include_base=include_base)
    expected = naive(base, grids, include_base)
    assert list(got.columns) == list(base.columns)
    for column in base.columns:
        left, right = got[column].tolist(), expected[column].tolist()
        assert [None if pd.isna(v) else v for v in left] == \
            [None if pd.isna(v) else v for v in right], column
    assert got["i"].dtype == np.int64 and got["b"].dtype == bool  # whole numbers stay ints
    assert isinstance(got["c"].dtype, pd.CategoricalDtype)


def test_integer_column_becomes_float_only_for_nan_or_fractions(base):
    assert sweep_frame(base, {"i": np.array([1.0, 2.0])})["i"].dtype == np.int64
    assert sweep_frame(base, {"i": np.array([1.0, np.nan])})["i"].dtype == np.float64
    assert sweep_frame(base, {"i": np.array([1.5])})["i"].tolist() == [1.5, 1.5, 1.5]


def test_numeric_frame_is_consolidated():
    base = pd.DataFrame({"a": [1.0], "b": [2], "c": [3.0], "d": [4]})
    frame = sweep_frame(base, {"a": np.array([0.0, 1.0]), "d": np.array([7, 8])},
                        include_base=True)
    assert frame.to_dict("list") == {"a": [1.0, 0.0, 1.0, 1.0, 1.0],
                                     "b": [2, 2, 2, 2, 2], "c": [3.0] * 5,
                                     "d": [4, 4, 4, 7, 8]}
    assert list(frame.dtypes) == [np.float64, np.int64, np.float64, np.int64]
