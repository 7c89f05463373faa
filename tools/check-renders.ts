/**
 * The render gate of `npm test`: renders every shipped stack with its charts expanded, validates
 * the manifests as a cluster and a linter would (../shared/tools/check-manifests.mjs: schemas,
 * CRDs found in the render, Polaris, Pod Security "restricted") and evaluates the policy pack
 * over all resources with the stack's pack config. Fails on a chart left unexpanded, any schema
 * error, a Polaris "danger" or restricted-profile violation in an object the program itself
 * creates, or any policy violation.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { evaluatePack, formatViolations, readPackConfig } from "../policy/evaluate";
import { kubernetesObjects } from "./manifests";
import { defaultPackConfig } from "./policy";
import { parseArgs, render, resourceRecord, summary } from "./render";
import { unwrapSecrets } from "./mock-runtime";

const ROOT = path.join(__dirname, "..");
const CHECKER = path.join(ROOT, "..", "shared", "tools", "check-manifests.mjs");
const STACKS = ["dev", "gke", "dev-nfs"];

interface CheckResult {
    object: string;
    schemaErrors: string[];
    polaris: { level: string; check: string; message: string }[];
    pss: string[];
}

function checkManifests(dir: string): CheckResult[] {
    const result = spawnSync(process.execPath, [CHECKER, path.join(dir, "manifests.yaml"), "--json"], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024, timeout: 120_000 });
    if (result.status !== 0 && result.status !== 1) throw new Error(`check-manifests failed: ${result.stderr || result.error?.message}`);
    return (JSON.parse(result.stdout) as { results: CheckResult[] }).results;
}

async function checkStack(stack: string, out: string): Promise<string[]> {
    const failures: string[] = [];
    const rendered = await render(parseArgs(["--stack", stack, "--out", out]));
    console.log(summary(stack, out, rendered).join("\n"));
    for (const u of rendered.expansion.unexpanded) failures.push(`${stack}: chart ${u.chart.name} left unexpanded: ${u.reason}`);

    const owned = new Set(
        kubernetesObjects(rendered.resources.filter((r) => !r.options.parent.includes("$kubernetes:helm.sh/v4:Chart::"))).map(
            (o) => `${o.kind}/${o.metadata.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata.name}`,
        ),
    );
    const results = checkManifests(out);
    const count = (rs: CheckResult[]) => ({
        schemaErrors: rs.reduce((n, r) => n + r.schemaErrors.length, 0),
        danger: rs.reduce((n, r) => n + r.polaris.filter((p) => p.level === "danger").length, 0),
        pss: rs.reduce((n, r) => n + r.pss.length, 0),
    });
    const ours = count(results.filter((r) => owned.has(r.object)));
    const charts = count(results.filter((r) => !owned.has(r.object)));
    console.log(
        `  manifests: objects=${results.length} schemaErrors=${ours.schemaErrors + charts.schemaErrors}; ` +
            `the stack's own ${owned.size}: polarisDanger=${ours.danger} pssRestrictedViolations=${ours.pss}; ` +
            `charts' ${results.length - owned.size}: polarisDanger=${charts.danger} pssRestrictedViolations=${charts.pss} (upstream charts, reported only)`,
    );
    for (const r of results) {
        for (const e of r.schemaErrors) failures.push(`${stack}: ${r.object}: schema: ${e}`);
        if (!owned.has(r.object)) continue;
        for (const p of r.polaris.filter((f) => f.level === "danger")) failures.push(`${stack}: ${r.object}: Polaris danger ${p.check}: ${p.message}`);
        for (const p of r.pss) failures.push(`${stack}: ${r.object}: Pod Security restricted: ${p}`);
    }

    const packConfig = defaultPackConfig(path.join(ROOT, `Pulumi.${stack}.yaml`));
    const violations = evaluatePack(
        rendered.resources.map((r) => resourceRecord(r, unwrapSecrets(r.inputs))),
        readPackConfig(packConfig),
    );
    console.log(`  policy pack (${packConfig}.json) over ${rendered.resources.length} resources: ${violations.length} violations`);
    if (violations.length > 0) failures.push(`${stack}: policy violations:\n${formatViolations(violations)}`);
    return failures;
}

async function main(): Promise<void> {
    if (!fs.existsSync(path.join(path.dirname(CHECKER), "node_modules"))) {
        console.error(`${CHECKER} needs its packages: npm ci --prefix ${path.relative(process.cwd(), path.dirname(CHECKER))}`);
        process.exit(1);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "renders-"));
    const failures: string[] = [];
    try {
        for (const stack of STACKS) failures.push(...(await checkStack(stack, path.join(dir, stack))));
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
    if (failures.length > 0) {
        console.error(failures.join("\n"));
        process.exit(1);
    }
    console.log(`renders: ${STACKS.length} stacks rendered, validated and policy-checked`);
}

void main();
