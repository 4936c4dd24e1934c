"""Findings as tidy DataFrames and as a standalone HTML report with hand-drawn inline SVG.

The report loads nothing: inline CSS, inline SVG (no ``xmlns`` needed inside HTML), every
user text escaped. Plots: the residuals of all rows (cohorts overlaid), and per finding a
histogram of the cohort, bars of a slice against all rows, predictions before and after an
edit, and each group's favourable rate at the marked thresholds.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .analysis import residuals

_KINDS = ("row", "cohort", "slice", "find", "thresholds")
_COMMON = ["finding", "note", "created"]
_COLUMNS = {
    "row": [*_COMMON, "base", "changed", "n_changed", "prediction", "base_prediction",
            "change", "y"],
    "find": [*_COMMON, "base", "source", "changed", "n_changed", "prediction",
             "reported_prediction", "error"],
    "cohort": [*_COMMON, "size", "metric", "value", "overall", "error_rate",
               "mean_prediction", "mean_label", "labels"],
    "slice": [*_COMMON, "rule", "predicates", "size", "metric", "value", "overall",
              "error_rate", "mean_prediction", "mean_label"],
    "thresholds": [*_COMMON, "group_columns", "group", "threshold", "count", "selection_rate",
                   "favourable_rate", "air", "accuracy", "tpr", "fpr", "is_reference",
                   "worst_air", "objective"],
}
ACCENT, BASE, GREY = "#d95f02", "#1b6ca8", "#9aa5b1"
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;
max-width:980px;color:#1f2933;line-height:1.45;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #e4e7eb;padding-bottom:.2em;
margin-top:1.8em}h3{margin:.2em 0}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #d3d9df;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f0f4f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
.finding{border:1px solid #d3d9df;border-left:6px solid #1b6ca8;border-radius:4px;
padding:.6em 1em;margin:1.2em 0}.finding.row,.finding.find{border-left-color:#d95f02}
.finding.slice{border-left-color:#7570b3}.finding.thresholds{border-left-color:#1b9e77}
.note{font-style:italic;margin:.3em 0}.meta{color:#52606d;font-size:.85em}
.plots{display:flex;flex-wrap:wrap;gap:1em}svg{background:#fbfcfd;border:1px solid #e4e7eb}
svg text{font-size:11px;fill:#323f4b}.muted{color:#7b8794}
"""


# -- tidy frames ------------------------------------------------------------------------------
def _num(value: Any) -> float:
    if value is None:
        return math.nan
    return float(value[0]) if isinstance(value, tuple | list) else float(value)


def _changes(changed: Any) -> str:
    return ", ".join(f"{k} = {'missing' if v is None else v}" for k, v in changed.items())


def frames(records: Sequence) -> dict[str, pd.DataFrame]:
    """One tidy frame per kind of finding (see ``Findings.to_frames``).

    Examples
    --------
    >>> sorted(frames([]))
    ['cohort', 'find', 'row', 'slice', 'thresholds']
    """
    out: dict[str, list[dict]] = {k: [] for k in _KINDS}
    for i, f in enumerate(records):
        d, common = f.data, {"finding": i, "note": f.note, "created": f.created}
        if f.kind in ("row", "find"):
            record = {**common, "base": d["base"], "changed": _changes(d["changed"]),
                      "n_changed": len(d["changed"]), "prediction": _num(d["prediction"])}
            if f.kind == "row":
                record.update(base_prediction=_num(d["base_prediction"]), y=d["y"])
                record["change"] = record["prediction"] - record["base_prediction"]
            else:
                record.update(source=d["source"], error=d["error"] or "",
                              reported_prediction=_num(d["reported_prediction"]))
            out[f.kind].append(record)
        elif f.kind in ("cohort", "slice"):
            record = {**common, **{k: d[k] for k in ("size", "metric")}}
            record.update({k: _num(d[k]) for k in ("value", "overall", "error_rate",
                                                   "mean_prediction", "mean_label")})
            if f.kind == "cohort":
                record["labels"] = d["labels"]
            else:
                record.update(rule=d["rule"], predicates=d["predicates"])
            out[f.kind].append(record)
        else:
            for group in d["groups"]:
                out["thresholds"].append({
                    **common, "group_columns": " × ".join(d["group_columns"]),
                    **{k: group[k] for k in ("group", "count")},
                    **{k: _num(group[k]) for k in ("threshold", "selection_rate",
                                                   "favourable_rate", "air", "accuracy",
                                                   "tpr", "fpr")},
                    "is_reference": group["group"] == d["reference"],
                    "worst_air": _num(d["worst_air"]), "objective": d["objective"]})
    return {k: pd.DataFrame(v, columns=_COLUMNS[k]).set_index("finding") for k, v in out.items()}


# -- SVG ---------------------------------------------------------------------------------------
def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _f(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NaN"
    if isinstance(value, float | np.floating):
        if float(value).is_integer() and abs(value) < 1e15:
            return f"{value:.0f}"
        return f"{value:.{digits}g}"
    return str(value)


def svg_histogram(values: np.ndarray, overlay: np.ndarray | None = None, *, bins: int = 30,
                  width: int = 560, height: int = 190, label: str = "",
                  overlay_label: str = "") -> str:
    """Histogram of ``values`` as share of rows, with ``overlay`` (a subset) drawn on top.

    Examples
    --------
    >>> svg = svg_histogram(np.arange(100.0), np.arange(10.0), bins=10, label="x")
    >>> svg.startswith("<svg"), svg.count("<rect")
    (True, 20)
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return ""
    edges = np.histogram_bin_edges(values, bins=bins)
    share = np.histogram(values, edges)[0] / len(values)
    layers = [(share, GREY, 0.9)]
    if overlay is not None and len(overlay):
        sub = np.asarray(overlay, dtype=np.float64)
        sub = np.clip(sub[np.isfinite(sub)], edges[0], edges[-1])
        if len(sub):
            layers.append((np.histogram(sub, edges)[0] / len(sub), ACCENT, 0.65))
    left, right, top, bottom = 44, 10, 22, 32
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(layer[0].max() for layer in layers) or 1.0
    bar_w = plot_w / len(share)
    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="{_e(label or "histogram")}">']
    for counts, colour, opacity in layers:
        for k, c in enumerate(counts):
            h = plot_h * c / peak
            parts.append(f'<rect x="{left + k * bar_w:.1f}" y="{top + plot_h - h:.1f}" '
                         f'width="{max(bar_w - 1, 0.5):.1f}" height="{h:.1f}" fill="{colour}" '
                         f'fill-opacity="{opacity}"/>')
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
                 f'y2="{top + plot_h}" stroke="#52606d"/>')
    for x, anchor in ((edges[0], "start"), (edges[-1], "end")):
        px = left if anchor == "start" else left + plot_w
        parts.append(f'<text x="{px}" y="{height - 16}" text-anchor="{anchor}">{_f(x)}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 4}" text-anchor="middle">'
                 f'{_e(label)}</text>')
    parts.append(f'<text x="4" y="{top - 8}">share of rows (max {peak:.1%})</text>')
    if len(layers) > 1:
        parts.append(f'<text x="{left + plot_w}" y="{top - 8}" text-anchor="end" '
                     f'style="fill:{ACCENT}">■ {_e(overlay_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def svg_bars(labels: Sequence[str], values: Sequence[float], *, colours: Sequence[str] = (),
             reference: float | None = None, reference_label: str = "",
             notes: Sequence[str] = (), width: int = 560, label: str = "") -> str:
    """Horizontal bars with their values, an optional reference line and a note per bar.

    Examples
    --------
    >>> svg = svg_bars(["a", "b"], [0.5, 0.25], reference=0.4, reference_label="0.8 × a")
    >>> svg.count("<rect"), "0.8 × a" in svg
    (2, True)
    """
    numbers = [0.0 if v is None or not math.isfinite(v) else float(v) for v in values]
    peak = max([abs(v) for v in numbers] + [abs(reference or 0.0)]) or 1.0
    left, right, row_h, top = 150, 150, 24, 20
    height = top + row_h * len(numbers) + 18
    plot_w = width - left - right
    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="{_e(label or "bar chart")}">',
             f'<text x="4" y="13">{_e(label)}</text>']
    for k, (name, value) in enumerate(zip(labels, numbers, strict=True)):
        y = top + k * row_h
        w = plot_w * max(value, 0.0) / peak
        colour = colours[k] if k < len(colours) else BASE
        note = f" · {notes[k]}" if k < len(notes) and notes[k] else ""
        parts.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{_e(name)}</text>'
                     f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" '
                     f'fill="{colour}"/><text x="{left + w + 4:.1f}" y="{y + 15}">'
                     f'{_e(_f(values[k]))}{_e(note)}</text>')
    if reference is not None and math.isfinite(reference):
        x = left + plot_w * max(reference, 0.0) / peak
        parts.append(f'<line x1="{x:.1f}" y1="{top - 2}" x2="{x:.1f}" y2="{height - 16}" '
                     f'stroke="#c81e1e" stroke-dasharray="4 3"/><text x="{x:.1f}" '
                     f'y="{height - 4}" text-anchor="middle" style="fill:#c81e1e">'
                     f'{_e(reference_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


# -- HTML --------------------------------------------------------------------------------------
def _table(rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None) -> str:
    head = "" if header is None else "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) \
        + "</tr>"
    body = "".join("<tr>" + "".join(
        f'<td class="num">{_e(_f(c))}</td>' if isinstance(c, int | float) and not isinstance(
            c, bool) else f"<td>{_e('missing' if c is None else c)}</td>" for c in row)
        + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _headline(session: Any) -> list[tuple[str, Any]]:
    from sklearn.metrics import roc_auc_score

    if session.y is None:
        return []
    y, scores, adapter = session.y.to_numpy(), session.predictions(), session.adapter
    if session.task == "regression":
        err = y.astype(np.float64) - scores[:, 0]
        return [("MAE", float(np.mean(np.abs(err)))), ("RMSE", float(np.sqrt(np.mean(err ** 2))))]
    out = []
    if session.task == "binary":
        truth = y == adapter.pos_label
        cut = 0.0 if adapter.output_kind == "decision" else 0.5
        positive = scores[:, 0] > cut if cut == 0.0 else scores[:, 0] >= cut
        out.append(("accuracy", float(np.mean(positive == truth))))
        if 0 < truth.sum() < len(truth):
            out.append(("AUC", float(roc_auc_score(truth, scores[:, 0]))))
    else:
        predicted = np.asarray(adapter.classes)[np.argmax(scores, axis=1)]
        out.append(("accuracy", float(np.mean(predicted == y))))
    if adapter.output_kind == "probability":
        out.append(("mean log loss", float(residuals(session, "logloss").mean())))
    return out


def _summary(findings: Any) -> str:
    s = findings.session
    model = s.model
    name = type(model).__name__
    steps = getattr(model, "steps", None)
    if steps:
        name += f" ({type(steps[-1][1]).__name__})"
    sensitive = [] if s.sensitive_features is None else list(s.sensitive_features.columns)
    counts = {k: sum(f.kind == k for f in findings) for k in _KINDS}
    rows = [("model", name), ("task", s.task), ("scored by", s.adapter.response_method),
            ("outputs", ", ".join(map(str, s.output_names))), ("rows", len(s.X)),
            ("features", s.X.shape[1]), ("labels", "none" if s.y is None else
                                         str(s.y.name or "y")),
            ("sensitive features", ", ".join(map(str, sensitive)) or "none"),
            ("model version", s.model_version), *_headline(s),
            ("findings", ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "none")]
    return "<h2>Session</h2>" + _table(rows)


def _overview(findings: Any) -> str:
    s = findings.session
    if s.y is None:
        return ""
    res = residuals(s)
    cohorts = [f for f in findings if f.kind == "cohort"]
    labels = [label for f in cohorts for label in f.data["labels"]]
    positions = s.X.index.get_indexer(labels) if labels else np.zeros(0, dtype=np.intp)
    overlay = res.to_numpy()[positions[positions >= 0]] if len(positions) else None
    return ("<h2>Residuals of all rows</h2><div class='plots'>" + svg_histogram(
        res.to_numpy(), overlay, label=f"residual ({res.name}), current model",
        overlay_label="rows of the marked cohorts") + "</div>")


def _row_section(f: Any) -> str:
    d = f.data
    names, parts = d["output_names"], []
    if d["changed"]:
        parts.append(_table([(k, d["original"].get(k), v) for k, v in d["changed"].items()],
                            ["feature", "data row", "finding"]))
    elif d["base"] is None:
        parts.append(_table(list(d["row"].items()), ["feature", "value"]))
    else:
        parts.append("<p>The data row, unedited.</p>")
    if d["error"]:
        parts.append(f"<p>The model raised on this row: <code>{_e(d['error'])}</code></p>")
        return "".join(parts)
    pred, base = d["prediction"], d.get("base_prediction")
    if base:
        parts.append(_table([(n, base[k], pred[k]) for k, n in enumerate(names)],
                            ["output", "data row", "finding"]))
        parts.append("<div class='plots'>" + svg_bars(
            ["data row", "finding"], [base[0], pred[0]], colours=[GREY, ACCENT],
            label=f"prediction ({names[0]})") + "</div>")
    else:
        parts.append(_table([(n, pred[k]) for k, n in enumerate(names)],
                            ["output", "prediction"]))
    if d.get("source"):
        parts.append(f"<p class='meta'>source: {_e(d['source'])}</p>")
    return "".join(parts)


def _rows_section(f: Any, s: Any) -> str:
    d = f.data
    rows = [("rows", d["size"]), (f"{d['metric']} (finding)", d["value"]),
            (f"{d['metric']} (all rows)", d["overall"])]
    rows += [(k.replace("_", " "), d[k]) for k in ("error_rate", "mean_prediction",
                                                     "mean_label") if d[k] is not None]
    parts = []
    if f.kind == "slice":
        parts.append(f"<p><b>{_e(d['rule'])}</b></p>")
    parts.append(_table(rows))
    plots = [svg_bars([f.kind, "all rows"], [d["value"], d["overall"]],
                      colours=[ACCENT, GREY], label=f"{d['metric']} when marked")]
    if f.kind == "cohort" and s.y is not None:
        res = residuals(s).to_numpy()
        positions = s.X.index.get_indexer(list(d["labels"]))
        plots.append(svg_histogram(res, res[positions[positions >= 0]],
                                   label="residual, current model", overlay_label="cohort"))
        shown = ", ".join(map(str, d["labels"][:20]))
        parts.append(f"<p class='meta'>rows: {_e(shown)}{' …' if d['size'] > 20 else ''}</p>")
    return "".join(parts) + "<div class='plots'>" + "".join(plots) + "</div>"


def _thresholds_section(f: Any) -> str:
    d = f.data
    groups = d["groups"]
    name = [", ".join(map(str, g["group"])) if isinstance(g["group"], tuple) else
            str(g["group"]) for g in groups]
    rows = [(n, g["threshold"], g["count"], g["favourable_rate"], g["air"], g["accuracy"],
             g["tpr"], g["fpr"]) for n, g in zip(name, groups, strict=True)]
    ref = next(g for g in groups if g["group"] == d["reference"])
    text = (f"<p>groups of {_e(' × '.join(d['group_columns']))}; favourable outcome: "
            f"{_e(d['favourable'])} prediction; reference {_e(d['reference'])}; worst AIR "
            f"{_e(_f(d['worst_air']))}; overall accuracy {_e(_f(d['accuracy']))}"
            + (f"; objective {_e(d['objective'])}" if d["objective"] else "") + "</p>")
    bars = svg_bars(name, [g["favourable_rate"] for g in groups],
                    colours=[BASE if g["air"] is None or g["air"] >= 0.8 else ACCENT
                             for g in groups], notes=[f"AIR {_f(g['air'], 3)}" for g in groups],
                    reference=None if ref["favourable_rate"] is None else
                    0.8 * ref["favourable_rate"], reference_label="0.8 × reference",
                    label="favourable rate at the marked thresholds")
    return text + _table(rows, ["group", "threshold", "rows", "favourable rate", "AIR",
                                "accuracy", "TPR", "FPR"]) + f"<div class='plots'>{bars}</div>"


_TITLES = {"row": "Edited row", "find": "Search find", "cohort": "Cohort", "slice": "Slice",
           "thresholds": "Per-group thresholds"}


def _section(i: int, f: Any, s: Any) -> str:
    if f.kind in ("row", "find"):
        body = _row_section(f)
    elif f.kind in ("cohort", "slice"):
        body = _rows_section(f, s)
    else:
        body = _thresholds_section(f)
    note = f"<p class='note'>{_e(f.note)}</p>" if f.note else ""
    return (f"<section class='finding {f.kind}' id='finding-{i}'><h3>#{i} · "
            f"{_TITLES[f.kind]}: {_e(f.summary)}</h3>{note}<p class='meta'>marked "
            f"{_e(f.created)} · model version {_e(f.data['model_version'])}</p>{body}"
            "</section>")


def html_report(findings: Any) -> str:
    """Return the standalone HTML report of a session's findings.

    Examples
    --------
    >>> import pandas as pd
    >>> from mldebug_widgets import bind
    >>> s = bind(lambda df: df["a"] * 1.0, pd.DataFrame({"a": [1.0]}), task="regression")
    >>> "No findings marked yet" in html_report(s.findings)
    True
    """
    s = findings.session
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    sections = "".join(_section(i, f, s) for i, f in enumerate(findings)) or \
        "<p class='muted'>No findings marked yet.</p>"
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>Findings report</title><style>{_CSS}</style></head><body>"
            f"<h1>Findings report</h1><p class='meta'>generated {_e(when)} by "
            "mldebug_widgets; numbers are those measured when each finding was marked, "
            "plots of residuals use the current model</p>"
            f"{_summary(findings)}{_overview(findings)}<h2>Findings ({len(findings)})</h2>"
            f"{sections}</body></html>")


def write_text(path: str | Path, text: str) -> Path:
    """Write a text file, with a clear error for a missing folder or a folder path.

    Examples
    --------
    >>> write_text("/no/such/folder/report.html", "")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    FileNotFoundError: the folder /no/such/folder does not exist; create it first ...
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise ValueError(f"{path} is a folder; pass a file name such as {path / 'report.html'}.")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"the folder {path.parent} does not exist; create it first or "
                                "choose another path.")
    path.write_text(text, encoding="utf-8")
    return path
