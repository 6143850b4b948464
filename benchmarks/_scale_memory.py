"""Memory of one run of benchmarks/scale.py: the peak RSS it measures, the peak it predicts.

Measured: the process's resident set (``/proc/self/statm``) and its peak (VmHWM in
``/proc/self/status``), whose mark is reset just before ``fit`` so a subprocess does not report
its parent's peak. Predicted: the cost model of docs/cost_model.md ("model MiB" in the tables).
"""

import os
import resource


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _maxrss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _reset_peak_rss():
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0).

    ru_maxrss cannot be used for a subprocess: Linux carries it across fork + execve, so a
    worker would report its parent's peak (the parent generated the whole data pool).
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return _maxrss_bytes()


# ----------------------------------------------------------------------------- memory model

# Per-fit transient bytes of the native tree (docs/cost_model.md): per training row FIT_ROW_BYTES
# (sample order, partition scratch and weights: 8 bytes each; label counts, and argsort's scratch)
# plus 2 per class (the bool allowed matrix of the threshold and the tree's uint8 label lists),
# plus HIST_BUFFERS flat float64 histograms of total_bins x (k + 2).
FIT_ROW_BYTES, FIT_CLASS_BYTES, HIST_BUFFERS = 37, 2, 4


def predicted_peak_bytes(n, n_tr, p, k, belief_bytes, n_jobs, total_bins, forest_nodes):
    """The cost model's traced peak of ``fit`` beyond the data: the larger of the belief stage
    (the split's copies of X, the belief, the flattened forest, one chunk of float32 rows and its
    votes) and the scan stage (the copies, the belief, the binned X, n_jobs concurrent fits)."""
    split = 8 * n * p
    belief = belief_bytes * n_tr * k
    chunk = min(n_tr, 32 * 2**20 // (4 * p))
    at_belief = split + belief + 32 * forest_nodes + chunk * (4 * p + 2 * k)
    fit = n_tr * (FIT_ROW_BYTES + FIT_CLASS_BYTES * k) + HIST_BUFFERS * 8 * total_bins * (k + 2)
    at_scan = split + belief + n_tr * p + n_jobs * fit
    return int(max(at_belief, at_scan))
