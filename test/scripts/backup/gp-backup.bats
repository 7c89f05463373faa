#!/usr/bin/env bats
# bin/gp-backup: bad command lines stop before any kubectl call; the settings and the key pair
# reach the acting master's gp-backup.sh on stdin, never in argv. gp-backup.sh refuses settings
# it does not know.

load ../assert

setup() {
  export CALLS="$BATS_TEST_TMPDIR/calls.log" STDIN_SEEN="$BATS_TEST_TMPDIR/stdin"
  : >"$CALLS"
  # A kubectl stand-in: the acting master, the settings ConfigMap, the CronJob's Secret name, the key pair.
  cat >"$BATS_TEST_TMPDIR/kubectl" <<'STUB'
#!/bin/bash
echo "kubectl $*" >>"$CALLS"
case "$*" in
  *"configmap greenplum-acting-master"*) echo master-1 ;;
  *"configmap greenplum-backup"*) printf 'GPK_S3_BUCKET=b\nGPK_S3_FOLDER=f' ;;
  *"cronjob greenplum-backup"*) echo my-keys ;;
  *"secret my-keys"*accessKeyId*) printf 'AKID' | base64 ;;
  *"secret my-keys"*secretAccessKey*) printf 'SECRET' | base64 ;;
  *exec*) cat >"$STDIN_SEEN" ;;
esac
STUB
  chmod +x "$BATS_TEST_TMPDIR/kubectl"
  export KUBECTL="$BATS_TEST_TMPDIR/kubectl"
  GP_BACKUP="$BATS_TEST_DIRNAME/../../../bin/gp-backup"
}

@test "restore without --into-database is refused before any kubectl call" {
  run bash "$GP_BACKUP" restore --timestamp latest
  expect_status 2
  expect_output_has "restore needs --into-database NEW"
  [[ ! -s "$CALLS" ]]
}

@test "an unknown command is refused with the usage" {
  run bash "$GP_BACKUP" backup
  expect_status 2
  expect_output_has "unknown command 'backup'" "usage: gp-backup"
}

@test "list runs gp-backup.sh in the acting master with the settings and the key pair on stdin" {
  run bash "$GP_BACKUP" --namespace gp list
  expect_status 0
  grep -q "kubectl --namespace gp exec -i master-1 -- bash /opt/greenplum-k8s/scripts/gp-backup.sh list" "$CALLS"
  if grep -q SECRET "$CALLS"; then echo "the secret key reached argv: $(cat "$CALLS")" >&2; return 1; fi
  [[ "$(cat "$STDIN_SEEN")" == $'GPK_S3_BUCKET=b\nGPK_S3_FOLDER=f\nGPK_S3_ACCESS_KEY_ID=AKID\nGPK_S3_SECRET_ACCESS_KEY=SECRET' ]]
}

@test "gp-backup.sh refuses a setting it does not know, naming it" {
  printf 'GPK_S3_BUCKET=b\nGPK_S3_FOLDER=f\nGPK_S3_BUKET=typo\n' >"$BATS_TEST_TMPDIR/settings"
  mkdir -p "$BATS_TEST_TMPDIR/gphome"
  : >"$BATS_TEST_TMPDIR/gphome/greenplum_path.sh"
  run env GPHOME="$BATS_TEST_TMPDIR/gphome" bash "$BATS_TEST_DIRNAME/../../../components/backup/scripts/gp-backup.sh" list <"$BATS_TEST_TMPDIR/settings"
  expect_status 1
  expect_output_has "unknown setting GPK_S3_BUKET on stdin"
}
