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

@test "readiness: standby master is ready when its postmaster answers (rejecting is fine)" {
  export STUB_HOSTNAME=master-1 GP_STANDBY=true STUB_PG_ISREADY_RC=1
  run_script readiness.sh
  expect_status 0
  expect_output_has "ready: standby master master-1: postmaster answers on port 5432"
  expect_no_call psql
}

@test "readiness: standby master is not ready when no postmaster answers" {
  export STUB_HOSTNAME=master-1 GP_STANDBY=true STUB_PG_ISREADY_RC=2
  run_script readiness.sh
  expect_status 1
  expect_output_has "not ready: master pod master-1 is not the acting master (ConfigMap: 'master-0')"
}

@test "readiness: primary segment ready on pg_isready 0, not ready on 2" {
  export GP_SET=segment-a STUB_HOSTNAME=segment-a-1
  run_script readiness.sh
  expect_status 0
  expect_output_has "ready: segment-a segment-a-1: postmaster answers on port 6000"
  export STUB_PG_ISREADY_RC=2
  run_script readiness.sh
  expect_status 1
  expect_output_has "not ready: segment-a segment-a-1: no postmaster answers on port 6000"
}

@test "readiness: mirror segment (rejecting connections) is ready on its mirror port" {
  export GP_SET=segment-b STUB_HOSTNAME=segment-b-0 GP_MIRRORS=true STUB_PG_ISREADY_RC=1
  run_script readiness.sh
  expect_status 0
  expect_output_has "ready: segment-b segment-b-0: postmaster answers on port 7000"
  expect_call "pg_isready -q -p 7000 -t 3"
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
