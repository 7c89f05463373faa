/**
 * The backup's Kubernetes objects as plain functions (tests call them directly): the settings
 * the scripts read, the CronJob, and the NetworkPolicies that admit it.
 */
import type * as k8s from "@pulumi/kubernetes";
import type { BackupConfig, S3Destination } from "../../stacks/schema";
import { parseCidr } from "../../stacks/rules";
import {
    ACTING_MASTER_CONFIGMAP,
    ACTING_MASTER_DIR,
    commonLabels,
    GPADMIN_UID,
    HEADLESS_SERVICE,
    MASTER_SET,
    SCRIPTS_CONFIGMAP,
    SCRIPTS_DIR,
    setSelector,
    SSH_DIR,
    SSH_PORT,
    SSH_SECRET,
} from "../greenplum/naming";

export const BACKUP_CRONJOB = "greenplum-backup";
export const BACKUP_SETTINGS_CONFIGMAP = "greenplum-backup";
export const BACKUP_CREDENTIALS_SECRET = "greenplum-backup-s3";
export const BACKUP_SERVICE_ACCOUNT = "greenplum-backup";
export const BACKUP_SETTINGS_DIR = "/etc/greenplum-k8s/backup";
export const BACKUP_CREDENTIALS_DIR = "/etc/greenplum-k8s/backup-credentials";
const BACKUP_POD_LABELS = { "app.kubernetes.io/name": "greenplum-backup", "app.kubernetes.io/part-of": "greenplum-k8s" };

/** Where the plugin writes: endpoint split into host[:port] and encryption on/off, as gpbackup_s3_plugin takes them. */
export interface ResolvedDestination {
    endpoint?: string;
    region?: string;
    bucket: string;
    folder: string;
}

export function pluginEndpoint(endpoint: string | undefined): { endpoint?: string; encryption: "on" | "off" } {
    if (!endpoint) return { encryption: "on" };
    const url = new URL(endpoint);
    return { endpoint: url.host, encryption: url.protocol === "http:" ? "off" : "on" };
}

/** The KEY=VALUE lines gp-backup.sh reads (never a secret: the key pair is added from its Secret at run time). */
export function backupSettings(destination: ResolvedDestination, backup?: BackupConfig): string {
    const { endpoint, encryption } = pluginEndpoint(destination.endpoint);
    const lines: Record<string, string | number | undefined> = {
        GPK_S3_ENDPOINT: endpoint,
        GPK_S3_ENCRYPTION: encryption,
        // The plugin signs for region "unused" when none is set, which stores that check the
        // region refuse (versitygw: AuthorizationHeaderMalformed); us-east-1 is what they expect.
        GPK_S3_REGION: destination.region ?? "us-east-1",
        GPK_S3_BUCKET: destination.bucket,
        GPK_S3_FOLDER: destination.folder,
        ...(backup
            ? {
                  GPK_BACKUP_DATABASES: backup.databases.join(" "),
                  GPK_BACKUP_INCREMENTALS_PER_FULL: backup.incrementalsPerFull,
                  GPK_BACKUP_KEEP_FULL: backup.keepFullBackups,
                  GPK_BACKUP_COMPRESSION: backup.compression.type,
                  GPK_BACKUP_COMPRESSION_LEVEL: backup.compression.level,
              }
            : {}),
    };
    return Object.entries(lines)
        .filter(([, v]) => v !== undefined && v !== "")
        .map(([k, v]) => `${k}=${v}`)
        .join("\n")
        .concat("\n");
}

/**
 * The store's addresses for NetworkPolicy egress: the configured CIDRs, else the endpoint's own
 * address when it is one, else anywhere (a NetworkPolicy cannot name a host), on the endpoint's port.
 */
export function storeEgress(s3: Pick<S3Destination, "endpoint" | "egressCidrs"> | undefined): { cidrs: string[]; port: number } {
    const url = s3?.endpoint ? new URL(s3.endpoint) : undefined;
    const port = url?.port ? Number(url.port) : url?.protocol === "http:" ? 80 : 443;
    if (s3?.egressCidrs?.length) return { cidrs: s3.egressCidrs, port };
    const host = url?.hostname;
    if (host && "cidr" in parseCidr(`${host}/32`)) return { cidrs: [`${host}/32`], port };
    return { cidrs: ["0.0.0.0/0"], port };
}

export interface CronJobInputs {
    backup: BackupConfig;
    namespace: string;
    image: string;
    clusterDomain: string;
    credentialsSecret: string;
}

/**
 * One run at a time (Forbid), no retries (a failed run is a failed Job whose log holds gpbackup's
 * messages; the next schedule tries again), stopped after `timeoutMinutes`. The CronJob's
 * `status.lastSuccessfulTime` is the time of the last good backup.
 */
export function backupCronJobArgs(inputs: CronJobInputs): k8s.batch.v1.CronJobArgs {
    const { backup, namespace } = inputs;
    const restricted = { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" } };
    return {
        metadata: { name: BACKUP_CRONJOB, namespace, labels: commonLabels() },
        spec: {
            schedule: backup.schedule,
            timeZone: "Etc/UTC",
            concurrencyPolicy: "Forbid",
            // A run missed by more than an hour (controller down, cluster stopped) is skipped, not run late at a busy time.
            startingDeadlineSeconds: 3600,
            successfulJobsHistoryLimit: 3,
            failedJobsHistoryLimit: 5,
            jobTemplate: {
                metadata: { labels: BACKUP_POD_LABELS },
                spec: {
                    backoffLimit: 0,
                    activeDeadlineSeconds: backup.timeoutMinutes * 60,
                    template: {
                        metadata: { labels: BACKUP_POD_LABELS },
                        spec: {
                            restartPolicy: "Never",
                            serviceAccountName: BACKUP_SERVICE_ACCOUNT,
                            automountServiceAccountToken: false,
                            enableServiceLinks: false,
                            securityContext: { runAsNonRoot: true, runAsUser: GPADMIN_UID, runAsGroup: GPADMIN_UID, fsGroup: GPADMIN_UID, seccompProfile: { type: "RuntimeDefault" } },
                            containers: [
                                {
                                    name: "backup",
                                    image: inputs.image,
                                    imagePullPolicy: "IfNotPresent",
                                    command: ["/bin/bash", `${SCRIPTS_DIR}/backup-job.sh`, "run"],
                                    env: [
                                        { name: "GP_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
                                        { name: "GP_HEADLESS_SERVICE", value: HEADLESS_SERVICE },
                                        { name: "GP_CLUSTER_DOMAIN", value: inputs.clusterDomain },
                                        { name: "GP_SSH_PORT", value: String(SSH_PORT) },
                                    ],
                                    resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "500m", memory: "128Mi" } },
                                    securityContext: restricted,
                                    volumeMounts: [
                                        { name: "scripts", mountPath: SCRIPTS_DIR, readOnly: true },
                                        { name: "ssh", mountPath: SSH_DIR, readOnly: true },
                                        { name: "acting-master", mountPath: ACTING_MASTER_DIR, readOnly: true },
                                        { name: "settings", mountPath: BACKUP_SETTINGS_DIR, readOnly: true },
                                        { name: "credentials", mountPath: BACKUP_CREDENTIALS_DIR, readOnly: true },
                                    ],
                                },
                            ],
                            volumes: [
                                { name: "scripts", configMap: { name: SCRIPTS_CONFIGMAP, defaultMode: 0o444 } },
                                { name: "ssh", secret: { secretName: SSH_SECRET, defaultMode: 0o440, items: [{ key: "id_rsa", path: "id_rsa" }, { key: "ssh_host_ed25519_key.pub", path: "ssh_host_ed25519_key.pub" }] } },
                                { name: "acting-master", configMap: { name: ACTING_MASTER_CONFIGMAP, defaultMode: 0o444 } },
                                { name: "settings", configMap: { name: BACKUP_SETTINGS_CONFIGMAP, defaultMode: 0o444 } },
                                { name: "credentials", secret: { secretName: inputs.credentialsSecret, defaultMode: 0o440, items: [{ key: "accessKeyId", path: "accessKeyId" }, { key: "secretAccessKey", path: "secretAccessKey" }] } },
                            ],
                        },
                    },
                },
            },
        },
    };
}

const greenplumPods = { matchLabels: { "app.kubernetes.io/name": "greenplum" } };

/** The backup pod reaches the masters' sshd only; every Greenplum pod reaches the store (segments upload their own data). */
export function backupNetworkPolicyArgs(namespace: string, egress: { cidrs: string[]; port: number }): Record<string, k8s.networking.v1.NetworkPolicyArgs> {
    const metadata = (name: string) => ({ name, namespace, labels: commonLabels() });
    const dns = {
        to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } }, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }],
        ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }],
    };
    return {
        "greenplum-backup-job": {
            metadata: metadata("greenplum-backup-job"),
            spec: {
                podSelector: { matchLabels: BACKUP_POD_LABELS },
                policyTypes: ["Ingress", "Egress"],
                ingress: [],
                egress: [{ to: [{ podSelector: { matchLabels: setSelector(MASTER_SET) } }], ports: [{ protocol: "TCP", port: SSH_PORT }] }, dns],
            },
        },
        "greenplum-backup-ssh": {
            metadata: metadata("greenplum-backup-ssh"),
            spec: {
                podSelector: { matchLabels: setSelector(MASTER_SET) },
                policyTypes: ["Ingress"],
                ingress: [{ from: [{ podSelector: { matchLabels: BACKUP_POD_LABELS } }], ports: [{ protocol: "TCP", port: SSH_PORT }] }],
            },
        },
        "greenplum-backup-store": {
            metadata: metadata("greenplum-backup-store"),
            spec: {
                podSelector: greenplumPods,
                policyTypes: ["Egress"],
                egress: [{ to: egress.cidrs.map((cidr) => ({ ipBlock: { cidr } })), ports: [{ protocol: "TCP", port: egress.port }] }],
            },
        },
    };
}
