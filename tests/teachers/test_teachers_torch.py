"""A PyTorch module as a teacher (crembo.teachers._torch; torch is an optional extra, so these
tests skip without it: ``pip install ".[torch]"``)."""

import numpy as np
import pytest
from sklearn.datasets import make_classification

import crembo
from crembo.teachers import TorchTeacher, make_teacher

NAMES = np.array(["cat", "dog", "emu"])


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=240, n_features=6, n_informative=4, n_classes=3, n_clusters_per_class=1, random_state=0
    )
    return X, y


def _torch():
    return pytest.importorskip("torch", reason="PyTorch is an optional extra: pip install '.[torch]'")


def test_torch_module_logits(data):
    torch = _torch()
    X, _y = data
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Dropout(0.5), torch.nn.Linear(8, 3))
    net.train()
    teacher = make_teacher(net)
    assert isinstance(teacher, TorchTeacher)
    with torch.no_grad():
        net.eval()
        z = net(torch.as_tensor(X, dtype=torch.float32)).double().numpy()
        net.train()
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    belief = teacher.belief(X, np.arange(3))
    np.testing.assert_allclose(belief, expected, rtol=1e-6)
    np.testing.assert_array_equal(teacher.belief(X, np.arange(3)), belief)  # dropout off: deterministic
    assert net.training  # the user's mode is restored
    # small batches give the same belief; columns can be named
    small = TorchTeacher(net, batch_size=7, classes=NAMES)
    np.testing.assert_allclose(small.belief(X, NAMES), belief, rtol=1e-6)
    with pytest.raises(ValueError, match="hard votes are not defined for a torch module"):
        make_teacher(net, belief="votes")
    with pytest.raises(ValueError, match="3 columns but there are 2 classes"):
        teacher.belief(X, np.arange(2))


def test_torch_binary_output_and_crembo(data):
    torch = _torch()
    X, y = data
    yb = (y == 0).astype(int)
    lin = torch.nn.Linear(6, 1).double()
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(np.linspace(-1, 1, 6)[None]))
        lin.bias.fill_(0.3)
    t = make_teacher(lin)
    z = X @ np.linspace(-1, 1, 6) + 0.3
    p1 = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(t.belief(X, np.array([0, 1])), np.column_stack([1 - p1, p1]), rtol=1e-9)
    sig = torch.nn.Sequential(lin, torch.nn.Sigmoid())
    np.testing.assert_allclose(
        make_teacher(sig, belief="proba").belief(X, np.array([0, 1])), np.column_stack([1 - p1, p1]), rtol=1e-9
    )
    clf = crembo.CREMBOClassifier(teacher=lin, delta=40, random_state=0).fit(X, yb)
    assert isinstance(clf.teacher_, TorchTeacher) and 0.0 <= clf.fidelity_ <= 1.0
