"""How CREMBO's selection picks one (candidate, threshold) from the held-out scores of all of them.

``choose`` is the rule of the default: the best mean held-out accuracy, ties broken toward the
higher threshold (or the lowest, or the most faithful), optionally within one standard error.
The others were measured on development data and not adopted (docs/selection.md): ``beats``
(keep VT unless a candidate beats it by a paired test), ``pairwise_agreement`` (the split
students' agreement, added to the score) and ``consensus`` (the centre of the near-best
candidates).
"""

from itertools import combinations

import numpy as np


def pairwise_agreement(preds):
    """(C, S): mean over pairs of split students of the share of common rows they label alike;
    ``preds``: one (C, S, n_common) array per split."""
    return np.mean([(a == b).mean(axis=-1) for a, b in combinations(preds, 2)], axis=0)


def consensus(acc, fid, fold_acc, rank, tie, oof, z):
    """(candidate, scan position): among the candidates whose held-out accuracy is within ``z``
    binomial standard errors of the best, the most central: of their distinct out-of-fold
    prediction vectors, the one agreeing most on average with the others (then the more
    accurate); among the candidates predicting it, the tie rule. Near-equal candidates are common
    and an argmax among them changes with the sample; the centre of the near-best ones changes
    less (docs/selection.md)."""
    best = acc.max()
    near = acc >= best - z * np.sqrt(best * (1 - best) / oof.shape[-1]) - 1e-12
    cs = np.argwhere(near)
    vectors, inverse = np.unique(oof[cs[:, 0], cs[:, 1]], axis=0, return_inverse=True)
    inverse = inverse.ravel()
    if len(vectors) > 1:
        agree = np.array([(vectors == v).mean(axis=1) for v in vectors])
        central = (agree.sum(axis=1) - 1) / (len(vectors) - 1)
        score = np.array([acc[tuple(cs[inverse == u][0])] for u in range(len(vectors))])
        score[central < central.max() - 1e-12] = -np.inf
        keep = np.isin(inverse, np.flatnonzero(score >= score.max() - 1e-12))
        near = np.zeros_like(near)
        near[cs[keep, 0], cs[keep, 1]] = True
    return choose(acc, fid, fold_acc, rank, tie, False, eligible=near)


def beats(hits, incumbent, z):
    """(C, S) bool: the candidates whose held-out hits beat the incumbent's by a one-sided paired
    z-test at ``z`` (per-row differences in {-1, 0, 1}; no discordant row: no evidence)."""
    d = hits.astype(np.int8) - hits[incumbent].astype(np.int8)
    n = d.shape[-1]
    mean = d.mean(axis=-1)
    var = (np.abs(d).mean(axis=-1) - mean**2) * n / max(n - 1, 1)
    se = np.sqrt(np.maximum(var, 0.0) / n)
    return (se > 0) & (mean >= z * se) & (mean > 0)


def choose(acc, fid, fold_acc, thresholds_rank, tie, one_se, eligible=None):
    """(candidate, scan position) by the rule among the ``eligible`` (C, S) entries (default
    all); acc, fid: (C, S)."""
    if eligible is not None:
        acc = np.where(eligible, acc, -np.inf)
    best = acc.max()
    if one_se and fold_acc.shape[2] > 1:
        c, s = np.unravel_index(int(np.argmax(acc)), acc.shape)
        f = fold_acc[c, s]
        se = f.std(ddof=1) / np.sqrt(f.size)
        ok = acc >= best - se - 1e-12
    else:
        ok = acc >= best - 1e-12
    C, S = acc.shape
    cand = [(c, s) for c in range(C) for s in range(S) if ok[c, s]]
    if tie == "low":  # first in scan order (the lowest threshold), then candidate order
        return min(cand, key=lambda cs: (thresholds_rank[cs[1]], -acc[cs], cs[0]))
    if tie == "high":
        return min(cand, key=lambda cs: (-thresholds_rank[cs[1]], -acc[cs], cs[0]))
    return min(cand, key=lambda cs: (-fid[cs], -thresholds_rank[cs[1]], -acc[cs], cs[0]))
