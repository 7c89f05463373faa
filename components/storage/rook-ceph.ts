import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { Profile, StorageConfig } from "../../stacks/schema";
import type { NodePlacement } from "../cluster";
import { dataStorageClassLabels } from "./labels";

export const ROOK_NAMESPACE = "rook-ceph";
export const ROOK_CHART_REPO = "https://charts.rook.io/release";
export const CEPH_CSI_CHART_REPO = "https://ceph.github.io/ceph-csi-operator";
/** Rook names its CSI drivers after the operator namespace. */
export const RBD_PROVISIONER = `${ROOK_NAMESPACE}.rbd.csi.ceph.com`;
export const BLOCK_POOL_NAME = "greenplum";
/** How long `pulumi up` waits for a new Ceph cluster to report Ready (mons, mgr and OSDs on fresh disks). */
export const CEPH_READY_TIMEOUT_SECONDS = 1800;

type RookConfig = StorageConfig["rookCeph"];

/** Ceph daemon placement: on the Ceph nodes (tolerating their taint) where the target has them. */
export function cephPlacement(placement: NodePlacement): Record<string, unknown> {
    const all: Record<string, unknown> = {};
    if (placement.nodeSelector) {
        all.nodeAffinity = {
            requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [{ matchExpressions: Object.entries(placement.nodeSelector).map(([key, value]) => ({ key, operator: "In", values: [value] })) }],
            },
        };
    }
    if (placement.tolerations) all.tolerations = placement.tolerations;
    return all;
}

/**
 * The CRUSH failure domain of the block pool. Portable OSDs on PVCs take the PVC's name as their
 * CRUSH host, so `host` would only keep copies on different PVCs; Rook also records the node's
 * `topology.kubernetes.io/zone` label as the OSD's CRUSH zone, so with a zone per replica the pool
 * keeps each copy in a different zone.
 */
export function failureDomain(config: RookConfig, zoneCount: number): "zone" | "host" {
    return config.osd.source === "pvc" && zoneCount >= config.poolReplicas && config.poolReplicas > 1 ? "zone" : "host";
}

/** Spread pods labelled `app: <app>` evenly over zones (strictly when `strictZones`) and nodes. */
function spreadBy(app: string, strictZones: boolean) {
    return [
        { maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: strictZones ? "DoNotSchedule" : "ScheduleAnyway", labelSelector: { matchLabels: { app } } },
        { maxSkew: 1, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "ScheduleAnyway", labelSelector: { matchLabels: { app } } },
    ];
}

/** The CephCluster spec for the configured size: PVC-backed OSDs and mons in the cloud, a raw disk on a laptop. */
export function cephClusterSpec(config: RookConfig, profile: Profile, placement: NodePlacement, zoneCount: number, dataDirHostPath: pulumi.Input<string>): Record<string, unknown> {
    const singleNode = config.monCount === 1;
    // With a zone failure domain each zone must get its share of OSDs, or a copy has nowhere to go.
    const byZone = failureDomain(config, zoneCount) === "zone";
    const storage =
        config.osd.source === "pvc"
            ? {
                  useAllNodes: false,
                  useAllDevices: false,
                  storageClassDeviceSets: [
                      {
                          name: "greenplum",
                          count: config.osd.count,
                          portable: true,
                          encrypted: false,
                          // An OSD follows its (zonal) volume, so its own zone spread stays a preference.
                          placement: { ...cephPlacement(placement), topologySpreadConstraints: spreadBy("rook-ceph-osd", false) },
                          // The prepare pods carry `app: rook-ceph-osd-prepare` (Rook's cluster-on-pvc.yaml spreads them by it,
                          // strictly over zones): where they run decides the volume's zone, and with it the OSD's.
                          preparePlacement: { ...cephPlacement(placement), topologySpreadConstraints: spreadBy("rook-ceph-osd-prepare", byZone) },
                          volumeClaimTemplates: [
                              {
                                  metadata: { name: "data" },
                                  spec: {
                                      resources: { requests: { storage: config.osd.size } },
                                      storageClassName: config.osd.storageClassName,
                                      volumeMode: "Block",
                                      accessModes: ["ReadWriteOnce"],
                                  },
                              },
                          ],
                      },
                  ],
              }
            : { useAllNodes: true, useAllDevices: false, deviceFilter: config.osd.deviceFilter };

    return {
        cephVersion: { image: config.cephImage, allowUnsupported: false },
        // Ceph v20 mints AES256K keys by default; kernels before 7.0 (GKE's, minikube's) cannot
        // map RBD images with them. Rook's cluster.yaml: "required when Kubernetes nodes don't run
        // Linux kernel 7.0+". It must be set before the first up: existing keys are not rotated.
        security: { cephx: { csi: { keyType: "aes" } } },
        dataDirHostPath,
        mon: {
            count: config.monCount,
            allowMultiplePerNode: singleNode,
            // Mon state on PVCs survives node replacement in the cloud; on a laptop the host path is enough.
            ...(config.osd.source === "pvc" ? { volumeClaimTemplate: { spec: { storageClassName: config.osd.storageClassName, resources: { requests: { storage: "10Gi" } } } } } : {}),
        },
        mgr: { count: singleNode ? 1 : 2, allowMultiplePerNode: singleNode, modules: [{ name: "rook", enabled: true }] },
        dashboard: { enabled: true, ssl: true },
        crashCollector: { disable: singleNode },
        storage,
        placement: { all: cephPlacement(placement) },
        priorityClassNames: { mon: "system-node-critical", osd: "system-node-critical", mgr: "system-cluster-critical" },
        disruptionManagement: { managePodBudgets: true, osdMaintenanceTimeout: 30 },
        healthCheck: { daemonHealth: { mon: { disabled: false, interval: "45s" }, osd: { disabled: false, interval: "60s" }, status: { disabled: false, interval: "60s" } } },
        // A dev cluster may be torn down with its data; production refuses to delete a cluster holding data.
        // On dev a re-install finds the previous cluster's OSD on the same disk: wipe it rather than fail.
        cleanupPolicy: { wipeDevicesFromOtherClusters: profile === "dev", allowUninstallWithVolumes: profile === "dev" },
    };
}

export interface RookCephResult {
    storageClass: k8s.storage.v1.StorageClass;
    /** Absent without volume snapshots (storage.rookCeph.volumeSnapshots). */
    snapshotClassName?: string;
    /** What Greenplum must wait for: the cluster Ready, the pool and the class. */
    ready: pulumi.Resource[];
}

/**
 * Rook v1.20 (operator chart, then the ceph-csi-drivers chart v1.20 requires), and the Ceph
 * cluster, block pool, storage class and snapshot class as explicit resources so previews diff
 * them and policies see them.
 */
/**
 * Keeps Rook's CRDs when the chart that installed them goes (a backend switch, a chart change):
 * deleting a CRD deletes every CephCluster with it, `protect` notwithstanding, and the v4 Chart
 * does not honour Helm's `helm.sh/resource-policy: keep`.
 */
export const keepCustomResourceDefinitions: pulumi.ResourceTransform = (args) => {
    if (args.type !== "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition") return undefined;
    return { props: args.props, opts: { ...args.opts, retainOnDelete: true } };
};

/**
 * GKE limits the system-node-critical and system-cluster-critical priority classes by default
 * (Kubernetes' "limit priority class consumption by default"; GKE's own `gcp-critical-pods` quota
 * in kube-system): pods using them are admitted only in namespaces with a ResourceQuota scoped to
 * them, else "insufficient quota to match these scopes" (rook/rook#11973). Rook's mons, OSDs, mgr
 * and CSI plugins use them.
 */
export function criticalPodsQuota(namespace: string): k8s.core.v1.ResourceQuotaArgs {
    return {
        metadata: { name: "critical-pods", namespace, labels: { "app.kubernetes.io/part-of": "greenplum-k8s" } },
        spec: {
            hard: { pods: "1k" },
            scopeSelector: { matchExpressions: [{ scopeName: "PriorityClass", operator: "In", values: ["system-node-critical", "system-cluster-critical"] }] },
        },
    };
}

export function createRookCeph(
    storage: StorageConfig,
    profile: Profile,
    placement: NodePlacement,
    zoneCount: number,
    opts: pulumi.CustomResourceOptions,
): RookCephResult {
    const config = storage.rookCeph;
    const namespace = new k8s.core.v1.Namespace("rook-ceph", { metadata: { name: ROOK_NAMESPACE, labels: { "app.kubernetes.io/part-of": "greenplum-k8s" } } }, opts);
    const quota = new k8s.core.v1.ResourceQuota("rook-ceph-critical-pods", criticalPodsQuota(ROOK_NAMESPACE), { ...opts, dependsOn: [namespace] });

    const operator = new k8s.helm.v4.Chart("rook-ceph-operator", {
        chart: "rook-ceph",
        version: config.chartVersion,
        repositoryOpts: { repo: ROOK_CHART_REPO },
        namespace: ROOK_NAMESPACE,
        values: {
            crds: { enabled: true },
            nodeSelector: placement.nodeSelector ?? {},
            tolerations: placement.tolerations ?? [],
            enableDiscoveryDaemon: false,
            csi: { installCsiOperator: true },
        },
    }, { ...opts, dependsOn: [namespace, quota], transforms: [keepCustomResourceDefinitions] });

    // Rook's recommended values for the drivers (deploy/charts/ceph-csi-drivers/values.yaml at the same tag).
    const csiDrivers = new k8s.helm.v4.Chart("ceph-csi-drivers", {
        chart: "ceph-csi-drivers",
        version: config.csiDriversChartVersion,
        repositoryOpts: { repo: CEPH_CSI_CHART_REPO },
        namespace: ROOK_NAMESPACE,
        values: {
            operatorConfig: {
                namespace: ROOK_NAMESPACE,
                driverSpecDefaults: {
                    imageSet: { name: "rook-csi-operator-image-set-configmap" },
                    nodePlugin: { priorityClassName: "system-node-critical" },
                    controllerPlugin: { priorityClassName: "system-cluster-critical" },
                },
            },
            drivers: {
                // The chart defaults the RBD driver to snapshotPolicy "none": no csi-snapshotter, and
                // VolumeSnapshots never become ready. It needs the snapshot CRDs, hence the same switch.
                rbd: { enabled: true, name: RBD_PROVISIONER, snapshotPolicy: config.volumeSnapshots ? "volumeSnapshot" : "none" },
                cephfs: { enabled: false, name: `${ROOK_NAMESPACE}.cephfs.csi.ceph.com` },
                nfs: { enabled: false, name: `${ROOK_NAMESPACE}.nfs.csi.ceph.com` },
                nvmeof: { enabled: false, name: `${ROOK_NAMESPACE}.nvmeof.csi.ceph.com` },
            },
        },
    }, { ...opts, dependsOn: [operator] });

    // A dev cluster is re-installed often, and a new cluster's mons refuse the previous one's state
    // under the host path (another fsid): each install gets its own directory below it. Rook cannot
    // move a running cluster's state, so a later change of the path is ignored.
    const dataDirHostPath = profile === "dev"
        ? pulumi.interpolate`${config.dataDirHostPath}/${new random.RandomId("rook-install", { byteLength: 4 }, { parent: opts.parent }).hex}`
        : config.dataDirHostPath;
    const cluster = new k8s.apiextensions.CustomResource("ceph-cluster", {
        apiVersion: "ceph.rook.io/v1",
        kind: "CephCluster",
        metadata: {
            name: ROOK_NAMESPACE,
            namespace: ROOK_NAMESPACE,
            annotations: {
                // Greenplum must not be scheduled before Ceph can serve volumes.
                "pulumi.com/waitFor": "condition=Ready",
                "pulumi.com/timeoutSeconds": String(CEPH_READY_TIMEOUT_SECONDS),
            },
        },
        spec: cephClusterSpec(config, profile, placement, zoneCount, dataDirHostPath),
    }, { ...opts, dependsOn: [csiDrivers], protect: profile === "production", ignoreChanges: ["spec.dataDirHostPath"] });

    const replicated = config.poolReplicas > 1;
    const pool = new k8s.apiextensions.CustomResource("ceph-block-pool", {
        apiVersion: "ceph.rook.io/v1",
        kind: "CephBlockPool",
        metadata: { name: BLOCK_POOL_NAME, namespace: ROOK_NAMESPACE },
        spec: {
            failureDomain: failureDomain(config, zoneCount),
            // A single copy is only acceptable on a one-node dev cluster; Ceph refuses it unless told.
            replicated: { size: config.poolReplicas, requireSafeReplicaSize: replicated },
        },
    }, { ...opts, dependsOn: [cluster] });

    const parameters = {
        clusterID: ROOK_NAMESPACE,
        pool: BLOCK_POOL_NAME,
        imageFormat: "2",
        imageFeatures: "layering",
        "csi.storage.k8s.io/provisioner-secret-name": "rook-csi-rbd-provisioner",
        "csi.storage.k8s.io/provisioner-secret-namespace": ROOK_NAMESPACE,
        "csi.storage.k8s.io/controller-expand-secret-name": "rook-csi-rbd-provisioner",
        "csi.storage.k8s.io/controller-expand-secret-namespace": ROOK_NAMESPACE,
        "csi.storage.k8s.io/controller-publish-secret-name": "rook-csi-rbd-provisioner",
        "csi.storage.k8s.io/controller-publish-secret-namespace": ROOK_NAMESPACE,
        "csi.storage.k8s.io/node-stage-secret-name": "rook-csi-rbd-node",
        "csi.storage.k8s.io/node-stage-secret-namespace": ROOK_NAMESPACE,
        // Greenplum supports XFS on block devices only.
        "csi.storage.k8s.io/fstype": "xfs",
    };
    const storageClass = new k8s.storage.v1.StorageClass("ceph-block", {
        metadata: { name: storage.storageClassName, labels: dataStorageClassLabels() },
        provisioner: RBD_PROVISIONER,
        parameters,
        reclaimPolicy: storage.reclaimPolicy,
        allowVolumeExpansion: true,
        volumeBindingMode: "WaitForFirstConsumer",
    }, { ...opts, dependsOn: [pool] });

    if (!config.volumeSnapshots) return { storageClass, ready: [cluster, pool, storageClass] };
    // Only where the snapshot CRDs exist (GKE has them; minikube only with its volumesnapshots addon).
    const snapshotClassName = `${storage.storageClassName}-snapshots`;
    new k8s.apiextensions.CustomResource("ceph-block-snapshots", {
        apiVersion: "snapshot.storage.k8s.io/v1",
        kind: "VolumeSnapshotClass",
        metadata: { name: snapshotClassName, labels: { "app.kubernetes.io/part-of": "greenplum-k8s" } },
        driver: RBD_PROVISIONER,
        parameters: {
            clusterID: ROOK_NAMESPACE,
            "csi.storage.k8s.io/snapshotter-secret-name": "rook-csi-rbd-provisioner",
            "csi.storage.k8s.io/snapshotter-secret-namespace": ROOK_NAMESPACE,
        },
        deletionPolicy: storage.reclaimPolicy,
    }, { ...opts, dependsOn: [pool] });

    return { storageClass, snapshotClassName, ready: [cluster, pool, storageClass] };
}
