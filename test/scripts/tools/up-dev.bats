#!/usr/bin/env bats
# tools/up-dev.sh (npm run up:dev) fails fast, saying what is missing, before touching any stack.

load ../assert

setup() {
  STUBS="$BATS_TEST_TMPDIR/bin"
  mkdir -p "$STUBS"
  export CALLS="$BATS_TEST_TMPDIR/calls.log"
  : >"$CALLS"
  # Only what the script needs besides the tools under test: bash and coreutils.
  for tool in bash dirname cat; do ln -s "$(command -v "$tool")" "$STUBS/$tool"; done
}

# stub NAME EXIT: a stand-in that logs its arguments and exits with EXIT.
stub() {
  printf '#!/bin/bash\necho "%s $*" >>"$CALLS"\nexit %s\n' "$1" "$2" >"$STUBS/$1"
  chmod +x "$STUBS/$1"
}

up_dev() {
  run env PATH="$STUBS" bash "$BATS_TEST_DIRNAME/../../../tools/up-dev.sh"
}

@test "without the Pulumi CLI it stops and says how to install it" {
  stub kubectl 0
  up_dev
  expect_status 1
  expect_output_has "the Pulumi CLI is not installed"
  [[ ! -s "$CALLS" ]]
}

@test "without a minikube context it stops and says how to start minikube, before any pulumi command" {
  stub pulumi 0
  stub kubectl 1
  up_dev
  expect_status 1
  expect_output_has "there is no kubeconfig context 'minikube'" "minikube start"
  if grep -q '^pulumi' "$CALLS"; then echo "pulumi was called: $(cat "$CALLS")" >&2; return 1; fi
}

@test "with everything present it logs in locally, selects or creates dev and runs pulumi up" {
  stub kubectl 0
  printf '#!/bin/bash\necho "pulumi $*" >>"$CALLS"\n[[ "$1 $2" == "stack select" ]] && exit 1\nexit 0\n' >"$STUBS/pulumi"
  chmod +x "$STUBS/pulumi"
  up_dev
  expect_status 0
  grep -qx "pulumi login --local" "$CALLS"
  grep -qx "pulumi stack init dev" "$CALLS"
  grep -qx "pulumi up --stack dev" "$CALLS"
}
