/**
 * Offline render: evaluates the real program under Pulumi's mock runtime with a stack's config and
 * writes what it would create, without a cluster, cloud credentials or the Pulumi CLI.
 *
 *   npm run render -- --stack <name> [--config <file>] --out <dir>
 */
import * as fs from "fs";
import * as path from "path";
import { stringify } from "yaml";
import { kubernetesObjects } from "./manifests";
import { maskSecrets, runProgram, SECRET_PLACEHOLDER, type ProgramRun } from "./mock-runtime";
import { readStackFile } from "./stack-file";

const USAGE = "usage: npm run render -- --stack <name> [--config <file>] --out <dir>";

export interface RenderOptions {
    stack: string;
    configFile: string;
    out: string;
}

/** Exit status 2 for bad flags, as command-line tools do. */
export class UsageError extends Error {}

export function parseArgs(argv: string[]): RenderOptions {
    const values: Record<string, string> = {};
    for (let i = 0; i < argv.length; i += 2) {
        const flag = argv[i];
        if (!["--stack", "--config", "--out"].includes(flag)) throw new UsageError(`unknown argument ${JSON.stringify(flag)}\n${USAGE}`);
        const value = argv[i + 1];
        if (value === undefined || value.startsWith("--")) throw new UsageError(`${flag} needs a value\n${USAGE}`);
        values[flag.slice(2)] = value;
    }
    if (!values.out) throw new UsageError(`--out is required\n${USAGE}`);
    if (!values.stack && !values.config) throw new UsageError(`--stack or --config is required\n${USAGE}`);
    const stack = values.stack ?? path.basename(values.config).replace(/^Pulumi\.|\.ya?ml$/g, "");
    const configFile = values.config ?? path.join(__dirname, "..", `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(configFile)) throw new UsageError(`stack config file ${configFile} does not exist\n${USAGE}`);
    return { stack, configFile, out: values.out };
}

/** Stack outputs as `pulumi stack output --json` shows them: secrets hidden. */
export function maskedOutputs(run: ProgramRun): Record<string, unknown> {
    return Object.fromEntries(Object.entries(run.outputs).map(([k, v]) => [k, run.secretOutputs.includes(k) ? SECRET_PLACEHOLDER : maskSecrets(v)]));
}

export async function render(options: RenderOptions): Promise<ProgramRun> {
    const { config, secretKeys } = readStackFile(options.configFile);
    // Loaded here, after the CLI checks, so a usage error does not pay for loading the SDKs.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require("../index") as () => Promise<Record<string, unknown>>;
    const run = await runProgram(program, config, { stack: options.stack, secretKeys });

    const manifests = kubernetesObjects(run.resources).map((o) => stringify(o, { lineWidth: 0 })).join("---\n");
    const resources = run.resources.map((r) => ({ type: r.type, name: r.name, urn: r.urn, inputs: maskSecrets(r.inputs) }));
    fs.mkdirSync(options.out, { recursive: true });
    fs.writeFileSync(path.join(options.out, "manifests.yaml"), manifests);
    fs.writeFileSync(path.join(options.out, "resources.json"), `${JSON.stringify(resources, null, 2)}\n`);
    fs.writeFileSync(path.join(options.out, "outputs.json"), `${JSON.stringify(maskedOutputs(run), null, 2)}\n`);
    return run;
}

async function main(): Promise<void> {
    try {
        const options = parseArgs(process.argv.slice(2));
        const run = await render(options);
        console.log(`rendered stack ${options.stack}: ${run.resources.length} resources → ${options.out}/{manifests.yaml,resources.json,outputs.json}`);
    } catch (err) {
        console.error(err instanceof Error ? err.message : String(err));
        process.exit(err instanceof UsageError ? 2 : 1);
    }
}

if (require.main === module) void main();
