#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# readinessProbe: bash /opt/greenplum-k8s/scripts/readiness.sh
# Exit 0 when this pod can do its job, 1 otherwise; prints one line saying why.
#   acting master: SQL answers and every content 0..N-1 has an up primary (a failed-over but
#                  serving cluster stays ready; mirror resync is the supervisor's job)
#   other master:  its standby postmaster answers (pg_isready exit 0 or 1)
#   segments:      their postmaster answers (pg_isready exit 0 or 1)
set -euo pipefail

GPK_COMPONENT=readiness
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ready() {
  echo "ready: $*"
  exit 0
}
not_ready() {
  echo "not ready: $*"
  exit 1
}

# pg_isready: 0 accepting, 1 rejecting (a standby or mirror in recovery), 2 no response.
postmaster_answers() {
  local rc=0
  pg_isready -q -p "$1" -t 3 >/dev/null 2>&1 || rc=$?
  ((rc == 0 || rc == 1))
}

check_acting_master() {
  local up
  up="$(GP_PSQL_CONNECT_TIMEOUT=3 gpk_psql 2>/dev/null <<<"-- gpk:ready-primaries
SELECT count(DISTINCT content) FROM gp_segment_configuration
WHERE content >= 0 AND role = 'p' AND status = 'u';")" || not_ready "acting master $(gpk_self): SQL does not answer on port ${GP_MASTER_PORT}"
  up="${up//[[:space:]]/}"
  if [[ "$up" == "$GP_PRIMARY_SEGMENT_COUNT" ]]; then
    ready "acting master $(gpk_self): SQL answers, ${up}/${GP_PRIMARY_SEGMENT_COUNT} contents have an up primary"
  fi
  not_ready "acting master $(gpk_self): only ${up:-0}/${GP_PRIMARY_SEGMENT_COUNT} contents have an up primary"
}

main() {
  gpk_init_env
  gpk_export_gp_env
  local port
  port="$(gpk_own_port)"
  if [[ "$GP_SET" == master ]]; then
    if gpk_is_acting_master; then
      check_acting_master
    fi
    postmaster_answers "$port" && ready "standby master $(gpk_self): postmaster answers on port ${port}"
    not_ready "master pod $(gpk_self) is not the acting master (ConfigMap: '$(gpk_acting_master)') and no standby postmaster answers on port ${port}"
  fi
  postmaster_answers "$port" && ready "${GP_SET} $(gpk_self): postmaster answers on port ${port}"
  not_ready "${GP_SET} $(gpk_self): no postmaster answers on port ${port}"
}

main "$@"
