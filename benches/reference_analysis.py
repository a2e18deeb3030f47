"""numpy / scikit-learn side of `cargo bench --bench analysis`, same machine:
linear CKA of two 10,000 x 512 embeddings (feature-space form, float32 as
repbench) and sklearn's Barnes-Hut t-SNE on the first 5,000 Fashion-MNIST test
images (raw pixels, perplexity 30, 1000 iterations, PCA init)."""
import gzip, struct, time
import numpy as np

rng = np.random.default_rng(0)
x = rng.standard_normal((10000, 512), dtype=np.float32)
y = x @ rng.standard_normal((512, 512), dtype=np.float32) + rng.standard_normal((10000, 512), dtype=np.float32)

def cka(a, b):
    a = a - a.mean(0); b = b - b.mean(0)
    return float(np.linalg.norm(b.T @ a) ** 2 / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)))

times = []
for _ in range(5):
    t = time.perf_counter(); v = cka(x, y); times.append(time.perf_counter() - t)
print(f"numpy linear CKA 10000x512: median {sorted(times)[2]:.3f} s of 5 (value {v:.4f})")

D = "/usr/share/datasets/fashion-mnist/"
def idx(name):
    b = gzip.open(D + name).read(); nd = b[3]
    dims = struct.unpack(">" + "I" * nd, b[4:4 + 4 * nd])
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)
from sklearn.manifold import TSNE
from sklearn.neighbors import KNeighborsClassifier
from sklearn.model_selection import cross_val_score
xs = idx("t10k-images-idx3-ubyte.gz")[:5000].reshape(5000, -1).astype(np.float32) / 255
ys = idx("t10k-labels-idx1-ubyte.gz")[:5000]
t = time.perf_counter()
m = TSNE(perplexity=30, max_iter=1000, init="pca", random_state=0).fit_transform(xs)
secs = time.perf_counter() - t
from sklearn.model_selection import LeaveOneOut
knn = KNeighborsClassifier(5).fit(m, ys)
# leave-one-out 5-NN accuracy: query 6 neighbours and drop the point itself
nb = knn.kneighbors(m, 6, return_distance=False)[:, 1:]
acc = np.mean([np.bincount(ys[n], minlength=10).argmax() == ys[i] for i, n in enumerate(nb)])
print(f"sklearn t-SNE of 5000 points (Barnes-Hut, perplexity 30, 1000 iterations): {secs:.2f} s; 5-NN accuracy in the map {acc:.4f}")
