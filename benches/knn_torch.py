"""Weighted k-NN (DINO's eval_knn vote) in PyTorch, the same work as repbench's
`knn_vote::predict` on full Fashion-MNIST raw pixels: bank = 60k train, 10k
queries, k = 20, T = 0.07, cosine similarity, queries in chunks of the same size.
Side by side with benches/knn.rs (scripts/bench_knn.sh)."""
import gzip, time
import numpy as np
import torch

torch.set_num_threads(2)
D = "/usr/share/datasets/fashion-mnist/"

def idx(name, offset):
    with gzip.open(D + name) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)

xtr = torch.from_numpy(idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255)
ytr = torch.from_numpy(idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64))
xte = torch.from_numpy(idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255)
yte = torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64))

def knn(train, ty, query, k=20, t=0.07, classes=10):
    train = torch.nn.functional.normalize(train, dim=1)
    query = torch.nn.functional.normalize(query, dim=1)
    chunk = max(1, min(4096, 64_000_000 // train.shape[0]))
    preds = []
    for s in range(0, query.shape[0], chunk):
        sim = query[s:s + chunk] @ train.T
        vals, ind = sim.topk(k, dim=1)
        w = ((vals - vals[:, :1]) / t).exp()
        votes = torch.zeros(ind.shape[0], classes).scatter_add_(1, ty[ind], w)
        preds.append(votes.argmax(1))
    return torch.cat(preds)

best = None
for _ in range(3):
    t0 = time.time()
    p = knn(xtr, ytr, xte)
    dt = time.time() - t0
    best = dt if best is None else min(best, dt)
print(f"pytorch {torch.__version__} k-NN k=20 (60k bank, 10k queries, 784-d): {best:.2f} s (best of 3), top-1 {(p == yte).float().mean():.4f}")
