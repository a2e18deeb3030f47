"""Writes the tiny 8x8, 3-class IDX dataset the reliability and Slurm scripts
use (the same images as tests/common/mod.rs's idea: a row band, a column band
or a diagonal, plus noise) into DIR/tiny. Usage: python3 scripts/tiny_dataset.py DIR"""
import os, random, struct, sys

d = os.path.join(sys.argv[1], "tiny"); os.makedirs(d, exist_ok=True)
r = random.Random(0)
def idx(name, dims, data):
    open(os.path.join(d, name), "wb").write(bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", x) for x in dims) + bytes(data))
def images(n):
    out = []
    for i in range(n):
        c = i % 3
        for y in range(8):
            for x in range(8):
                on = (3 <= y < 5) if c == 0 else (3 <= x < 5) if c == 1 else (x == y)
                out.append(200 if on else r.randrange(40))
    return out
idx("train-images-idx3-ubyte", [240, 8, 8], images(240)); idx("train-labels-idx1-ubyte", [240], [i % 3 for i in range(240)])
idx("t10k-images-idx3-ubyte", [60, 8, 8], images(60)); idx("t10k-labels-idx1-ubyte", [60], [i % 3 for i in range(60)])
