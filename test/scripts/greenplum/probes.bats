#!/usr/bin/env bats
# Tests for readiness.sh, liveness.sh and prestop.sh with the stand-ins in stubs/.
# Run from the repository root: bats -r test/scripts

load helpers

setup() {
  gp_setup
}

# --- readiness -------------------------------------------------------------------------

@test "readiness: acting master is ready when every content has an up primary" {
  psql_answer ready-primaries 2
  run_script readiness.sh
  expect_status 0
  [[ "${#lines[@]}" -eq 1 ]]
  expect_output_has "ready: acting master master-0: SQL answers, 2/2 contents have an up primary"
}

@test "readiness: acting master is not ready until the first init is done (standby, password, client pg_hba lines, database)" {
  psql_answer ready-primaries 2
  for state in gpinitsystem-started gpinitsystem-done; do
    set_init_state "$state"
    run_script readiness.sh
    expect_status 1
    expect_output_has "not ready: acting master master-0: the first init is not finished (${state}): the standby, password, client pg_hba lines and database come next"
  done
  set_init_state done
  run_script readiness.sh
  expect_status 0
}

@test "readiness: acting master is not ready while a content has no up primary" {
  psql_answer ready-primaries 1
  run_script readiness.sh
  expect_status 1
  [[ "${#lines[@]}" -eq 1 ]]
  expect_output_has "not ready: acting master master-0: only 1/2 contents have an up primary"
}

@test "readiness: acting master is not ready when SQL does not answer" {
  export STUB_PSQL_DOWN=1
  run_script readiness.sh
  expect_status 1
  expect_output_has "not ready: acting master master-0: SQL does not answer on port 5432"
}

# A process table with one process whose title is $1 (what ps shows for it).
fake_process() {
  export GPK_PROC_DIR="$BATS_TEST_TMPDIR/proc"
  local n
  n="$(($(find "$GPK_PROC_DIR" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) + 100))"
  mkdir -p "$GPK_PROC_DIR/$n"
  printf '%s\0' "$1" >"$GPK_PROC_DIR/$n/cmdline"
}

@test "readiness: standby master is ready on mirror-ready (64) with its wal receiver running" {
  export STUB_HOSTNAME=master-1 GP_STANDBY=true STUB_PG_ISREADY_RC=64
  make_master_data standby
  fake_process "postgres:  5432, wal receiver process   streaming 0/C000128"
  run_script readiness.sh
  expect_status 0
  expect_output_has "ready: standby master master-1: mirror ready on port 5432, wal receiver connected"
  expect_no_call psql
}

@test "readiness: standby master is not ready without a wal receiver, or while rejecting (1)" {
  export STUB_HOSTNAME=master-1 GP_STANDBY=true STUB_PG_ISREADY_RC=64
  make_master_data standby
  fake_process "postgres:  5432, startup process   recovering 000000010000000000000003"
  fake_process "postgres:  6000, wal receiver process"
  run_script readiness.sh
  expect_status 1
  expect_output_has "not ready: standby master master-1: mirror ready on port 5432 but no wal receiver runs"
  export STUB_PG_ISREADY_RC=1
  fake_process "postgres:  5432, wal receiver process"
  run_script readiness.sh
  expect_status 1
  expect_output_has "not ready: standby master master-1: postmaster on port 5432: rejecting connections (starting up, in recovery or shutting down)"
}

@test "readiness: a master pod without standby data is not ready" {
  export STUB_HOSTNAME=master-1 GP_STANDBY=true STUB_PG_ISREADY_RC=64
  run_script readiness.sh
  expect_status 1
  expect_output_has "not ready: master pod master-1 is not the acting master (ConfigMap: 'master-0') and holds no standby data"
}

@test "readiness: a just-promoted master serves before its ConfigMap copy names it; a fenced one does not" {
  export STUB_HOSTNAME=master-1 GP_STANDBY=true
  make_master_data running
  psql_answer ready-primaries 2
  run_script readiness.sh
  expect_status 0
  expect_output_has "ready: acting master master-1: SQL answers, 2/2 contents have an up primary"
  date >"$GP_DATA_ROOT/data-1/greenplum-k8s-fenced"
  run_script readiness.sh
  expect_status 1
  expect_output_has "not ready: master pod master-1 is not the acting master (ConfigMap: 'master-0') and holds no standby data"
}

@test "readiness: primary segment ready on pg_isready 0, not ready on 2" {
  export GP_SET=segment-a STUB_HOSTNAME=segment-a-1
  run_script readiness.sh
  expect_status 0
  expect_output_has "ready: segment-a segment-a-1: acting primary, accepting connections on port 6000"
  export STUB_PG_ISREADY_RC=2
  run_script readiness.sh
  expect_status 1
  expect_output_has "not ready: segment-a segment-a-1: postmaster on port 6000: no response"
}

@test "readiness: mirror ready on 64 with its wal receiver, on 0 once promoted; not on 1" {
  export GP_SET=segment-b STUB_HOSTNAME=segment-b-0 GP_MIRRORS=true STUB_PG_ISREADY_RC=64
  fake_process "postgres:  7000, wal receiver process   streaming 0/4000060"
  run_script readiness.sh
  expect_status 0
  expect_output_has "ready: segment-b segment-b-0 (mirror): mirror ready on port 7000, wal receiver connected"
  expect_call "pg_isready -q -p 7000 -t 3"
  export STUB_PG_ISREADY_RC=0
  run_script readiness.sh
  expect_status 0
  expect_output_has "ready: segment-b segment-b-0: acting primary, accepting connections on port 7000"
  export STUB_PG_ISREADY_RC=1
  run_script readiness.sh
  expect_status 1
  expect_output_has "not ready: segment-b segment-b-0 (mirror): postmaster on port 7000: rejecting connections"
}

@test "readiness: a primary that came back as a mirror is ready once its wal receiver runs" {
  export GP_SET=segment-a STUB_HOSTNAME=segment-a-0 GP_MIRRORS=true STUB_PG_ISREADY_RC=64
  export GPK_PROC_DIR="$BATS_TEST_TMPDIR/empty-proc"
  mkdir -p "$GPK_PROC_DIR"
  run_script readiness.sh
  expect_status 1
  expect_output_has "not ready: segment-a segment-a-0 (mirror): mirror ready on port 6000 but no wal receiver runs"
  fake_process "postgres:  6000, wal receiver process"
  run_script readiness.sh
  expect_status 0
}

# --- liveness --------------------------------------------------------------------------

@test "liveness: alive when the entrypoint and sshd run, regardless of postgres" {
  mkdir -p "$GP_RUN_DIR"
  sleep 30 &
  local sleeper=$!
  echo "$$" >"$GP_RUN_DIR/entrypoint.pid"
  echo "$sleeper" >"$GP_RUN_DIR/sshd.pid"
  export STUB_PSQL_DOWN=1 STUB_PG_ISREADY_RC=2
  run_script liveness.sh
  kill "$sleeper"
  expect_status 0
  expect_output_has "alive: entrypoint and sshd running"
  expect_no_call pg_isready
  expect_no_call psql
}

@test "liveness: not alive when sshd is gone" {
  mkdir -p "$GP_RUN_DIR"
  echo "$$" >"$GP_RUN_DIR/entrypoint.pid"
  echo 999999 >"$GP_RUN_DIR/sshd.pid"
  run_script liveness.sh
  expect_status 1
  expect_output_has "not alive: sshd"
}

# --- preStop ---------------------------------------------------------------------------

@test "prestop: acting master runs gpstop -a -M fast" {
  make_master_data running
  run_script prestop.sh
  expect_status 0
  expect_call "gpstop -a -M fast"
  if grep -q 'gpstop -a -M immediate' "$STUB_LOG"; then false; fi
  [[ -e "$GP_RUN_DIR/stopping" ]]
}

@test "prestop: acting master falls back to -M immediate when fast does not finish in time" {
  export GP_STOP_TIMEOUT_SECONDS=1 STUB_GPSTOP_FAST=hang
  make_master_data running
  run_script prestop.sh
  expect_status 0
  expect_output_has "gpstop -M fast did not finish within 1s; falling back to gpstop -M immediate"
  expect_before "gpstop -a -M fast" "gpstop -a -M immediate"
}

@test "prestop: a master that is not acting stops its own postmaster with pg_ctl" {
  export GP_STANDBY=true STUB_HOSTNAME=master-1
  make_master_data standby running
  run_script prestop.sh
  expect_status 0
  expect_call "pg_ctl -D $GP_DATA_ROOT/data-1 -m fast -w -t 2 stop"
  expect_no_call gpstop
}

@test "prestop: segment runs pg_ctl -m fast" {
  export GP_SET=segment-a STUB_HOSTNAME=segment-a-0
  mkdir -p "$GP_DATA_ROOT/data"
  echo 1 >"$GP_DATA_ROOT/data/postmaster.pid"
  run_script prestop.sh
  expect_status 0
  expect_call "pg_ctl -D $GP_DATA_ROOT/data -m fast -w -t 2 stop"
  expect_no_call gpstop
}

@test "prestop: segment with nothing running does not call stop" {
  export GP_SET=segment-b STUB_HOSTNAME=segment-b-0 GP_MIRRORS=true
  mkdir -p "$GP_DATA_ROOT/mirror/data"
  run_script prestop.sh
  expect_status 0
  if grep -q 'pg_ctl .* stop' "$STUB_LOG"; then false; fi
  expect_output_has "nothing to stop"
}

@test "prestop: a failed stop is logged and reported with a non-zero exit" {
  export GP_SET=segment-a STUB_HOSTNAME=segment-a-0 STUB_PG_CTL_STOP_FAIL=all
  mkdir -p "$GP_DATA_ROOT/data"
  echo 1 >"$GP_DATA_ROOT/data/postmaster.pid"
  export GPK_LOG_COPY="$BATS_TEST_TMPDIR/pid1-stdout"
  : >"$GPK_LOG_COPY"
  run_script prestop.sh
  expect_status 1
  expect_output_has "falling back to -m immediate" "preStop could not stop postgres cleanly"
  grep -q "preStop could not stop postgres cleanly" "$GPK_LOG_COPY"
}
