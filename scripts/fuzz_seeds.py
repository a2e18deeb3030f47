"""Seed corpora for the fuzz targets (scripts/fuzz.sh): small valid inputs of
each format, so libFuzzer starts from the interesting structure."""
import gzip, io, os, struct, sys, glob, random

root = sys.argv[1]
rng = random.Random(0)
def put(target, name, data):
    d = os.path.join(root, target); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name), "wb").write(data)

for p in glob.glob("experiments/*.yaml") + glob.glob("scripts/gpu-check/*.yaml"):
    put("spec", os.path.basename(p), open(p, "rb").read())

def idx(dims, data, dtype=0x08):
    return bytes([0, 0, dtype, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data
for n, h, w in [(1, 1, 1), (3, 4, 4), (2, 28, 28)]:
    imgs = idx([n, h, w], bytes(rng.randrange(256) for _ in range(n * h * w)))
    put("idx", f"images_{n}x{h}x{w}", imgs)
    put("idx", f"images_{n}x{h}x{w}.gz", gzip.compress(imgs))
    put("idx", f"labels_{n}", idx([n], bytes(rng.randrange(10) for _ in range(n))))

for variant, lab in [("10", 1), ("100", 2)]:
    rec = bytes(rng.randrange(10) for _ in range(lab)) + bytes(rng.randrange(256) for _ in range(3072))
    put("cifar", f"cifar{variant}_1", rec)
    put("cifar", f"cifar{variant}_2", rec * 2)

from PIL import Image
for mode, size in [("L", (28, 28)), ("RGB", (32, 32)), ("RGBA", (8, 8)), ("L", (1, 1))]:
    im = Image.new(mode, size)
    im.putdata([tuple(rng.randrange(256) for _ in mode) if len(mode) > 1 else rng.randrange(256) for _ in range(size[0] * size[1])])
    for fmt in ["PNG", "JPEG"]:
        if fmt == "JPEG" and mode == "RGBA":
            continue
        b = io.BytesIO(); im.save(b, fmt); put("image", f"{mode}_{size[0]}x{size[1]}.{fmt.lower()}", b.getvalue())
