import { arr, at, isObj, obj, productionOnly, productionSchema, resourcePolicy, str, type Json, type ProductionConfig, type ResourceContext } from "./common";
import {
    ALLOW_REPLACEMENT_ANNOTATION,
    DATA_STORAGE_CLASS_LABEL,
    K8S,
    annotationsOf,
    containersOf,
    describe,
    isGreenplumStatefulSet,
    labelsOf,
    podTemplateOf,
} from "./k8s";

/**
 * Data safety: Greenplum data lives on persistent, XFS-formatted, retained volumes, pods get time
 * to shut down cleanly, and a production StatefulSet is not replaced (and its volumes orphaned)
 * by accident.
 */

// ---------------------------------------------------------------------------------------------
// greenplum-data-on-pvc

export interface DataOnPvcConfig {
    /** Mount paths that hold Greenplum data. */
    dataPaths: string[];
    /** Storage classes data claims may use; empty allows any class. */
    allowedStorageClasses: string[];
}

/** Whether a mount at `mountPath` holds `dataPath` (is it, or one of its parents). */
function covers(mountPath: string, dataPath: string): boolean {
    const m = mountPath.replace(/\/+$/, "") || "/";
    const d = dataPath.replace(/\/+$/, "") || "/";
    return d === m || d.startsWith(m === "/" ? "/" : `${m}/`);
}

/** A pod volume's source for messages: "emptyDir with medium Memory", "hostPath", ... */
function volumeSource(volume: Json): string {
    if (isObj(volume.emptyDir)) return volume.emptyDir.medium === "Memory" ? "an emptyDir with medium Memory (tmpfs)" : "an emptyDir";
    const source = Object.keys(volume).find((k) => k !== "name");
    return source ? `a ${source} volume` : "a volume with no source";
}

const EPHEMERAL_SOURCES = ["emptyDir", "hostPath"];

export const checkDataOnPvc = (props: Json, config: DataOnPvcConfig, context: ResourceContext): string[] => {
    if (!isGreenplumStatefulSet(context.type, props)) return [];
    const what = describe("StatefulSet", props, context.name);
    const podSpec = podTemplateOf(context.type, props)?.spec ?? {};
    const claims = new Map<string, Json>();
    for (const t of arr(at(props, "spec", "volumeClaimTemplates"))) {
        const name = str(at(t, "metadata", "name"));
        if (name) claims.set(name, obj(t));
    }
    const volumes = new Map<string, Json>();
    for (const v of arr(podSpec.volumes)) {
        const name = str(at(v, "name"));
        if (name) volumes.set(name, obj(v));
    }
    const violations: string[] = [];
    const checkedClaims = new Set<string>();
    for (const dataPath of config.dataPaths) {
        let mounted = false;
        for (const { container, kind } of containersOf(podSpec)) {
            const cname = `${kind} "${str(container.name) ?? "?"}"`;
            const mounts = arr(container.volumeMounts).map(obj).filter((m) => typeof m.mountPath === "string");
            // The mount that holds the data path in this container: the deepest one covering it.
            const holder = mounts
                .filter((m) => covers(m.mountPath as string, dataPath))
                .sort((a, b) => (b.mountPath as string).length - (a.mountPath as string).length)[0];
            if (holder) {
                mounted = true;
                const vname = str(holder.name) ?? "";
                const claim = claims.get(vname);
                const volume = volumes.get(vname);
                if (!claim) {
                    const source = volume ? volumeSource(volume) : `volume "${vname}", which is neither a volumeClaimTemplate nor a pod volume`;
                    violations.push(
                        `${what}: ${cname} has Greenplum data path ${dataPath} on ${source}; mount a volumeClaimTemplate there instead ` +
                            "so the data survives pod restarts and rescheduling (emptyDir and hostPath lose it; tmpfs also breaks the FTS probe's O_DIRECT reads).",
                    );
                } else if (!checkedClaims.has(vname)) {
                    checkedClaims.add(vname);
                    const storageClass = str(at(claim, "spec", "storageClassName"));
                    if (config.allowedStorageClasses.length > 0 && (!storageClass || !config.allowedStorageClasses.includes(storageClass))) {
                        violations.push(
                            `${what}: volumeClaimTemplate "${vname}" (Greenplum data at ${dataPath}) uses storage class ${storageClass ? `"${storageClass}"` : "(cluster default)"}; ` +
                                `set spec.storageClassName to one of the approved classes: ${config.allowedStorageClasses.join(", ")}.`,
                        );
                    }
                }
            }
            // Mounts below the data path must not shadow parts of it with throwaway storage.
            for (const m of mounts) {
                const inside = (m.mountPath as string).startsWith(`${dataPath.replace(/\/+$/, "")}/`);
                const volume = volumes.get(str(m.name) ?? "");
                if (inside && volume && EPHEMERAL_SOURCES.some((s) => isObj(volume[s]))) {
                    violations.push(
                        `${what}: ${cname} mounts ${volumeSource(volume)} at ${m.mountPath as string}, inside the Greenplum data path ${dataPath}; ` +
                            "keep everything under the data path on the volumeClaimTemplate.",
                    );
                }
            }
        }
        if (!mounted) {
            violations.push(
                `${what}: no container mounts a volume at the Greenplum data path ${dataPath}, so data would live in the container's writable layer; ` +
                    "add a volumeClaimTemplate and mount it there (or fix the policy's dataPaths config).",
            );
        }
    }
    return violations;
};

export const dataOnPvc = resourcePolicy<DataOnPvcConfig>({
    name: "greenplum-data-on-pvc",
    description: "Greenplum data paths are mounted from volumeClaimTemplates of an approved storage class, never emptyDir, hostPath or memory.",
    enforcementLevel: "mandatory",
    configSchema: {
        properties: {
            dataPaths: { type: "array", items: { type: "string" }, default: ["/greenplum"], description: "Mount paths that hold Greenplum data." },
            allowedStorageClasses: {
                type: "array",
                items: { type: "string" },
                default: [],
                description: "Storage classes Greenplum data claims may use; empty allows any class.",
            },
        },
    },
    types: [K8S.statefulSet],
    check: checkDataOnPvc,
});

// ---------------------------------------------------------------------------------------------
// greenplum-data-storage-class

export interface DataStorageClassConfig {
    production: boolean;
    /** The filesystem the CSI driver must format data volumes with. */
    fsType: string;
    /** Provisioners that hand out node directories instead of formatting block devices. */
    hostPathProvisioners: string[];
}

export const checkDataStorageClass = (props: Json, config: DataStorageClassConfig, context: ResourceContext): string[] => {
    if (labelsOf(props)[DATA_STORAGE_CLASS_LABEL] !== "true") return [];
    const what = describe("StorageClass", props, context.name);
    const provisioner = str(props.provisioner) ?? "";
    const violations: string[] = [];
    if (config.hostPathProvisioners.includes(provisioner)) {
        if (config.production) {
            violations.push(
                `${what}: provisioner "${provisioner}" puts Greenplum data in node directories, which do not survive the node; ` +
                    "in production use a block-device CSI class (greenplum-k8s:storage.backend rook-ceph).",
            );
        }
    } else {
        const fsType = str(at(props, "parameters", "csi.storage.k8s.io/fstype"));
        if (fsType !== config.fsType) {
            violations.push(
                `${what}: set parameters["csi.storage.k8s.io/fstype"] to "${config.fsType}" (found ${fsType ? `"${fsType}"` : "none"}); ` +
                    "Greenplum supports only XFS for data directories.",
            );
        }
    }
    if (config.production && props.reclaimPolicy !== "Retain") {
        violations.push(
            `${what}: set reclaimPolicy to "Retain" (found ${JSON.stringify(props.reclaimPolicy ?? "Delete (the default)")}) ` +
                "so deleting a claim by mistake does not delete the Greenplum data volume.",
        );
    }
    return violations;
};

export const dataStorageClass = resourcePolicy<DataStorageClassConfig>({
    name: "greenplum-data-storage-class",
    description: `The StorageClass labelled ${DATA_STORAGE_CLASS_LABEL}="true" formats volumes XFS and, in production, retains them and is not a host-path provisioner.`,
    enforcementLevel: "mandatory",
    configSchema: {
        properties: {
            production: productionSchema,
            fsType: { type: "string", default: "xfs", description: "Filesystem data volumes must be formatted with." },
            hostPathProvisioners: {
                type: "array",
                items: { type: "string" },
                default: ["rancher.io/local-path", "k8s.io/minikube-hostpath"],
                description: "Provisioners that hand out node directories (no fstype; the runtime volume guard checks their filesystem). Not allowed in production.",
            },
        },
    },
    types: [K8S.storageClass],
    check: checkDataStorageClass,
});

// ---------------------------------------------------------------------------------------------
// greenplum-pvc-retention

export const checkPvcRetention = (props: Json, config: ProductionConfig, context: ResourceContext): string[] => {
    if (!config.production || !isGreenplumStatefulSet(context.type, props)) return [];
    const policy = obj(at(props, "spec", "persistentVolumeClaimRetentionPolicy"));
    const wrong = (["whenDeleted", "whenScaled"] as const).filter((k) => policy[k] !== "Retain");
    if (wrong.length === 0) return [];
    return [
        `${describe("StatefulSet", props, context.name)}: set spec.persistentVolumeClaimRetentionPolicy ` +
            `{whenDeleted: "Retain", whenScaled: "Retain"} explicitly (${wrong.map((k) => `${k} is ${JSON.stringify(policy[k] ?? "unset")}`).join(", ")}) ` +
            "so deleting or scaling the StatefulSet never deletes Greenplum data claims.",
    ];
};

export const pvcRetention = resourcePolicy<ProductionConfig>({
    name: "greenplum-pvc-retention",
    description: "Production Greenplum StatefulSets retain their claims when deleted or scaled down (persistentVolumeClaimRetentionPolicy Retain/Retain).",
    enforcementLevel: "advisory",
    configSchema: productionOnly,
    types: [K8S.statefulSet],
    check: checkPvcRetention,
});

// ---------------------------------------------------------------------------------------------
// greenplum-termination-grace

export interface TerminationGraceConfig {
    minTerminationGracePeriodSeconds: number;
}

export const checkTerminationGrace = (props: Json, config: TerminationGraceConfig, context: ResourceContext): string[] => {
    if (!isGreenplumStatefulSet(context.type, props)) return [];
    const grace = podTemplateOf(context.type, props)?.spec.terminationGracePeriodSeconds;
    const seconds = typeof grace === "number" ? grace : 30;
    if (seconds > 0 && seconds >= config.minTerminationGracePeriodSeconds) return [];
    return [
        `${describe("StatefulSet", props, context.name)}: set spec.template.spec.terminationGracePeriodSeconds to at least ${config.minTerminationGracePeriodSeconds} ` +
            `(found ${typeof grace === "number" ? grace : "unset, i.e. 30"}) so Greenplum can stop cleanly before SIGKILL; ` +
            "a killed master or primary needs crash recovery and may fail over.",
    ];
};

export const terminationGrace = resourcePolicy<TerminationGraceConfig>({
    name: "greenplum-termination-grace",
    description: "Greenplum pods get enough time to shut down cleanly: terminationGracePeriodSeconds >= the configured minimum, never 0.",
    enforcementLevel: "mandatory",
    configSchema: {
        properties: {
            minTerminationGracePeriodSeconds: { type: "integer", minimum: 1, default: 120, description: "Smallest grace period Greenplum pods may have." },
        },
    },
    types: [K8S.statefulSet],
    check: checkTerminationGrace,
});

// ---------------------------------------------------------------------------------------------
// greenplum-replacement-opt-in

export const checkReplacementOptIn = (props: Json, config: ProductionConfig, context: ResourceContext): string[] => {
    if (!config.production || !isGreenplumStatefulSet(context.type, props)) return [];
    if (context.opts?.protect === true || annotationsOf(props)[ALLOW_REPLACEMENT_ANNOTATION] === "true") return [];
    return [
        `${describe("StatefulSet", props, context.name)}: set the resource option protect: true (Pulumi then refuses to delete or replace it), ` +
            `or annotate it ${ALLOW_REPLACEMENT_ANNOTATION}: "true" to accept that a change to an immutable field ` +
            "(volumeClaimTemplates, selector, serviceName) replaces it and can leave its data claims behind.",
    ];
};

export const replacementOptIn = resourcePolicy<ProductionConfig>({
    name: "greenplum-replacement-opt-in",
    description:
        "Production Greenplum StatefulSets are protected (protect: true) unless annotated greenplum-k8s/allow-replacement=\"true\"; " +
        "a policy cannot see the old state, so it requires the opt-in up front instead of detecting a replacement.",
    enforcementLevel: "advisory",
    configSchema: productionOnly,
    types: [K8S.statefulSet],
    check: checkReplacementOptIn,
});

export const dataSafetyPolicies = [dataOnPvc, dataStorageClass, pvcRetention, terminationGrace, replacementOptIn];
