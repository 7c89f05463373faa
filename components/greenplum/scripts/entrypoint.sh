#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Container command of every Greenplum pod: bash /opt/greenplum-k8s/scripts/entrypoint.sh
# Sets up ssh, starts sshd as gpadmin, then acts by role:
#   acting master   first start: wait for all hosts, gpinitsystem, pg_hba, password, database
#                   restart:     gpstart -a, then a supervision loop (gprecoverseg, pg_ctl of
#                                silent primaries, gpinitstandby -n)
#   other master    standby data: start the standby postmaster; no data: wait; master data
#                   without recovery.conf (demoted after failover): refuse, stay up with sshd
#   segments        unmirrored: start own postgres; mirrored: leave it to the master
# Stays in the foreground (PID 1), restarts sshd if it dies and forwards SIGTERM as a clean
# stop. GP_ONESHOT=1 (tests, debugging) runs the start-up and one loop pass, then exits.
set -euo pipefail

GPK_COMPONENT=entrypoint
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=master.sh
source "$GPK_SCRIPTS_DIR/master.sh"

GPK_MODE=""
GPK_SLEEP_PID=""

# Interruptible sleep: traps run as soon as a signal arrives instead of after sleep ends.
gpk_idle() {
  sleep "$1" &
  GPK_SLEEP_PID=$!
  wait "$GPK_SLEEP_PID" || true
  GPK_SLEEP_PID=""
}

gpk_on_term() {
  trap - TERM INT
  log_info "SIGTERM received: stopping"
  touch "$GP_RUN_DIR/stopping" 2>/dev/null || true
  if [[ -n "$GPK_SLEEP_PID" ]]; then kill "$GPK_SLEEP_PID" 2>/dev/null || true; fi
  local rc=0
  # preStop normally stopped postgres already; these are no-ops then.
  if [[ "$GPK_MODE" == acting ]] && gpk_is_acting_master; then
    gpk_stop_cluster || rc=$?
  else
    gpk_stop_instance "$(gpk_own_dir)" || rc=$?
  fi
  if ((rc != 0)); then log_error "stopping postgres on SIGTERM failed (exit ${rc})"; fi
  exit "$rc"
}

gpk_on_exit() {
  local pid
  pid="$(cat "$GP_RUN_DIR/sshd.pid" 2>/dev/null || true)"
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; fi
}

gpk_prepare_runtime() {
  mkdir -p "$GP_RUN_DIR"
  rm -f "$GP_RUN_DIR/stopping" "$GP_RUN_DIR/sshd.pid"
  echo "$$" >"$GP_RUN_DIR/entrypoint.pid"
  # Environment for interactive shells and for Greenplum utilities run over ssh (sshd
  # sessions do not inherit the pod environment; the image's ~/.bashrc is sourced).
  {
    printf 'source %q >/dev/null 2>&1\n' "$GPHOME/greenplum_path.sh"
    printf 'export PGPORT=%q\n' "$(gpk_own_port)"
    if [[ "$GP_SET" == master ]]; then printf 'export MASTER_DATA_DIRECTORY=%q\n' "$GPK_MASTER_DIR"; fi
  } >"$GP_RUN_DIR/env.sh"
  if ! grep -qs 'greenplum-k8s/env.sh' "$HOME/.bashrc"; then
    # shellcheck disable=SC2016 # expands when .bashrc runs
    printf '%s\n' '[ -f "$HOME/.greenplum-k8s/env.sh" ] && . "$HOME/.greenplum-k8s/env.sh"' >>"$HOME/.bashrc"
  fi
  # Keep utility logs (gpinitsystem, gpstart, gprecoverseg) on the volume for post-mortems.
  if [[ ! -e "$HOME/gpAdminLogs" || -L "$HOME/gpAdminLogs" ]] && mkdir -p "$GPK_STATE_DIR/gpAdminLogs" 2>/dev/null; then
    ln -sfn "$GPK_STATE_DIR/gpAdminLogs" "$HOME/gpAdminLogs"
  fi
}

# ---------------------------------------------------------------------------
# Master pods
# ---------------------------------------------------------------------------

acting_master_boot() {
  local dir="$GPK_MASTER_DIR" state
  state="$(gpk_read_init_state)"
  if gpk_is_standby_dir "$dir"; then
    log_error "the ConfigMap names $(gpk_self) acting master, but ${dir} is a standby (recovery.conf present)."
    log_error "Not starting it as master. If the master is really lost run: gp-failover --namespace ${GP_NAMESPACE} promote"
    non_acting_boot
    return 0
  fi
  case "$state" in
  gpinitsystem-started)
    if ! master_clear_half_init; then
      GPK_MODE=parked
      return 0
    fi
    master_first_init
    master_post_init
    GPK_MODE=acting
    return 0
    ;;
  none)
    if [[ -d "$dir" ]] && ! gpk_has_data "$dir"; then
      master_half_init_report "no init state, but ${dir} exists without PG_VERSION"
      GPK_MODE=parked
      return 0
    fi
    if ! gpk_has_data "$dir"; then
      master_first_init
      master_post_init
      GPK_MODE=acting
      return 0
    fi
    ;;
  gpinitsystem-done | done) ;;
  *)
    die "unknown init state '${state}' in ${GPK_INIT_STATE_FILE}"
    ;;
  esac
  if ! master_check_topology; then
    master_topology_report
    GPK_MODE=topology
    return 0
  fi
  local rc=0
  master_start_existing || rc=$?
  if ((rc == 2)); then
    GPK_MODE=demoted
    return 0
  fi
  ((rc == 0)) || die "could not start the cluster; exiting so the pod restarts and tries again"
  if [[ "$state" == gpinitsystem-done ]]; then
    log_info "resuming initialisation after gpinitsystem"
    master_post_init
  elif gpk_master_sql_ok; then
    master_apply_server_settings
  fi
  GPK_MODE=acting
}

demoted_report() {
  local acting
  acting="$(gpk_acting_master)"
  log_error "=================================================================="
  log_error "$(gpk_self) holds MASTER data (no recovery.conf) but is not the acting master"
  log_error "(ConfigMap names '${acting:-<unreadable>}'$([[ -e "$GPK_FENCE_FILE" ]] && echo ', and this data directory is fenced')). Refusing to start postgres:"
  log_error "after a failover this is the old master and its data has diverged."
  log_error "sshd stays up so the data can be inspected. To turn this pod into a standby of the"
  log_error "acting master (the data directory is moved aside, not deleted), run from a workstation:"
  log_error "  gp-failover --namespace ${GP_NAMESPACE} reinstate"
  log_error "=================================================================="
}

# standby | demoted | waiting, from what the master data directory holds.
non_acting_mode() {
  if ! gpk_has_data "$GPK_MASTER_DIR"; then
    echo waiting
  elif gpk_is_standby_dir "$GPK_MASTER_DIR"; then
    echo standby
  else
    echo demoted
  fi
}

non_acting_boot() {
  local dir="$GPK_MASTER_DIR"
  GPK_MODE="$(non_acting_mode)"
  if [[ "$GPK_MODE" == standby ]]; then
    if gpk_postmaster_running "$dir"; then
      log_info "standby master postmaster already running"
    elif ! gpk_start_local_standby; then
      log_error "starting the standby master failed; the acting master's supervisor will retry with gpinitstandby -n"
    fi
  elif [[ "$GPK_MODE" == demoted ]]; then
    demoted_report
  else
    log_info "no master data yet: waiting for gpinitsystem/gpinitstandby on the acting master to populate ${dir}"
  fi
}

# Records, on this standby's clock, when its wal receiver was last seen connected: the other
# half of the sync evidence gp-failover reads (ctl.sh sync-evidence). Checked every
# GP_STANDBY_WATCH_SECONDS for one supervise interval.
standby_watch() {
  local end
  end=$(($(date +%s) + GP_SUPERVISE_INTERVAL_SECONDS))
  while :; do
    if gpk_walreceiver_running "$GP_MASTER_PORT"; then
      mkdir -p "$GPK_STATE_DIR"
      printf 'connected=%s\n' "$(date +%s)" >"${GPK_WALRECEIVER_SEEN}.tmp"
      mv "${GPK_WALRECEIVER_SEEN}.tmp" "$GPK_WALRECEIVER_SEEN"
    fi
    if [[ "${GP_ONESHOT:-0}" == 1 ]]; then
      log_info "GP_ONESHOT=1: exiting after one pass (mode ${GPK_MODE})"
      exit 0
    fi
    (($(date +%s) < end)) || break
    gpk_idle "$GP_STANDBY_WATCH_SECONDS"
  done
}

master_main() {
  # Checked up front so a misconfigured pod fails before gpinitsystem, not after it.
  gpk_require_env GP_DATABASE
  if gpk_is_acting_master; then
    log_info "$(gpk_self) is the acting master"
    acting_master_boot
  else
    log_info "$(gpk_self) is not the acting master (ConfigMap names '$(gpk_acting_master)')"
    non_acting_boot
  fi
  while :; do
    gpk_refresh_ssh
    gpk_start_sshd
    case "$GPK_MODE" in
    acting)
      if ! gpk_is_acting_master; then
        log_error "$(gpk_self) is no longer the acting master (ConfigMap names '$(gpk_acting_master)' or the data is fenced); re-evaluating"
        gpk_reexec
      fi
      local rc=0
      master_supervise_once || rc=$?
      if ((rc == 3)); then
        die "the master postmaster is down; exiting so the pod restarts and runs gpstart"
      fi
      if ((rc == 4)); then gpk_reexec; fi
      ;;
    standby | waiting | demoted)
      # A promoted standby (after gpactivatestandby and the ConfigMap update) or a fresh
      # pod that became acting: start over through the acting-master path.
      if gpk_is_acting_master; then
        log_info "$(gpk_self) is now the acting master; re-evaluating"
        gpk_reexec
      fi
      # The data directory changes under us: gpinitsystem/gpinitstandby create a standby,
      # gp-failover reinstate moves a demoted master's data aside.
      local now
      now="$(non_acting_mode)"
      if [[ "$now" != "$GPK_MODE" ]]; then
        log_info "master data in ${GPK_MASTER_DIR} changed: ${GPK_MODE} -> ${now}"
        GPK_MODE="$now"
        if [[ "$now" == demoted ]]; then demoted_report; fi
      fi
      if [[ "$GPK_MODE" == standby ]]; then
        standby_watch
        continue
      fi
      if [[ "$GPK_MODE" == demoted ]] && ((${GPK_LOOP:=0} % 20 == 0)); then
        demoted_report
      fi
      GPK_LOOP=$((${GPK_LOOP:-0} + 1))
      ;;
    topology)
      if ((${GPK_LOOP:=0} % 20 == 19)); then master_topology_report; fi
      GPK_LOOP=$((${GPK_LOOP:-0} + 1))
      ;;
    parked)
      if ((${GPK_LOOP:=0} % 20 == 19)); then master_half_init_report "$(gpk_read_init_state)"; fi
      GPK_LOOP=$((${GPK_LOOP:-0} + 1))
      ;;
    esac
    if [[ "${GP_ONESHOT:-0}" == 1 ]]; then
      log_info "GP_ONESHOT=1: exiting after one pass (mode ${GPK_MODE})"
      exit 0
    fi
    gpk_idle "$GP_SUPERVISE_INTERVAL_SECONDS"
  done
}

# Re-runs the entrypoint in place (same PID 1, sshd keeps running) after a role change.
gpk_reexec() {
  trap - EXIT
  if [[ "${GP_ONESHOT:-0}" == 1 ]]; then
    log_info "GP_ONESHOT=1: role changed, exiting instead of re-executing"
    exit 0
  fi
  GPK_KEEP_SSHD=1 exec bash "$GPK_SCRIPTS_DIR/entrypoint.sh"
}

# ---------------------------------------------------------------------------
# Segment pods
# ---------------------------------------------------------------------------

segment_main() {
  local dir port
  dir="$(gpk_own_dir)"
  port="$(gpk_own_port)"
  # gpinitsystem checks that it can write into the parent of every instance directory.
  mkdir -p "$(dirname "$dir")"
  if gpk_has_data "$dir"; then
    if [[ "$GP_MIRRORS" == false ]]; then
      if gpk_postmaster_running "$dir"; then
        log_info "segment postmaster already running on ${dir}"
      elif ! gpk_start_local_segment "$dir" "$port"; then
        log_error "starting the segment failed; the master's supervisor retries over ssh"
      fi
    else
      log_info "mirrored segment with data: the master starts it (gpstart) or recovers it (gprecoverseg) in the right role"
    fi
  else
    log_info "no segment data yet in ${dir}: waiting for gpinitsystem on the master"
  fi
  while :; do
    gpk_refresh_ssh
    gpk_start_sshd
    if [[ "${GP_ONESHOT:-0}" == 1 ]]; then
      log_info "GP_ONESHOT=1: exiting after one pass"
      exit 0
    fi
    gpk_idle "$GP_SUPERVISE_INTERVAL_SECONDS"
  done
}

# Every postgres process of a segment opens many relation files; a container starts with the
# runtime's soft limit (often 1024) while its hard limit is higher. Raise soft to hard, which
# needs no privilege, before anything that postgres inherits starts.
gpk_raise_open_files() {
  local soft hard
  soft="$(ulimit -Sn)"
  hard="$(ulimit -Hn)"
  if [[ "$soft" != "$hard" ]] && ! ulimit -Sn "$hard" 2>/dev/null; then
    log_warn "could not raise the open-files soft limit ${soft} to the hard limit ${hard}"
  fi
  log_info "open files limit: soft ${soft} -> $(ulimit -Sn), hard ${hard}"
}

main() {
  gpk_raise_open_files
  gpk_init_env
  # Greenplum utilities write scratch files relative to the working directory.
  cd "$HOME"
  gpk_export_gp_env
  if [[ "${GPK_KEEP_SSHD:-0}" == 1 ]]; then
    echo "$$" >"$GP_RUN_DIR/entrypoint.pid"
  else
    gpk_prepare_runtime
    gpk_setup_ssh
  fi
  trap gpk_on_exit EXIT
  trap gpk_on_term TERM INT
  gpk_start_sshd
  log_info "pod $(gpk_self) set=${GP_SET} mirrors=${GP_MIRRORS} standby=${GP_STANDBY} primaries=${GP_PRIMARY_SEGMENT_COUNT}"
  case "$GP_SET" in
  master) master_main ;;
  segment-a | segment-b) segment_main ;;
  esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
