"""Standalone predictor for decision-tree students exported by crembo to JSON (crembo-tree v1).

Python standard library only (no numpy, no crembo), so it runs wherever the JSON is shipped:
    import crembo_tree_predictor as ctp
    model = ctp.load("student.json")
    labels = ctp.predict(model, [[5.1, 3.5, 1.4, 0.2], [6.0, None, 4.8, 1.8]])  # None/NaN = missing
Command line: python crembo_tree_predictor.py student.json < rows.csv   (one label per line)
"""
import json
import math
import struct
import sys

from crembo.tree._validate import check_tree_dict  # written predictors get this function's source here


def _float32(x):
    # Round to the nearest float32 as numpy's cast does: scikit-learn compares float32(x) <= threshold.
    try:
        return struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:  # finite but beyond float32's range: numpy gives +-inf
        return math.copysign(math.inf, x)


def load(path):
    with open(path, encoding="utf-8") as fh:
        model = json.load(fh)
    try:
        # before any walk: a bad child index would loop forever or fail deep in predict
        return check_tree_dict(model)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path} is not a valid crembo-tree model: {exc}") from None


def leaf(model, row):
    if len(row) != model["n_features"]:
        raise ValueError(f"expected {model['n_features']} features, got {len(row)}")
    nodes, as_f32 = model["nodes"], model["input_dtype"] == "float32"
    node = nodes[0]
    while not node["leaf"]:
        x = row[node["feature"]]
        if x is None or x != x:  # missing value (None or NaN)
            go_left = node["missing_go_to_left"]
        else:
            x = float(x)
            go_left = (_float32(x) if as_f32 else x) <= float(node["threshold"])  # may be "inf"
        node = nodes[node["left"] if go_left else node["right"]]
    return node


def predict(model, rows):
    return [model["classes"][leaf(model, row)["class"]] for row in rows]


def predict_proba(model, rows):
    out = []
    for row in rows:
        value = leaf(model, row).get("value")
        if value is None:  # e.g. crembo's allowed-label trees: labels only
            raise ValueError("this model stores no class values; use predict")
        total = sum(value)
        out.append([v / total for v in value] if total > 0 else [1.0 / len(value)] * len(value))
    return out


if __name__ == "__main__":
    _model = load(sys.argv[1])
    for _line in sys.stdin:
        if _line.strip():
            _row = [float(f) if f.strip() else None for f in _line.split(",")]
            print(predict(_model, [_row])[0])
