#!/usr/bin/env python3
"""Fails when an #include points up the dependency stack.

The layers (DESIGN.md): common <- masks <- kernels <- parallel <- model <- bench -> reports.
reports/ may read masks/ plain data (a mask spec goes into reports) but nothing
that runs attention or communication.
"""
import pathlib
import re
import sys

ALLOWED = {
    "common": {"common"},
    "masks": {"common", "masks"},
    "kernels": {"common", "masks", "kernels"},
    "parallel": {"common", "masks", "kernels", "parallel"},
    "model": {"common", "masks", "kernels", "parallel", "model"},
    "reports": {"common", "masks", "reports"},
    "bench": {"common", "masks", "kernels", "parallel", "model", "reports", "bench"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def main(root: pathlib.Path) -> int:
    bad = []
    for layer, allowed in ALLOWED.items():
        for path in sorted((root / layer).rglob("*")):
            if path.suffix not in {".h", ".cc", ".cu", ".cuh", ".cpp"}:
                continue
            for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                target = m.group(1).split("/")[0]
                if target in ALLOWED and target not in allowed:
                    bad.append(f"{path.relative_to(root)}:{lineno}: {layer}/ may not include "
                               f"'{m.group(1)}' ({layer} sees only {sorted(allowed)})")
    for b in bad:
        print(b)
    print(f"include direction: {len(bad)} violation(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()))
