"""PyTorch reference for repbench's ViT: the same architecture (patch 4, 64-d, 4
pre-norm blocks, 4 heads, CLS token, learned positions, final LayerNorm), the same
supervised schedule (AdamW lr 1e-3, wd 0.05 on matrices only, batch 128, one epoch
of linear warm-up then cosine) on a 4k-image Fashion-MNIST subset, no augmentation.
Used to check that the slow start of small ViTs at CPU budgets is the architecture's,
not a bug of ours (docs/benchmarks.md, "DINO at small scale").

    python3 tests/reference/vit_supervised.py [epochs]   # needs torch==2.11.0
"""
import gzip, math, sys, time, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
torch.manual_seed(0); torch.set_num_threads(1)
def idx(p):
    b = gzip.open(p).read(); nd = b[3]; dims = [int.from_bytes(b[4+4*i:8+4*i], 'big') for i in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4+4*nd).reshape(dims)
d = '/usr/share/datasets/fashion-mnist/'
X = idx(d+'train-images-idx3-ubyte.gz'); Y = idx(d+'train-labels-idx1-ubyte.gz')
Xt = idx(d+'t10k-images-idx3-ubyte.gz'); Yt = idx(d+'t10k-labels-idx1-ubyte.gz')
rng = np.random.default_rng(0); i = rng.permutation(60000)[:4000]; it = rng.permutation(10000)[:2000]
x = torch.tensor(X[i]).float().div(255).unsqueeze(1); y = torch.tensor(Y[i]).long()
xt = torch.tensor(Xt[it]).float().div(255).unsqueeze(1); yt = torch.tensor(Yt[it]).long()
m, s = x.mean(), x.std(); x = (x-m)/s; xt = (xt-m)/s
D, depth, H, P = 64, 4, 4, 4
def lin(i, o):
    l = nn.Linear(i, o); nn.init.trunc_normal_(l.weight, std=.02); nn.init.zeros_(l.bias); return l
class Block(nn.Module):
    def __init__(s):
        super().__init__(); s.ln1 = nn.LayerNorm(D); s.qkv = lin(D, 3*D); s.proj = lin(D, D); s.ln2 = nn.LayerNorm(D); s.fc1 = lin(D, 4*D); s.fc2 = lin(4*D, D)
    def forward(s, x):
        B, N, _ = x.shape
        q, k, v = s.qkv(s.ln1(x)).reshape(B, N, 3, H, D//H).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, N, D)
        x = x + s.proj(a)
        return x + s.fc2(F.gelu(s.fc1(s.ln2(x))))
class ViT(nn.Module):
    def __init__(s):
        super().__init__(); s.pe = nn.Conv2d(1, D, P, P); s.cls = nn.Parameter(torch.randn(1,1,D)*.02); s.pos = nn.Parameter(torch.randn(1, 50, D)*.02)
        s.blocks = nn.ModuleList([Block() for _ in range(depth)]); s.norm = nn.LayerNorm(D); s.head = nn.Linear(D, 10)
    def forward(s, x):
        t = s.pe(x).flatten(2).transpose(1, 2)
        t = torch.cat([s.cls.expand(len(x), -1, -1), t], 1) + s.pos
        for b in s.blocks: t = b(t)
        return s.head(s.norm(t)[:, 0])
net = ViT()
decay = [p for p in net.parameters() if p.dim() > 1]; nodecay = [p for p in net.parameters() if p.dim() <= 1]
opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.05}, {'params': nodecay, 'weight_decay': 0.0}], lr=1e-3)
bs, epochs = 128, int(sys.argv[1]) if len(sys.argv) > 1 else 4
spe = len(x)//bs; total = spe*epochs; warm = spe
step = 0
for e in range(epochs):
    perm = torch.randperm(len(x)); tot = 0
    for j in range(spe):
        lr = 1e-3*(step+1)/warm if step < warm else 1e-3*0.5*(1+math.cos(math.pi*(step-warm)/(total-warm)))
        for g in opt.param_groups: g['lr'] = lr
        b = perm[j*bs:(j+1)*bs]; loss = F.cross_entropy(net(x[b]), y[b])
        opt.zero_grad(); loss.backward(); opt.step(); tot += loss.item(); step += 1
    with torch.no_grad(): acc = (net(xt).argmax(1) == yt).float().mean().item()
    print(f"epoch {e+1}: loss {tot/spe:.3f}, test acc {acc:.3f}", flush=True)
