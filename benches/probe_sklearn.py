"""scikit-learn's LogisticRegression(solver="lbfgs") on the data of benches/probe.rs:
the same standardization, the same L2 path (C = 1 / (lambda * n), strongest
first), the same tolerance (tol = 1e-4, max_iter = 1000), warm-started along the
path as repbench is (and cold, for reference). Float64, as scikit-learn computes."""
import gzip, time, warnings
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.exceptions import ConvergenceWarning
import threadpoolctl, sklearn

root = "/usr/share/datasets/fashion-mnist/"
def idx(name, off):
    return np.frombuffer(gzip.open(root + name).read(), np.uint8, offset=off)
x = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255
y = idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64)
xt = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255
yt = idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64)
tr, va = slice(0, 54000), slice(54000, 60000)
mean, std = x[tr].mean(0), x[tr].std(0)
std[std <= 1e-6] = 1
z = lambda a: ((a - mean) / std).astype(np.float64)
Xtr, Xva, Xte = z(x[tr]), z(x[va]), z(xt)
n = Xtr.shape[0]
grid = [1.0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6]
print("sklearn", sklearn.__version__, "numpy", np.__version__, "blas threads", threadpoolctl.threadpool_info()[0].get("num_threads"))
for warm in (True, False):
    m = LogisticRegression(solver="lbfgs", tol=1e-4, max_iter=1000, warm_start=warm)
    t0 = time.perf_counter()
    iters = 0
    rows = []
    for lam in grid:
        m.set_params(C=1.0 / (lam * n))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            m.fit(Xtr, y[tr])
        iters += int(m.n_iter_[0])
        rows.append((lam, int(m.n_iter_[0]), (m.predict(Xva) == y[va]).mean(), (m.predict(Xte) == yt).mean()))
    secs = time.perf_counter() - t0
    for lam, it, v, te in rows:
        print(f"{'warm' if warm else 'cold'} l2 {lam:e}: iterations {it}, val {v:.4f}, test {te:.4f}")
    print(f"sklearn_{'warm' if warm else 'cold'}_path_s: {secs:.2f} ({iters} iterations)")
