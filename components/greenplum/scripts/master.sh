#!/usr/bin/env bash
# shellcheck shell=bash
# Acting-master logic: first initialisation, restart, post-init steps and the supervision
# loop body. Sourced by entrypoint.sh (after lib.sh), never executed.

# ---------------------------------------------------------------------------
# First initialisation
# ---------------------------------------------------------------------------

gpk_gpinitsystem_args() {
  GPK_GPINIT_ARGS=(-a -I "$GPK_INIT_INPUT_FILE" -n "$GP_LOCALE" --ignore-warnings)
  if [[ "$GP_STANDBY" == true ]]; then
    GPK_GPINIT_ARGS+=(-s "$(gpk_fqdn master-1)")
  fi
}

# Runs gpinitsystem once. The state file says "gpinitsystem-started" before and
# "gpinitsystem-done" after, so a crash in between is detected on the next start instead of
# being silently initialised over.
master_first_init() {
  master_check_host_names
  local hosts=()
  mapfile -t hosts < <(gpk_all_pods)
  log_info "first start of the acting master: waiting up to ${GP_HOST_WAIT_SECONDS}s for ${#hosts[@]} hosts: ${hosts[*]}"
  if ! gpk_wait_for_hosts "$GP_HOST_WAIT_SECONDS" "${hosts[@]}"; then
    die "cannot initialise the cluster: not every host is reachable (GP_HOST_WAIT_SECONDS=${GP_HOST_WAIT_SECONDS}); exiting so the pod restarts and tries again"
  fi
  master_refuse_existing_data
  mkdir -p "$GPK_STATE_DIR"
  gpk_render_topology >"$GPK_TOPOLOGY_FILE"
  gpk_render_gpinitsystem_input >"$GPK_INIT_INPUT_FILE"
  log_info "gpinitsystem input written to ${GPK_INIT_INPUT_FILE}:"
  sed 's/^/    /' "$GPK_INIT_INPUT_FILE" >&2
  gpk_gpinitsystem_args
  gpk_write_init_state gpinitsystem-started
  log_info "running: gpinitsystem ${GPK_GPINIT_ARGS[*]}"
  local rc=0
  gpinitsystem "${GPK_GPINIT_ARGS[@]}" || rc=$?
  if ((rc != 0)); then
    die "gpinitsystem failed (exit ${rc}); logs are in ${GPK_STATE_DIR}/gpAdminLogs. The next start moves its leftovers aside and runs it again (once), then stops and prints how to clean up"
  fi
  gpk_write_init_state gpinitsystem-done
  log_info "gpinitsystem finished"
}

# Greenplum copies segment host names into MAXHOSTNAMELEN (64-byte) buffers and rejects longer
# ones when it reads gp_segment_configuration (cdbutil.c getCdbComponentInfo, "Invalid length
# of hostname"), so a name over 63 characters would leave a cluster that cannot dispatch.
master_check_host_names() {
  local pod fqdn long=()
  while read -r pod; do
    fqdn="$(gpk_fqdn "$pod")"
    if ((${#fqdn} > 63)); then long+=("${fqdn} (${#fqdn})"); fi
  done < <(gpk_all_pods)
  ((${#long[@]} == 0)) && return 0
  die "host names longer than 63 characters: ${long[*]}. Greenplum keeps segment host names in 64-byte buffers (MAXHOSTNAMELEN), so gp_segment_configuration would break; not running gpinitsystem. Shorten greenplum-k8s:greenplum.namespace (now '${GP_NAMESPACE}') or greenplum-k8s:target.clusterDomain (now '${GP_CLUSTER_DOMAIN}'), run pulumi up and delete pod master-0"
}

# The topology gpinitsystem built, as recorded in the state directory.
gpk_render_topology() {
  printf 'primarySegmentCount=%s\nmirrors=%s\nstandby=%s\n' "$GP_PRIMARY_SEGMENT_COUNT" "$GP_MIRRORS" "$GP_STANDBY"
}

# Refuses (returns 1 with the differences logged) when the pod spec asks for another topology
# than the one initialised: Greenplum cannot grow, shrink or gain mirrors or a standby by a
# restart, and the StatefulSets would delete or orphan segment volumes. A cluster recorded
# before this check existed gets its current topology recorded.
master_check_topology() {
  local key recorded want diffs=() config
  if [[ ! -f "$GPK_TOPOLOGY_FILE" ]]; then
    mkdir -p "$GPK_STATE_DIR"
    gpk_render_topology >"$GPK_TOPOLOGY_FILE"
    log_info "recorded the cluster topology in ${GPK_TOPOLOGY_FILE}: $(tr '\n' ' ' <"$GPK_TOPOLOGY_FILE")"
    return 0
  fi
  for key in primarySegmentCount mirrors standby; do
    recorded="$(sed -n "s/^${key}=//p" "$GPK_TOPOLOGY_FILE" | head -n 1)"
    want="$(gpk_render_topology | sed -n "s/^${key}=//p")"
    case "$key" in
    primarySegmentCount) config="greenplum-k8s:greenplum.segments.primarySegmentCount" ;;
    mirrors) config="greenplum-k8s:greenplum.segments.mirrors" ;;
    standby) config="greenplum-k8s:greenplum.masterAndStandby.standby" ;;
    esac
    if [[ "$recorded" != "$want" ]]; then diffs+=("${config}: initialised with ${recorded}, the pod spec now says ${want}"); fi
  done
  ((${#diffs[@]} == 0)) && return 0
  GPK_TOPOLOGY_DIFFS=("${diffs[@]}")
  return 1
}

master_topology_report() {
  local d
  log_error "=================================================================="
  log_error "TOPOLOGY CHANGED after init; not starting Greenplum:"
  for d in "${GPK_TOPOLOGY_DIFFS[@]}"; do log_error "  ${d}"; done
  log_error "Greenplum does not change its segments, mirrors or standby on a restart (that takes"
  log_error "gpexpand, gpaddmirrors or gpinitstandby), and changed StatefulSets delete or orphan"
  log_error "segment volumes. To go back: set the values above to what the cluster was initialised"
  log_error "with (true/false = yes/no) in the stack config, run pulumi up, then"
  log_error "  kubectl -n ${GP_NAMESPACE} delete pod $(gpk_self)"
  log_error "Recorded in ${GPK_TOPOLOGY_FILE}."
  log_error "=================================================================="
}

# master-0 without data while other pods hold data means the master's volume was lost or
# replaced, not a new cluster: never run gpinitsystem (and never tell anyone to wipe) then.
master_refuse_existing_data() {
  local pod dir found=()
  while read -r pod; do
    dir="$(gpk_pod_data_dir "$pod")"
    [[ "$pod" == "$(gpk_self)" ]] && continue
    if ! gpk_ssh "$(gpk_fqdn "$pod")" "test ! -e $(printf '%q' "$dir/PG_VERSION")" </dev/null >/dev/null 2>&1; then
      found+=("${pod}:${dir}")
    fi
  done < <(gpk_all_pods)
  ((${#found[@]} == 0)) && return 0
  log_error "$(gpk_self) has no data but other pods already hold Greenplum data: ${found[*]}"
  log_error "This is an existing cluster whose master volume was lost or replaced; NOT running gpinitsystem."
  if [[ " ${found[*]} " == *" master-1:"* ]]; then
    log_error "The standby master has data: promote it with: gp-failover --namespace ${GP_NAMESPACE} promote"
  fi
  die "refusing to initialise over existing segment data"
}

# With --ignore-warnings, gpinitsystem reports a failed standby only as a warning; check the
# catalog and create the standby if it is missing.
master_ensure_standby() {
  [[ "$GP_STANDBY" == true ]] || return 0
  local standby
  standby="$(gpk_psql <<<"-- gpk:standby-host
SELECT hostname FROM gp_segment_configuration WHERE content = -1 AND role = 'm';")" ||
    die "cannot query gp_segment_configuration for the standby master"
  if [[ -n "$standby" ]]; then
    log_info "standby master registered: ${standby}"
    return 0
  fi
  log_warn "gpinitsystem did not register a standby master; running gpinitstandby -s $(gpk_fqdn master-1)"
  gpinitstandby -a -s "$(gpk_fqdn master-1)" --hba-hostnames ||
    die "gpinitstandby -s $(gpk_fqdn master-1) failed; fix and restart master-0 (init resumes after gpinitsystem)"
}

# Sets gpadmin's password from the Secret file. Only the md5 hash reaches the server (and
# statement logging is off for the session), the value never appears in argv or env.
master_set_password() {
  [[ -r "$GP_PASSWORD_FILE" ]] || die "cannot read the gpadmin password file ${GP_PASSWORD_FILE}"
  local password hash
  password="$(cat "$GP_PASSWORD_FILE")"
  password="${password%$'\n'}"
  [[ -n "$password" ]] || die "the gpadmin password file ${GP_PASSWORD_FILE} is empty"
  hash="$(printf '%s%s' "$password" gpadmin | md5sum | awk '{print $1}')"
  unset password
  gpk_psql <<EOF || die "setting the gpadmin password failed"
-- gpk:set-password
SET log_statement = 'none';
ALTER ROLE gpadmin WITH PASSWORD 'md5${hash}';
EOF
  printf '%s\n' "$hash" >"$GP_RUN_DIR/password-applied"
  log_info "gpadmin password set from ${GP_PASSWORD_FILE}"
}

# The Secret is the truth for gpadmin's password: when its mounted copy changes (a new value after
# a destroy, a rotation), the supervisor applies it. Only hashes are compared and kept.
sv_sync_password() {
  local password hash
  [[ -r "$GP_PASSWORD_FILE" ]] || return 0
  password="$(cat "$GP_PASSWORD_FILE")"
  password="${password%$'\n'}"
  [[ -n "$password" ]] || return 0
  hash="$(printf '%s%s' "$password" gpadmin | md5sum | awk '{print $1}')"
  unset password
  [[ "$hash" == "$(cat "$GP_RUN_DIR/password-applied" 2>/dev/null)" ]] && return 0
  log_info "the gpadmin password in ${GP_PASSWORD_FILE} is not the one last applied: applying it"
  # In a subshell: a failure (e.g. no free connection) is retried next pass, never ends PID 1.
  (master_set_password) || log_error "applying the gpadmin password failed; retrying next pass"
}

master_create_database() {
  [[ -n "${GP_DATABASE:-}" ]] || die "required environment variable GP_DATABASE is not set (database to create)"
  local exists
  exists="$(gpk_psql <<EOF
-- gpk:database-exists
\\set db '$(printf '%s' "$GP_DATABASE" | sed "s/'/''/g")'
SELECT count(*) FROM pg_database WHERE datname = :'db';
EOF
  )" || die "cannot check whether database ${GP_DATABASE} exists"
  if [[ "$exists" == 1 ]]; then
    log_info "database ${GP_DATABASE} already exists"
    return 0
  fi
  gpk_psql <<EOF || die "CREATE DATABASE ${GP_DATABASE} failed"
-- gpk:create-database
\\set db '$(printf '%s' "$GP_DATABASE" | sed "s/'/''/g")'
CREATE DATABASE :"db";
EOF
  log_info "database ${GP_DATABASE} created"
}

# ---------------------------------------------------------------------------
# Server settings (GUCs)
# ---------------------------------------------------------------------------

# Our own fixed settings, applied like GP_SERVER_SETTINGS (which comes after, so it wins).
# gpinitsystem writes log_statement=all into every postgresql.conf (gpinitsystem
# LOG_STATEMENT_TXT ... log_statement=all), which logs every statement text on the master
# volume; ddl keeps schema changes auditable without filling the volume.
# gp_fts_probe_interval 20 (default 60): on an idle cluster a dead primary is noticed only at the
# next probe, so this bounds that wait to 20 s. Whether a segment is declared down is still decided
# by gp_fts_probe_timeout (20 s) and gp_fts_probe_retries (5), Greenplum's defaults, so a busy node
# gets no false failover. (Both are SIGHUP settings: guc_gp.c.)
# wal_sender_timeout 60s (Greenplum 6 raises PostgreSQL's 60 s to 300 s, guc.c): a mirror or
# standby whose node is lost (no RST, packets dropped) is noticed only when its walsender times
# out, and until then every commit on its primary waits for it. Measured with the pod runner; a
# mirror dropped for a slow minute is resynced by the supervisor, nothing is lost.
GPK_FIXED_SETTINGS='log_statement ddl ddl
gp_fts_probe_interval 20 20
wal_sender_timeout 60s 60s'

# Prints "<segment value>|<master value>" as postgresql.conf holds them (gpconfig -s NAME --file
# prints "Master  value: X" and "Segment value: Y" when all segments agree: gpconfig
# _print_gucs, file_segment_guc.py report_success_format), quotes removed; empty fields when a
# value is unset or the segments disagree. Fails, printing gpconfig's complaint, when a host's
# file could not be read (get_gucs_from_files: "finished with errors obtaining guc"): the
# segments it did read may agree, and gpconfig -c would refuse anyway.
gpk_guc_file_values() {
  local out master seg
  out="$(gpconfig -s "$1" --file </dev/null 2>&1)" || {
    tail -n 2 <<<"$out" | tr '\n' ' '
    return 1
  }
  if [[ "$out" == *"finished with errors"* ]]; then
    grep -m 1 "failed obtaining guc" <<<"$out" | sed 's/.*\[ERROR\]:-//' | cut -c1-300
    return 1
  fi
  master="$(sed -n 's/^Master  *value: //p' <<<"$out" | head -n 1)"
  seg="$(sed -n 's/^Segment *value: //p' <<<"$out" | head -n 1)"
  printf '%s|%s\n' "${seg//\'/}" "${master//\'/}"
}

# For each "<guc> <segment value> <master value>" line of GPK_FIXED_SETTINGS and
# GP_SERVER_SETTINGS whose configured value differs: gpconfig -c NAME -v SEG -m MASTER. gpconfig
# only edits postgresql.conf (gpconfig do_change) and exits 0 even when a host failed ("finished
# with errors"), so its output is checked, changed settings are reloaded with gpstop -a -u, and
# settings that only a restart applies (pg_settings.context = postmaster) are named in the log.
# A gpconfig -c that failed may still have written some hosts' files, and a pass that finds the
# files right changes nothing: so a failed gpconfig -c or gpstop -u leaves a reload owed
# (settings-reload-pending) until one succeeds, or those hosts keep running the old value.
master_apply_server_settings() {
  local line name seg master extra current out context reload=0 restart=() failed=0
  [[ -e "$GP_RUN_DIR/settings-reload-pending" ]] && reload=1
  while IFS= read -r line; do
    line="${line%$'\r'}"
    [[ -n "${line//[[:space:]]/}" ]] || continue
    read -r name seg master extra <<<"$line"
    if ! [[ "$name" =~ ^[a-z_][a-z0-9_.]*$ ]] || [[ -z "$master" || -n "$extra" ]]; then
      log_error "GP_SERVER_SETTINGS line '${line}' is not '<guc-name> <segment value> <master value>'; skipped"
      continue
    fi
    if ! current="$(gpk_guc_file_values "$name")"; then
      log_error "gpconfig -s ${name} --file failed (${current}); ${name} not changed"
      failed=1
      continue
    fi
    [[ "$current" == "${seg}|${master}" ]] && continue
    log_info "setting ${name}: segments ${seg}, master ${master} (configured: segments '${current%%|*}', master '${current#*|}'): gpconfig -c ${name} -v ${seg} -m ${master}"
    if ! out="$(gpconfig -c "$name" -v "$seg" -m "$master" </dev/null 2>&1)" || [[ "$out" == *"finished with errors"* ]]; then
      log_error "gpconfig -c ${name} failed: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
      failed=1
      reload=1
      continue
    fi
    context="$(gpk_psql <<<"-- gpk:guc-context
SELECT context FROM pg_settings WHERE name = '${name}';" 2>/dev/null)" || context=""
    if [[ "$context" == postmaster ]]; then restart+=("$name"); else reload=1; fi
  done < <(printf '%s\n%s\n' "$GPK_FIXED_SETTINGS" "${GP_SERVER_SETTINGS:-}")
  if ((reload == 1)); then
    log_info "reloading the configuration of every instance: gpstop -a -u"
    if gpstop -a -u </dev/null >/dev/null 2>&1; then
      rm -f "$GP_RUN_DIR/settings-reload-pending"
    else
      log_error "gpstop -a -u failed; the supervisor tries the reload again"
      touch "$GP_RUN_DIR/settings-reload-pending"
    fi
  fi
  if ((${#restart[@]} > 0)); then
    log_warn "RESTART NEEDED: ${restart[*]} only take effect when the cluster restarts (context postmaster); in a maintenance window: kubectl -n ${GP_NAMESPACE} exec $(gpk_self) -- bash -lc 'gpstop -a -r -M fast'"
  fi
  # gpconfig refuses while any segment host does not answer: the supervisor tries again.
  if ((failed == 1)) || [[ -e "$GP_RUN_DIR/settings-reload-pending" ]]; then touch "$GP_RUN_DIR/settings-pending"; else rm -f "$GP_RUN_DIR/settings-pending"; fi
}

# Steps after gpinitsystem. Each is idempotent so an interrupted run resumes here.
# The password is set before pg_hba opens md5 access to clients (gpinitsystem leaves a
# well-known default password).
master_post_init() {
  [[ -n "${GP_DATABASE:-}" ]] || die "required environment variable GP_DATABASE is not set (database to create)"
  master_ensure_standby
  master_set_password
  gpk_apply_master_hba || die "reloading the master after writing pg_hba.conf failed"
  master_create_database
  master_apply_server_settings
  master_mark_initialised
  gpk_write_init_state "done"
  log_info "cluster initialisation complete"
}

master_half_init_report() {
  local state="$1" ns="$GP_NAMESPACE" pod
  log_error "=================================================================="
  log_error "HALF-INITIALISED CLUSTER: ${state} (${GPK_INIT_STATE_FILE})."
  log_error "Not starting postgres and not running gpinitsystem over it. sshd stays up so you can"
  log_error "inspect; logs: ${GPK_STATE_DIR}/gpAdminLogs. To start over (no client ever used it):"
  log_error "  kubectl -n ${ns} exec master-0 -- rm -rf ${GPK_MASTER_DIR} ${GPK_INIT_STATE_FILE}"
  while read -r pod; do
    [[ "$pod" == master-0 ]] && continue
    log_error "  kubectl -n ${ns} exec ${pod} -- rm -rf $(gpk_pod_data_dir "$pod")"
  done < <(gpk_all_pods)
  log_error "  kubectl -n ${ns} delete pod master-0"
  log_error "=================================================================="
}

# A first init that did not finish (the pod restarted or gpinitsystem failed) never served a
# client: clients get their password and pg_hba lines only after gpinitsystem. Its leftovers are
# moved aside (never deleted) on every pod, once: the caller initialises again. Returns 1, with
# the clean-up report, when that is not safe or was already tried; exits when a pod cannot be
# cleared yet, so the pod restarts and tries again.
master_clear_half_init() {
  local hosts=() pod dir suffix attempts q_dir q_marker cmd
  attempts="$(cat "$GPK_STATE_DIR/init-retries" 2>/dev/null || echo 0)"
  if ((attempts >= GPK_INIT_RETRIES)); then
    master_half_init_report "the first init did not finish, and was retried ${attempts} time(s) already"
    return 1
  fi
  suffix="half-init-$(date -u +%Y%m%dT%H%M%SZ)"
  mapfile -t hosts < <(gpk_all_pods)
  log_warn "the first init did not finish (init state $(gpk_read_init_state)); moving its leftovers aside on every pod and initialising again"
  gpk_wait_for_hosts "$GP_HOST_WAIT_SECONDS" "${hosts[@]}" ||
    die "cannot clear the unfinished first init: not every host is reachable; exiting so the pod restarts and tries again"
  # A pod marked initialised belongs to a cluster that finished its init (and may hold data).
  q_marker="$(printf '%q' "$GPK_INITIALISED_MARKER")"
  for pod in "${hosts[@]}"; do
    if gpk_ssh "$(gpk_fqdn "$pod")" "test -e ${q_marker}" </dev/null >/dev/null 2>&1; then
      master_half_init_report "init state $(gpk_read_init_state), but ${pod} belongs to a cluster whose init finished (${GPK_INITIALISED_MARKER}); nothing was moved"
      return 1
    fi
  done
  for pod in "${hosts[@]}"; do
    dir="$(gpk_pod_data_dir "$pod")"
    q_dir="$(printf '%q' "$dir")"
    # What the interrupted gpinitsystem started over ssh may still run: stop it, then the instance.
    # initdb runs the backend in single-user (--single) and bootstrap (--boot) mode; pg_ctl cannot
    # stop those ("single-user server is running"), so they are killed too and, being gone a
    # moment later, waited for. (The bracketed patterns keep pkill from matching this shell.)
    cmd="source $(printf '%q' "$GPHOME/greenplum_path.sh") >/dev/null 2>&1
pkill -KILL -u \"\$(id -u)\" -f '[g]pcreateseg|[p]g_basebackup|[i]nitdb|[g]psegstart|[p]ostgres --(single|boot)' >/dev/null 2>&1
[ -d ${q_dir} ] || exit 0
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
  pg_ctl status -D ${q_dir} 2>/dev/null | grep -q 'single-user' || break
  sleep 0.5
done
if pg_ctl status -D ${q_dir} >/dev/null 2>&1; then pg_ctl -D ${q_dir} -m immediate -w -t 60 stop >/dev/null || exit 1; fi
mv ${q_dir} $(printf '%q' "${dir}.${suffix}") && echo moved"
    local out
    if [[ "$pod" == "$(gpk_self)" ]]; then
      out="$(bash -c "$cmd")" || die "could not move ${dir} aside on ${pod}"
    else
      out="$(gpk_ssh "$(gpk_fqdn "$pod")" "$cmd" </dev/null)" || die "could not move ${dir} aside on ${pod}"
    fi
    if [[ "$out" == *moved* ]]; then
      log_info "${pod}: moved ${dir} aside to ${dir}.${suffix}"
    else
      log_info "${pod}: no ${dir} to move aside"
    fi
  done
  # Counted once every pod is clear: a clean-up cut short (a host gone, an instance that would
  # not stop) is tried again on the next start without using up the retry.
  printf '%s\n' "$((attempts + 1))" >"$GPK_STATE_DIR/init-retries"
  rm -f "$GPK_INIT_STATE_FILE"
}

# Marks every pod as part of a cluster whose init finished: an unfinished-init clean-up never
# touches such a pod. Pods that do not answer get it on the next start of the master.
master_mark_initialised() {
  local pod q_marker
  q_marker="$(printf '%q' "$GPK_INITIALISED_MARKER")"
  while read -r pod; do
    gpk_ssh "$(gpk_fqdn "$pod")" "mkdir -p $(printf '%q' "$GPK_STATE_DIR") && touch ${q_marker}" </dev/null >/dev/null 2>&1 ||
      log_warn "could not mark ${pod} initialised (${GPK_INITIALISED_MARKER}); retried on the next start"
  done < <(gpk_all_pods)
}

# ---------------------------------------------------------------------------
# Restart with data present
# ---------------------------------------------------------------------------

# Refuses to become master when the peer master pod already runs as a master (guards against
# a stale ConfigMap volume right after a failover).
master_peer_is_active() {
  [[ "$GP_STANDBY" == true ]] || return 1
  local peer fqdn
  peer="$(gpk_peer_master "$(gpk_self)")"
  fqdn="$(gpk_fqdn "$peer")"
  gpk_host_answers "$fqdn" || return 1
  gpk_ssh "$fqdn" "source $(printf '%q' "$GPHOME/greenplum_path.sh") >/dev/null 2>&1; pg_ctl status -D $(printf '%q' "$GPK_MASTER_DIR") >/dev/null 2>&1 && test ! -f $(printf '%q' "$GPK_MASTER_DIR/recovery.conf")" </dev/null >/dev/null 2>&1
}

# Prints the first segment pod whose fence token names another master pod (gp-failover
# promote writes "<new master> <its timeline>" onto every pod). A token from an earlier
# promotion (a lower timeline than this master's: a pod that was unreachable when a later
# promote wrote the others) is stale and ignored; a token without a timeline, or a master whose
# timeline cannot be read, fences on the name alone. Unreachable pods are skipped.
gpk_segment_fence() {
  local pod token name timeline self own
  self="$(gpk_self)"
  own="$(gpk_timeline "$GPK_MASTER_DIR")" || own=""
  while read -r pod; do
    token="$(gpk_ssh "$(gpk_fqdn "$pod")" "cat $(printf '%q' "$GPK_ACTING_TOKEN") 2>/dev/null || true" </dev/null 2>/dev/null)" || continue
    read -r name timeline _ <<<"$token" || true
    [[ -n "${name:-}" && "$name" != "$self" ]] || continue
    if [[ "${timeline:-}" =~ ^[0-9]{1,9}$ && -n "$own" ]] && ((10#$timeline <= 10#$own)); then
      log_warn "ignoring a stale fence token on ${pod}: it names ${name} on timeline ${timeline}, this master is on timeline ${own} (to tidy: kubectl -n ${GP_NAMESPACE} exec ${pod} -- bash ${GPK_SCRIPTS_DIR}/ctl.sh set-acting-master ${self} ${own})"
      continue
    fi
    printf '%s names %s%s\n' "$pod" "$name" "${timeline:+ on timeline ${timeline}}"
    return 0
  done < <(gpk_primary_pods; gpk_mirror_pods)
  return 1
}

# The segments belong to another master (a promote, possibly --force during a partition):
# fence this data directory and stop only this master's postmaster (pg_ctl, never gpstop,
# which would stop the segments the new master uses).
master_stand_down() {
  local why="$1"
  log_error "fence token found: ${why}. Another master pod was promoted; this one stands down"
  date -u +%Y-%m-%dT%H:%M:%SZ >"$GPK_FENCE_FILE"
  gpk_stop_instance "$GPK_MASTER_DIR" || log_error "could not stop the master postmaster on ${GPK_MASTER_DIR}"
}

master_start_existing() {
  local fence
  if fence="$(gpk_segment_fence)"; then
    master_stand_down "$fence"
    return 2
  fi
  if master_peer_is_active; then
    log_error "the peer master $(gpk_peer_master "$(gpk_self)") is running as a master; refusing to start this one as master too"
    return 2
  fi
  if gpk_postmaster_running "$GPK_MASTER_DIR"; then
    log_info "master postmaster already running (e.g. just promoted); not running gpstart"
  else
    # gpstart needs the segments; the standby it can leave out (-y -S), so a lost standby pod
    # never holds the master back.
    local hosts=()
    mapfile -t hosts < <(gpk_primary_pods; gpk_mirror_pods)
    if ! gpk_wait_for_hosts "$GP_RESTART_HOST_WAIT_SECONDS" "${hosts[@]}"; then
      log_warn "not every segment host answers after ${GP_RESTART_HOST_WAIT_SECONDS}s; starting anyway (the supervisor recovers the rest)"
    fi
    local rc=0
    master_gpstart_args || return 2
    log_info "running: gpstart ${GPK_GPSTART_ARGS[*]}"
    gpstart "${GPK_GPSTART_ARGS[@]}" || rc=$?
    if ((rc != 0)); then log_warn "gpstart ${GPK_GPSTART_ARGS[*]} exited ${rc}"; fi
  fi
  if gpk_master_sql_ok; then
    log_info "master answers SQL"
    return 0
  fi
  if gpk_postmaster_running "$GPK_MASTER_DIR"; then
    # Crash recovery of a big WAL backlog can take long: never kill a running postmaster.
    log_warn "the master postmaster runs but does not answer SQL yet ($(gpk_master_ping_state)); supervising until it does"
    return 0
  fi
  log_error "no master postmaster runs after gpstart (pg_ctl status)"
  return 1
}

# gpstart -a checks whether the standby was activated by reading pg_controldata on the standby
# host; when that host cannot be reached it refuses in non-interactive mode and stops the
# master again (gpstart check_standby: "Non interactive mode detected. Not starting the
# cluster"). A lost or pending standby pod must not keep the master down, so then the standby
# is neither checked (-S) nor started (-y); the supervisor brings it back with gpinitstandby -n.
# Skipping the check is safe here because a master only gets this far when the ConfigMap names
# it, its data is not fenced and no segment carries another master's fence token.
# Returns 2 when the peer holds an activated standby's data (master data, no recovery.conf):
# gpstart's own check for that case (gpstart _standby_activated) is skipped by -S, so it is made here.
master_gpstart_args() {
  GPK_GPSTART_ARGS=(-a)
  [[ "$GP_STANDBY" == true ]] || return 0
  local peer fqdn q_dir
  peer="$(gpk_peer_master "$(gpk_self)")"
  fqdn="$(gpk_fqdn "$peer")"
  q_dir="$(printf '%q' "$GPK_MASTER_DIR")"
  if gpk_host_answers "$fqdn"; then
    if gpk_ssh "$fqdn" "test -f ${q_dir}/PG_VERSION && test -f ${q_dir}/recovery.conf" </dev/null >/dev/null 2>&1; then
      return 0
    fi
    if gpk_ssh "$fqdn" "test -f ${q_dir}/PG_VERSION && test ! -f ${q_dir}/recovery.conf" </dev/null >/dev/null 2>&1; then
      log_error "the peer ${peer} holds master data without recovery.conf: it was activated, so this pod must not start as master"
      return 2
    fi
  fi
  log_warn "the standby master ${peer} does not answer or holds no standby data: starting without it (gpstart -y -S); the supervisor re-creates it when it is back"
  GPK_GPSTART_ARGS+=(-y -S)
}

# ---------------------------------------------------------------------------
# Supervision
# ---------------------------------------------------------------------------

# Starts primaries that the catalog says are up but whose postmaster does not answer, when
# no mirror can take over: pg_ctl on the segment via ssh, as gpstart would. FTS promotes a mirror
# only when the pair is in sync; a dead primary whose mirror is not in sync is a "double fault"
# that FTS only logs, leaving the primary marked up (ftsprobe.c processResponse, "FTS double
# fault detected"). So: unmirrored, mirror down, or pair not in sync (mode 'n').
sv_start_silent_primaries() {
  local rows content host port dir mode mstatus rc
  rows="$(gpk_psql <<<"-- gpk:up-primaries
SELECT p.content, p.hostname, p.port, p.datadir, p.mode, COALESCE(m.status, '-')
FROM gp_segment_configuration p
LEFT JOIN gp_segment_configuration m ON m.content = p.content AND m.role = 'm'
WHERE p.content >= 0 AND p.role = 'p' AND p.status = 'u' ORDER BY p.content;")" || return 1
  while IFS='|' read -r content host port dir mode mstatus; do
    [[ -n "$content" ]] || continue
    [[ "$mstatus" == - || "$mstatus" == d || "$mode" == n ]] || continue
    rc=0
    pg_isready -q -h "$host" -p "$port" -t 3 >/dev/null 2>&1 || rc=$?
    ((rc == 2 || rc == 3)) || continue
    if ! gpk_host_answers "$host"; then
      log_warn "primary content ${content} (${host}:${port}) does not answer and its host is unreachable; waiting"
      continue
    fi
    log_info "primary content ${content} (${host}:${port}) does not answer and no mirror can take over (mirror status ${mstatus}, mode ${mode}): starting it with pg_ctl over ssh"
    if ! gpk_ssh "$host" "source $(printf '%q' "$GPHOME/greenplum_path.sh") >/dev/null 2>&1; mkdir -p $(printf '%q' "$dir/pg_log"); $(gpk_segment_start_cmd "$dir" "$port")" </dev/null; then
      log_error "starting primary content ${content} on ${host} failed; will retry next interval"
    fi
  done <<<"$rows"
}

sv_recover_segments() {
  local rows content role host port answering=()
  rows="$(gpk_psql <<<"-- gpk:down-segments
SELECT content, role, hostname, port FROM gp_segment_configuration
WHERE content >= 0 AND status = 'd' ORDER BY content;")" || return 1
  [[ -n "$rows" ]] || return 0
  while IFS='|' read -r content role host port; do
    [[ -n "$content" ]] || continue
    if gpk_host_answers "$host"; then
      answering+=("content ${content} role ${role} on ${host}:${port}")
    else
      log_warn "segment content ${content} (${host}:${port}) is down and its host does not answer; waiting"
    fi
  done <<<"$rows"
  ((${#answering[@]} > 0)) || return 0
  log_info "down segments whose hosts answer: ${answering[*]}; running gprecoverseg -a"
  if gprecoverseg -a; then
    log_info "gprecoverseg -a finished"
  else
    log_error "gprecoverseg -a failed; will retry next interval (if it keeps failing, inspect and consider gprecoverseg -a -F)"
  fi
}

# After a mirror took over, each pair stays swapped, and the host of the promoted mirror serves
# two contents' work. Once every pair is back in sync (so a rebalance loses no redundancy), the
# supervisor puts every instance back in its preferred role: gprecoverseg -r.
sv_rebalance() {
  local counts unsynced unbalanced
  counts="$(gpk_psql <<<"-- gpk:balance
SELECT count(*) FILTER (WHERE status <> 'u' OR mode <> 's'), count(*) FILTER (WHERE role <> preferred_role)
FROM gp_segment_configuration WHERE content >= 0;")" || return 1
  IFS='|' read -r unsynced unbalanced <<<"$counts"
  [[ "$unsynced" == 0 && "$unbalanced" =~ ^[1-9][0-9]*$ ]] || return 0
  log_info "every pair is in sync and ${unbalanced} instances are out of their preferred role: rebalancing with gprecoverseg -a -r"
  if gprecoverseg -a -r </dev/null; then
    log_info "gprecoverseg -a -r finished"
  else
    log_error "gprecoverseg -a -r failed; will retry next interval"
  fi
}

# Writes the standby-sync marker onto the standby pod (evidence for gp-failover promote when
# the master is gone). The standby's own clock stamps it on arrival ("received"), so the
# evidence is judged on one clock.
sv_write_sync_marker() {
  local fqdn="$1" state="$2" detail="$3" content dir tmp marker
  content="state=${state}
master=$(gpk_self)
${detail}"
  dir="$(printf '%q' "$GPK_STATE_DIR")"
  tmp="$(printf '%q' "$GPK_SYNC_MARKER.tmp")"
  marker="$(printf '%q' "$GPK_SYNC_MARKER")"
  # shellcheck disable=SC2016 # $(date) runs on the standby
  gpk_ssh "$fqdn" "mkdir -p ${dir} && { cat; echo \"received=\$(date +%s)\"; } > ${tmp} && mv ${tmp} ${marker}" <<<"$content" >/dev/null 2>&1 ||
    log_warn "could not write the standby-sync marker on ${fqdn}"
}

# Prints "state|sent|flush|replay" for the standby's walsender, nothing when absent.
gpk_replication_row() {
  gpk_psql <<<"-- gpk:replication
SELECT state, sent_location, flush_location, replay_location FROM pg_stat_replication
WHERE state = 'streaming' LIMIT 1;"
}

sv_check_standby() {
  [[ "$GP_STANDBY" == true ]] || return 0
  local registered row state sent flush replay fqdn
  registered="$(gpk_psql <<<"-- gpk:standby-host
SELECT hostname FROM gp_segment_configuration WHERE content = -1 AND role = 'm';")" || return 1
  if [[ -z "$registered" ]]; then
    if ((GPK_LOOP % 10 == 1)); then
      log_warn "no standby master is configured; to add one run: gp-failover --namespace ${GP_NAMESPACE} reinstate"
    fi
    return 0
  fi
  fqdn="$registered"
  row="$(gpk_replication_row)" || return 1
  IFS='|' read -r state sent flush replay <<<"$row"
  if [[ "$state" == streaming ]] && [[ -f "$GPK_TOPOLOGY_FILE" ]]; then
    # A promoted standby must know the topology too.
    gpk_ssh "$fqdn" "test -f $(printf '%q' "$GPK_TOPOLOGY_FILE") || { mkdir -p $(printf '%q' "$GPK_STATE_DIR") && cat > $(printf '%q' "$GPK_TOPOLOGY_FILE"); }" <"$GPK_TOPOLOGY_FILE" >/dev/null 2>&1 ||
      log_warn "could not copy the topology record to ${fqdn}"
  fi
  if [[ "$state" == streaming && -n "$sent" && "$sent" == "$flush" ]]; then
    sv_write_sync_marker "$fqdn" in-sync "sent=${sent}
flush=${flush}
replay=${replay}"
    return 0
  fi
  if [[ "$state" == streaming ]]; then
    sv_write_sync_marker "$fqdn" catching-up "sent=${sent}
flush=${flush}
replay=${replay}"
    return 0
  fi
  if ! gpk_host_answers "$fqdn"; then
    log_warn "standby master ${fqdn} is not streaming and does not answer; waiting"
    return 0
  fi
  sv_write_sync_marker "$fqdn" not-streaming ""
  log_info "standby master ${fqdn} is configured but not streaming and its host answers: running gpinitstandby -n"
  if ! gpinitstandby -a -n; then
    log_error "gpinitstandby -n failed; will retry next interval (if ${fqdn} lost its data: gpinitstandby -a -r here, then gp-failover reinstate)"
  fi
}

# One supervision pass. Returns 3 when the master itself is down (the caller restarts the
# container so the restart path runs), 4 when it stood down for another master, 0 otherwise.
master_supervise_once() {
  GPK_LOOP=$((${GPK_LOOP:-0} + 1))
  if [[ -e "$GP_RUN_DIR/stopping" ]]; then
    log_info "pod is stopping; supervision paused"
    return 0
  fi
  if ! gpk_master_sql_ok; then
    # Only a postmaster that is gone may lead to a restart: one that runs but does not answer
    # SQL (too many clients, crash recovery, a checkpoint stall) is left alone. pg_ctl status
    # reads postmaster.pid and checks that the process is alive (pg_ctl.c do_status).
    if gpk_postmaster_running "$GPK_MASTER_DIR"; then
      log_warn "the master postmaster runs but SQL does not answer ($(gpk_master_ping_state)); not touching it, supervision skipped this pass"
      return 0
    fi
    log_error "no master postmaster runs on ${GPK_MASTER_DIR} (pg_ctl status)"
    return 3
  fi
  local fence
  if fence="$(gpk_segment_fence)"; then
    master_stand_down "$fence"
    return 4
  fi
  gpk_apply_master_hba || log_error "could not apply pg_hba.conf"
  sv_sync_password
  if [[ -e "$GP_RUN_DIR/settings-pending" ]]; then
    log_info "some server settings were not applied: trying again"
    master_apply_server_settings
  fi
  sv_start_silent_primaries || log_error "could not check primaries"
  if [[ "$GP_MIRRORS" == true ]]; then
    sv_recover_segments || log_error "could not check for down segments"
    sv_rebalance || log_error "could not check whether the segments are balanced"
  fi
  sv_check_standby || log_error "could not check the standby master"
  return 0
}
