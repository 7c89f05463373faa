#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# preStop hook: bash /opt/greenplum-k8s/scripts/prestop.sh
#   acting master: gpstop -a -M fast bounded by GP_STOP_TIMEOUT_SECONDS, -M immediate only
#                  when fast did not finish in time
#   other pods:    pg_ctl -D <dir> -m fast -w -t GP_STOP_TIMEOUT_SECONDS stop, if running
# Kubelet keeps no hook output, so log lines are also copied to PID 1's stdout (the
# container log). Exits non-zero (FailedPreStopHook event) when postgres could not be stopped.
set -euo pipefail

GPK_COMPONENT=prestop
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
GPK_LOG_COPY="${GPK_LOG_COPY:-/proc/1/fd/1}"

main() {
  gpk_init_env
  gpk_export_gp_env
  # Tells the supervisor (here) and remote supervisors (gpk_host_answers) to leave this pod
  # alone while it shuts down.
  mkdir -p "$GP_RUN_DIR"
  touch "$GP_RUN_DIR/stopping"
  local rc=0
  if [[ "$GP_SET" == master ]] && gpk_is_acting_master && ! gpk_is_standby_dir "$GPK_MASTER_DIR"; then
    log_info "preStop on the acting master $(gpk_self): stopping the cluster"
    gpk_stop_cluster || rc=$?
  else
    log_info "preStop on $(gpk_self) (${GP_SET}): stopping the local instance"
    gpk_stop_instance "$(gpk_own_dir)" || rc=$?
  fi
  if ((rc != 0)); then
    log_error "preStop could not stop postgres cleanly (exit ${rc})"
    exit "$rc"
  fi
  log_info "preStop finished"
}

main "$@"
