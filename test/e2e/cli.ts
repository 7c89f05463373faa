/**
 * Drive a pod-runner cluster by hand:
 *
 *   npm run e2e:cluster -- up [--ha | --stack <name> | --config <file>] [--work-dir <dir>]
 *   npm run e2e:cluster -- status | logs <pod> [--previous] | exec <pod> -- <cmd...> | psql [psql args]
 *   npm run e2e:cluster -- kill <pod> | delete <pod> | cut <pod> | restore <pod>
 *   npm run e2e:cluster -- kubectl <args...> | failover <gp-failover args...> | down [--wipe]
 *
 * `up` renders the stack, starts a background runner (log: <work-dir>/runner.log) and waits until
 * every pod is Ready. Needs root and GPHOME (README: "The pod runner").
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { Cluster } from "./runner/cluster";
import { checkPrerequisites } from "./runner/image";
import { serve, type KubectlResult } from "./runner/kubectl";
import { REPO_ROOT, renderStack } from "./runner/render";

const USAGE = `usage: npm run e2e:cluster -- <command>
  up [--ha | --stack <name> | --config <file>] [--work-dir <dir>]   render, start the pods, wait until Ready
  status                         pods, readiness, restarts, addresses, Service endpoints
  logs <pod> [--previous]        the Greenplum container's log
  exec <pod> -- <cmd...>         run a command in the pod (as gpadmin)
  psql [args...]                 psql through the client Service with the admin Secret's password
  kill <pod>                     crash: SIGKILL the container (no preStop); the kubelet restarts it
  delete <pod>                   kubectl delete pod: preStop, SIGTERM, recreated with a new address
  cut <pod> | restore <pod>      node loss: network down and processes frozen / back
  kubectl <args...>              the runner's kubectl (what gp-failover uses)
  failover <args...>             bin/gp-failover against this cluster
  down [--wipe]                  stop everything; --wipe also deletes the volumes`;

const DEFAULT_WORK_DIR = "/var/tmp/greenplum-k8s-e2e/cluster";

function fail(message: string, status = 1): never {
    console.error(message);
    process.exit(status);
}

function flagValue(args: string[], flag: string): string | undefined {
    const i = args.indexOf(flag);
    if (i < 0) return undefined;
    const v = args[i + 1];
    if (v === undefined || v.startsWith("--")) fail(`${flag} needs a value\n${USAGE}`, 2);
    return v;
}

/** Sends one request to the background runner. */
function request(workDir: string, argv: string[], stdin?: string): Promise<KubectlResult> {
    const socketPath = path.join(workDir, "control.sock");
    return new Promise((resolve, reject) => {
        const conn = net.createConnection(socketPath);
        let answer = "";
        conn.on("connect", () => conn.write(`${JSON.stringify({ argv, stdin })}\n`));
        conn.on("data", (d) => (answer += d));
        conn.on("error", (err) => reject(new Error(`no pod runner answers at ${socketPath} (${(err as NodeJS.ErrnoException).code}): run 'npm run e2e:cluster -- up' first`)));
        conn.on("end", () => resolve(JSON.parse(answer) as KubectlResult));
    });
}

function print(r: KubectlResult): void {
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    process.exitCode = r.status;
}

/** The background runner: owns the cluster and answers on the control socket until `down`. */
async function daemon(workDir: string, renderDir: string): Promise<void> {
    const prerequisites = checkPrerequisites(process.env, workDir);
    if (!prerequisites.image) fail(prerequisites.problems.join("\n"));
    const outputs = JSON.parse(fs.readFileSync(path.join(renderDir, "outputs.json"), "utf8")) as { namespace: string; database: string };
    const cluster = new Cluster({ manifests: path.join(renderDir, "manifests.yaml"), namespace: outputs.namespace, workDir, image: prerequisites.image });
    cluster.start();
    const server = serve(cluster, path.join(workDir, "control.sock"), async (argv) => {
        if (argv[0] !== "runner") return undefined;
        const [, verb, pod] = argv;
        const ok = (stdout: string): KubectlResult => ({ status: 0, stdout, stderr: "" });
        switch (verb) {
            case "status": {
                const endpoints = cluster.plan.services.map((s) => `service ${s.name}: ${cluster.endpoints(s.name).map((p) => `${p.name} ${p.address}`).join(", ") || "<no ready endpoint>"}`);
                return ok(`${cluster.statusTable()}\n${endpoints.join("\n")}\n`);
            }
            case "ready":
                return ok(`${cluster.podNames().every((n) => cluster.pod(n).ready) ? "yes" : "no"}\n`);
            case "connection":
                return ok(`${JSON.stringify(cluster.clientConnection("greenplum", "greenplum-admin", outputs.database))}\n`);
            case "kill":
                cluster.crash(pod);
                return ok(`${pod}: container killed\n`);
            case "cut":
                cluster.cut(pod);
                return ok(`${pod}: node lost\n`);
            case "restore":
                cluster.restore(pod);
                return ok(`${pod}: node back\n`);
            case "down":
                await cluster.destroy(pod === "--wipe");
                setTimeout(() => {
                    server.close();
                    process.exit(0);
                }, 100);
                return ok("cluster down\n");
            default:
                return { status: 2, stdout: "", stderr: `unknown runner command ${verb}\n` };
        }
    });
}

async function main(): Promise<void> {
    const [command, ...args] = process.argv.slice(2);
    const workDir = flagValue(args, "--work-dir") ?? DEFAULT_WORK_DIR;
    const kubectlBin = path.join(REPO_ROOT, "test/e2e/bin/kubectl");
    switch (command) {
        case "__daemon":
            return daemon(workDir, args[args.length - 1]);
        case "up": {
            const prerequisites = checkPrerequisites(process.env, workDir);
            if (!prerequisites.image) fail(`the pod runner cannot start:\n- ${prerequisites.problems.join("\n- ")}`);
            if (fs.existsSync(path.join(workDir, "control.sock"))) {
                const alive = await request(workDir, ["runner", "ready"]).then(() => true, () => false);
                if (alive) fail(`a cluster is already up in ${workDir}: 'npm run e2e:cluster -- down' first`);
            }
            const config = args.includes("--ha") ? path.join(REPO_ROOT, "test/e2e/stacks/Pulumi.e2e-ha.yaml") : flagValue(args, "--config");
            const stack = flagValue(args, "--stack");
            const renderDir = path.join(workDir, "render");
            renderStack({ stack, config: config ?? (stack ? undefined : path.join(REPO_ROOT, "test/e2e/stacks/Pulumi.e2e-dev.yaml")), out: renderDir });
            const out = fs.openSync(path.join(workDir, "daemon.log"), "a");
            const child = spawn(process.execPath, [...process.execArgv, __filename, "__daemon", "--work-dir", workDir, renderDir], { detached: true, stdio: ["ignore", out, out], env: process.env });
            child.unref();
            console.log(`runner started (pid ${child.pid}); log: ${workDir}/runner.log`);
            const started = Date.now();
            for (;;) {
                await new Promise((r) => setTimeout(r, 5000));
                const ready = await request(workDir, ["runner", "ready"]).catch(() => undefined);
                if (ready?.stdout.trim() === "yes") break;
                if (Date.now() - started > 30 * 60_000) fail("pods not Ready after 30 minutes; see 'npm run e2e:cluster -- status'");
            }
            console.log(`all pods Ready after ${Math.round((Date.now() - started) / 1000)}s`);
            return print(await request(workDir, ["runner", "status"]));
        }
        case "status":
            return print(await request(workDir, ["runner", "status"]));
        case "kill":
        case "cut":
        case "restore":
            if (!args[0]) fail(`${command} needs a pod name\n${USAGE}`, 2);
            return print(await request(workDir, ["runner", command, args[0]]));
        case "down":
            return print(await request(workDir, ["runner", "down", args.includes("--wipe") ? "--wipe" : ""]));
        case "delete":
            if (!args[0]) fail(`delete needs a pod name\n${USAGE}`, 2);
            return print(await request(workDir, ["delete", "pod", args[0]]));
        case "logs":
            if (!args[0]) fail(`logs needs a pod name\n${USAGE}`, 2);
            return print(await request(workDir, ["logs", args[0], ...(args.includes("--previous") ? ["--previous"] : [])]));
        case "exec":
            if (!args[0] || !args.includes("--")) fail(`usage: exec <pod> -- <command...>`, 2);
            return print(await request(workDir, ["exec", args[0], "--", ...args.slice(args.indexOf("--") + 1)]));
        case "kubectl": {
            const r = spawnSync(kubectlBin, args, { stdio: "inherit", env: { ...process.env, GPK_E2E_SOCKET: path.join(workDir, "control.sock") } });
            process.exitCode = r.status ?? 1;
            return;
        }
        case "failover": {
            const r = spawnSync(path.join(REPO_ROOT, "bin/gp-failover"), args, { stdio: "inherit", env: { ...process.env, KUBECTL: kubectlBin, GPK_E2E_SOCKET: path.join(workDir, "control.sock") } });
            process.exitCode = r.status ?? 1;
            return;
        }
        case "psql": {
            const c = JSON.parse((await request(workDir, ["runner", "connection"])).stdout) as { host: string; port: number; user: string; password: string; database: string };
            const gphome = process.env.GPHOME ?? fail("GPHOME is not set (psql comes from the Greenplum installation)");
            const r = spawnSync(path.join(gphome, "bin/psql"), ["-h", c.host, "-p", String(c.port), "-U", c.user, "-d", c.database, ...args], {
                stdio: "inherit",
                env: { ...process.env, PGPASSWORD: c.password, LD_LIBRARY_PATH: path.join(gphome, "lib") },
            });
            process.exitCode = r.status ?? 1;
            return;
        }
        case "--help":
        case "help":
            console.log(USAGE);
            return;
        default:
            fail(`unknown command ${JSON.stringify(command ?? "")}\n${USAGE}`, 2);
    }
}

main().catch((err) => fail(err instanceof Error ? err.message : String(err)));
