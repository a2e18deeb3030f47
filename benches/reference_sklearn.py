"""Reference timings and accuracies with the usual Python stack, on the same
machine and data as `cargo bench --bench baselines` (scripts/bench.sh runs both).

HOG: skimage.feature.hog (9 orientations, 4x4 cells, 2x2 blocks, L2-Hys) over all
70,000 images. Linear probe: sklearn LogisticRegression (lbfgs) on 60k x 784
standardized raw pixels. k-NN: cosine, k=20, weights exp(sim/0.07) (DINO).
"""
import gzip, struct, sys, time
import numpy as np

D = "/usr/share/datasets/fashion-mnist/"

def idx(name):
    b = gzip.open(D + name).read()
    nd = b[3]
    dims = struct.unpack(">" + "I" * nd, b[4:4 + 4 * nd])
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)

xtr, ytr = idx("train-images-idx3-ubyte.gz"), idx("train-labels-idx1-ubyte.gz")
xte, yte = idx("t10k-images-idx3-ubyte.gz"), idx("t10k-labels-idx1-ubyte.gz")
what = sys.argv[1:] or ["hog", "logreg", "knn"]

if "hog" in what:
    from skimage.feature import hog
    allx = np.concatenate([xtr, xte])
    t = time.time()
    h = np.stack([hog(im, orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2), block_norm="L2-Hys") for im in allx])
    print(f"skimage hog 70k images: {time.time() - t:.2f} s, dims {h.shape[1]}")

if "logreg" in what:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    s = StandardScaler().fit(xtr.reshape(60000, -1) / 255.0)
    a, b = s.transform(xtr.reshape(60000, -1) / 255.0), s.transform(xte.reshape(10000, -1) / 255.0)
    t = time.time()
    clf = LogisticRegression(max_iter=100).fit(a, ytr)
    print(f"sklearn LogisticRegression 60k x 784 (lbfgs, 100 iter): {time.time() - t:.2f} s, test top1 {clf.score(b, yte):.4f}")

if "knn" in what:
    a = xtr.reshape(60000, -1).astype(np.float32); a /= np.linalg.norm(a, axis=1, keepdims=True)
    b = xte.reshape(10000, -1).astype(np.float32); b /= np.linalg.norm(b, axis=1, keepdims=True)
    t = time.time()
    correct = 0
    for i in range(0, 10000, 1000):
        s = b[i:i + 1000] @ a.T
        nn = np.argpartition(-s, 20, axis=1)[:, :20]
        w = np.exp(np.take_along_axis(s, nn, 1) / 0.07)
        votes = np.zeros((len(s), 10))
        for k in range(20):
            np.add.at(votes, (np.arange(len(s)), ytr[nn[:, k]]), w[:, k])
        correct += (votes.argmax(1) == yte[i:i + 1000]).sum()
    print(f"numpy cosine k-NN k=20 raw pixels: {time.time() - t:.2f} s, test top1 {correct / 10000:.4f}")
