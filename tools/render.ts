/**
 * Offline render: evaluates the real program under Pulumi's mock runtime with a stack's config,
 * expands its Helm charts with a real `helm template`, and writes everything a `pulumi up` would
 * apply, without a cluster, cloud credentials or the Pulumi CLI.
 */
import * as fs from "fs";
import * as path from "path";
import { stringify } from "yaml";
import { acceptedDataClassWarnings, parseStackConfig, stackConfigWarnings } from "../stacks";
import { chartChildren, describeChart, expandCharts, CHART_TYPE, type ChartExpansion } from "./charts";
import { findHelm } from "./helm-binary";
import { kubernetesObjects } from "./manifests";
import { maskSecrets, runProgram, SECRET_PLACEHOLDER, type ProgramRun, type RegisteredResource } from "./mock-runtime";
import { readStackFile } from "./stack-file";

const ROOT = path.join(__dirname, "..");
/** Chart archives of the pinned versions, beside the repository (../shared/reference/charts). */
export const DEFAULT_CHARTS_DIR = path.join(ROOT, "..", "shared", "reference", "charts");

export const USAGE = `usage: npm run render -- (--stack <name> | --config <file>) --out <dir> [options]

  --stack <name>               render Pulumi.<name>.yaml
  --config <file>              render a file in the Pulumi.<stack>.yaml format
  --out <dir>                  write manifests.yaml, resources.json and outputs.json there
  --charts <dir>               folder of chart archives (<chart>-<version>.tgz); default $GREENPLUM_K8S_CHARTS
                               or ../shared/reference/charts
  --charts-from-repositories   pull charts missing from --charts from their Helm repositories (needs network)
  --kube-version <version>     Kubernetes version charts see (default: helm's own)
  --help                       show this

helm: $HELM, else the one npm ci installs in tools/helm (linux-amd64), else helm on PATH.`;

export interface RenderOptions {
    stack: string;
    configFile: string;
    out: string;
    chartsDir: string;
    chartsFromRepositories: boolean;
    kubeVersion?: string;
}

/** Exit status 2 for bad flags, as command-line tools do. */
export class UsageError extends Error {}

/** --help: print the usage and exit 0. */
export class HelpRequested extends Error {}

const SWITCHES = ["--charts-from-repositories"];

/** Reads the flags of a command: `valueFlags` take a value, SWITCHES none; --help anywhere wins. */
export function readFlags(argv: string[], valueFlags: string[], usage: string): { values: Record<string, string>; switches: Set<string> } {
    const values: Record<string, string> = {};
    const switches = new Set<string>();
    for (let i = 0; i < argv.length; i += 1) {
        const flag = argv[i];
        if (flag === "--help" || flag === "-h") throw new HelpRequested(usage);
        if (SWITCHES.includes(flag)) {
            switches.add(flag);
            continue;
        }
        if (!valueFlags.includes(flag)) throw new UsageError(`unknown argument ${JSON.stringify(flag)}\n${usage}`);
        const value = argv[i + 1];
        if (value === undefined || value.startsWith("--")) throw new UsageError(`${flag} needs a value\n${usage}`);
        values[flag.slice(2)] = value;
        i += 1;
    }
    return { values, switches };
}

/** The stack and chart options shared by render and policy. */
export function stackOptions(values: Record<string, string>, switches: Set<string>, env: NodeJS.ProcessEnv, usage: string): Omit<RenderOptions, "out"> {
    if (!values.stack && !values.config) throw new UsageError(`--stack or --config is required\n${usage}`);
    const stack = values.stack ?? path.basename(values.config).replace(/^Pulumi\.|\.ya?ml$/g, "");
    const configFile = values.config ?? path.join(ROOT, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(configFile)) throw new UsageError(`stack config file ${configFile} does not exist\n${usage}`);
    return {
        stack,
        configFile,
        chartsDir: values.charts ?? env.GREENPLUM_K8S_CHARTS ?? DEFAULT_CHARTS_DIR,
        chartsFromRepositories: switches.has("--charts-from-repositories"),
        ...(values["kube-version"] ? { kubeVersion: values["kube-version"] } : {}),
    };
}

export const STACK_FLAGS = ["--stack", "--config", "--charts", "--kube-version"];

export function parseArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): RenderOptions {
    const { values, switches } = readFlags(argv, [...STACK_FLAGS, "--out"], USAGE);
    if (!values.out) throw new UsageError(`--out is required\n${USAGE}`);
    return { ...stackOptions(values, switches, env, USAGE), out: values.out };
}

/** Stack outputs as `pulumi stack output --json` shows them: secrets hidden. */
export function maskedOutputs(run: ProgramRun): Record<string, unknown> {
    return Object.fromEntries(Object.entries(run.outputs).map(([k, v]) => [k, run.secretOutputs.includes(k) ? SECRET_PLACEHOLDER : maskSecrets(v)]));
}

/** A Go duration as the engine reads customTimeouts ("10m", "1h30m", "90s") in seconds; 0 when unset. */
export function durationSeconds(text: string): number {
    let seconds = 0;
    for (const [, amount, unit] of text.matchAll(/([0-9.]+)(h|m|s)/g)) seconds += Number(amount) * { h: 3600, m: 60, s: 1 }[unit as "h" | "m" | "s"];
    return seconds;
}

/** The URN an alias spec (an earlier type and name under the same parent) stands for. */
function aliasUrn(urn: string, alias: { type: string; name: string }): string {
    const [, head, qualifiedType] = /^(urn:pulumi:[^:]*::[^:]*::)(.*)::[^:]*$/.exec(urn) ?? ["", "", ""];
    const parents = qualifiedType.includes("$") ? `${qualifiedType.slice(0, qualifiedType.lastIndexOf("$"))}$` : "";
    return `${head}${parents}${alias.type}::${alias.name}`;
}

/** A resource as resources.json holds it: what a policy sees in a preview (inputs and options). */
export interface RenderedResourceRecord {
    type: string;
    name: string;
    urn: string;
    inputs: Record<string, unknown>;
    opts: {
        protect: boolean;
        /** Not visible to policies in @pulumi/policy 1.21; kept for readers of the render. */
        retainOnDelete: boolean;
        ignoreChanges: string[];
        deleteBeforeReplace: boolean;
        aliases: string[];
        customTimeouts: { createSeconds: number; updateSeconds: number; deleteSeconds: number };
        additionalSecretOutputs: string[];
        parent?: string;
    };
}

export function resourceRecord(r: RegisteredResource, inputs: unknown = maskSecrets(r.inputs)): RenderedResourceRecord {
    const o = r.options;
    const timeouts = o.customTimeouts;
    return {
        type: r.type,
        name: r.name,
        urn: r.urn,
        inputs: inputs as Record<string, unknown>,
        opts: {
            protect: o.protect,
            retainOnDelete: o.retainOnDelete,
            ignoreChanges: o.ignoreChanges,
            deleteBeforeReplace: o.deleteBeforeReplace,
            aliases: o.aliases.map((a) => aliasUrn(r.urn, a)),
            customTimeouts: {
                createSeconds: durationSeconds(timeouts?.create ?? ""),
                updateSeconds: durationSeconds(timeouts?.update ?? ""),
                deleteSeconds: durationSeconds(timeouts?.delete ?? ""),
            },
            additionalSecretOutputs: [],
            ...(o.parent ? { parent: o.parent } : {}),
        },
    };
}

/** Every resource of a run, each expanded chart's children right after the chart. */
export function withChartChildren(resources: RegisteredResource[], expansion: ChartExpansion): RegisteredResource[] {
    return resources.flatMap((r) => {
        const expanded = r.type === CHART_TYPE ? expansion.expanded.find((e) => e.chart === r) : undefined;
        return expanded ? [r, ...chartChildren(expanded)] : [r];
    });
}

export interface Render {
    run: ProgramRun;
    /** The program's resources and the charts' children, in registration order. */
    resources: RegisteredResource[];
    expansion: ChartExpansion;
    /** Config keys the program ignores though they look meant for it. */
    warnings: string[];
    helmVersion?: string;
}

/** Runs the program and expands its charts, in memory. */
export async function renderStack(options: Omit<RenderOptions, "out">): Promise<Render> {
    const { config, secretKeys } = readStackFile(options.configFile);
    // Loaded here, after the CLI checks, so a usage error does not pay for loading the SDKs.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require("../index") as () => Promise<Record<string, unknown>>;
    const run = await runProgram(program, config, { stack: options.stack, secretKeys });
    const helm = findHelm();
    const expansion = expandCharts(run.resources, { helm, chartsDir: options.chartsDir, fromRepositories: options.chartsFromRepositories, kubeVersion: options.kubeVersion });
    const helmVersion = "path" in helm ? helm.version : undefined;
    return { run, resources: withChartChildren(run.resources, expansion), expansion, warnings: [...stackConfigWarnings(config), ...acceptedDataClassWarnings(parseStackConfig(config))], helmVersion };
}

/** The files a render writes into --out. */
export const RENDER_FILES = ["manifests.yaml", "resources.json", "outputs.json"];

/**
 * Renders into options.out. A refused render removes an earlier render's files from there, so
 * no stale output is taken for this config, and says so in its error.
 */
export async function render(options: RenderOptions): Promise<Render> {
    let rendered: Render;
    try {
        rendered = await renderStack(options);
    } catch (err) {
        const removed = RENDER_FILES.filter((file) => fs.existsSync(path.join(options.out, file)));
        for (const file of removed) fs.rmSync(path.join(options.out, file));
        if (removed.length > 0 && err instanceof Error) err.message += `\n(removed the earlier render's ${removed.join(", ")} from ${options.out}: they were not made from this config)`;
        throw err;
    }
    const manifests = kubernetesObjects(rendered.resources).map((o) => stringify(o, { lineWidth: 0 })).join("---\n");
    const records = rendered.resources.map((r) => resourceRecord(r));
    fs.mkdirSync(options.out, { recursive: true });
    fs.writeFileSync(path.join(options.out, "manifests.yaml"), manifests);
    fs.writeFileSync(path.join(options.out, "resources.json"), `${JSON.stringify(records, null, 2)}\n`);
    fs.writeFileSync(path.join(options.out, "outputs.json"), `${JSON.stringify(maskedOutputs(rendered.run), null, 2)}\n`);
    return rendered;
}

/** What the render did, for the terminal: counts, charts expanded, charts left unexpanded and why. */
export function summary(stack: string, out: string | undefined, rendered: Render): string[] {
    const objects = kubernetesObjects(rendered.resources).length;
    const fromCharts = rendered.expansion.expanded.reduce((n, e) => n + e.objects.length, 0);
    const lines = [
        `rendered stack ${stack}: ${rendered.resources.length} resources, ${objects} Kubernetes objects (${fromCharts} from charts)${out ? ` → ${out}/{manifests.yaml,resources.json,outputs.json}` : ""}`,
    ];
    for (const e of rendered.expansion.expanded) lines.push(`  chart ${describeChart(e.chart)}: ${e.objects.length} objects, helm ${rendered.helmVersion} from ${e.source}`);
    for (const u of rendered.expansion.unexpanded) lines.push(`  chart ${describeChart(u.chart)} LEFT UNEXPANDED (its objects are not in manifests.yaml): ${u.reason}`);
    return lines;
}

/** Runs a command-line body: --help prints usage (exit 0), bad flags exit 2, any other error 1. */
export async function runCommand(body: () => Promise<void>): Promise<void> {
    try {
        await body();
    } catch (err) {
        if (err instanceof HelpRequested) {
            console.log(err.message);
            return;
        }
        console.error(err instanceof Error ? err.message : String(err));
        process.exit(err instanceof UsageError ? 2 : 1);
    }
}

async function main(): Promise<void> {
    const options = parseArgs(process.argv.slice(2));
    const rendered = await render(options);
    for (const warning of rendered.warnings) console.error(`warning: ${warning}`);
    console.log(summary(options.stack, options.out, rendered).join("\n"));
}

if (require.main === module) void runCommand(main);
