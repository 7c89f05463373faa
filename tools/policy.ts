/**
 * Evaluates the policy pack offline over a render (charts expanded, resource options included)
 * and prints the violations as `pulumi preview --policy-pack policy` would. Exit 1 when a
 * mandatory policy is violated, as the preview fails then.
 */
import * as path from "path";
import { evaluatePack, readPackConfig, type PackViolation } from "../policy/evaluate";
import { allPolicies } from "../policy/policies";
import { parseStackConfig } from "../stacks";
import { unwrapSecrets } from "./mock-runtime";
import { readFlags, renderStack, resourceRecord, runCommand, STACK_FLAGS, stackOptions, summary } from "./render";
import { readStackFile } from "./stack-file";

export const USAGE = `usage: npm run policy -- (--stack <name> | --config <file>) [options]

  --stack <name>               evaluate Pulumi.<name>.yaml
  --config <file>              evaluate a file in the Pulumi.<stack>.yaml format
  --policy-config <name|file>  dev, production, or a --policy-pack-config file
                               (default: production for the production profile, else dev)
  --charts <dir>, --charts-from-repositories, --kube-version <version>   as for npm run render
  --help                       show this`;

const PACK = "greenplum-k8s";
const PACK_VERSION = "v0.1.0";

/** The pack config a stack is previewed with in CI: production.json for production stacks. */
export function defaultPackConfig(configFile: string): "dev" | "production" {
    return parseStackConfig(readStackFile(configFile).config).profile === "production" ? "production" : "dev";
}

/** The violations as `pulumi preview` lists them under "Policies:". */
export function formatAsPreview(violations: PackViolation[], packSource: string): string {
    const mandatory = violations.some((v) => v.enforcementLevel === "mandatory");
    const mark = violations.length === 0 ? "✅" : mandatory ? "❌" : "⚠️";
    const lines = ["Policies:", `    ${mark} ${PACK}@${PACK_VERSION} (local: ${packSource})`];
    for (const v of violations) {
        const description = allPolicies.find((p) => p.name === v.policy)?.description ?? "";
        lines.push(`        - [${v.enforcementLevel}]  ${v.policy}  ${v.type ? `(${v.type}: ${v.resource})` : ""}`.trimEnd());
        lines.push(`          ${description}`);
        lines.push(`          ${v.message}`);
    }
    return lines.join("\n");
}

async function main(): Promise<void> {
    const { values, switches } = readFlags(process.argv.slice(2), [...STACK_FLAGS, "--policy-config"], USAGE);
    const options = stackOptions(values, switches, process.env, USAGE);
    const packConfigName = values["policy-config"] ?? defaultPackConfig(options.configFile);
    const packConfig = readPackConfig(packConfigName);
    const rendered = await renderStack(options);
    for (const warning of rendered.warnings) console.error(`warning: ${warning}`);
    console.log(summary(options.stack, undefined, rendered).join("\n"));
    // Policies see real values in a preview; secrets are unwrapped as the engine hands them over.
    const records = rendered.resources.map((r) => resourceRecord(r, unwrapSecrets(r.inputs)));
    const violations = evaluatePack(records, packConfig);
    console.log(`policy config: ${packConfigName}`);
    console.log(formatAsPreview(violations, path.relative(process.cwd(), path.join(__dirname, "..", "policy")) || "policy"));
    if (violations.some((v) => v.enforcementLevel === "mandatory")) process.exit(1);
}

if (require.main === module) void runCommand(main);
