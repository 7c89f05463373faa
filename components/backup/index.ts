import * as gcp from "@pulumi/gcp";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { defaultGcsBucketName } from "../../stacks/backup-checks";
import type { BackupConfig } from "../../stacks/schema";
import { commonLabels } from "../greenplum/naming";
import {
    BACKUP_CREDENTIALS_SECRET,
    BACKUP_SERVICE_ACCOUNT,
    BACKUP_SETTINGS_CONFIGMAP,
    backupCronJobArgs,
    backupNetworkPolicyArgs,
    backupSettings,
    storeEgress,
    type ResolvedDestination,
} from "./objects";

export * from "./objects";

/** The XML API GCS offers S3 clients, with HMAC keys. */
export const GCS_S3_ENDPOINT = "https://storage.googleapis.com";

export interface GreenplumBackupArgs {
    backup: BackupConfig;
    namespace: string;
    image: string;
    clusterDomain: string;
    provider: k8s.Provider;
    /** The Greenplum cluster: the CronJob is made after its first init. */
    dependsOn: pulumi.Input<pulumi.Resource>[];
    production: boolean;
    /** For a gcs destination: where the bucket is made. */
    gcp?: { project: string; region: string; clusterName: string };
}

/**
 * Scheduled gpbackup: a CronJob that backs up through the acting master (gp-backup.sh, shipped
 * with the pod scripts), its settings and key pair, the NetworkPolicies that admit it, and on
 * gke a Cloud Storage bucket of its own that the cluster can write but never empty early.
 */
export class GreenplumBackup extends pulumi.ComponentResource {
    public readonly bucket: pulumi.Output<string>;
    public readonly folder: string;

    constructor(name: string, args: GreenplumBackupArgs, opts?: pulumi.ComponentResourceOptions) {
        super("greenplum-k8s:backup:GreenplumBackup", name, {}, opts);
        const { backup, namespace } = args;
        const k8sOpts = { parent: this, provider: args.provider, protect: args.production, dependsOn: args.dependsOn };
        const s3 = backup.destination.s3;
        const gcs = backup.destination.gcs;

        let destination: pulumi.Output<ResolvedDestination>;
        let credentialsSecret: string;
        if (gcs) {
            if (!args.gcp) throw new Error("greenplum.backup.destination.gcs needs the gke target");
            const bucketName = gcs.bucketName ?? defaultGcsBucketName(args.gcp.project, args.gcp.clusterName);
            const gcpOpts = { parent: this, protect: args.production };
            // Uniform access, no public access, versioned, and a retention policy: no one (this
            // cluster's key included) deletes or overwrites an object younger than retentionDays.
            const bucket = new gcp.storage.Bucket("backup-bucket", {
                name: bucketName,
                project: args.gcp.project,
                location: gcs.location ?? args.gcp.region,
                uniformBucketLevelAccess: true,
                publicAccessPrevention: "enforced",
                versioning: { enabled: true },
                retentionPolicy: { retentionPeriod: String(gcs.retentionDays * 86400) },
                forceDestroy: false,
            }, gcpOpts);
            const account = new gcp.serviceaccount.Account("backup-writer", {
                project: args.gcp.project,
                accountId: `${args.gcp.clusterName}-gp-backup`.slice(0, 30).replace(/-+$/, ""),
                displayName: `gpbackup of ${args.gcp.clusterName}`,
            }, gcpOpts);
            new gcp.storage.BucketIAMMember("backup-writer-access", { bucket: bucket.name, role: "roles/storage.objectAdmin", member: pulumi.interpolate`serviceAccount:${account.email}` }, gcpOpts);
            const key = new gcp.storage.HmacKey("backup-writer-key", { project: args.gcp.project, serviceAccountEmail: account.email }, gcpOpts);
            new k8s.core.v1.Secret("backup-credentials", {
                metadata: { name: BACKUP_CREDENTIALS_SECRET, namespace, labels: commonLabels() },
                type: "Opaque",
                stringData: { accessKeyId: key.accessId, secretAccessKey: key.secret },
            }, { ...k8sOpts, protect: false, retainOnDelete: args.production });
            credentialsSecret = BACKUP_CREDENTIALS_SECRET;
            destination = pulumi.output({ endpoint: GCS_S3_ENDPOINT, region: "auto", bucket: bucket.name, folder: gcs.folder });
        } else if (s3) {
            if (s3.credentialsSecret) {
                credentialsSecret = s3.credentialsSecret;
            } else {
                new k8s.core.v1.Secret("backup-credentials", {
                    metadata: { name: BACKUP_CREDENTIALS_SECRET, namespace, labels: commonLabels() },
                    type: "Opaque",
                    stringData: { accessKeyId: pulumi.secret(s3.accessKeyId ?? ""), secretAccessKey: pulumi.secret(s3.secretAccessKey ?? "") },
                }, { ...k8sOpts, protect: false });
                credentialsSecret = BACKUP_CREDENTIALS_SECRET;
            }
            destination = pulumi.output({ endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket, folder: s3.folder });
        } else {
            throw new Error("greenplum.backup.destination names neither s3 nor gcs");
        }

        const settings = new k8s.core.v1.ConfigMap("backup-settings", {
            metadata: { name: BACKUP_SETTINGS_CONFIGMAP, namespace, labels: commonLabels() },
            data: { settings: destination.apply((d) => backupSettings(d, backup)) },
        }, { ...k8sOpts, protect: false });
        const account = new k8s.core.v1.ServiceAccount("backup-service-account", {
            metadata: { name: BACKUP_SERVICE_ACCOUNT, namespace, labels: commonLabels() },
            automountServiceAccountToken: false,
        }, k8sOpts);
        const policies = Object.entries(backupNetworkPolicyArgs(namespace, storeEgress(gcs ? { endpoint: GCS_S3_ENDPOINT } : s3))).map(
            ([policyName, policyArgs]) => new k8s.networking.v1.NetworkPolicy(policyName, policyArgs, k8sOpts),
        );
        new k8s.batch.v1.CronJob("backup", backupCronJobArgs({ backup, namespace, image: args.image, clusterDomain: args.clusterDomain, credentialsSecret }), {
            ...k8sOpts,
            dependsOn: [...args.dependsOn, settings, account, ...policies],
        });

        this.bucket = destination.apply((d) => d.bucket);
        this.folder = gcs?.folder ?? s3?.folder ?? "";
        this.registerOutputs({ bucket: this.bucket, folder: this.folder });
    }
}
