"""Reference values for the Barlow Twins, SimSiam and MoCo v3 losses, computed
with PyTorch as the official code computes them (the unit tests in
src/methods/barlow_twins.rs, simsiam.rs and moco_v3.rs compare against these).

- Barlow Twins (facebookresearch/barlowtwins main.py, BarlowTwins.forward):
  c = bn(z1).T @ bn(z2) / batch, bn = BatchNorm1d(affine=False) in training
  mode; on_diag = sum((diag(c) - 1)^2); off_diag = sum(off-diagonal(c)^2);
  loss = on_diag + lambd * off_diag.
- SimSiam (facebookresearch/simsiam main_simsiam.py): criterion =
  CosineSimilarity(dim=1); loss = -(criterion(p1, z2).mean() +
  criterion(p2, z1).mean()) * 0.5, with z detached.
- MoCo v3 (facebookresearch/moco-v3 moco/builder.py, contrastive_loss):
  q, k L2-normalised; logits = q @ k.T / T; CE with labels arange(N); * 2T.

The inputs are those of `methods::heads::reference_inputs()`.
Run: python3 tests/reference/ssl_losses_torch.py   (torch 2.11.0; not in CI)
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float32)
a = torch.tensor([0.9, -0.2, 0.4, 1.1, 0.3, 0.8, -0.5, 0.2, -0.7, 0.1, 0.6, -0.4,
                  1.2, 0.5, 0.0, -0.9, -0.3, -1.0, 0.7, 0.6, 0.5, 0.2, -0.8, 0.3]).view(6, 4)
b = torch.tensor([1.0, -0.1, 0.3, 0.9, 0.2, 0.9, -0.4, 0.4, -0.6, 0.3, 0.5, -0.5,
                  1.0, 0.4, 0.2, -0.7, -0.2, -0.8, 0.9, 0.4, 0.6, 0.0, -0.9, 0.1]).view(6, 4)


def off_diagonal(x):
    n, m = x.shape
    return x.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def barlow_twins(z1, z2, lambd):
    bn = nn.BatchNorm1d(z1.shape[1], affine=False)
    bn.train()
    c = bn(z1).T @ bn(z2)
    c.div_(z1.shape[0])
    on_diag = torch.diagonal(c).add_(-1).pow_(2).sum()
    off_diag = off_diagonal(c).pow_(2).sum()
    return on_diag + lambd * off_diag


def simsiam(p1, p2, z1, z2):
    criterion = nn.CosineSimilarity(dim=1)
    return -(criterion(p1, z2.detach()).mean() + criterion(p2, z1.detach()).mean()) * 0.5


def moco_v3(q, k, T):
    q = F.normalize(q, dim=1)
    k = F.normalize(k, dim=1)
    logits = torch.einsum("nc,mc->nm", [q, k]) / T
    labels = torch.arange(logits.shape[0], dtype=torch.long)
    return nn.CrossEntropyLoss()(logits, labels) * (2 * T)


with torch.no_grad():
    print(f"BARLOW_REF = {barlow_twins(a, b, 0.0051).item():.8f}  # barlow_twins::loss(a, b, 0.0051)")
    print(f"SIMSIAM_REF = {simsiam(a, b, a.flip(0), b.flip(0)).item():.8f}  # simsiam::loss(a, b, a.flip([0]), b.flip([0]))")
    print(f"MOCO_REF_T02 = {moco_v3(a, b, 0.2).item():.8f}  # moco_v3::contrastive(a, b, 0.2)")
    print(f"MOCO_REF_T1 = {moco_v3(a, b, 1.0).item():.8f}  # moco_v3::contrastive(a, b, 1.0)")
