#!/usr/bin/env python3
"""Paired difference of two representations' test accuracy within one seed, from a
run directory's details.json (the per-example `test_correct` bitsets): the
difference A - B, a paired bootstrap 95 % CI (2,000 resamples, seed 0) and
McNemar's exact p. For comparisons the report does not make (it compares each
representation with its evaluation's leader), e.g. a method against its floor.

usage: scripts/paired_diff.py RUN_DIR EVALUATION A B [SEED] [--b-run OTHER_RUN_DIR]

--b-run reads B from another run's details.json (e.g. the same representation
before and after a change of default). The pairing is by test-image index, so
both runs must have drawn the same test split (same dataset, sizes and seed).
"""
import base64, json, math, random, sys


def bits(details, rep, ev, seed):
    for c in details:
        if c["representation"] == rep and c["evaluation"] == ev and c["seed"] == seed:
            d = c["details"]
            raw = base64.b64decode(d["test_correct"])
            n = d.get("test_images") or len(raw) * 8
            return [(raw[i // 8] >> (i % 8)) & 1 for i in range(n)]
    sys.exit(f"no cell {rep} / {ev} / seed {seed} with test_correct in details.json")


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
    x, y = bits(details, a, ev, seed), bits(b_details, b, ev, seed)
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
    if b_run:
        b = f"{b} (from {b_run})"
    print(f"{ev}: {a} - {b} = {diff:+.4f}, 95 % CI [{lo:+.4f}, {hi:+.4f}], McNemar p = {p:.2g} ({nb} vs {nc} discordant, {n} images)")


main()
