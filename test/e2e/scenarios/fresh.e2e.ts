/**
 * Scenarios that need a cluster of their own (dev topology: master + 2 primaries): a pod restarted
 * during the first init and a data volume on tmpfs; and one that must never get a cluster, a
 * config whose pod host names Greenplum cannot store.
 */
import * as fs from "fs";
import * as path from "path";
import { renderStack } from "../runner/render";
import { allLogs, DEV_STACK, record, seconds, segments, sql, startCluster, stopCluster, WORK_ROOT, type TestCluster } from "./harness";

let tc: TestCluster | undefined;
afterEach(async () => {
    await stopCluster(tc);
    tc = undefined;
});

test("the master restarted during its first init, while initdb runs on a segment: the unfinished init is moved aside and run again, and the cluster comes up", async () => {
    tc = startCluster("restart-during-init", DEV_STACK);
    const cluster = tc.cluster;
    const started = Date.now();
    await cluster.waitFor("gpinitsystem running", 600_000, () => allLogs(tc as TestCluster, "master-0").includes("running: gpinitsystem"));
    // Let gpinitsystem get as far as creating instances on the segments: crash while a segment's
    // initdb runs its backend in bootstrap or single-user mode, which pg_ctl cannot stop.
    await cluster.waitFor("initdb's backend running on segment-a-0", 120_000, async () => /postgres --(single|boot)/.test((await cluster.exec("segment-a-0", ["ps", "-eo", "args"])).stdout));
    cluster.crash("master-0");
    const ms = await cluster.waitReady(1_200_000);
    expect(allLogs(tc, "master-0")).toContain("the first init did not finish");
    expect((await segments(tc)).map((r) => `${r.content}/${r.role}/${r.status}`)).toEqual(["-1/p/u", "0/p/u", "1/p/u"]);
    // What the first attempt left is kept beside the new data, never deleted. The master's is always
    // there (gpinitsystem builds it first); a segment's may not be: an initdb whose ssh session is
    // cut removes its own directory, and runs have seen both.
    const leftovers = fs.readdirSync(path.join(cluster.workDir, "pvc", "data-master-0")).filter((f) => f.startsWith("data-1.half-init-"));
    expect(leftovers.length).toBe(1);
    await sql(tc, "CREATE TABLE t (id int) DISTRIBUTED BY (id); INSERT INTO t SELECT generate_series(1, 1000)");
    expect(Number((await sql<{ n: string }>(tc, "SELECT count(*) AS n FROM t"))[0].n)).toBe(1000);
    record("restart during first init", { readySeconds: seconds(Date.now() - started), afterCrashSeconds: seconds(ms), rows: 1000 });
}, 1_800_000);

test("a data volume on tmpfs: the volume guard refuses it with its message and Greenplum never starts there", async () => {
    tc = startCluster("tmpfs-volume", DEV_STACK, { tmpfsClaims: ["data-segment-a-1"] });
    const cluster = tc.cluster;
    const guardLog = (): string => {
        const dir = path.join(cluster.workDir, "logs", "segment-a-1");
        return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.startsWith("volume-guard.")).map((f) => fs.readFileSync(path.join(dir, f), "utf8")).join("") : "";
    };
    await cluster.waitFor("the volume guard's verdict", 120_000, () => guardLog().includes("FAIL volume"));
    // Two more back-off rounds: the main container never starts, no instance is created there.
    await new Promise((r) => setTimeout(r, 40_000));
    expect(guardLog()).toMatch(/FAIL volume data at \/greenplum: filesystem is tmpfs, which rejects O_DIRECT/);
    expect(cluster.pod("segment-a-1").state).toBe("waiting");
    expect(fs.readdirSync(path.join(cluster.workDir, "pvc", "data-segment-a-1"))).toEqual([]);
    // The master waits for the host whose volume was refused.
    expect(cluster.pod("master-0").containerLog()).toContain("waiting for hosts: segment-a-1");
    record("volume guard refuses tmpfs", { guardRuns: (guardLog().match(/FAIL volume/g) ?? []).length });
}, 600_000);

test("pod host names over 63 characters (Greenplum keeps 64-byte host names): the config is refused before anything is rendered, naming the key", () => {
    const config = path.join(WORK_ROOT, "Pulumi.e2e-dev-long-namespace.yaml");
    const namespace = "greenplum-analytics-production-eu";
    fs.mkdirSync(WORK_ROOT, { recursive: true });
    fs.writeFileSync(config, `${fs.readFileSync(DEV_STACK, "utf8")}  greenplum-k8s:greenplum:\n    namespace: ${namespace}\n`);
    const out = path.join(WORK_ROOT, "long-namespace-render");
    fs.rmSync(out, { recursive: true, force: true });
    expect(() => renderStack({ config, out })).toThrow(
        new RegExp(`greenplum\\.namespace.*is too long for the pod host names Greenplum stores: "segment-a-1\\.agent\\.${namespace}\\.svc\\.cluster\\.local" has 69 characters`),
    );
    expect(fs.existsSync(path.join(out, "manifests.yaml"))).toBe(false);
});
