/**
 * `greenplum.backup` across keys: their defaults, where each destination
 * may be used, and the credentials each needs. Problems are [key path, message].
 */
import { createHash } from "crypto";
import type { Problem } from "./cross-checks";
import { gcsBucketNameProblem } from "./backup-rules";

type Raw = Record<string, unknown>;

function at(obj: unknown, ...path: string[]): unknown {
    return path.reduce<unknown>((o, key) => (o && typeof o === "object" ? (o as Raw)[key] : undefined), obj);
}

/** A daily full backup at 02:00 UTC with six incrementals between fulls: a weekly full, four weeks kept. */
export const BACKUP_DEFAULTS = {
    schedule: "0 2 * * *",
    incrementalsPerFull: 6,
    keepFullBackups: 4,
    compression: { type: "zstd", level: 1 },
    timeoutMinutes: 360,
    destination: {},
};

/** The production default on gke: backups on, into a bucket the stack creates. */
export const GKE_PRODUCTION_BACKUP = { destination: { gcs: { retentionDays: 35, folder: "greenplum" } } };

/**
 * The bucket the gke stack creates unless `bucketName` names one. Bucket names are global: a hash
 * of the project keeps two projects' clusters of the same name apart, and the name within 63
 * characters (cluster names have at most 40).
 */
export function defaultGcsBucketName(project: string, clusterName: string): string {
    return `${clusterName}-gp-backups-${createHash("sha256").update(`${project}/${clusterName}`).digest("hex").slice(0, 8)}`;
}

/** The backup section with its defaults (databases: the stack's database), when backups are on. */
export function withBackupDefaults(merged: Raw, profile: string): Raw {
    const gp = (merged.greenplum ?? {}) as Raw;
    const onGke = at(merged, "target", "kind") === "gke";
    let backup = gp.backup as Raw | undefined;
    if (backup === undefined && profile === "production" && onGke) backup = GKE_PRODUCTION_BACKUP;
    if (backup === undefined || backup === null || typeof backup !== "object") return merged;
    const withDefaults: Raw = { ...BACKUP_DEFAULTS, databases: [gp.database], ...backup };
    withDefaults.compression = { ...BACKUP_DEFAULTS.compression, ...((backup.compression as Raw) ?? {}) };
    return { ...merged, greenplum: { ...gp, backup: withDefaults } };
}

function credentialProblems(destination: unknown, key: (string | number)[]): Problem[] {
    if (!destination || typeof destination !== "object") return [];
    const d = destination as Raw;
    const problems: Problem[] = [];
    const pair = d.accessKeyId !== undefined || d.secretAccessKey !== undefined;
    if (pair && d.credentialsSecret !== undefined) {
        problems.push([[...key, "credentialsSecret"], "is set together with accessKeyId/secretAccessKey: use one of them (remove the key pair, or the Secret's name)"]);
    } else if (pair && (d.accessKeyId === undefined || d.secretAccessKey === undefined)) {
        const missing = d.accessKeyId === undefined ? "accessKeyId" : "secretAccessKey";
        problems.push([[...key, missing], `is missing: the key pair needs both halves (pulumi config set --path greenplum-k8s:${[...key, missing].join(".")} <value>${missing === "secretAccessKey" ? " --secret" : ""})`]);
    } else if (!pair && d.credentialsSecret === undefined) {
        problems.push([key, "has no credentials: set accessKeyId and secretAccessKey (the secret with --secret), or credentialsSecret (a Secret in the Greenplum namespace with keys accessKeyId and secretAccessKey)"]);
    }
    if (d.endpoint === undefined && d.region === undefined) {
        problems.push([[...key, "endpoint"], 'is missing, and so is region: name the store\'s endpoint (e.g. "https://s3.example.internal:9000"), or the AWS region (e.g. "eu-west-1")']);
    }
    return problems;
}

export function backupProblems(merged: Raw, gcpProject: string | undefined): Problem[] {
    const problems: Problem[] = [];
    const onGke = at(merged, "target", "kind") === "gke";
    const backup = at(merged, "greenplum", "backup");
    if (backup && typeof backup === "object") {
        const key = ["greenplum", "backup", "destination"];
        const s3 = at(backup, "destination", "s3");
        const gcs = at(backup, "destination", "gcs");
        if (s3 === undefined && gcs === undefined) {
            problems.push([key, `names no destination: set greenplum.backup.destination.s3 (endpoint, bucket, folder, credentials)${onGke ? " or greenplum.backup.destination.gcs (a bucket this stack creates)" : ""}; a backup needs somewhere to go`]);
        } else if (s3 !== undefined && gcs !== undefined) {
            problems.push([key, "names both s3 and gcs: choose one"]);
        }
        if (gcs !== undefined && !onGke) {
            problems.push([[...key, "gcs"], `needs target.kind gke (this stack's target is ${JSON.stringify(at(merged, "target", "kind"))}): use greenplum.backup.destination.s3 instead`]);
        }
        if (gcs !== undefined && onGke && at(gcs, "bucketName") === undefined) {
            const project = (at(merged, "gke", "project") as string | undefined) ?? gcpProject;
            const clusterName = at(merged, "gke", "clusterName");
            if (project && typeof clusterName === "string") {
                const name = defaultGcsBucketName(project, clusterName);
                const problem = gcsBucketNameProblem(name);
                if (problem) problems.push([[...key, "gcs", "bucketName"], `is unset, and the default ${problem.replace(/^"[^"]*" /, `"${name}" `)}: set greenplum.backup.destination.gcs.bucketName`]);
            }
        }
        if (s3 !== undefined) problems.push(...credentialProblems(s3, [...key, "s3"]));
        const type = at(backup, "compression", "type");
        const level = at(backup, "compression", "level");
        if (type === "gzip" && typeof level === "number" && level > 9) {
            problems.push([["greenplum", "backup", "compression", "level"], `is ${level}, but gzip levels run 1-9 (zstd's 1-19): choose 1-9, or type "zstd"`]);
        }
    }
    return problems;
}
