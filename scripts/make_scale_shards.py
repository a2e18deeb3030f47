"""Scale-test data for docs/benchmarks.md: N images of SIZE×SIZE RGB as
webdataset tar shards of 10,000 samples each (`train-NNNNNN.tar`, the last
10 % of shards `test-NNNNNN.tar`), PNG members with `.cls` labels, written by
`webdataset.TarWriter`. Ten classes, each a coloured shape at a random place
and scale on a textured background with noise, so the classifiers have
something to learn (accuracy is not the point; memory and time are).

    python scripts/make_scale_shards.py OUT_DIR N [SIZE=32]
"""
import io
import os
import sys
from multiprocessing import Pool

import numpy as np
from PIL import Image, ImageDraw

PER_SHARD = 10_000


def image(rng, label, size):
    bg = rng.integers(0, 256, size=3)
    a = np.clip(bg + rng.normal(0, 25, size=(size, size, 3)), 0, 255).astype(np.uint8)
    im = Image.fromarray(a)
    d = ImageDraw.Draw(im)
    colour = tuple(int(c) for c in (np.array([(label * 73) % 256, (label * 151) % 256, (label * 211) % 256]) + rng.integers(-30, 30, 3)).clip(0, 255))
    r = int(size * rng.uniform(0.2, 0.4))
    cx, cy = rng.integers(r, size - r, 2)
    box = [cx - r, cy - r, cx + r, cy + r]
    kind = label % 5
    if kind == 0:
        d.ellipse(box, fill=colour)
    elif kind == 1:
        d.rectangle(box, fill=colour)
    elif kind == 2:
        d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    elif kind == 3:
        d.line([(cx - r, cy - r), (cx + r, cy + r)], fill=colour, width=max(2, r // 2))
    else:
        d.line([(cx - r, cy), (cx + r, cy)], fill=colour, width=max(2, r // 2))
        d.line([(cx, cy - r), (cx, cy + r)], fill=colour, width=max(2, r // 2))
    return im


def shard(args):
    import webdataset as wds

    out, index, n_shards, size = args
    split = "test" if index >= n_shards - max(1, n_shards // 10) else "train"
    rng = np.random.default_rng(index)
    path = os.path.join(out, f"{split}-{index:06d}.tar")
    with wds.TarWriter(path) as w:
        for i in range(PER_SHARD):
            label = int(rng.integers(0, 10))
            buf = io.BytesIO()
            image(rng, label, size).save(buf, format="PNG", compress_level=1)
            w.write({"__key__": f"{index:06d}{i:05d}", "png": buf.getvalue(), "cls": label})
    return path


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 32
    os.makedirs(out, exist_ok=True)
    n_shards = n // PER_SHARD
    with Pool(os.cpu_count()) as p:
        for path in p.imap_unordered(shard, [(out, i, n_shards, size) for i in range(n_shards)]):
            pass
    print(f"{n_shards * PER_SHARD} images in {n_shards} shards under {out}")


if __name__ == "__main__":
    main()
