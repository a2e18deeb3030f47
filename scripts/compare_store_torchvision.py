"""The image store's pixels against torchvision's for the same photos
(docs/datasets.md, docs/benchmarks.md): ImageFolder + Resize(RESIZE) +
CenterCrop(SIZE) + PILToTensor over N photos spread over the train part,
against the rows of the store's `train.u8` (both list classes and files in
sorted order); prints the mean absolute difference in grey levels.

    python scripts/compare_store_torchvision.py PHOTOS_ROOT STORE/train.u8 SIZE RESIZE N
"""
import sys, numpy as np, torch
from torchvision import datasets, transforms as T
root, store, size, resize, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
ds = datasets.ImageFolder(root + "/train", transform=T.Compose([T.Resize(resize), T.CenterCrop(size), T.PILToTensor()]))
a = np.memmap(store, dtype=np.uint8, mode="r").reshape(-1, 3, size, size)
# ImageFolder sorts classes and files; the store lists train the same way.
idx = np.linspace(0, len(ds) - 1, n).astype(int)
d = [np.abs(a[i].astype(int) - ds[i][0].numpy().astype(int)).mean() for i in idx]
print(f"{size}x{size}: mean |difference| to torchvision over {n} photos: {np.mean(d):.3f} grey levels (max per photo {np.max(d):.3f})")
