/**
 * The HA topology (master + standby, 2 primaries + 2 mirrors: the production shape) against a real
 * Greenplum 6. The scenarios run in order on one cluster, each starting from a healthy one.
 */
import { firstInitTimeoutSeconds } from "../../../components/greenplum/sizing";
import {
    balancedAndInSync,
    crashRecoveryLines,
    recreateAllPods,
    gpFailover,
    HA_STACK,
    podSql,
    record,
    seconds,
    segments,
    sql,
    sqlEventually,
    startCluster,
    stopCluster,
    Writer,
    type SegmentRow,
    type TestCluster,
} from "./harness";

const ROWS = 10_000;
/** What a healthy cluster gets back to after each fault: bounded, so a stuck recovery fails the test. */
const HEAL_MS = 600_000;
let tc: TestCluster;
let expectedRows = ROWS;

afterAll(async () => stopCluster(tc));

/** A fault's clean-up runs even when the test fails, so the next scenario starts from a whole cluster. */
afterEach(() => {
    for (const name of tc?.cluster.podNames() ?? []) if (tc.cluster.pod(name).lost) tc.cluster.restore(name);
});

async function rowCount(): Promise<number> {
    return Number((await sqlEventually<{ n: string }>(tc, "SELECT count(*) AS n FROM app_rows", 120_000)).rows[0].n);
}

/** Waits until every pair is in sync, in its preferred role, and every pod Ready. */
async function healthy(): Promise<number> {
    const started = Date.now();
    await tc.cluster.waitFor("every segment up, in sync and in its preferred role", HEAL_MS, async () => {
        try {
            return balancedAndInSync(await segments(tc), true);
        } catch {
            return false;
        }
    });
    await tc.cluster.waitReady(HEAL_MS);
    return Date.now() - started;
}

async function standbyStreaming(master = "master-0"): Promise<boolean> {
    const r = await podSql(tc, master, "SELECT state || '/' || sync_state FROM pg_stat_replication");
    return r.stdout.trim() === "streaming/sync";
}

/** The acting master and its standby, as the ConfigMap (written by gp-failover) names them. */
function masters(): { acting: string; standby: string } {
    const acting = tc.cluster.plan.configMaps.get("greenplum-acting-master")?.["acting-master"] ?? "master-0";
    return { acting, standby: acting === "master-0" ? "master-1" : "master-0" };
}

/** A verb of the pods' ctl.sh (what gp-failover runs), in `pod`. */
function ctl(pod: string, ...args: string[]): ReturnType<TestCluster["cluster"]["exec"]> {
    return tc.cluster.exec(pod, ["bash", "/opt/greenplum-k8s/scripts/ctl.sh", ...args]);
}

/** True when `pod` holds master data, is not fenced and runs its postmaster (ctl.sh role). */
async function servesAsMaster(pod: string): Promise<boolean> {
    return /fenced=no[\s\S]*data=master[\s\S]*postmaster=running/.test((await ctl(pod, "role")).stdout);
}

/** Every id the writer saw committed is in the table; returns the rows of its id range [from, to). */
async function expectAllCommitted(writer: Writer, from: number, to: number): Promise<number> {
    const ids = await sql<{ id: number }>(tc, `SELECT id FROM app_rows WHERE id >= ${from} AND id < ${to}`);
    const present = new Set(ids.map((r) => r.id));
    expect(writer.committed.filter((id) => !present.has(id))).toEqual([]);
    return ids.length;
}

/** bin/gp-failover VERB, which must succeed; its output is in the error when it does not. */
async function failoverOk(verb: "promote" | "reinstate"): Promise<Awaited<ReturnType<typeof gpFailover>>> {
    const r = await gpFailover(tc, ["--namespace", "greenplum", verb]);
    if (r.status !== 0) throw new Error(`gp-failover ${verb} exited ${r.status}:\n${r.stdout}${r.stderr}`);
    return r;
}

/** gp-failover reinstate: the old master becomes the standby of `acting`, streaming, every pod Ready. */
async function reinstate(acting: string): Promise<void> {
    await failoverOk("reinstate");
    await tc.cluster.waitFor(`the old master streaming as the standby of ${acting}`, HEAL_MS, () => standbyStreaming(acting));
    await tc.cluster.waitReady(HEAL_MS);
}

/** The fence token gp-failover promote wrote on a segment pod: "<acting master> <its timeline>". */
async function fenceToken(pod: string): Promise<string> {
    return (await tc.cluster.exec(pod, ["cat", "/greenplum/greenplum-k8s/acting-master"])).stdout.trim();
}

function roleOf(rows: SegmentRow[], host: string): string | undefined {
    return rows.find((r) => r.hostname.startsWith(`${host}.`))?.role;
}

describe("HA topology: master + standby, 2 primaries + 2 mirrors", () => {
    test("first init: every pod Ready within the init budget, pairs in sync, standby streaming, an app writes rows", async () => {
        tc = startCluster("ha", HA_STACK);
        const budget = firstInitTimeoutSeconds({ segments: { primarySegmentCount: 2, mirrors: true }, masterAndStandby: { standby: true } } as never);
        const ms = await tc.cluster.waitReady(budget * 1000);
        const fqdn = (pod: string): string => `${pod}.agent.greenplum.svc.cluster.local`;
        const expected = [
            { content: -1, role: "m", preferred_role: "m", mode: "s", status: "u", hostname: fqdn("master-1"), port: 5432 },
            { content: -1, role: "p", preferred_role: "p", mode: "n", status: "u", hostname: fqdn("master-0"), port: 5432 },
            { content: 0, role: "m", preferred_role: "m", mode: "s", status: "u", hostname: fqdn("segment-b-0"), port: 7000 },
            { content: 0, role: "p", preferred_role: "p", mode: "s", status: "u", hostname: fqdn("segment-a-0"), port: 6000 },
            { content: 1, role: "m", preferred_role: "m", mode: "s", status: "u", hostname: fqdn("segment-b-1"), port: 7000 },
            { content: 1, role: "p", preferred_role: "p", mode: "s", status: "u", hostname: fqdn("segment-a-1"), port: 6000 },
        ];
        // Ready is reached as the last pair reports in sync; the catalog follows within seconds.
        await tc.cluster.waitFor("the catalog as expected", 120_000, async () => JSON.stringify(await segments(tc).catch(() => [])) === JSON.stringify(expected));
        expect(await segments(tc)).toEqual(expected);
        await tc.cluster.waitFor("the standby streaming in sync", 60_000, () => standbyStreaming());
        await sql(tc, `CREATE TABLE app_rows (id int) DISTRIBUTED BY (id); INSERT INTO app_rows SELECT generate_series(1, ${ROWS})`);
        expect(await rowCount()).toBe(ROWS);
        record("ha: first init", { readySeconds: seconds(ms), rows: ROWS });
    }, 1_800_000);

    test("a primary crashes while a writer commits: FTS promotes its mirror, every committed row is there, the pod returns as mirror, resyncs, and the cluster is rebalanced", async () => {
        const writer = new Writer(tc, "app_rows", 1_000_000);
        await new Promise((r) => setTimeout(r, 3000));
        const crashedAt = Date.now();
        tc.cluster.crash("segment-a-0");
        // Queries succeed again once FTS has promoted segment-b-0.
        let promotedMs = 0;
        await tc.cluster.waitFor("segment-b-0 acting as primary", 300_000, async () => {
            const rows = await segments(tc).catch(() => [] as SegmentRow[]);
            if (roleOf(rows, "segment-b-0") === "p") promotedMs = Date.now() - crashedAt;
            return promotedMs > 0;
        });
        const committedBefore = writer.committed.length;
        await tc.cluster.waitFor("the writer committing again", 300_000, () => writer.committed.length > committedBefore + 20);
        const writesBackMs = Date.now() - crashedAt;
        // The crashed pod comes back as a mirror and resyncs; the supervisor rebalances when safe.
        const healMs = await healthy();
        await writer.stop();
        expect(writer.committed.length).toBeGreaterThan(20);
        expectedRows = ROWS + (await expectAllCommitted(writer, 1_000_000, 2_000_000));
        expect(await rowCount()).toBe(expectedRows);
        expect(roleOf(await segments(tc), "segment-a-0")).toBe("p");
        record("ha: primary crash under writes", {
            promotedSeconds: seconds(promotedMs),
            writesBackSeconds: seconds(writesBackMs),
            resyncedAndRebalancedSeconds: seconds(Date.now() - crashedAt),
            healAfterWritesSeconds: seconds(healMs),
            committed: writer.committed.length,
            writerErrors: writer.errors,
            rows: expectedRows,
        });
    }, 1_800_000);

    test("a mirror crashes and comes back in sync", async () => {
        const started = Date.now();
        tc.cluster.crash("segment-b-1");
        // The catalog notices when FTS probes; a query to the content is not needed for a mirror.
        // Its pod restarts at once, but a mirror is started in its role by the master: FTS marks it down first.
        await tc.cluster.waitFor("segment-b-1 marked down", 300_000, async () => (await segments(tc)).some((r) => r.hostname.startsWith("segment-b-1.") && r.status === "d"));
        const markedDownMs = Date.now() - started;
        await healthy();
        expect(await rowCount()).toBe(expectedRows);
        record("ha: mirror crash", { markedDownSeconds: seconds(markedDownMs), inSyncAgainSeconds: seconds(Date.now() - started), rows: expectedRows });
    }, 1_800_000);

    test("the standby crashes and streams again; the master stays Ready throughout", async () => {
        const started = Date.now();
        const masterRestarts = tc.cluster.pod("master-0").restarts;
        tc.cluster.crash("master-1");
        await tc.cluster.waitFor("master-1 restarted", 120_000, () => tc.cluster.pod("master-1").restarts > 0);
        await tc.cluster.waitFor("the standby streaming in sync again", HEAL_MS, () => standbyStreaming());
        await tc.cluster.waitReady(HEAL_MS);
        expect(tc.cluster.pod("master-0").restarts).toBe(masterRestarts);
        expect(await rowCount()).toBe(expectedRows);
        record("ha: standby crash", { streamingAgainSeconds: seconds(Date.now() - started) });
    }, 1_800_000);

    test("the master restarts while the standby's node is lost: it starts without the standby, and takes the standby back later", async () => {
        tc.cluster.cut("master-1");
        const started = Date.now();
        tc.cluster.crash("master-0");
        await tc.cluster.waitFor("master-0 Ready without its standby", HEAL_MS, () => tc.cluster.pod("master-0").ready && tc.cluster.pod("master-0").restarts > 0);
        const readyMs = Date.now() - started;
        expect(await rowCount()).toBe(expectedRows);
        tc.cluster.restore("master-1");
        await tc.cluster.waitFor("the standby streaming in sync again", HEAL_MS, () => standbyStreaming());
        await tc.cluster.waitReady(HEAL_MS);
        record("ha: master restart with the standby lost", { masterReadySeconds: seconds(readyMs), standbyBackSeconds: seconds(Date.now() - started) });
    }, 1_800_000);

    test("a double fault: the primary dies while its mirror is down; the primary is restarted, then the mirror recovers", async () => {
        // The supervisor's wal_sender_timeout (60 s; Greenplum's default is 300 s) must be in effect on
        // the primary: it bounds how long commits wait for the lost mirror.
        await tc.cluster.waitFor("wal_sender_timeout 1min in effect on the primary segment-a-0", 120_000, async () =>
            (await podSql(tc, "segment-a-0", "SHOW wal_sender_timeout", "PGOPTIONS='-c gp_session_role=utility' PGPORT=6000")).stdout.trim() === "1min",
        );
        // Mirror down first (its pod's node lost), FTS marks it down, then the primary crashes: FTS cannot promote.
        const cutAt = Date.now();
        tc.cluster.cut("segment-b-0");
        // A commit on content 0 waits for its mirror until the primary's walsender gives up on it.
        await sql(tc, "INSERT INTO app_rows SELECT generate_series(3000000, 3000099)", 600_000);
        const commitWaitMs = Date.now() - cutAt;
        // wal_sender_timeout, then FTS's next probe (gp_fts_probe_interval 20 s) marks the mirror down.
        expect(commitWaitMs).toBeLessThan(180_000);
        expectedRows += 100;
        await tc.cluster.waitFor("segment-b-0 marked down", 600_000, async () => {
            await sql(tc, "SELECT gp_request_fts_probe_scan()").catch(() => undefined);
            return (await segments(tc)).some((r) => r.hostname.startsWith("segment-b-0.") && r.status === "d");
        });
        const markedDownMs = Date.now() - cutAt;
        const started = Date.now();
        tc.cluster.crash("segment-a-0");
        // The kubelet restarts the container; the supervisor starts the primary (FTS cannot promote).
        const { ms } = await sqlEventually(tc, "SELECT count(*) FROM app_rows", HEAL_MS);
        tc.cluster.restore("segment-b-0");
        await healthy();
        expect(await rowCount()).toBe(expectedRows);
        record("ha: double fault", { commitWaitedForLostMirrorSeconds: seconds(commitWaitMs), mirrorMarkedDownSeconds: seconds(markedDownMs), queriesBackSeconds: seconds(ms), healedSeconds: seconds(Date.now() - started), rows: expectedRows });
    }, 1_800_000);

    test("master failover with gp-failover after the master's node is lost: writes continue on the standby, exact count; reinstate makes the old master the standby", async () => {
        await tc.cluster.waitFor("the standby streaming in sync", 120_000, () => standbyStreaming());
        // What promote relies on when the master cannot be asked: the supervisor's in-sync report on the standby.
        await tc.cluster.waitFor("sync evidence on the standby", 180_000, async () => (await ctl("master-1", "sync-evidence")).status === 0);
        const writer = new Writer(tc, "app_rows", 2_000_000);
        await new Promise((r) => setTimeout(r, 3000));
        const lostAt = Date.now();
        tc.cluster.cut("master-0");
        await failoverOk("promote");
        const promotedMs = Date.now() - lostAt;
        expect(tc.cluster.endpoints("greenplum").map((p) => p.name)).toEqual(["master-1"]);
        // The fence tokens carry the new master's timeline (gpactivatestandby checkpoints it): the first promotion's is 2.
        for (const pod of ["segment-a-0", "segment-a-1", "segment-b-0", "segment-b-1"]) expect({ pod, token: await fenceToken(pod) }).toEqual({ pod, token: "master-1 2" });
        // The standby was restarted earlier (its crash scenario): the promoted master must still run
        // what only a postmaster started with -E runs: the FTS prober and distributed-transaction recovery.
        // (Background workers start a moment after the promotion.)
        await tc.cluster.waitFor("the FTS prober and DTX recovery on master-1", 60_000, async () => {
            const processes = (await tc.cluster.exec("master-1", ["ps", "-eo", "args"])).stdout;
            return /ftsprobe process/.test(processes) && /dtx recovery process/.test(processes);
        });
        const committedBefore = writer.committed.length;
        await tc.cluster.waitFor("the writer committing on master-1", 300_000, () => writer.committed.length > committedBefore + 20);
        const writesBackMs = Date.now() - lostAt;
        await writer.stop();
        // Only this writer's range: the double fault's rows (3,000,000 and up) are counted already.
        expectedRows += await expectAllCommitted(writer, 2_000_000, 3_000_000);
        expect(await rowCount()).toBe(expectedRows);

        // The old master's node returns: it must not act as a master (fence tokens, then the ConfigMap).
        tc.cluster.restore("master-0");
        await tc.cluster.waitFor("master-0 standing down", 180_000, async () => {
            const r = await ctl("master-0", "role");
            return /postmaster=stopped/.test(r.stdout);
        });
        await reinstate("master-1");
        expect(await rowCount()).toBe(expectedRows);
        record("ha: master failover (gp-failover promote, reinstate)", {
            promoteSeconds: seconds(promotedMs),
            writesBackSeconds: seconds(writesBackMs),
            committed: writer.committed.length,
            writerErrors: writer.errors,
            rows: expectedRows,
        });
    }, 1_800_000);

    test("promote refuses, touching nothing, when the standby's node is lost (the master still reports it streaming)", async () => {
        // master-0 is now the standby of master-1: lose its node, then ask for its promotion.
        tc.cluster.cut("master-0");
        await new Promise((r) => setTimeout(r, 2000));
        const restarts = tc.cluster.pod("master-1").restarts;
        const promote = await gpFailover(tc, ["--namespace", "greenplum", "promote"]);
        expect(promote.status).toBe(1);
        expect(promote.stderr).toContain("refusing to promote: the standby pod master-0 cannot be reached");
        // The serving master was not fenced or stopped.
        expect(await servesAsMaster("master-1")).toBe(true);
        expect(tc.cluster.pod("master-1").restarts).toBe(restarts);
        expect(tc.cluster.endpoints("greenplum").map((p) => p.name)).toEqual(["master-1"]);
        tc.cluster.restore("master-0");
        await tc.cluster.waitFor("master-0 streaming again", HEAL_MS, () => standbyStreaming("master-1"));
        record("ha: promote refused with the standby lost", { exit: promote.status });
    }, 1_800_000);

    test("an aborted promote (the activation's kubectl exec dropped after the master was fenced): the fence is removed and the old master serves again, nothing else changed", async () => {
        const { acting, standby } = masters();
        await tc.cluster.waitFor("the standby streaming in sync", HEAL_MS, () => standbyStreaming(acting));
        tc.cluster.dropNextExec(standby, "activate");
        const started = Date.now();
        const promote = await gpFailover(tc, ["--namespace", "greenplum", "promote"]);
        const output = promote.stdout + promote.stderr;
        expect(promote.status).toBe(1);
        expect(output).toContain(`fenced and stopped the master postmaster on ${acting}`);
        expect(output).toContain(`ABORTED: removed the fence on ${acting} again`);
        expect(output).toContain(`gpactivatestandby failed in ${standby}; ConfigMap and Service are unchanged`);
        // The old master starts again on its own (its entrypoint sees the fence gone).
        await tc.cluster.waitFor(`${acting} serving again`, HEAL_MS, () => servesAsMaster(acting));
        const { ms } = await sqlEventually(tc, "SELECT count(*) FROM app_rows", HEAL_MS);
        const servingMs = Date.now() - started;
        expect(masters().acting).toBe(acting);
        expect(tc.cluster.plan.services.find((svc) => svc.name === "greenplum")?.selector["statefulset.kubernetes.io/pod-name"]).toBe(acting);
        await tc.cluster.waitFor("the standby streaming in sync again", HEAL_MS, () => standbyStreaming(acting));
        await tc.cluster.waitReady(HEAL_MS);
        expect(tc.cluster.endpoints("greenplum").map((p) => p.name)).toEqual([acting]);
        expect(await rowCount()).toBe(expectedRows);
        record("ha: aborted promote", { servingAgainSeconds: seconds(servingMs), lastWaitSeconds: seconds(ms), rows: expectedRows });
    }, 1_800_000);

    test("promote refuses when the master's node is lost and the standby's sync evidence is older than its limit; the master is untouched when its node returns", async () => {
        const { acting, standby } = masters();
        await tc.cluster.waitFor("the standby streaming in sync", HEAL_MS, () => standbyStreaming(acting));
        await tc.cluster.waitFor("fresh sync evidence on the standby", 180_000, async () => (await ctl(standby, "sync-evidence", "30")).status === 0);
        const restarts = tc.cluster.pod(acting).restarts;
        tc.cluster.cut(acting);
        // The supervisor on the lost master no longer refreshes the evidence; the limit is 30 s here (default 120 s).
        await tc.cluster.waitFor("the evidence older than 30 s", 300_000, async () => (await ctl(standby, "sync-evidence", "30")).status !== 0);
        const promote = await gpFailover(tc, ["--namespace", "greenplum", "promote"], { GP_SYNC_MARKER_MAX_AGE: "30" });
        expect(promote.status).toBe(1);
        expect(promote.stderr).toContain(`refusing to promote: no fresh evidence that ${standby} was in sync when ${acting} stopped answering`);
        expect(promote.stdout).not.toContain("running gpactivatestandby");
        tc.cluster.restore(acting);
        await tc.cluster.waitFor(`${acting} answering again`, HEAL_MS, () => servesAsMaster(acting));
        expect((await ctl(standby, "role")).stdout).toContain("data=standby");
        expect(tc.cluster.pod(acting).restarts).toBe(restarts);
        expect(masters().acting).toBe(acting);
        await tc.cluster.waitFor("the standby streaming in sync again", HEAL_MS, () => standbyStreaming(acting));
        expect(await rowCount()).toBe(expectedRows);
        record("ha: promote refused on stale sync evidence", { exit: promote.status, maxAgeSeconds: 30 });
    }, 1_800_000);

    test("fail-back while one segment pod misses the new fence token: its stale token (an earlier timeline) is ignored and the new master keeps serving", async () => {
        const { acting: old, standby: next } = masters();
        await tc.cluster.waitFor("the standby streaming in sync", HEAL_MS, () => standbyStreaming(old));
        const tokenBefore = await fenceToken("segment-b-1");
        tc.cluster.dropNextExec("segment-b-1", "set-acting-master");
        const started = Date.now();
        const promote = await failoverOk("promote");
        const promotedMs = Date.now() - started;
        expect(promote.stdout).toContain("WARNING: could not write the acting master onto: segment-b-1");
        const [, before] = tokenBefore.split(" ");
        const fresh = await fenceToken("segment-a-0");
        expect(fresh).toMatch(new RegExp(`^${next} [0-9]+$`));
        expect(Number(fresh.split(" ")[1])).toBeGreaterThan(Number(before));
        expect(await fenceToken("segment-b-1")).toBe(tokenBefore);
        // Two supervision passes on the new master, each reading every token.
        const writer = new Writer(tc, "app_rows", 4_000_000);
        await tc.cluster.waitFor(`${next} ignoring the stale token`, 120_000, () => tc.cluster.pod(next).containerLog().includes(`ignoring a stale fence token on segment-b-1: it names ${old} on timeline ${before}`));
        await new Promise((r) => setTimeout(r, 35_000));
        expect(await servesAsMaster(next)).toBe(true);
        await writer.stop();
        expect(writer.committed.length).toBeGreaterThan(20);
        expectedRows += await expectAllCommitted(writer, 4_000_000, 5_000_000);
        await reinstate(next);
        expect(await rowCount()).toBe(expectedRows);
        record("ha: fail-back with a stale fence token", { promoteSeconds: seconds(promotedMs), staleToken: tokenBefore, newToken: fresh, committed: writer.committed.length, rows: expectedRows });
    }, 1_800_000);

    test("planned outage: every pod deleted (preStop stops Greenplum cleanly) and started again without crash recovery, same rows", async () => {
        const stopStarted = Date.now();
        await tc.cluster.stopAll();
        const stopMs = Date.now() - stopStarted;
        tc.cluster.startAgain();
        const ms = await tc.cluster.waitReady(HEAL_MS);
        expect(await rowCount()).toBe(expectedRows);
        const { acting } = masters();
        for (const [pod, dir] of [[acting, "/greenplum/data-1"], ["segment-a-0", "/greenplum/data"], ["segment-b-0", "/greenplum/mirror/data"]]) {
            expect({ pod, crashRecovery: await crashRecoveryLines(tc, pod, dir, stopStarted) }).toEqual({ pod, crashRecovery: [] });
        }
        // The acting master's new container started the cluster with gpstart (not a standby start).
        expect(tc.cluster.pod(acting).containerLog()).toContain("running: gpstart -a");
        record("ha: planned outage", { stopSeconds: seconds(stopMs), readyAgainSeconds: seconds(ms), rows: expectedRows });
    }, 1_800_000);

    test("every pod deleted at once and recreated with new addresses: Ready again, in sync, same rows", async () => {
        const started = Date.now();
        await recreateAllPods(tc);
        await healthy();
        await tc.cluster.waitFor("the standby streaming", HEAL_MS, () => standbyStreaming(masters().acting));
        expect(await rowCount()).toBe(expectedRows);
        record("ha: all pods recreated with new addresses", { healthySeconds: seconds(Date.now() - started), rows: expectedRows });
    }, 1_800_000);
});
