"""SliceLine's lattice search on integer bin codes, the engine of ``find_slices``.

Holds ``_search`` (level-by-level enumeration with SliceLine's pruning and top-k upkeep,
mirroring ``sliceline.Slicefinder._search_slices``), the apriori join of parents into
candidates (``_candidates``, with slice keys from ``_keys``), sliceline's score upper bound
(``_score_ub``) and the evaluation of every candidate of a level with one ``np.bincount`` per
combination of features (``_evaluate``). Inputs are plain numpy arrays: one code array per
feature, the domain sizes and the non-negative errors.
"""

from __future__ import annotations

import numpy as np


def _search(codes: list[np.ndarray], domains: list[int], errors: np.ndarray, *, alpha: float,
            k: int, max_level: int, min_sup: int) -> tuple[list[tuple], np.ndarray]:
    """SliceLine's lattice search on integer codes, with bincount evaluation.

    Returns the top slices (tuples of ``(feature position, code)`` sorted by feature) and
    their statistics ``[score, error sum, max error, size]`` per row, best first.
    Mirrors ``sliceline.Slicefinder._search_slices`` (v0.3.0) step by step.
    """
    n, p = len(errors), len(codes)
    avg = float(np.mean(errors))
    offsets = np.concatenate([[0], np.cumsum(domains)]).astype(np.int64)
    base = int(offsets[-1]) + 1  # slice keys: one-hot columns in base `base`

    def score(size: np.ndarray, esum: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            s = alpha * ((esum / size) / avg - 1) - (1 - alpha) * (n / size - 1)
        return np.nan_to_num(s, nan=-np.inf)

    # level 1: one bincount per feature
    F1, V1, st1 = [], [], []
    n_col = 0
    for f, c in enumerate(codes):
        size = np.bincount(c, minlength=domains[f]).astype(np.float64)
        esum = np.bincount(c, weights=errors, minlength=domains[f])
        emax = np.zeros(domains[f])
        np.maximum.at(emax, c, errors)
        n_col += int((size > 0).sum())
        ok = np.flatnonzero((size >= min_sup) & (esum > 0))
        F1.append(np.full(len(ok), f))
        V1.append(ok)
        st1.append(np.column_stack([score(size[ok], esum[ok]), esum[ok], emax[ok], size[ok]]))
    F = np.concatenate(F1)[:, None].astype(np.int64)
    V = np.concatenate(V1)[:, None].astype(np.int64)
    stats = np.concatenate(st1) if st1 else np.zeros((0, 4))

    top_stats = np.zeros((0, 4))
    tops: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def keep_top(F, V, stats):
        nonlocal top_stats
        valid = (stats[:, 3] >= min_sup) & (stats[:, 0] > 0)
        if not valid.any():
            return
        tops.append((F[valid], V[valid], stats[valid]))
        all_stats = np.concatenate([t[2] for t in tops])
        order = np.argsort(-all_stats[:, 0], kind="stable")
        kth = all_stats[order[min(k, len(order)) - 1], 0]
        chosen = all_stats[:, 0] >= kth  # rank(method="min") <= k: ties with the k-th stay
        pieces, start = [], 0
        for tF, tV, tS in tops:
            sel = chosen[start:start + len(tS)]
            start += len(tS)
            if sel.any():
                pieces.append((tF[sel], tV[sel], tS[sel]))
        tops[:] = pieces
        top_stats = np.concatenate([t[2] for t in tops])

    keep_top(F, V, stats)
    level = 1
    candidates = len(F)
    while candidates > 0 and level < min(p, max_level):
        level += 1
        ok = (stats[:, 3] >= min_sup) & (stats[:, 1] > 0)
        F, V, stats = F[ok], V[ok], stats[ok]
        F, V, ub_stats = _candidates(F, V, stats, level, offsets, base)
        min_score = top_stats[:, 0].min() if len(top_stats) else -np.inf
        ub = _score_ub(ub_stats, n_col, min_sup, alpha, avg)
        keep = (ub > min_score) & (ub > 0) & (ub_stats[:, 0] >= min_sup)
        F, V = F[keep], V[keep]
        candidates = len(F)
        stats = _evaluate(codes, domains, errors, F, V, need_max=level < min(p, max_level))
        stats[:, 0] = score(stats[:, 3], stats[:, 1])
        keep_top(F, V, stats)

    if not tops:
        return [], np.zeros((0, 4))
    top_stats = np.concatenate([t[2] for t in tops])
    slices = [tuple(zip(f.tolist(), v.tolist(), strict=True))
              for fs, vs, _ in tops for f, v in zip(fs, vs, strict=True)]
    for i, slice_ in enumerate(slices):  # the last level skipped the max: fill it in
        mask = np.ones(n, dtype=bool)
        for f, v in slice_:
            mask &= codes[f] == v
        top_stats[i, 2] = errors[mask].max()
    # sliceline's order: score descending, then the one-hot vectors lexicographically
    onehot = np.zeros((len(slices), int(offsets[-1])), dtype=np.int8)
    for i, slice_ in enumerate(slices):
        for f, v in slice_:
            onehot[i, offsets[f] + v] = 1
    order = np.lexsort(tuple(onehot.T[::-1]) + (-top_stats[:, 0],))
    return [slices[i] for i in order], top_stats[order]


def _keys(F: np.ndarray, V: np.ndarray, offsets: np.ndarray, base: int) -> np.ndarray:
    """One int64 per slice: its one-hot columns (sorted) as digits in base ``base``."""
    key = np.zeros(len(F), dtype=np.int64)
    for j in range(F.shape[1]):
        key = key * base + offsets[F[:, j]] + V[:, j] + 1
    return key


def _candidates(F: np.ndarray, V: np.ndarray, stats: np.ndarray, level: int,
                offsets: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slices of ``level`` predicates whose parents are all in (F, V); UB statistics.

    A candidate's statistics (size, error sum, max error: upper bounds) are the minimum of
    those of the two parents sliceline meets first (its parents without its first and
    without its second predicate), as in ``Slicefinder._get_pair_candidates``.
    """
    m = len(F)
    empty = (np.zeros((0, level), np.int64), np.zeros((0, level), np.int64), np.zeros((0, 3)))
    if m < 2:
        return empty
    # join parents sharing the first level-2 predicates (apriori join)
    prefix = _keys(F[:, :-1], V[:, :-1], offsets, base) if level > 2 else np.zeros(m, np.int64)
    order = np.lexsort((V[:, -1], F[:, -1], prefix))
    F, V, stats, prefix = F[order], V[order], stats[order], prefix[order]
    starts = np.flatnonzero(np.r_[True, prefix[1:] != prefix[:-1]])
    sizes = np.diff(np.r_[starts, m])
    # all pairs i < j inside each group (row-major, as sliceline meets them)
    pairs = {g: np.triu_indices(g, 1) for g in np.unique(sizes) if g > 1}
    chunks = [(start + pairs[g][0], start + pairs[g][1])
              for start, g in zip(starts.tolist(), sizes.tolist(), strict=True) if g > 1]
    if not chunks:
        return empty
    i = np.concatenate([c[0] for c in chunks])
    j = np.concatenate([c[1] for c in chunks])
    valid = F[i, -1] != F[j, -1]  # one predicate per feature
    i, j = i[valid], j[valid]
    newF = np.column_stack([F[i], F[j, -1]])
    newV = np.column_stack([V[i], V[j, -1]])
    if level == 2:
        ub = np.minimum(stats[i, 1:], stats[j, 1:])
        return newF, newV, ub[:, [2, 0, 1]]
    # every other parent (without one of the first level-2 predicates) must be present
    keys = _keys(F, V, offsets, base)
    key_order = np.argsort(keys)
    sorted_keys = keys[key_order]
    present = np.ones(len(i), dtype=bool)
    parent = {level - 2: j, level - 1: i}  # without the last but one / the last predicate
    for drop in range(level - 2):
        cols = [c for c in range(level) if c != drop]
        pk = _keys(newF[:, cols], newV[:, cols], offsets, base)
        pos = np.clip(np.searchsorted(sorted_keys, pk), 0, len(sorted_keys) - 1)
        present &= sorted_keys[pos] == pk
        parent[drop] = key_order[pos]
    newF, newV = newF[present], newV[present]
    first, second = parent[0][present], parent[1][present]
    ub = np.minimum(stats[first, 1:], stats[second, 1:])
    return newF, newV, ub[:, [2, 0, 1]]


def _score_ub(ub: np.ndarray, n_col: int, min_sup: int, alpha: float,
              avg: float) -> np.ndarray:
    """Upper bound (as sliceline computes it) of the score of a slice and its descendants.

    ``ub`` holds (size, error sum, max error) bounds. Like ``Slicefinder._score_ub`` it uses
    the number of one-hot columns where the score uses the number of rows (a looser bound).
    """
    if len(ub) == 0:
        return np.zeros(0)
    size, esum, emax = ub[:, 0], ub[:, 1], ub[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        sol = np.column_stack((np.full(len(size), float(min_sup)),
                               np.maximum(esum / emax, min_sup), size))
        scores = (alpha * (np.minimum(sol.T * emax, esum).T / avg - sol)
                  - (1 - alpha) * (n_col - sol)) / sol
    return np.amax(scores, axis=1)


def _evaluate(codes: list[np.ndarray], domains: list[int], errors: np.ndarray,
              F: np.ndarray, V: np.ndarray, *, need_max: bool) -> np.ndarray:
    """Statistics ``[0, error sum, max error, size]`` of each slice.

    One bincount per combination of features; the combined code of a prefix is reused.
    """
    stats = np.zeros((len(F), 4))
    if len(F) == 0:
        return stats
    combos, which = np.unique(F, axis=0, return_inverse=True)
    which = which.ravel()
    order = np.argsort(which, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(which, minlength=len(combos)))]
    cache: list[tuple[tuple, np.ndarray, int]] = []  # combined codes of prefixes
    for c, combo in enumerate(combos.tolist()):
        rows = order[bounds[c]:bounds[c + 1]]
        # reuse the longest cached prefix
        while cache and tuple(combo[:len(cache[-1][0])]) != cache[-1][0]:
            cache.pop()
        code, width = (cache[-1][1], cache[-1][2]) if cache else (None, 1)
        for f in combo[len(cache[-1][0]) if cache else 0:]:
            dtype = np.int32 if width * domains[f] < 2**31 else np.int64
            code = codes[f].astype(dtype) if code is None else \
                code.astype(dtype, copy=False) * domains[f] + codes[f]
            width *= domains[f]
            if len(cache) < len(combo) - 1:
                cache.append((tuple(combo[:len(cache) + 1]), code, width))
        cell = np.zeros(len(rows), dtype=np.int64)
        for j, f in enumerate(combo):
            cell = cell * domains[f] + V[rows, j]
        stats[rows, 3] = np.bincount(code, minlength=width)[cell]
        stats[rows, 1] = np.bincount(code, weights=errors, minlength=width)[cell]
        if need_max:
            emax = np.zeros(width)
            np.maximum.at(emax, code, errors)
            stats[rows, 2] = emax[cell]
    return stats
