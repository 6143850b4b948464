"""Seeing what CREMBO did: ``plot_scan`` draws the threshold scan of a fitted model.

Needs matplotlib (``pip install 'crembo[plot]'``); it is imported only when a function here runs.
"""

import numpy as np

from crembo._user_vt import kept_user_vt
from crembo._validation import is_real

__all__ = ["plot_scan", "scan_summary"]

# Colours of the tab10 cycle, fixed so every figure reads the same way.
_ACCURACY, _FIDELITY, _DEPTH, _TEACHER = "tab:blue", "tab:orange", "tab:green", "0.45"
_MEMO, _CHOSEN = "tab:purple", "tab:red"


def _fmt_threshold(d):
    """Vote-fraction thresholds (multiples of 0.01) print with 2 decimals, others with 3 significant digits."""
    return f"{d:.2f}" if abs(d * 100 - round(d * 100)) < 1e-9 else f"{d:.3g}"


def _scan_arrays(model):
    """(thresholds, validation scores, fidelities or None, depths) of a fitted model's scan."""
    scan = getattr(model, "scan_", None)
    if scan is None:
        if hasattr(model, "fit") and hasattr(model, "get_params"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"this {type(model).__name__} is not fitted yet; call fit before plot_scan")
        raise TypeError(
            f"plot_scan needs a fitted CREMBO model (with scan_, threshold_ and memo_threshold_), "
            f"got {type(model).__name__}"
        )

    def field(name, required=True):
        value = scan.get(name) if isinstance(scan, dict) else getattr(scan, name, None)
        if value is None:
            if required:
                raise ValueError(f"the model's scan_ has no {name!r}")
            return None
        return np.asarray(value, dtype=np.float64)

    thr = field("thresholds")
    if thr.ndim != 1 or thr.size == 0:
        raise ValueError("the model's scan_ is empty; nothing to plot")
    arrays = [thr, field("validation_scores"), field("fidelities", required=False), field("depths")]
    for name, a in zip(("validation_scores", "fidelities", "depths"), arrays[1:], strict=True):
        if a is not None and a.shape != thr.shape:
            raise ValueError(f"scan_.{name} has shape {a.shape} but there are {thr.size} thresholds")
    return tuple(arrays)


def _attr(model, name):
    value = getattr(model, name, None)
    if not is_real(value):
        raise ValueError(f"plot_scan needs the fitted model's {name} (a number), got {value!r}")
    return float(value)


def _summary_parts(model):
    thr, scores, _, _ = _scan_arrays(model)
    chosen, memo_d = _attr(model, "threshold_"), _attr(model, "memo_threshold_")
    if kept_user_vt(model):
        return [
            f"kept scikit-learn's tree on the teacher's labels (validation accuracy {model.validation_score_:.3f})",
            "the student chosen from the scan did not beat it by SelectionSpec.user_vt's margin",
            f"MEMO's deepest consistent d={_fmt_threshold(memo_d)}",
        ]
    best = int(np.argmax(scores))
    tied = np.flatnonzero(scores == scores[best])
    first = f"best validation accuracy {scores[best]:.3f} at d={_fmt_threshold(chosen)}"
    if tied.size > 1:
        rule = {thr[tied[0]]: ": the lowest wins", thr[tied[-1]]: ": the highest wins"}.get(chosen, "")
        first += f" (tied at {tied.size} thresholds{rule})"
    if np.isclose(chosen, memo_d):
        return [first, f"MEMO's deepest consistent d={_fmt_threshold(memo_d)} is the same threshold"]
    return [first, f"MEMO's deepest consistent d={_fmt_threshold(memo_d)}"]


def scan_summary(model):
    """The sentence saying why the threshold was chosen (the figure's title says the same).

    e.g. "best validation accuracy 0.912 at d=0.40; MEMO's deepest consistent d=0.33".
    """
    return "; ".join(_summary_parts(model))


def plot_scan(model, ax=None):
    """Plot CREMBO's threshold scan: why this threshold was chosen.

    Against the threshold d: validation accuracy of the student trained at d, its fidelity to
    the teacher on the validation split (when the model records it) and its depth D(f) on the
    training belief, with the line depth = d (points on or above it are consistent students).
    Vertical lines mark MEMO's deepest consistent threshold and CREMBO's choice; a star marks
    the chosen student; the teacher's validation accuracy is a dotted horizontal line when known.

    Parameters
    ----------
    model : fitted ``CREMBOClassifier`` (or any object with ``scan_``, ``threshold_`` and
        ``memo_threshold_``, e.g. ``crembo.torch.crembo_torch``'s result)
    ax : matplotlib Axes or None (a new 8 x 5 inch figure)

    Returns
    -------
    ax : the matplotlib Axes drawn on (``ax.figure.savefig(...)`` saves it).
    """
    thr, scores, fid, depths = _scan_arrays(model)
    chosen, memo_d = _attr(model, "threshold_"), _attr(model, "memo_threshold_")
    try:
        import matplotlib.transforms as mtransforms
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plot_scan needs matplotlib: pip install 'crembo[plot]'") from exc
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(8, 5), layout="constrained")

    style = dict(marker="o", markersize=3.5, linewidth=1.6)
    ax.plot(thr, scores, color=_ACCURACY, label="validation accuracy", **style)
    if fid is not None:
        ax.plot(thr, fid, color=_FIDELITY, label="fidelity to teacher (validation)", **style)
    ax.plot(thr, depths, color=_DEPTH, label="student depth D(f) (training belief)", **style)
    lo, hi = min(thr.min(), memo_d, chosen), max(thr.max(), memo_d, chosen)
    pad = 0.03 * (hi - lo) if hi > lo else 0.05
    xs = np.array([lo - pad, hi + pad])
    ax.plot(xs, xs, color="0.6", linestyle=(0, (4, 3)), linewidth=1.0, label="depth = d (consistent on or above)")
    teacher_acc = getattr(model, "teacher_validation_score_", None)
    if is_real(teacher_acc):
        ax.axhline(
            teacher_acc,
            color=_TEACHER,
            linestyle=":",
            linewidth=1.4,
            label=f"teacher validation accuracy ({teacher_acc:.3f})",
        )

    ax.axvline(
        memo_d,
        color=_MEMO,
        linestyle="--",
        linewidth=1.4,
        zorder=3,
        label=f"MEMO: deepest consistent d={_fmt_threshold(memo_d)}",
    )
    # the star: the student the model returned (its threshold and held-out score), else the best
    if is_real(getattr(model, "validation_score_", None)) and (kept_user_vt(model) or np.isclose(thr, chosen).any()):
        star = (
            chosen,
            float(model.validation_score_),
            getattr(model, "fidelity_", None),
            getattr(model, "depth_", None),
        )
    else:
        best = int(np.argmax(scores))
        star = (thr[best], scores[best], None if fid is None else fid[best], depths[best])
    ax.axvline(
        chosen,
        color=_CHOSEN,
        linestyle="-",
        linewidth=1.4,
        alpha=0.8,
        label=f"CREMBO: chosen d={_fmt_threshold(chosen)}",
    )
    ax.scatter(
        [star[0]],
        [star[1]],
        marker="*",
        s=220,
        color=_CHOSEN,
        edgecolor="black",
        linewidth=0.6,
        zorder=5,
        label="chosen student" + (" (scikit-learn's tree on the teacher's labels)" if kept_user_vt(model) else ""),
    )

    # Labels on the vertical lines, at the bottom in axes coordinates so they never leave the plot.
    trans = mtransforms.blended_transform_factory(ax.transData, ax.transAxes)
    same = np.isclose(chosen, memo_d)
    # MEMO's label right of its line, CREMBO's left of its own (MEMO's d is never above CREMBO's).
    memo_text = "MEMO = CREMBO" if same else "MEMO"
    ax.text(
        memo_d,
        0.02,
        f" {memo_text} d={_fmt_threshold(memo_d)}",
        transform=trans,
        rotation=90,
        va="bottom",
        ha="left",
        color=_MEMO,
        fontsize=9,
    )
    if not same:
        ax.text(
            chosen,
            0.02,
            f" CREMBO d={_fmt_threshold(chosen)}",
            transform=trans,
            rotation=90,
            va="bottom",
            ha="right",
            color=_CHOSEN,
            fontsize=9,
        )
    ax.annotate(
        f"accuracy {star[1]:.3f}"
        + (f"\nfidelity {star[2]:.3f}" if is_real(star[2]) else "")
        + (f"\ndepth {star[3]:.3f}" if is_real(star[3]) else ""),
        xy=star[:2],
        xytext=(12, -12),
        textcoords="offset points",
        va="top",
        fontsize=9,
        color=_CHOSEN,
        bbox=dict(boxstyle="round,pad=0.3", facecolor="white", edgecolor=_CHOSEN, alpha=0.9),
    )

    ax.set_xlim(lo - pad, hi + pad)
    ymin = min(0.0, float(np.nanmin(depths)))
    ax.set_ylim(ymin, 1.04)
    ax.set_xlabel("threshold d (a student trained at d may only predict labels with belief >= d)")
    ax.set_ylabel("accuracy, fidelity, depth")
    ax.grid(True, alpha=0.3)
    title = [f"CREMBO threshold scan: chose d={_fmt_threshold(chosen)}", *_summary_parts(model)]
    ax.set_title("\n".join(title), fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8, frameon=False)
    return ax
