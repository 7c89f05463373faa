import { maskSecrets, type RegisteredResource } from "./mock-runtime";

/** Kinds that live outside any namespace; every other object must name its namespace. */
export const CLUSTER_SCOPED_KINDS = new Set([
    "Namespace",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "VolumeSnapshotClass",
    "PriorityClass",
    "CSIDriver",
    "CSINode",
    "PersistentVolume",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "APIService",
    "IngressClass",
    "RuntimeClass",
]);

/** Resources the Kubernetes provider expands itself (their objects come from the chart, not from us). */
const NOT_OBJECTS = /^(pulumi:providers:|kubernetes:helm\.sh\/|kubernetes:yaml\/|kubernetes:kustomize\/)/;

export interface KubernetesObject {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace?: string; [key: string]: unknown };
    [key: string]: unknown;
}

/**
 * The Kubernetes objects the program creates itself, in registration order, secrets masked.
 * Throws when an object has no explicit name: generated names change on replacement and make
 * manifests impossible to review or diff.
 */
export function kubernetesObjects(resources: RegisteredResource[]): KubernetesObject[] {
    return resources
        .filter((r) => r.custom && r.type.startsWith("kubernetes:") && !NOT_OBJECTS.test(r.type))
        .map((r) => {
            const inputs = maskSecrets(r.inputs) as Record<string, unknown>;
            const metadata = (inputs.metadata ?? {}) as KubernetesObject["metadata"];
            const where = `${r.type} "${r.name}"`;
            if (typeof inputs.apiVersion !== "string" || typeof inputs.kind !== "string") throw new Error(`${where} has no apiVersion/kind`);
            if (typeof metadata.name !== "string" || metadata.name === "") throw new Error(`${where} has no explicit metadata.name: give every Kubernetes object a stable name`);
            // A chart's objects got their namespace as the provider gives it (tools/charts.ts).
            const fromChart = r.options.parent.includes("$kubernetes:helm.sh/v4:Chart::");
            if (!fromChart && !CLUSTER_SCOPED_KINDS.has(inputs.kind) && typeof metadata.namespace !== "string") {
                throw new Error(`${where} (${inputs.kind} ${metadata.name}) has no metadata.namespace`);
            }
            const { apiVersion, kind, ...rest } = inputs;
            return { apiVersion, kind, ...rest, metadata } as KubernetesObject;
        });
}
