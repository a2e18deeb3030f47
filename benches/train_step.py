"""The PyTorch Python side of `cargo bench --bench train_step`: the same ConvNet,
projector, batched augmentation, losses and AdamW, step for step, so the two can
be timed side by side on the same libtorch (torch==2.11.0).

python3 benches/train_step.py [cpu|cuda] [batch] [steps]
"""
import math, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

dev = torch.device(sys.argv[1] if len(sys.argv) > 1 else "cpu")
batch = int(sys.argv[2]) if len(sys.argv) > 2 else 256
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 20
print(f"device {dev}, batch {batch}, {steps} timed steps, torch {torch.__version__}, threads {torch.get_num_threads()}")
torch.manual_seed(0)


class ConvNet(nn.Module):
    """repbench's default ConvNet: widths 32-64-128, 2 × (conv3x3-BN-ReLU) per block,
    2×2 max-pool after every block but the last, global average pool."""

    def __init__(self, widths=(32, 64, 128), convs=2):
        super().__init__()
        layers, cin, size = [], 1, 28
        for i, w in enumerate(widths):
            for _ in range(convs):
                layers += [nn.Conv2d(cin, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
                cin = w
            if size > 2 and i + 1 < len(widths):
                layers.append(nn.MaxPool2d(2)); size //= 2
        self.f = nn.Sequential(*layers)
        self.out = cin

    def forward(self, x):
        return self.f(x).mean((2, 3))


def projector(d):
    return nn.Sequential(nn.Linear(d, 512, bias=False), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, 128))


def augment(x, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3), flip_p=0.5, jitter_p=0.8, b=0.4, c=0.4):
    """Batched random resized crop + flip (one affine grid) and brightness/contrast
    jitter, as in src/augment.rs."""
    n = x.shape[0]
    area = torch.rand(n, device=x.device) * (scale[1] - scale[0]) + scale[0]
    r = torch.exp(torch.rand(n, device=x.device) * (math.log(ratio[1]) - math.log(ratio[0])) + math.log(ratio[0]))
    w = (area * r).sqrt().clamp(max=1); h = (area / r).sqrt().clamp(max=1)
    cx = (torch.rand(n, device=x.device) * 2 - 1) * (1 - w)
    cy = (torch.rand(n, device=x.device) * 2 - 1) * (1 - h)
    flip = 1 - 2 * (torch.rand(n, device=x.device) < flip_p).float()
    z = torch.zeros(n, device=x.device)
    theta = torch.stack([w * flip, z, cx, z, h, cy], 1).view(n, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    on = (torch.rand(n, device=x.device) < jitter_p).float().view(n, 1, 1, 1)
    bf = (torch.rand(n, device=x.device) * 2 * b + 1 - b).view(n, 1, 1, 1)
    j = (y * bf).clamp(0, 1)
    cf = (torch.rand(n, device=x.device) * 2 * c + 1 - c).view(n, 1, 1, 1)
    m = j.mean((1, 2, 3), keepdim=True)
    j = ((j - m) * cf + m).clamp(0, 1)
    return on * j + (1 - on) * y


def nt_xent(z1, z2, t):
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    s = z @ z.T / t
    s.fill_diagonal_(float("-inf"))
    n = z1.shape[0]
    tgt = (torch.arange(2 * n, device=z.device) + n) % (2 * n)
    return F.cross_entropy(s, tgt)


def timed(fn, warmup=3, n=steps):
    for _ in range(warmup):
        fn()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / n


x = (torch.rand(batch, 1, 28, 28, device=dev) * 255).to(torch.uint8)
y = torch.randint(0, 10, (batch,), device=dev)

enc = ConvNet().to(dev); head = nn.Linear(enc.out, 10).to(dev)
opt = torch.optim.AdamW(list(enc.parameters()) + list(head.parameters()), lr=1e-3, weight_decay=1e-4)
def sup_step():
    xf = x.float() / 255
    loss = F.cross_entropy(head(enc(xf)), y)
    opt.zero_grad(); loss.backward(); opt.step(); loss.item()
s = timed(sup_step)
print(f"pytorch supervised convnet step: {s * 1e3:.2f} ms, {batch / s:.0f} img/s")

enc = ConvNet().to(dev); proj = projector(enc.out).to(dev)
opt = torch.optim.AdamW(list(enc.parameters()) + list(proj.parameters()), lr=1e-3, weight_decay=1e-4)
def simclr_step():
    xf = x.float() / 255
    v1, v2 = augment(xf), augment(xf)
    loss = nt_xent(proj(enc(v1)), proj(enc(v2)), 0.2)
    opt.zero_grad(); loss.backward(); opt.step(); loss.item()
s = timed(simclr_step)
print(f"pytorch simclr step: {s * 1e3:.2f} ms, {batch / s:.0f} img/s")

try:
    from torchvision.transforms import v2 as T
    tf = T.Compose([T.RandomResizedCrop(28, scale=(0.2, 1.0), antialias=True), T.RandomHorizontalFlip(),
                    T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4)], p=0.8), T.RandomGrayscale(0.2)])
    xf = (x.float() / 255).cpu()
    def per_sample():
        out = [torch.stack([tf(im), tf(im)]) for im in xf]
        return torch.stack(out).sum().item()
    s = timed(per_sample, warmup=1, n=min(steps, 5))
    print(f"torchvision per-sample two-view augmentation (cpu): {batch / s:.0f} img/s")
except ImportError as e:
    print(f"torchvision not available ({e}); per-sample augmentation comparison skipped")
xf = x.float() / 255
s = timed(lambda: (augment(xf).sum() + augment(xf).sum()).item())
print(f"pytorch batched two-view augmentation: {batch / s:.0f} img/s")
