import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { StorageConfig } from "../../stacks/schema";
import { dataStorageClassLabels } from "./labels";

export const NFS_CHART_REPO = "https://kubernetes-csi.github.io/csi-driver-nfs";
export const NFS_PROVISIONER = "nfs.csi.k8s.io";

/**
 * A storage class on an existing NFS export through the upstream csi-driver-nfs. Greenplum does
 * not support NFS for data directories (config validation demands an explicit opt-in); it is the
 * natural target for backups.
 */
export function createNfs(storage: StorageConfig, opts: pulumi.CustomResourceOptions): k8s.storage.v1.StorageClass {
    const { server, share, chartVersion } = storage.nfs;
    if (!server || !share) throw new Error("storage.nfs.server and storage.nfs.share are required for the nfs backend");
    const driver = new k8s.helm.v4.Chart("csi-driver-nfs", {
        chart: "csi-driver-nfs",
        version: chartVersion,
        repositoryOpts: { repo: NFS_CHART_REPO },
        namespace: "kube-system",
        values: { driver: { name: NFS_PROVISIONER }, storageClass: { create: false } },
    }, opts);
    return new k8s.storage.v1.StorageClass("nfs", {
        metadata: { name: storage.storageClassName, labels: dataStorageClassLabels() },
        provisioner: NFS_PROVISIONER,
        parameters: { server, share, ...(storage.reclaimPolicy === "Retain" ? { onDelete: "retain" } : {}) },
        mountOptions: ["nfsvers=4.1", "hard"],
        reclaimPolicy: storage.reclaimPolicy,
        allowVolumeExpansion: true,
        volumeBindingMode: "Immediate",
    }, { ...opts, dependsOn: [driver] });
}
