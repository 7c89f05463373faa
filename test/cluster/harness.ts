/**
 * The real-cluster scenarios' tools: the real `pulumi` and `kubectl` from `npm run cluster:up`,
 * stacks whose config files live in the cluster's state directory, app pods configured from
 * stack outputs, and a record of every step's time.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { clusterEnvironment, clusterImages, context, type ClusterImages } from "../../tools/local-cluster/cluster";
import { CONTEXT } from "../../tools/local-cluster/plan";

const ctx = context(process.env, () => undefined);
export const ENV: NodeJS.ProcessEnv = { ...process.env, ...clusterEnvironment(ctx) };
export const STATE_DIR = ctx.paths.root;
const PROJECT_DIR = path.resolve(__dirname, "../..");
const RESULTS = path.join(STATE_DIR, "test-cluster-results.json");

export function images(): Required<ClusterImages> {
    const found = clusterImages(ctx);
    if (!found.greenplum) throw new Error("the local cluster has no Greenplum image: run GPHOME=... npm run cluster:up");
    return found as Required<ClusterImages>;
}

export interface CommandResult {
    status: number | null;
    stdout: string;
    stderr: string;
    seconds: number;
}

/** Runs a command of the cluster's PATH from the project directory, bounded in time. */
export function command(cmd: string, args: string[], options: { input?: string; timeoutMs?: number } = {}): CommandResult {
    const started = Date.now();
    const r = spawnSync(cmd, args, { cwd: PROJECT_DIR, env: ENV, input: options.input, encoding: "utf8", timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 });
    return { status: r.status, stdout: r.stdout ?? "", stderr: `${r.stderr ?? ""}${r.error ? String(r.error) : ""}`, seconds: Math.round((Date.now() - started) / 100) / 10 };
}

export function kubectl(args: string[], options: { input?: string; timeoutMs?: number } = {}): CommandResult {
    return command("kubectl", ["--context", CONTEXT, ...args], options);
}

/** kubectl that must succeed; returns stdout. */
export function kubectlOk(args: string[], options: { input?: string; timeoutMs?: number } = {}): string {
    const r = kubectl(args, options);
    if (r.status !== 0) throw new Error(`kubectl ${args.join(" ")} failed: ${r.stderr || r.stdout}`);
    return r.stdout;
}

/** Appends one scenario step's figures to the run's results (read for the README and the closing note). */
export function record(scenario: string, step: string, figures: Record<string, unknown>): void {
    const all = fs.existsSync(RESULTS) ? (JSON.parse(fs.readFileSync(RESULTS, "utf8")) as unknown[]) : [];
    all.push({ scenario, step, at: new Date().toISOString(), ...figures });
    fs.writeFileSync(RESULTS, `${JSON.stringify(all, null, 2)}\n`);
    console.log(`${scenario} / ${step}: ${JSON.stringify(figures)}`);
}

type ConfigValues = Record<string, unknown>;

/** A dev-profile stack on the local cluster: local-path storage installed by the program, the images built here. */
export function localDevConfig(overrides: ConfigValues = {}): ConfigValues {
    const built = images();
    const base: ConfigValues = {
        "greenplum-k8s:profile": "dev",
        "greenplum-k8s:target": { kind: "existing", context: CONTEXT },
        "greenplum-k8s:storage": {
            backend: "local-path",
            localPath: { path: path.join(STATE_DIR, "local-path"), image: built.localPathProvisioner, helperImage: built.localPathHelper },
        },
        "greenplum-k8s:greenplum": {
            image: built.greenplum,
            service: { type: "ClusterIP", loadBalancerSourceRanges: [] },
            masterAndStandby: { cpu: "" },
            segments: { cpu: "" },
        },
    };
    return mergeConfig(base, overrides);
}

/** Deep merge of config objects: overrides win, arrays are replaced. */
export function mergeConfig(base: ConfigValues, overrides: ConfigValues): ConfigValues {
    const out: ConfigValues = { ...base };
    for (const [key, value] of Object.entries(overrides)) {
        const current = out[key];
        const bothObjects = [current, value].every((v) => typeof v === "object" && v !== null && !Array.isArray(v));
        out[key] = bothObjects ? mergeConfig(current as ConfigValues, value as ConfigValues) : value;
    }
    return out;
}

export interface StackOutputs {
    host: string;
    port: number;
    database: string;
    username: string;
    password: string;
    connectionUri: string;
    namespace: string;
}

/** One Pulumi stack of this project, driven through the real CLI. */
export class Stack {
    readonly configFile: string;

    constructor(readonly name: string, config: ConfigValues) {
        this.configFile = path.join(STATE_DIR, "stacks", `Pulumi.${name}.yaml`);
        this.setConfig(config);
        if (command("pulumi", ["stack", "select", name, "--non-interactive"]).status !== 0) {
            const r = command("pulumi", ["stack", "init", name, "--non-interactive"]);
            if (r.status !== 0) throw new Error(`pulumi stack init ${name} failed: ${r.stderr}`);
        }
    }

    /** The stack's whole config (JSON is YAML). */
    setConfig(config: ConfigValues): void {
        fs.mkdirSync(path.dirname(this.configFile), { recursive: true });
        fs.writeFileSync(this.configFile, `${JSON.stringify({ config }, null, 2)}\n`);
    }

    pulumi(args: string[], timeoutMs = 120_000): CommandResult {
        return command("pulumi", [...args, "--stack", this.name, "--config-file", this.configFile, "--non-interactive"], { timeoutMs });
    }

    /** A command that takes the stack but not a config file (`pulumi state ...`). */
    pulumiState(args: string[]): CommandResult {
        return command("pulumi", ["state", ...args, "--stack", this.name, "--non-interactive"]);
    }

    pulumiOk(args: string[], timeoutMs = 120_000): CommandResult {
        const r = this.pulumi(args, timeoutMs);
        if (r.status !== 0) throw new Error(`pulumi ${args.join(" ")} failed (${r.status}):\n${tail(r.stdout)}\n${tail(r.stderr)}`);
        return r;
    }

    up(timeoutMs = 30 * 60_000): CommandResult {
        return this.pulumi(["up", "--yes", "--skip-preview"], timeoutMs);
    }

    outputs(): StackOutputs {
        const r = command("pulumi", ["stack", "output", "--json", "--show-secrets", "--stack", this.name, "--non-interactive"]);
        if (r.status !== 0) throw new Error(`pulumi stack output failed: ${r.stderr}`);
        return JSON.parse(r.stdout) as StackOutputs;
    }

    /** Removes the stack and its config file (its resources must be destroyed first). */
    remove(): void {
        command("pulumi", ["stack", "rm", this.name, "--yes", "--force", "--non-interactive"]);
        fs.rmSync(this.configFile, { force: true });
    }
}

export function tail(text: string, lines = 30): string {
    return text.split("\n").filter((l) => !/using pulumi-\S+ from \$PATH|is expected to have version/.test(l)).slice(-lines).join("\n");
}

export interface AppRun {
    phase: string;
    /** What the script printed. */
    logs: string;
    seconds: number;
    /** Seconds until the master first accepted a TCP connection from the pod (undefined: never, within the wait). */
    reachableAfter?: number;
}

/**
 * Waits (as an app's connection pool retries) until the master accepts connections: the
 * NetworkPolicy engine admits a new pod only once it has seen the pod's address.
 */
function waitForMaster(seconds: number): string {
    return [
        `for i in $(seq 0 ${seconds}); do`,
        '  if pg_isready -q -h "$PGHOST" -p "$PGPORT" -t 2; then echo "reachable-after $i"; break; fi',
        "  sleep 1",
        "done",
    ].join("\n");
}

/** An app pod started by startApp. */
export interface AppHandle {
    namespace: string;
    name: string;
    started: number;
    timeoutSeconds: number;
}

/**
 * Starts an application pod in its own namespace, configured only from the stack outputs (a Secret
 * made from them, as an app's deployment would be), running `script` with psql from the Greenplum image.
 */
export function startApp(namespace: string, labels: Record<string, string>, outputs: StackOutputs, script: string, options: { timeoutSeconds?: number; reachWithinSeconds?: number } = {}): AppHandle {
    const started = Date.now();
    const name = `app-${Date.now().toString(36)}`;
    const manifests = [
        { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace, labels: { "pod-security.kubernetes.io/enforce": "restricted", ...labels } } },
        {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name, namespace },
            stringData: {
                PGHOST: outputs.host,
                PGPORT: String(outputs.port),
                PGDATABASE: outputs.database,
                PGUSER: outputs.username,
                PGPASSWORD: outputs.password,
                CONNECTION_URI: outputs.connectionUri,
            },
        },
        {
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name, namespace },
            spec: {
                restartPolicy: "Never",
                securityContext: { runAsNonRoot: true, runAsUser: 1001, seccompProfile: { type: "RuntimeDefault" } },
                containers: [
                    {
                        name: "app",
                        image: images().greenplum,
                        imagePullPolicy: "Never",
                        command: ["/bin/bash", "-c", `source /usr/local/greenplum-db/greenplum_path.sh\n${waitForMaster(options.reachWithinSeconds ?? 30)}\n${script}`],
                        envFrom: [{ secretRef: { name } }],
                        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
                    },
                ],
            },
        },
    ];
    kubectlOk(["apply", "-f", "-"], { input: manifests.map((m) => JSON.stringify(m)).join("\n") });
    return { namespace, name, started, timeoutSeconds: options.timeoutSeconds ?? 180 };
}

/** Waits (bounded) for an app pod to finish; its output and how long it ran. */
export function finishApp(app: AppHandle): AppRun {
    const { namespace, name } = app;
    let phase = "Pending";
    while ((Date.now() - app.started) / 1000 < app.timeoutSeconds && !["Succeeded", "Failed"].includes(phase)) {
        spawnSync("sleep", ["1"]);
        phase = kubectl(["-n", namespace, "get", "pod", name, "-o", "jsonpath={.status.phase}"]).stdout.trim();
    }
    const output = kubectl(["-n", namespace, "logs", name]).stdout;
    kubectl(["-n", namespace, "delete", "pod", name, "--wait=false"]);
    const reachable = /^reachable-after (\d+)\n/.exec(output);
    return {
        phase,
        logs: reachable ? output.slice(reachable[0].length) : output,
        seconds: Math.round((Date.now() - app.started) / 100) / 10,
        ...(reachable ? { reachableAfter: Number(reachable[1]) } : {}),
    };
}

/** startApp, then finishApp. */
export function runApp(namespace: string, labels: Record<string, string>, outputs: StackOutputs, script: string, options: { timeoutSeconds?: number; reachWithinSeconds?: number } = {}): AppRun {
    return finishApp(startApp(namespace, labels, outputs, script, options));
}
