#!/usr/bin/env bash
# backup-job.sh: the backup CronJob's container. It holds no database access of its own: it
# reaches the acting master over the cluster's sshd as gpadmin (the key every Greenplum pod
# trusts) and runs gp-backup.sh there, feeding it the settings and the store's key pair on stdin.
# No Kubernetes API access at all: the acting master comes from the ConfigMap gp-failover writes,
# mounted as a volume. Exit status is gp-backup.sh's, so a failed backup is a failed Job whose log
# carries gpbackup's own messages.
set -euo pipefail

: "${GP_NAMESPACE:?GP_NAMESPACE is not set (it comes from the pod spec)}"
: "${GP_HEADLESS_SERVICE:=agent}"
: "${GP_CLUSTER_DOMAIN:=cluster.local}"
: "${GP_SSH_PORT:=2222}"
: "${GP_SSH_SECRET_DIR:=/etc/greenplum-k8s/ssh}"
: "${GP_ACTING_MASTER_FILE:=/etc/greenplum-k8s/acting-master/acting-master}"
: "${GPK_BACKUP_SETTINGS_FILE:=/etc/greenplum-k8s/backup/settings}"
: "${GPK_BACKUP_CREDENTIALS_DIR:=/etc/greenplum-k8s/backup-credentials}"
: "${GP_SCRIPTS_DIR:=/opt/greenplum-k8s/scripts}"

log() { printf '%s backup-job %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "${*:2}" >&2; }

acting="$(tr -d '[:space:]' <"$GP_ACTING_MASTER_FILE")"
[[ "$acting" =~ ^master-[0-9]+$ ]] || { log ERROR "the acting-master record (${GP_ACTING_MASTER_FILE}) says '${acting}', not a master pod"; exit 1; }
host="${acting}.${GP_HEADLESS_SERVICE}.${GP_NAMESPACE}.svc.${GP_CLUSTER_DOMAIN}"

ssh_dir="$(mktemp -d)"
trap 'rm -rf "$ssh_dir"' EXIT
install -m 600 "$GP_SSH_SECRET_DIR/id_rsa" "$ssh_dir/id_rsa"
# One host key for every Greenplum pod (the ssh Secret): known exactly, no trust on first use.
printf '[%s]:%s %s\n' "$host" "$GP_SSH_PORT" "$(awk 'NF >= 2 {print $1" "$2; exit}' "$GP_SSH_SECRET_DIR/ssh_host_ed25519_key.pub")" >"$ssh_dir/known_hosts"

settings() {
  cat "$GPK_BACKUP_SETTINGS_FILE"
  echo
  printf 'GPK_S3_ACCESS_KEY_ID=%s\n' "$(cat "$GPK_BACKUP_CREDENTIALS_DIR/accessKeyId")"
  printf 'GPK_S3_SECRET_ACCESS_KEY=%s\n' "$(cat "$GPK_BACKUP_CREDENTIALS_DIR/secretAccessKey")"
}

log INFO "backing up through the acting master ${acting} (${host})"
settings | ssh -p "$GP_SSH_PORT" -i "$ssh_dir/id_rsa" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes \
  -o UserKnownHostsFile="$ssh_dir/known_hosts" -o ConnectTimeout=10 -o ServerAliveInterval=30 -o LogLevel=ERROR \
  "gpadmin@${host}" "bash ${GP_SCRIPTS_DIR}/gp-backup.sh ${*:-run}"
