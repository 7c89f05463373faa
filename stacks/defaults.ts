import type { Profile } from "./schema";

/** The default Greenplum image: open source Greenplum 6 with sshd, the gp utilities and gpbackup. */
export const DEFAULT_GREENPLUM_IMAGE = "woblerr/greenplum:6.27.1";

type Defaults = Record<string, unknown>;

const common = {
    target: { clusterDomain: "cluster.local" },
    storage: {
        storageClassName: "greenplum-data",
        acceptedDataClasses: [],
        rookCeph: {
            chartVersion: "v1.20.6",
            csiDriversChartVersion: "1.0.4",
            cephImage: "quay.io/ceph/ceph:v20.2.4",
            dataDirHostPath: "/var/lib/rook",
            overcommit: false,
        },
        localPath: {
            path: "/data/local-path-provisioner",
            image: "rancher/local-path-provisioner:v0.0.37",
            helperImage: "busybox:1.37.0",
        },
        nfs: { chartVersion: "4.13.4", allowGreenplumData: false },
    },
    greenplum: {
        image: DEFAULT_GREENPLUM_IMAGE,
        namespace: "greenplum",
        database: "gpadmin",
        service: { internal: false, loadBalancerSourceRanges: [] },
        masterAndStandby: { hostBasedAuthentication: "", workerSelector: {} },
        segments: { workerSelector: {} },
    },
};

/** dev: one laptop, cheap and disposable. */
const dev = {
    target: { kind: "minikube" },
    storage: {
        backend: "local-path",
        reclaimPolicy: "Delete",
        rookCeph: {
            monCount: 1,
            poolReplicas: 1,
            // minikube --extra-disks=1 with a VM driver attaches the disk as vdb.
            osd: { source: "device", deviceFilter: "^vdb$" },
            // minikube's root is tmpfs; /data persists across restarts.
            dataDirHostPath: "/data/rook",
            // minikube has the snapshot CRDs only with `minikube addons enable volumesnapshots`.
            volumeSnapshots: false,
        },
    },
    greenplum: {
        service: { type: "NodePort" },
        masterAndStandby: { standby: false, antiAffinity: false, cpu: "500m", memory: "1Gi", storage: "5Gi" },
        segments: { primarySegmentCount: 2, mirrors: false, antiAffinity: false, cpu: "500m", memory: "1Gi", storage: "10Gi" },
    },
};

/** production: highly available, hardened, data kept. */
const production = {
    target: { kind: "gke" },
    storage: {
        backend: "rook-ceph",
        reclaimPolicy: "Retain",
        rookCeph: {
            monCount: 3,
            poolReplicas: 3,
            // Two OSDs per zone; 6 × 2304Gi at 3 replicas hold the 4.2 TiB of Greenplum claims below (stacks/capacity.ts).
            osd: { source: "pvc", count: 6, size: "2304Gi", storageClassName: "premium-rwo" },
            // GKE ships the snapshot CRDs and controller.
            volumeSnapshots: true,
        },
    },
    greenplum: {
        service: { type: "LoadBalancer", internal: true },
        // On a gke target, cpu and memory left unset are derived from the Greenplum pool's machine type (stacks/capacity.ts).
        masterAndStandby: { standby: true, antiAffinity: true, cpu: "4", memory: "16Gi", storage: "100Gi" },
        segments: { primarySegmentCount: 4, mirrors: true, antiAffinity: true, cpu: "4", memory: "16Gi", storage: "500Gi" },
    },
};

/** Only merged when `target.kind` is gke; `region` and `zones` must come from the stack. */
export const gkeDefaults: Defaults = {
    clusterName: "greenplum",
    releaseChannel: "REGULAR",
    deletionProtection: true,
    network: {
        subnetCidr: "10.10.0.0/20",
        podsCidr: "10.20.0.0/14",
        servicesCidr: "10.24.0.0/20",
        masterCidr: "172.16.0.0/28",
    },
    nodePools: {
        greenplum: { machineType: "n2-highmem-8", nodeCountPerZone: 2, diskSizeGb: 100, diskType: "pd-balanced" },
        ceph: { machineType: "n2-standard-4", nodeCountPerZone: 1, diskSizeGb: 100, diskType: "pd-balanced" },
    },
};

export function profileDefaults(profile: Profile): Defaults {
    return deepMerge(common, profile === "dev" ? dev : production);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Objects of another variant (a different `source`, as in rookCeph.osd) share no keys with the default. */
function sameVariant(base: Record<string, unknown>, override: Record<string, unknown>): boolean {
    return !("source" in override) || override.source === base.source;
}

/** Merges `override` onto `base`: objects key by key, everything else (arrays included) replaced. */
export function deepMerge(base: Defaults, override: Defaults): Defaults {
    const merged: Defaults = { ...base };
    for (const [key, value] of Object.entries(override)) {
        const current = base[key];
        merged[key] = isPlainObject(value) && isPlainObject(current) && sameVariant(current, value) ? deepMerge(current, value) : value;
    }
    return merged;
}
