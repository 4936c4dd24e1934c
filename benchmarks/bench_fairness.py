"""Fairness at a million rows: group metrics, threshold sweeps and slices against their peers.

The issue's benchmark, three parts, each checked for equal numbers before it is timed:

1. group metrics: ``analysis.group_metrics(session, ...)`` (its full metric set, 14 metrics)
   against fairlearn's ``MetricFrame`` computing the 10 of them that have a fairlearn or
   scikit-learn metric function, on 1,000,000 rows of the demo credit data, for each of the
   sensitive features SEX, EDUCATION, MARRIAGE, AGE (bins [0, 30), [30, 200]) and for the
   intersection SEX x age group;
2. a 50-threshold sweep: ``analysis.threshold_sweep(session, 50)`` (then every group table,
   ``.to_frame()``) against one ``MetricFrame`` per threshold at 30,000 rows, ours also at
   1M; then the kernel side of a threshold slider move at 1M: ``sweep.at_groups(...)`` and
   the ``FairnessSlicer`` updates (``group_thresholds``, a group slider, the global slider);
3. slice discovery: ``analysis.find_slices`` against ``sliceline.Slicefinder`` on the same
   binned data (level 2 at 30k rows, level 3 at 5k), the same top slices asserted; ours at
   level 3 on 1M rows x 23 features in a fresh subprocess (time and peak memory).

Every number is asserted equal to the peer's (``np.testing.assert_allclose``) before the
tables are written. OpenMP/BLAS run on one thread (``threadpoolctl.threadpool_limits(1)``).
Our functions are timed *cold*: the session's cache is emptied before every call except
for the predictions, which both sides receive precomputed.

Run ``python benchmarks/bench_fairness.py`` (8-11 minutes on 2 shared cores; rewrites its
section of docs/benchmarks.md) or ``--quick`` (100k rows, smaller peers, fewer repeats; prints
only).
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.metadata
import json
import pstats
import re
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path

import fairlearn
import ipywidgets
import numpy as np
import pandas as pd
import sliceline
from fairlearn.metrics import (
    MetricFrame,
    count,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_negative_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score, log_loss, precision_score, roc_auc_score
from threadpoolctl import threadpool_limits

import mldebug_widgets as mdw
from mldebug_widgets.analysis import find_slices, group_metrics, threshold_sweep
from mldebug_widgets.analysis.fairness import sensitive_groups
from mldebug_widgets.analysis.residuals import bin_labels
from mldebug_widgets.analysis.slices import _misclassification

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import DOCS, load_average, machine_info, write_docs  # noqa: E402
from bench_residuals import Recorder, hot_spots, timed, where  # noqa: E402

TRAIN_ROWS = 30_000
AGE_BINS = {"AGE": [0, 30, 200]}
GROUPINGS = (("SEX",), ("EDUCATION",), ("MARRIAGE",), ("AGE",), ("SEX", "AGE"))
#: the metrics with a fairlearn / scikit-learn function (ours also computes prevalence, npv,
#: fdr and for, which have none)
PEER_METRICS = ("count", "selection_rate", "accuracy", "tpr", "precision", "specificity", "fpr",
                "fnr", "auc", "logloss")
SWEEP_METRICS = PEER_METRICS[:8]  # those that depend on the threshold
N_THRESHOLDS = 50
SLIDER_TARGET_S, SLICES_TARGET_S, SLICES_TARGET_BYTES = 0.010, 30.0, 2e9
PEER_RATIO_TARGET = 200  # the issue's target: at least 200x faster than MetricFrame


# -- measuring ------------------------------------------------------------------------------
def clock(fn: Callable[[], object]) -> tuple[float, float, object]:
    """Wall-clock and thread CPU seconds of one call, and its result."""
    w0, c0 = time.perf_counter(), time.thread_time()
    out = fn()
    return time.perf_counter() - w0, time.thread_time() - c0, out


def drop_cache(session) -> None:
    """Empty the session's cache except the predictions: the next call is cold."""
    session._cache = {k: v for k, v in session._cache.items() if k[1] == "predictions"}


def ours_cold(session, fn: Callable[[], object]) -> tuple[float, float, object]:
    drop_cache(session)
    return clock(fn)


def memory() -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of this process, in bytes."""
    text = Path("/proc/self/status").read_text()
    return {k: int(re.search(k + r":\s+(\d+)", text).group(1)) * 1024 for k in ("VmRSS", "VmHWM")}


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def with_peak(fn: Callable[[], object]) -> tuple[float, float, object, int | None]:
    """Clock ``fn`` and measure its peak RSS above the RSS before the call (None: unknown)."""
    ok = reset_peak()
    before = memory()["VmRSS"]
    wall, cpu, out = clock(fn)
    return wall, cpu, out, (memory()["VmHWM"] - before) if ok else None


class Samples:
    """Wall and CPU seconds of repeated calls."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def add(self, wall: float, cpu: float) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)

    @property
    def median(self) -> float:
        return float(np.median(self.wall))

    @property
    def median_cpu(self) -> float:
        return float(np.median(self.cpu))


# -- formatting -----------------------------------------------------------------------------
def num(seconds: float, unit: str) -> str:
    value = seconds * (1e3 if unit == "ms" else 1)
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else \
        f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"


def fmt(s: Samples) -> str:
    """Median (min–max, n) in ms or s."""
    unit = "s" if s.median >= 1 else "ms"
    v = np.array(s.wall)
    return (f"{num(np.median(v), unit)} {unit} ({num(v.min(), unit)}–{num(v.max(), unit)}, "
            f"n={len(v)})")


def one(seconds: float) -> str:
    return f"{num(seconds, 's')} s" if seconds >= 1 else f"{num(seconds, 'ms')} ms"


def times(k: int) -> str:
    return "once" if k == 1 else "twice" if k == 2 else f"{k} times"


def mb(size: float | None) -> str:
    if size is None:
        return "?"
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"


def ratio(peer: Samples, ours: Samples) -> str:
    return f"{peer.median / ours.median:,.0f}×" if peer.median / ours.median >= 10 else \
        f"{peer.median / ours.median:.1f}×"


# -- building -------------------------------------------------------------------------------
def bind(model, n: int, sensitive: list[str] | None):
    data = mdw.datasets.load_credit(n_rows=n)
    return mdw.bind(model, data.X, data.y, sensitive_features=sensitive,
                    schema=mdw.datasets.CREDIT_SCHEMA)


def grouping(names: tuple[str, ...]) -> dict:
    bins = {k: v for k, v in AGE_BINS.items() if k in names} or None
    return {"sensitive_features": list(names), "bins": bins}


def peer_labels(session, names: tuple[str, ...]) -> pd.DataFrame:
    """The group label of every row, as plain columns for MetricFrame (built before timing)."""
    labels = sensitive_groups(session, list(names), bins=grouping(names)["bins"])
    return pd.DataFrame({n: np.asarray(labels[n], dtype=object) for n in names})


# -- fairlearn --------------------------------------------------------------------------------
def peer_metrics(threshold: float, names=PEER_METRICS) -> dict[str, Callable]:
    """fairlearn / scikit-learn metric functions of (y_true, score); predicted = score >= t."""
    def at(f):
        return lambda t, s: f(t, s >= threshold)

    table = {
        "count": count,
        "selection_rate": at(selection_rate),
        "accuracy": at(accuracy_score),
        "tpr": at(true_positive_rate),
        "precision": at(lambda t, p: precision_score(t, p, zero_division=np.nan)),
        "specificity": at(true_negative_rate),
        "fpr": at(false_positive_rate),
        "fnr": at(false_negative_rate),
        "auc": roc_auc_score,
        "logloss": lambda t, s: log_loss(t, s, labels=[0, 1]),
    }
    return {name: table[name] for name in names}


def metric_frame(metrics: dict, y: np.ndarray, scores: np.ndarray,
                 sensitive: pd.DataFrame) -> pd.DataFrame:
    """MetricFrame's by_group table with its overall row appended, as ours is laid out."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's zero-division warnings
        frame = MetricFrame(metrics=metrics, y_true=y, y_pred=scores,
                            sensitive_features=sensitive)
    by_group = frame.by_group.copy()
    overall = "overall" if by_group.index.nlevels == 1 else ("overall",) * by_group.index.nlevels
    by_group.loc[overall, :] = frame.overall
    return by_group


def assert_same(ours: pd.DataFrame, theirs: pd.DataFrame, columns, what: str) -> float:
    """Assert equal numbers (rtol 1e-10); return the largest absolute difference."""
    assert len(theirs) == len(ours), (what, ours.index, theirs.index)
    theirs = theirs.loc[ours.index]
    worst = 0.0
    for column in columns:
        a = ours[column].to_numpy(dtype=float)
        b = theirs[column].to_numpy(dtype=float)
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=f"{what}: {column}")
        both = np.isfinite(a) & np.isfinite(b)
        worst = max(worst, float(np.max(np.abs(a[both] - b[both]), initial=0.0)))
    return worst


# -- 1. group metrics ---------------------------------------------------------------------
def run_group_metrics(session, rounds: int, repeats: int) -> list[dict]:
    y, scores = session.y.to_numpy(), session.predictions()[:, 0]
    metric_frame(peer_metrics(0.5), y[:1000], scores[:1000],
                 peer_labels(session, ("SEX",)).iloc[:1000])  # warm-up: fairlearn's imports
    out = []
    for names in GROUPINGS:
        sensitive = peer_labels(session, names)
        kwargs = grouping(names)
        ours_table = group_metrics(session, **kwargs)  # warm-up
        peer, ours = Samples(), Samples()
        theirs = None
        for _ in range(rounds):
            wall, cpu, theirs = clock(lambda s=sensitive: metric_frame(
                peer_metrics(0.5), y, scores, s))
            peer.add(wall, cpu)
            for _ in range(repeats):
                wall, cpu, ours_table = ours_cold(
                    session, lambda k=kwargs: group_metrics(session, **k))
                ours.add(wall, cpu)
        diff = assert_same(ours_table, theirs, PEER_METRICS, " × ".join(names))
        label = " × ".join(names)
        result = {"grouping": label, "groups": len(ours_table) - 1, "peer": peer, "ours": ours,
                  "diff": diff, "n_metrics": len([c for c in ours_table if c != "warning"])}
        out.append(result)
        print(f"  {label:<12} {result['groups']} groups: MetricFrame {fmt(peer)}, ours "
              f"{fmt(ours)}, {ratio(peer, ours)} (CPU "
              f"{peer.median_cpu / ours.median_cpu:,.0f}×); equal (max |diff| {diff:.1e})")
    return out


# -- 2. threshold sweep ---------------------------------------------------------------------
def sweep_call(session) -> pd.DataFrame:
    return threshold_sweep(session, N_THRESHOLDS, bins=AGE_BINS).to_frame()


def run_sweep(session, repeats: int) -> dict:
    """50 MetricFrames (one per threshold) vs one sweep; ours interleaved every 5 thresholds."""
    y, scores = session.y.to_numpy(), session.predictions()[:, 0]
    sensitive = peer_labels(session, ("SEX", "AGE"))
    sweep_call(session)  # warm-up
    thresholds = np.linspace(0.0, 1.0, N_THRESHOLDS)
    per_threshold, ours = Samples(), Samples()
    tables = []
    for i, t in enumerate(thresholds):
        wall, cpu, table = clock(lambda t=t: metric_frame(
            peer_metrics(float(t), SWEEP_METRICS), y, scores, sensitive))
        per_threshold.add(wall, cpu)
        tables.append(table)
        if i % max(1, N_THRESHOLDS // repeats) == 0:
            ours.add(*ours_cold(session, lambda: sweep_call(session))[:2])
    total = Samples()
    total.add(sum(per_threshold.wall), sum(per_threshold.cpu))
    sweep = threshold_sweep(session, N_THRESHOLDS, bins=AGE_BINS)
    np.testing.assert_allclose(sweep.thresholds, thresholds, rtol=0, atol=1e-15)
    diff = max(assert_same(sweep.at(float(t)), table, SWEEP_METRICS, f"sweep at {t:.3f}")
               for t, table in zip(thresholds, tables, strict=True))
    long = sweep.to_frame()
    for t in thresholds[::7]:  # the long frame holds the same tables
        at = long.xs(t, level="threshold")
        assert_same(at, tables[list(thresholds).index(t)], SWEEP_METRICS, f"to_frame at {t}")
    print(f"  {len(scores):,} rows: {N_THRESHOLDS} MetricFrames {one(total.median)} (one: "
          f"{fmt(per_threshold)}), ours {fmt(ours)}, {ratio(total, ours)}; equal at all "
          f"{N_THRESHOLDS} thresholds (max |diff| {diff:.1e})")
    return {"rows": len(scores), "peer": total, "per_threshold": per_threshold, "ours": ours,
            "diff": diff}


def run_sweep_ours(session, repeats: int) -> Samples:
    sweep_call(session)
    ours = Samples()
    for _ in range(repeats):
        ours.add(*ours_cold(session, lambda: sweep_call(session))[:2])
    print(f"  {len(session.X):,} rows: ours {fmt(ours)}")
    return ours


def check_at_groups(session, sweep, thresholds: tuple[float, ...]) -> None:
    """at_groups against counts made by hand with numpy (group labels, score >= t)."""
    labels = sensitive_groups(session, bins=AGE_BINS)
    scores, truth = session.predictions()[:, 0], session.y.to_numpy() == 1
    table = sweep.at_groups(thresholds)
    for i, group in enumerate(sweep.groups[:-1]):
        mask = np.ones(len(scores), dtype=bool)
        for name, value in zip(labels.columns, group, strict=True):
            mask &= (labels[name] == value).to_numpy()
        pred = scores[mask] >= thresholds[i]
        t = truth[mask]
        assert table["tp"].iloc[i] == (t & pred).sum()
        assert table["fp"].iloc[i] == (~t & pred).sum()
        assert table["tn"].iloc[i] == (~t & ~pred).sum()
        assert table["fn"].iloc[i] == (t & ~pred).sum()


def run_slider(session, recorder: Recorder, repeats: int) -> dict:
    """Kernel-side cost of a threshold move at N rows: the lookup and the widget's updates."""
    built: list = []
    build = timed(lambda: built.append(mdw.FairnessSlicer(session, bins=AGE_BINS)), recorder)
    slicer = built[0]
    sweep = slicer.sweep_
    n_groups = len(sweep.groups) - 1
    per_group = ((0.35, 0.55, 0.45, 0.6, 0.5, 0.4)[:n_groups],
                 (0.3, 0.45, 0.6, 0.35, 0.55, 0.65)[:n_groups])
    check_at_groups(session, sweep, per_group[1])
    cases = {
        "lookup": lambda i: sweep.at_groups(per_group[i % 2]),
        "group_thresholds": lambda i: setattr(slicer, "group_thresholds", per_group[i % 2]),
        "group slider": lambda i: setattr(slicer.group_sliders_.children[1], "value",
                                          (0.25, 0.65)[i % 2]),
        "global slider": lambda i: setattr(slicer, "threshold", (0.4, 0.5)[i % 2]),
    }
    samples = {name: [] for name in cases}
    for case in cases.values():  # warm-up
        case(0)
        case(1)
    for i in range(repeats):  # interleaved; every assignment is a real change
        for name, case in cases.items():
            samples[name].append(timed(lambda c=case, i=i: c(i), recorder))
    # the widget's table is the lookup at its thresholds
    expected = sweep.at_groups(slicer.group_thresholds)
    pd.testing.assert_frame_equal(slicer.table[expected.columns], expected)
    profile = render_profile(slicer, per_group, 20)
    slicer.close()
    out = {"build": build, "groups": n_groups, "thresholds": len(sweep.thresholds),
           "profile": profile}
    for name, found in samples.items():
        s = Samples()
        for sample in found:
            s.add(sample["wall"], sample["cpu"])
        out[name] = {"time": s, "bytes": float(np.median([x["bytes"] for x in found])),
                     "messages": float(np.median([x["messages"] for x in found]))}
        print(f"  {name:<17} {fmt(s)}, {out[name]['bytes'] / 1e3:.1f} kB in "
              f"{out[name]['messages']:.0f} messages")
    for line in profile:
        print(f"    {line}")
    return out


def render_profile(slicer, values: tuple, k: int) -> list[str]:
    """Where a ``group_thresholds`` update spends its time: cProfile of ``k`` updates.

    The functions ``_render`` calls, by the time spent under them per update, then the three
    functions with the most own time.
    """
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(k):
        slicer.group_thresholds = values[i % 2]
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    render = [f for f in stats if f[2] == "_render" and "mldebug_widgets" in f[0]]
    lines = []
    if render:
        total = stats[render[0]][3] / k
        lines.append(f"{where(render[0])}: {total * 1e3:.1f} ms per update under cProfile, "
                     "of which")
        callees = sorted(((callers[render[0]][3], func) for func, (*_, callers) in stats.items()
                          if render[0] in callers), reverse=True)[:5]
        lines += [f"  {where(func)} {ct / k * 1e3:.1f} ms" for ct, func in callees]
    lines += ["most own time: " + "; ".join(hot_spots(profiler))]
    return lines


# -- 3. slices ------------------------------------------------------------------------------
def sliceline_top(session, errors: np.ndarray, level: int, min_sup: int):
    """Fit sliceline on the same bin codes as find_slices; return (top slices, fitted)."""
    features = session.features
    cats = [bin_labels(session, f, 10) for f in features]
    codes = np.column_stack([c.codes for c in cats])
    labels = [[str(x) for x in c.categories] for c in cats]

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sliceline.Slicefinder(alpha=0.95, k=10, max_l=level, min_sup=min_sup,
                                         verbose=False).fit(codes, errors)

    def top(finder) -> list[tuple]:
        out = []
        for row, stats in zip(finder.top_slices_, finder.top_slices_statistics_, strict=True):
            preds = frozenset((features[j], labels[j][int(v)])
                              for j, v in enumerate(row) if v is not None)
            out.append((preds, stats["slice_size"], stats["slice_average_error"],
                        stats["slice_score"]))
        return out

    return fit, top


def assert_same_slices(table: pd.DataFrame, theirs: list[tuple]) -> None:
    assert len(table) == len(theirs) > 0, (len(table), len(theirs))
    assert [frozenset(p) for p in table["predicates"]] == [t[0] for t in theirs]
    np.testing.assert_array_equal(table["size"], [t[1] for t in theirs])
    np.testing.assert_allclose(table["error"], [t[2] for t in theirs], rtol=1e-9)
    np.testing.assert_allclose(table["score"], [t[3] for t in theirs], rtol=1e-9, atol=1e-12)


def run_slices_vs_sliceline(model, n: int, level: int, rounds: int, repeats: int) -> dict:
    session = bind(model, n, None)
    session.predictions()
    errors = _misclassification(session)  # find_slices' default errors for a classifier
    min_sup = max(1, int(0.01 * n))  # find_slices' default min_support=0.01
    fit, top = sliceline_top(session, errors, level, min_sup)

    def ours_call():
        return find_slices(session, max_predicates=level)

    table = ours_call().to_frame()  # warm-up
    peer, ours, peer_mem, ours_mem = Samples(), Samples(), [], []
    theirs = None
    for _ in range(rounds):
        wall, cpu, finder, peak = with_peak(fit)
        peer.add(wall, cpu)
        peer_mem.append(peak)
        theirs = top(finder)
        del finder
        for _ in range(repeats):
            drop_cache(session)
            wall, cpu, result, peak = with_peak(ours_call)
            ours.add(wall, cpu)
            ours_mem.append(peak)
            table = result.to_frame()
    assert_same_slices(table, theirs)
    peak = {"peer": max(peer_mem) if None not in peer_mem else None,
            "ours": max(ours_mem) if None not in ours_mem else None}
    drop_cache(session)
    tracemalloc.start()  # an extra, untimed call: our bytes allocated at the peak
    start = tracemalloc.get_traced_memory()[0]
    ours_call()
    traced = tracemalloc.get_traced_memory()[1] - start
    tracemalloc.stop()
    print(f"  level {level}, {n:,} rows, min_sup {min_sup}: sliceline {fmt(peer)} "
          f"(+{mb(peak['peer'])}), ours {fmt(ours)} (+{mb(peak['ours'])}, {mb(traced)} "
          f"traced), {ratio(peer, ours)}; same {len(table)} top slices; best: "
          f"{table['slice'].iloc[0]}")
    return {"rows": n, "level": level, "min_sup": min_sup, "peer": peer, "ours": ours,
            "peak": peak, "traced": traced, "top": table["slice"].iloc[0], "k": len(table)}


def child_slices(n: int, level: int, repeats: int) -> dict:
    """In a fresh process: find_slices on n rows, time and peak memory; checked by hand."""
    t0 = time.perf_counter()
    with threadpool_limits(limits=1):
        model = mdw.datasets.demo_model(mdw.datasets.load_credit(n_rows=TRAIN_ROWS))
        session = bind(model, n, None)
        session.predictions()
        setup = time.perf_counter() - t0
        ok = reset_peak()
        before = memory()["VmRSS"]
        times, cpus = [], []
        result = None
        for _ in range(repeats):
            drop_cache(session)
            wall, cpu, result = clock(lambda: find_slices(session, max_predicates=level))
            times.append(wall)
            cpus.append(cpu)
        peak = memory()["VmHWM"]
        drop_cache(session)
        tracemalloc.start()  # an extra, untimed call: bytes allocated at the peak
        start = tracemalloc.get_traced_memory()[0]
        find_slices(session, max_predicates=level)
        traced = tracemalloc.get_traced_memory()[1] - start
        tracemalloc.stop()
        table = result.to_frame()
        errors = _misclassification(session)
        for i in range(len(table)):  # each slice's rows and stats, recomputed by hand
            mask = np.ones(n, dtype=bool)
            for feature, label in table["predicates"].iloc[i]:
                mask &= np.asarray(bin_labels(session, feature, 10) == label)
            assert mask.sum() == table["size"].iloc[i]
            np.testing.assert_allclose(errors[mask].mean(), table["error"].iloc[i], rtol=1e-12)
    return {"rows": n, "level": level, "features": len(session.features), "setup": setup,
            "times": times, "cpu": cpus, "rss_before": before,
            "peak": peak if ok else None, "increase": (peak - before) if ok else None,
            "traced": traced,
            "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "slices": len(table), "top": table["slice"].tolist()[:3],
            "min_support": result.min_support}


def run_slices_child(n: int, level: int, repeats: int) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child-slices",
               f"{n}:{level}:{repeats}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"the slice subprocess failed:\n{done.stderr[-3000:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    found["children_maxrss"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    s = Samples()
    for wall, cpu in zip(found["times"], found["cpu"], strict=True):
        s.add(wall, cpu)
    found["ours"] = s
    print(f"  level {level}, {n:,} rows × {found['features']} features (fresh process, setup "
          f"{found['setup']:.1f} s): {fmt(s)}; peak RSS during the search {mb(found['peak'])} "
          f"(+{mb(found['increase'])} over {mb(found['rss_before'])} before), tracemalloc "
          f"peak {mb(found['traced'])}; whole process (ru_maxrss) {mb(found['maxrss'])}, "
          f"children {mb(found['children_maxrss'])}; {found['slices']} slices, best: "
          f"{found['top'][0]}")
    return found


# -- report ---------------------------------------------------------------------------------
def mark(ok: bool) -> str:
    return "✅" if ok else "❌"


def markdown(args, res: dict, info: list[str]) -> str:
    n = res["n"]
    gm, sw, sl, sc = res["group_metrics"], res["sweep"], res["slider"], res["slices"]
    big = res["slices_big"]
    lines = [
        "## Fairness at a million rows: group metrics, threshold sweeps, slices "
        "(`bench_fairness.py`)",
        "",
        f"Demo credit data `load_credit(n_rows=N)` scored by `demo_model` (HistGradientBoosting "
        f"pipeline trained on `load_credit({TRAIN_ROWS:,})`), bound with "
        "`schema=CREDIT_SCHEMA`. Both sides get the same precomputed scores (ours: the "
        "session's cached predictions; fairlearn: `y_pred=scores`, with predicted = "
        "`score >= threshold` inside each metric function) and the same groups (MetricFrame "
        "gets our group labels as plain columns, built before timing; our times include the "
        "grouping). Ours is timed **cold**: the session's cache is emptied (except the "
        "predictions) before every call. Cells: median wall-clock time (min–max, n), the peer "
        "and ours alternating in one process; ratio = peer median / our median. One "
        "OpenMP/BLAS thread (`threadpoolctl.threadpool_limits(1)`). Every pair is checked to "
        "give the same numbers (`np.testing.assert_allclose`, rtol 1e-10) before the table is "
        "written.",
        "",
        "| work | rows | peer | peer time | ours | ratio | target | met? |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in gm:
        lines.append(
            f"| group metrics by {r['grouping']} ({r['groups']} groups + overall) | {n:,} "
            f"| fairlearn `MetricFrame`, {len(PEER_METRICS)} metrics | {fmt(r['peer'])} "
            f"| `group_metrics`, {r['n_metrics']} metrics: {fmt(r['ours'])} "
            f"| {ratio(r['peer'], r['ours'])} | ≥ {PEER_RATIO_TARGET}× "
            f"| {mark(r['peer'].median / r['ours'].median >= PEER_RATIO_TARGET)} |")
    lines.append(
        f"| {N_THRESHOLDS}-threshold sweep, SEX × age group | {sw['rows']:,} "
        f"| one `MetricFrame` per threshold, {len(SWEEP_METRICS)} metrics "
        f"| {one(sw['peer'].median)} (n=1; one frame: {fmt(sw['per_threshold'])}) "
        f"| `threshold_sweep(session, {N_THRESHOLDS}).to_frame()`: {fmt(sw['ours'])} "
        f"| {ratio(sw['peer'], sw['ours'])} | ≥ {PEER_RATIO_TARGET}× "
        f"| {mark(sw['peer'].median / sw['ours'].median >= PEER_RATIO_TARGET)} |")
    lines.append(
        f"| {N_THRESHOLDS}-threshold sweep, SEX × age group | {n:,} | not run "
        f"| – | {fmt(res['sweep_big'])} | – | – | – |")
    slider_rows = (
        ("lookup", "threshold move: `sweep.at_groups(thresholds)`"),
        ("group_thresholds", "threshold move: `slicer.group_thresholds = (...)` (`_render`)"),
        ("group slider", "one group's slider moved (`set_group_threshold` → `_render`)"),
        ("global slider", f"global slider moved ({sl['groups']} group sliders follow, one "
                          "render)"),
    )
    for key, text in slider_rows:
        s = sl[key]["time"]
        lines.append(f"| {text} | {n:,} | – | – | {fmt(s)}; CPU {one(s.median_cpu)} | – "
                     f"| ≤ {SLIDER_TARGET_S * 1e3:.0f} ms | {mark(s.median <= SLIDER_TARGET_S)} |")
    for r in sc:
        lines.append(
            f"| worst slices, level {r['level']}, 23 features | {r['rows']:,} "
            f"| `sliceline.Slicefinder` | {fmt(r['peer'])}, +{mb(r['peak']['peer'])} "
            f"| `find_slices`: {fmt(r['ours'])}, +{mb(r['peak']['ours'])} "
            f"({mb(r['traced'])} traced) "
            f"| {ratio(r['peer'], r['ours'])} | – | – |")
    time_ok = big["ours"].median <= SLICES_TARGET_S
    mem_ok = big["maxrss"] <= SLICES_TARGET_BYTES
    lines.append(
        f"| worst slices, level 3, {big['features']} features | {big['rows']:,} "
        f"| `sliceline`: not run (> 12 GB at level 3 on 30k rows) | – "
        f"| `find_slices`: {fmt(big['ours'])}; CPU {one(big['ours'].median_cpu)}; whole "
        f"process peak {mb(big['maxrss'])} "
        f"(search: +{mb(big['increase'])} RSS, {mb(big['traced'])} traced) | – "
        f"| ≤ {SLICES_TARGET_S:.0f} s, ≤ {SLICES_TARGET_BYTES / 1e9:.0f} GB "
        f"| {mark(time_ok)} {mark(mem_ok)} |")
    gm_ratios = [r["peer"].median / r["ours"].median for r in gm]
    lines += [
        "",
        f"**Group metrics**: `group_metrics` computes 14 metrics (count, prevalence, "
        "selection rate, accuracy, TPR, precision, specificity, NPV, FPR, FDR, FNR, FOR, AUC, "
        f"log loss) in one call; `MetricFrame` computes the {len(PEER_METRICS)} that have a "
        "fairlearn or scikit-learn function (`count`, `selection_rate`, `accuracy_score`, "
        "`true_positive_rate`, `precision_score(zero_division=nan)`, `true_negative_rate`, "
        "`false_positive_rate`, `false_negative_rate`, `roc_auc_score`, `log_loss`), and they "
        f"are asserted equal on every group and overall (largest difference "
        f"{max(r['diff'] for r in gm):.1e}). Ours is {min(gm_ratios):,.0f}–"
        f"{max(gm_ratios):,.0f}× faster at {n:,} rows (CPU-time ratios "
        + ", ".join(f"{r['peer'].median_cpu / r['ours'].median_cpu:,.0f}×" for r in gm)
        + f"). MetricFrame is called {times(args.mf_rounds)} per grouping, ours "
        f"{times(args.mf_rounds * args.repeats)}.",
        "",
        f"**Threshold sweep**: {N_THRESHOLDS} thresholds `numpy.linspace(0, 1, "
        f"{N_THRESHOLDS})`, groups SEX × AGE [0, 30) / [30, 200]; the peer builds one "
        f"`MetricFrame` per threshold ({len(SWEEP_METRICS)} threshold-dependent metrics), ours "
        "sorts once and reads every threshold from cumulative counts "
        "(`threshold_sweep(...).to_frame()`: every group's table at every threshold). "
        f"`sweep.at(t)` equals the MetricFrame at all {N_THRESHOLDS} thresholds (largest "
        f"difference {sw['diff']:.1e}). Ours is timed between the peer's frames "
        f"({len(sw['ours'].wall)} calls). The peer was not run at {n:,} rows "
        "(about 50 × a MetricFrame at that size).",
        "",
        f"**Threshold slider** (kernel side, {n:,} rows): `mdw.FairnessSlicer(session, "
        f"bins={{\"AGE\": [0, 30, 200]}})` on the session bound with sensitive features SEX "
        f"and AGE ({sl['groups']} groups, its sweep has {sl['thresholds']} thresholds), built "
        f"once in {sl['build']['wall']:.2f} s (the sort of the sweep). A move is a lookup: "
        "no predict call, no pass over the rows. Each update is one trait assignment, timed "
        "until every observer has run and every widget message is serialised (messages "
        "recorded by a `comm` stand-in, as in `bench_residuals.py`); all four are "
        "interleaved and each is a real change. Bytes sent per move: "
        + ", ".join(f"{key} {sl[key]['bytes'] / 1e3:.1f} kB" for key, _ in slider_rows[1:])
        + ". `at_groups` is checked against confusion counts made by hand with numpy. "
        "Where a `group_thresholds` update spends its time (cProfile of 20 updates; "
        "profiling inflates the times):",
        "",
        *[f"- {line}" if not line.startswith("  ") else f"  - {line.strip()}"
          for line in sl["profile"]],
        "",
        "**Slices**: the lattice search of SliceLine (alpha 0.95, k 10, min support 1 % of "
        "the rows, misclassification errors, 10 quantile bins per numeric feature: "
        "`find_slices`' defaults). sliceline gets the same integer bin codes, made before "
        "timing (our time includes the binning), and returns the same top slices (predicates, "
        "sizes, errors and scores asserted). Memory: *+X* is the peak resident memory during "
        "the call above the resident memory before it (Linux `VmHWM` reset through "
        "`/proc/self/clear_refs`; memory the allocator already holds is reused without "
        "showing, hence +0 MB for small calls); *traced* is the peak of `tracemalloc` (numpy "
        "arrays included) in one extra, untimed call of ours. "
        f"At {big['rows']:,} rows, `find_slices(session, max_predicates=3)` ran "
        f"{times(len(big['times']))} in a fresh subprocess (which first trains the model, "
        f"generates the data and predicts: {mb(big['rss_before'])} resident before the "
        "search). The memory target is judged on the **whole process's peak** (`ru_maxrss`: "
        f"data, model, predictions and search together, {mb(big['maxrss'])}); the search "
        f"alone raised the resident peak by {mb(big['increase'])} and allocated at most "
        f"{mb(big['traced'])} (`tracemalloc`, numpy arrays included, in an extra untimed "
        "call). Each top slice's size and error were recomputed from its predicates by hand. "
        "Best slices there: " + "; ".join(f"`{t}`" for t in big["top"]) + ".",
        "",
        "Machine:",
        "",
        *[f"- {i}" for i in info],
        "",
        "Rerun: `.venv/bin/python benchmarks/bench_fairness.py` (rewrites this section; "
        "8–11 minutes on 2 shared cores, half of it in MetricFrame), or `--quick` (100k rows, "
        "smaller peers; prints only).",
        "",
    ]
    return "\n".join(lines)


# -- main -----------------------------------------------------------------------------------
def parse_pairs(text: str) -> list[tuple[int, int]]:
    """'30000:2,5000:3' -> [(30000, 2), (5000, 3)]."""
    return [tuple(int(x.replace("_", "")) for x in item.split(":")) for item in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="100k rows, smaller peers, fewer repeats; print only")
    parser.add_argument("--rows", type=int, default=None,
                        help="rows of the large runs (default 1,000,000; 100,000 with --quick)")
    parser.add_argument("--sweep-rows", type=int, default=None,
                        help="rows of the 50-MetricFrame sweep (default 30,000; 5,000 quick)")
    parser.add_argument("--sliceline", default=None,
                        help="rows:level pairs run with sliceline (default 30000:2,5000:3; "
                             "5000:2 with --quick: sliceline's level 3 takes 15-45 s at any "
                             "size)")
    parser.add_argument("--mf-rounds", type=int, default=1,
                        help="MetricFrame calls per grouping (default 1)")
    parser.add_argument("--sliceline-rounds", type=int, default=None,
                        help="sliceline calls per size (default 2; 1 with --quick)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="our calls per peer call (default 5; 3 with --quick)")
    parser.add_argument("--slider-repeats", type=int, default=None,
                        help="slider moves of each kind (default 100; 20 with --quick)")
    parser.add_argument("--write", action="store_true", help="write docs even with --quick")
    parser.add_argument("--no-write", action="store_true", help="do not write docs")
    parser.add_argument("--child-slices", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_slices:
        n, level, repeats = (int(x) for x in args.child_slices.split(":"))
        print(json.dumps(child_slices(n, level, repeats)))
        return 0
    n = args.rows or (100_000 if args.quick else 1_000_000)
    sweep_rows = args.sweep_rows or (5_000 if args.quick else 30_000)
    pairs = parse_pairs(args.sliceline or ("5000:2" if args.quick else "30000:2,5000:3"))
    args.repeats = args.repeats or (3 if args.quick else 5)
    sl_rounds = args.sliceline_rounds or (1 if args.quick else 2)
    slider_repeats = args.slider_repeats or (20 if args.quick else 100)

    recorder = Recorder()
    recorder.install()  # before any widget exists
    _ = mdw.FairnessSlicer  # import the widgets now: fail before the long measurements
    load_start = load_average()
    started = time.perf_counter()
    print(f"bench_fairness: {n:,} rows; sweep peer at {sweep_rows:,}; sliceline at "
          f"{', '.join(f'{r:,} rows level {lv}' for r, lv in pairs)}; load average "
          f"{load_start}.")
    print("Threads: OpenMP/BLAS pinned to 1 with threadpoolctl.threadpool_limits(1).")
    res: dict = {"n": n}
    with threadpool_limits(limits=1):
        t0 = time.perf_counter()
        model = mdw.datasets.demo_model(mdw.datasets.load_credit(n_rows=TRAIN_ROWS))
        print(f"demo model trained on {TRAIN_ROWS:,} rows in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        session = bind(model, n, ["SEX", "AGE"])
        session.predictions()
        print(f"load_credit({n:,}) + bind + first predict: {time.perf_counter() - t0:.1f} s")

        print(f"\n1. Group metrics at {n:,} rows")
        res["group_metrics"] = run_group_metrics(session, args.mf_rounds, args.repeats)

        print(f"\n2. {N_THRESHOLDS}-threshold sweep, SEX × age group")
        res["sweep"] = run_sweep(bind(model, sweep_rows, ["SEX", "AGE"]), 10)
        res["sweep_big"] = run_sweep_ours(session, args.repeats)
        print(f"  threshold slider at {n:,} rows (FairnessSlicer)")
        res["slider"] = run_slider(session, recorder, slider_repeats)
        del session

        print("\n3. Worst slices (find_slices vs sliceline)")
        res["slices"] = [run_slices_vs_sliceline(model, rows, level, sl_rounds, args.repeats)
                         for rows, level in pairs]
    res["slices_big"] = run_slices_child(n, 3, 1 if args.quick else 2)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    info = machine_info(load_start, fairlearn=fairlearn.__version__,
                        sliceline=importlib.metadata.version("sliceline"),
                        ipywidgets=ipywidgets.__version__)
    section = markdown(args, res, info)
    print("\n" + section)
    if (args.write or not args.quick) and not args.no_write:
        write_docs("bench_fairness", section)
        print(f"wrote {DOCS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
