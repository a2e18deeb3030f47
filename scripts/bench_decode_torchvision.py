"""torchvision's side of the decode benchmark (docs/benchmarks.md): every image
of an ImageFolder dataset (train and test) through ImageFolder + Resize(r) +
CenterCrop(s) + PILToTensor in a DataLoader with num_workers=2, batch 256;
prints images/s.

    python scripts/bench_decode_torchvision.py ROOT SIZE RESIZE
"""
import sys
import time

import torch
from torch.utils.data import ConcatDataset, DataLoader
from torchvision import datasets, transforms as T


def main():
    root, size, resize = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    tf = T.Compose([T.Resize(resize), T.CenterCrop(size), T.PILToTensor()])
    ds = ConcatDataset([datasets.ImageFolder(f"{root}/{s}", transform=tf) for s in ("train", "test")])
    loader = DataLoader(ds, batch_size=256, num_workers=2, shuffle=False)
    t = time.perf_counter()
    n = 0
    for x, _ in loader:
        n += x.shape[0]
    secs = time.perf_counter() - t
    print(f"torchvision {size}x{size} (Resize({resize})): {n} images in {secs:.1f} s, {n / secs:.0f} images/s (torch {torch.__version__})")


if __name__ == "__main__":
    main()
