/**
 * The dev topology (the shipped dev stack's Greenplum: master + 2 primaries, no mirrors, no
 * standby) against a real Greenplum 6, pod by pod as the kubelet runs them.
 */
import * as fs from "fs";
import * as path from "path";
import { firstInitTimeoutSeconds } from "../../../components/greenplum/sizing";
import { crashRecoveryLines, DEV_STACK, podSql, recreateAllPods, record, seconds, segments, sql, sqlEventually, startCluster, stopCluster, type TestCluster } from "./harness";

const ROWS = 10_000;
let tc: TestCluster;

afterAll(async () => stopCluster(tc));

describe("dev topology: master + 2 primaries", () => {
    test("first init: every pod Ready within the init budget, the catalog as expected, an app writes rows", async () => {
        tc = startCluster("dev", DEV_STACK);
        const budget = firstInitTimeoutSeconds({ segments: { primarySegmentCount: 2, mirrors: false }, masterAndStandby: { standby: false } } as never);
        const ms = await tc.cluster.waitReady(budget * 1000);
        expect(await segments(tc)).toEqual([
            { content: -1, role: "p", preferred_role: "p", mode: "n", status: "u", hostname: "master-0.agent.greenplum.svc.cluster.local", port: 5432 },
            { content: 0, role: "p", preferred_role: "p", mode: "n", status: "u", hostname: "segment-a-0.agent.greenplum.svc.cluster.local", port: 6000 },
            { content: 1, role: "p", preferred_role: "p", mode: "n", status: "u", hostname: "segment-a-1.agent.greenplum.svc.cluster.local", port: 6000 },
        ]);
        await sql(tc, `CREATE TABLE app_rows (id int) DISTRIBUTED BY (id); INSERT INTO app_rows SELECT generate_series(1, ${ROWS})`);
        const perSegment = await sql<{ gp_segment_id: number; n: string }>(tc, "SELECT gp_segment_id, count(*) AS n FROM app_rows GROUP BY 1 ORDER BY 1");
        expect(perSegment.map((r) => r.gp_segment_id)).toEqual([0, 1]);
        expect(perSegment.reduce((a, r) => a + Number(r.n), 0)).toBe(ROWS);
        // gpinitsystem's log_statement=all is replaced (the reload reaches new sessions within seconds).
        await tc.cluster.waitFor("log_statement ddl", 30_000, async () => (await sql<{ log_statement: string }>(tc, "SHOW log_statement"))[0].log_statement === "ddl");
        record("dev: first init", { readySeconds: seconds(ms), rows: ROWS });
    }, 1_800_000);

    test("utility-mode connections to a segment work (gpstate -e can query it)", async () => {
        const r = await podSql(tc, "master-0", "SELECT 1", "PGOPTIONS='-c gp_session_role=utility' PGHOST=segment-a-0 PGPORT=6000");
        expect(r.stderr).toBe("");
        expect(r.stdout.trim()).toBe("1");
    }, 120_000);

    test("in the pods: ping works only through the pod's ping_group_range, postgres runs with the hard open-files limit", async () => {
        const ping = await tc.cluster.exec("master-0", ["ping", "-c", "1", "-W", "2", "segment-a-0.agent.greenplum.svc.cluster.local"]);
        expect(ping.status).toBe(0);
        // Without the sysctl (a new network namespace's default, "1 0") ping fails as gpinitsystem saw it.
        const ns = "gpk-master-0";
        const { run } = await import("../runner/host");
        const before = run("ip", ["netns", "exec", ns, "sysctl", "-n", "net.ipv4.ping_group_range"]).stdout.trim().replace(/\s+/g, " ");
        run("ip", ["netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ping_group_range=1 0"]);
        const refused = await tc.cluster.exec("master-0", ["ping", "-c", "1", "-W", "2", "segment-a-0.agent.greenplum.svc.cluster.local"]);
        run("ip", ["netns", "exec", ns, "sysctl", "-q", "-w", `net.ipv4.ping_group_range=${before}`]);
        expect(before).toBe("1001 1001");
        expect(refused.status).not.toBe(0);
        expect(refused.stderr).toMatch(/Operation not permitted|Permission denied/);
        const limits = await tc.cluster.exec("segment-a-0", ["bash", "-c", "pid=$(head -1 /greenplum/data/postmaster.pid); grep 'Max open files' /proc/$pid/limits"]);
        const [soft, hard] = limits.stdout.trim().split(/\s+/).slice(3, 5);
        expect(soft).toBe(hard);
        record("dev: ping and limits", { postmasterOpenFilesSoft: soft, hard });
    }, 120_000);

    test("a primary crashes (unmirrored): the kubelet restarts it and the rows are all there", async () => {
        const started = Date.now();
        tc.cluster.crash("segment-a-1");
        const { ms } = await sqlEventually(tc, "SELECT count(*) FROM app_rows", 300_000);
        await tc.cluster.waitReady(300_000);
        expect(Number((await sql<{ n: string }>(tc, "SELECT count(*) AS n FROM app_rows"))[0].n)).toBe(ROWS);
        record("dev: unmirrored primary crash", { queriesBackSeconds: seconds(ms), allReadySeconds: seconds(Date.now() - started), rows: ROWS });
    }, 600_000);

    test("the master crashes: restarted, Ready again, same rows", async () => {
        const restarts = tc.cluster.pod("master-0").restarts;
        const started = Date.now();
        tc.cluster.crash("master-0");
        await tc.cluster.waitFor("master-0 restarted", 120_000, () => tc.cluster.pod("master-0").restarts > restarts);
        const ms = await tc.cluster.waitReady(600_000);
        expect(Number((await sql<{ n: string }>(tc, "SELECT count(*) AS n FROM app_rows"))[0].n)).toBe(ROWS);
        record("dev: master crash", { readySeconds: seconds(Date.now() - started), rows: ROWS, waitedAfterRestartSeconds: seconds(ms) });
    }, 900_000);

    test("many clients on the master: 'too many clients' never makes the supervisor kill it", async () => {
        const { Client } = await import("pg");
        const c = tc.cluster.clientConnection("greenplum", "greenplum-admin", tc.database);
        const clients: InstanceType<typeof Client>[] = [];
        let refused = "";
        for (let i = 0; i < 400 && !refused; i++) {
            const client = new Client({ ...c, connectionTimeoutMillis: 10_000 });
            client.on("error", () => undefined);
            try {
                await client.connect();
                clients.push(client);
            } catch (err) {
                refused = err instanceof Error ? err.message : String(err);
            }
        }
        expect(refused).toMatch(/too many clients|remaining connection slots are reserved/);
        const restarts = tc.cluster.pod("master-0").restarts;
        // Two supervision passes with every slot taken.
        await new Promise((r) => setTimeout(r, 70_000));
        expect(tc.cluster.pod("master-0").restarts).toBe(restarts);
        await Promise.all(clients.map((cl) => cl.end().catch(() => undefined)));
        expect(Number((await sqlEventually<{ n: string }>(tc, "SELECT count(*) AS n FROM app_rows", 60_000)).rows[0].n)).toBe(ROWS);
        record("dev: many clients", { clientsHeld: clients.length, masterRestarts: tc.cluster.pod("master-0").restarts - restarts });
    }, 600_000);

    test("the master postmaster runs but answers nothing for 75 s (as in a long crash recovery): the supervisor leaves it alone, and it serves again", async () => {
        const restarts = tc.cluster.pod("master-0").restarts;
        const pid = (await tc.cluster.exec("master-0", ["head", "-n", "1", "/greenplum/data-1/postmaster.pid"])).stdout.trim();
        expect(pid).toMatch(/^[0-9]+$/);
        const frozenAt = Date.now();
        expect((await tc.cluster.exec("master-0", ["kill", "-STOP", pid])).status).toBe(0);
        try {
            // Two supervision passes (30 s apart) and more with the postmaster answering nothing.
            await tc.cluster.waitFor("the supervisor seeing a postmaster that does not answer", 120_000, () =>
                tc.cluster.pod("master-0").containerLog().includes("the master postmaster runs but SQL does not answer"),
            );
            await new Promise((r) => setTimeout(r, Math.max(0, 75_000 - (Date.now() - frozenAt))));
            expect(tc.cluster.pod("master-0").restarts).toBe(restarts);
            expect((await tc.cluster.exec("master-0", ["kill", "-0", pid])).status).toBe(0);
        } finally {
            await tc.cluster.exec("master-0", ["kill", "-CONT", pid]);
        }
        const frozenMs = Date.now() - frozenAt;
        const { ms } = await sqlEventually<{ n: string }>(tc, "SELECT count(*) AS n FROM app_rows", 60_000);
        expect(Number((await sql<{ n: string }>(tc, "SELECT count(*) AS n FROM app_rows"))[0].n)).toBe(ROWS);
        expect(tc.cluster.pod("master-0").restarts).toBe(restarts);
        expect((await tc.cluster.exec("master-0", ["head", "-n", "1", "/greenplum/data-1/postmaster.pid"])).stdout.trim()).toBe(pid);
        record("dev: master postmaster not answering", { frozenSeconds: seconds(frozenMs), queriesBackAfterThawSeconds: seconds(ms), masterRestarts: 0, rows: ROWS });
    }, 600_000);

    test("planned outage: every pod deleted (preStop stops Greenplum cleanly) and started again without crash recovery", async () => {
        const stopStarted = Date.now();
        await tc.cluster.stopAll();
        const stopMs = Date.now() - stopStarted;
        tc.cluster.startAgain();
        const ms = await tc.cluster.waitReady(900_000);
        expect(Number((await sql<{ n: string }>(tc, "SELECT count(*) AS n FROM app_rows"))[0].n)).toBe(ROWS);
        // Each instance's server log says how the last stop went.
        for (const [pod, dir] of [["master-0", "/greenplum/data-1"], ["segment-a-0", "/greenplum/data"], ["segment-a-1", "/greenplum/data"]]) {
            expect({ pod, crashRecovery: await crashRecoveryLines(tc, pod, dir, stopStarted) }).toEqual({ pod, crashRecovery: [] });
        }
        expect(tc.cluster.pod("master-0").containerLog()).toContain("running: gpstart -a");
        record("dev: planned outage", { stopSeconds: seconds(stopMs), readyAgainSeconds: seconds(ms), rows: ROWS });
    }, 1_800_000);

    test("every pod deleted at once and recreated with new addresses: Ready again, same rows", async () => {
        const started = Date.now();
        await recreateAllPods(tc);
        const ms = await tc.cluster.waitReady(900_000);
        expect(Number((await sql<{ n: string }>(tc, "SELECT count(*) AS n FROM app_rows"))[0].n)).toBe(ROWS);
        expect((await segments(tc)).every((r) => r.status === "u")).toBe(true);
        record("dev: all pods recreated with new addresses", { readySeconds: seconds(Date.now() - started), afterRecreateSeconds: seconds(ms), rows: ROWS });
    }, 1_800_000);

    test("a topology change after init (primarySegmentCount 2 -> 3): the master refuses, naming the key and the way back, and touches no volume; going back serves the same rows", async () => {
        // What a `pulumi up` of the changed config does to the running stack: new pod specs, same claims.
        await tc.cluster.stopAll();
        await stopCluster(tc, { keepVolumes: true });
        const threePrimaries = path.join(tc.workDir, "..", "Pulumi.e2e-dev-3-primaries.yaml");
        fs.writeFileSync(threePrimaries, `${fs.readFileSync(DEV_STACK, "utf8")}  greenplum-k8s:greenplum:\n    segments:\n      primarySegmentCount: 3\n`);
        tc = startCluster("dev", threePrimaries, { keepVolumes: true });
        expect(tc.cluster.podNames()).toContain("segment-a-2");
        await tc.cluster.waitFor("the master's refusal", 180_000, () => tc.cluster.pod("master-0").containerLog().includes("TOPOLOGY CHANGED after init"));
        const log = tc.cluster.pod("master-0").containerLog();
        expect(log).toContain("greenplum-k8s:greenplum.segments.primarySegmentCount: initialised with 2, the pod spec now says 3");
        expect(log).toContain("kubectl -n greenplum delete pod master-0");
        // No master and nothing initialised: the new segment's volume stays empty. (The unmirrored
        // segments start their own instances, as after any restart; without a master they serve nothing.)
        await new Promise((r) => setTimeout(r, 30_000));
        expect(tc.cluster.pod("master-0").ready).toBe(false);
        for (const pod of ["master-0", "segment-a-2"]) {
            const ps = await tc.cluster.exec(pod, ["ps", "-eo", "args"]);
            expect({ pod, postgres: ps.stdout.split("\n").filter((l) => /^\S*postgres /.test(l)) }).toEqual({ pod, postgres: [] });
        }
        expect((await tc.cluster.exec("segment-a-2", ["bash", "-c", "ls -A /greenplum/data 2>/dev/null | wc -l"])).stdout.trim()).toBe("0");
        expect(log).not.toContain("gpinitsystem");

        await tc.cluster.stopAll();
        await stopCluster(tc, { keepVolumes: true });
        const started = Date.now();
        tc = startCluster("dev", DEV_STACK, { keepVolumes: true });
        await tc.cluster.waitReady(900_000);
        expect(Number((await sql<{ n: string }>(tc, "SELECT count(*) AS n FROM app_rows"))[0].n)).toBe(ROWS);
        expect((await segments(tc)).map((r) => r.hostname.split(".")[0])).toEqual(["master-0", "segment-a-0", "segment-a-1"]);
        record("dev: topology change refused", { backToTwoPrimariesReadySeconds: seconds(Date.now() - started), rows: ROWS });
    }, 1_800_000);
});
