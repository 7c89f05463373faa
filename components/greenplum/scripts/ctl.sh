#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Pod-side verbs used by bin/gp-failover through `kubectl exec <pod> -- bash .../ctl.sh VERB`.
# Each verb is small, logs what it does and exits non-zero with a reason on failure.
#   role                      key=value facts about this pod (acting, fenced, data, postmaster)
#   replication-status        acting master: 0 standby streaming and replay caught up,
#                             1 not in sync, 2 master does not answer SQL
#   sync-marker [MAX_AGE]     standby: 0 the supervisor's marker says in-sync and is fresh,
#                             1 stale or not in sync, 2 no marker
#   stand-down                old master: fence the data directory, stop the master postmaster
#   activate [--force]        standby: gpactivatestandby -a -d <dir> [-f]
#   move-aside                demoted master: move the data directory aside with a timestamp
#   init-standby POD          acting master: gpinitstandby -s <POD fqdn> (removing a stale entry)
#   status                    acting master: gpstate summary and standby details
set -euo pipefail

GPK_COMPONENT=ctl
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=master.sh
source "$GPK_SCRIPTS_DIR/master.sh"

verb_role() {
  local data=none pm=stopped
  if gpk_has_data "$GPK_MASTER_DIR"; then
    if gpk_is_standby_dir "$GPK_MASTER_DIR"; then data=standby; else data=master; fi
  fi
  if gpk_postmaster_running "$GPK_MASTER_DIR"; then pm=running; fi
  echo "pod=$(gpk_self)"
  echo "acting_master=$(gpk_acting_master)"
  echo "fenced=$([[ -e "$GPK_FENCE_FILE" ]] && echo yes || echo no)"
  echo "data=${data}"
  echo "postmaster=${pm}"
}

verb_replication_status() {
  local tries="${GP_SYNC_CHECK_TRIES:-5}" i row state sent flush replay
  if ! gpk_master_sql_ok; then
    echo "master $(gpk_self) does not answer SQL"
    return 2
  fi
  for ((i = 1; i <= tries; i++)); do
    row="$(gpk_replication_row)" || {
      echo "cannot query pg_stat_replication"
      return 2
    }
    IFS='|' read -r state sent flush replay <<<"$row"
    if [[ "$state" == streaming && -n "$sent" && "$sent" == "$replay" ]]; then
      echo "in sync: standby streaming, sent=${sent} flush=${flush} replay=${replay}"
      return 0
    fi
    ((i < tries)) && sleep "${GP_SYNC_CHECK_INTERVAL:-1}"
  done
  if [[ "$state" == streaming ]]; then
    echo "not in sync: standby streaming but replay ${replay} behind sent ${sent} after ${tries} checks"
  else
    echo "not in sync: no standby is streaming from $(gpk_self) (pg_stat_replication is empty)"
  fi
  return 1
}

verb_sync_marker() {
  local max="${1:-${GP_SYNC_MARKER_MAX_AGE:-300}}" at state age
  if [[ ! -f "$GPK_SYNC_MARKER" ]]; then
    echo "no standby-sync marker at ${GPK_SYNC_MARKER}: the supervisor never saw this standby in sync"
    return 2
  fi
  cat "$GPK_SYNC_MARKER"
  state="$(sed -n 's/^state=//p' "$GPK_SYNC_MARKER" | head -n 1)"
  at="$(sed -n 's/^at=//p' "$GPK_SYNC_MARKER" | head -n 1)"
  [[ "$at" =~ ^[0-9]+$ ]] || at=0
  age=$(($(date +%s) - at))
  echo "age=${age}s (limit ${max}s)"
  if [[ "$state" != in-sync ]]; then
    echo "marker says '${state}': the standby was not in sync when last checked"
    return 1
  fi
  if ((age > max)); then
    echo "marker is stale: last confirmed in sync ${age}s ago (limit ${max}s)"
    return 1
  fi
  echo "standby confirmed in sync ${age}s ago"
}

verb_stand_down() {
  if ! gpk_has_data "$GPK_MASTER_DIR"; then
    echo "no master data on $(gpk_self); nothing to fence"
    return 0
  fi
  date -u +%Y-%m-%dT%H:%M:%SZ >"$GPK_FENCE_FILE"
  log_info "fenced ${GPK_MASTER_DIR} (${GPK_FENCE_FILE}): this pod will not start as master"
  gpk_stop_instance "$GPK_MASTER_DIR"
}

verb_activate() {
  local args=(-a -d "$GPK_MASTER_DIR")
  if [[ "${1:-}" == --force ]]; then args+=(-f); fi
  gpk_is_standby_dir "$GPK_MASTER_DIR" || die "${GPK_MASTER_DIR} on $(gpk_self) is not a standby data directory (no recovery.conf)"
  log_info "running: gpactivatestandby ${args[*]}"
  gpactivatestandby "${args[@]}"
}

verb_move_aside() {
  local dest
  [[ -d "$GPK_MASTER_DIR" ]] || {
    echo "no ${GPK_MASTER_DIR} on $(gpk_self); nothing to move"
    return 0
  }
  if gpk_postmaster_running "$GPK_MASTER_DIR"; then
    die "a postmaster is running on ${GPK_MASTER_DIR} on $(gpk_self); refusing to move it"
  fi
  dest="${GPK_MASTER_DIR}.old-$(date -u +%Y%m%dT%H%M%SZ)"
  mv "$GPK_MASTER_DIR" "$dest"
  log_info "moved ${GPK_MASTER_DIR} to ${dest}"
  echo "$dest"
}

verb_init_standby() {
  local pod="${1:-}" stale
  [[ "$pod" =~ ^master-[01]$ ]] || die "init-standby needs the standby pod name (master-0 or master-1)"
  gpk_is_acting_master || die "$(gpk_self) is not the acting master"
  stale="$(gpk_psql <<<"-- gpk:standby-host
SELECT hostname FROM gp_segment_configuration WHERE content = -1 AND role = 'm';")" || die "cannot query gp_segment_configuration"
  if [[ -n "$stale" ]]; then
    log_info "removing the registered standby ${stale} first: gpinitstandby -a -r"
    gpinitstandby -a -r || die "gpinitstandby -r failed"
  fi
  log_info "running: gpinitstandby -a -s $(gpk_fqdn "$pod") --hba-hostnames"
  gpinitstandby -a -s "$(gpk_fqdn "$pod")" --hba-hostnames
  gpk_apply_master_hba || true
}

verb_status() {
  gpstate -b || true
  gpstate -f || true
}

main() {
  gpk_init_env
  gpk_export_gp_env
  local verb="${1:-}"
  shift || true
  case "$verb" in
  role) verb_role ;;
  replication-status) verb_replication_status ;;
  sync-marker) verb_sync_marker "$@" ;;
  stand-down) verb_stand_down ;;
  activate) verb_activate "$@" ;;
  move-aside) verb_move_aside ;;
  init-standby) verb_init_standby "$@" ;;
  status) verb_status ;;
  *)
    echo "usage: ctl.sh role|replication-status|sync-marker [MAX_AGE]|stand-down|activate [--force]|move-aside|init-standby POD|status" >&2
    exit 2
    ;;
  esac
}

main "$@"
