import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
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

/** The CephCluster spec for the configured size: PVC-backed OSDs and mons in the cloud, a raw disk on a laptop. */
export function cephClusterSpec(config: RookConfig, profile: Profile, placement: NodePlacement): Record<string, unknown> {
    const singleNode = config.monCount === 1;
    const spreadOsds = [
        { maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "ScheduleAnyway", labelSelector: { matchLabels: { app: "rook-ceph-osd" } } },
        { maxSkew: 1, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "ScheduleAnyway", labelSelector: { matchLabels: { app: "rook-ceph-osd" } } },
    ];
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
                          placement: { ...cephPlacement(placement), topologySpreadConstraints: spreadOsds },
                          preparePlacement: { ...cephPlacement(placement), topologySpreadConstraints: spreadOsds },
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
        dataDirHostPath: config.dataDirHostPath,
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
        cleanupPolicy: { wipeDevicesFromOtherClusters: false, allowUninstallWithVolumes: profile === "dev" },
    };
}

export interface RookCephResult {
    storageClass: k8s.storage.v1.StorageClass;
    snapshotClassName: string;
    /** What Greenplum must wait for: the cluster Ready, the pool and the class. */
    ready: pulumi.Resource[];
}

/**
 * Rook v1.20 (operator chart, then the ceph-csi-drivers chart v1.20 requires), and the Ceph
 * cluster, block pool, storage class and snapshot class as explicit resources so previews diff
 * them and policies see them.
 */
export function createRookCeph(
    storage: StorageConfig,
    profile: Profile,
    placement: NodePlacement,
    opts: pulumi.CustomResourceOptions,
): RookCephResult {
    const config = storage.rookCeph;
    const namespace = new k8s.core.v1.Namespace("rook-ceph", { metadata: { name: ROOK_NAMESPACE, labels: { "app.kubernetes.io/part-of": "greenplum-k8s" } } }, opts);

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
    }, { ...opts, dependsOn: [namespace] });

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
                rbd: { enabled: true, name: RBD_PROVISIONER },
                cephfs: { enabled: false, name: `${ROOK_NAMESPACE}.cephfs.csi.ceph.com` },
                nfs: { enabled: false, name: `${ROOK_NAMESPACE}.nfs.csi.ceph.com` },
                nvmeof: { enabled: false, name: `${ROOK_NAMESPACE}.nvmeof.csi.ceph.com` },
            },
        },
    }, { ...opts, dependsOn: [operator] });

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
        spec: cephClusterSpec(config, profile, placement),
    }, { ...opts, dependsOn: [csiDrivers], protect: profile === "production" });

    const replicated = config.poolReplicas > 1;
    const pool = new k8s.apiextensions.CustomResource("ceph-block-pool", {
        apiVersion: "ceph.rook.io/v1",
        kind: "CephBlockPool",
        metadata: { name: BLOCK_POOL_NAME, namespace: ROOK_NAMESPACE },
        spec: {
            failureDomain: "host",
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
