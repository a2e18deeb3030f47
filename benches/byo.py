"""The fixture TorchScript CNN's forward over 10,000 images in PyTorch Python
(torch.no_grad, batch 256, the same preprocessing and images as benches/byo.rs),
for the side-by-side comparison in scripts/bench_byo.sh."""
import os, time
import torch

here = os.path.dirname(os.path.abspath(__file__))
m = torch.jit.load(os.path.join(here, "..", "tests", "fixtures", "byo", "small_cnn.ts.pt"))
m.eval()
n = 10_000
images = (torch.arange(n * 784) % 251).to(torch.uint8).view(n, 1, 28, 28)

def embed(x):
    out = []
    with torch.no_grad():
        for i in range(0, len(x), 256):
            b = x[i:i + 256].float() / 255
            out.append(m((b - 0.2860) / 0.3530))
    return torch.cat(out)

embed(images[:512])
best = float("inf")
for _ in range(3):
    t = time.perf_counter()
    f = embed(images)
    best = min(best, time.perf_counter() - t)
assert f.shape == (n, 128)
print(f"python_threads: {torch.get_num_threads()}")
print(f"python_torch: {torch.__version__}")
print(f"python_10k_s: {best:.3f}")
print(f"python_img_per_s: {n / best:.0f}")
