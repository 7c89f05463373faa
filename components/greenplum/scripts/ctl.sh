#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Pod-side verbs used by bin/gp-failover through `kubectl exec <pod> -- bash .../ctl.sh VERB`.
# Each verb is small, logs what it does and exits with a reason on failure.
#   role                      key=value facts about this pod (acting, fenced, data, postmaster)
#   replication-status        acting master: 0 standby streaming and flush caught up,
#                             40 not in sync, 41 master does not answer SQL
#   sync-evidence [MAX_AGE]   standby: 0 the evidence says it was in sync when it last saw its
#                             master, and that is at most MAX_AGE s ago; 40 it does not; 42 none
#   stand-down                old master: fence the data directory, stop the master postmaster
#   unfence                   old master: undo stand-down after an aborted promote
#   activate [--force]        standby: gpactivatestandby -a -d <dir> [-f]
#   set-acting-master POD [TIMELINE]
#                             any pod: record which master pod is acting, on which timeline (the
#                             fence token every master supervisor checks before it acts on segments)
#   timeline                  master or standby: the timeline of its last checkpoint
#   move-aside                demoted master: move the data directory aside with a timestamp
#   init-standby POD          acting master: gpinitstandby -s <POD fqdn> (removing a stale entry)
#   status                    acting master: gpstate summary and standby details
# Verdicts use exit codes 40-43, which kubectl never returns by itself (it exits 1 on its own
# errors and passes the remote code through), so gp-failover can tell "not in sync" from "pod
# unreachable". 43 is a usage error.
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

readonly CTL_NOT_IN_SYNC=40 CTL_MASTER_DOWN=41 CTL_NO_EVIDENCE=42 CTL_USAGE=43

# In sync means the standby has flushed everything the master sent: a promotion replays all WAL
# received before it ends recovery (xlog.c checks the trigger only when no more WAL is at hand).
# Replay is not compared: the standby reports it only with write/flush progress or every
# wal_receiver_status_interval (walreceiver.c XLogWalRcvSendReply), so on an idle master it
# looks behind for up to 10 s after any write.
verb_replication_status() {
  local tries="${GP_SYNC_CHECK_TRIES:-5}" i row state sent flush replay
  if ! gpk_master_sql_ok; then
    echo "master $(gpk_self) does not answer SQL"
    return "$CTL_MASTER_DOWN"
  fi
  for ((i = 1; i <= tries; i++)); do
    row="$(gpk_replication_row)" || {
      echo "cannot query pg_stat_replication"
      return "$CTL_MASTER_DOWN"
    }
    IFS='|' read -r state sent flush replay <<<"$row"
    if [[ "$state" == streaming && -n "$sent" && "$sent" == "$flush" ]]; then
      echo "in sync: standby streaming, sent=${sent} flush=${flush} replay=${replay}"
      return 0
    fi
    ((i < tries)) && sleep "${GP_SYNC_CHECK_INTERVAL:-1}"
  done
  if [[ "$state" == streaming ]]; then
    echo "not in sync: standby streaming but flush ${flush} behind sent ${sent} after ${tries} checks"
  else
    echo "not in sync: no standby is streaming from $(gpk_self) (pg_stat_replication is empty)"
  fi
  return "$CTL_NOT_IN_SYNC"
}

# Evidence, all on this standby's clock: the master's supervisor last reported the standby in
# sync (stamped "received" here when it arrived), this pod saw its own wal receiver connected
# after that report (it checks every GP_STANDBY_WATCH_SECONDS), and that sighting is at most
# MAX_AGE seconds old. GP6's dispatcher waits for the standby's flush at commit only while a
# walsender streams (syncrep.c SyncRepWaitForLSN: "no active and synchronous standby (walsender)
# was found" -> no wait), so commits after the link broke may exist only on the old master:
# the evidence bounds that window to MAX_AGE plus one watch interval.
verb_sync_evidence() {
  local max="${1:-${GP_SYNC_MARKER_MAX_AGE:-120}}" state received connected now
  [[ "$max" =~ ^[0-9]+$ ]] || {
    echo "MAX_AGE '${max}' must be a number of seconds"
    return "$CTL_USAGE"
  }
  if [[ ! -f "$GPK_SYNC_MARKER" ]]; then
    echo "no standby-sync marker at ${GPK_SYNC_MARKER}: the master's supervisor never reported this standby in sync"
    return "$CTL_NO_EVIDENCE"
  fi
  cat "$GPK_SYNC_MARKER"
  state="$(sed -n 's/^state=//p' "$GPK_SYNC_MARKER" | head -n 1)"
  received="$(sed -n 's/^received=//p' "$GPK_SYNC_MARKER" | head -n 1)"
  connected="$(sed -n 's/^connected=//p' "$GPK_WALRECEIVER_SEEN" 2>/dev/null | head -n 1)"
  [[ "$received" =~ ^[0-9]+$ ]] || received=0
  [[ "$connected" =~ ^[0-9]+$ ]] || connected=0
  now="$(date +%s)"
  echo "standby clock: now=${now} in-sync report received=${received} wal receiver last seen connected=${connected}"
  if [[ "$state" != in-sync ]]; then
    echo "the last report says '${state}': the standby was not in sync"
    return "$CTL_NOT_IN_SYNC"
  fi
  if ((received == 0 || connected < received)); then
    echo "the wal receiver was not seen connected after the last in-sync report: commits after it may be missing"
    return "$CTL_NOT_IN_SYNC"
  fi
  if ((now - connected > max)); then
    echo "stale: the wal receiver was last seen connected $((now - connected))s ago (limit ${max}s)"
    return "$CTL_NOT_IN_SYNC"
  fi
  echo "in sync when last connected, $((now - connected))s ago (limit ${max}s)"
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

verb_unfence() {
  if [[ ! -e "$GPK_FENCE_FILE" ]]; then
    echo "$(gpk_self) is not fenced"
    return 0
  fi
  rm -f "$GPK_FENCE_FILE"
  log_info "removed the fence ${GPK_FENCE_FILE}: this pod starts as master again if the ConfigMap names it"
}

verb_set_acting_master() {
  local pod="${1:-}" timeline="${2:-}"
  [[ "$pod" =~ ^master-[01]$ && "$timeline" =~ ^([1-9][0-9]*)?$ ]] || {
    echo "set-acting-master needs master-0 or master-1, then optionally its timeline (a number)"
    return "$CTL_USAGE"
  }
  mkdir -p "$GPK_STATE_DIR"
  printf '%s\n' "${pod}${timeline:+ ${timeline}}" >"${GPK_ACTING_TOKEN}.tmp"
  mv "${GPK_ACTING_TOKEN}.tmp" "$GPK_ACTING_TOKEN"
  log_info "recorded ${pod}${timeline:+ (timeline ${timeline})} as the acting master in ${GPK_ACTING_TOKEN}"
}

verb_timeline() {
  gpk_timeline "$GPK_MASTER_DIR" || die "cannot read the timeline of ${GPK_MASTER_DIR} on $(gpk_self) (pg_controldata)"
}

verb_activate() {
  local args=(-a -d "$GPK_MASTER_DIR")
  if [[ "${1:-}" == --force ]]; then args+=(-f); fi
  gpk_is_standby_dir "$GPK_MASTER_DIR" || die "${GPK_MASTER_DIR} on $(gpk_self) is not a standby data directory (no recovery.conf)"
  log_info "running: gpactivatestandby ${args[*]}"
  gpactivatestandby "${args[@]}"
  # The standby's pg_hba.conf came from gpinitstandby, not ours: clients are admitted the moment
  # the Service points here, not a supervision pass later. The activation stands either way.
  gpk_apply_master_hba || log_error "could not apply pg_hba.conf after the activation; the supervisor retries"
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
  gpk_is_acting_master || gpk_serves_as_master || die "$(gpk_self) is not the acting master"
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
  sync-evidence) verb_sync_evidence "$@" ;;
  stand-down) verb_stand_down ;;
  unfence) verb_unfence ;;
  activate) verb_activate "$@" ;;
  set-acting-master) verb_set_acting_master "$@" ;;
  timeline) verb_timeline ;;
  move-aside) verb_move_aside ;;
  init-standby) verb_init_standby "$@" ;;
  status) verb_status ;;
  *)
    echo "usage: ctl.sh role|replication-status|sync-evidence [MAX_AGE]|stand-down|unfence|activate [--force]|set-acting-master POD [TIMELINE]|timeline|move-aside|init-standby POD|status" >&2
    exit "$CTL_USAGE"
    ;;
  esac
}

main "$@"
