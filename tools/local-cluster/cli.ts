/**
 * npm run cluster:up | cluster:down [-- --keep-cache] | cluster:env | cluster:status
 * The local cluster's commands (tools/local-cluster/cluster.ts); see the README's "A real cluster".
 */
import { clusterEnvironment, context, down, kubectl, leftovers, up } from "./cluster";
import { runningPid } from "./processes";

const USAGE = `usage: ts-node tools/local-cluster/cli.ts <command> [options]

  up                     build what is missing (cached), start the cluster, write the kubeconfig (context greenplum-k8s-local)
  down [--keep-cache]    stop everything the cluster started and remove what it made; --keep-cache keeps the builds and images
  env                    print the shell environment for the real CLIs: source <(npm run --silent cluster:env)
  status                 the cluster's processes and nodes

environment: GPK_CLUSTER_DIR (state, default /var/lib/greenplum-k8s-local), GPK_CLUSTER_CACHE (builds, default
/var/cache/greenplum-k8s), GPHOME (builds the Greenplum image too), GPK_PULUMI_PLUGINS (a folder holding
pulumi-language-nodejs, pulumi-resource-random and pulumi-resource-tls).`;

/** The flags each command takes; anything else is refused with the usage (exit 2). */
export function parseCommand(argv: string[]): { command: "up" | "down" | "env" | "status"; keepCache: boolean } | { help: true } | { error: string } {
    const [command, ...rest] = argv;
    if (command === undefined || command === "--help" || command === "-h") return { help: true };
    if (!["up", "down", "env", "status"].includes(command)) return { error: `unknown command ${JSON.stringify(command)}` };
    const allowed = command === "down" ? ["--keep-cache"] : [];
    const unknown = rest.filter((a) => !allowed.includes(a));
    if (unknown.length > 0) return { error: `${command}: unknown argument ${JSON.stringify(unknown[0])}${allowed.length ? ` (it takes ${allowed.join(", ")})` : " (it takes none)"}` };
    return { command: command as "up" | "down" | "env" | "status", keepCache: rest.includes("--keep-cache") };
}

/** `export NAME='value'` lines a shell can source. */
export function shellExports(env: Record<string, string>): string {
    return Object.entries(env)
        .map(([k, v]) => `export ${k}='${v.replace(/'/g, "'\\''")}'`)
        .join("\n");
}

async function main(): Promise<number> {
    const parsed = parseCommand(process.argv.slice(2));
    if ("help" in parsed) {
        process.stdout.write(`${USAGE}\n`);
        return 0;
    }
    if ("error" in parsed) {
        process.stderr.write(`${parsed.error}\n${USAGE}\n`);
        return 2;
    }
    const log = (line: string) => process.stderr.write(`[cluster] ${new Date().toISOString().slice(11, 19)} ${line}\n`);
    const ctx = context(process.env, log);
    switch (parsed.command) {
        case "up": {
            const timings = await up(ctx);
            log(`up in ${timings.total} s (${Object.entries(timings).map(([k, v]) => `${k} ${v} s`).join(", ")})`);
            log(`kubeconfig ${ctx.paths.kubeconfig} (context greenplum-k8s-local); for the CLIs: source <(npm run --silent cluster:env)`);
            return 0;
        }
        case "down": {
            const left = await down(ctx, parsed.keepCache);
            if (left.length > 0) {
                log(`left behind:\n  ${left.join("\n  ")}`);
                return 1;
            }
            log(`down: nothing left${parsed.keepCache ? ` (builds kept in ${ctx.cache})` : ""}`);
            return 0;
        }
        case "env":
            process.stdout.write(`${shellExports(clusterEnvironment(ctx))}\n`);
            return 0;
        case "status": {
            for (const name of ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "containerd", "kubelet", "kube-proxy"]) {
                const pid = runningPid(ctx.paths.pids, name);
                process.stdout.write(`${name.padEnd(24)} ${pid ? `running (pid ${pid})` : "stopped"}\n`);
            }
            if (runningPid(ctx.paths.pids, "kube-apiserver")) process.stdout.write(kubectl(ctx, ["get", "nodes,pods", "-A", "-o", "wide"], { allowFail: true }).stdout);
            const left = leftovers(ctx);
            if (!runningPid(ctx.paths.pids, "kube-apiserver") && left.length > 0) process.stdout.write(`left behind by an earlier run:\n  ${left.join("\n  ")}\n`);
            return 0;
        }
    }
}

if (require.main === module) {
    main().then(
        (code) => process.exit(code),
        (err: Error) => {
            process.stderr.write(`[cluster] ${err.message}\n`);
            process.exit(1);
        },
    );
}
