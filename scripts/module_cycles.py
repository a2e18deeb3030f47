#!/usr/bin/env python3
"""Fails when two top-level modules of src/ depend on each other, directly or
through others (issue 33: dependencies point down). A module's dependencies are
the `crate::<module>` paths in its non-test code (text before `#[cfg(test)]`)."""
import os
import re
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
deps = {}
for folder, _, files in os.walk(root):
    for f in files:
        if not f.endswith(".rs"):
            continue
        path = os.path.join(folder, f)
        top = os.path.relpath(path, root).split(os.sep)[0].removesuffix(".rs")
        if top in ("main", "lib", "cli"):
            continue
        text = open(path, encoding="utf-8").read().split("#[cfg(test)]")[0]
        for m in re.findall(r"crate::([a-z_0-9]+)", text):
            if m != top:
                deps.setdefault(top, set()).add(m)


def reaches(a, b, seen):
    for n in deps.get(a, ()):
        if n == b or (n not in seen and not seen.add(n) and reaches(n, b, seen)):
            return True
    return False


cycles = sorted({tuple(sorted((a, b))) for a in deps for b in deps[a] if reaches(b, a, set())})
if cycles:
    print("module cycles between top-level folders of src/:", ", ".join(f"{a} <-> {b}" for a, b in cycles))
    sys.exit(1)
print(f"no module cycle among {len(deps)} top-level modules of src/")
