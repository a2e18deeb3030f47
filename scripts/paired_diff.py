#!/usr/bin/env python3
"""Paired difference of two representations within one seed, from a run
directory's details.json: for accuracy (the per-example `test_correct` bitsets)
the difference A - B, a paired bootstrap 95 % CI (2,000 resamples, seed 0) and
McNemar's exact p; for a score stored per image (`per_image`, e.g. the attention
maps' `attention_foreground`) the mean difference over the images both scored, the
same bootstrap CI and a paired t-test's p (normal approximation; hundreds of
images). For comparisons the report does not make (it compares each
representation with its evaluation's leader), e.g. a method against its floor.

usage: scripts/paired_diff.py RUN_DIR EVALUATION A B [SEED] [--b-run OTHER_RUN_DIR]

--b-run reads B from another run's details.json (e.g. the same representation
before and after a change of default). The pairing is by test-image index, so
both runs must have drawn the same test split (same dataset, sizes and seed).
"""
import base64, json, math, random, sys


def cell(details, rep, ev, seed):
    for c in details:
        if c["representation"] == rep and c["evaluation"] == ev and c["seed"] == seed:
            return c["details"]
    sys.exit(f"no cell {rep} / {ev} / seed {seed} in details.json")


def bits(d, rep):
    if not d.get("test_correct"):
        sys.exit(f"{rep}: no test_correct in its details")
    raw = base64.b64decode(d["test_correct"])
    n = d.get("test_images") or len(raw) * 8
    return [(raw[i // 8] >> (i % 8)) & 1 for i in range(n)]


def scores(ev, a, b, x, y):
    """Per-image scores: mean difference, bootstrap CI, paired t p."""
    (metric, xs), = x["per_image"].items()
    ys = y["per_image"][metric]
    if len(xs) != len(ys):
        sys.exit(f"{a} and {b} were scored on different numbers of images ({len(xs)} vs {len(ys)})")
    d = [u - v for u, v in zip(xs, ys) if u is not None and v is not None]
    n = len(d)
    mean = sum(d) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in d) / (n - 1))
    rng = random.Random(0)
    boots = sorted(sum(d[rng.randrange(n)] for _ in range(n)) / n for _ in range(2000))
    p = math.erfc(abs(mean / (sd / math.sqrt(n))) / math.sqrt(2)) if sd > 0 else float("nan")
    print(f"{ev} {metric}: {a} - {b} = {mean:+.4f}, 95 % CI [{boots[49]:+.4f}, {boots[1949]:+.4f}], paired t p = {p:.2g} ({n} images both scored of {len(xs)})")


def main():
    args = sys.argv[1:]
    b_run = None
    if "--b-run" in args:
        i = args.index("--b-run")
        b_run = args[i + 1]
        del args[i : i + 2]
    run, ev, a, b = args[:4]
    seed = int(args[4]) if len(args) > 4 else 0
    details = json.load(open(f"{run}/details.json"))
    b_details = json.load(open(f"{b_run}/details.json")) if b_run else details
    cx, cy = cell(details, a, ev, seed), cell(b_details, b, ev, seed)
    if b_run:
        b = f"{b} (from {b_run})"
    if cx.get("per_image") and cy.get("per_image"):
        return scores(ev, a, b, cx, cy)
    x, y = bits(cx, a), bits(cy, b)
    if len(x) != len(y):
        sys.exit(f"{a} and {b} were tested on different numbers of images ({len(x)} vs {len(y)})")
    n = len(x)
    diff = (sum(x) - sum(y)) / n
    rng = random.Random(0)
    boots = sorted(sum(x[i] - y[i] for i in (rng.randrange(n) for _ in range(n))) / n for _ in range(2000))
    lo, hi = boots[49], boots[1949]
    nb, nc = sum(1 for i in range(n) if x[i] and not y[i]), sum(1 for i in range(n) if y[i] and not x[i])
    k, m = min(nb, nc), nb + nc
    p = 1.0 if m == 0 else min(1.0, 2 * sum(math.comb(m, j) for j in range(k + 1)) / 2**m)
    print(f"{ev}: {a} - {b} = {diff:+.4f}, 95 % CI [{lo:+.4f}, {hi:+.4f}], McNemar p = {p:.2g} ({nb} vs {nc} discordant, {n} images)")


main()
