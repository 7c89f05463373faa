import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { Profile, StorageConfig } from "../../stacks/schema";
import type { NodePlacement } from "../cluster";
import { createLocalPath } from "./local-path";
import { createNfs } from "./nfs";
import { createRookCeph } from "./rook-ceph";

export interface StorageArgs {
    storage: StorageConfig;
    profile: Profile;
    provider: k8s.Provider;
    /** Where Ceph daemons run (the target's Ceph nodes). */
    cephPlacement: NodePlacement;
    /** Zones the nodes span: with one per replica Ceph keeps each copy in its own zone. */
    zoneCount: number;
}

/**
 * The storage class Greenplum volumes use (never tmpfs): Rook/Ceph RBD, local-path on a persistent
 * node directory, NFS, or a class the cluster already has.
 */
export class Storage extends pulumi.ComponentResource {
    /** Name of the class Greenplum's volume claims use. */
    public readonly storageClassName: pulumi.Output<string>;
    /** Name of the VolumeSnapshotClass for Greenplum volumes (rook-ceph only). */
    public readonly volumeSnapshotClassName?: string;
    /** Resources Greenplum must wait for: volumes can be served once they are ready. */
    public readonly ready: pulumi.Resource[];

    constructor(name: string, args: StorageArgs, opts?: pulumi.ComponentResourceOptions) {
        super("greenplum-k8s:storage:Storage", name, {}, opts);
        const childOpts = { parent: this, provider: args.provider };
        const { storage } = args;

        switch (storage.backend) {
            case "rook-ceph": {
                const ceph = createRookCeph(storage, args.profile, args.cephPlacement, args.zoneCount, childOpts);
                this.storageClassName = ceph.storageClass.metadata.name;
                this.volumeSnapshotClassName = ceph.snapshotClassName;
                this.ready = ceph.ready;
                break;
            }
            case "local-path": {
                const storageClass = createLocalPath(storage, childOpts);
                this.storageClassName = storageClass.metadata.name;
                this.ready = [storageClass];
                break;
            }
            case "nfs": {
                const storageClass = createNfs(storage, childOpts);
                this.storageClassName = storageClass.metadata.name;
                this.ready = [storageClass];
                break;
            }
            case "existing":
                this.storageClassName = pulumi.output(storage.storageClassName);
                this.ready = [];
                break;
        }

        this.registerOutputs({ storageClassName: this.storageClassName, volumeSnapshotClassName: this.volumeSnapshotClassName });
    }
}
