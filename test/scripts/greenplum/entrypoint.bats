#!/usr/bin/env bats
# Tests for components/greenplum/scripts/entrypoint.sh (with master.sh and lib.sh), using the
# stand-ins in stubs/. Run from the repository root: bats -r test/scripts

load helpers

setup() {
  gp_setup
}

# The master's catalog names master-1 as its standby, and pg_stat_replication shows it streaming.
standby_streaming() {
  psql_answer standby-host "master-1.$FQ"
  psql_answer replication "streaming|0/1|0/1|0/1"
}

@test "first init, mirrors off, standby off, 2 primaries: exact gpinitsystem input and pg_hba" {
  run_script entrypoint.sh
  expect_status 0
  local R="$GP_DATA_ROOT"
  expect_file "$R/greenplum-k8s/gpinitsystem_input" <<EOF
ARRAY_NAME="greenplum-k8s"
TRUSTED_SHELL=ssh
CHECK_POINT_SEGMENTS=8
ENCODING=UNICODE
HEAP_CHECKSUM=on
HBA_HOSTNAMES=1
QD_PRIMARY_ARRAY=master-0.$FQ~master-0.$FQ~5432~$R/data-1~1~-1
declare -a PRIMARY_ARRAY=(
segment-a-0.$FQ~segment-a-0.$FQ~6000~$R/data~2~0
segment-a-1.$FQ~segment-a-1.$FQ~6000~$R/data~3~1
)
EOF
  expect_file "$R/data-1/pg_hba.conf" <<EOF
# Managed by greenplum-k8s: rewritten at init and kept exact by the supervisor on the acting master.
local all gpadmin ident
host all gpadmin 127.0.0.1/32 trust
host all gpadmin ::1/128 trust
host all gpadmin master-0.$FQ trust
host all gpadmin segment-a-0.$FQ trust
host all gpadmin segment-a-1.$FQ trust
host all all 0.0.0.0/0 md5
host all all ::/0 md5
EOF
  expect_call "gpinitsystem -a -I $R/greenplum-k8s/gpinitsystem_input -n en_US.utf8 --ignore-warnings"
  expect_call "pg_ctl reload -D $R/data-1"
  expect_call "psql-query create-database"
  [[ "$(cut -d' ' -f1 "$R/greenplum-k8s/init-state")" == done ]]
  # Password: set before pg_hba opens md5 access; only the md5 hash reaches the server.
  expect_before "psql-query set-password" "pg_ctl reload"
  expect_before "pg_ctl reload" "psql-query create-database"
  local hash
  hash="$(printf '%s' "s3cr'etgpadmin" | md5sum | awk '{print $1}')"
  grep -qF "ALTER ROLE gpadmin WITH PASSWORD 'md5${hash}';" "$STUB_LOG.sql"
  # The clear-text password reaches no log: grep finds nothing (1), not even a missing file (2).
  # (A bare `! grep` cannot fail a bats test: bash's errexit ignores a negated command.)
  run grep -qF "s3cr'et" "$STUB_LOG.sql" "$STUB_LOG"
  expect_status 1
  grep -qF "\\set db 'analytics'" "$STUB_LOG.sql"
  # Hosts were checked for DNS and ssh before gpinitsystem.
  expect_before "getent hosts segment-a-1.$FQ" "gpinitsystem"
}

@test "first init, mirrors on, standby on, 2 primaries: exact gpinitsystem input and pg_hba" {
  export GP_MIRRORS=true GP_STANDBY=true
  export GP_HBA_EXTRA=$'hostssl reports report_user 10.20.0.0/16 md5\n\n'
  standby_streaming
  run_script entrypoint.sh
  expect_status 0
  local R="$GP_DATA_ROOT"
  expect_file "$R/greenplum-k8s/gpinitsystem_input" <<EOF
ARRAY_NAME="greenplum-k8s"
TRUSTED_SHELL=ssh
CHECK_POINT_SEGMENTS=8
ENCODING=UNICODE
HEAP_CHECKSUM=on
HBA_HOSTNAMES=1
QD_PRIMARY_ARRAY=master-0.$FQ~master-0.$FQ~5432~$R/data-1~1~-1
declare -a PRIMARY_ARRAY=(
segment-a-0.$FQ~segment-a-0.$FQ~6000~$R/data~2~0
segment-a-1.$FQ~segment-a-1.$FQ~6000~$R/data~3~1
)
declare -a MIRROR_ARRAY=(
segment-b-0.$FQ~segment-b-0.$FQ~7000~$R/mirror/data~4~0
segment-b-1.$FQ~segment-b-1.$FQ~7000~$R/mirror/data~5~1
)
EOF
  expect_file "$R/data-1/pg_hba.conf" <<EOF
# Managed by greenplum-k8s: rewritten at init and kept exact by the supervisor on the acting master.
local all gpadmin ident
host all gpadmin 127.0.0.1/32 trust
host all gpadmin ::1/128 trust
host all gpadmin master-0.$FQ trust
host all gpadmin master-1.$FQ trust
host all gpadmin segment-a-0.$FQ trust
host all gpadmin segment-a-1.$FQ trust
host all gpadmin segment-b-0.$FQ trust
host all gpadmin segment-b-1.$FQ trust
host replication gpadmin master-0.$FQ trust
host replication gpadmin master-1.$FQ trust
# GP_HBA_EXTRA
hostssl reports report_user 10.20.0.0/16 md5
host all all 0.0.0.0/0 md5
host all all ::/0 md5
EOF
  expect_call "gpinitsystem -a -I $R/greenplum-k8s/gpinitsystem_input -n en_US.utf8 --ignore-warnings -s master-1.$FQ"
  # gpinitsystem registered the standby (and it streams), so no extra gpinitstandby.
  expect_no_call gpinitstandby
  expect_call "ssh -o BatchMode=yes -o ConnectTimeout=5 segment-b-1.$FQ test ! -e \"\$HOME/.greenplum-k8s/stopping\""
}

@test "first init creates the standby when gpinitsystem only warned about it" {
  export GP_STANDBY=true
  psql_answer standby-host ""
  run_script entrypoint.sh
  expect_status 0
  expect_call "gpinitstandby -a -s master-1.$FQ --hba-hostnames"
}

@test "ssh setup: keys, deterministic known_hosts, client config and a non-root sshd" {
  export GP_MIRRORS=true
  run_script entrypoint.sh
  expect_status 0
  [[ "$(stat -c %a "$HOME/.ssh/id_rsa")" == 600 ]]
  [[ "$(stat -c %a "$HOME/.ssh/sshd/ssh_host_ed25519_key")" == 600 ]]
  [[ "$(cat "$HOME/.ssh/authorized_keys")" == "ssh-rsa AAAAUSERKEY gpadmin@greenplum-k8s" ]]
  grep -qxF "[segment-b-1]:2222,[segment-b-1.$FQ]:2222 ssh-ed25519 AAAAHOSTKEY" "$HOME/.ssh/known_hosts"
  grep -qxF "[master-0]:2222,[master-0.$FQ]:2222 ssh-ed25519 AAAAHOSTKEY" "$HOME/.ssh/known_hosts"
  grep -qxF "[localhost]:2222,[127.0.0.1]:2222,[::1]:2222 ssh-ed25519 AAAAHOSTKEY" "$HOME/.ssh/known_hosts"
  [[ "$(wc -l <"$HOME/.ssh/known_hosts")" -eq 6 ]]
  grep -qx '  Port 2222' "$HOME/.ssh/config"
  grep -qx '  BatchMode yes' "$HOME/.ssh/config"
  grep -qx 'UsePAM no' "$HOME/.ssh/sshd/sshd_config"
  grep -qx 'Port 2222' "$HOME/.ssh/sshd/sshd_config"
  grep -qx "PidFile $HOME/.ssh/sshd/sshd.pid" "$HOME/.ssh/sshd/sshd_config"
  expect_call "sshd -D -e -f $HOME/.ssh/sshd/sshd_config"
  grep -q 'greenplum-k8s/env.sh' "$HOME/.bashrc"
  grep -qx "export MASTER_DATA_DIRECTORY=$GP_DATA_ROOT/data-1" "$GP_RUN_DIR/env.sh"
}

@test "ssh keys replaced in the Secret (a production destroy, then up): the next supervision pass re-installs them and known_hosts" {
  export GP_MIRRORS=true
  run_script entrypoint.sh
  expect_status 0
  echo 'NEW-PRIVATE-USER-KEY' >"$GP_SSH_SECRET_DIR/id_rsa"
  echo 'ssh-rsa AAAANEWUSERKEY gpadmin@greenplum-k8s' >"$GP_SSH_SECRET_DIR/id_rsa.pub"
  echo 'ssh-ed25519 AAAANEWHOSTKEY greenplum-k8s-host' >"$GP_SSH_SECRET_DIR/ssh_host_ed25519_key.pub"
  # A running pod: the entrypoint re-executed in place skips the start-up ssh set-up.
  GPK_KEEP_SSHD=1 run_script entrypoint.sh
  expect_status 0
  expect_output_has "the ssh keys in $GP_SSH_SECRET_DIR changed: re-installing them and known_hosts"
  [[ "$(cat "$HOME/.ssh/id_rsa")" == NEW-PRIVATE-USER-KEY ]]
  [[ "$(cat "$HOME/.ssh/authorized_keys")" == "ssh-rsa AAAANEWUSERKEY gpadmin@greenplum-k8s" ]]
  grep -qxF "[segment-b-1]:2222,[segment-b-1.$FQ]:2222 ssh-ed25519 AAAANEWHOSTKEY" "$HOME/.ssh/known_hosts"
  ! grep -q AAAAHOSTKEY "$HOME/.ssh/known_hosts"
  # Unchanged keys: nothing re-installed.
  GPK_KEEP_SSHD=1 run_script entrypoint.sh
  expect_status 0
  [[ "$output" != *"ssh keys"*"changed"* ]]
}

@test "restart with data present takes the gpstart path, not gpinitsystem" {
  make_master_data
  set_init_state done
  run_script entrypoint.sh
  expect_status 0
  expect_call "gpstart -a"
  expect_no_call gpinitsystem
  expect_output_has "master answers SQL"
}

@test "restart after gpinitsystem finished but post-init did not: gpstart then resume" {
  make_master_data
  set_init_state gpinitsystem-done
  run_script entrypoint.sh
  expect_status 0
  expect_no_call gpinitsystem
  expect_before "gpstart -a" "psql-query set-password"
  expect_call "psql-query create-database"
  [[ "$(cut -d' ' -f1 "$GP_DATA_ROOT/greenplum-k8s/init-state")" == done ]]
}

@test "restart proceeds when hosts stay missing (bounded wait)" {
  make_master_data
  set_init_state done
  export STUB_SSH_DOWN=segment-a-1
  run_script entrypoint.sh
  expect_status 0
  expect_output_has "timed out after 0s waiting for hosts: segment-a-1 (sshd on segment-a-1.$FQ:2222 not answering)" "starting anyway"
  expect_call "gpstart -a"
}

@test "a lost standby pod does not hold the master's restart back: no wait for it, gpstart without it" {
  export GP_STANDBY=true STUB_SSH_DOWN=master-1 GP_RESTART_HOST_WAIT_SECONDS=1
  make_master_data
  set_init_state done
  run_script entrypoint.sh
  expect_status 0
  expect_output_lacks "waiting for hosts"
  expect_call "gpstart -a -y -S"
}

@test "restart: a peer that was activated (master data, no recovery.conf) keeps this pod from starting as master" {
  export GP_STANDBY=true STUB_SSH_ACTIVATED_ON=master-1
  make_master_data
  set_init_state done
  run_script entrypoint.sh
  expect_status 0
  expect_output_has "the peer master-1 holds master data without recovery.conf: it was activated"
  expect_no_call gpstart
}

@test "first init: a host missing from DNS times out with an error naming it" {
  export STUB_DNS_MISSING=segment-a-1
  run_script entrypoint.sh
  expect_status 1
  expect_output_has "timed out after 0s waiting for hosts: segment-a-1 (no DNS record for segment-a-1.$FQ)"
  expect_output_has "GP_HOST_WAIT_SECONDS=0"
  expect_output_lacks "segment-a-0 ("
  expect_no_call gpinitsystem
}

@test "first init: a host whose sshd does not answer times out with an error naming it" {
  export GP_STANDBY=true STUB_SSH_DOWN=master-1
  run_script entrypoint.sh
  expect_status 1
  expect_output_has "waiting for hosts: master-1 (sshd on master-1.$FQ:2222 not answering)"
  expect_no_call gpinitsystem
}

@test "first init refuses when segments already hold data (master volume lost)" {
  export GP_STANDBY=true STUB_SSH_DATA_ON="segment-a-1 master-1"
  run_script entrypoint.sh
  expect_status 1
  expect_output_has "other pods already hold Greenplum data: master-1:$GP_DATA_ROOT/data-1 segment-a-1:$GP_DATA_ROOT/data" "gp-failover --namespace gp promote"
  expect_no_call gpinitsystem
  [[ ! -e "$GP_DATA_ROOT/greenplum-k8s/init-state" ]]
}

@test "an unfinished first init is moved aside on every pod, then gpinitsystem runs again" {
  export STUB_GPINITSYSTEM_RC=2
  run_script entrypoint.sh
  expect_status 1
  expect_output_has "gpinitsystem failed (exit 2)"
  [[ "$(cut -d' ' -f1 "$GP_DATA_ROOT/greenplum-k8s/init-state")" == gpinitsystem-started ]]
  mkdir -p "$GP_DATA_ROOT/data-1"
  : >"$STUB_LOG"
  unset STUB_GPINITSYSTEM_RC
  run_script entrypoint.sh
  expect_status 0
  expect_output_has "the first init did not finish" "master-0: moved $GP_DATA_ROOT/data-1 aside to $GP_DATA_ROOT/data-1.half-init-" "segment-a-1: no $GP_DATA_ROOT/data to move aside" "cluster initialisation complete"
  expect_before "ssh" "gpinitsystem"
  compgen -G "$GP_DATA_ROOT/data-1.half-init-*" >/dev/null
  [[ "$(cut -d' ' -f1 "$GP_DATA_ROOT/greenplum-k8s/init-state")" == done ]]
}

@test "an unfinished first init whose clean-up is cut short is cleared on the next start, the retry not used up" {
  export STUB_GPINITSYSTEM_RC=2
  run_script entrypoint.sh
  expect_status 1
  # The interrupted init left a running instance on the master that will not stop (yet).
  mkdir -p "$GP_DATA_ROOT/data-1" && echo 1 >"$GP_DATA_ROOT/data-1/postmaster.pid"
  unset STUB_GPINITSYSTEM_RC
  export STUB_PG_CTL_STOP_FAIL=all
  run_script entrypoint.sh
  expect_status 1
  expect_output_has "could not move $GP_DATA_ROOT/data-1 aside on master-0"
  [[ ! -e "$GP_DATA_ROOT/greenplum-k8s/init-retries" ]]
  unset STUB_PG_CTL_STOP_FAIL
  : >"$STUB_LOG"
  run_script entrypoint.sh
  expect_status 0
  expect_output_has "master-0: moved $GP_DATA_ROOT/data-1 aside" "cluster initialisation complete"
  [[ "$(cat "$GP_DATA_ROOT/greenplum-k8s/init-retries")" == 1 ]]
}

@test "an unfinished first init is cleared only once, and never where a pod is marked initialised" {
  export STUB_GPINITSYSTEM_RC=2
  run_script entrypoint.sh
  expect_status 1
  run_script entrypoint.sh
  expect_status 1
  expect_output_has "the first init did not finish"
  # The retry failed too: the third start parks with the clean-up report instead of looping.
  : >"$STUB_LOG"
  run_script entrypoint.sh
  expect_status 0
  expect_output_has "HALF-INITIALISED CLUSTER: the first init did not finish, and was retried 1 time(s) already"
  expect_no_call gpinitsystem
  # A pod of a finished cluster (e.g. a master volume restored from an old snapshot) stops the clean-up.
  rm -f "$GP_DATA_ROOT/greenplum-k8s/init-retries"
  export STUB_SSH_INITIALISED_ON=segment-a-1
  : >"$STUB_LOG"
  run_script entrypoint.sh
  expect_status 0
  expect_output_has "but segment-a-1 belongs to a cluster whose init finished"
  expect_no_call gpinitsystem
}

@test "non-acting master with master data (demoted) refuses to start postgres" {
  export GP_STANDBY=true STUB_HOSTNAME=master-0
  echo master-1 >"$GP_ACTING_MASTER_FILE"
  make_master_data
  run_script entrypoint.sh
  expect_status 0
  expect_output_has "Refusing to start postgres" "gp-failover --namespace gp reinstate"
  expect_no_call gpstart
  expect_no_call gpinitsystem
  if grep -q '^pg_ctl .*start' "$STUB_LOG"; then false; fi
}

@test "fenced acting master does not start as master" {
  export GP_STANDBY=true
  make_master_data
  set_init_state done
  echo fenced >"$GP_DATA_ROOT/data-1/greenplum-k8s-fenced"
  run_script entrypoint.sh
  expect_status 0
  expect_output_has "data directory is fenced" "Refusing to start postgres"
  expect_no_call gpstart
}

@test "acting master refuses when the peer master already runs as master" {
  export GP_STANDBY=true STUB_SSH_PEER_MASTER_RC=0
  make_master_data
  set_init_state done
  run_script entrypoint.sh
  expect_status 0
  expect_output_has "peer master master-1 is running as a master"
  expect_no_call gpstart
}

@test "non-acting master with standby data starts the standby postmaster" {
  export GP_STANDBY=true STUB_HOSTNAME=master-1
  make_master_data standby
  run_script entrypoint.sh
  expect_status 0
  expect_call "pg_ctl -D $GP_DATA_ROOT/data-1 -l $GP_DATA_ROOT/data-1/pg_log/startup.log -t 600 -o -p 5432 -E start"
  expect_no_call gpstart
}

@test "promoted standby (now named in the ConfigMap, postmaster running) supervises without gpstart" {
  export GP_STANDBY=true STUB_HOSTNAME=master-1
  echo master-1 >"$GP_ACTING_MASTER_FILE"
  make_master_data running
  psql_answer standby-host ""
  run_script entrypoint.sh
  expect_status 0
  expect_output_has "master postmaster already running" "no standby master is configured; to add one run: gp-failover --namespace gp reinstate"
  expect_no_call gpstart
  expect_no_call gpinitsystem
  grep -qxF "host replication gpadmin master-0.$FQ trust" "$GP_DATA_ROOT/data-1/pg_hba.conf"
}

@test "non-acting master without data waits" {
  export GP_STANDBY=true STUB_HOSTNAME=master-1
  run_script entrypoint.sh
  expect_status 0
  expect_output_has "no master data yet"
  expect_no_call gpinitsystem
}

@test "supervision runs gprecoverseg -a for a down segment whose host answers" {
  export GP_MIRRORS=true
  make_master_data
  set_init_state done
  psql_answer down-segments "0|m|segment-b-0.$FQ|7000"
  run_script entrypoint.sh
  expect_status 0
  expect_call "gprecoverseg -a"
  expect_output_has "running gprecoverseg -a"
}

@test "supervision applies the Secret's password when its mounted copy changes, and only then" {
  make_master_data
  set_init_state done
  run_script entrypoint.sh
  expect_status 0
  # The first pass after a start applies the Secret's value (the database may hold an older one).
  expect_call "psql-query set-password"
  : >"$STUB_LOG"
  run_script entrypoint.sh
  expect_status 0
  expect_no_call "psql-query set-password"
  printf 'rotated-password' >"$GP_PASSWORD_FILE"
  run_script entrypoint.sh
  expect_status 0
  expect_call "psql-query set-password"
  expect_output_has "is not the one last applied: applying it"
  grep -qF "ALTER ROLE gpadmin WITH PASSWORD 'md5$(printf '%s' rotated-passwordgpadmin | md5sum | awk '{print $1}')';" "$STUB_LOG.sql"
}

@test "supervision waits (no gprecoverseg) while the down segment's host does not answer" {
  export GP_MIRRORS=true STUB_SSH_DOWN=segment-b-0
  make_master_data
  set_init_state done
  psql_answer down-segments "0|m|segment-b-0.$FQ|7000"
  run_script entrypoint.sh
  expect_status 0
  expect_no_call gprecoverseg
  expect_output_has "is down and its host does not answer"
}

@test "supervision starts an unmirrored primary that does not answer, with pg_ctl over ssh" {
  make_master_data
  set_init_state done
  psql_answer up-primaries "1|segment-a-1.$FQ|6000|/greenplum/data|n|-"
  export STUB_PG_ISREADY_RC=2
  run_script entrypoint.sh
  expect_status 0
  expect_output_has "primary content 1 (segment-a-1.$FQ:6000) does not answer"
  grep -F "ssh -o BatchMode=yes -o ConnectTimeout=5 segment-a-1.$FQ " "$STUB_LOG" | grep -qF 'pg_ctl -D /greenplum/data -l /greenplum/data/pg_log/startup.log -w -t 600 -o -p\ 6000 start'
}

@test "supervision leaves a primary alone when its mirror is up (FTS decides)" {
  export GP_MIRRORS=true STUB_PG_ISREADY_RC=2
  make_master_data
  set_init_state done
  psql_answer up-primaries "1|segment-a-1.$FQ|6000|/greenplum/data|s|u"
  run_script entrypoint.sh
  expect_status 0
  if grep -q "^ssh .*pg_ctl -D" "$STUB_LOG"; then false; fi
}

@test "double fault: a dead primary whose mirror is up but not in sync is started again" {
  export GP_MIRRORS=true STUB_PG_ISREADY_RC=2
  make_master_data
  set_init_state done
  psql_answer up-primaries "1|segment-a-1.$FQ|6000|/greenplum/data|n|u"
  run_script entrypoint.sh
  expect_status 0
  expect_output_has "no mirror can take over (mirror status u, mode n)"
  grep -F "ssh -o BatchMode=yes -o ConnectTimeout=5 segment-a-1.$FQ " "$STUB_LOG" | grep -qF 'pg_ctl -D /greenplum/data -l /greenplum/data/pg_log/startup.log -w -t 600 -o -p\ 6000 start'
}

@test "a primary in crash recovery (pg_isready 1) is never started over" {
  export STUB_PG_ISREADY_RC=1
  make_master_data
  set_init_state done
  psql_answer up-primaries "1|segment-a-1.$FQ|6000|/greenplum/data|n|-"
  run_script entrypoint.sh
  expect_status 0
  if grep -q "^ssh .*pg_ctl -D" "$STUB_LOG"; then false; fi
}

@test "supervision runs gpinitstandby -n when the standby is configured but not streaming" {
  export GP_STANDBY=true
  make_master_data
  set_init_state done
  psql_answer standby-host "master-1.$FQ"
  psql_answer replication ""
  run_script entrypoint.sh
  expect_status 0
  expect_call "gpinitstandby -a -n"
}

@test "supervision writes the in-sync marker onto a streaming standby" {
  export GP_STANDBY=true STUB_SSH_STDIN_DIR="$BATS_TEST_TMPDIR/ssh-stdin"
  make_master_data
  set_init_state done
  psql_answer standby-host "master-1.$FQ"
  psql_answer replication "streaming|0/5000060|0/5000060|0/5000060"
  run_script entrypoint.sh
  expect_status 0
  expect_no_call gpinitstandby
  grep -qx 'state=in-sync' "$STUB_SSH_STDIN_DIR/master-1"
  grep -qx 'master=master-0' "$STUB_SSH_STDIN_DIR/master-1"
  grep -qx 'sent=0/5000060' "$STUB_SSH_STDIN_DIR/master-1"
  # stamped by the standby's clock on arrival, not the master's
  if grep -q '^at=' "$STUB_SSH_STDIN_DIR/master-1"; then false; fi
  grep -F "ssh -o BatchMode=yes -o ConnectTimeout=5 master-1.$FQ mkdir -p" "$STUB_LOG" | grep -qF 'echo "received=$(date +%s)"'
}

@test "a running master that does not answer SQL (too many clients) is left alone, not restarted" {
  make_master_data running
  set_init_state done
  export STUB_PSQL_DOWN=1 STUB_PG_ISREADY_RC=0
  run_script entrypoint.sh
  expect_status 0
  expect_output_has "the master postmaster runs but does not answer SQL yet (pg_isready 0: accepting connections, e.g. too many clients); supervising until it does"
  expect_output_has "the master postmaster runs but SQL does not answer (pg_isready 0"
  expect_no_call gpstart
  if grep -q '^pg_ctl .* stop' "$STUB_LOG"; then false; fi
}

@test "a master in crash recovery after gpstart is supervised, not killed" {
  make_master_data
  set_init_state done
  export STUB_PSQL_DOWN=1 STUB_PG_ISREADY_RC=1
  run_script entrypoint.sh
  expect_status 0
  expect_call "gpstart -a"
  expect_output_has "does not answer SQL yet (pg_isready 1: starting up, in crash recovery or shutting down)"
}

@test "the pod restarts only when no master postmaster runs after gpstart" {
  make_master_data
  set_init_state done
  export STUB_PSQL_DOWN=1 STUB_PG_ISREADY_RC=2 STUB_GPSTART_RC=1
  run_script entrypoint.sh
  expect_status 1
  expect_output_has "no master postmaster runs after gpstart (pg_ctl status)" "could not start the cluster"
}

@test "restart with the standby pod answering: plain gpstart -a (it checks and starts the standby)" {
  export GP_STANDBY=true
  make_master_data
  set_init_state done
  psql_answer standby-host "master-1.$FQ"
  psql_answer replication "streaming|0/5000060|0/5000060|0/5000060"
  run_script entrypoint.sh
  expect_status 0
  expect_call "gpstart -a"
}

@test "restart with the standby pod gone: gpstart -a -y -S, so a lost standby cannot keep the master down" {
  export GP_STANDBY=true STUB_SSH_DOWN=master-1
  make_master_data
  set_init_state done
  psql_answer standby-host "master-1.$FQ"
  run_script entrypoint.sh
  expect_status 0
  expect_call "gpstart -a -y -S"
  expect_output_has "the standby master master-1 does not answer or holds no standby data: starting without it (gpstart -y -S)"
}

@test "unmirrored segment with data starts its own postgres" {
  export GP_SET=segment-a STUB_HOSTNAME=segment-a-0
  mkdir -p "$GP_DATA_ROOT/data"
  echo 9.4 >"$GP_DATA_ROOT/data/PG_VERSION"
  run_script entrypoint.sh
  expect_status 0
  expect_call "pg_ctl -D $GP_DATA_ROOT/data -l $GP_DATA_ROOT/data/pg_log/startup.log -w -t 600 -o -p 6000 start"
  expect_no_call gpinitsystem
}

@test "mirrored segment with data leaves starting to the master" {
  export GP_SET=segment-b STUB_HOSTNAME=segment-b-0 GP_MIRRORS=true
  mkdir -p "$GP_DATA_ROOT/mirror/data"
  echo 9.4 >"$GP_DATA_ROOT/mirror/data/PG_VERSION"
  run_script entrypoint.sh
  expect_status 0
  if grep -q '^pg_ctl .* start' "$STUB_LOG"; then false; fi
  expect_output_has "the master starts it"
}

@test "segment-b creates the mirror parent directory gpinitsystem writes into" {
  export GP_SET=segment-b STUB_HOSTNAME=segment-b-1 GP_MIRRORS=true
  run_script entrypoint.sh
  expect_status 0
  [[ -d "$GP_DATA_ROOT/mirror" ]]
  [[ ! -e "$GP_DATA_ROOT/mirror/data" ]]
}

@test "a missing or invalid required variable fails with a message naming it" {
  unset GP_NAMESPACE
  run_script entrypoint.sh
  expect_status 1
  expect_output_has "required environment variable GP_NAMESPACE is not set"
  export GP_NAMESPACE=gp GP_MIRRORS=yes
  run_script entrypoint.sh
  expect_status 1
  expect_output_has "GP_MIRRORS='yes' must be true or false"
  export GP_MIRRORS=false
  unset GP_DATABASE
  run_script entrypoint.sh
  expect_status 1
  expect_output_has "GP_DATABASE is not set"
  expect_no_call gpinitsystem
}

@test "SIGTERM stops the local instance and exits cleanly" {
  export GP_SET=segment-a STUB_HOSTNAME=segment-a-0 GP_SUPERVISE_INTERVAL_SECONDS=30
  unset GP_ONESHOT
  mkdir -p "$GP_DATA_ROOT/data"
  echo 9.4 >"$GP_DATA_ROOT/data/PG_VERSION"
  bash "$SCRIPTS/entrypoint.sh" >"$BATS_TEST_TMPDIR/out" 2>&1 3>&- &
  local pid=$! i
  for ((i = 0; i < 50; i++)); do
    if [[ -f "$GP_DATA_ROOT/data/postmaster.pid" ]] && grep -q 'pod segment-a-0' "$BATS_TEST_TMPDIR/out"; then break; fi
    sleep 0.1
  done
  sleep 0.2
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  [[ "$rc" -eq 0 ]]
  [[ ! -f "$GP_DATA_ROOT/data/postmaster.pid" ]]
  grep -q 'SIGTERM received' "$BATS_TEST_TMPDIR/out"
  grep -qxF "pg_ctl -D $GP_DATA_ROOT/data -m fast -w -t 2 stop" "$STUB_LOG"
}

@test "the open-files soft limit is raised to the hard limit and both are logged" {
  export GP_SET=segment-a STUB_HOSTNAME=segment-a-0
  local hard
  hard="$(ulimit -Hn)"
  run bash -c "ulimit -Sn 256; exec bash '$SCRIPTS/entrypoint.sh'"
  expect_status 0
  expect_output_has "open files limit: soft 256 -> ${hard}, hard ${hard}"
}

@test "a master whose segments carry another master's fence token stands down instead of starting" {
  export GP_STANDBY=true GP_MIRRORS=true STUB_SSH_TOKEN_ON="segment-b-1:master-1"
  make_master_data running
  set_init_state done
  run_script entrypoint.sh
  expect_status 0
  expect_output_has "fence token found: segment-b-1 names master-1"
  expect_call "pg_ctl -D $GP_DATA_ROOT/data-1 -m fast -w -t 2 stop"
  [[ -f "$GP_DATA_ROOT/data-1/greenplum-k8s-fenced" ]]
  expect_no_call gpstart
  expect_no_call gpstop
  expect_no_call gprecoverseg
}

@test "a fence token from a later promotion (higher timeline) makes this master stand down, naming it" {
  export GP_STANDBY=true GP_MIRRORS=true STUB_SSH_TOKEN_ON="segment-a-0:master-1@3" STUB_TIMELINE=2
  make_master_data running
  set_init_state done
  run_script entrypoint.sh
  expect_status 0
  expect_output_has "fence token found: segment-a-0 names master-1 on timeline 3"
  [[ -f "$GP_DATA_ROOT/data-1/greenplum-k8s-fenced" ]]
  expect_no_call gpstart
}

@test "a stale fence token (an earlier promotion's, lower timeline) is ignored with a warning; the master starts" {
  # master-1 was promoted on timeline 2, then master-0 on timeline 3 while segment-a-0 was unreachable.
  export GP_STANDBY=true STUB_SSH_TOKEN_ON="segment-a-0:master-1@2 segment-a-1:master-0@3" STUB_TIMELINE=3
  make_master_data
  set_init_state done
  standby_streaming
  run_script entrypoint.sh
  expect_status 0
  expect_output_has "ignoring a stale fence token on segment-a-0: it names master-1 on timeline 2, this master is on timeline 3"
  expect_call "gpstart -a"
  [[ ! -e "$GP_DATA_ROOT/data-1/greenplum-k8s-fenced" ]]
}

@test "a fence token with a timeline still fences a master whose timeline cannot be read" {
  export GP_STANDBY=true GP_MIRRORS=true STUB_SSH_TOKEN_ON="segment-a-0:master-1@2" STUB_TIMELINE=none
  make_master_data running
  set_init_state done
  run_script entrypoint.sh
  expect_status 0
  expect_output_has "fence token found: segment-a-0 names master-1 on timeline 2"
  [[ -f "$GP_DATA_ROOT/data-1/greenplum-k8s-fenced" ]]
}

@test "a fence token naming this master itself changes nothing" {
  export GP_STANDBY=true STUB_SSH_TOKEN_ON="segment-a-0:master-0 segment-a-1:master-0"
  make_master_data
  set_init_state done
  standby_streaming
  run_script entrypoint.sh
  expect_status 0
  expect_call "gpstart -a"
  [[ ! -e "$GP_DATA_ROOT/data-1/greenplum-k8s-fenced" ]]
}

@test "the standby records on its own clock when its wal receiver was seen connected" {
  export GP_STANDBY=true STUB_HOSTNAME=master-1
  make_master_data standby running
  export GPK_PROC_DIR="$BATS_TEST_TMPDIR/proc"
  mkdir -p "$GPK_PROC_DIR/200"
  run_script entrypoint.sh
  expect_status 0
  [[ ! -e "$GP_DATA_ROOT/greenplum-k8s/standby-walreceiver" ]]
  printf 'postgres:  5432, wal receiver process   streaming 0/3000000\0' >"$GPK_PROC_DIR/200/cmdline"
  local before
  before="$(date +%s)"
  run_script entrypoint.sh
  expect_status 0
  local seen
  seen="$(sed -n 's/^connected=//p' "$GP_DATA_ROOT/greenplum-k8s/standby-walreceiver")"
  ((seen >= before && seen <= $(date +%s)))
}

# --- server settings ---------------------------------------------------------------------

# gpconfig_file NAME SEG MASTER: what "gpconfig -s NAME --file" prints for consistent values.
gpconfig_file() {
  export STUB_GPCONFIG_DIR="$BATS_TEST_TMPDIR/gpconfig"
  mkdir -p "$STUB_GPCONFIG_DIR"
  printf 'Values on all segments are consistent\nGUC          : %s\nMaster  value: %s\nSegment value: %s\n' "$1" "$3" "$2" >"$STUB_GPCONFIG_DIR/$1"
}

@test "server settings: each differing line runs gpconfig -c NAME -v SEG -m MASTER, then one reload" {
  make_master_data
  set_init_state done
  export GP_SERVER_SETTINGS=$'gp_vmem_protect_limit 6144 6144\nstatement_mem 125MB 250MB\n\nmax_connections 750 250'
  gpconfig_file gp_vmem_protect_limit 6144 6144
  gpconfig_file statement_mem 128MB 128MB
  gpconfig_file log_statement "'ddl'" "'ddl'"
  run_script entrypoint.sh
  expect_status 0
  expect_call "gpconfig -c statement_mem -v 125MB -m 250MB"
  expect_call "gpconfig -c max_connections -v 750 -m 250"
  if grep -q "^gpconfig -c gp_vmem_protect_limit" "$STUB_LOG"; then false; fi
  if grep -q "^gpconfig -c log_statement" "$STUB_LOG"; then false; fi
  expect_call "gpstop -a -u"
  expect_output_has "setting statement_mem: segments 125MB, master 250MB (configured: segments '128MB', master '128MB')"
}

@test "server settings: our log_statement replaces gpinitsystem's all; a postmaster setting says a restart is needed" {
  make_master_data
  set_init_state done
  export GP_SERVER_SETTINGS='max_connections 750 250'
  gpconfig_file log_statement all all
  psql_answer guc-context postmaster
  run_script entrypoint.sh
  expect_status 0
  expect_call "gpconfig -c log_statement -v ddl -m ddl"
  expect_before "gpconfig -c log_statement" "gpconfig -c max_connections"
  expect_output_has "RESTART NEEDED: log_statement gp_fts_probe_interval wal_sender_timeout max_connections only take effect when the cluster restarts"
}

@test "server settings: a malformed line is reported and skipped; a gpconfig that finished with errors is reported, and what it wrote is reloaded" {
  make_master_data
  set_init_state done
  export GP_SERVER_SETTINGS=$'work_mem 64MB\nBad-Name 1 1\nwork_mem 64MB 64MB extra'
  export STUB_GPCONFIG_OUT="[ERROR]:-finished with errors, parameter string '-c log_statement -v ddl -m ddl'"
  run_script entrypoint.sh
  expect_status 0
  expect_output_has "GP_SERVER_SETTINGS line 'work_mem 64MB' is not '<guc-name> <segment value> <master value>'; skipped"
  expect_output_has "GP_SERVER_SETTINGS line 'Bad-Name 1 1' is not"
  expect_output_has "GP_SERVER_SETTINGS line 'work_mem 64MB 64MB extra' is not"
  expect_output_has "gpconfig -c log_statement failed"
  expect_call "gpstop -a -u"
}

@test "server settings gpconfig refused (a segment host did not answer) are tried again by the supervisor" {
  make_master_data
  set_init_state done
  export STUB_GPCONFIG_OUT="One or more segment hosts are not currently reachable. Do you want to continue? Yy|Nn (default=N): > EOF when reading a line" STUB_GPCONFIG_RC=1
  run_script entrypoint.sh
  expect_status 0
  # The start applied nothing; the supervision pass right after tries again (and fails again here).
  expect_output_has "gpconfig -c log_statement failed" "some server settings were not applied: trying again"
  [[ "$(grep -c "^gpconfig -c log_statement" "$STUB_LOG")" == 2 ]]
  [[ -e "$GP_RUN_DIR/settings-pending" ]]
  unset STUB_GPCONFIG_OUT STUB_GPCONFIG_RC
  run_script entrypoint.sh
  expect_status 0
  [[ ! -e "$GP_RUN_DIR/settings-pending" ]]
}

@test "server settings: a host whose file cannot be read leaves the setting unchanged and pending, naming the host" {
  make_master_data
  set_init_state done
  export STUB_GPCONFIG_UNREADABLE=segment-b-1.agent.greenplum.svc.cluster.local
  run_script entrypoint.sh
  expect_status 0
  expect_output_has "gpconfig -s log_statement --file failed (failed obtaining guc log_statement from the postgresql.conf files on host: segment-b-1.agent.greenplum.svc.cluster.local"
  expect_no_call "gpconfig -c"
  [[ -e "$GP_RUN_DIR/settings-pending" ]]
}

@test "server settings: a failed gpconfig -c or reload leaves a reload owed until one succeeds, even when the files then agree" {
  make_master_data
  set_init_state done
  export STUB_GPCONFIG_OUT="[ERROR]:-finished with errors, parameter string '-c log_statement -v ddl -m ddl'" STUB_GPSTOP_RELOAD=fail
  run_script entrypoint.sh
  expect_status 0
  expect_output_has "gpconfig -c log_statement failed" "gpstop -a -u failed; the supervisor tries the reload again"
  [[ -e "$GP_RUN_DIR/settings-reload-pending" ]]
  # The files now hold every value (the failed hosts were written after all): nothing to change, but the reload is owed.
  unset STUB_GPCONFIG_OUT STUB_GPSTOP_RELOAD
  gpconfig_file log_statement ddl ddl
  gpconfig_file gp_fts_probe_interval 20 20
  gpconfig_file wal_sender_timeout 60s 60s
  : >"$STUB_LOG"
  run_script entrypoint.sh
  expect_status 0
  expect_no_call "gpconfig -c"
  expect_call "gpstop -a -u"
  [[ ! -e "$GP_RUN_DIR/settings-reload-pending" && ! -e "$GP_RUN_DIR/settings-pending" ]]
}

@test "server settings are applied at first init too" {
  export GP_SERVER_SETTINGS='gp_vmem_protect_limit 6144 6144'
  run_script entrypoint.sh
  expect_status 0
  expect_before "psql-query create-database" "gpconfig -c gp_vmem_protect_limit -v 6144 -m 6144"
}

# --- topology and host names -------------------------------------------------------------

@test "first init records the topology; a restart with another topology refuses, naming the keys" {
  export GP_MIRRORS=true GP_STANDBY=true
  standby_streaming
  run_script entrypoint.sh
  expect_status 0
  expect_file "$GP_DATA_ROOT/greenplum-k8s/topology" <<EOF
primarySegmentCount=2
mirrors=true
standby=true
EOF
  : >"$STUB_LOG"
  export GP_PRIMARY_SEGMENT_COUNT=3 GP_MIRRORS=false
  run_script entrypoint.sh
  expect_status 0
  expect_output_has "TOPOLOGY CHANGED after init; not starting Greenplum"
  expect_output_has "greenplum-k8s:greenplum.segments.primarySegmentCount: initialised with 2, the pod spec now says 3"
  expect_output_has "greenplum-k8s:greenplum.segments.mirrors: initialised with true, the pod spec now says false"
  expect_output_lacks "masterAndStandby.standby: initialised"
  expect_no_call gpstart
}

@test "a cluster without a topology record gets one on its next start" {
  make_master_data
  set_init_state done
  run_script entrypoint.sh
  expect_status 0
  expect_call "gpstart -a"
  grep -qx 'primarySegmentCount=2' "$GP_DATA_ROOT/greenplum-k8s/topology"
}

@test "host names over 63 characters are refused before gpinitsystem, naming the keys" {
  export GP_NAMESPACE=analytics-warehouse-production GP_CLUSTER_DOMAIN=cluster.local
  run_script entrypoint.sh
  expect_status 1
  expect_output_has "host names longer than 63 characters: segment-a-0.agent.analytics-warehouse-production.svc.cluster.local (66)"
  expect_output_has "greenplum-k8s:greenplum.namespace (now 'analytics-warehouse-production')" "greenplum-k8s:target.clusterDomain (now 'cluster.local')"
  expect_no_call gpinitsystem
  expect_no_call getent
}
