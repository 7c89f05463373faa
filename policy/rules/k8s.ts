import { arr, at, isObj, obj, str, stringMap, type Json } from "./common";

/**
 * Kubernetes object helpers: type tokens, pod templates, label selectors, and how a Greenplum
 * StatefulSet is recognised. Props may or may not carry apiVersion/kind: only metadata and spec
 * are read.
 */

export const K8S = {
    statefulSet: "kubernetes:apps/v1:StatefulSet",
    deployment: "kubernetes:apps/v1:Deployment",
    daemonSet: "kubernetes:apps/v1:DaemonSet",
    replicaSet: "kubernetes:apps/v1:ReplicaSet",
    job: "kubernetes:batch/v1:Job",
    cronJob: "kubernetes:batch/v1:CronJob",
    pod: "kubernetes:core/v1:Pod",
    service: "kubernetes:core/v1:Service",
    networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    podDisruptionBudget: "kubernetes:policy/v1:PodDisruptionBudget",
    storageClass: "kubernetes:storage.k8s.io/v1:StorageClass",
    cephBlockPool: "kubernetes:ceph.rook.io/v1:CephBlockPool",
} as const;

/** Every type token whose props hold a pod spec. */
export const WORKLOAD_TYPES = [K8S.statefulSet, K8S.deployment, K8S.daemonSet, K8S.replicaSet, K8S.job, K8S.cronJob, K8S.pod] as const;

/** Labels every Greenplum StatefulSet carries (metadata or pod template). */
export const GREENPLUM_LABELS = { "app.kubernetes.io/part-of": "greenplum-k8s", "app.kubernetes.io/name": "greenplum" } as const;
/** Labels naming a Greenplum StatefulSet's role, in the order they are read. */
export const ROLE_LABELS = ["app.kubernetes.io/component", "greenplum-k8s/set"] as const;
export type GreenplumRole = "master" | "segment-a" | "segment-b";
const ROLES: readonly GreenplumRole[] = ["master", "segment-a", "segment-b"];

/** Annotation that opts a Greenplum StatefulSet in to replacement without `protect`. */
export const ALLOW_REPLACEMENT_ANNOTATION = "greenplum-k8s/allow-replacement";
/** Label marking the StorageClass Greenplum data volumes use. */
export const DATA_STORAGE_CLASS_LABEL = "greenplum-k8s/data-storage-class";

export function metadataOf(props: Json): Json {
    return obj(props.metadata);
}

export function labelsOf(props: Json): Record<string, string> {
    return stringMap(metadataOf(props).labels);
}

export function annotationsOf(props: Json): Record<string, string> {
    return stringMap(metadataOf(props).annotations);
}

/** metadata.namespace, or "" when unset (the provider's default namespace). */
export function namespaceOf(props: Json): string {
    return str(metadataOf(props).namespace) ?? "";
}

/** "StatefulSet greenplum/segment-a" for messages; falls back to the Pulumi name. */
export function describe(kind: string, props: Json, fallbackName: string): string {
    const name = str(metadataOf(props).name) ?? fallbackName;
    const namespace = namespaceOf(props);
    return `${kind} ${namespace ? `${namespace}/` : ""}${name}`;
}

/** The short kind of a type token: "kubernetes:apps/v1:StatefulSet" -> "StatefulSet". */
export function kindOf(type: string): string {
    return type.split(":").pop() ?? type;
}

/** The pod template (metadata + spec) of a workload, or undefined for other types. */
export function podTemplateOf(type: string, props: Json): { labels: Record<string, string>; spec: Json } | undefined {
    switch (type) {
        case K8S.pod:
            return { labels: labelsOf(props), spec: obj(props.spec) };
        case K8S.cronJob:
            return templateAt(at(props, "spec", "jobTemplate", "spec", "template"));
        default:
            return (WORKLOAD_TYPES as readonly string[]).includes(type) ? templateAt(at(props, "spec", "template")) : undefined;
    }
}

function templateAt(template: unknown): { labels: Record<string, string>; spec: Json } {
    return { labels: stringMap(at(template, "metadata", "labels")), spec: obj(at(template, "spec")) };
}

const CONTAINER_LISTS = { initContainers: "init container", containers: "container", ephemeralContainers: "ephemeral container" } as const;

/** Every container of a pod spec, init and ephemeral ones included, with what kind it is ("init container"). */
export function containersOf(podSpec: Json): { container: Json; kind: string }[] {
    const out: { container: Json; kind: string }[] = [];
    for (const [list, kind] of Object.entries(CONTAINER_LISTS)) {
        for (const c of arr(podSpec[list])) {
            if (isObj(c)) out.push({ container: c, kind });
        }
    }
    return out;
}

/** Greenplum StatefulSet: labelled part-of greenplum-k8s and name greenplum (metadata or template). */
export function isGreenplumStatefulSet(type: string, props: Json): boolean {
    if (type !== K8S.statefulSet) return false;
    const matches = (labels: Record<string, string>) => Object.entries(GREENPLUM_LABELS).every(([k, v]) => labels[k] === v);
    return matches(labelsOf(props)) || matches(podTemplateOf(type, props)?.labels ?? {});
}

/**
 * The role of a Greenplum StatefulSet: a role label (metadata, then pod template), else the role
 * that metadata.name (or the Pulumi name) is or ends with ("-master").
 */
export function greenplumRole(props: Json, resourceName: string): GreenplumRole | undefined {
    for (const labels of [labelsOf(props), podTemplateOf(K8S.statefulSet, props)?.labels ?? {}]) {
        for (const key of ROLE_LABELS) {
            const role = labels[key];
            if (role && (ROLES as readonly string[]).includes(role)) return role as GreenplumRole;
        }
    }
    const name = str(metadataOf(props).name) ?? resourceName;
    return ROLES.find((role) => name === role || name.endsWith(`-${role}`));
}

/** spec.replicas, defaulting to 1 as Kubernetes does. */
export function replicasOf(props: Json): number {
    const replicas = at(props, "spec", "replicas");
    return typeof replicas === "number" ? replicas : 1;
}

/**
 * Whether a label selector (matchLabels + matchExpressions) selects a pod with `labels`.
 * An empty selector selects every pod, as in NetworkPolicy.podSelector and policy/v1 PDBs.
 */
export function selectorMatches(selector: unknown, labels: Record<string, string>): boolean {
    const sel = obj(selector);
    for (const [key, value] of Object.entries(stringMap(sel.matchLabels))) {
        if (labels[key] !== value) return false;
    }
    for (const raw of arr(sel.matchExpressions)) {
        const expr = obj(raw);
        const key = str(expr.key) ?? "";
        const values = arr(expr.values).filter((v): v is string => typeof v === "string");
        const has = Object.prototype.hasOwnProperty.call(labels, key);
        switch (expr.operator) {
            case "In":
                if (!has || !values.includes(labels[key])) return false;
                break;
            case "NotIn":
                if (has && values.includes(labels[key])) return false;
                break;
            case "Exists":
                if (!has) return false;
                break;
            case "DoesNotExist":
                if (has) return false;
                break;
            default:
                return false;
        }
    }
    return true;
}
