import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { StorageConfig } from "../../stacks/schema";
import { dataStorageClassLabels } from "./labels";
import { criticalPodsQuota } from "./rook-ceph";

export const NFS_CHART_REPO = "https://kubernetes-csi.github.io/csi-driver-nfs";
export const NFS_PROVISIONER = "nfs.csi.k8s.io";

/** The CSI driver's own namespace: its node plugin must run privileged, which Greenplum's namespace forbids. */
export const NFS_NAMESPACE = "csi-nfs";

/**
 * A storage class on an existing NFS export through the upstream csi-driver-nfs. Greenplum does
 * not support NFS for data directories: the class is marked as Greenplum's data class only when
 * `storage.nfs.allowGreenplumData` accepts that (config validation demands the opt-in, and the
 * policy pack then holds the class to XFS); otherwise the sets use a block class of their own and
 * NFS is there for what NFS may hold (backups).
 */
export function createNfs(storage: StorageConfig, opts: pulumi.CustomResourceOptions): k8s.storage.v1.StorageClass {
    const { server, share, chartVersion, allowGreenplumData } = storage.nfs;
    if (!server || !share) throw new Error("storage.nfs.server and storage.nfs.share are required for the nfs backend");
    const namespace = new k8s.core.v1.Namespace(NFS_NAMESPACE, { metadata: { name: NFS_NAMESPACE, labels: { "app.kubernetes.io/part-of": "greenplum-k8s" } } }, opts);
    // The chart's controller and node plugin run at system-cluster/node-critical priority.
    const quota = new k8s.core.v1.ResourceQuota("csi-nfs-critical-pods", criticalPodsQuota(NFS_NAMESPACE), { ...opts, dependsOn: [namespace] });
    const driver = new k8s.helm.v4.Chart("csi-driver-nfs", {
        chart: "csi-driver-nfs",
        version: chartVersion,
        repositoryOpts: { repo: NFS_CHART_REPO },
        namespace: NFS_NAMESPACE,
        values: { driver: { name: NFS_PROVISIONER }, storageClass: { create: false } },
    }, { ...opts, dependsOn: [namespace, quota] });
    return new k8s.storage.v1.StorageClass("nfs", {
        metadata: { name: storage.storageClassName, labels: allowGreenplumData ? dataStorageClassLabels() : { "app.kubernetes.io/part-of": "greenplum-k8s" } },
        provisioner: NFS_PROVISIONER,
        parameters: { server, share, ...(storage.reclaimPolicy === "Retain" ? { onDelete: "retain" } : {}) },
        mountOptions: ["nfsvers=4.1", "hard"],
        reclaimPolicy: storage.reclaimPolicy,
        allowVolumeExpansion: true,
        volumeBindingMode: "Immediate",
    }, { ...opts, dependsOn: [driver] });
}
