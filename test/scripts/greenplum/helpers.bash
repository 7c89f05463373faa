# shellcheck shell=bash disable=SC2034,SC2154 # used by the .bats files; status/output come from bats
# Shared setup for the greenplum script tests: a throw-away HOME, data root, Secret files and
# ConfigMap file under $BATS_TEST_TMPDIR, stand-ins (stubs/) first on PATH, waits set to 0.
# Tiny assertion helpers, no bats-assert.

REPO="$(cd "$BATS_TEST_DIRNAME/../../.." && pwd)"
SCRIPTS="$REPO/components/greenplum/scripts"
FAILOVER="$REPO/bin/gp-failover"
STUBS="$BATS_TEST_DIRNAME/stubs"
FQ=agent.gp.svc.cluster.local

gp_setup() {
  local t="$BATS_TEST_TMPDIR"
  # Clear anything scenario-specific inherited from the caller.
  local v
  for v in $(compgen -v | grep -E '^(STUB_|GP_)'); do unset "$v"; done
  export HOME="$t/home"
  mkdir -p "$HOME"
  export GP_DATA_ROOT="$t/greenplum"
  mkdir -p "$GP_DATA_ROOT"
  export GPHOME="$t/gphome"
  mkdir -p "$GPHOME"
  echo '# stand-in greenplum_path.sh' >"$GPHOME/greenplum_path.sh"
  export GP_SSH_SECRET_DIR="$t/secret-ssh"
  mkdir -p "$GP_SSH_SECRET_DIR"
  echo 'PRIVATE-USER-KEY' >"$GP_SSH_SECRET_DIR/id_rsa"
  echo 'ssh-rsa AAAAUSERKEY gpadmin@greenplum-k8s' >"$GP_SSH_SECRET_DIR/id_rsa.pub"
  echo 'PRIVATE-HOST-KEY' >"$GP_SSH_SECRET_DIR/ssh_host_ed25519_key"
  echo 'ssh-ed25519 AAAAHOSTKEY greenplum-k8s-host' >"$GP_SSH_SECRET_DIR/ssh_host_ed25519_key.pub"
  chmod 440 "$GP_SSH_SECRET_DIR"/*
  export GP_PASSWORD_FILE="$t/password"
  printf "s3cr'et\n" >"$GP_PASSWORD_FILE"
  export GP_ACTING_MASTER_FILE="$t/acting-master"
  echo master-0 >"$GP_ACTING_MASTER_FILE"
  export GP_RUN_DIR="$HOME/.greenplum-k8s"
  export STUB_LOG="$t/calls.log"
  : >"$STUB_LOG"
  export STUB_PSQL_DIR="$t/psql"
  mkdir -p "$STUB_PSQL_DIR"
  export STUB_KUBECTL_DIR="$t/kubectl"
  mkdir -p "$STUB_KUBECTL_DIR"
  export STUB_HOSTNAME=master-0
  export GP_SET=master GP_NAMESPACE=gp GP_HEADLESS_SERVICE=agent GP_CLUSTER_DOMAIN=cluster.local
  export GP_PRIMARY_SEGMENT_COUNT=2 GP_MIRRORS=false GP_STANDBY=false GP_DATABASE=analytics
  export GP_MASTER_PORT=5432 GP_PRIMARY_PORT=6000 GP_MIRROR_PORT=7000 GP_SSH_PORT=2222
  export GP_HOST_WAIT_SECONDS=0 GP_RESTART_HOST_WAIT_SECONDS=0 GP_HOST_POLL_SECONDS=0
  export GP_SUPERVISE_INTERVAL_SECONDS=0 GP_STOP_TIMEOUT_SECONDS=2 GP_STOP_IMMEDIATE_TIMEOUT_SECONDS=2
  export GP_HBA_EXTRA="" GP_ONESHOT=1 GP_SYNC_CHECK_INTERVAL=0 GPK_LOG_COPY=/dev/null
  export PATH="$STUBS:$PATH"
}

# psql answer for a query tag: psql_answer TAG TEXT [RC]
psql_answer() {
  printf '%s\n' "$2" >"$STUB_PSQL_DIR/$1"
  if [[ -n "${3:-}" ]]; then echo "$3" >"$STUB_PSQL_DIR/$1.rc"; fi
}

# kubectl exec answer: kubectl_answer POD VERB TEXT [RC]
kubectl_answer() {
  printf '%s\n' "$3" >"$STUB_KUBECTL_DIR/$1.$2.out"
  if [[ -n "${4:-}" ]]; then echo "$4" >"$STUB_KUBECTL_DIR/$1.$2.rc"; fi
}

# A master data directory: make_master_data [standby] [running]
make_master_data() {
  mkdir -p "$GP_DATA_ROOT/data-1"
  echo 9.4 >"$GP_DATA_ROOT/data-1/PG_VERSION"
  local a
  for a in "$@"; do
    case "$a" in
    standby) echo "standby_mode = 'on'" >"$GP_DATA_ROOT/data-1/recovery.conf" ;;
    running) echo 1 >"$GP_DATA_ROOT/data-1/postmaster.pid" ;;
    esac
  done
}

set_init_state() {
  mkdir -p "$GP_DATA_ROOT/greenplum-k8s"
  echo "$1 2024-01-01T00:00:00Z" >"$GP_DATA_ROOT/greenplum-k8s/init-state"
}

load ../assert

run_script() {
  run bash "$SCRIPTS/$1" "${@:2}"
}

# A line of the stub call log matching the exact text.
expect_call() {
  if ! grep -qxF -- "$1" "$STUB_LOG"; then
    printf 'expected call %q; calls:\n%s\n' "$1" "$(cat "$STUB_LOG")" >&2
    return 1
  fi
}

# No call log line starting with the command name.
expect_no_call() {
  if grep -qE "^$1( |$)" "$STUB_LOG"; then
    printf 'expected no call to %s; calls:\n%s\n' "$1" "$(cat "$STUB_LOG")" >&2
    return 1
  fi
}

# Line number of the first call log line starting with the text (for ordering checks).
call_line() {
  grep -nF -- "$1" "$STUB_LOG" | head -n 1 | cut -d: -f1
}

expect_before() {
  local a b
  a="$(call_line "$1")"
  b="$(call_line "$2")"
  if [[ -z "$a" || -z "$b" ]] || ((a >= b)); then
    printf 'expected %q (line %s) before %q (line %s); calls:\n%s\n' "$1" "$a" "$2" "$b" "$(cat "$STUB_LOG")" >&2
    return 1
  fi
}

expect_file() {
  local want
  want="$(cat)"
  if [[ ! -f "$1" ]]; then
    echo "expected file $1 to exist" >&2
    return 1
  fi
  if [[ "$(cat "$1")" != "$want" ]]; then
    printf 'file %s differs from expected:\n' "$1" >&2
    diff <(printf '%s\n' "$want") "$1" >&2 || true
    return 1
  fi
}
