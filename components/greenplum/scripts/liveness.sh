#!/usr/bin/env bash
# livenessProbe: bash /opt/greenplum-k8s/scripts/liveness.sh
# Checks only that the entrypoint and sshd are alive, never postgres: a segment under
# recovery (or a master waiting for hosts) must not be killed by the kubelet.
set -euo pipefail

: "${GP_RUN_DIR:=${HOME:-/home/gpadmin}/.greenplum-k8s}"

alive() {
  local pid
  pid="$(cat "$GP_RUN_DIR/$1.pid" 2>/dev/null || true)"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

if ! alive entrypoint; then
  echo "not alive: entrypoint process (pid file ${GP_RUN_DIR}/entrypoint.pid) is not running"
  exit 1
fi
if ! alive sshd; then
  echo "not alive: sshd (pid file ${GP_RUN_DIR}/sshd.pid) is not running"
  exit 1
fi
echo "alive: entrypoint and sshd running"
