"""The minimal-flip search itself: rows encoded as numbers, advanced in lockstep.

:class:`Space` encodes rows as floats (numbers as they are, categories as codes into their
choices); :class:`Chunk` runs the search of up to ``CHUNK`` rows at once, one model call
per step (greedy path, sparse random changes, refinement; see ``flip``). Candidates are kept
inside the constraints by the numeric rules of ``Constraints.project``
(``_projection.project_numbers``, with the bounds of ``Constraints.bounds``); categories are
always codes of their choices and only searchable features change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._constraints import Constraints
from ._probe import Probe
from ._projection import number_bounds, number_rules, project_numbers

_SWEEP_PCT = (0, 2, 10, 25, 50, 75, 90, 98, 100)
_COARSE, _FINE = (0.0, 0.3, 0.6, 0.8, 0.9), (0.95, 0.98)
_LINE = (0.3, 0.6, 0.8, 0.9, 0.95)
CHUNK, _DONORS, _TRACKS, _WAVES, _GREEDY = 64, 2_000, 4, 4, 6


class Space:
    """Numeric encoding of rows: numbers as floats, categories as codes into their choices."""

    def __init__(self, session: Any, constraints: Constraints, searchable: list[str]):
        schema, X = constraints.schema, session.X
        self.constraints, self.cols = constraints, list(X.columns)
        self.S = np.array([self.cols.index(f) for f in searchable], dtype=np.intp)
        self.searched = set(self.S.tolist())
        kinds = [schema[c].kind for c in self.cols]
        self.is_cat = np.array([k in ("categorical", "boolean") for k in kinds])
        self.is_int = np.array([k == "integer" for k in kinds])
        self.num = self.S[~self.is_cat[self.S]]
        self.num_names = [self.cols[j] for j in self.num]
        self.num_rules = number_rules(constraints, self.num_names)
        self.cat = self.S[self.is_cat[self.S]]
        self.choices = {j: constraints.choices(self.cols[j]) for j in self.cat}
        self.quant = {j: np.asarray(schema[self.cols[j]].quantiles, dtype=np.float64)
                      for j in self.num if len(schema[self.cols[j]].quantiles) == 101}
        self.scale = np.ones(len(self.cols))
        for name, value in constraints.scales().items():
            self.scale[self.cols.index(name)] = value
        take = np.random.default_rng(0).permutation(len(X))[:_DONORS]
        self.donors = self.encode(X.iloc[np.sort(take)])

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.full((len(frame), len(self.cols)), np.nan)
        for j in self.S:
            col = frame[self.cols[j]]
            out[:, j] = (pd.Index(self.choices[j]).get_indexer(col) if self.is_cat[j]
                         else pd.to_numeric(col, errors="coerce").to_numpy(np.float64))
        return out

    def decode(self, C: np.ndarray, owner: np.ndarray, bases: pd.DataFrame) -> pd.DataFrame:
        columns = {}
        for j, name in enumerate(self.cols):
            column = bases[name]
            kept = column.to_numpy()[owner] if isinstance(column.dtype, np.dtype) \
                else column.array.take(owner)
            if j not in self.searched:
                columns[name] = kept
            elif self.is_cat[j]:
                codes = C[:, j].astype(np.int64)
                columns[name] = _cast(np.where(codes >= 0, self.choices[j][np.maximum(codes, 0)],
                                               np.asarray(kept, dtype=object)), column.dtype)
            else:
                columns[name] = _cast(C[:, j], column.dtype)
        return pd.DataFrame(columns, columns=self.cols)

    def bounds(self, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``Constraints.bounds`` of the searched numbers, per encoded row (NaN elsewhere)."""
        lo, hi = np.full(B.shape, np.nan), np.full(B.shape, np.nan)
        if len(self.num):
            lo[:, self.num], hi[:, self.num] = number_bounds(self.constraints, self.num_names,
                                                             B[:, self.num])
        return lo, hi


def _cast(values: np.ndarray, dtype: Any) -> np.ndarray:
    """Values in the column's dtype where they fit (integers stay integers unless NaN)."""
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        numbers = np.asarray(values, dtype=np.float64)
        if np.isfinite(numbers).all() and np.array_equal(numbers, np.round(numbers)):
            return numbers.astype(dtype)
        return numbers
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return np.asarray(values, dtype=dtype)
    return values if dtype == np.dtype(object) else pd.array(values, dtype=dtype)


@dataclass
class _Track:
    x: np.ndarray
    d: float
    k: int
    fine: bool = False
    done: bool = False


def _better(d: float, k: int, best_d: float, best_k: int) -> bool:
    return d < best_d - 1e-9 or (d <= best_d + 1e-9 and k < best_k)


class Chunk:
    """The lockstep search of up to ``CHUNK`` rows: each step is one model call."""

    def __init__(self, space: Space, decision: Any, probe: Probe, bases: pd.DataFrame,
                 budget: int, rngs: list[np.random.Generator], offset: int, total: int):
        self.space, self.decision, self.probe, self.bases = space, decision, probe, bases
        self.budget, self.rngs, self.R = budget, rngs, len(bases)
        self.offset, self.total = offset, total
        self.B = space.encode(bases)
        self.lo, self.hi = space.bounds(self.B)
        self.at_num = (self.B[:, space.num], self.lo[:, space.num], self.hi[:, space.num])
        self.switch = space.is_cat[None, :] | np.isnan(self.B)
        self.used = np.zeros(self.R, dtype=np.int64)
        self.orig = np.full(self.R, -1)
        self.orig_score = np.full(self.R, np.nan)
        self.status: list[str | None] = [None] * self.R
        self.best: list[np.ndarray | None] = [None] * self.R
        self.best_d, self.best_k = np.full(self.R, np.inf), np.zeros(self.R, dtype=np.int64)
        self.best_score = np.full(self.R, np.nan)
        self.best_label = np.full(self.R, -1)
        self.pool: list[list[np.ndarray]] = [[] for _ in range(self.R)]

    # -- scoring --------------------------------------------------------------------
    def clip(self, C: np.ndarray, r: int) -> np.ndarray:
        """Move candidates of row ``r`` into the constraints (``Constraints.project``'s rules)."""
        sp = self.space
        if len(sp.num):
            base, lo, hi = (a[r:r + 1] for a in self.at_num)
            C[:, sp.num] = project_numbers(sp.constraints, sp.num_names, C[:, sp.num], base,
                                           (lo, hi), sp.num_rules)
        return C

    def dist(self, C: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
        sp, b = self.space, self.B[r]
        step = np.zeros((len(C), len(sp.cols)))
        x, bn = C[:, sp.num], b[sp.num]
        with np.errstate(invalid="ignore"):
            moved = np.abs(x - bn) / sp.scale[sp.num]
        step[:, sp.num] = np.where(np.isnan(x) != np.isnan(bn), 1.0, np.nan_to_num(moved))
        step[:, sp.cat] = C[:, sp.cat] != b[sp.cat]
        return step.sum(axis=1), (step > 0).sum(axis=1)

    def evaluate(self, batches: dict[int, np.ndarray]) -> dict[int, tuple]:
        """Score every row's candidates in one call; update the best flipped per row."""
        parts, owners = [], []
        for r, C in batches.items():
            n = int(min(len(C), self.budget - self.used[r]))
            if n > 0:
                parts.append(self.clip(np.array(C[:n], dtype=np.float64), r))
                owners.append(np.full(n, r))
        if not parts or self.probe.cancelled:
            return {}
        owner = np.concatenate(owners)
        scores = self.probe.score(self.space.decode(np.vstack(parts), owner, self.bases))
        labels, values = self.decision.label(scores), self.decision.score(scores)
        out = {}
        for C, own in zip(parts, owners, strict=True):
            r, rows = own[0], owner == own[0]
            self.used[r] += len(C)
            flipped = self.decision.flipped(labels[rows], self.orig[r])
            d, k = self.dist(C, r)
            margin = self.decision.margin(scores[rows], self.orig[r])
            for i in np.flatnonzero(flipped):
                if _better(d[i], k[i], self.best_d[r], self.best_k[r]):
                    self.best[r], self.best_d[r], self.best_k[r] = C[i], d[i], k[i]
                    self.best_score[r], self.best_label[r] = values[rows][i], labels[rows][i]
            out[r] = (C, flipped, d, k, margin)
        self.probe.report((self.offset + 0.99 * self.used.sum() / self.budget) / self.total)
        return out

    # -- candidates -----------------------------------------------------------------
    def sweep(self, r: int, b: np.ndarray) -> np.ndarray:
        """Each searchable feature of ``b`` alone over its percentiles, bounds, categories."""
        sp, blocks = self.space, []
        for j in sp.S:
            if sp.is_cat[j]:
                values = np.arange(len(sp.choices[j]), dtype=np.float64)
            else:
                q = sp.quant[j][list(_SWEEP_PCT)] if j in sp.quant else np.array([])
                values = np.clip(np.r_[q, self.lo[r, j], self.hi[r, j]], self.lo[r, j],
                                 self.hi[r, j])
                values = np.round(values) if sp.is_int[j] else values
            values = np.unique(values[values != b[j]])
            block = np.tile(b, (len(values), 1))
            block[:, j] = values
            blocks.append(block)
        return np.vstack(blocks)

    def draw(self, r: int, n: int) -> np.ndarray:
        """Values of every searchable feature: donor rows, uniform or percentile draws."""
        sp, rng = self.space, self.rngs[r]
        V = sp.donors[rng.integers(len(sp.donors), size=n)][:, sp.S]
        for i, j in enumerate(sp.S):
            if sp.is_cat[j]:
                fresh = rng.integers(len(sp.choices[j]), size=n).astype(np.float64)
            elif j in sp.quant and rng.random() < 0.5:
                fresh = np.interp(rng.uniform(0, 100, n), np.arange(101), sp.quant[j])
            else:
                fresh = rng.uniform(self.lo[r, j], self.hi[r, j], n)
            bad = np.isnan(V[:, i]) | (V[:, i] < 0 if sp.is_cat[j] else False)
            V[:, i] = np.where(bad | (rng.random(n) < 0.5), fresh, V[:, i])
        return V

    def sparse(self, r: int, n: int, ks: tuple, around: np.ndarray | None = None) -> np.ndarray:
        """``n`` rows with ``k`` random searchable features drawn (k from ``ks``)."""
        rng, S = self.rngs[r], self.space.S
        start = self.B[r] if around is None else around
        k = np.minimum(rng.choice(np.asarray(ks), n), len(S))
        mask = rng.random((n, len(S))).argsort(axis=1).argsort(axis=1) < k[:, None]
        C = np.tile(start, (n, 1))
        C[:, S] = np.where(mask, self.draw(r, n), C[:, S])
        if around is not None:  # a swap: also revert one of the changed features
            changed = S[(around[S] != self.B[r, S]) & ~np.isnan(around[S])]
            if len(changed):
                j = rng.choice(changed, n)
                C[np.arange(n), j] = self.B[r, j]
        return C

    def moves(self, r: int, t: _Track) -> np.ndarray:
        """Revert, shrink or scale down the changes of a track's point; new rows only."""
        sp, b, x = self.space, self.B[r], t.x
        d_each = (x[sp.S] != b[sp.S]) & ~(np.isnan(x[sp.S]) & np.isnan(b[sp.S]))
        changed = sp.S[d_each]
        rows = []
        for j in changed:
            factors = (0.0,) if self.switch[r, j] else (_FINE if t.fine else _COARSE)
            for f in factors if not (t.fine and self.switch[r, j]) else ():
                y = x.copy()
                y[j] = b[j] + f * (x[j] - b[j]) if f else b[j]
                rows.append(y)
        scaled = changed[~self.switch[r, changed]]
        for f in () if t.fine or not len(scaled) else _LINE:
            y = x.copy()
            y[scaled] = b[scaled] + f * (x[scaled] - b[scaled])
            rows.append(y)
        if not rows:
            return np.empty((0, len(x)))
        M = self.clip(np.array(rows), r)
        keys, keep = {x.tobytes()}, []
        for i, row in enumerate(M):
            if row.tobytes() not in keys:
                keys.add(row.tobytes())
                keep.append(i)
        return M[keep]

    # -- the search -----------------------------------------------------------------
    def run(self) -> None:
        if self.probe.cancelled:
            return
        scores = self.probe.score(self.bases)
        self.used += 1
        self.orig = self.decision.label(scores)
        self.orig_score = self.decision.score(scores)
        for r in range(self.R):
            if self.orig[r] < 0:
                self.status[r] = "error"
            elif self.decision.wanted(self.orig[r]) == self.orig[r]:
                self.status[r], self.best[r], self.best_d[r] = "already", self.B[r], 0.0
                self.best_score[r], self.best_label[r] = self.orig_score[r], self.orig[r]
        active = [r for r in range(self.R) if self.status[r] is None]
        reserve = min(400, self.budget // 5)
        self.greedy(active, [self.decision.margin(scores[[r]], self.orig[r])[0]
                             for r in range(self.R)], reserve)
        self.explore({r: np.vstack([self.sparse(r, 150, (1, 2, 2, 3, 3, 4, 6)),
                                    self.sparse(r, 50, (2, 3, 4, 6, 8))]) for r in active})
        for _ in range(200):  # denser changes while nothing flips
            todo = [r for r in active if self.best[r] is None
                    and self.used[r] < self.budget - reserve]
            m = len(self.space.S)
            if not todo or not self.explore(
                    {r: self.sparse(r, 256, (max(m // 4, 1), max(m // 2, 1), m))
                     for r in todo}):
                break
        for wave in range(_WAVES):
            todo = [r for r in active if self.best[r] is not None and self.used[r] < self.budget]
            if not todo or self.probe.cancelled:
                break
            before = self.best_d.copy()
            if wave:  # swaps around the best and fresh sparse changes
                self.explore({r: np.vstack([self.sparse(r, 80, (1, 2), around=self.best[r]),
                                            self.sparse(r, 60, (1, 2, 3))]) for r in todo})
            self.refine(todo)
            if wave and np.all(self.best_d[todo] > before[todo] * 0.995):
                break

    def greedy(self, rows: list[int], margin: list[float], reserve: int) -> None:
        """From the row, take the single-feature move with the most margin per distance."""
        current = {r: (self.B[r], margin[r], 0.0) for r in rows}
        for _ in range(_GREEDY):
            todo = [r for r, (_, _, d) in current.items()
                    if d < self.best_d[r] and self.used[r] < self.budget - reserve]
            out = self.explore({r: self.sweep(r, current[r][0]) for r in todo})
            for r, (C, flipped, d, _, m) in out.items():
                x, m0, d0 = current[r]
                with np.errstate(invalid="ignore", divide="ignore"):
                    ratio = np.where((m > m0) & ~flipped, (m - m0) / np.maximum(d - d0, 1e-9),
                                     -np.inf)
                i = int(np.argmax(np.nan_to_num(ratio, nan=-np.inf)))
                if np.isfinite(ratio[i]):
                    current[r] = (C[i], m[i], d[i])
                else:
                    del current[r]
            if not out:
                return

    def explore(self, batches: dict[int, np.ndarray]) -> dict[int, tuple]:
        """Score candidates; keep the flipped ones in each row's pool."""
        out = self.evaluate(batches)
        for r, (C, flipped, *_) in out.items():
            if flipped.any():
                self.pool[r].append(C[flipped])
        return out

    def tracks(self, r: int) -> list[_Track]:
        """Start points: the closest flipped candidates with distinct changed features."""
        pool = np.vstack(self.pool[r] + [self.best[r][None]])
        self.pool[r] = []
        d, k = self.dist(pool, r)
        out, seen = [], set()
        for i in np.lexsort((k, d)):
            if d[i] > 2 * self.best_d[r] + 1e-9 or len(out) == _TRACKS:
                break
            key = tuple(pool[i] != self.B[r])
            if key not in seen:
                seen.add(key)
                out.append(_Track(pool[i], d[i], k[i]))
        return out

    def refine(self, rows: list[int]) -> None:
        """Move every track to its closest flipped neighbour until no move helps."""
        tracks = {r: self.tracks(r) for r in rows}
        while not self.probe.cancelled:
            batches, owners = {}, {}
            for r, ts in tracks.items():
                ts = [t for t in ts if not t.done
                      and t.d <= 1.5 * self.best_d[r] + 1e-9]
                tracks[r] = sorted(ts, key=lambda t: t.d)[:_TRACKS]
                parts = [(i, self.moves(r, t)) for i, t in enumerate(tracks[r])]
                if parts and self.used[r] < self.budget:
                    batches[r] = np.vstack([m for _, m in parts])
                    owners[r] = np.concatenate([np.full(len(m), i) for i, m in parts])
            out = self.evaluate(batches)
            if not out:
                return
            for r, (C, flipped, d, k, _) in out.items():
                for i, t in enumerate(tracks[r]):
                    hit = np.flatnonzero(flipped & (owners[r][:len(C)] == i))
                    j = hit[np.lexsort((k[hit], d[hit]))[0]] if len(hit) else None
                    if j is not None and _better(d[j], k[j], t.d, t.k):
                        t.x, t.d, t.k, t.fine = C[j], d[j], k[j], False
                    elif t.fine or not len(owners[r]) or (owners[r] == i).sum() == 0:
                        t.done = True
                    else:
                        t.fine = True

    def results(self, labels: list) -> tuple[list, list]:
        lines, found = [], []
        names, sp = self.decision.names, self.space
        for r, label in enumerate(labels):
            status = self.status[r] or ("flipped" if self.best[r] is not None else
                                        "cancelled" if self.probe.cancelled else "not found")
            original = names[self.orig[r]] if 0 <= self.orig[r] < len(names) else None
            if self.best[r] is None:
                lines.append((label, status, False, original, None, self.orig_score[r],
                              np.nan, np.nan, 0, (), int(self.used[r])))
                continue
            x = self.best[r]
            changed = tuple(sp.cols[j] for j in sp.S if x[j] != self.B[r, j]
                            and not (np.isnan(x[j]) and np.isnan(self.B[r, j])))
            lines.append((label, status, True, original, names[self.best_label[r]],
                          self.orig_score[r], self.best_score[r], float(self.best_d[r]),
                          len(changed), changed, int(self.used[r])))
            row = (self.bases.iloc[[r]].copy() if status == "already"
                   else sp.decode(x[None], np.array([r]), self.bases))
            row.index = pd.Index([label], name=self.bases.index.name)
            found.append(row)
        return lines, found
