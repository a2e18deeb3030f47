"""Benchmark photos for docs/benchmarks.md ("decode + resize + crop"):
N JPEGs of about 500×375 (quality 90) in the ImageFolder layout, 10 classes,
90 % train / 10 % test, cut from scikit-image's sample photos with random
crops, scales, flips and colour gains, so they hold photo content (not noise
or flat colour, which JPEG would code unrealistically small or large).

    python scripts/make_bench_photos.py OUT_DIR [N=20000]
"""
import os
import sys
from multiprocessing import Pool

import numpy as np
from PIL import Image
from skimage import data

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "cat", "immunohistochemistry", "motorcycle_left", "hubble_deep_field"]


def sources():
    out = []
    for name in PHOTOS:
        try:
            a = getattr(data, name)()
        except Exception:
            continue
        if a.ndim == 3 and a.shape[2] == 3:
            out.append(Image.fromarray(a))
    return out


SRC = None


def make(args):
    out, i, n = args
    global SRC
    if SRC is None:
        SRC = sources()
    rng = np.random.default_rng(i)
    im = SRC[i % len(SRC)]
    w, h = im.size
    cw = int(w * rng.uniform(0.5, 1.0))
    ch = int(cw * 375 / 500)
    ch = min(ch, h)
    x0, y0 = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
    tile = im.crop((x0, y0, x0 + cw, y0 + ch)).resize((500, 375), Image.BILINEAR)
    if rng.random() < 0.5:
        tile = tile.transpose(Image.FLIP_LEFT_RIGHT)
    gain = rng.uniform(0.8, 1.2, size=3)
    arr = np.clip(np.asarray(tile, dtype=np.float32) * gain, 0, 255).astype(np.uint8)
    split = "test" if (i // 10) % 10 == 9 else "train"
    d = os.path.join(out, split, f"class{i % 10}")
    os.makedirs(d, exist_ok=True)
    Image.fromarray(arr).save(os.path.join(d, f"{i:07d}.jpg"), quality=90)


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    with Pool(os.cpu_count()) as p:
        p.map(make, [(out, i, n) for i in range(n)], chunksize=64)
    print(f"{n} photos under {out}")


if __name__ == "__main__":
    main()
