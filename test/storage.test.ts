import { keepCustomResourceDefinitions } from "../components/storage/rook-ceph";
import { deploy, configProblems, type Deployment } from "./harness";

const CHART = "kubernetes:helm.sh/v4:Chart";
const CEPH_CLUSTER = "kubernetes:ceph.rook.io/v1:CephCluster";
const STATEFUL_SET = "kubernetes:apps/v1:StatefulSet";

const rookOnDev = { "greenplum-k8s:storage": { backend: "rook-ceph" } };

/** The URNs a Greenplum StatefulSet waits for. */
function dependenciesOf(run: Deployment, set: string): string[] {
    return run.resource(STATEFUL_SET, set).options.dependencies;
}

describe("rook-ceph on gke (production)", () => {
    let gke: Deployment;
    beforeAll(async () => {
        gke = await deploy("gke");
    });

    test("Rook v1.20.6 from charts.rook.io, then the ceph-csi-drivers chart with Rook's values", () => {
        const operator = gke.resource(CHART, "rook-ceph-operator");
        expect(operator.inputs).toMatchObject({ chart: "rook-ceph", version: "v1.20.6", namespace: "rook-ceph", repositoryOpts: { repo: "https://charts.rook.io/release" } });
        const drivers = gke.resource(CHART, "ceph-csi-drivers");
        expect(drivers.inputs).toMatchObject({ chart: "ceph-csi-drivers", version: "1.0.4", repositoryOpts: { repo: "https://ceph.github.io/ceph-csi-operator" } });
        expect(drivers.inputs.values).toMatchObject({ operatorConfig: { namespace: "rook-ceph" }, drivers: { rbd: { enabled: true, name: "rook-ceph.rbd.csi.ceph.com" } } });
        expect(drivers.options.dependencies).toContain(operator.urn);
        expect(gke.resource(CEPH_CLUSTER, "ceph-cluster").options.dependencies).toContain(drivers.urn);
    });

    test("the Rook operator runs on the Ceph nodes", () => {
        expect(gke.resource(CHART, "rook-ceph-operator").inputs.values).toMatchObject({
            nodeSelector: { "greenplum-k8s/pool": "ceph" },
            tolerations: [{ key: "greenplum-k8s/ceph", operator: "Equal", value: "true", effect: "NoSchedule" }],
        });
    });

    test("three mons on PVCs, PVC-based OSDs on premium-rwo spread across zones and nodes, on the Ceph nodes", () => {
        const spec = gke.object("CephCluster", "rook-ceph").spec as Record<string, any>;
        expect(spec.mon).toMatchObject({ count: 3, allowMultiplePerNode: false, volumeClaimTemplate: { spec: { storageClassName: "premium-rwo" } } });
        expect(spec.cephVersion.image).toBe("quay.io/ceph/ceph:v20.2.4");
        const set = spec.storage.storageClassDeviceSets[0];
        expect(set).toMatchObject({ count: 6, portable: true });
        expect(set.volumeClaimTemplates[0].spec).toMatchObject({ storageClassName: "premium-rwo", volumeMode: "Block", resources: { requests: { storage: "2304Gi" } } });
        expect(set.placement.topologySpreadConstraints.map((c: { topologyKey: string }) => c.topologyKey)).toEqual(["topology.kubernetes.io/zone", "kubernetes.io/hostname"]);
        expect(spec.placement.all.tolerations).toEqual([{ key: "greenplum-k8s/ceph", operator: "Equal", value: "true", effect: "NoSchedule" }]);
        expect(spec.placement.all.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions).toEqual([{ key: "greenplum-k8s/pool", operator: "In", values: ["ceph"] }]);
        expect(spec.cleanupPolicy.allowUninstallWithVolumes).toBe(false);
    });

    test("the pool keeps 3 copies, one per zone (portable OSDs' CRUSH host is their PVC), and refuses unsafe sizes; the cluster is protected from deletion", () => {
        expect(gke.object("CephBlockPool", "greenplum").spec).toEqual({ failureDomain: "zone", replicated: { size: 3, requireSafeReplicaSize: true } });
        expect(gke.resource(CEPH_CLUSTER, "ceph-cluster").options.protect).toBe(true);
    });

    test("the storage class: Ceph RBD, XFS, expandable, Retain, WaitForFirstConsumer", () => {
        const sc = gke.object("StorageClass", "greenplum-data") as Record<string, any>;
        expect(sc).toMatchObject({ provisioner: "rook-ceph.rbd.csi.ceph.com", reclaimPolicy: "Retain", allowVolumeExpansion: true, volumeBindingMode: "WaitForFirstConsumer" });
        expect(sc.parameters).toMatchObject({ clusterID: "rook-ceph", pool: "greenplum", "csi.storage.k8s.io/fstype": "xfs" });
        expect(sc.metadata.labels["greenplum-k8s/data-storage-class"]).toBe("true");
        expect(gke.outputs.storageClassName).toBe("greenplum-data");
    });

    test("OSD prepare pods are spread strictly over zones (they place the volumes), OSDs follow; each selected by the label it carries", () => {
        const set = (gke.object("CephCluster", "rook-ceph").spec as any).storage.storageClassDeviceSets[0];
        const selectors = (constraints: any[]) => constraints.map((c) => [c.topologyKey, c.whenUnsatisfiable, c.labelSelector.matchLabels.app]);
        expect(selectors(set.placement.topologySpreadConstraints)).toEqual([
            ["topology.kubernetes.io/zone", "ScheduleAnyway", "rook-ceph-osd"],
            ["kubernetes.io/hostname", "ScheduleAnyway", "rook-ceph-osd"],
        ]);
        expect(selectors(set.preparePlacement.topologySpreadConstraints)).toEqual([
            ["topology.kubernetes.io/zone", "DoNotSchedule", "rook-ceph-osd-prepare"],
            ["kubernetes.io/hostname", "ScheduleAnyway", "rook-ceph-osd-prepare"],
        ]);
    });

    test("CSI keys are AES, which kernels before 7.0 can use (Ceph v20 defaults to AES256K)", () => {
        expect((gke.object("CephCluster", "rook-ceph").spec as any).security).toEqual({ cephx: { csi: { keyType: "aes" } } });
    });

    test("rook-ceph has the ResourceQuota GKE requires for system-*-critical pods, before anything runs there", () => {
        const quota = gke.object("ResourceQuota", "critical-pods") as any;
        expect(quota.metadata.namespace).toBe("rook-ceph");
        expect(quota.spec.scopeSelector.matchExpressions).toEqual([{ scopeName: "PriorityClass", operator: "In", values: ["system-node-critical", "system-cluster-critical"] }]);
        const spec = gke.object("CephCluster", "rook-ceph").spec as any;
        const drivers = gke.resource(CHART, "ceph-csi-drivers").inputs.values as any;
        const priorities = [...Object.values(spec.priorityClassNames), drivers.operatorConfig.driverSpecDefaults.nodePlugin.priorityClassName, drivers.operatorConfig.driverSpecDefaults.controllerPlugin.priorityClassName];
        for (const priority of priorities) expect(quota.spec.scopeSelector.matchExpressions[0].values).toContain(priority);
        expect(gke.resource(CHART, "rook-ceph-operator").options.dependencies).toContain(gke.resource("kubernetes:core/v1:ResourceQuota", "rook-ceph-critical-pods").urn);
    });

    test("Rook's CRDs outlive the chart: deleting one would delete the CephCluster", () => {
        expect(gke.resource(CHART, "rook-ceph-operator").options.transforms).toBe(1);
        const crd = { type: "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition", name: "cephclusters.ceph.rook.io", props: { kind: "CustomResourceDefinition" }, opts: { protect: false } };
        expect(keepCustomResourceDefinitions(crd as any)).toEqual({ props: crd.props, opts: { protect: false, retainOnDelete: true } });
        expect(keepCustomResourceDefinitions({ ...crd, type: "kubernetes:apps/v1:Deployment" } as any)).toBeUndefined();
    });

    test("the RBD driver runs the snapshotter (the chart's default is snapshotPolicy none)", () => {
        expect((gke.resource(CHART, "ceph-csi-drivers").inputs.values as any).drivers.rbd.snapshotPolicy).toBe("volumeSnapshot");
    });

    test("a VolumeSnapshotClass for Greenplum volumes that keeps snapshots in production", () => {
        expect(gke.object("VolumeSnapshotClass", "greenplum-data-snapshots")).toMatchObject({ driver: "rook-ceph.rbd.csi.ceph.com", deletionPolicy: "Retain", parameters: { clusterID: "rook-ceph" } });
    });

    test("Greenplum waits for Ceph: every StatefulSet depends on the Ready-awaited CephCluster, the pool and the class", () => {
        const cluster = gke.resource(CEPH_CLUSTER, "ceph-cluster");
        expect((cluster.inputs.metadata as any).annotations).toMatchObject({ "pulumi.com/waitFor": "condition=Ready", "pulumi.com/timeoutSeconds": "1800" });
        const readiness = [cluster.urn, gke.resource("kubernetes:ceph.rook.io/v1:CephBlockPool", "ceph-block-pool").urn, gke.resource("kubernetes:storage.k8s.io/v1:StorageClass", "ceph-block").urn];
        for (const set of ["master", "segment-a", "segment-b"]) expect(dependenciesOf(gke, set)).toEqual(expect.arrayContaining(readiness));
    });
});

describe("rook-ceph on minikube (dev)", () => {
    let dev: Deployment;
    beforeAll(async () => {
        dev = await deploy("dev", rookOnDev);
    });

    test("one mon and mgr allowed on one node, OSDs on the extra disk, state under /data", () => {
        const spec = dev.object("CephCluster", "rook-ceph").spec as Record<string, any>;
        expect(spec.mon).toEqual({ count: 1, allowMultiplePerNode: true });
        expect(spec.mgr).toMatchObject({ count: 1, allowMultiplePerNode: true });
        expect(spec.storage).toEqual({ useAllNodes: true, useAllDevices: false, deviceFilter: "^vdb$" });
        // Each install its own directory: a re-install's mons would refuse the old cluster's state.
        expect(spec.dataDirHostPath).toBe("/data/rook/0a1b2c3d");
        expect(dev.resource(CEPH_CLUSTER, "ceph-cluster").options.ignoreChanges).toContain("spec.dataDirHostPath");
        expect(spec.placement.all).toEqual({});
    });

    test("no VolumeSnapshotClass and no snapshotter: minikube has the snapshot CRDs only with an addon", () => {
        expect(dev.objects.filter((o) => o.kind === "VolumeSnapshotClass")).toEqual([]);
        expect((dev.resource(CHART, "ceph-csi-drivers").inputs.values as any).drivers.rbd.snapshotPolicy).toBe("none");
    });

    test("a re-install wipes the previous dev cluster's OSD from the disk; CSI keys are AES", () => {
        const spec = dev.object("CephCluster", "rook-ceph").spec as any;
        expect(spec.cleanupPolicy).toEqual({ wipeDevicesFromOtherClusters: true, allowUninstallWithVolumes: true });
        expect(spec.security.cephx.csi.keyType).toBe("aes");
    });

    test("pool size 1 without requireSafeReplicaSize; volumes may be deleted; the cluster is not protected", () => {
        expect(dev.object("CephBlockPool", "greenplum").spec).toEqual({ failureDomain: "host", replicated: { size: 1, requireSafeReplicaSize: false } });
        expect((dev.object("StorageClass", "greenplum-data") as Record<string, unknown>).reclaimPolicy).toBe("Delete");
        expect(dev.resource(CEPH_CLUSTER, "ceph-cluster").options.protect).toBe(false);
    });
});

describe("local-path (dev default)", () => {
    let dev: Deployment;
    beforeAll(async () => {
        dev = await deploy("dev");
    });

    test("the provisioner is installed by the program, rooted on a persistent path under /data", () => {
        const config = dev.object("ConfigMap", "local-path-config").data as Record<string, string>;
        expect(JSON.parse(config["config.json"])).toEqual({ nodePathMap: [{ node: "DEFAULT_PATH_FOR_NON_LISTED_NODES", paths: ["/data/local-path-provisioner"] }] });
        const deployment = dev.object("Deployment", "local-path-provisioner") as Record<string, any>;
        expect(deployment.spec.template.spec.containers[0].image).toBe("rancher/local-path-provisioner:v0.0.37");
        expect(deployment.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    });

    test("a dev destroy removes its volumes: the provisioner outlives Greenplum's claims by 30 s and goes before its RBAC", () => {
        const spec = (dev.object("Deployment", "local-path-provisioner") as any).spec.template.spec;
        expect(spec.containers[0].lifecycle).toEqual({ preStop: { sleep: { seconds: 30 } } });
        expect(spec.terminationGracePeriodSeconds).toBe(40);
        const dependencies = dev.resource("kubernetes:apps/v1:Deployment", "local-path-provisioner").options.dependencies;
        expect(dependencies).toEqual(expect.arrayContaining([
            dev.resource("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "local-path-provisioner").urn,
            dev.resource("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "local-path-provisioner").urn,
        ]));
    });

    test("helper pods use the configured helper image (busybox:1.37.0 unless storage.localPath.helperImage says otherwise)", async () => {
        const helperImage = (run: Deployment) => /image: (\S+)/.exec((run.object("ConfigMap", "local-path-config").data as Record<string, string>)["helperPod.yaml"])?.[1];
        expect(helperImage(dev)).toBe("busybox:1.37.0");
        const local = await deploy("dev", { "greenplum-k8s:storage": { localPath: { helperImage: "greenplum-k8s.local/busybox:1.35.0" } } });
        expect(helperImage(local)).toBe("greenplum-k8s.local/busybox:1.35.0");
    });

    test("helper pods run as the ServiceAccount the program creates, not the provisioner's default name", () => {
        const pod = (dev.object("Deployment", "local-path-provisioner") as any).spec.template.spec;
        const env = Object.fromEntries(pod.containers[0].env.map((e: { name: string; value?: string }) => [e.name, e.value]));
        expect(env.SERVICE_ACCOUNT_NAME).toBe("local-path-provisioner");
        expect(dev.object("ServiceAccount", "local-path-provisioner").metadata.namespace).toBe("local-path-storage");
        const binding = dev.object("RoleBinding", "local-path-provisioner") as any;
        expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: env.SERVICE_ACCOUNT_NAME, namespace: "local-path-storage" }]);
    });

    test("the class binds where the pod lands and deletes volumes on dev", () => {
        expect(dev.object("StorageClass", "greenplum-data")).toMatchObject({ provisioner: "rancher.io/local-path", volumeBindingMode: "WaitForFirstConsumer", reclaimPolicy: "Delete" });
        expect(dev.ofType(CHART)).toEqual([]);
    });

    test("Greenplum volumes wait for the class", () => {
        const sc = dev.resource("kubernetes:storage.k8s.io/v1:StorageClass", "local-path");
        expect(dependenciesOf(dev, "master")).toContain(sc.urn);
        expect((dev.object("StatefulSet", "segment-a").spec as any).volumeClaimTemplates[0].spec.storageClassName).toBe("greenplum-data");
    });
});

describe("nfs", () => {
    test("csi-driver-nfs and a class on the configured export, when Greenplum data on NFS is explicitly accepted", async () => {
        const run = await deploy("dev", { "greenplum-k8s:storage": { backend: "nfs", nfs: { server: "nas.lan", share: "/exports/gp", allowGreenplumData: "yes" } } });
        expect(run.resource(CHART, "csi-driver-nfs").inputs).toMatchObject({ chart: "csi-driver-nfs", version: "4.13.4", namespace: "csi-nfs", repositoryOpts: { repo: "https://kubernetes-csi.github.io/csi-driver-nfs" } });
        expect(run.object("ResourceQuota", "critical-pods").metadata.namespace).toBe("csi-nfs");
        expect(run.object("StorageClass", "greenplum-data")).toMatchObject({ provisioner: "nfs.csi.k8s.io", parameters: { server: "nas.lan", share: "/exports/gp" }, mountOptions: ["nfsvers=4.1", "hard"] });
        // Accepted as Greenplum's data class: the policy pack holds it to XFS, which NFS is not.
        expect(run.object("StorageClass", "greenplum-data").metadata.labels).toMatchObject({ "greenplum-k8s/data-storage-class": "true" });
    });

    test("NFS for backups, Greenplum on a block class: the NFS class is not marked as Greenplum's data class", async () => {
        const run = await deploy("dev-nfs");
        expect(run.object("StorageClass", "nfs-backups").metadata).toMatchObject({ labels: { "app.kubernetes.io/part-of": "greenplum-k8s" } });
        expect(JSON.stringify(run.object("StorageClass", "nfs-backups").metadata)).not.toContain("data-storage-class");
        expect(JSON.stringify(run.object("StatefulSet", "segment-a").spec)).toContain(`"storageClassName":"standard"`);
    });

    test("refused without the opt-in, with the reason", async () => {
        const problems = await configProblems("dev", { "greenplum-k8s:storage": { backend: "nfs", nfs: { server: "nas.lan", share: "/exports/gp" } } });
        expect(problems).toEqual([expect.stringMatching(/^greenplum-k8s:storage\.nfs\.allowGreenplumData: Greenplum does not support NFS for data directories \(only XFS on a block device\)/)]);
    });
});

describe("existing class", () => {
    test("creates no storage resources and hands the named class to Greenplum", async () => {
        const run = await deploy("dev", { "greenplum-k8s:storage": { backend: "existing", storageClassName: "fast-xfs" } });
        expect(run.resources.filter((r) => r.type.startsWith("kubernetes:storage.k8s.io"))).toEqual([]);
        expect(run.outputs.storageClassName).toBe("fast-xfs");
        expect((run.object("StatefulSet", "master").spec as any).volumeClaimTemplates[0].spec.storageClassName).toBe("fast-xfs");
    });

    test("a per-set class from config overrides the storage component's", async () => {
        const run = await deploy("dev", { "greenplum-k8s:greenplum": { segments: { storageClassName: "nvme" } } });
        expect((run.object("StatefulSet", "segment-a").spec as any).volumeClaimTemplates[0].spec.storageClassName).toBe("nvme");
        expect((run.object("StatefulSet", "master").spec as any).volumeClaimTemplates[0].spec.storageClassName).toBe("greenplum-data");
    });
});

describe("volume guard", () => {
    test("every Greenplum pod checks its data volume before Greenplum starts", async () => {
        const dev = await deploy("dev");
        for (const set of ["master", "segment-a"]) {
            const spec = (dev.object("StatefulSet", set).spec as any).template.spec;
            expect(spec.initContainers[0]).toMatchObject({ name: "volume-guard", command: ["/bin/bash", "/opt/greenplum-k8s/scripts/volume-guard.sh", "data=/greenplum"] });
        }
        const scripts = dev.object("ConfigMap", "greenplum-scripts").data as Record<string, string>;
        expect(scripts["volume-guard.sh"]).toContain("O_DIRECT");
    });
});
