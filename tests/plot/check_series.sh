#!/usr/bin/env bash
# Runs tests/plot/test_series.py (the scaling chart's series keys) with the first Python
# that has matplotlib, as scripts/plot picks it. Exit 77 (ctest: skipped) without one.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for py in ${CPB_PYTHON:-} python3 /usr/bin/python3; do
  if command -v "$py" >/dev/null 2>&1 && "$py" -c "import matplotlib" >/dev/null 2>&1; then
    exec "$py" "$here/test_series.py"
  fi
done
echo "SKIP: no Python with matplotlib"
exit 77
