import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseAllDocuments } from "yaml";
import type { Helm } from "./helm-binary";
import { CLUSTER_SCOPED_KINDS, type KubernetesObject } from "./manifests";
import { SECRET_PLACEHOLDER, type RegisteredResource } from "./mock-runtime";

/**
 * Expands the program's Helm charts the way pulumi-kubernetes' v4 Chart does (provider
 * pkg/provider/helm/v4/chart.go): `helm template` with release name = the Chart's `name` input or
 * its resource name, namespace = its `namespace` input, CRDs included unless `skipCrds`, hooks
 * left out (DisableHooks), the Chart's `values`; then a namespace for every namespaced object
 * that has none, and one child resource per object named "<chart>:<namespace>/<name>"
 * (yaml/v2 Register). Without a cluster, the capabilities are Helm's defaults (built-in API
 * versions, Helm's own Kubernetes version), as the provider does when it cannot reach one.
 */

export const CHART_TYPE = "kubernetes:helm.sh/v4:Chart";

export interface ChartOptions {
    /** The helm to run, or why there is none. */
    helm: Helm | { missing: string };
    /** Folder of chart archives named <chart>-<version>.tgz. */
    chartsDir: string;
    /** Pull charts missing from chartsDir from their repositories (needs network). */
    fromRepositories: boolean;
    /** Passed as --kube-version; Helm's default when undefined. */
    kubeVersion?: string;
}

export interface ExpandedChart {
    chart: RegisteredResource;
    /** Where the chart came from: an archive path or "<repo> (repository)". */
    source: string;
    objects: KubernetesObject[];
}

export interface UnexpandedChart {
    chart: RegisteredResource;
    reason: string;
}

export interface ChartExpansion {
    expanded: ExpandedChart[];
    unexpanded: UnexpandedChart[];
}

interface ChartInputs {
    chart: string;
    version?: string;
    name?: string;
    namespace?: string;
    skipCrds?: boolean;
    values?: Record<string, unknown>;
    repositoryOpts?: { repo?: string };
}

/** A one-line label for messages: "rook-ceph v1.20.6 (rook-ceph-operator)". */
export function describeChart(chart: RegisteredResource): string {
    const inputs = chart.inputs as unknown as ChartInputs;
    return `${inputs.chart}${inputs.version ? ` ${inputs.version}` : ""} (${chart.name})`;
}

/** The archive of a chart in `dir`: <chart>-<version>.tgz, with or without a "v" before the version. */
export function archiveOf(dir: string, chart: string, version: string | undefined): string | undefined {
    if (!version) return undefined;
    const bare = version.replace(/^v/, "");
    return [`${chart}-${version}.tgz`, `${chart}-${bare}.tgz`, `${chart}-v${bare}.tgz`].map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
}

/** The `helm template` arguments for a chart, as pulumi-kubernetes sets them. */
export function templateArgs(chart: RegisteredResource, source: { archive: string } | { repo: string }, valuesFile: string, kubeVersion?: string): string[] {
    const inputs = chart.inputs as unknown as ChartInputs;
    const args = ["template", inputs.name ?? chart.name];
    if ("archive" in source) args.push(source.archive);
    else args.push(inputs.chart, "--repo", source.repo, ...(inputs.version ? ["--version", inputs.version] : []));
    if (inputs.namespace) args.push("--namespace", inputs.namespace);
    if (!inputs.skipCrds) args.push("--include-crds");
    args.push("--no-hooks", "--values", valuesFile);
    if (kubeVersion) args.push("--kube-version", kubeVersion);
    return args;
}

/** Kinds whose objects live outside namespaces: the built-in ones and those of cluster-scoped CRDs. */
function clusterScopedKinds(objects: KubernetesObject[]): Set<string> {
    const kinds = new Set(CLUSTER_SCOPED_KINDS);
    for (const o of objects) {
        const spec = o.spec as { scope?: string; names?: { kind?: string } } | undefined;
        if (o.kind === "CustomResourceDefinition" && spec?.scope === "Cluster" && spec.names?.kind) kinds.add(spec.names.kind);
    }
    return kinds;
}

/** Parses helm's output into objects (Lists expanded), each namespaced one given `namespace` if it has none. */
export function chartObjects(manifest: string, namespace: string | undefined, knownObjects: KubernetesObject[] = []): KubernetesObject[] {
    const documents = parseAllDocuments(manifest).map((d) => d.toJSON() as KubernetesObject | null).filter((d): d is KubernetesObject => d !== null && typeof d === "object");
    const objects = documents.flatMap((d) => (d.kind.endsWith("List") && Array.isArray(d.items) ? (d.items as KubernetesObject[]) : [d]));
    const clusterScoped = clusterScopedKinds([...knownObjects, ...objects]);
    return objects.map((o) => {
        if (clusterScoped.has(o.kind) || o.metadata.namespace || !namespace) return o;
        return { ...o, metadata: { ...o.metadata, namespace } };
    });
}

function runHelm(helm: Helm, args: string[]): { manifest: string } | { error: string } {
    const result = spawnSync(helm.path, args, { encoding: "utf8", timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
    if (result.status === 0) return { manifest: result.stdout };
    return { error: (result.stderr || result.error?.message || `helm exited ${result.status}`).trim() };
}

/** Renders every Chart among `resources` with helm; says why for each one it could not. */
export function expandCharts(resources: RegisteredResource[], options: ChartOptions): ChartExpansion {
    const expansion: ChartExpansion = { expanded: [], unexpanded: [] };
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "charts-"));
    try {
        for (const chart of resources.filter((r) => r.type === CHART_TYPE)) {
            const inputs = chart.inputs as unknown as ChartInputs;
            if (!("path" in options.helm)) {
                expansion.unexpanded.push({ chart, reason: options.helm.missing });
                continue;
            }
            const archive = archiveOf(options.chartsDir, inputs.chart, inputs.version);
            const repo = inputs.repositoryOpts?.repo;
            if (!archive && !(options.fromRepositories && repo)) {
                expansion.unexpanded.push({
                    chart,
                    reason: `no archive ${inputs.chart}-${inputs.version ?? "<version>"}.tgz in ${options.chartsDir}` + (repo ? ` (--charts-from-repositories pulls it from ${repo})` : ""),
                });
                continue;
            }
            const valuesFile = path.join(work, `${chart.name}.values.json`);
            fs.writeFileSync(valuesFile, JSON.stringify(inputs.values ?? {}));
            const source = archive ? { archive } : { repo: repo as string };
            const result = runHelm(options.helm, templateArgs(chart, source, valuesFile, options.kubeVersion));
            if ("error" in result) {
                expansion.unexpanded.push({ chart, reason: `helm template failed: ${result.error}` });
                continue;
            }
            const known = expansion.expanded.flatMap((e) => e.objects);
            expansion.expanded.push({ chart, source: archive ?? `${repo} (repository)`, objects: chartObjects(result.manifest, inputs.namespace, known) });
        }
    } finally {
        fs.rmSync(work, { recursive: true, force: true });
    }
    return expansion;
}

/** The Pulumi type token yaml/v2 registers an object under: "kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service". */
export function typeOf(o: KubernetesObject): string {
    const [group, version] = o.apiVersion.includes("/") ? o.apiVersion.split("/") : ["core", o.apiVersion];
    return `kubernetes:${group}/${version}:${o.kind}`;
}

/** Secrets' data is secret in the provider (yaml/v2 marks it so): masked like the program's own secrets. */
function maskChartSecret(o: KubernetesObject): KubernetesObject {
    if (o.apiVersion !== "v1" || o.kind !== "Secret") return o;
    const masked: KubernetesObject = { ...o };
    for (const key of ["data", "stringData"]) {
        const values = masked[key];
        if (values && typeof values === "object") masked[key] = Object.fromEntries(Object.keys(values).map((k) => [k, SECRET_PLACEHOLDER]));
    }
    return masked;
}

/**
 * The chart's objects as the child resources a real `up` registers: the chart as parent, its
 * `protect` inherited (as the SDK does), `retainOnDelete` where Helm's resource policy says keep.
 */
export function chartChildren(expanded: ExpandedChart): RegisteredResource[] {
    const { chart } = expanded;
    const urnPrefix = chart.urn.slice(0, chart.urn.lastIndexOf("::"));
    return expanded.objects.map((raw) => {
        const o = maskChartSecret(raw);
        const type = typeOf(o);
        const name = `${chart.name}:${o.metadata.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata.name}`;
        const keep = (o.metadata.annotations as Record<string, string> | undefined)?.["helm.sh/resource-policy"] === "keep";
        return {
            type,
            name,
            urn: `${urnPrefix}$${type}::${name}`,
            custom: true,
            inputs: o as unknown as Record<string, unknown>,
            options: {
                parent: chart.urn,
                provider: chart.options.provider,
                dependencies: [],
                protect: chart.options.protect,
                retainOnDelete: keep,
                deleteBeforeReplace: false,
                ignoreChanges: [],
                aliases: [],
                transforms: 0,
                onErrorHooks: [],
            },
        };
    });
}
