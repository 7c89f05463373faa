#!/usr/bin/env bash
# volume-guard: refuses to start a Greenplum pod whose data volumes cannot hold Greenplum data.
#
# Runs as an init container in every Greenplum pod (same image, uid 1001):
#   bash /opt/greenplum-k8s/scripts/volume-guard.sh NAME=PATH [NAME=PATH ...]
#   e.g. volume-guard.sh data=/greenplum
#
# Why: Greenplum's FTS probe opens data files with O_DIRECT. tmpfs and ramfs reject O_DIRECT, so a
# data directory there makes every probe fail and triggers needless failovers. Greenplum supports only
# XFS on block devices for data; NFS is unsupported.
#
# For each volume:
#   1. the path must be an existing directory;
#   2. its filesystem type (`stat -f -c %T`) must not be tmpfs, ramfs or overlay (overlay means no
#      volume is mounted there: the data would live in the container's writable layer); NFS is
#      rejected unless GUARD_ALLOW_NFS=true; any other type but xfs is allowed with a warning;
#   3. a plain write, then an O_DIRECT write of one 4 KiB block, must succeed (the probe file is
#      removed afterwards).
# Output: one "ok" line per good volume on stdout, one line per bad volume on stderr
# (warnings are on stderr too).
# Exit: 0 all volumes good; 1 at least one volume is not; 2 usage error.
# Commands (stat, dd, rm) are looked up on PATH so tests can put stand-ins first.
set -euo pipefail

readonly PROG="volume-guard"
readonly PROBE_NAME=".o_direct_probe"
readonly FIX="use a storage class backed by a block device formatted XFS (greenplum-k8s:storage.backend rook-ceph, or local-path on a host path that is not tmpfs); on minikube check the host path with 'minikube ssh -- findmnt -T <hostpath>'"

usage() {
  cat >&2 <<EOF
usage: $PROG NAME=PATH [NAME=PATH ...]
  Checks that each Greenplum data volume is on a filesystem that accepts O_DIRECT writes
  (not tmpfs/ramfs/overlay; NFS only with GUARD_ALLOW_NFS=true; XFS recommended).
  example: $PROG data=/greenplum
EOF
}

fail() { # volume path message
  printf '%s: FAIL volume %s at %s: %s\n' "$PROG" "$1" "$2" "$3" >&2
}

warn() { # volume path message
  printf '%s: WARNING volume %s at %s: %s\n' "$PROG" "$1" "$2" "$3" >&2
}

# Prints the last line of a command's error output on one line, for a message.
one_line() {
  local text="$1"
  text="${text##*$'\n'}"
  printf '%s' "${text:-no error output}"
}

# check_volume NAME PATH: prints one line; returns 0 if the volume can hold Greenplum data.
check_volume() {
  local name="$1" path="$2" fstype err probe
  if [[ ! -d "$path" ]]; then
    fail "$name" "$path" "the path does not exist or is not a directory: check the pod's volumeMounts for volume '$name'"
    return 1
  fi
  if ! fstype="$(stat -f -c %T "$path" 2>&1)"; then
    fail "$name" "$path" "cannot read the filesystem type ($(one_line "$fstype"))"
    return 1
  fi
  case "$fstype" in
    tmpfs | ramfs)
      fail "$name" "$path" "filesystem is $fstype, which rejects O_DIRECT (Greenplum's FTS probe would fail and trigger failovers); fix: $FIX"
      return 1
      ;;
    overlay | overlayfs)
      fail "$name" "$path" "filesystem is $fstype: no volume is mounted there, so the data would be lost with the container; fix: mount a PersistentVolumeClaim at $path and $FIX"
      return 1
      ;;
    nfs | nfs4 | nfsd)
      if [[ "${GUARD_ALLOW_NFS:-false}" != "true" ]]; then
        fail "$name" "$path" "filesystem is $fstype, which Greenplum does not support for data (set GUARD_ALLOW_NFS=true to accept it anyway); fix: $FIX"
        return 1
      fi
      warn "$name" "$path" "filesystem is $fstype, accepted because GUARD_ALLOW_NFS=true; Greenplum does not support NFS for data"
      ;;
    xfs) ;;
    *)
      warn "$name" "$path" "filesystem is $fstype; Greenplum supports only XFS for data ($FIX)"
      ;;
  esac

  probe="$path/$PROBE_NAME"
  if ! err="$(dd if=/dev/zero of="$probe" bs=4096 count=1 2>&1)"; then
    rm -f "$probe" 2>/dev/null || true
    fail "$name" "$path" "cannot write there as uid $(id -u 2>/dev/null || echo '?') ($(one_line "$err")); fix: give the pod write access (securityContext.fsGroup) or $FIX"
    return 1
  fi
  if ! err="$(dd if=/dev/zero of="$probe" bs=4096 count=1 oflag=direct conv=fsync 2>&1)"; then
    rm -f "$probe" 2>/dev/null || true
    fail "$name" "$path" "filesystem is $fstype and an O_DIRECT write failed ($(one_line "$err")), so Greenplum's FTS probe would fail and trigger failovers; fix: $FIX"
    return 1
  fi
  rm -f "$probe"
  printf '%s: ok volume %s at %s (%s, O_DIRECT write ok)\n' "$PROG" "$name" "$path" "$fstype"
}

main() {
  if [[ $# -eq 0 ]]; then
    usage
    return 2
  fi
  local arg
  for arg in "$@"; do
    if [[ "$arg" != *=* || -z "${arg%%=*}" || -z "${arg#*=}" ]]; then
      printf '%s: bad argument %q: expected NAME=PATH\n' "$PROG" "$arg" >&2
      usage
      return 2
    fi
  done
  local status=0
  for arg in "$@"; do
    check_volume "${arg%%=*}" "${arg#*=}" || status=1
  done
  return "$status"
}

main "$@"
