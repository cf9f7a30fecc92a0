#!/usr/bin/env bash
# Fails when a tracked C++/CUDA file differs from what clang-format (repo .clang-format) makes of it.
set -euo pipefail
cd "${1:-.}"
fmt=$(command -v clang-format || command -v clang-format-14 || true)
if [ -z "$fmt" ]; then
  echo "clang-format not found: install the clang-format package (scripts/setup.sh does)" >&2
  exit 1
fi
mapfile -t files < <(git ls-files '*.h' '*.cc' '*.cu' '*.cuh' '*.cpp' 2>/dev/null || true)
if [ ${#files[@]} -eq 0 ]; then
  mapfile -t files < <(find common masks kernels parallel bench reports tests \
                        \( -name '*.h' -o -name '*.cc' -o -name '*.cu' -o -name '*.cuh' \) 2>/dev/null)
fi
bad=0
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  if ! "$fmt" --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f  (fix: clang-format -i $f)"
    bad=$((bad + 1))
  fi
done
echo "format check: ${#files[@]} file(s), $bad not formatted"
[ "$bad" -eq 0 ]
