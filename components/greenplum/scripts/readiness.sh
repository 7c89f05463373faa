#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# readinessProbe: bash /opt/greenplum-k8s/scripts/readiness.sh
# Exit 0 when this pod can do its job, 1 otherwise; prints one line saying why.
#   acting master: the first init finished, SQL answers and every content 0..N-1 has an up
#                  primary (a failed-over but serving cluster stays ready; mirror resync is
#                  the supervisor's job)
#   standby master and mirrors: pg_isready exit 64 (PQPING_MIRROR_READY) and this pod's wal
#                  receiver runs, i.e. it is connected to the instance it replicates
#   segments:      pg_isready exit 0 (an acting primary, including a promoted mirror), or as a
#                  mirror above (a primary that came back as a mirror after a failover)
#
# pg_isready exit codes in GP6 (libpq fe-connect.c internal_ping, pg_isready.c):
#   0  PQPING_OK: accepting connections (also "too many clients": any SQLSTATE but the two below)
#   1  PQPING_REJECT: ERRCODE_CANNOT_CONNECT_NOW: starting up, crash recovery, shutting down
#   2  PQPING_NO_RESPONSE, 3 PQPING_NO_ATTEMPT
#   64 PQPING_MIRROR_READY: ERRCODE_MIRROR_READY, sent once the postmaster has launched a wal
#      receiver (postmaster.c MaybeStartWalReceiver -> SetMirrorReadyFlag, canAcceptConnections)
# Exit 64 says the wal receiver was launched at least once, not that it is connected: the wal
# receiver process exits when its connection fails (walreceiver.c) and is relaunched, so its
# presence is checked too. Its "streaming X/Y" title appears only once WAL arrives, so an idle
# link is recognised by the process ("postgres: <port>, wal receiver process"), not the title.
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

pg_isready_rc() {
  local rc=0
  pg_isready -q -p "$1" -t 3 >/dev/null 2>&1 || rc=$?
  echo "$rc"
}

# What a pg_isready exit code means, for the message.
describe_rc() {
  case "$1" in
  0) echo "accepting connections" ;;
  1) echo "rejecting connections (starting up, in recovery or shutting down)" ;;
  2) echo "no response" ;;
  64) echo "mirror ready" ;;
  *) echo "pg_isready exit $1" ;;
  esac
}

check_acting_master() {
  local up state
  # Ready only once the first init is done: after gpinitsystem come the standby, the password,
  # the client lines of pg_hba.conf and the database; before them an app is refused ("no
  # pg_hba.conf entry"), and pulumi up, which waits for this, would return too early. A
  # promoted standby has no init state of its own and is judged by SQL alone.
  state="$(gpk_read_init_state)"
  case "$state" in
  gpinitsystem-started | gpinitsystem-done) not_ready "acting master $(gpk_self): the first init is not finished (${state}): the standby, password, client pg_hba lines and database come next" ;;
  esac
  up="$(GP_PSQL_CONNECT_TIMEOUT=3 gpk_psql 2>/dev/null <<<"-- gpk:ready-primaries
SELECT count(DISTINCT content) FROM gp_segment_configuration
WHERE content >= 0 AND role = 'p' AND status = 'u';")" || not_ready "acting master $(gpk_self): SQL does not answer on port ${GP_MASTER_PORT}"
  up="${up//[[:space:]]/}"
  if [[ "$up" == "$GP_PRIMARY_SEGMENT_COUNT" ]]; then
    ready "acting master $(gpk_self): SQL answers, ${up}/${GP_PRIMARY_SEGMENT_COUNT} contents have an up primary"
  fi
  not_ready "acting master $(gpk_self): only ${up:-0}/${GP_PRIMARY_SEGMENT_COUNT} contents have an up primary"
}

# A replica (standby master or mirror) is ready when it reports mirror-ready and its wal
# receiver is connected.
check_replica() {
  local what="$1" port="$2" rc="$3"
  if [[ "$rc" != 64 ]]; then
    not_ready "${what}: postmaster on port ${port}: $(describe_rc "$rc")"
  fi
  if ! gpk_walreceiver_running "$port"; then
    not_ready "${what}: mirror ready on port ${port} but no wal receiver runs (not connected to its primary)"
  fi
  ready "${what}: mirror ready on port ${port}, wal receiver connected"
}

main() {
  gpk_init_env
  gpk_export_gp_env
  local port rc
  port="$(gpk_own_port)"
  if [[ "$GP_SET" == master ]]; then
    # Serving as master counts too: just promoted, the Service already points here while the
    # ConfigMap copy catches up.
    if gpk_is_acting_master || gpk_serves_as_master; then
      check_acting_master
    fi
    if ! gpk_is_standby_dir "$GPK_MASTER_DIR"; then
      not_ready "master pod $(gpk_self) is not the acting master (ConfigMap: '$(gpk_acting_master)') and holds no standby data"
    fi
    check_replica "standby master $(gpk_self)" "$port" "$(pg_isready_rc "$port")"
  fi
  rc="$(pg_isready_rc "$port")"
  if [[ "$rc" == 0 ]]; then
    ready "${GP_SET} $(gpk_self): acting primary, accepting connections on port ${port}"
  fi
  if [[ "$GP_MIRRORS" == true ]]; then
    check_replica "${GP_SET} $(gpk_self) (mirror)" "$port" "$rc"
  fi
  not_ready "${GP_SET} $(gpk_self): postmaster on port ${port}: $(describe_rc "$rc")"
}

main "$@"
