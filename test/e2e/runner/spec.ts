/**
 * What the pod runner reads from a render: the Greenplum StatefulSets' pods, the objects their
 * volumes and environment refer to, and the Services that resolve to them. Pure functions, so
 * `npm test` checks them without Greenplum.
 */
import { parseAllDocuments } from "yaml";

export interface KubeObject {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
    [key: string]: unknown;
}

export interface ExecAction {
    command: string[];
}
export interface Probe {
    exec?: ExecAction;
    initialDelaySeconds?: number;
    periodSeconds?: number;
    timeoutSeconds?: number;
    failureThreshold?: number;
    successThreshold?: number;
}
export interface EnvVar {
    name: string;
    value?: string;
    valueFrom?: {
        fieldRef?: { fieldPath: string };
        secretKeyRef?: { name: string; key: string; optional?: boolean };
        configMapKeyRef?: { name: string; key: string; optional?: boolean };
    };
}
export interface VolumeMount {
    name: string;
    mountPath: string;
    readOnly?: boolean;
    subPath?: string;
}
export interface SecurityContext {
    runAsUser?: number;
    runAsGroup?: number;
    runAsNonRoot?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { add?: string[]; drop?: string[] };
    fsGroup?: number;
    sysctls?: { name: string; value: string }[];
}
export interface Container {
    name: string;
    image?: string;
    command?: string[];
    args?: string[];
    workingDir?: string;
    env?: EnvVar[];
    volumeMounts?: VolumeMount[];
    securityContext?: SecurityContext;
    readinessProbe?: Probe;
    livenessProbe?: Probe;
    startupProbe?: Probe;
    lifecycle?: { preStop?: { exec?: ExecAction } };
}
export interface KeyToPath {
    key: string;
    path: string;
    mode?: number;
}
export interface Volume {
    name: string;
    configMap?: { name: string; defaultMode?: number; items?: KeyToPath[]; optional?: boolean };
    secret?: { secretName: string; defaultMode?: number; items?: KeyToPath[]; optional?: boolean };
    emptyDir?: { medium?: string; sizeLimit?: string };
    persistentVolumeClaim?: { claimName: string };
}
export interface PodSpec {
    containers: Container[];
    initContainers?: Container[];
    volumes?: Volume[];
    securityContext?: SecurityContext;
    terminationGracePeriodSeconds?: number;
    restartPolicy?: string;
    hostname?: string;
    subdomain?: string;
}

/** One pod a StatefulSet would create. */
export interface PodPlan {
    name: string;
    set: string;
    ordinal: number;
    namespace: string;
    labels: Record<string, string>;
    spec: PodSpec;
    /** Volume name → PVC name, from the set's volumeClaimTemplates (`<template>-<pod>`). */
    claims: Record<string, string>;
}

export interface ServicePlan {
    name: string;
    namespace: string;
    selector: Record<string, string>;
    headless: boolean;
    publishNotReadyAddresses: boolean;
    ports: { name?: string; port: number; targetPort?: number | string }[];
}

export interface ClusterPlan {
    namespace: string;
    pods: PodPlan[];
    services: ServicePlan[];
    configMaps: Map<string, Record<string, string>>;
    secrets: Map<string, Record<string, string>>;
    /** The StatefulSets' governing (headless) Service, which names the pods' DNS records. */
    headlessService: string;
}

export function parseManifests(text: string): KubeObject[] {
    return parseAllDocuments(text)
        .map((d) => d.toJS() as KubeObject | null)
        .filter((o): o is KubeObject => o !== null && typeof o === "object" && typeof o.kind === "string");
}

interface StatefulSet {
    metadata: { name: string; namespace?: string };
    spec: {
        replicas?: number;
        serviceName: string;
        template: { metadata?: { labels?: Record<string, string> }; spec: PodSpec };
        volumeClaimTemplates?: { metadata: { name: string } }[];
    };
}

/** Secret data as the API server holds it: `stringData` merged over base64-decoded `data`. */
function secretData(secret: KubeObject): Record<string, string> {
    const data = (secret.data ?? {}) as Record<string, string>;
    const decoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
    return { ...decoded, ...((secret.stringData ?? {}) as Record<string, string>) };
}

/** Pod-spec features the runner would otherwise ignore silently, so a scenario would test something else than the spec says. */
function unemulated(spec: PodSpec): string[] {
    const found: string[] = [];
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        if (c.startupProbe) found.push(`startupProbe on container ${c.name}`);
        for (const m of c.volumeMounts ?? []) if (m.subPath !== undefined) found.push(`subPath on container ${c.name}'s mount ${m.mountPath}`);
    }
    return found;
}

/**
 * The pods of every StatefulSet in `namespace`, in the order a Parallel StatefulSet creates them
 * (all at once), with the controller's own labels and claim names.
 */
export function clusterPlan(objects: KubeObject[], namespace: string): ClusterPlan {
    const inNamespace = objects.filter((o) => o.metadata.namespace === namespace);
    const sets = inNamespace.filter((o) => o.kind === "StatefulSet") as unknown as StatefulSet[];
    if (sets.length === 0) throw new Error(`the render has no StatefulSet in namespace ${namespace}`);
    const headless = new Set(sets.map((s) => s.spec.serviceName));
    if (headless.size !== 1) throw new Error(`the StatefulSets name ${headless.size} governing Services (${[...headless].join(", ")}); the runner supports one`);

    const pods: PodPlan[] = [];
    for (const set of sets) {
        const unsupported = unemulated(set.spec.template.spec);
        if (unsupported.length > 0) throw new Error(`StatefulSet ${set.metadata.name} uses what the pod runner does not emulate: ${unsupported.join("; ")}. Teach test/e2e/runner before relying on it`);
        const replicas = set.spec.replicas ?? 1;
        for (let ordinal = 0; ordinal < replicas; ordinal++) {
            const name = `${set.metadata.name}-${ordinal}`;
            pods.push({
                name,
                set: set.metadata.name,
                ordinal,
                namespace,
                // What the StatefulSet controller adds to every pod it creates.
                labels: {
                    ...(set.spec.template.metadata?.labels ?? {}),
                    "statefulset.kubernetes.io/pod-name": name,
                    "apps.kubernetes.io/pod-index": String(ordinal),
                },
                spec: set.spec.template.spec,
                claims: Object.fromEntries((set.spec.volumeClaimTemplates ?? []).map((t) => [t.metadata.name, `${t.metadata.name}-${name}`])),
            });
        }
    }
    const services: ServicePlan[] = inNamespace
        .filter((o) => o.kind === "Service")
        .map((o) => {
            const spec = o.spec as { selector?: Record<string, string>; clusterIP?: string; publishNotReadyAddresses?: boolean; ports?: ServicePlan["ports"] };
            return {
                name: o.metadata.name,
                namespace,
                selector: spec.selector ?? {},
                headless: spec.clusterIP === "None",
                publishNotReadyAddresses: spec.publishNotReadyAddresses ?? false,
                ports: spec.ports ?? [],
            };
        });
    const configMaps = new Map(inNamespace.filter((o) => o.kind === "ConfigMap").map((o) => [o.metadata.name, { ...((o.data ?? {}) as Record<string, string>) }]));
    const secrets = new Map(inNamespace.filter((o) => o.kind === "Secret").map((o) => [o.metadata.name, secretData(o)]));
    return { namespace, pods, services, configMaps, secrets, headlessService: [...headless][0] };
}

export function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
    const entries = Object.entries(selector);
    return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/** `<pod>.<headless service>.<namespace>.svc.<cluster domain>`: the record a StatefulSet pod gets. */
export function podFqdn(pod: string, headlessService: string, namespace: string, clusterDomain: string): string {
    return `${pod}.${headlessService}.${namespace}.svc.${clusterDomain}`;
}

/**
 * /etc/hosts for every pod: each pod's headless-Service name first (so a reverse lookup of its
 * address gives the name cluster DNS would), then the short name the pods' DNS search path resolves.
 */
export function hostsFile(addresses: Map<string, string>, headlessService: string, namespace: string, clusterDomain: string): string {
    const lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"];
    for (const [pod, address] of [...addresses].sort(([a], [b]) => a.localeCompare(b))) {
        lines.push(`${address}\t${podFqdn(pod, headlessService, namespace, clusterDomain)} ${pod}`);
    }
    return `${lines.join("\n")}\n`;
}

export interface EnvContext {
    pod: PodPlan;
    podIP: string;
    configMaps: Map<string, Record<string, string>>;
    secrets: Map<string, Record<string, string>>;
}

/** A container's environment as the kubelet builds it: image defaults, then the spec's variables in order. */
export function containerEnv(container: Container, ctx: EnvContext, imageEnv: Record<string, string>): Record<string, string> {
    const env: Record<string, string> = { ...imageEnv, HOSTNAME: ctx.pod.name };
    for (const v of container.env ?? []) {
        if (v.value !== undefined) {
            // $(VAR) references expand against variables defined earlier, as the kubelet does.
            env[v.name] = v.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole);
            continue;
        }
        const from = v.valueFrom;
        if (from?.fieldRef) {
            env[v.name] = fieldValue(from.fieldRef.fieldPath, ctx);
        } else if (from?.secretKeyRef) {
            const value = ctx.secrets.get(from.secretKeyRef.name)?.[from.secretKeyRef.key];
            if (value === undefined && !from.secretKeyRef.optional) throw new Error(`${ctx.pod.name}: env ${v.name} refers to missing secret key ${from.secretKeyRef.name}/${from.secretKeyRef.key}`);
            if (value !== undefined) env[v.name] = value;
        } else if (from?.configMapKeyRef) {
            const value = ctx.configMaps.get(from.configMapKeyRef.name)?.[from.configMapKeyRef.key];
            if (value === undefined && !from.configMapKeyRef.optional) throw new Error(`${ctx.pod.name}: env ${v.name} refers to missing ConfigMap key ${from.configMapKeyRef.name}/${from.configMapKeyRef.key}`);
            if (value !== undefined) env[v.name] = value;
        } else {
            env[v.name] = "";
        }
    }
    return env;
}

function fieldValue(path: string, ctx: EnvContext): string {
    switch (path) {
        case "metadata.name":
            return ctx.pod.name;
        case "metadata.namespace":
            return ctx.pod.namespace;
        case "status.podIP":
            return ctx.podIP;
        default: {
            const label = /^metadata\.labels\['(.+)'\]$/.exec(path);
            if (label) return ctx.pod.labels[label[1]] ?? "";
            throw new Error(`${ctx.pod.name}: fieldRef ${path} is not supported by the pod runner`);
        }
    }
}

/** One file a ConfigMap or Secret volume holds. */
export interface ProjectedFile {
    path: string;
    content: string;
    mode: number;
}

/**
 * The files of a ConfigMap or Secret volume: every key (or only `items`), with the item's mode,
 * else `defaultMode`, else 0644 as the API server defaults it.
 */
export function projectedFiles(volume: Volume, plan: Pick<ClusterPlan, "configMaps" | "secrets">): ProjectedFile[] {
    const source = volume.configMap
        ? { data: plan.configMaps.get(volume.configMap.name), ref: volume.configMap, what: `ConfigMap ${volume.configMap.name}` }
        : volume.secret
          ? { data: plan.secrets.get(volume.secret.secretName), ref: volume.secret, what: `Secret ${volume.secret.secretName}` }
          : undefined;
    if (!source) throw new Error(`volume ${volume.name} is neither a ConfigMap nor a Secret volume`);
    if (!source.data) {
        if (source.ref.optional) return [];
        throw new Error(`volume ${volume.name}: ${source.what} does not exist`);
    }
    const defaultMode = source.ref.defaultMode ?? 0o644;
    const items = source.ref.items ?? Object.keys(source.data).sort().map((key) => ({ key, path: key }));
    return items.map((item: KeyToPath) => {
        const content = source.data?.[item.key];
        if (content === undefined) throw new Error(`volume ${volume.name}: ${source.what} has no key ${item.key}`);
        return { path: item.path, content, mode: item.mode ?? defaultMode };
    });
}

/** Restart back-off of a crashing container: 10 s doubling to 300 s, as the kubelet does. */
export function restartBackoffSeconds(consecutiveFailures: number): number {
    if (consecutiveFailures <= 0) return 0;
    return Math.min(300, 10 * 2 ** (consecutiveFailures - 1));
}

/** Probe timing with the API server's defaults filled in. */
export function probeTiming(probe: Probe): Required<Omit<Probe, "exec">> {
    return {
        initialDelaySeconds: probe.initialDelaySeconds ?? 0,
        periodSeconds: probe.periodSeconds ?? 10,
        timeoutSeconds: probe.timeoutSeconds ?? 1,
        failureThreshold: probe.failureThreshold ?? 3,
        successThreshold: probe.successThreshold ?? 1,
    };
}
