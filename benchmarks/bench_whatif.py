"""What-if edit -> prediction + ICE for all 23 features, against scikit-learn and the limit.

For each demo model (HistGradientBoosting, RandomForest, logistic-regression pipeline) one
row of the demo credit data is edited and three ways of getting its prediction and its ICE
curves over every feature are timed, alternating in one process, on one OpenMP/BLAS thread:

(a) peer   ``sklearn.inspection.partial_dependence(kind="individual", method="brute")`` once
           per feature on the one row (``custom_values`` = our grid), plus one
           ``predict_proba`` on the row for its prediction;
ours       ``mldebug_widgets.analysis.what_if(session, row, grid=grids)`` end to end (frame
           building, one predict call, splitting into curves);
(b) limit  one ``model.predict_proba`` on a pre-built DataFrame holding the same rows
           (the edited row + its sweep), i.e. the single predict call nothing can avoid.

Two grids are measured: "20 each" gives every feature exactly 20 points (460 swept rows, as
in the issue; short schema grids are cycled with ``np.resize``) and "schema" is the default
``feature_grids(session, resolution=20)`` the widget uses (fewer points for features with
few distinct values). All three methods get the same grid values.

Two kinds of model are measured: the demo pipelines (``demo_model``: a ColumnTransformer
with one-hot encoding and imputation in front of the estimator) and the bare estimators
fitted on the 23 numeric columns (the setting of the issue's numbers), where a predict call
is cheap and our frame-building overhead shows most.

Run ``python benchmarks/bench_whatif.py`` (full, writes docs/benchmarks.md) or
``python benchmarks/bench_whatif.py --quick`` (smaller data, fewer repeats, prints only).
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import io
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.inspection import partial_dependence
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import mldebug_widgets as mdw
from mldebug_widgets.analysis import feature_grids, what_if

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import DOCS, load_average, machine_info, write_docs  # noqa: E402

MODELS = {"hgb": "HistGradientBoosting", "forest": "RandomForest(100)",
          "logistic": "StandardScaler + LogisticRegression"}
TARGET_PEER, TARGET_LIMIT = 100.0, 1.3
EDIT = ("LIMIT_BAL", 50_000.0)


# -- the three methods ----------------------------------------------------------------
def peer_sklearn(model, row: pd.DataFrame, grids: dict) -> tuple[np.ndarray, dict]:
    """(a): prediction + one sklearn partial_dependence(kind="individual") per feature."""
    # scikit-learn refuses integer columns in partial_dependence (ValueError in 1.9):
    # a user has to pass floats; the cast is part of the peer's cost (about 0.3 ms).
    ints = [c for c in row.columns if row[c].dtype.kind in "iu"]
    row_float = row.astype(dict.fromkeys(ints, np.float64))
    prediction = model.predict_proba(row)[0]
    curves = {}
    for feature, grid in grids.items():
        result = partial_dependence(model, row_float, [feature], kind="individual",
                                    method="brute", custom_values={feature: grid})
        curves[feature] = (result["individual"], result["grid_values"][0])
    return prediction, curves


def ours_what_if(session, row: pd.DataFrame, grids: dict):
    return what_if(session, row, grid=grids)


def limit_predict(model, batch: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(batch)


# -- set-up ---------------------------------------------------------------------------
def twenty_each(grids: dict, n: int = 20) -> dict:
    """Exactly ``n`` points per feature: short grids are cycled (valid values, duplicates)."""
    return {f: (g if len(g) == n else np.resize(g, n)) for f, g in grids.items()}


def limit_batch(row: pd.DataFrame, grids: dict) -> pd.DataFrame:
    """The rows what_if scores (edited row, then each feature's sweep), built independently.

    Built with plain pandas from the public inputs and consolidated (one block per dtype),
    the layout of a frame read from disk: the best case for the model's own input handling.
    """
    parts = [row]
    for feature, values in grids.items():
        block = pd.concat([row] * len(values), ignore_index=True)
        column = np.asarray(values, dtype=np.float64)
        if row[feature].dtype.kind in "iu" and np.all(column == np.round(column)):
            column = column.astype(row[feature].dtype)
        block[feature] = column
        parts.append(block)
    return pd.concat(parts, ignore_index=True).copy()


def check_correctness(model, session, row, grids, batch) -> str:
    pos = list(model.classes_).index(session.adapter.pos_label)
    ours = what_if(session, row, grid=grids)
    prediction, peer = peer_sklearn(model, row, grids)
    np.testing.assert_allclose(ours.prediction, prediction[[pos]], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.prediction, model.predict_proba(row)[:, pos],
                               rtol=0, atol=1e-12)
    worst = 0.0
    for feature, grid in grids.items():
        individual, grid_values = peer[feature]
        np.testing.assert_array_equal(np.asarray(grid_values, dtype=float),
                                      np.asarray(grid, dtype=float))
        # binary classifiers: sklearn returns the positive class only, shape (1, 1, n_grid)
        theirs = individual[0, 0, :]
        np.testing.assert_allclose(ours.ice.curve(feature), theirs, rtol=0, atol=1e-10)
        worst = max(worst, float(np.max(np.abs(ours.ice.curve(feature) - theirs))))
    flat = np.concatenate([ours.prediction] + [ours.ice.curve(f) for f in grids])
    np.testing.assert_allclose(flat, model.predict_proba(batch)[:, pos], rtol=0, atol=1e-12)
    return f"max |ours - sklearn| over {len(grids)} ICE curves = {worst:.1e}"


# -- timing ---------------------------------------------------------------------------
def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and thread CPU time of one call, in seconds."""
    w0, c0 = time.perf_counter(), time.thread_time()
    fn()
    return time.perf_counter() - w0, time.thread_time() - c0


def measure(methods: dict[str, Callable[[], object]], rounds: int, inner: int,
            slow: str = "peer") -> dict[str, np.ndarray]:
    """Alternate the methods: per round the slow one once, the fast ones ``inner`` times
    each, interleaved and with their order flipped every other call."""
    fast = [name for name in methods if name != slow]
    samples: dict[str, list] = {name: [] for name in methods}
    for name in fast:  # warm-up (the peer is warmed by the correctness check)
        methods[name]()
        methods[name]()
    for r in range(rounds):
        if slow in methods and r % 2 == 0:
            samples[slow].append(timed(methods[slow]))
        for i in range(inner):
            order = fast if i % 2 == 0 else fast[::-1]
            for name in order:
                samples[name].append(timed(methods[name]))
        if slow in methods and r % 2 == 1:
            samples[slow].append(timed(methods[slow]))
    return {name: np.asarray(s) for name, s in samples.items()}


def fmt(values: np.ndarray) -> str:
    """Median (min-max, n) in ms of an array of seconds."""
    ms = values * 1e3
    digits = 0 if np.median(ms) >= 100 else (1 if np.median(ms) >= 10 else 2)
    return (f"{np.median(ms):.{digits}f} ms ({ms.min():.{digits}f}–{ms.max():.{digits}f}, "
            f"n={len(ms)})")


def breakdown(session, row, grids) -> dict[str, float] | None:
    """Median CPU ms of the parts of what_if (uses the private _batch module)."""
    try:
        from mldebug_widgets.analysis._batch import sweep_frame
    except ImportError:
        return None
    if "include_base" in inspect.signature(sweep_frame).parameters:
        label = "build frame: sweep_frame(include_base=True)"

        def build():
            return sweep_frame(row, grids, include_base=True)
    else:
        label = "build frame: concat([row, sweep_frame])"

        def build():
            return pd.concat([row, sweep_frame(row, grids)], ignore_index=True)
    built = build()
    consolidated = built.copy()
    model = session.model
    parts = {
        "feature_grids(grid=...)": lambda: feature_grids(session, None, grids),
        label: build,
        "session.predict(built frame)": lambda: session.predict(built),
        f"predict_proba(built frame, {built._mgr.nblocks} blocks)":
            lambda: model.predict_proba(built),
        f"predict_proba(consolidated, {consolidated._mgr.nblocks} blocks)":
            lambda: model.predict_proba(consolidated),
        "what_if end to end": lambda: what_if(session, row, grid=grids),
    }
    samples = measure(parts, rounds=1, inner=60, slow="")
    return {name: float(np.median(s[:, 1]) * 1e3) for name, s in samples.items()}


def profile(session, row, grids, calls: int = 200, top: int = 25) -> str:
    for _ in range(20):
        what_if(session, row, grid=grids)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        what_if(session, row, grid=grids)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# -- report ---------------------------------------------------------------------------
def markdown(results: list[dict], args, info: list[str], checks: list[str],
             parts: dict) -> str:
    lines = [
        "## What-if edit: prediction + ICE of all 23 features (`bench_whatif.py`)",
        "",
        f"One row of the demo credit data (`load_credit(n_rows={args.rows})`) is edited "
        f"({EDIT[0]} = {EDIT[1]:g}), then its prediction and its ICE curves over all 23 "
        "features are computed three ways:",
        "",
        "- **(a) sklearn**: `sklearn.inspection.partial_dependence(model, row, [f], "
        "kind=\"individual\", method=\"brute\", custom_values={f: grid})` once per feature, "
        "plus `predict_proba(row)` (integer columns cast to float first: scikit-learn refuses "
        "them).",
        "- **ours**: `mldebug_widgets.analysis.what_if(session, row, grid=grids)` end to end "
        "(frame building, one predict call, splitting into curves).",
        "- **(b) limit**: one `model.predict_proba` on a pre-built DataFrame of the same rows "
        "(consolidated: one block per dtype).",
        "",
        "Grids: *20 each* = exactly 20 points per feature (460 swept rows + the edited row, as "
        "in the issue; features with fewer distinct values have their schema grid cycled); "
        "*schema* = `feature_grids(session, resolution=20)`, what the widget sweeps by "
        "default. All methods get the same grid values.",
        "",
        "Models: *demo pipeline* = `demo_model(data, kind=...)` (one-hot encoding + imputation "
        "[+ scaling] + estimator in a `ColumnTransformer` pipeline, whose per-call overhead "
        "dominates a 461-row predict); *bare estimator* = the estimator alone fitted on the "
        "23 numeric columns (`StandardScaler + LogisticRegression` for the linear model), the "
        "setting of the issue's numbers, where a predict call is cheap and our own overhead "
        "shows most.",
        "",
        "All three run on **one OpenMP/BLAS thread** (`threadpoolctl.threadpool_limits(1)`), "
        "alternating in one process after a warm-up. Cells: median wall-clock time (min–max, "
        "n). Ratios are of medians; *CPU* is the same ratio in thread CPU time "
        "(`time.thread_time`), less sensitive to neighbours on a shared machine. Target: "
        f"(a)/ours ≥ {TARGET_PEER:g} and ours/(b) ≤ {TARGET_LIMIT:g}.",
        "",
        "| model | grid | rows | (a) sklearn | ours `what_if` | (b) one `predict_proba` "
        "| (a)/ours | ours/(b) | ours/(b) CPU |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['model']} | {r['grid']} | {r['rows']} | {fmt(r['peer'][:, 0])} "
            f"| {fmt(r['ours'][:, 0])} | {fmt(r['limit'][:, 0])} | {r['vs_peer']:.0f}× "
            f"{'✅' if r['vs_peer'] >= TARGET_PEER else '❌'} | {r['vs_limit']:.2f}× "
            f"{'✅' if r['vs_limit'] <= TARGET_LIMIT else '❌'} | {r['vs_limit_cpu']:.2f}× |")
    lines += ["", "Correctness (checked once per model and grid before timing): our prediction "
              "equals `predict_proba` (1e-12), our ICE curves equal scikit-learn's individual "
              "curves (1e-10) and the rows of (b) score exactly as ours.", ""]
    lines += [f"- {c}" for c in checks]
    if parts:
        names = list(next(iter(parts.values())))
        lines += ["", "Where the time of `what_if` goes (median thread CPU ms, *20 each* "
                  "grid; private helpers, for diagnosis only):", "",
                  "| part | " + " | ".join(parts) + " |",
                  "|---|" + "---|" * len(parts)]
        for name in names:
            lines.append(f"| {name} | " + " | ".join(
                f"{p[name]:.2f}" if name in p else "–" for p in parts.values()) + " |")
    lines += ["", "Machine:", ""] + [f"- {i}" for i in info]
    lines += ["", "Rerun: `.venv/bin/python benchmarks/bench_whatif.py` (rewrites this "
              "section), or add `--quick` for a smoke run that only prints. `--profile` prints "
              "a cProfile of `what_if`.", ""]
    return "\n".join(lines)


# -- main -----------------------------------------------------------------------------
def bare_estimator(kind: str, data):
    """The estimator alone, fitted on the numeric columns (the issue's and recipe's setting)."""
    if kind == "hgb":
        model = HistGradientBoostingClassifier(random_state=0)
    elif kind == "forest":
        model = RandomForestClassifier(n_estimators=100, min_samples_leaf=5, n_jobs=1,
                                       random_state=0)
    else:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return model.fit(data.X, data.y)


def run_model(name: str, model, data, grid_names: tuple, rounds: int, inner: int,
              args) -> tuple[list, list, dict | None]:
    session = mdw.bind(model, data.X, data.y)
    row = session.row(data.X.index[0])
    row[EDIT[0]] = EDIT[1]
    schema_grids = feature_grids(session, resolution=20)
    all_grids = {"20 each": twenty_each(schema_grids), "schema": schema_grids}
    results, checks, parts = [], [], None
    for grid_name in grid_names:
        grids = all_grids[grid_name]
        batch = limit_batch(row, grids)
        check = check_correctness(model, session, row, grids, batch)
        checks.append(f"{name}, {grid_name}: {check}")
        print(f"  {grid_name}: {len(batch)} rows; correctness OK ({check})")
        samples = measure({
            "peer": lambda m=model, r=row, g=grids: peer_sklearn(m, r, g),
            "ours": lambda s=session, r=row, g=grids: ours_what_if(s, r, g),
            "limit": lambda m=model, b=batch: limit_predict(m, b),
        }, rounds=rounds, inner=inner)
        med = {k: np.median(v, axis=0) for k, v in samples.items()}
        result = dict(model=name, grid=grid_name, rows=len(batch), **samples,
                      vs_peer=med["peer"][0] / med["ours"][0],
                      vs_limit=med["ours"][0] / med["limit"][0],
                      vs_limit_cpu=med["ours"][1] / med["limit"][1])
        results.append(result)
        print(f"    (a) sklearn  {fmt(samples['peer'][:, 0])}")
        print(f"    ours         {fmt(samples['ours'][:, 0])}")
        print(f"    (b) limit    {fmt(samples['limit'][:, 0])}")
        print(f"    (a)/ours = {result['vs_peer']:.0f}x, ours/(b) = "
              f"{result['vs_limit']:.2f}x (CPU time: {result['vs_limit_cpu']:.2f}x)")
        if grid_name == "20 each":
            parts = breakdown(session, row, grids)
            for part, ms in (parts or {}).items():
                print(f"      {part:<48} {ms:7.2f} ms CPU")
            if args.profile:
                print(profile(session, row, grids))
    return results, checks, parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller data (5,000 rows), fewer repeats; print only")
    parser.add_argument("--models", default="hgb,forest,logistic",
                        help="comma-separated demo_model kinds (default: all three)")
    parser.add_argument("--no-bare", action="store_true",
                        help="skip the bare estimators (fitted without the demo pipeline)")
    parser.add_argument("--rows", type=int, default=None,
                        help="rows of load_credit (default 30,000; 5,000 with --quick)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="calls of the sklearn peer per model and grid (default 7; 2 quick)")
    parser.add_argument("--write", action="store_true", help="write docs even with --quick")
    parser.add_argument("--no-write", action="store_true", help="do not write docs")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of what_if")
    args = parser.parse_args(argv)
    args.rows = args.rows or (5_000 if args.quick else 30_000)
    rounds = args.rounds or (2 if args.quick else 7)
    inner = 10 if args.quick else 30
    kinds = [k.strip() for k in args.models.split(",") if k.strip()]

    args.load_start = load_average()
    print(f"bench_whatif: load_credit(n_rows={args.rows}); models {kinds}; "
          f"{rounds} peer calls and {rounds * inner} calls of ours/(b) per model and grid; "
          f"load average {args.load_start}.")
    print("Threads: OpenMP/BLAS pinned to 1 with threadpoolctl.threadpool_limits(1) for all "
          "three methods.")
    data = mdw.datasets.load_credit(n_rows=args.rows)
    configs = [(f"{MODELS.get(k, k)} (demo pipeline)", k, "demo", ("20 each", "schema"))
               for k in kinds]
    if not args.no_bare:
        configs += [(f"{MODELS.get(k, k)} (bare estimator)", k, "bare", ("20 each",))
                    for k in kinds]
    results, checks, parts = [], [], {}
    with threadpool_limits(limits=1):
        for name, kind, how, grid_names in configs:
            t0 = time.perf_counter()
            model = (mdw.datasets.demo_model(data, kind=kind) if how == "demo"
                     else bare_estimator(kind, data))
            print(f"\n[{name}] fitted in {time.perf_counter() - t0:.1f} s")
            found = run_model(name, model, data, grid_names, rounds, inner, args)
            results += found[0]
            checks += found[1]
            if found[2]:
                parts[name] = found[2]
    info = machine_info(args.load_start)
    section = markdown(results, args, info, checks, parts)
    print("\n" + section)
    if (args.write or not args.quick) and not args.no_write:
        write_docs("bench_whatif", section)
        print(f"wrote {DOCS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
