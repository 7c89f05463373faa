#!/usr/bin/env bash
# gp-backup.sh: gpbackup and gprestore to S3-compatible storage, run on the acting master as
# gpadmin. It reaches the master two ways: the backup CronJob's pod over ssh and `bin/gp-backup`
# with `kubectl exec -i`. It never reads the pod's
# environment: the destination and the settings arrive on stdin as KEY=VALUE lines (keys below),
# so credentials never appear in argv, env or the pod spec of the master.
#
#   gp-backup.sh run [--full]              back up every database in GPK_BACKUP_DATABASES, then prune
#   gp-backup.sh list                      every backup: timestamp, database, type, status, size, base
#   gp-backup.sh latest DATABASE           the newest good backup's timestamp for DATABASE
#   gp-backup.sh restore --timestamp TS|latest [--database DB] --into-database NEW
#   gp-backup.sh prune                     delete what retention no longer keeps
#
# Where things are in the bucket (the S3 plugin keeps the last four path parts of a file):
#   <folder>/backups/<YYYYMMDD>/<timestamp>/...         gpbackup's own files, per backup
#   <folder>/greenplum-k8s/catalog/v1/<timestamp>.<db>  one empty object per backup this script took
# The catalog exists because the plugin's listing returns one page (1000 keys) of the whole
# folder: a backup of 250 tables on 4 segments alone fills it. Status and type come from each
# backup's own gpbackup_<ts>_config.yaml, which gpbackup uploads last, success or failure.
set -euo pipefail

readonly SETTINGS_KEYS="GPK_S3_ENDPOINT GPK_S3_ENCRYPTION GPK_S3_REGION GPK_S3_BUCKET GPK_S3_FOLDER \
GPK_S3_ACCESS_KEY_ID GPK_S3_SECRET_ACCESS_KEY GPK_BACKUP_DATABASES GPK_BACKUP_INCREMENTALS_PER_FULL \
GPK_BACKUP_KEEP_FULL GPK_BACKUP_COMPRESSION GPK_BACKUP_COMPRESSION_LEVEL GPK_S3_PROBE_TIMEOUT_SECONDS"
readonly CATALOG="greenplum-k8s/catalog/v1"

log() { printf '%s gp-backup %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "${*:2}" >&2; }
die() {
  log ERROR "$@"
  exit 1
}

# KEY=VALUE lines on stdin; only the known keys, values taken literally (never evaluated).
read_settings() {
  local line key value
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ -z "$line" || "$line" == \#* ]] && continue
    key="${line%%=*}"
    value="${line#*=}"
    [[ " ${SETTINGS_KEYS} " == *" ${key} "* ]] || die "unknown setting ${key} on stdin (known: ${SETTINGS_KEYS})"
    printf -v "$key" '%s' "$value"
  done
  local required
  for required in GPK_S3_BUCKET GPK_S3_FOLDER; do
    [[ -n "${!required:-}" ]] || die "setting ${required} is missing on stdin"
  done
  : "${GPK_S3_ENDPOINT:=}" "${GPK_S3_ENCRYPTION:=on}" "${GPK_S3_REGION:=}" "${GPK_S3_ACCESS_KEY_ID:=}"
  : "${GPK_S3_SECRET_ACCESS_KEY:=}" "${GPK_BACKUP_DATABASES:=}" "${GPK_BACKUP_INCREMENTALS_PER_FULL:=0}"
  : "${GPK_BACKUP_KEEP_FULL:=1}" "${GPK_BACKUP_COMPRESSION:=zstd}" "${GPK_BACKUP_COMPRESSION_LEVEL:=1}"
  : "${GPK_S3_PROBE_TIMEOUT_SECONDS:=60}"
  [[ "$GPK_BACKUP_KEEP_FULL" =~ ^[1-9][0-9]*$ ]] || die "GPK_BACKUP_KEEP_FULL='${GPK_BACKUP_KEEP_FULL}' must be a whole number >= 1"
  [[ "$GPK_BACKUP_INCREMENTALS_PER_FULL" =~ ^[0-9]+$ ]] || die "GPK_BACKUP_INCREMENTALS_PER_FULL='${GPK_BACKUP_INCREMENTALS_PER_FULL}' must be a whole number"
}

yaml_quote() { printf "'%s'" "${1//\'/\'\'}"; }

# The plugin config: gpbackup copies it to the same path on every host (rsync over ssh), so it
# lives under gpadmin's home, mode 0600, and every copy is removed when this script exits.
write_plugin_config() {
  WORK="${HOME}/.greenplum-k8s/backup"
  mkdir -p "$WORK"
  chmod 700 "$WORK"
  PLUGIN_CONFIG="${WORK}/s3-plugin.yaml"
  (
    umask 077
    {
      echo "executablepath: ${GPHOME}/bin/gpbackup_s3_plugin"
      echo "options:"
      [[ -n "$GPK_S3_REGION" ]] && echo "  region: $(yaml_quote "$GPK_S3_REGION")"
      [[ -n "$GPK_S3_ENDPOINT" ]] && echo "  endpoint: $(yaml_quote "$GPK_S3_ENDPOINT")"
      echo "  encryption: $(yaml_quote "$GPK_S3_ENCRYPTION")"
      echo "  bucket: $(yaml_quote "$GPK_S3_BUCKET")"
      echo "  folder: $(yaml_quote "$GPK_S3_FOLDER")"
      if [[ -n "$GPK_S3_ACCESS_KEY_ID" ]]; then
        echo "  aws_access_key_id: $(yaml_quote "$GPK_S3_ACCESS_KEY_ID")"
        echo "  aws_secret_access_key: $(yaml_quote "$GPK_S3_SECRET_ACCESS_KEY")"
      fi
    } >"$PLUGIN_CONFIG"
  )
  trap remove_plugin_configs EXIT
}

remove_plugin_configs() {
  local host
  rm -f "$PLUGIN_CONFIG"
  # Copies exist only on hosts gpbackup or gprestore copied it to: every segment host.
  for host in $(psql_master "SELECT DISTINCT hostname FROM gp_segment_configuration WHERE content >= 0" 2>/dev/null); do
    timeout 20 ssh -o BatchMode=yes "$host" "rm -f $(printf '%q' "$PLUGIN_CONFIG")" </dev/null >/dev/null 2>&1 ||
      log WARN "could not remove the plugin config copy on ${host} (${PLUGIN_CONFIG})"
  done
}

plugin() {
  timeout "$GPK_S3_PROBE_TIMEOUT_SECONDS" "${GPHOME}/bin/gpbackup_s3_plugin" "$1" "$PLUGIN_CONFIG" "${@:2}" </dev/null
}

psql_master() {
  PGCONNECT_TIMEOUT=10 psql -X -q -A -t -v ON_ERROR_STOP=1 -p 5432 -d "${2:-template1}" -c "$1"
}

master_data_dir() {
  psql_master "SELECT datadir FROM gp_segment_configuration WHERE content = -1 AND role = 'p'"
}

# A write the destination must accept before any backup starts: the plugin retries a refused
# connection for minutes and its listing hides errors, so this is where a wrong endpoint, bucket
# or key shows, with the storage's own message, within GPK_S3_PROBE_TIMEOUT_SECONDS.
probe_destination() {
  local probe out rc=0
  probe="${WORK}/probe/greenplum-k8s/probe/v1/$(hostname)"
  mkdir -p "$(dirname "$probe")"
  date -u +%Y-%m-%dT%H:%M:%SZ >"$probe"
  out="$(plugin backup_file "$probe" 2>&1)" || rc=$?
  if ((rc == 124)); then
    die "the destination ${GPK_S3_ENDPOINT:-region ${GPK_S3_REGION}} bucket ${GPK_S3_BUCKET} did not answer within ${GPK_S3_PROBE_TIMEOUT_SECONDS}s; nothing was backed up"
  elif ((rc != 0)); then
    die "the destination ${GPK_S3_ENDPOINT:-region ${GPK_S3_REGION}} bucket ${GPK_S3_BUCKET} refused a test write; nothing was backed up: ${out}"
  fi
}

# "<timestamp> <database>" for every catalog entry, oldest first.
catalog_entries() {
  local out
  out="$(plugin list_directory "${GPK_S3_FOLDER}/${CATALOG}/" 2>&1)" || die "listing the backup catalog failed: ${out}"
  grep -oE "${CATALOG}/[0-9]{14}\.[a-z_][a-z0-9_]*" <<<"$out" | sed -E "s#^${CATALOG}/##; s#\.# #" | sort -u || true
}

catalog_add() {
  local entry="${WORK}/catalog/${CATALOG}/$1.$2"
  mkdir -p "$(dirname "$entry")"
  : >"$entry"
  plugin backup_file "$entry" >/dev/null 2>&1 || die "recording backup $1 of $2 in the catalog failed"
}

# Prints "status incremental" of a backup from its config file in the bucket ("Incomplete -"
# when there is none: gpbackup was stopped before its end, so the backup is not good).
backup_facts() {
  local ts="$1" file="${WORK}/facts/backups/${1:0:8}/$1/gpbackup_$1_config.yaml"
  mkdir -p "$(dirname "$file")"
  if ! plugin restore_file "$file" >/dev/null 2>&1; then
    echo "Incomplete -"
    return 0
  fi
  local status incremental
  status="$(sed -nE 's/^status: *"?([^"]*)"?$/\1/p' "$file")"
  incremental="$(sed -nE 's/^incremental: *(true|false)$/\1/p' "$file")"
  echo "${status:-Unknown} ${incremental:-false}"
}

# The full backup an incremental depends on: the oldest timestamp of its restore plan.
backup_base() {
  local file="${WORK}/facts/backups/${1:0:8}/$1/gpbackup_$1_config.yaml"
  sed -nE 's/^- timestamp: *"?([0-9]{14})"?$/\1/p' "$file" 2>/dev/null | sort | head -n 1
}

backup_size() {
  local out
  out="$(plugin list_directory "${GPK_S3_FOLDER}/backups/${1:0:8}/$1/" 2>/dev/null)" || {
    echo "?"
    return 0
  }
  awk '/backups\// { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/) { s += $i; n++ } } END { printf "%d%s\n", s, (n >= 1000 ? "+" : "") }' <<<"$out"
}

# One line per backup, oldest first: timestamp database type status base.
backup_table() {
  local ts db facts status incremental type base
  while read -r ts db; do
    [[ -n "$ts" ]] || continue
    facts="$(backup_facts "$ts")"
    status="${facts% *}"
    incremental="${facts#* }"
    type=full
    base="-"
    if [[ "$incremental" == true ]]; then
      type=incremental
      base="$(backup_base "$ts")"
    fi
    echo "$ts $db $type $status ${base:--}"
  done < <(catalog_entries)
}

verb_list() {
  printf '%-16s %-20s %-12s %-11s %-14s %s\n' TIMESTAMP DATABASE TYPE STATUS SIZE_BYTES BASE
  local ts db type status base
  while read -r ts db type status base; do
    printf '%-16s %-20s %-12s %-11s %-14s %s\n' "$ts" "$db" "$type" "$status" "$(backup_size "$ts")" "$base"
  done < <(backup_table)
}

latest_good() {
  backup_table | awk -v db="$1" '$2 == db && $4 == "Success" { ts = $1 } END { if (ts) print ts }'
}

verb_latest() {
  local ts
  ts="$(latest_good "$1")"
  [[ -n "$ts" ]] || die "no good backup of database $1 in bucket ${GPK_S3_BUCKET} folder ${GPK_S3_FOLDER}"
  echo "$ts"
}

# Full unless an incremental fits: there is a good full of this database, fewer than
# GPK_BACKUP_INCREMENTALS_PER_FULL incrementals since it, and the newest good backup to base it on.
backup_one() {
  local db="$1" force_full="$2" table fulls_since from="" type=full
  table="$(backup_table | awk -v db="$db" '$2 == db && $4 == "Success"')"
  if [[ "$force_full" != true && "$GPK_BACKUP_INCREMENTALS_PER_FULL" -gt 0 ]] && grep -q ' full ' <<<"$table"; then
    fulls_since="$(awk '$3 == "full" { n = 0; next } { n++ } END { print n + 0 }' <<<"$table")"
    if ((fulls_since < GPK_BACKUP_INCREMENTALS_PER_FULL)); then
      from="$(tail -n 1 <<<"$table" | awk '{print $1}')"
      type=incremental
    fi
  fi
  local args=(--dbname "$db" --plugin-config "$PLUGIN_CONFIG" --leaf-partition-data)
  if [[ "$GPK_BACKUP_COMPRESSION" == none ]]; then
    args+=(--no-compression)
  else
    args+=(--compression-type "$GPK_BACKUP_COMPRESSION" --compression-level "$GPK_BACKUP_COMPRESSION_LEVEL")
  fi
  [[ "$type" == incremental ]] && args+=(--incremental --from-timestamp "$from")
  log INFO "${type} backup of database ${db}${from:+ based on ${from}}: gpbackup ${args[*]}"
  local out="${WORK}/gpbackup.out" rc=0 ts
  gpbackup "${args[@]}" 2>&1 | tee "$out" >&2 || rc=$?
  ts="$(sed -nE 's/.*Backup Timestamp = ([0-9]{14}).*/\1/p' "$out" | head -n 1)"
  if [[ -z "$ts" ]]; then
    die "gpbackup of ${db} failed before it chose a timestamp (exit ${rc}); its messages are above"
  fi
  catalog_add "$ts" "$db"
  local status
  status="$(backup_facts "$ts")"
  status="${status% *}"
  if ((rc != 0)) || [[ "$status" != Success ]]; then
    die "backup ${ts} of ${db} is not good (gpbackup exit ${rc}, status ${status}); its messages are above. It is listed as ${status} and never used for a restore or as a base"
  fi
  log INFO "backup ${ts} of database ${db} (${type}) succeeded"
  echo "backup ${ts} ${db} ${type} Success"
}

verb_run() {
  local force_full=false db
  [[ "${1:-}" == --full ]] && force_full=true
  [[ -n "$GPK_BACKUP_DATABASES" ]] || die "setting GPK_BACKUP_DATABASES names no database"
  probe_destination
  for db in $GPK_BACKUP_DATABASES; do backup_one "$db" "$force_full"; done
  verb_prune
}

# Keeps the newest GPK_BACKUP_KEEP_FULL good full backups of each database and everything after
# the oldest of them (their incrementals, and failed runs for inspection); deletes everything
# older. The newest good backup is always kept: it is, or depends on, one of the kept fulls.
verb_prune() {
  local table db cutoff ts
  table="$(backup_table)"
  while read -r db; do
    [[ -n "$db" ]] || continue
    cutoff="$(awk -v db="$db" '$2 == db && $3 == "full" && $4 == "Success" {print $1}' <<<"$table" | tail -n "$GPK_BACKUP_KEEP_FULL" | head -n 1)"
    [[ -n "$cutoff" ]] || continue
    while read -r ts; do
      [[ -n "$ts" ]] || continue
      log INFO "retention (${GPK_BACKUP_KEEP_FULL} full per database): deleting backup ${ts} of ${db}, older than full backup ${cutoff}"
      plugin delete_backup "$ts" >&2 || die "deleting backup ${ts} failed"
      plugin delete_directory "${GPK_S3_FOLDER}/${CATALOG}/${ts}.${db}" >&2 || die "deleting the catalog entry of ${ts} failed"
      echo "pruned ${ts} ${db}"
    done < <(awk -v db="$db" -v cutoff="$cutoff" '$2 == db && $1 < cutoff {print $1}' <<<"$table")
  done < <(awk '{print $2}' <<<"$table" | sort -u)
}

database_exists() {
  [[ "$(psql_master "SELECT count(*) FROM pg_database WHERE datname = '${1//\'/\'\'}'")" == 1 ]]
}

verb_restore() {
  local ts="" db="" into=""
  while (($# > 0)); do
    case "$1" in
    --timestamp) ts="${2:-}"; shift 2 ;;
    --database) db="${2:-}"; shift 2 ;;
    --into-database) into="${2:-}"; shift 2 ;;
    *) die "restore: unknown argument $1" ;;
    esac
  done
  [[ -n "$ts" ]] || die "restore needs --timestamp YYYYMMDDHHMMSS or --timestamp latest"
  [[ -n "$into" ]] || die "restore needs --into-database NEW (a database that does not exist yet)"
  if [[ "$ts" == latest ]]; then
    db="${db:-${GPK_BACKUP_DATABASES%% *}}"
    [[ -n "$db" ]] || die "restore --timestamp latest needs --database (the backed-up database)"
    ts="$(verb_latest "$db")"
    log INFO "latest good backup of ${db}: ${ts}"
  fi
  [[ "$ts" =~ ^[0-9]{14}$ ]] || die "restore: timestamp '${ts}' is not YYYYMMDDHHMMSS"
  local facts
  facts="$(backup_facts "$ts")"
  [[ "${facts% *}" == Success ]] || die "backup ${ts} is not good (status ${facts% *}): not restoring it"
  if database_exists "$into"; then die "database ${into} already exists: name a new one (restoring over a live database is refused)"; fi
  local args=(--timestamp "$ts" --plugin-config "$PLUGIN_CONFIG" --redirect-db "$into" --create-db)
  log INFO "gprestore ${args[*]}"
  local rc=0
  gprestore "${args[@]}" >&2 || rc=$?
  ((rc == 0)) || die "gprestore of ${ts} failed (exit ${rc}); its messages are above"
  log INFO "restored backup ${ts} into database ${into}"
  echo "restored ${ts} ${into}"
}

main() {
  local verb="${1:-}"
  shift || true
  case "$verb" in
  run | list | latest | restore | prune) ;;
  *) die "usage: gp-backup.sh run [--full] | list | latest DATABASE | restore --timestamp TS|latest [--database DB] --into-database NEW | prune (settings on stdin)" ;;
  esac
  : "${GPHOME:=/usr/local/greenplum-db}"
  # shellcheck disable=SC1091
  source "${GPHOME}/greenplum_path.sh"
  read_settings
  write_plugin_config
  case "$verb" in
  run) verb_run "$@" ;;
  list) verb_list ;;
  latest) verb_latest "${1:?latest needs a DATABASE}" ;;
  restore) verb_restore "$@" ;;
  prune) verb_prune ;;
  esac
}

main "$@"
