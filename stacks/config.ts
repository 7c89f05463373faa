import { z } from "zod";
import { capacityProblems, cephCapacityProblems, withDerivedResources } from "./capacity";
import { cephOnGkeProblems, greenplumPlacementProblems, gkeProblems, hostBasedAuthenticationProblems, productionDataClassProblems } from "./cross-checks";
import { backupProblems, withBackupDefaults } from "./backup-checks";
import { deepMerge, gkeDefaults, profileDefaults } from "./defaults";
import { issueMessage } from "./messages";
import { show } from "./rules";
import { SECRET_KEYS, stackConfigSchema, type Profile, type StackConfig } from "./schema";

export const CONFIG_NAMESPACE = "greenplum-k8s";
const TOP_LEVEL_KEYS = Object.keys(stackConfigSchema.shape);

/** Every problem found in the stack config, each naming its full key path. */
export class ConfigError extends Error {
    constructor(readonly problems: string[]) {
        super(`Invalid stack configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${problems.map((p) => `  - ${p}`).join("\n")}`);
        this.name = "ConfigError";
    }
}

type Path = (string | number)[];
type Raw = Record<string, unknown>;

function keyPath(path: Path): string {
    const rest = path.reduce<string>((acc, part, i) => (typeof part === "number" ? `${acc}[${part}]` : i === 0 ? part : `${acc}.${part}`), "");
    return `${CONFIG_NAMESPACE}:${rest}`;
}


/** Reads a config value as Pulumi hands it over: objects and numbers arrive as JSON text. */
function decode(value: string): unknown {
    try {
        return JSON.parse(value);
    } catch {
        return value;
    }
}

function isYes(value: unknown): boolean {
    return value === true || value === "yes";
}

function at(obj: unknown, ...path: string[]): unknown {
    return path.reduce<unknown>((o, key) => (o && typeof o === "object" ? (o as Raw)[key] : undefined), obj);
}

/** The keys a strict object allows at `path`, for "unknown key" messages. */
function allowedKeys(path: Path): string[] {
    let schema: z.ZodType = stackConfigSchema;
    for (const part of path) {
        schema = unwrap(schema);
        if (schema instanceof z.ZodObject) schema = schema.shape[part as string];
        else if (schema instanceof z.ZodArray) schema = schema.element as unknown as z.ZodType;
        else return [];
        if (!schema) return [];
    }
    schema = unwrap(schema);
    if (schema instanceof z.ZodObject) return Object.keys(schema.shape);
    if (schema instanceof z.ZodDiscriminatedUnion) return [...new Set((schema.options as unknown as z.ZodObject[]).flatMap((o) => Object.keys(o.shape)))];
    return [];
}

function unwrap(schema: z.ZodType): z.ZodType {
    if (schema instanceof z.ZodOptional) return unwrap(schema.unwrap() as unknown as z.ZodType);
    return schema;
}

function describeIssue(issue: z.core.$ZodIssue & { input?: unknown }): string[] {
    if (issue.code === "unrecognized_keys") {
        const allowed = allowedKeys(issue.path as Path);
        return issue.keys.map((key) => `${keyPath([...(issue.path as Path), key])}: unknown key; allowed keys here: ${allowed.join(", ")}`);
    }
    if (issue.code === "invalid_type" && issue.input === undefined) {
        return [`${keyPath(issue.path as Path)}: required but not set`];
    }
    const secret = SECRET_KEYS.some((key) => key.join(".") === issue.path.join("."));
    const got = secret && typeof issue.input === "string" ? `a secret of ${issue.input.length} characters, not shown` : show(issue.input);
    return [`${keyPath(issue.path as Path)}: ${issue.message} (got ${got})`];
}

/** Rules that span several keys (GP4K's and ours). Each returns [path, message]. */
function crossFieldProblems(raw: Raw, merged: Raw): [Path, string][] {
    const problems: [Path, string][] = [];
    const gp = (merged.greenplum ?? {}) as Raw;
    const masterAndStandby = (gp.masterAndStandby ?? {}) as Raw;
    const segments = (gp.segments ?? {}) as Raw;
    const kind = at(merged, "target", "kind");

    if (isYes(masterAndStandby.antiAffinity) !== isYes(segments.antiAffinity)) {
        problems.push([["greenplum", "segments", "antiAffinity"], "must equal greenplum.masterAndStandby.antiAffinity (anti-affinity is all or nothing, as in GP4K)"]);
    }
    if (isYes(masterAndStandby.antiAffinity) || isYes(segments.antiAffinity)) {
        if (!isYes(masterAndStandby.standby)) problems.push([["greenplum", "masterAndStandby", "standby"], "must be yes when antiAffinity is yes (there is no pair to keep apart without a standby)"]);
        if (!isYes(segments.mirrors)) problems.push([["greenplum", "segments", "mirrors"], "must be yes when antiAffinity is yes (there is no pair to keep apart without mirrors)"]);
    }

    if (kind === "gke" && raw.gke === undefined) {
        problems.push([["gke"], "required when target.kind is gke: set at least gke.region and gke.zones"]);
    }
    if (kind !== "gke" && raw.gke !== undefined) {
        problems.push([["gke"], `only used when target.kind is gke (target.kind is ${show(kind)}): remove it or set target.kind: gke`]);
    }
    if (kind === "existing" && at(merged, "target", "context") === undefined) {
        problems.push([["target", "context"], "required when target.kind is existing: name the kubeconfig context to deploy to"]);
    }

    const backend = at(merged, "storage", "backend");
    if (backend === "nfs") {
        if (at(merged, "storage", "nfs", "server") === undefined) problems.push([["storage", "nfs", "server"], "required when storage.backend is nfs: the NFS server's host name or IP"]);
        if (at(merged, "storage", "nfs", "share") === undefined) problems.push([["storage", "nfs", "share"], "required when storage.backend is nfs: the exported path"]);
        const dataOnNfs = masterAndStandby.storageClassName === undefined || segments.storageClassName === undefined;
        if (dataOnNfs && !isYes(at(merged, "storage", "nfs", "allowGreenplumData"))) {
            problems.push([
                ["storage", "nfs", "allowGreenplumData"],
                "Greenplum does not support NFS for data directories (only XFS on a block device): set greenplum.*.storageClassName to a block-storage class and keep NFS for backups, or set this to yes to accept the risk",
            ]);
        }
    }
    if (backend === "existing" && at(raw, "storage", "storageClassName") === undefined) {
        problems.push([["storage", "storageClassName"], "required when storage.backend is existing: name the cluster's storage class"]);
    }
    const osd = at(merged, "storage", "rookCeph", "osd") as Raw | undefined;
    const replicas = at(merged, "storage", "rookCeph", "poolReplicas");
    if (backend === "rook-ceph" && osd?.source === "pvc" && typeof osd.count === "number" && typeof replicas === "number" && replicas > osd.count) {
        problems.push([["storage", "rookCeph", "poolReplicas"], `needs at least as many OSDs (storage.rookCeph.osd.count is ${osd.count}): Ceph cannot place ${replicas} copies`]);
    }

    const service = (gp.service ?? {}) as Raw;
    if (service.type !== "LoadBalancer") {
        if (isYes(service.internal)) problems.push([["greenplum", "service", "internal"], "only applies to service.type LoadBalancer"]);
        if (Array.isArray(service.loadBalancerSourceRanges) && service.loadBalancerSourceRanges.length > 0 && service.type !== "NodePort") {
            problems.push([["greenplum", "service", "loadBalancerSourceRanges"], "only applies to service.type LoadBalancer or NodePort"]);
        }
    }

    const pool = at(merged, "gke", "nodePools", "greenplum") as Raw | undefined;
    const zones = at(merged, "gke", "zones");
    if (kind === "gke" && isYes(segments.antiAffinity) && typeof pool?.nodeCountPerZone === "number" && Array.isArray(zones) && pool.nodeCountPerZone >= 1 && pool.nodeCountPerZone * zones.length < 2) {
        problems.push([["gke", "nodePools", "greenplum", "nodeCountPerZone"], "antiAffinity needs at least 2 Greenplum nodes in all zones together"]);
    }
    return problems;
}

function inferProfile(raw: Raw): Profile {
    if (raw.profile === "dev" || raw.profile === "production") return raw.profile;
    return at(raw, "target", "kind") === "gke" ? "production" : "dev";
}

/**
 * Validates the `greenplum-k8s:*` keys of a stack's config (as `pulumi.runtime.allConfig()` gives
 * them) merged onto the profile's defaults. Throws a ConfigError listing every problem.
 */
export function parseStackConfig(allConfig: Record<string, string>): StackConfig {
    const raw: Raw = {};
    const problems: string[] = [];
    for (const [fullKey, value] of Object.entries(allConfig)) {
        const [namespace, key] = fullKey.split(":", 2);
        if (namespace !== CONFIG_NAMESPACE) continue;
        if (!TOP_LEVEL_KEYS.includes(key) && TOP_LEVEL_KEYS.includes(key.split(".")[0])) {
            problems.push(
                `${fullKey}: unknown key: a nested key was set without --path, so it arrived as one flat name; ` +
                    `run pulumi config rm ${fullKey} and pulumi config set --path ${fullKey} <value>`,
            );
            continue;
        }
        if (!TOP_LEVEL_KEYS.includes(key)) {
            problems.push(`${CONFIG_NAMESPACE}:${key}: unknown key; allowed keys: ${TOP_LEVEL_KEYS.map((k) => `${CONFIG_NAMESPACE}:${k}`).join(", ")}`);
            continue;
        }
        raw[key] = decode(value);
    }

    const profile = inferProfile(raw);
    let merged = deepMerge(profileDefaults(profile), { profile, ...raw });
    if (raw.gke !== undefined) {
        merged = deepMerge(merged, { gke: deepMerge(gkeDefaults, raw.gke as Raw) });
    }
    merged = withBackupDefaults(merged, profile);

    const result = stackConfigSchema.safeParse(merged, { reportInput: true, error: issueMessage });
    if (!result.success) {
        problems.push(...result.error.issues.flatMap(describeIssue));
        problems.push(...capacityProblemsDespite(result.error.issues.map((issue) => issue.path as Path), merged, profile, raw));
    }
    const crossField = [...crossFieldProblems(raw, merged), ...greenplumPlacementProblems(merged), ...hostBasedAuthenticationProblems(merged), ...productionDataClassProblems(merged), ...cephOnGkeProblems(merged), ...backupProblems(merged, allConfig["gcp:project"]), ...(merged.gke === undefined ? [] : gkeProblems(merged.gke))];
    for (const [path, message] of crossField) problems.push(`${keyPath(path)}: ${message}`);
    if (at(merged, "target", "kind") === "gke" && raw.gke !== undefined && at(raw, "gke", "project") === undefined && !allConfig["gcp:project"]) {
        problems.push(`${keyPath(["gke", "project"])}: required when target.kind is gke unless gcp:project is set: name the GCP project to create the cluster in`);
    }

    if (problems.length > 0 || !result.success) throw new ConfigError([...new Set(problems)]);

    const { config, capacity } = withCapacity(result.data, raw);
    if (capacity.length > 0) throw new ConfigError(capacity.map(([path, message]) => `${keyPath(path)}: ${message}`));
    return config;
}

/** The capacity model's view: the gke profile's pod sizes derived from the machine type, and what cannot be scheduled. */
function withCapacity(parsed: StackConfig, raw: Raw): { config: StackConfig; capacity: [Path, string][] } {
    const config = withDerivedResources(parsed, {
        segmentsCpu: at(raw, "greenplum", "segments", "cpu") === undefined,
        segmentsMemory: at(raw, "greenplum", "segments", "memory") === undefined,
        masterCpu: at(raw, "greenplum", "masterAndStandby", "cpu") === undefined,
        masterMemory: at(raw, "greenplum", "masterAndStandby", "memory") === undefined,
    });
    return { config, capacity: [...capacityProblems(config), ...cephCapacityProblems(config)] };
}

/**
 * Capacity problems that hold whatever the refused keys become: the model runs with each refused
 * key at its profile default, and a problem naming a refused key is left out (its fix comes first).
 * So one run lists every independent problem, as the README promises.
 */
function capacityProblemsDespite(refused: Path[], merged: Raw, profile: Profile, raw: Raw): string[] {
    const defaults = profileDefaults(profile) as Raw;
    let repaired: Raw = merged;
    for (const path of refused) {
        const fallback = at(defaults, ...path.map(String));
        if (fallback === undefined) return [];
        repaired = setAt(repaired, path.map(String), fallback);
    }
    const reparsed = stackConfigSchema.safeParse(repaired);
    if (!reparsed.success) return [];
    const within = (outer: Path, inner: Path) => outer.length <= inner.length && outer.every((key, i) => String(key) === String(inner[i]));
    return withCapacity(reparsed.data, raw)
        .capacity.filter(([path]) => !refused.some((key) => within(key, path) || within(path, key)))
        .map(([path, message]) => `${keyPath(path)}: ${message}`);
}

function setAt(obj: Raw, path: string[], value: unknown): Raw {
    const [head, ...rest] = path;
    const inner = (obj[head] ?? {}) as Raw;
    return { ...obj, [head]: rest.length === 0 ? value : setAt(inner, rest, value) };
}

/** Config namespaces that look like ours once case and punctuation are ignored (greenplum_k8s, GreenplumK8s). */
function looksLikeOurs(namespace: string): boolean {
    const squash = (text: string) => text.toLowerCase().replace(/[^a-z0-9]/g, "");
    return namespace !== CONFIG_NAMESPACE && squash(namespace) === squash(CONFIG_NAMESPACE);
}

/**
 * Keys the program would silently ignore although they were meant for it: keys under a config
 * namespace that is ours misspelt. Warnings, not errors: another program could own such a namespace.
 */
export function stackConfigWarnings(allConfig: Record<string, string>): string[] {
    return Object.keys(allConfig)
        .filter((fullKey) => looksLikeOurs(fullKey.split(":", 1)[0]))
        .map((fullKey) => {
            const [namespace, key] = fullKey.split(/:(.*)/s, 2);
            return `${fullKey}: ignored: the config namespace ${show(namespace)} is not ${show(CONFIG_NAMESPACE)}; rename the key to ${CONFIG_NAMESPACE}:${key}`;
        });
}

/** What a valid config accepts on the operator's word: production data classes nothing here can check, one warning each. */
export function acceptedDataClassWarnings(config: StackConfig): string[] {
    if (config.profile !== "production") return [];
    return config.storage.acceptedDataClasses.map(
        (name) => `greenplum-k8s:storage.acceptedDataClasses: Greenplum data is on class ${show(name)} on your word that it keeps volumes (reclaimPolicy Retain) and formats them XFS on a block device; nothing here checks it`,
    );
}
