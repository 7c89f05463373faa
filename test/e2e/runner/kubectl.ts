/**
 * A `kubectl` over the pod runner: enough of get, patch, exec, delete and logs for `bin/gp-failover`
 * and for people debugging the pods. Requests arrive on a unix socket (see `serve`); the
 * `test/e2e/bin/kubectl` stand-in sends them.
 */
import * as fs from "fs";
import * as net from "net";
import type { Cluster } from "./cluster";

export interface KubectlResult {
    status: number;
    stdout: string;
    stderr: string;
}

export interface KubectlCommand {
    namespace?: string;
    verb: string;
    args: string[];
    flags: Record<string, string>;
    /** After `--` (exec). */
    command: string[];
}

const VALUE_FLAGS = new Set(["-n", "--namespace", "--context", "-o", "--output", "-p", "--patch", "--type", "-c", "--container", "--grace-period", "--kubeconfig", "-l", "--selector"]);

/** Splits kubectl's command line into the verb, its arguments and flags (`--a=b` and `--a b`). */
export function parseKubectl(argv: string[]): KubectlCommand {
    const dashDash = argv.indexOf("--");
    const head = dashDash >= 0 ? argv.slice(0, dashDash) : argv;
    const command = dashDash >= 0 ? argv.slice(dashDash + 1) : [];
    const flags: Record<string, string> = {};
    const positional: string[] = [];
    for (let i = 0; i < head.length; i++) {
        const a = head[i];
        if (a.startsWith("-")) {
            const eq = a.indexOf("=");
            if (eq > 0) flags[a.slice(0, eq)] = a.slice(eq + 1);
            else if (VALUE_FLAGS.has(a)) flags[a] = head[++i] ?? "";
            else flags[a] = "true";
        } else {
            positional.push(a);
        }
    }
    const namespace = flags["-n"] ?? flags["--namespace"];
    return { namespace, verb: positional[0] ?? "", args: positional.slice(1), flags, command };
}

/** kubectl's JSONPath for what scripts use: `{.a.b}`, keys with dashes, `[0]` and `[?(@.k=="v")]`. */
export function jsonPath(object: unknown, template: string): string {
    const expr = /^\{(.*)\}$/.exec(template.trim())?.[1];
    if (expr === undefined) throw new Error(`unsupported jsonpath ${template}`);
    let current: unknown[] = [object];
    const tokens = expr.match(/\.[^.[\]]+|\[\?\(@\.[^)]+\)\]|\[\d+\]|\[\*\]/g) ?? [];
    for (const token of tokens) {
        const next: unknown[] = [];
        for (const value of current) {
            if (value === null || value === undefined) continue;
            if (token.startsWith(".")) {
                next.push((value as Record<string, unknown>)[token.slice(1)]);
            } else if (token === "[*]") {
                if (Array.isArray(value)) next.push(...value);
            } else if (/^\[\d+\]$/.test(token)) {
                if (Array.isArray(value)) next.push(value[Number(token.slice(1, -1))]);
            } else {
                const m = /^\[\?\(@\.([^=]+)==["'](.*)["']\)\]$/.exec(token);
                if (!m) throw new Error(`unsupported jsonpath filter ${token}`);
                if (Array.isArray(value)) next.push(...value.filter((v) => (v as Record<string, unknown>)?.[m[1]] === m[2]));
            }
        }
        current = next.filter((v) => v !== undefined);
    }
    return current.map((v) => (typeof v === "object" ? JSON.stringify(v) : String(v))).join(" ");
}

/** Label selectors as kubectl takes them: `k=v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, comma-separated. */
export function matchesSelector(selector: string, labels: Record<string, string>): boolean {
    const terms = selector.match(/[^,(]+(\([^)]*\))?/g) ?? [];
    return terms.every((raw) => {
        const term = raw.trim();
        let m = /^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
        if (m) {
            const values = m[3].split(",").map((v) => v.trim());
            return m[2] === "in" ? values.includes(labels[m[1]]) : !values.includes(labels[m[1]]);
        }
        m = /^([^\s!=]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
        if (m) return m[2] === "!=" ? labels[m[1]] !== m[3] : labels[m[1]] === m[3];
        if (/^![^\s]+$/.test(term)) return !(term.slice(1) in labels);
        return term in labels;
    });
}

function notFound(kind: string, name: string): KubectlResult {
    return { status: 1, stdout: "", stderr: `Error from server (NotFound): ${kind} "${name}" not found\n` };
}

function podObject(cluster: Cluster, name: string): Record<string, unknown> | undefined {
    if (!cluster.podNames().includes(name)) return undefined;
    const p = cluster.pod(name);
    if (p.phase === "Gone") return undefined;
    return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace: cluster.plan.namespace, labels: p.pod.labels, ...(p.phase === "Terminating" ? { deletionTimestamp: new Date().toISOString() } : {}) },
        status: {
            phase: p.phase === "Terminating" ? "Running" : p.phase,
            podIP: p.address,
            conditions: [{ type: "Ready", status: p.lost ? "Unknown" : p.ready ? "True" : "False" }],
            containerStatuses: [{ name: p.pod.spec.containers[0].name, ready: p.ready, restartCount: p.restarts, state: { [p.state]: {} } }],
        },
    };
}

function output(object: Record<string, unknown>, format: string | undefined, table: () => string): KubectlResult {
    if (!format) return { status: 0, stdout: table(), stderr: "" };
    if (format === "json") return { status: 0, stdout: `${JSON.stringify(object, null, 2)}\n`, stderr: "" };
    if (format.startsWith("jsonpath=")) return { status: 0, stdout: jsonPath(object, format.slice("jsonpath=".length)), stderr: "" };
    if (format === "name") return { status: 0, stdout: `${String(object.kind).toLowerCase()}/${(object.metadata as { name: string }).name}\n`, stderr: "" };
    return { status: 1, stdout: "", stderr: `error: output format ${format} is not supported by the pod runner's kubectl\n` };
}

function kindOf(resource: string): string {
    const kinds: Record<string, string> = { po: "pod", pod: "pod", pods: "pod", cm: "configmap", configmap: "configmap", configmaps: "configmap", svc: "service", service: "service", services: "service", ep: "endpoints", endpoints: "endpoints" };
    const [type] = resource.split("/");
    return kinds[type] ?? type;
}

function splitResource(args: string[]): { kind: string; name?: string } {
    if (args[0]?.includes("/")) return { kind: kindOf(args[0]), name: args[0].split("/")[1] };
    return { kind: kindOf(args[0] ?? ""), name: args[1] };
}

function get(cluster: Cluster, cmd: KubectlCommand): KubectlResult {
    const { kind, name } = splitResource(cmd.args);
    const format = cmd.flags["-o"] ?? cmd.flags["--output"];
    if (kind === "pod") {
        if (!name) {
            const selector = cmd.flags["-l"] ?? cmd.flags["--selector"];
            const rows = (cluster.podNames().map((n) => podObject(cluster, n)).filter(Boolean) as Record<string, any>[]).filter((r) => !selector || matchesSelector(selector, r.metadata.labels));
            if (format?.startsWith("jsonpath=") || format === "json") return output({ apiVersion: "v1", kind: "List", items: rows, metadata: { name: "" } }, format, () => "");
            const table = ["NAME READY STATUS RESTARTS IP", ...rows.map((r) => `${r.metadata.name} ${r.status.containerStatuses[0].ready ? "1/1" : "0/1"} ${r.status.phase} ${r.status.containerStatuses[0].restartCount} ${r.status.podIP}`)];
            return { status: 0, stdout: `${table.join("\n")}\n`, stderr: "" };
        }
        const pod = podObject(cluster, name);
        if (!pod) return notFound("pods", name);
        return output(pod, format, () => `NAME READY STATUS\n${name} ${(pod.status as any).containerStatuses[0].ready ? "1/1" : "0/1"} ${(pod.status as any).phase}\n`);
    }
    if (kind === "configmap" && name) {
        const data = cluster.plan.configMaps.get(name);
        if (!data) return notFound("configmaps", name);
        return output({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: cluster.plan.namespace }, data }, format, () => `NAME DATA\n${name} ${Object.keys(data).length}\n`);
    }
    if ((kind === "service" || kind === "endpoints") && name) {
        if (!cluster.plan.services.some((s) => s.name === name)) return notFound(kind === "service" ? "services" : "endpoints", name);
        const service = cluster.service(name);
        const addresses = cluster.endpoints(name).map((p) => ({ ip: p.address, targetRef: { kind: "Pod", name: p.name } }));
        const object =
            kind === "service"
                ? { apiVersion: "v1", kind: "Service", metadata: { name, namespace: cluster.plan.namespace }, spec: { selector: service.selector, ports: service.ports } }
                : { apiVersion: "v1", kind: "Endpoints", metadata: { name, namespace: cluster.plan.namespace }, subsets: addresses.length ? [{ addresses }] : [] };
        return output(object, format, () => `NAME ENDPOINTS\n${name} ${addresses.map((a) => a.ip).join(",") || "<none>"}\n`);
    }
    return { status: 1, stdout: "", stderr: `error: the pod runner's kubectl cannot get ${cmd.args.join(" ")}\n` };
}

function patch(cluster: Cluster, cmd: KubectlCommand): KubectlResult {
    const { kind, name } = splitResource(cmd.args);
    const type = cmd.flags["--type"] ?? "strategic";
    if (type !== "merge" && type !== "strategic") return { status: 1, stdout: "", stderr: `error: patch type ${type} is not supported by the pod runner's kubectl\n` };
    const body = JSON.parse(cmd.flags["-p"] ?? cmd.flags["--patch"] ?? "{}") as Record<string, any>;
    if (kind === "configmap" && name) {
        if (!cluster.plan.configMaps.has(name)) return notFound("configmaps", name);
        cluster.patchConfigMap(name, body.data ?? {});
        return { status: 0, stdout: `configmap/${name} patched\n`, stderr: "" };
    }
    if (kind === "service" && name) {
        if (!cluster.plan.services.some((s) => s.name === name)) return notFound("services", name);
        cluster.patchServiceSelector(name, body.spec?.selector ?? {});
        return { status: 0, stdout: `service/${name} patched\n`, stderr: "" };
    }
    return { status: 1, stdout: "", stderr: `error: the pod runner's kubectl cannot patch ${cmd.args.join(" ")}\n` };
}

/** Runs one kubectl command line against the cluster. */
export async function kubectl(cluster: Cluster, argv: string[], stdin?: string): Promise<KubectlResult> {
    const cmd = parseKubectl(argv);
    if (cmd.namespace && cmd.namespace !== cluster.plan.namespace) {
        return { status: 1, stdout: "", stderr: `Error from server (NotFound): namespaces "${cmd.namespace}" not found\n` };
    }
    switch (cmd.verb) {
        case "get":
            return get(cluster, cmd);
        case "patch":
            return patch(cluster, cmd);
        case "exec": {
            const name = cmd.args[0];
            if (!name) return { status: 1, stdout: "", stderr: "error: pod name required\n" };
            if (cluster.takeDroppedExec(name, cmd.command)) {
                return { status: 1, stdout: "", stderr: "error: error reading from error stream: next reader: websocket: close 1006 (abnormal closure): unexpected EOF\n" };
            }
            const r = await cluster.exec(name, cmd.command, { input: cmd.flags["-i"] || cmd.flags["--stdin"] ? stdin : undefined });
            if (r.status === 126 && r.stderr.includes("is not running")) {
                return { status: 1, stdout: "", stderr: `error: unable to upgrade connection: container not found ("${cluster.pod(name).pod.spec.containers[0].name}")\n` };
            }
            return r;
        }
        case "delete": {
            const { kind, name } = splitResource(cmd.args);
            if (kind !== "pod" || !name) return { status: 1, stdout: "", stderr: "error: the pod runner's kubectl deletes pods only\n" };
            if (!podObject(cluster, name)) return notFound("pods", name);
            const grace = cmd.flags["--grace-period"] !== undefined ? Number(cmd.flags["--grace-period"]) : undefined;
            const deletion = cluster.deletePod(name, cmd.flags["--force"] ? 0 : grace);
            if (cmd.flags["--wait"] !== "false") await deletion;
            return { status: 0, stdout: `pod "${name}" deleted\n`, stderr: "" };
        }
        case "logs": {
            const name = cmd.args[0];
            if (!name || !podObject(cluster, name)) return notFound("pods", name ?? "");
            return { status: 0, stdout: cluster.pod(name).containerLog(cmd.flags["--previous"] === "true" || cmd.flags["-p"] === "true"), stderr: "" };
        }
        default:
            return { status: 1, stdout: "", stderr: `error: the pod runner's kubectl does not support "${cmd.verb}"\n` };
    }
}

/** Serves kubectl requests (one JSON line `{argv, stdin}` in, one JSON line result out) on `socketPath`. */
export function serve(cluster: Cluster, socketPath: string, extra?: (argv: string[]) => Promise<KubectlResult | undefined>): net.Server {
    fs.rmSync(socketPath, { force: true });
    const server = net.createServer((conn) => {
        let buffer = "";
        conn.on("data", async (chunk) => {
            buffer += chunk;
            const nl = buffer.indexOf("\n");
            if (nl < 0) return;
            const request = JSON.parse(buffer.slice(0, nl)) as { argv: string[]; stdin?: string };
            let result: KubectlResult;
            try {
                result = (await extra?.(request.argv)) ?? (await kubectl(cluster, request.argv, request.stdin));
            } catch (err) {
                result = { status: 1, stdout: "", stderr: `${err instanceof Error ? err.message : String(err)}\n` };
            }
            conn.end(`${JSON.stringify(result)}\n`);
        });
        conn.on("error", () => undefined);
    });
    server.listen(socketPath);
    return server;
}
