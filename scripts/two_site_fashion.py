"""Writes a two-site Fashion-MNIST as a CSV manifest of PNGs, for the
worst-group suite (experiments/worst_group.yaml): the first 10,000 training
and 4,000 test images of the Debian package, each assigned to site A (80 %)
or site B (20 %, drawn by random.Random(0) independently of the class). Site
B stands for a second scanner: contrast halved around grey 64
(x -> 0.5 x + 64) and Gaussian noise of 20 grey levels, clipped to 0..255.

Usage: python3 scripts/two_site_fashion.py OUT_DIR   (writes OUT_DIR/two_site/)
Only the standard library: the PNGs are written with zlib.
"""
import gzip, os, random, struct, sys, zlib

SRC = "/usr/share/datasets/fashion-mnist"
N = {"train": 10000, "test": 4000}
FILES = {"train": "train", "test": "t10k"}


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    return shape, data[4 + 4 * dims :]


def png(w, h, pixels):
    rows = b"".join(b"\x00" + bytes(pixels[y * w : (y + 1) * w]) for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    head = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def main(out):
    root = os.path.join(out, "two_site")
    site_rng, noise_rng = random.Random(0), random.Random(1)
    lines = ["path,label,split,site"]
    for split, n in N.items():
        os.makedirs(os.path.join(root, "img", split), exist_ok=True)
        (_, h, w), images = idx(os.path.join(SRC, f"{FILES[split]}-images-idx3-ubyte.gz"))
        _, labels = idx(os.path.join(SRC, f"{FILES[split]}-labels-idx1-ubyte.gz"))
        for i in range(n):
            px = list(images[i * h * w : (i + 1) * h * w])
            site = "B" if site_rng.random() < 0.2 else "A"
            if site == "B":
                px = [min(255, max(0, round(0.5 * p + 64 + noise_rng.gauss(0, 20)))) for p in px]
            rel = f"img/{split}/{i:05d}.png"
            with open(os.path.join(root, rel), "wb") as f:
                f.write(png(w, h, px))
            lines.append(f"{rel},{labels[i]},{split},{site}")
    with open(os.path.join(root, "manifest.csv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{root}/manifest.csv: {len(lines) - 1} images")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
