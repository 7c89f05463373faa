#!/usr/bin/env bats
# The pod scripts, gp-failover and the stand-ins must stay shellcheck-clean.

load helpers

@test "greenplum scripts and gp-failover are shellcheck-clean" {
  command -v shellcheck >/dev/null || skip "shellcheck not installed"
  run shellcheck -x "$SCRIPTS"/*.sh "$FAILOVER"
  expect_status 0
  run shellcheck -x -P SCRIPTDIR "$STUBS"/* "$BATS_TEST_DIRNAME/helpers.bash"
  expect_status 0
}
