import {
    checkDataOnPvc,
    checkDataStorageClass,
    checkPvcRetention,
    checkReplacementOptIn,
    checkTerminationGrace,
    dataOnPvc,
    dataStorageClass,
    pvcRetention,
    replacementOptIn,
    terminationGrace,
} from "../../policy/rules/data-safety";
import { PRODUCTION, T, dataStorageClass as storageClassFixture, greenplumStatefulSet, runResourcePolicy } from "./helpers";

const ss = { type: T.statefulSet, name: "segment-a" };
const dataOnPvcDefaults = { dataPaths: ["/greenplum"], allowedStorageClasses: [] as string[] };

describe("greenplum-data-on-pvc", () => {
    it("passes a StatefulSet whose data path is a volumeClaimTemplate", () => {
        expect(checkDataOnPvc(greenplumStatefulSet("segment-a"), dataOnPvcDefaults, ss)).toEqual([]);
        expect(runResourcePolicy(dataOnPvc, { ...ss, props: greenplumStatefulSet("segment-a") })).toEqual([]);
    });

    it("rejects an emptyDir with medium Memory at the data path, naming the container and the fix", () => {
        const props = greenplumStatefulSet("segment-a");
        props.spec.volumeClaimTemplates = [];
        props.spec.template.spec.volumes.push({ name: "data", emptyDir: { medium: "Memory" } });
        const messages = runResourcePolicy(dataOnPvc, { ...ss, props });
        // Both the init container (volume guard) and the main container mount it.
        expect(messages).toHaveLength(2);
        expect(messages[1]).toMatch(/container "greenplum" has Greenplum data path \/greenplum on an emptyDir with medium Memory \(tmpfs\); mount a volumeClaimTemplate/);
    });

    it("rejects a hostPath at the data path", () => {
        const props = greenplumStatefulSet("segment-a");
        props.spec.volumeClaimTemplates = [];
        props.spec.template.spec.volumes.push({ name: "data", hostPath: { path: "/mnt/gp" } });
        expect(checkDataOnPvc(props, dataOnPvcDefaults, ss).join("\n")).toContain("on a hostPath volume");
    });

    it("rejects a StatefulSet with nothing mounted at the data path", () => {
        const props = greenplumStatefulSet("segment-a");
        for (const c of [...props.spec.template.spec.containers, ...props.spec.template.spec.initContainers]) {
            c.volumeMounts = c.volumeMounts.filter((m: { mountPath: string }) => m.mountPath !== "/greenplum");
        }
        expect(checkDataOnPvc(props, dataOnPvcDefaults, ss)).toEqual([expect.stringContaining("no container mounts a volume at the Greenplum data path /greenplum")]);
    });

    it("rejects an emptyDir mounted inside the data path", () => {
        const props = greenplumStatefulSet("segment-a");
        props.spec.template.spec.volumes.push({ name: "scratch", emptyDir: {} });
        props.spec.template.spec.containers[0].volumeMounts.push({ name: "scratch", mountPath: "/greenplum/pg_log" });
        expect(checkDataOnPvc(props, dataOnPvcDefaults, ss)).toEqual([expect.stringContaining("mounts an emptyDir at /greenplum/pg_log, inside the Greenplum data path")]);
    });

    it("enforces the approved storage classes when configured", () => {
        const props = greenplumStatefulSet("segment-a");
        expect(runResourcePolicy(dataOnPvc, { ...ss, props }, { allowedStorageClasses: ["greenplum-data"] })).toEqual([]);
        const messages = runResourcePolicy(dataOnPvc, { ...ss, props }, { allowedStorageClasses: ["fast-xfs"] });
        expect(messages).toEqual([expect.stringContaining('uses storage class "greenplum-data"; set spec.storageClassName to one of the approved classes: fast-xfs')]);
    });

    it("honours a configured data path", () => {
        const props = greenplumStatefulSet("segment-a");
        expect(checkDataOnPvc(props, { ...dataOnPvcDefaults, dataPaths: ["/data"] }, ss)).toHaveLength(1);
    });

    it("ignores StatefulSets that are not Greenplum's", () => {
        const props = greenplumStatefulSet("segment-a");
        props.metadata.labels = { app: "other" };
        props.spec.template.metadata.labels = { app: "other" };
        props.spec.volumeClaimTemplates = [];
        expect(checkDataOnPvc(props, dataOnPvcDefaults, ss)).toEqual([]);
    });
});

describe("greenplum-data-storage-class", () => {
    const sc = { type: T.storageClass, name: "greenplum-data" };
    const defaults = { production: false, fsType: "xfs", hostPathProvisioners: ["rancher.io/local-path"] };

    it("passes an XFS class with Retain in production", () => {
        expect(checkDataStorageClass(storageClassFixture(), { ...defaults, production: true }, sc)).toEqual([]);
        expect(runResourcePolicy(dataStorageClass, { ...sc, props: storageClassFixture() }, PRODUCTION)).toEqual([]);
    });

    it("rejects an ext4 class", () => {
        const props = storageClassFixture();
        props.parameters["csi.storage.k8s.io/fstype"] = "ext4";
        expect(runResourcePolicy(dataStorageClass, { ...sc, props })).toEqual([expect.stringContaining('set parameters["csi.storage.k8s.io/fstype"] to "xfs" (found "ext4")')]);
    });

    it("requires Retain only in production", () => {
        const props = storageClassFixture();
        delete props.reclaimPolicy;
        expect(runResourcePolicy(dataStorageClass, { ...sc, props })).toEqual([]);
        expect(runResourcePolicy(dataStorageClass, { ...sc, props }, PRODUCTION)).toEqual([expect.stringContaining('set reclaimPolicy to "Retain"')]);
    });

    it("allows a host-path provisioner in dev but not in production", () => {
        const props = { metadata: { name: "greenplum-data", labels: { "greenplum-k8s/data-storage-class": "true" } }, provisioner: "rancher.io/local-path", reclaimPolicy: "Delete" };
        expect(checkDataStorageClass(props, defaults, sc)).toEqual([]);
        const messages = checkDataStorageClass(props, { ...defaults, production: true }, sc);
        expect(messages).toHaveLength(2);
        expect(messages[0]).toContain("puts Greenplum data in node directories");
    });

    it("ignores classes without the data label", () => {
        const props = storageClassFixture();
        props.metadata.labels = {};
        props.parameters = {};
        expect(runResourcePolicy(dataStorageClass, { ...sc, props }, PRODUCTION)).toEqual([]);
    });
});

describe("greenplum-pvc-retention", () => {
    it("passes Retain/Retain in production", () => {
        expect(checkPvcRetention(greenplumStatefulSet("master"), { production: true }, ss)).toEqual([]);
    });

    it("rejects a missing or Delete policy in production only", () => {
        const props = greenplumStatefulSet("master");
        props.spec.persistentVolumeClaimRetentionPolicy = { whenDeleted: "Delete" };
        expect(runResourcePolicy(pvcRetention, { ...ss, props })).toEqual([]);
        expect(runResourcePolicy(pvcRetention, { ...ss, props }, PRODUCTION)).toEqual([
            expect.stringContaining('(whenDeleted is "Delete", whenScaled is "unset")'),
        ]);
    });
});

describe("greenplum-termination-grace", () => {
    it("passes a grace period above the minimum", () => {
        expect(checkTerminationGrace(greenplumStatefulSet("master"), { minTerminationGracePeriodSeconds: 120 }, ss)).toEqual([]);
        expect(runResourcePolicy(terminationGrace, { ...ss, props: greenplumStatefulSet("master") })).toEqual([]);
    });

    it("rejects 0, an unset value (30) and one below a configured minimum", () => {
        const props = greenplumStatefulSet("master");
        props.spec.template.spec.terminationGracePeriodSeconds = 0;
        expect(runResourcePolicy(terminationGrace, { ...ss, props }, { minTerminationGracePeriodSeconds: 0 })).toEqual([expect.stringContaining("(found 0)")]);
        delete props.spec.template.spec.terminationGracePeriodSeconds;
        expect(runResourcePolicy(terminationGrace, { ...ss, props })).toEqual([expect.stringContaining("at least 120 (found unset, i.e. 30)")]);
        props.spec.template.spec.terminationGracePeriodSeconds = 300;
        expect(runResourcePolicy(terminationGrace, { ...ss, props }, { minTerminationGracePeriodSeconds: 600 })).toHaveLength(1);
    });
});

describe("greenplum-replacement-opt-in", () => {
    it("passes a protected StatefulSet, or one annotated allow-replacement", () => {
        const props = greenplumStatefulSet("master");
        expect(checkReplacementOptIn(props, { production: true }, { ...ss, opts: { protect: true } })).toEqual([]);
        props.metadata.annotations = { "greenplum-k8s/allow-replacement": "true" };
        expect(runResourcePolicy(replacementOptIn, { ...ss, props }, PRODUCTION)).toEqual([]);
    });

    it("rejects an unprotected StatefulSet in production only", () => {
        const props = greenplumStatefulSet("master");
        expect(runResourcePolicy(replacementOptIn, { ...ss, props })).toEqual([]);
        expect(runResourcePolicy(replacementOptIn, { ...ss, props }, PRODUCTION)).toEqual([expect.stringContaining("set the resource option protect: true")]);
    });
});
