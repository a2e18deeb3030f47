"""Reference values for src/methods/losses.rs.

Numpy transcriptions of the PyTorch reference formulations:
- NT-Xent: SimCLR (google-research/simclr, and the common PyTorch port: cosine
  similarity / T over 2B views, self-similarity masked, cross-entropy to the other view).
- BYOL: loss_fn(x, y) = 2 - 2 * cos(x, y), mean over the batch (deepmind/byol).
- VICReg: facebookresearch/vicreg main_vicreg.py (repr = mse; std = sqrt(var + 1e-4),
  mean(relu(1 - std)) / 2 per branch; cov off-diagonal squared sum / D per branch).
- DINO: facebookresearch/dino DINOLoss.forward (teacher softmax((t - c) / tt),
  student log_softmax(s / ts), all pairs with different views, averaged).
Run: python3 tests/reference/losses.py
"""
import numpy as np

z1 = np.array([[1.0, 0.0, 0.5], [0.2, 1.0, -0.3], [-0.4, 0.1, 0.9]])
z2 = np.array([[0.9, 0.1, 0.4], [0.3, 0.8, -0.2], [-0.5, 0.2, 1.0]])

def log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))

def nt_xent(a, b, t):
    z = np.concatenate([a, b])
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    s = z @ z.T / t
    np.fill_diagonal(s, -np.inf)
    n = len(a)
    tgt = (np.arange(2 * n) + n) % (2 * n)
    return -log_softmax(s)[np.arange(2 * n), tgt].mean()

def byol(p, z):
    cos = (p * z).sum(1) / np.linalg.norm(p, axis=1) / np.linalg.norm(z, axis=1)
    return (2 - 2 * cos).mean()

def vicreg_terms(x, y):
    n, d = x.shape
    inv = ((x - y) ** 2).mean()
    x = x - x.mean(0); y = y - y.mean(0)
    sx = np.sqrt(x.var(0, ddof=1) + 1e-4); sy = np.sqrt(y.var(0, ddof=1) + 1e-4)
    var = np.maximum(1 - sx, 0).mean() / 2 + np.maximum(1 - sy, 0).mean() / 2
    def off(t):
        c = t.T @ t / (n - 1)
        return ((c ** 2).sum() - (np.diag(c) ** 2).sum()) / d
    return inv, var, off(x) + off(y)

def dino(student, teacher, center, ts, tt):
    q = [np.exp(log_softmax((t - center) / tt)) for t in teacher]
    total, n = 0.0, 0
    for iq, qq in enumerate(q):
        for iv, s in enumerate(student):
            if iv == iq:
                continue
            total += (-(qq * log_softmax(s / ts)).sum(-1)).mean(); n += 1
    return total / n

print("nt_xent T=0.5", nt_xent(z1, z2, 0.5))
print("nt_xent T=0.1", nt_xent(z1, z2, 0.1))
print("byol", byol(z1, z2))
i, v, c = vicreg_terms(z1, z2)
print("vicreg inv var cov", i, v, c, "total", 25 * i + 25 * v + c)
print("dino", dino([z1, z2, z1 * 0.5], [z2, z1], np.array([0.1, -0.1, 0.0]), 0.1, 0.04))
