#!/usr/bin/env bats
# Tests for components/storage/volume-guard.sh, with stand-ins for `stat` and `dd` (stubs/) first on PATH.
# Run from the repository root: bats test/scripts

GUARD="$BATS_TEST_DIRNAME/../../../components/storage/volume-guard.sh"
STUBS="$BATS_TEST_DIRNAME/stubs"

setup() {
  DATA="$BATS_TEST_TMPDIR/data"
  MIRROR="$BATS_TEST_TMPDIR/mirror"
  mkdir -p "$DATA" "$MIRROR"
  export STUB_LOG="$BATS_TEST_TMPDIR/calls.log"
  : >"$STUB_LOG"
  unset STUB_FSTYPE STUB_FSTYPE_MAP STUB_DD_FAIL GUARD_ALLOW_NFS
}

# Runs the guard with the stand-ins first on PATH; extra NAME=VALUE environment before "--".
guard() {
  local env=()
  while [[ $# -gt 0 && "$1" != "--" ]]; do
    env+=("$1")
    shift
  done
  [[ "${1:-}" == "--" ]] && shift
  run env PATH="$STUBS:$PATH" "${env[@]}" bash "$GUARD" "$@"
}

load ../assert

# expect_count PATTERN N: exactly N lines of output contain PATTERN.
expect_count() {
  local n=0 line
  for line in "${lines[@]}"; do
    [[ "$line" == *"$1"* ]] && n=$((n + 1))
  done
  if [[ "$n" -ne "$2" ]]; then
    printf 'expected %s lines with %q, got %s; output:\n%s\n' "$2" "$1" "$n" "$output" >&2
    return 1
  fi
}

expect_no_probe_left() {
  local dir
  for dir in "$@"; do
    if [[ -e "$dir/.o_direct_probe" ]]; then
      printf 'probe file left in %s\n' "$dir" >&2
      return 1
    fi
  done
}

@test "no arguments: usage, exit 2" {
  guard --
  expect_status 2
  expect_output_has "usage: volume-guard NAME=PATH"
}

@test "an argument without NAME=PATH: usage, exit 2, nothing checked" {
  guard -- "$DATA"
  expect_status 2
  expect_output_has "expected NAME=PATH" "usage:"
  [[ ! -s "$STUB_LOG" ]]
}

@test "an empty name or path: usage, exit 2" {
  guard -- "=$DATA"
  expect_status 2
  guard -- "data="
  expect_status 2
}

@test "xfs volume that accepts O_DIRECT passes with one ok line and no probe file left" {
  guard STUB_FSTYPE=xfs -- "data=$DATA"
  expect_status 0
  [[ "${#lines[@]}" -eq 1 ]]
  [[ "${lines[0]}" == "volume-guard: ok volume data at $DATA (xfs, O_DIRECT write ok)" ]]
  grep -q "of=$DATA/.o_direct_probe bs=4096 count=1 oflag=direct" "$STUB_LOG"
  expect_no_probe_left "$DATA"
}

@test "several volumes: one ok line per volume" {
  guard STUB_FSTYPE=xfs -- "data=$DATA" "mirror=$MIRROR"
  expect_status 0
  [[ "${#lines[@]}" -eq 2 ]]
  expect_output_has "ok volume data at $DATA" "ok volume mirror at $MIRROR"
}

@test "tmpfs is rejected with one message naming volume, path, type and fix, before any write" {
  guard STUB_FSTYPE=tmpfs -- "data=$DATA"
  expect_status 1
  [[ "${#lines[@]}" -eq 1 ]]
  expect_output_has "FAIL volume data at $DATA" "filesystem is tmpfs" "O_DIRECT" \
    "rook-ceph" "minikube ssh -- findmnt -T <hostpath>"
  [[ ! -s "$STUB_LOG" ]]
}

@test "ramfs is rejected" {
  guard STUB_FSTYPE=ramfs -- "data=$DATA"
  expect_status 1
  expect_output_has "FAIL volume data at $DATA" "filesystem is ramfs"
}

@test "overlay (no volume mounted) is rejected" {
  guard STUB_FSTYPE=overlayfs -- "data=$DATA"
  expect_status 1
  expect_output_has "FAIL volume data at $DATA" "no volume is mounted"
}

@test "an O_DIRECT write failure is rejected with the dd error and the probe removed" {
  guard STUB_FSTYPE=xfs STUB_DD_FAIL=direct -- "data=$DATA"
  expect_status 1
  [[ "${#lines[@]}" -eq 1 ]]
  expect_output_has "FAIL volume data at $DATA" "filesystem is xfs" "O_DIRECT write failed" \
    "Invalid argument" "fix: use a storage class"
  expect_output_lacks "ok volume"
  expect_no_probe_left "$DATA"
}

@test "an unwritable path is rejected as not writable" {
  guard STUB_FSTYPE=xfs STUB_DD_FAIL=all -- "data=$DATA"
  expect_status 1
  [[ "${#lines[@]}" -eq 1 ]]
  expect_output_has "FAIL volume data at $DATA" "cannot write there" "Permission denied" "fsGroup"
  expect_output_lacks "O_DIRECT write failed"
}

@test "a missing path is rejected without calling stat or dd" {
  guard -- "data=$BATS_TEST_TMPDIR/nope"
  expect_status 1
  expect_output_has "FAIL volume data at $BATS_TEST_TMPDIR/nope" "does not exist"
  [[ ! -s "$STUB_LOG" ]]
}

@test "NFS is rejected by default" {
  guard STUB_FSTYPE=nfs -- "data=$DATA"
  expect_status 1
  expect_output_has "filesystem is nfs" "GUARD_ALLOW_NFS=true"
}

@test "NFS is accepted with a warning when GUARD_ALLOW_NFS=true" {
  guard STUB_FSTYPE=nfs GUARD_ALLOW_NFS=true -- "data=$DATA"
  expect_status 0
  expect_count "WARNING volume data" 1
  expect_count "ok volume data at $DATA (nfs" 1
}

@test "ext4 (reported as ext2/ext3) passes with a warning to use XFS" {
  guard STUB_FSTYPE=ext2/ext3 -- "data=$DATA"
  expect_status 0
  expect_count "WARNING volume data at $DATA: filesystem is ext2/ext3; Greenplum supports only XFS" 1
  expect_count "ok volume data" 1
}

@test "every volume is checked: a bad one fails the run, the good one still reports ok" {
  printf '%s tmpfs\n' "$MIRROR" >"$BATS_TEST_TMPDIR/map"
  guard STUB_FSTYPE=xfs STUB_FSTYPE_MAP="$BATS_TEST_TMPDIR/map" -- "data=$DATA" "mirror=$MIRROR"
  expect_status 1
  expect_count "ok volume data at $DATA" 1
  expect_count "FAIL volume mirror at $MIRROR: filesystem is tmpfs" 1
}

@test "real stat and dd: a tmpfs directory is rejected" {
  local shm=/dev/shm
  [[ -d "$shm" && -w "$shm" && "$(stat -f -c %T "$shm")" == tmpfs ]] || skip "no writable tmpfs at /dev/shm"
  local dir
  dir="$(mktemp -d "$shm/volume-guard.XXXXXX")"
  run bash "$GUARD" "data=$dir"
  rmdir "$dir"
  expect_status 1
  expect_output_has "FAIL volume data at $dir: filesystem is tmpfs"
}

@test "real stat and dd: a directory on xfs or ext4 passes" {
  local fstype
  fstype="$(stat -f -c %T "$DATA")"
  [[ "$fstype" == xfs || "$fstype" == ext2/ext3 ]] || skip "test directory is on $fstype"
  run bash "$GUARD" "data=$DATA"
  expect_status 0
  expect_count "ok volume data at $DATA ($fstype, O_DIRECT write ok)" 1
  expect_no_probe_left "$DATA"
}
