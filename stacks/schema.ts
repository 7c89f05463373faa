import { z } from "zod";
import { unpinnedReason } from "../policy/rules/image-pins";
import { backupScheduleProblem, gcsBucketNameProblem, s3BucketNameProblem, s3EndpointProblem, s3FolderProblem } from "./backup-rules";
import { cidrProblem, cpuProblem, databaseProblem, gkeClusterNameProblem, localPathProblem, masterCidrProblem, memoryProblem, regionProblem, reservedNamespaceProblem, storageProblem } from "./rules";

/**
 * The schema of every `greenplum-k8s:*` stack config key. Objects are strict so a typo such as
 * `segmnts` is an error rather than silently ignored. Defaults are not here: they live per
 * profile in `defaults.ts` and are merged before validation, so this schema sees the final values.
 */

/** What the offline render and policy run see in place of a `secure:` config value, which they cannot decrypt. */
export const OFFLINE_SECRET = "[secret]";

/** Keys whose values are secrets: a problem with one never shows the value. */
export const SECRET_KEYS = [
    ["greenplum", "adminPassword"],
    ["greenplum", "backup", "destination", "s3", "secretAccessKey"],
];

/** GP4K writes booleans as "yes"/"no"; accept those and real booleans. */
const yesNo = z
    .union([z.boolean(), z.enum(["yes", "no"])], { error: 'must be true/false or "yes"/"no"' })
    .transform((v) => v === true || v === "yes");

type Rule = (value: string) => string | undefined;

/** A refinement by one of `rules.ts`' functions, which say what is wrong and how to fix it. */
function refineWith(rule: Rule) {
    return (value: string, ctx: z.RefinementCtx) => {
        const problem = rule(value);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
    };
}

/** A string checked by a rule alone. */
const checked = (rule: Rule) => z.string().superRefine(refineWith(rule));

/**
 * A quantity checked by its rule. YAML reads an unquoted `8` as a number: say so, with the quoted
 * value to write (memory and storage need a unit; GiB is the likely one).
 */
const quantity = (rule: Rule, unit: "" | "Gi") =>
    z
        .string({
            error: (issue) =>
                typeof issue.input === "number" ? `must be text: quote it, as in "${issue.input}${unit}"${unit ? " (a size needs its unit)" : ""}; YAML reads an unquoted ${issue.input} as a number` : undefined,
        })
        .superRefine(refineWith(rule));

/** CPU in cores or millicores; GP4K allows "" to mean "no limit". */
const cpuQuantity = quantity(cpuProblem, "");
/** Memory in bytes with a unit; "" means no limit. */
const memoryQuantity = quantity(memoryProblem, "Gi");
const storageQuantity = quantity(storageProblem, "Gi");

const dnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, { error: "must be a DNS-1123 label: lower-case letters, digits and '-', at most 63 characters" });
const dnsSubdomain = z.string().max(253).regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, { error: "must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.'" });
/** A real IPv4 CIDR: octets 0-255, prefix 0-32, no host bits set. */
const cidr = checked(cidrProblem);
const labelMap = z.record(z.string().min(1), z.string(), { error: "must be a map of node label names to values" });

/** A pinned image: a tag holding a full version, or a digest (policy/rules/image-pins.ts). */
export const pinnedImage = z.string().superRefine((image, ctx) => {
    const reason = /\s/.test(image) ? "contains a blank" : unpinnedReason(image);
    if (reason) ctx.addIssue({ code: "custom", message: `must be pinned, but ${reason}: name a full version tag or a digest, e.g. "woblerr/greenplum:6.27.1"` });
});

export const targetSchema = z.strictObject({
    /** Where Kubernetes comes from: a local minikube, any kubeconfig context, or a GKE cluster this program creates. */
    kind: z.enum(["minikube", "existing", "gke"], { error: 'must be "minikube", "existing" or "gke"' }),
    /** kubeconfig context (minikube: defaults to "minikube"; existing: required). */
    context: z.string().min(1).optional(),
    /** Path of a kubeconfig file (default: $KUBECONFIG or ~/.kube/config). */
    kubeconfig: z.string().min(1).optional(),
    /** The cluster DNS domain pods resolve each other under. */
    clusterDomain: dnsSubdomain,
});

const nodePoolSchema = z.strictObject({
    machineType: z.string().regex(/^[a-z0-9]+-[a-z0-9-]+$/, { error: 'must be a GCE machine type such as "n2-standard-8"' }),
    /** Nodes per zone; the pool spans every zone in `gke.zones`. */
    nodeCountPerZone: z.number().int().min(1).max(100),
    diskSizeGb: z.number().int().min(20).max(65536),
    diskType: z.enum(["pd-standard", "pd-balanced", "pd-ssd"]),
});

export const gkeSchema = z.strictObject({
    /** GCP project (default: the `gcp:project` config). */
    project: z.string().min(1).optional(),
    region: checked(regionProblem),
    /** Zones the node pools span (one zone is cheaper; three survive a zone outage). */
    zones: z.array(z.string().regex(/^[a-z]+-[a-z]+[0-9]+-[a-z]$/, { error: 'must be a zone such as "europe-west1-b"' })).min(1),
    clusterName: checked(gkeClusterNameProblem),
    releaseChannel: z.enum(["RAPID", "REGULAR", "STABLE"]),
    /** Protects the cluster from `pulumi destroy` and accidental replacement. */
    deletionProtection: yesNo,
    /** CIDRs allowed to reach the control plane (private nodes still need an admin path). */
    masterAuthorizedNetworks: z.array(z.strictObject({ cidrBlock: cidr, displayName: z.string().min(1) })).min(1),
    network: z.strictObject({
        subnetCidr: cidr,
        podsCidr: cidr,
        servicesCidr: cidr,
        /** The /28 the private control plane uses. */
        masterCidr: checked(masterCidrProblem),
    }),
    nodePools: z.strictObject({
        /** Nodes for Greenplum pods (COS containerd). */
        greenplum: nodePoolSchema,
        /** Nodes for Ceph (Ubuntu containerd: they need the rbd kernel module, which COS lacks). */
        ceph: nodePoolSchema,
    }),
});

const rookCephSchema = z.strictObject({
    /** Version of the rook-ceph operator and ceph-csi-drivers Helm charts. */
    chartVersion: z.string().regex(/^v\d+\.\d+\.\d+$/, { error: 'must be a chart version such as "v1.20.6"' }),
    /** Version of the ceph-csi-drivers chart Rook v1.20 installs beside the operator. */
    csiDriversChartVersion: z.string().regex(/^v?\d+\.\d+\.\d+$/, { error: 'must be a chart version such as "v0.4.0"' }),
    cephImage: pinnedImage,
    /** Monitors: 3 for production (quorum survives one loss), 1 on a laptop. */
    monCount: z.union([z.literal(1), z.literal(3), z.literal(5)], { error: "must be 1, 3 or 5 (an odd number for quorum)" }),
    /** Replicas per object in the block pool; 1 only on a single-node dev cluster. */
    poolReplicas: z.number().int().min(1).max(5),
    /** OSDs: on PVCs (cloud) or on a raw node disk (minikube `--extra-disks`). */
    osd: z.discriminatedUnion("source", [
        z.strictObject({
            source: z.literal("pvc"),
            count: z.number().int().min(1).max(64),
            size: storageQuantity,
            storageClassName: dnsSubdomain,
        }),
        z.strictObject({
            source: z.literal("device"),
            /** Regex of node device names to use, e.g. "^vdb$" for minikube's extra disk. */
            deviceFilter: z.string().min(1),
        }),
    ], { error: 'must have source "pvc" (count, size, storageClassName) or "device" (deviceFilter)' }),
    /** A VolumeSnapshotClass and the RBD driver's snapshotter; needs the snapshot CRDs and controller in the cluster. */
    volumeSnapshots: yesNo,
    /** Allow Greenplum's claims to exceed what the OSDs hold (thin provisioning: writes stop when Ceph is full). */
    overcommit: yesNo,
    /** Host path for Ceph's state; on minikube it must be under /data (the VM's root is tmpfs). */
    dataDirHostPath: z.string().regex(/^\/[^\s]*$/, { error: "must be an absolute path" }),
});

const localPathSchema = z.strictObject({
    /** Node directory volumes are created under; must be persistent and not tmpfs (minikube: under /data). */
    path: z
        .string()
        .regex(/^\/[^\s]*$/, { error: "must be an absolute path" })
        .superRefine(refineWith(localPathProblem)),
    image: pinnedImage,
    /** The image of the provisioner's helper pods, which create and remove volume directories (a shell and mkdir/rm). */
    helperImage: pinnedImage,
});

const nfsSchema = z.strictObject({
    server: z.string().min(1, { error: "must name the NFS server" }),
    share: z.string().regex(/^\/[^\s]*$/, { error: 'must be the exported path, e.g. "/exports/greenplum"' }),
    chartVersion: z.string().regex(/^v?\d+\.\d+\.\d+$/, { error: 'must be a chart version such as "4.11.0"' }),
    /** Greenplum does not support NFS for data directories; set true only to accept that explicitly. */
    allowGreenplumData: yesNo,
});

export const storageSchema = z.strictObject({
    backend: z.enum(["rook-ceph", "local-path", "nfs", "existing"], { error: 'must be "rook-ceph", "local-path", "nfs" or "existing"' }),
    /** The class Greenplum volumes use: created by this program, or (backend existing) already in the cluster. */
    storageClassName: dnsSubdomain,
    /** Retain keeps a volume's data when its claim is deleted; Delete only where data is disposable. */
    reclaimPolicy: z.enum(["Retain", "Delete"]),
    /** Production: classes this program does not make (or cannot vouch for) that may hold Greenplum data, on the operator's word that they Retain and format XFS. */
    acceptedDataClasses: z.array(dnsSubdomain),
    rookCeph: rookCephSchema,
    localPath: localPathSchema,
    nfs: nfsSchema.partial({ server: true, share: true }),
});

const masterAndStandbySchema = z.strictObject({
    standby: yesNo,
    antiAffinity: yesNo,
    cpu: cpuQuantity,
    memory: memoryQuantity,
    storage: storageQuantity,
    storageClassName: dnsSubdomain.optional(),
    /** Extra pg_hba.conf lines for clients, read as Greenplum reads them (cross-checks.ts: trust and password only for one host). */
    hostBasedAuthentication: z.string(),
    workerSelector: labelMap,
});

const segmentsSchema = z.strictObject({
    primarySegmentCount: z.number({ error: "must be a whole number from 1 to 256" }).int({ error: "must be a whole number from 1 to 256" }).min(1, { error: "must be a whole number from 1 to 256" }).max(256, { error: "must be a whole number from 1 to 256" }),
    mirrors: yesNo,
    antiAffinity: yesNo,
    cpu: cpuQuantity,
    memory: memoryQuantity,
    storage: storageQuantity,
    storageClassName: dnsSubdomain.optional(),
    workerSelector: labelMap,
});

const sqlIdentifier = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, { error: "must be a lower-case SQL identifier (letters, digits, _), at most 63 characters" });
const wholeNumber = (min: number, max: number) =>
    z.number({ error: `must be a whole number from ${min} to ${max}` }).int({ error: `must be a whole number from ${min} to ${max}` }).min(min, { error: `must be a whole number from ${min} to ${max}` }).max(max, { error: `must be a whole number from ${min} to ${max}` });

/**
 * Any S3-compatible store: gpbackup_s3_plugin's options (endpoint, region, bucket, folder,
 * encryption) and the access key pair, given as config values (`secretAccessKey` set with
 * `--secret`) or as an existing Secret in the Greenplum namespace with keys `accessKeyId` and
 * `secretAccessKey`.
 */
export const s3DestinationSchema = z.strictObject({
    /** `https://host[:port]` or `http://host[:port]` (http only for a store on a private network); unset for AWS, which needs `region`. */
    endpoint: checked(s3EndpointProblem).optional(),
    /** The plugin signs requests for this region; AWS needs it, most other stores ignore it. */
    region: z.string().regex(/^[a-z0-9-]{2,32}$/, { error: 'must be a region name such as "us-east-1"' }).optional(),
    /** The bucket must exist; the plugin does not create it. */
    bucket: checked(s3BucketNameProblem),
    /** Prefix inside the bucket (no leading or trailing "/"); one per cluster. */
    folder: checked(s3FolderProblem),
    accessKeyId: z.string().min(1).optional(),
    secretAccessKey: z.string().min(1).optional(),
    /** An existing Secret in the Greenplum namespace holding `accessKeyId` and `secretAccessKey`. */
    credentialsSecret: dnsSubdomain.optional(),
    /** CIDRs the segment and master pods may reach the store at (NetworkPolicy egress); default: the endpoint's address when it is one, else anywhere on its port. */
    egressCidrs: z.array(cidr).optional(),
});

/** A Cloud Storage bucket this stack creates (gke target only), written through its S3-compatible XML API with an HMAC key of a service account of its own. */
const gcsDestinationSchema = z.strictObject({
    /** Default: "<GCP project>-<gke.clusterName>-greenplum-backups". */
    bucketName: checked(gcsBucketNameProblem).optional(),
    /** Default: the cluster's region. */
    location: z.string().regex(/^[a-zA-Z0-9-]{2,40}$/, { error: 'must be a GCS location such as "europe-west1" or "EU"' }).optional(),
    /** Objects cannot be deleted or replaced before this age, by anyone (the bucket's retention policy). */
    retentionDays: wholeNumber(1, 3650),
    folder: checked(s3FolderProblem),
});

export const backupSchema = z.strictObject({
    /** When a backup runs: five cron fields (minute hour day-of-month month day-of-week) in UTC, or @daily, @weekly, ... */
    schedule: checked(backupScheduleProblem),
    /** Databases backed up, each on its own timestamp (default: `greenplum.database`). */
    databases: z.array(sqlIdentifier).min(1, { error: "must name at least one database" }),
    /** Incremental runs between two full ones (0: every run is full). Incrementals copy only changed append-optimized tables; heap tables are copied whole every time. */
    incrementalsPerFull: wholeNumber(0, 100),
    /** Full backups kept, each with its incrementals; the oldest goes after the next good full backup. */
    keepFullBackups: wholeNumber(1, 1000),
    compression: z.strictObject({
        type: z.enum(["zstd", "gzip", "none"], { error: 'must be "zstd", "gzip" or "none"' }),
        /** zstd 1-19, gzip 1-9. */
        level: wholeNumber(1, 19),
    }),
    /** A run still going after this long is stopped and fails (the Job's activeDeadlineSeconds). */
    timeoutMinutes: wholeNumber(5, 2880),
    destination: z.strictObject({ s3: s3DestinationSchema.optional(), gcs: gcsDestinationSchema.optional() }),
});

export const greenplumSchema = z.strictObject({
    image: pinnedImage,
    namespace: dnsLabel.superRefine(refineWith(reservedNamespaceProblem)),
    database: z
        .string()
        .regex(/^[a-z_][a-z0-9_]{0,62}$/, { error: "must be a lower-case SQL identifier (letters, digits, _), at most 63 characters" })
        .superRefine(refineWith(databaseProblem)),
    service: z.strictObject({
        type: z.enum(["ClusterIP", "NodePort", "LoadBalancer"], { error: 'must be "ClusterIP", "NodePort" or "LoadBalancer"' }),
        /** With LoadBalancer: an internal (VPC-only) load balancer. */
        internal: yesNo,
        /** With LoadBalancer: client CIDRs allowed; also the NetworkPolicy's client sources. */
        loadBalancerSourceRanges: z.array(cidr),
    }),
    masterAndStandby: masterAndStandbySchema,
    segments: segmentsSchema,
    /** How long the first `up` waits for the first init before it fails; default: 20 minutes plus 1 per segment instance (plus 5 with a standby). */
    firstInitTimeoutMinutes: z
        .number({ error: "must be a whole number of minutes from 1 to 1440" })
        .int({ error: "must be a whole number of minutes from 1 to 1440" })
        .min(1, { error: "must be a whole number of minutes from 1 to 1440" })
        .max(1440, { error: "must be a whole number of minutes from 1 to 1440" })
        .optional(),
    /**
     * gpadmin's password, set as a secret (`pulumi config set --secret`) only to hand a retained
     * database's password back after a destroy; default: random. Offline (render, policy) a
     * `secure:` value cannot be decrypted and is not checked; `up` checks the decrypted value.
     */
    adminPassword: z
        .string()
        .refine((password) => password === OFFLINE_SECRET || password.length >= 16, { error: "must be at least 16 characters" })
        .optional(),
    /** Scheduled gpbackup to object storage; off when unset (the gke stack's production default sets it). */
    backup: backupSchema.optional(),
});

export const stackConfigSchema = z.strictObject({
    /** dev: small, cheap, disposable. production: HA, hardened, data kept. */
    profile: z.enum(["dev", "production"], { error: 'must be "dev" or "production"' }),
    target: targetSchema,
    gke: gkeSchema.optional(),
    storage: storageSchema,
    greenplum: greenplumSchema,
});

export type StackConfig = z.output<typeof stackConfigSchema>;
export type Profile = StackConfig["profile"];
export type TargetConfig = StackConfig["target"];
export type GkeConfig = z.output<typeof gkeSchema>;
export type StorageConfig = StackConfig["storage"];
export type GreenplumConfig = StackConfig["greenplum"];
export type BackupConfig = NonNullable<GreenplumConfig["backup"]>;
export type S3Destination = z.output<typeof s3DestinationSchema>;
