/**
 * What the scenarios share: a cluster from a stack config, SQL the way apps connect (through the
 * client Service, md5 password from the Secret), a writer that keeps committing, and timings.
 */
import * as fs from "fs";
import * as path from "path";
import type { Server } from "net";
import { Client } from "pg";
import { Cluster } from "../runner/cluster";
import { checkPrerequisites } from "../runner/image";
import { serve } from "../runner/kubectl";
import { REPO_ROOT, renderStack } from "../runner/render";
import { runBounded, type ExecResult } from "../runner/kubelet";

export const WORK_ROOT = process.env.GPK_E2E_WORK_DIR ?? "/var/tmp/greenplum-k8s-e2e";
export const HA_STACK = path.join(REPO_ROOT, "test/e2e/stacks/Pulumi.e2e-ha.yaml");
export const DEV_STACK = path.join(REPO_ROOT, "test/e2e/stacks/Pulumi.e2e-dev.yaml");

export interface TestCluster {
    cluster: Cluster;
    database: string;
    socket: string;
    server: Server;
    workDir: string;
}

/**
 * Renders `config` and starts its pods in a work directory named `name`: a fresh one, or with
 * `keepVolumes` the claims (and the Secret's values) a `stopCluster(tc, { keepVolumes })` left, as
 * a `pulumi up` of a changed config meets the volumes of the running stack.
 */
export function startCluster(name: string, config: string, extra: { tmpfsClaims?: string[]; keepVolumes?: boolean } = {}): TestCluster {
    const workDir = path.join(WORK_ROOT, name);
    if (!extra.keepVolumes) fs.rmSync(workDir, { recursive: true, force: true });
    fs.mkdirSync(workDir, { recursive: true });
    const prerequisites = checkPrerequisites(process.env, workDir);
    if (!prerequisites.image) throw new Error(`the pod runner cannot start:\n- ${prerequisites.problems.join("\n- ")}`);
    const renderDir = path.join(workDir, "render");
    fs.rmSync(renderDir, { recursive: true, force: true });
    renderStack({ config, out: renderDir });
    const outputs = JSON.parse(fs.readFileSync(path.join(renderDir, "outputs.json"), "utf8")) as { namespace: string; database: string };
    const cluster = new Cluster({
        manifests: path.join(renderDir, "manifests.yaml"),
        namespace: outputs.namespace,
        workDir,
        image: prerequisites.image,
        tmpfsClaims: extra.tmpfsClaims,
        log: process.env.GPK_E2E_VERBOSE ? (line) => process.stderr.write(`${line}\n`) : undefined,
    });
    cluster.start();
    const socket = path.join(workDir, "control.sock");
    const server = serve(cluster, socket);
    return { cluster, database: outputs.database, socket, server, workDir };
}

/** Stops every pod and the machine side; the claims go too unless `keepVolumes`. */
export async function stopCluster(tc: TestCluster | undefined, options: { keepVolumes?: boolean } = {}): Promise<void> {
    await stopWriters();
    if (!tc) return;
    tc.server.close();
    await tc.cluster.destroy(!options.keepVolumes);
}

/** A client connected through the Service, as an app would. */
export async function connect(tc: TestCluster, queryTimeoutMs = 60_000): Promise<Client> {
    const c = tc.cluster.clientConnection("greenplum", "greenplum-admin", tc.database);
    const client = new Client({ ...c, connectionTimeoutMillis: 5000, query_timeout: queryTimeoutMs });
    client.on("error", () => undefined);
    await client.connect();
    return client;
}

/** One statement through the Service; returns the rows. */
export async function sql<T = Record<string, unknown>>(tc: TestCluster, text: string, queryTimeoutMs = 60_000): Promise<T[]> {
    const client = await connect(tc, queryTimeoutMs);
    try {
        return (await client.query(text)).rows as T[];
    } finally {
        await client.end().catch(() => undefined);
    }
}

/** Retries `sql` until it succeeds or `timeoutMs` passes; returns the rows and how long it took. */
export async function sqlEventually<T = Record<string, unknown>>(tc: TestCluster, text: string, timeoutMs: number): Promise<{ rows: T[]; ms: number }> {
    const started = Date.now();
    let last: unknown;
    while (Date.now() - started < timeoutMs) {
        try {
            return { rows: await sql<T>(tc, text), ms: Date.now() - started };
        } catch (err) {
            last = err;
            await new Promise((r) => setTimeout(r, 500));
        }
    }
    throw new Error(`"${text}" did not succeed within ${timeoutMs / 1000}s: ${last instanceof Error ? last.message : String(last)}\n${tc.cluster.statusTable()}`);
}

export interface SegmentRow {
    content: number;
    role: string;
    preferred_role: string;
    mode: string;
    status: string;
    hostname: string;
    port: number;
}

export async function segments(tc: TestCluster): Promise<SegmentRow[]> {
    return sql<SegmentRow>(tc, "SELECT content, role, preferred_role, mode, status, hostname, port FROM gp_segment_configuration ORDER BY content, role");
}

/** True when every instance is up, every pair in sync and in its preferred role. */
export function balancedAndInSync(rows: SegmentRow[], expectPairs: boolean): boolean {
    return rows.every((r) => r.status === "u" && r.role === r.preferred_role && (!expectPairs || r.content < 0 || r.mode === "s"));
}

const writers = new Set<Writer>();

/** Stops every writer still running (for afterAll: a failed assertion must not leave one behind). */
export async function stopWriters(): Promise<void> {
    await Promise.all([...writers].map((w) => w.stop()));
}

/**
 * Commits one row per transaction through the Service, reconnecting after errors, and records
 * every id whose COMMIT returned: after any fault, exactly these rows must be there.
 */
export class Writer {
    readonly committed: number[] = [];
    errors = 0;
    private running = true;
    private readonly done: Promise<void>;

    constructor(
        private readonly tc: TestCluster,
        private readonly table: string,
        private readonly firstId: number,
    ) {
        this.done = this.loop();
        writers.add(this);
    }

    private async loop(): Promise<void> {
        let id = this.firstId;
        let client: Client | undefined;
        while (this.running) {
            try {
                // A 10 s statement timeout, as an app would set: a statement to a lost node gives up.
                client ??= await connect(this.tc, 10_000);
                await client.query(`INSERT INTO ${this.table} VALUES ($1)`, [id]);
                this.committed.push(id);
                id++;
            } catch {
                this.errors++;
                // An id whose commit failed may or may not be there; never reuse it.
                id++;
                await client?.end().catch(() => undefined);
                client = undefined;
                await new Promise((r) => setTimeout(r, 250));
            }
        }
        await client?.end().catch(() => undefined);
    }

    async stop(): Promise<void> {
        this.running = false;
        await this.done;
        writers.delete(this);
    }
}

/** psql inside a pod as gpadmin (for what only the pods can see: utility mode, pg_stat_replication). */
export function podSql(tc: TestCluster, pod: string, text: string, extraEnv = ""): Promise<ExecResult> {
    return tc.cluster.exec(pod, ["bash", "-lc", `source /usr/local/greenplum-db/greenplum_path.sh; ${extraEnv} psql -X -A -t -d template1 -c ${JSON.stringify(text)}`], { timeoutMs: 60_000 });
}

/** The real bin/gp-failover, with the runner's kubectl. */
export function gpFailover(tc: TestCluster, args: string[], extraEnv: Record<string, string> = {}, timeoutMs = 600_000): Promise<ExecResult> {
    const env = { ...process.env, ...extraEnv, KUBECTL: path.join(REPO_ROOT, "test/e2e/bin/kubectl"), GPK_E2E_SOCKET: tc.socket };
    return runBounded(path.join(REPO_ROOT, "bin/gp-failover"), args, timeoutMs, "", env);
}

/** Every scenario's figures, appended to <work root>/results.jsonl for the README and the closing note. */
export function record(scenario: string, figures: Record<string, number | string>): void {
    fs.mkdirSync(WORK_ROOT, { recursive: true });
    fs.appendFileSync(path.join(WORK_ROOT, "results.jsonl"), `${JSON.stringify({ at: new Date().toISOString(), scenario, ...figures })}\n`);
    process.stderr.write(`[e2e] ${scenario}: ${JSON.stringify(figures)}\n`);
}

export function seconds(ms: number): number {
    return Math.round(ms / 100) / 10;
}

/** The main container's logs of a pod since the runner started it (all incarnations). */
export function allLogs(tc: TestCluster, pod: string): string {
    const dir = path.join(tc.workDir, "logs", pod);
    if (!fs.existsSync(dir)) return "";
    return fs
        .readdirSync(dir)
        .filter((f) => f.startsWith("greenplum."))
        .map((f) => fs.readFileSync(path.join(dir, f), "utf8"))
        .join("\n");
}

/**
 * Lines of a pod's server log, since `sinceMs`, that say the instance went through crash recovery
 * (Greenplum logs them whenever the last stop was not clean).
 */
export async function crashRecoveryLines(tc: TestCluster, pod: string, dataDir: string, sinceMs: number): Promise<string[]> {
    const since = new Date(sinceMs).toISOString().replace("T", " ").slice(0, 19);
    const r = await tc.cluster.exec(pod, ["bash", "-c", `grep -h -E "was not properly shut down|database system was interrupted" ${dataDir}/pg_log/*.csv || true`]);
    return r.stdout.split("\n").filter((l) => l !== "" && l.slice(0, 19) >= since);
}

/** Deletes every pod at once and waits until the controller has recreated them; each must get a new address. */
export async function recreateAllPods(tc: TestCluster): Promise<void> {
    const before = new Map(tc.cluster.podNames().map((n) => [n, tc.cluster.pod(n).address]));
    await Promise.all(tc.cluster.podNames().map((n) => tc.cluster.deletePod(n)));
    await tc.cluster.waitFor("pods recreated", 120_000, () => tc.cluster.podNames().every((n) => tc.cluster.pod(n).phase === "Running"));
    for (const [name, address] of before) expect(tc.cluster.pod(name).address).not.toBe(address);
}
