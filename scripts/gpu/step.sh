# Sourced by the GPU scripts (run.sh, verify_cp.sh): step NAME CMD... runs, times
# and records one step in `summary` and sets `failed`; it never exits the script,
# so one broken step costs only itself.
declare -a summary=()
failed=0
step() {
  local name=$1
  shift
  echo
  echo "=== $name: $* ($(date -u +%H:%M:%S))"
  local t0=$SECONDS
  "$@"
  local rc=$?
  local line="$name: $([ $rc = 0 ] && echo ok || echo "FAILED (rc $rc)") in $((SECONDS - t0)) s"
  summary+=("$line")
  echo "=== $line"
  [ $rc = 0 ] || failed=1
  return $rc
}
