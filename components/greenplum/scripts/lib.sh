#!/usr/bin/env bash
# shellcheck shell=bash
# Shared functions for the greenplum-k8s pod scripts (entrypoint, probes, preStop, ctl).
# Sourced, never executed. Every external command is resolved through PATH so that the
# bats tests can put stand-ins first on PATH.
#
# Data layout below GP_DATA_ROOT (one PVC per pod):
#   data-1/                 master / standby master data directory (gpinitsystem derives
#                           MASTER_DATA_DIRECTORY as <dir>/<SEG_PREFIX>-1, so the name must end in -1)
#   data/                   primary segment data directory (segment-a-*)
#   mirror/data/            mirror segment data directory (segment-b-*); gpinitsystem refuses
#                           mirrors whose parent directory equals the primaries' parent
#   greenplum-k8s/          our persistent state: init-state, gpinitsystem_input,
#                           standby-sync marker, gpAdminLogs
#   data-1.old-<timestamp>  a demoted master's data moved aside by `gp-failover reinstate`

# shellcheck disable=SC2034 # used by the scripts that source this file
GPK_SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GPK_COMPONENT="${GPK_COMPONENT:-greenplum-k8s}"

# ---------------------------------------------------------------------------
# Logging
# ---------------------------------------------------------------------------

# Log lines go to stderr (the container log for the entrypoint). Hooks (preStop) also copy
# them to PID 1's stdout because kubelet does not keep hook output.
gpk_log() {
  local level="$1"
  shift
  local line
  line="$(date -u +%Y-%m-%dT%H:%M:%SZ) ${GPK_COMPONENT} ${level}: $*"
  printf '%s\n' "$line" >&2
  if [[ -n "${GPK_LOG_COPY:-}" && -w "${GPK_LOG_COPY}" ]]; then
    printf '%s\n' "$line" >>"${GPK_LOG_COPY}" 2>/dev/null || true
  fi
}
log_info() { gpk_log INFO "$@"; }
log_warn() { gpk_log WARN "$@"; }
log_error() { gpk_log ERROR "$@"; }
die() {
  log_error "$@"
  exit 1
}

# ---------------------------------------------------------------------------
# Environment
# ---------------------------------------------------------------------------

gpk_require_env() {
  local name
  for name in "$@"; do
    if [[ -z "${!name:-}" ]]; then
      die "required environment variable ${name} is not set (it comes from the pod spec)"
    fi
  done
}

gpk_require_int() {
  local name="$1" min="${2:-0}"
  if ! [[ "${!name}" =~ ^[0-9]+$ ]] || ((${!name} < min)); then
    die "environment variable ${name}='${!name}' must be an integer >= ${min}"
  fi
}

gpk_require_bool() {
  local name="$1"
  case "${!name}" in
  true | false) ;;
  *) die "environment variable ${name}='${!name}' must be true or false" ;;
  esac
}

# Validates the pod-spec environment, applies defaults and derives paths. Safe to call more
# than once. The GPK_* paths are used by the scripts that source this file.
# shellcheck disable=SC2034
gpk_init_env() {
  gpk_require_env GP_SET GP_NAMESPACE GP_PRIMARY_SEGMENT_COUNT
  case "$GP_SET" in
  master | segment-a | segment-b) ;;
  *) die "environment variable GP_SET='${GP_SET}' must be master, segment-a or segment-b" ;;
  esac
  : "${GP_HEADLESS_SERVICE:=agent}"
  : "${GP_CLUSTER_DOMAIN:=cluster.local}"
  : "${GP_MIRRORS:=false}"
  : "${GP_STANDBY:=false}"
  : "${GP_MASTER_PORT:=5432}"
  : "${GP_PRIMARY_PORT:=6000}"
  : "${GP_MIRROR_PORT:=7000}"
  : "${GP_SSH_PORT:=2222}"
  : "${GP_DATA_ROOT:=/greenplum}"
  : "${GPHOME:=/usr/local/greenplum-db}"
  : "${GP_HOST_WAIT_SECONDS:=600}"
  : "${GP_RESTART_HOST_WAIT_SECONDS:=300}"
  : "${GP_HOST_POLL_SECONDS:=5}"
  : "${GP_STOP_TIMEOUT_SECONDS:=120}"
  : "${GP_STOP_IMMEDIATE_TIMEOUT_SECONDS:=60}"
  : "${GP_SUPERVISE_INTERVAL_SECONDS:=30}"
  : "${GP_STANDBY_WATCH_SECONDS:=5}"
  : "${GP_SSH_CONNECT_TIMEOUT:=5}"
  : "${GP_LOCALE:=en_US.utf8}"
  : "${GP_HBA_EXTRA:=}"
  : "${GP_SSH_SECRET_DIR:=/etc/greenplum-k8s/ssh}"
  : "${GP_PASSWORD_FILE:=/etc/greenplum-k8s/password/password}"
  : "${GP_ACTING_MASTER_FILE:=/etc/greenplum-k8s/acting-master/acting-master}"
  : "${GP_RUN_DIR:=${HOME:-/home/gpadmin}/.greenplum-k8s}"
  : "${USER:=gpadmin}"
  : "${LOGNAME:=$USER}"
  export GP_HEADLESS_SERVICE GP_CLUSTER_DOMAIN GP_MIRRORS GP_STANDBY GP_MASTER_PORT \
    GP_PRIMARY_PORT GP_MIRROR_PORT GP_SSH_PORT GP_DATA_ROOT GPHOME GP_RUN_DIR USER LOGNAME

  gpk_require_int GP_PRIMARY_SEGMENT_COUNT 1
  gpk_require_bool GP_MIRRORS
  gpk_require_bool GP_STANDBY
  local v
  for v in GP_MASTER_PORT GP_PRIMARY_PORT GP_MIRROR_PORT GP_SSH_PORT GP_HOST_WAIT_SECONDS \
    GP_RESTART_HOST_WAIT_SECONDS GP_STOP_TIMEOUT_SECONDS GP_STOP_IMMEDIATE_TIMEOUT_SECONDS \
    GP_SUPERVISE_INTERVAL_SECONDS GP_STANDBY_WATCH_SECONDS GP_SSH_CONNECT_TIMEOUT; do
    gpk_require_int "$v" 0
  done

  GPK_MASTER_DIR="${GP_DATA_ROOT}/data-1"
  GPK_PRIMARY_DIR="${GP_DATA_ROOT}/data"
  GPK_MIRROR_DIR="${GP_DATA_ROOT}/mirror/data"
  GPK_STATE_DIR="${GP_DATA_ROOT}/greenplum-k8s"
  GPK_INIT_STATE_FILE="${GPK_STATE_DIR}/init-state"
  GPK_INIT_INPUT_FILE="${GPK_STATE_DIR}/gpinitsystem_input"
  GPK_TOPOLOGY_FILE="${GPK_STATE_DIR}/topology"
  GPK_SYNC_MARKER="${GPK_STATE_DIR}/standby-sync"
  GPK_INITIALISED_MARKER="${GPK_STATE_DIR}/initialised"
  # How often an unfinished first init is cleared and run again before the master parks.
  GPK_INIT_RETRIES=1
  # Written by the standby pod itself: when it last saw its wal receiver connected.
  GPK_WALRECEIVER_SEEN="${GPK_STATE_DIR}/standby-walreceiver"
  # On every pod: the master pod gp-failover last made acting (absent until a failover).
  GPK_ACTING_TOKEN="${GPK_STATE_DIR}/acting-master"
  # The fence lives inside the master data directory so that moving the directory aside
  # (reinstate) removes it together with the data it protects.
  GPK_FENCE_FILE="${GPK_MASTER_DIR}/greenplum-k8s-fenced"
}

# The data directory and port of this pod's own postgres instance.
gpk_own_dir() {
  case "$GP_SET" in
  master) printf '%s\n' "$GPK_MASTER_DIR" ;;
  segment-a) printf '%s\n' "$GPK_PRIMARY_DIR" ;;
  segment-b) printf '%s\n' "$GPK_MIRROR_DIR" ;;
  esac
}
# The data directory of any pod's own instance, by its name.
gpk_pod_data_dir() {
  case "$1" in
  master-*) printf '%s\n' "$GPK_MASTER_DIR" ;;
  segment-a-*) printf '%s\n' "$GPK_PRIMARY_DIR" ;;
  segment-b-*) printf '%s\n' "$GPK_MIRROR_DIR" ;;
  esac
}
gpk_own_port() {
  case "$GP_SET" in
  master) printf '%s\n' "$GP_MASTER_PORT" ;;
  segment-a) printf '%s\n' "$GP_PRIMARY_PORT" ;;
  segment-b) printf '%s\n' "$GP_MIRROR_PORT" ;;
  esac
}

# Sources greenplum_path.sh (it references unset variables, hence set +u) and exports the
# variables the Greenplum utilities expect.
gpk_export_gp_env() {
  if [[ -f "${GPHOME}/greenplum_path.sh" ]]; then
    set +u
    # shellcheck source=/dev/null
    source "${GPHOME}/greenplum_path.sh"
    set -u
  else
    log_warn "${GPHOME}/greenplum_path.sh not found; relying on PATH"
  fi
  PGPORT="$(gpk_own_port)"
  export PGPORT
  if [[ "$GP_SET" == master ]]; then
    export MASTER_DATA_DIRECTORY="$GPK_MASTER_DIR"
  fi
}

# ---------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------

gpk_self() { hostname; }

gpk_fqdn() {
  printf '%s.%s.%s.svc.%s\n' "$1" "$GP_HEADLESS_SERVICE" "$GP_NAMESPACE" "$GP_CLUSTER_DOMAIN"
}

gpk_master_pods() {
  echo master-0
  if [[ "$GP_STANDBY" == true ]]; then echo master-1; fi
}
gpk_primary_pods() {
  local i
  for ((i = 0; i < GP_PRIMARY_SEGMENT_COUNT; i++)); do echo "segment-a-${i}"; done
}
gpk_mirror_pods() {
  local i
  if [[ "$GP_MIRRORS" != true ]]; then return 0; fi
  for ((i = 0; i < GP_PRIMARY_SEGMENT_COUNT; i++)); do echo "segment-b-${i}"; done
}
gpk_all_pods() {
  gpk_master_pods
  gpk_primary_pods
  gpk_mirror_pods
}

# The other master pod (standby of master-0 is master-1 and vice versa).
gpk_peer_master() {
  if [[ "$1" == master-0 ]]; then echo master-1; else echo master-0; fi
}

# ---------------------------------------------------------------------------
# Acting master
# ---------------------------------------------------------------------------

# Reads the ConfigMap value naming the acting master; empty when unreadable.
gpk_acting_master() {
  local name=""
  if [[ -r "$GP_ACTING_MASTER_FILE" ]]; then
    name="$(tr -d '[:space:]' <"$GP_ACTING_MASTER_FILE")"
  fi
  printf '%s\n' "$name"
}

# True only for a master pod named in the ConfigMap whose data directory is not fenced.
# A missing ConfigMap value never makes a pod the master.
gpk_is_acting_master() {
  [[ "$GP_SET" == master ]] || return 1
  local acting
  acting="$(gpk_acting_master)"
  [[ -n "$acting" && "$acting" == "$(gpk_self)" ]] || return 1
  [[ ! -e "$GPK_FENCE_FILE" ]]
}

# True for a master pod that serves as master whatever its ConfigMap copy says: master data (no
# recovery.conf), not fenced, postmaster running. Right after gp-failover promote that copy still
# names the old master for up to a kubelet sync; the old master itself is fenced or stopped.
gpk_serves_as_master() {
  [[ "$GP_SET" == master ]] && gpk_has_data "$GPK_MASTER_DIR" && ! gpk_is_standby_dir "$GPK_MASTER_DIR" &&
    [[ ! -e "$GPK_FENCE_FILE" ]] && gpk_postmaster_running "$GPK_MASTER_DIR"
}

gpk_has_data() { [[ -f "$1/PG_VERSION" ]]; }
gpk_is_standby_dir() { [[ -f "$1/recovery.conf" ]]; }

# The timeline of a data directory's last checkpoint (pg_controldata). Every promotion starts a
# higher timeline and gpactivatestandby checkpoints right after it, so this orders masters.
gpk_timeline() {
  local tl
  tl="$(pg_controldata "$1" 2>/dev/null | sed -n "s/^Latest checkpoint's TimeLineID: *//p" | head -n 1)"
  [[ "$tl" =~ ^[0-9]+$ ]] || return 1
  printf '%s\n' "$tl"
}

# pg_ctl status: 0 when a postmaster runs on the directory.
gpk_postmaster_running() {
  [[ -d "$1" ]] || return 1
  pg_ctl status -D "$1" >/dev/null 2>&1
}

# 0 when a wal receiver of the postmaster on PORT runs in this pod: its process title is
# "postgres: <port, %5d>, wal receiver process ..." (ps_status.c init_ps_display,
# bootstrap.c WalReceiverProcess). GPK_PROC_DIR lets tests supply the process table.
gpk_walreceiver_running() {
  local port="$1" f title
  for f in "${GPK_PROC_DIR:-/proc}"/[0-9]*/cmdline; do
    title="$(tr '\0' ' ' <"$f" 2>/dev/null)" || continue
    if [[ "$title" =~ ^postgres:\ +${port},\ wal\ receiver\ process ]]; then return 0; fi
  done
  return 1
}

# ---------------------------------------------------------------------------
# Persistent init state (master-0 only)
# ---------------------------------------------------------------------------

gpk_read_init_state() {
  if [[ -f "$GPK_INIT_STATE_FILE" ]]; then
    head -n 1 "$GPK_INIT_STATE_FILE" | awk '{print $1}'
  else
    echo none
  fi
}
gpk_write_init_state() {
  mkdir -p "$GPK_STATE_DIR"
  printf '%s %s\n' "$1" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"${GPK_INIT_STATE_FILE}.tmp"
  mv "${GPK_INIT_STATE_FILE}.tmp" "$GPK_INIT_STATE_FILE"
}

# ---------------------------------------------------------------------------
# SSH
# ---------------------------------------------------------------------------

gpk_copy_secret() {
  local src="$1" dst="$2" mode="$3"
  [[ -r "$src" ]] || die "cannot read ${src} (Secret mounted at ${GP_SSH_SECRET_DIR}, expected mode 0440 group 1001)"
  rm -f "$dst"
  cp "$src" "$dst"
  chmod "$mode" "$dst"
}

# The ssh Secret can change under running pods: after a production destroy the next up makes new
# keys, and the kubelet updates every pod's mounted copy within a sync. Each supervision pass
# re-installs them when they differ, so a pod restarted later and the pods still running trust
# each other again (sshd reads host keys and authorized_keys per connection).
gpk_refresh_ssh() {
  local d="${HOME}/.ssh" installed
  installed="$(cat "$d/id_rsa" "$d/authorized_keys" "$d/sshd/ssh_host_ed25519_key.pub" 2>/dev/null)" || installed=""
  if [[ "$(cat "$GP_SSH_SECRET_DIR/id_rsa" "$GP_SSH_SECRET_DIR/id_rsa.pub" "$GP_SSH_SECRET_DIR/ssh_host_ed25519_key.pub")" == "$installed" ]]; then
    return 0
  fi
  log_info "the ssh keys in ${GP_SSH_SECRET_DIR} changed: re-installing them and known_hosts"
  gpk_setup_ssh
}

# User key, authorized_keys, deterministic known_hosts (one host key shared by every pod,
# so no trust-on-first-use) and the client config every Greenplum utility inherits.
gpk_setup_ssh() {
  local d="${HOME}/.ssh" pub pod entry
  mkdir -p "$d" "$d/sshd"
  chmod 700 "$d" "$d/sshd"
  gpk_copy_secret "$GP_SSH_SECRET_DIR/id_rsa" "$d/id_rsa" 600
  gpk_copy_secret "$GP_SSH_SECRET_DIR/id_rsa.pub" "$d/id_rsa.pub" 644
  gpk_copy_secret "$GP_SSH_SECRET_DIR/id_rsa.pub" "$d/authorized_keys" 600
  gpk_copy_secret "$GP_SSH_SECRET_DIR/ssh_host_ed25519_key" "$d/sshd/ssh_host_ed25519_key" 600
  gpk_copy_secret "$GP_SSH_SECRET_DIR/ssh_host_ed25519_key.pub" "$d/sshd/ssh_host_ed25519_key.pub" 644
  pub="$(awk 'NF >= 2 {print $1" "$2; exit}' "$d/sshd/ssh_host_ed25519_key.pub")"
  [[ -n "$pub" ]] || die "host public key ${GP_SSH_SECRET_DIR}/ssh_host_ed25519_key.pub is empty"

  {
    printf '[localhost]:%s,[127.0.0.1]:%s,[::1]:%s %s\n' "$GP_SSH_PORT" "$GP_SSH_PORT" "$GP_SSH_PORT" "$pub"
    while read -r pod; do
      entry="[${pod}]:${GP_SSH_PORT},[$(gpk_fqdn "$pod")]:${GP_SSH_PORT}"
      printf '%s %s\n' "$entry" "$pub"
    done < <(gpk_all_pods)
  } >"$d/known_hosts"
  chmod 644 "$d/known_hosts"

  cat >"$d/config" <<EOF
# Written by greenplum-k8s entrypoint.sh. Greenplum utilities call plain "ssh <host>".
Host *
  Port ${GP_SSH_PORT}
  User gpadmin
  IdentityFile ${d}/id_rsa
  IdentitiesOnly yes
  BatchMode yes
  StrictHostKeyChecking yes
  UserKnownHostsFile ${d}/known_hosts
  HashKnownHosts no
  ConnectTimeout ${GP_SSH_CONNECT_TIMEOUT}
  ServerAliveInterval 30
  LogLevel ERROR
EOF
  chmod 600 "$d/config"

  # Non-root sshd: only gpadmin can log in, which is all Greenplum needs.
  cat >"$d/sshd/sshd_config" <<EOF
# Written by greenplum-k8s entrypoint.sh: sshd running as gpadmin (no root, no PAM).
Port ${GP_SSH_PORT}
HostKey ${d}/sshd/ssh_host_ed25519_key
PidFile ${d}/sshd/sshd.pid
AuthorizedKeysFile ${d}/authorized_keys
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers gpadmin
StrictModes yes
PrintMotd no
# gpinitsystem and gprecoverseg open many sessions in parallel.
MaxStartups 200:30:400
MaxSessions 200
Subsystem sftp internal-sftp
EOF
  chmod 600 "$d/sshd/sshd_config"
}

gpk_sshd_alive() {
  local pid
  pid="$(cat "$GP_RUN_DIR/sshd.pid" 2>/dev/null || true)"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

# Starts sshd in the foreground mode as a child of the entrypoint (no daemonising, so the
# entrypoint can watch and restart it). sshd insists on an absolute path to itself.
gpk_start_sshd() {
  if gpk_sshd_alive; then return 0; fi
  local bin
  bin="$(command -v sshd)" || die "sshd not found on PATH (${PATH})"
  "$bin" -D -e -f "${HOME}/.ssh/sshd/sshd_config" &
  echo "$!" >"$GP_RUN_DIR/sshd.pid"
  log_info "sshd started on port ${GP_SSH_PORT} (pid $!)"
}

gpk_ssh() {
  ssh -o BatchMode=yes -o ConnectTimeout="$GP_SSH_CONNECT_TIMEOUT" "$@"
}

# A host "answers" when its sshd lets us in and the pod is not shutting down (prestop.sh
# leaves a marker so the supervisor does not restart what a terminating pod just stopped).
gpk_host_answers() {
  # shellcheck disable=SC2016 # $HOME expands on the remote host
  gpk_ssh "$1" 'test ! -e "$HOME/.greenplum-k8s/stopping"' </dev/null >/dev/null 2>&1
}

# Prints nothing when the pod resolves and its sshd answers, else the reason.
gpk_host_problem() {
  local pod="$1" fqdn
  fqdn="$(gpk_fqdn "$pod")"
  if ! getent hosts "$fqdn" >/dev/null 2>&1; then
    echo "${pod} (no DNS record for ${fqdn})"
  elif ! gpk_host_answers "$fqdn"; then
    echo "${pod} (sshd on ${fqdn}:${GP_SSH_PORT} not answering)"
  fi
}

# gpk_wait_for_hosts SECONDS POD... : 0 when all answer, 1 with a clear error otherwise.
gpk_wait_for_hosts() {
  local wait="$1" deadline pod problem
  shift
  deadline=$(($(date +%s) + wait))
  while :; do
    local missing=()
    for pod in "$@"; do
      problem="$(gpk_host_problem "$pod")"
      if [[ -n "$problem" ]]; then missing+=("$problem"); fi
    done
    if ((${#missing[@]} == 0)); then
      log_info "all ${#} hosts resolve and answer on ssh port ${GP_SSH_PORT}"
      return 0
    fi
    if (($(date +%s) >= deadline)); then
      log_error "timed out after ${wait}s waiting for hosts: ${missing[*]}"
      return 1
    fi
    log_info "waiting for hosts: ${missing[*]}"
    sleep "$GP_HOST_POLL_SECONDS"
  done
}

# ---------------------------------------------------------------------------
# SQL on the local master
# ---------------------------------------------------------------------------

# Runs SQL read from stdin against the local master over the unix socket (gpadmin, ident).
# SQL is never put on the command line, so passwords never show in ps.
gpk_psql() {
  PGCONNECT_TIMEOUT="${GP_PSQL_CONNECT_TIMEOUT:-5}" PGOPTIONS="${PGOPTIONS:-}" \
    psql -X -q -A -t -v ON_ERROR_STOP=1 -p "$GP_MASTER_PORT" -U gpadmin -d template1 -f -
}

gpk_master_sql_ok() {
  local out
  out="$(gpk_psql <<<'-- gpk:ping
SELECT 1;' 2>/dev/null)" || return 1
  [[ "$out" == 1 ]]
}

# What pg_isready says about the local master, for log lines.
gpk_master_ping_state() {
  local rc=0
  pg_isready -q -p "$GP_MASTER_PORT" -t 3 >/dev/null 2>&1 || rc=$?
  case "$rc" in
  0) echo "pg_isready 0: accepting connections, e.g. too many clients" ;;
  1) echo "pg_isready 1: starting up, in crash recovery or shutting down" ;;
  2) echo "pg_isready 2: no response" ;;
  *) echo "pg_isready ${rc}" ;;
  esac
}

# ---------------------------------------------------------------------------
# Rendering: gpinitsystem input and master pg_hba.conf
# ---------------------------------------------------------------------------

# gpinitsystem -I input. -c and -I are mutually exclusive in GP6, so the few cluster
# parameters live in the same file. Lines use the GP6 six-field format
# host~address~port~datadir~dbid~content with the headless-service FQDN for both names.
gpk_render_gpinitsystem_input() {
  local dbid=1 i host
  cat <<'EOF'
ARRAY_NAME="greenplum-k8s"
TRUSTED_SHELL=ssh
CHECK_POINT_SEGMENTS=8
ENCODING=UNICODE
HEAP_CHECKSUM=on
HBA_HOSTNAMES=1
EOF
  host="$(gpk_fqdn master-0)"
  printf 'QD_PRIMARY_ARRAY=%s~%s~%s~%s~%s~-1\n' "$host" "$host" "$GP_MASTER_PORT" "$GPK_MASTER_DIR" "$dbid"
  dbid=$((dbid + 1))
  echo 'declare -a PRIMARY_ARRAY=('
  for ((i = 0; i < GP_PRIMARY_SEGMENT_COUNT; i++)); do
    host="$(gpk_fqdn "segment-a-${i}")"
    printf '%s~%s~%s~%s~%s~%s\n' "$host" "$host" "$GP_PRIMARY_PORT" "$GPK_PRIMARY_DIR" "$dbid" "$i"
    dbid=$((dbid + 1))
  done
  echo ')'
  if [[ "$GP_MIRRORS" == true ]]; then
    echo 'declare -a MIRROR_ARRAY=('
    for ((i = 0; i < GP_PRIMARY_SEGMENT_COUNT; i++)); do
      host="$(gpk_fqdn "segment-b-${i}")"
      printf '%s~%s~%s~%s~%s~%s\n' "$host" "$host" "$GP_MIRROR_PORT" "$GPK_MIRROR_DIR" "$dbid" "$i"
      dbid=$((dbid + 1))
    done
    echo ')'
  fi
}

# The exact master pg_hba.conf: peers by exact host name (postgres checks the name with a
# reverse plus forward lookup; CoreDNS answers PTR for headless-service pods), replication
# only between the two masters, GP_HBA_EXTRA, then md5 for clients. No subnet-wide trust.
# Primary<->mirror replication entries live in the segments' own pg_hba.conf (gpinitsystem
# writes them by host name because HBA_HOSTNAMES=1).
gpk_render_master_hba() {
  local pod line
  echo '# Managed by greenplum-k8s: rewritten at init and kept exact by the supervisor on the acting master.'
  echo 'local all gpadmin ident'
  echo 'host all gpadmin 127.0.0.1/32 trust'
  echo 'host all gpadmin ::1/128 trust'
  while read -r pod; do
    printf 'host all gpadmin %s trust\n' "$(gpk_fqdn "$pod")"
  done < <(gpk_all_pods)
  if [[ "$GP_STANDBY" == true ]]; then
    while read -r pod; do
      printf 'host replication gpadmin %s trust\n' "$(gpk_fqdn "$pod")"
    done < <(gpk_master_pods)
  fi
  if [[ -n "${GP_HBA_EXTRA//[[:space:]]/}" ]]; then
    echo '# GP_HBA_EXTRA'
    while IFS= read -r line; do
      line="${line%$'\r'}"
      [[ -n "${line//[[:space:]]/}" ]] && printf '%s\n' "$line"
    done <<<"$GP_HBA_EXTRA"
  fi
  echo 'host all all 0.0.0.0/0 md5'
  echo 'host all all ::/0 md5'
}

# Writes the exact pg_hba.conf into the master data directory when it differs and reloads.
# Returns 0 when nothing changed or the reload worked.
gpk_apply_master_hba() {
  local hba="$GPK_MASTER_DIR/pg_hba.conf" want
  want="$(gpk_render_master_hba)"
  if [[ -f "$hba" && "$(cat "$hba")" == "$want" ]]; then return 0; fi
  printf '%s\n' "$want" >"${hba}.gpk-tmp"
  chmod 600 "${hba}.gpk-tmp"
  mv "${hba}.gpk-tmp" "$hba"
  log_info "wrote exact pg_hba.conf to ${hba}; reloading the master"
  pg_ctl reload -D "$GPK_MASTER_DIR" >/dev/null
}

# ---------------------------------------------------------------------------
# Postgres instance start/stop
# ---------------------------------------------------------------------------

# pg_ctl command lines exactly as gpstart builds them (gppylib/commands/gp.py): SegmentStart
# passes only "-p PORT" (PgCtlBackendOptions; no gp_role, which would break utility-mode
# connections), MasterStart and GpStandbyStart add "-E" (set_master: dispatcher mode with the FTS
# prober, distributed-transaction recovery and the deadlock detector), and GpStandbyStart does
# not wait (wait=False). gpstart also sets GPSESSID/GPERA in the environment, which only its own
# orphan detection reads; postgres ignores them.
gpk_segment_start_cmd() {
  local dir="$1" port="$2"
  printf 'pg_ctl -D %q -l %q -w -t 600 -o %q start' "$dir" "$dir/pg_log/startup.log" "-p ${port}"
}

gpk_start_local_segment() {
  local dir="$1" port="$2" cmd
  cmd="$(gpk_segment_start_cmd "$dir" "$port")"
  log_info "starting unmirrored segment instance: ${cmd}"
  mkdir -p "$dir/pg_log"
  eval "$cmd"
}

gpk_start_local_standby() {
  log_info "starting standby master postmaster on ${GPK_MASTER_DIR} as gpstart does (-E, no wait)"
  mkdir -p "$GPK_MASTER_DIR/pg_log"
  pg_ctl -D "$GPK_MASTER_DIR" -l "$GPK_MASTER_DIR/pg_log/startup.log" -t 600 \
    -o "-p ${GP_MASTER_PORT} -E" start
}

# Stops one postgres instance: fast, and immediate only when fast did not finish in time.
gpk_stop_instance() {
  local dir="$1"
  if ! gpk_postmaster_running "$dir"; then
    log_info "no postmaster running on ${dir}; nothing to stop"
    return 0
  fi
  log_info "stopping ${dir}: pg_ctl -m fast (timeout ${GP_STOP_TIMEOUT_SECONDS}s)"
  if pg_ctl -D "$dir" -m fast -w -t "$GP_STOP_TIMEOUT_SECONDS" stop; then
    return 0
  fi
  log_error "pg_ctl -m fast did not stop ${dir} within ${GP_STOP_TIMEOUT_SECONDS}s; falling back to -m immediate"
  if pg_ctl -D "$dir" -m immediate -w -t "$GP_STOP_IMMEDIATE_TIMEOUT_SECONDS" stop; then
    return 0
  fi
  log_error "pg_ctl -m immediate failed too for ${dir}; postgres may still be running"
  return 1
}

# Stops the whole cluster from the acting master with gpstop, bounded.
gpk_stop_cluster() {
  local rc=0
  if ! gpk_postmaster_running "$GPK_MASTER_DIR"; then
    log_info "master postmaster is not running; nothing for gpstop to do"
    return 0
  fi
  log_info "stopping the cluster: gpstop -a -M fast (timeout ${GP_STOP_TIMEOUT_SECONDS}s)"
  timeout -k 10 "$GP_STOP_TIMEOUT_SECONDS" gpstop -a -M fast || rc=$?
  if ! gpk_postmaster_running "$GPK_MASTER_DIR"; then
    if ((rc != 0)); then log_warn "gpstop -M fast exited ${rc} but the master is stopped"; fi
    return 0
  fi
  if ((rc == 124 || rc == 137)); then
    log_error "gpstop -M fast did not finish within ${GP_STOP_TIMEOUT_SECONDS}s; falling back to gpstop -M immediate"
  else
    log_error "gpstop -M fast failed (exit ${rc}) and the master still runs; falling back to gpstop -M immediate"
  fi
  rc=0
  timeout -k 10 "$GP_STOP_IMMEDIATE_TIMEOUT_SECONDS" gpstop -a -M immediate || rc=$?
  if ! gpk_postmaster_running "$GPK_MASTER_DIR"; then
    return 0
  fi
  log_error "gpstop -M immediate failed (exit ${rc}); stopping the master postmaster alone"
  pg_ctl -D "$GPK_MASTER_DIR" -m immediate -w -t "$GP_STOP_IMMEDIATE_TIMEOUT_SECONDS" stop || return 1
}

# ---------------------------------------------------------------------------
# LSN helpers (pg 9.4 "X/Y" text form)
# ---------------------------------------------------------------------------

gpk_lsn_to_int() {
  local hi="${1%%/*}" lo="${1##*/}"
  printf '%d\n' "$(((16#$hi << 32) + 16#$lo))"
}
