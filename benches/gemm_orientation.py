"""The linear probe's gradient product in both orientations, in PyTorch 2.11 on
the same libtorch (2 threads): xᵀ·diff against (diffᵀ·x)ᵀ for x of 18,000 × 784
(the quickstart's raw-pixel training part) and diff of 18,000 × 10.
`PY=/opt/refvenv/bin/python; $PY benches/gemm_orientation.py` (docs/benchmarks.md)."""
import time

import torch

torch.set_num_threads(2)
g = torch.Generator().manual_seed(0)
x = torch.randn(18000, 784, generator=g)
d = torch.randn(18000, 10, generator=g)


def ms(f, n=50):
    f()
    t = time.time()
    for _ in range(n):
        f()
    return (time.time() - t) / n * 1000


print(f"x.T @ diff: {ms(lambda: x.t() @ d):.1f} ms; (diff.T @ x).T: {ms(lambda: (d.t() @ x).t()):.1f} ms")
