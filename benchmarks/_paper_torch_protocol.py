"""The protocol of benchmarks/paper_torch.py: one training budget for every method, the student
sizes, KD's temperatures, CREMBO + KD's weights, the label noise, CREMBO's recipe and its
ablations, and the run configurations (full, --quick, --dev)."""

# Development runs used patience 20 and 6,000 samples for synth-k50; the reported run uses 10 and
# 4,000 to fit the full mode in the time budget of a shared 2-core machine (the same for every method).
TRAIN = dict(lr=1e-2, batch_size=128, epochs=200, patience=10, weight_decay=0.0)
TEACHER = dict(hidden=(256, 256), lr=1e-3, batch_size=128, epochs=200, patience=10)
STUDENTS = {"small": (8,), "medium": (32,)}
TEMPERATURES = (2.0, 5.0, 10.0)
KD_WEIGHTS = (0.25, 0.5, 0.75)
ONE_SE_LABEL = "CREMBO + KD (1-SE)"  # the largest weight within one standard error of the best
NOISE = 0.2
HINTON_ALPHA = 0.5  # KD+CE: Hinton's mix of the soft targets and cross-entropy on the true labels

# CREMBO's recipe (crembo.torch.OUR_RECIPE), chosen on --dev runs; the ablations change one part.
CREMBO_RECIPE = dict(recipe="ours")
PAPER_LABEL = "CREMBO, paper recipe"
ABLATIONS = {
    PAPER_LABEL: dict(recipe="paper", max_scan=8),
    "CREMBO, BCE only": None,  # read off CREMBO's own scan: no extra students
    "CREMBO, set loss only": None,
}

CONFIGS = {
    "full": dict(
        seeds=10,
        first_seed=0,
        split_seed=0,
        datasets=("digits", "dermatology", "synth-k10", "synth-k50"),
        students=("small", "medium"),
        ablations=True,
        ablation_seeds=5,
    ),
    "quick": dict(
        seeds=2,
        first_seed=0,
        split_seed=0,
        datasets=("digits", "synth-k10"),
        students=("small",),
        ablations=False,
        ablation_seeds=0,
        epochs=60,
    ),
    "dev": dict(
        seeds=5,
        first_seed=1000,
        split_seed=1000,
        datasets=("digits", "dermatology", "synth-k10", "synth-k50"),
        students=("small", "medium"),
        ablations=True,
        ablation_seeds=5,
    ),
}
