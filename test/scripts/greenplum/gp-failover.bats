#!/usr/bin/env bats
# Tests for bin/gp-failover with a kubectl stand-in (stubs/kubectl), and for the pod-side
# verbs in components/greenplum/scripts/ctl.sh. Run from the repository root: bats -r test/scripts

load helpers

setup() {
  gp_setup
  export KUBECTL=kubectl
  # Both master pods answer `ctl.sh role` as standbys unless a test says otherwise.
  kubectl_answer master-0 role "pod=master-0
data=standby
postmaster=running"
  kubectl_answer master-1 role "pod=master-1
data=standby
postmaster=running"
}

failover() {
  run bash "$FAILOVER" "$@"
}

# --- argument handling -----------------------------------------------------------------

@test "gp-failover: a bad flag exits 2 with usage naming the flag" {
  failover --bogus promote
  expect_status 2
  expect_output_has "unknown option: --bogus" "usage: gp-failover"
  expect_no_call kubectl
}

@test "gp-failover: a missing subcommand exits 2" {
  failover --namespace gp
  expect_status 2
  expect_output_has "missing subcommand"
}

@test "gp-failover: an unknown subcommand exits 2" {
  failover explode
  expect_status 2
  expect_output_has "unknown subcommand: explode"
}

@test "gp-failover: --namespace without a value exits 2" {
  failover promote --namespace
  expect_status 2
  expect_output_has "option --namespace needs a value"
}

# --- promote ---------------------------------------------------------------------------

@test "promote refuses, touching nothing, when the standby pod cannot be reached" {
  kubectl_answer master-1 role "error dialing backend: dial tcp 198.18.0.15:10250: i/o timeout" 1
  failover --namespace gp promote
  expect_status 1
  expect_output_has "refusing to promote: the standby pod master-1 cannot be reached" "the master master-0 was not touched"
  expect_no_call "kubectl --namespace gp exec master-0 -- bash /opt/greenplum-k8s/scripts/ctl.sh stand-down"
  expect_no_call "kubectl --namespace gp exec master-0 -- bash /opt/greenplum-k8s/scripts/ctl.sh replication-status"
}

@test "promote continues when gpactivatestandby reports a failure but the standby now runs as master" {
  kubectl_answer master-1 activate "stream error" 1
  printf '%s\n' "pod=master-1" "data=master" "postmaster=running" >"$STUB_KUBECTL_DIR/master-1.role.after"
  export STUB_ROLE_AFTER_ACTIVATE=1
  failover --namespace gp promote
  expect_output_has "gpactivatestandby reported a failure, but master-1 now runs as a master"
  expect_no_call "kubectl --namespace gp exec master-0 -- bash /opt/greenplum-k8s/scripts/ctl.sh unfence"
}

@test "promote refuses when the standby is not in sync with the running master (exit 40)" {
  kubectl_answer master-0 replication-status "not in sync: standby streaming but replay 0/10 behind sent 0/20 after 5 checks" 40
  failover --namespace gp promote
  expect_status 1
  expect_output_has "refusing to promote" "not in sync"
  if grep -q 'ctl.sh activate' "$STUB_LOG"; then false; fi
  if grep -q '^kubectl .*patch' "$STUB_LOG"; then false; fi
}

@test "promote in sync: fences the old master, gpactivatestandby, fence tokens on segments, then ConfigMap, then Service" {
  export STUB_SEGMENT_PODS="segment-a-0 segment-a-1 segment-b-0 segment-b-1"
  kubectl_answer master-0 replication-status "in sync: standby streaming, sent=0/20 flush=0/20 replay=0/20" 0
  kubectl_answer master-1 timeline 4 0
  failover --namespace gp --context prod promote
  expect_status 0
  expect_output_has "sync evidence: pg_stat_replication on master-0" "promoted master-1"
  expect_call "kubectl --context prod --namespace gp exec master-0 -- bash /opt/greenplum-k8s/scripts/ctl.sh stand-down"
  expect_call "kubectl --context prod --namespace gp exec master-1 -- bash /opt/greenplum-k8s/scripts/ctl.sh activate"
  expect_call "kubectl --context prod --namespace gp get pods -l greenplum-k8s/set in (segment-a,segment-b) -o jsonpath={.items[*].metadata.name}"
  expect_call "kubectl --context prod --namespace gp exec segment-b-1 -- bash /opt/greenplum-k8s/scripts/ctl.sh set-acting-master master-1 4"
  expect_call "kubectl --context prod --namespace gp patch configmap greenplum-acting-master --type merge -p {\"data\":{\"acting-master\":\"master-1\"}}"
  expect_call "kubectl --context prod --namespace gp patch service greenplum --type merge -p {\"spec\":{\"selector\":{\"statefulset.kubernetes.io/pod-name\":\"master-1\"}}}"
  expect_before "ctl.sh stand-down" "ctl.sh activate"
  expect_before "ctl.sh activate" "ctl.sh timeline"
  expect_before "ctl.sh activate" "ctl.sh set-acting-master"
  expect_before "ctl.sh set-acting-master" "patch configmap"
  expect_before "patch configmap" "patch service"
}

@test "promote works in the other direction (master-1 acting)" {
  export STUB_ACTING=master-1
  kubectl_answer master-1 replication-status "in sync" 0
  failover promote
  expect_status 0
  expect_call "kubectl exec master-0 -- bash /opt/greenplum-k8s/scripts/ctl.sh activate"
  grep -qF '"acting-master":"master-0"' "$STUB_LOG"
}

@test "promote: kubectl's own exit 1 (master pod gone) means unreachable and leads to the standby's evidence" {
  kubectl_answer master-0 replication-status "error: unable to upgrade connection: container not found" 1
  kubectl_answer master-1 sync-evidence "in sync when last connected, 12s ago (limit 120s)" 0
  kubectl_answer master-0 stand-down "error: pod not reachable" 1
  failover promote
  expect_status 0
  expect_output_has "pod master-0 cannot be reached (kubectl exec exit 1)" "checking the sync evidence on master-1 (max age 120s, standby clock)" "sync evidence: sync evidence on master-1" "WARNING: could not fence master-0"
  expect_call "kubectl exec master-1 -- bash /opt/greenplum-k8s/scripts/ctl.sh sync-evidence 120"
  expect_before "ctl.sh activate" "patch configmap"
}

@test "promote: a master that answers but whose SQL is down (41) also leads to the evidence" {
  kubectl_answer master-0 replication-status "master master-0 does not answer SQL" 41
  kubectl_answer master-1 sync-evidence "in sync when last connected" 0
  failover promote
  expect_status 0
  expect_output_has "the master postmaster on master-0 does not answer SQL" "sync evidence: sync evidence on master-1"
}

@test "promote with the master gone refuses on stale or missing evidence, or an unreachable standby, unless --force" {
  kubectl_answer master-0 replication-status "" 1
  kubectl_answer master-1 sync-evidence "stale: the wal receiver was last seen connected 4000s ago (limit 120s)" 40
  failover promote
  expect_status 1
  expect_output_has "refusing to promote: no fresh evidence" "stale"
  kubectl_answer master-1 sync-evidence "no standby-sync marker" 42
  failover promote
  expect_status 1
  expect_output_has "refusing to promote: no fresh evidence"
  kubectl_answer master-1 sync-evidence "error: container not found" 1
  failover promote
  expect_status 1
  expect_output_has "pod master-1 cannot be reached (kubectl exec exit 1)" "refusing to promote"
  if grep -q 'ctl.sh activate' "$STUB_LOG"; then false; fi

  : >"$STUB_LOG"
  kubectl_answer master-1 sync-evidence "stale" 40
  failover --force promote
  expect_status 0
  expect_output_has "WARNING: --force: promoting without sync evidence"
  expect_call "kubectl exec master-1 -- bash /opt/greenplum-k8s/scripts/ctl.sh activate --force"
}

@test "an aborted promote removes the fence it set and leaves ConfigMap and Service alone" {
  kubectl_answer master-0 replication-status "in sync" 0
  kubectl_answer master-1 activate "gpactivatestandby failed" 2
  failover promote
  expect_status 1
  expect_output_has "ABORTED: removed the fence on master-0 again" "ConfigMap and Service are unchanged"
  expect_before "ctl.sh activate" "exec master-0 -- bash /opt/greenplum-k8s/scripts/ctl.sh unfence"
  if grep -q '^kubectl .*patch' "$STUB_LOG"; then false; fi
  if grep -q 'set-acting-master' "$STUB_LOG"; then false; fi
}

@test "promote refuses when the running master cannot be stopped" {
  kubectl_answer master-0 replication-status "in sync" 0
  kubectl_answer master-0 stand-down "pg_ctl failed" 1
  failover promote
  expect_status 1
  expect_output_has "not promoting to avoid two masters"
  if grep -q 'ctl.sh activate' "$STUB_LOG"; then false; fi
}

# --- reinstate and status --------------------------------------------------------------

@test "reinstate moves the old data aside, then gpinitstandby from the acting master" {
  export STUB_ACTING=master-1
  kubectl_answer master-1 role $'pod=master-1\ndata=master\npostmaster=running'
  kubectl_answer master-0 role $'pod=master-0\nfenced=yes\ndata=master\npostmaster=stopped'
  kubectl_answer master-0 move-aside "/greenplum/data-1.old-20240101T000000Z"
  failover reinstate
  expect_status 0
  expect_output_has "old data on master-0: /greenplum/data-1.old-20240101T000000Z"
  expect_before "exec master-0 -- bash /opt/greenplum-k8s/scripts/ctl.sh move-aside" "exec master-1 -- bash /opt/greenplum-k8s/scripts/ctl.sh init-standby master-0"
}

@test "reinstate refuses when the old master runs a postmaster on master data" {
  export STUB_ACTING=master-1
  kubectl_answer master-1 role $'data=master\npostmaster=running'
  kubectl_answer master-0 role $'data=master\npostmaster=running'
  failover reinstate
  expect_status 1
  expect_output_has "refusing"
  if grep -q 'move-aside' "$STUB_LOG"; then false; fi
}

@test "status prints the acting master and the gpstate summary" {
  kubectl_answer master-0 role $'pod=master-0\ndata=master\npostmaster=running'
  kubectl_answer master-0 status "gpstate summary here"
  failover status
  expect_status 0
  expect_output_has "acting master (ConfigMap greenplum-acting-master): master-0" "gpstate summary here"
}

# --- pod-side ctl.sh verbs -------------------------------------------------------------

@test "ctl replication-status: in sync when streaming and flush caught up, even while the reported replay lags" {
  # An idle standby reports replay only every wal_receiver_status_interval; promotion replays all it flushed.
  psql_answer replication "streaming|0/20|0/20|0/10"
  run_script ctl.sh replication-status
  expect_status 0
  expect_output_has "in sync: standby streaming, sent=0/20 flush=0/20 replay=0/10"
}

@test "ctl replication-status: 40 when flush lags or nothing streams, 41 when SQL is down" {
  export GP_SYNC_CHECK_TRIES=2
  psql_answer replication "streaming|0/20|0/10|0/10"
  run_script ctl.sh replication-status
  expect_status 40
  expect_output_has "flush 0/10 behind sent 0/20"
  psql_answer replication ""
  run_script ctl.sh replication-status
  expect_status 40
  expect_output_has "no standby is streaming"
  export STUB_PSQL_DOWN=1
  run_script ctl.sh replication-status
  expect_status 41
}

# sync_files STATE RECEIVED CONNECTED: the marker (from the master) and the standby's own sighting.
sync_files() {
  mkdir -p "$GP_DATA_ROOT/greenplum-k8s"
  printf 'state=%s\nmaster=master-0\nreceived=%s\n' "$1" "$2" >"$GP_DATA_ROOT/greenplum-k8s/standby-sync"
  printf 'connected=%s\n' "$3" >"$GP_DATA_ROOT/greenplum-k8s/standby-walreceiver"
}

@test "ctl sync-evidence: in sync, connected after the report and recently, on the standby's clock" {
  export STUB_HOSTNAME=master-1 GP_STANDBY=true
  local now
  now="$(date +%s)"
  sync_files in-sync "$((now - 40))" "$((now - 10))"
  run_script ctl.sh sync-evidence 60
  expect_status 0
  expect_output_has "in sync when last connected"
  # connected before the last in-sync report: commits after the report may be missing
  sync_files in-sync "$((now - 10))" "$((now - 40))"
  run_script ctl.sh sync-evidence 60
  expect_status 40
  expect_output_has "not seen connected after the last in-sync report"
  # last connected too long ago
  sync_files in-sync "$((now - 700))" "$((now - 600))"
  run_script ctl.sh sync-evidence 60
  expect_status 40
  expect_output_has "stale: the wal receiver was last seen connected 60" "s ago (limit 60s)"
  sync_files catching-up "$((now - 40))" "$((now - 10))"
  run_script ctl.sh sync-evidence 60
  expect_status 40
  rm "$GP_DATA_ROOT/greenplum-k8s/standby-sync"
  run_script ctl.sh sync-evidence 60
  expect_status 42
  run_script ctl.sh sync-evidence soon
  expect_status 43
}

@test "ctl unfence removes the fence; set-acting-master writes the token and rejects other names" {
  make_master_data
  echo fenced >"$GP_DATA_ROOT/data-1/greenplum-k8s-fenced"
  run_script ctl.sh unfence
  expect_status 0
  [[ ! -e "$GP_DATA_ROOT/data-1/greenplum-k8s-fenced" ]]
  export GP_SET=segment-a STUB_HOSTNAME=segment-a-0
  run_script ctl.sh set-acting-master master-1
  expect_status 0
  [[ "$(cat "$GP_DATA_ROOT/greenplum-k8s/acting-master")" == master-1 ]]
  run_script ctl.sh set-acting-master master-0 5
  expect_status 0
  [[ "$(cat "$GP_DATA_ROOT/greenplum-k8s/acting-master")" == "master-0 5" ]]
  run_script ctl.sh set-acting-master segment-a-0
  expect_status 43
  run_script ctl.sh set-acting-master master-0 latest
  expect_status 43
  run_script ctl.sh bogus
  expect_status 43
}

@test "ctl stand-down fences and stops; move-aside keeps the data with a timestamp" {
  export GP_STANDBY=true
  make_master_data running
  run_script ctl.sh stand-down
  expect_status 0
  [[ -f "$GP_DATA_ROOT/data-1/greenplum-k8s-fenced" ]]
  expect_call "pg_ctl -D $GP_DATA_ROOT/data-1 -m fast -w -t 2 stop"
  run_script ctl.sh move-aside
  expect_status 0
  [[ ! -e "$GP_DATA_ROOT/data-1" ]]
  compgen -G "$GP_DATA_ROOT/data-1.old-*" >/dev/null
  [[ -f "$(compgen -G "$GP_DATA_ROOT/data-1.old-*")/PG_VERSION" ]]
}

@test "ctl activate runs gpactivatestandby -a -d on a standby directory" {
  export GP_STANDBY=true STUB_HOSTNAME=master-1
  make_master_data standby running
  run_script ctl.sh activate
  expect_status 0
  expect_call "gpactivatestandby -a -d $GP_DATA_ROOT/data-1"
}

@test "ctl init-standby removes a stale standby entry first" {
  export GP_STANDBY=true STUB_HOSTNAME=master-1
  echo master-1 >"$GP_ACTING_MASTER_FILE"
  make_master_data running
  psql_answer standby-host "master-0.$FQ"
  run_script ctl.sh init-standby master-0
  expect_status 0
  expect_before "gpinitstandby -a -r" "gpinitstandby -a -s master-0.$FQ --hba-hostnames"
}
