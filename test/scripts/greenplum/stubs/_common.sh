# shellcheck shell=bash disable=SC2034
# Shared by the stand-ins: records "<name> <argv...>" to $STUB_LOG and reads per-command
# settings STUB_<NAME>_RC / STUB_<NAME>_OUT from the environment.
STUB_NAME="$(basename "$0")"
STUB_VAR="$(printf '%s' "$STUB_NAME" | tr 'a-z-' 'A-Z_')"
stub_log() { printf '%s\n' "$*" >>"${STUB_LOG:-/dev/null}"; }
stub_log "$STUB_NAME $*"
stub_rc() {
  local v="STUB_${STUB_VAR}_RC"
  printf '%s' "${!v:-${1:-0}}"
}
stub_out() {
  local v="STUB_${STUB_VAR}_OUT"
  if [[ -n "${!v:-}" ]]; then printf '%s\n' "${!v}"; fi
}
