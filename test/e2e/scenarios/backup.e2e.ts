/**
 * Backups against a real Greenplum and a real S3 server (versitygw, built by tools/s3-server):
 * gp-backup.sh in the master pod, fed on stdin exactly what bin/gp-backup and the CronJob's pod
 * feed it (the rendered settings ConfigMap and the key pair Secret).
 */
import { spawn, spawnSync, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { REPO_ROOT } from "../runner/render";
import { record, seconds, sql, startCluster, stopCluster, Writer, WORK_ROOT, type TestCluster } from "./harness";

const STACK = path.join(REPO_ROOT, "test/e2e/stacks/Pulumi.e2e-backup.yaml");
const S3_ADDRESS = "198.18.0.1:7070";
let tc: TestCluster;
let s3: ChildProcess | undefined;

afterAll(async () => {
    s3?.kill("SIGTERM");
    await stopCluster(tc);
});

/** Starts versitygw on the runner's bridge with the key pair the rendered Secret holds. */
async function startS3(keys: Record<string, string>): Promise<void> {
    const built = spawnSync("bash", [path.join(REPO_ROOT, "tools/s3-server/build.sh")], { encoding: "utf8", timeout: 900_000 });
    if (built.status !== 0) throw new Error(`building versitygw failed: ${built.stderr}`);
    const root = path.join(WORK_ROOT, "s3");
    fs.rmSync(root, { recursive: true, force: true });
    fs.mkdirSync(path.join(root, "gpk-e2e"), { recursive: true });
    s3 = spawn(built.stdout.trim(), ["--port", S3_ADDRESS, "--access", keys.accessKeyId, "--secret", keys.secretAccessKey, "--quiet", "posix", root], { stdio: "ignore" });
    await tc.cluster.waitFor("the S3 server listening", 30_000, () => spawnSync("bash", ["-c", `exec 3<>/dev/tcp/${S3_ADDRESS.replace(":", "/")}`]).status === 0);
}

/** gp-backup.sh VERB in the acting master, with the settings and the key pair on stdin. */
async function gpBackup(args: string[], overrides = ""): Promise<{ status: number; stdout: string; stderr: string; ms: number }> {
    const keys = tc.cluster.plan.secrets.get("greenplum-backup-s3") as Record<string, string>;
    const settings = tc.cluster.plan.configMaps.get("greenplum-backup")?.settings ?? "";
    const input = `${settings}\nGPK_S3_ACCESS_KEY_ID=${keys.accessKeyId}\nGPK_S3_SECRET_ACCESS_KEY=${keys.secretAccessKey}\n${overrides}`;
    const started = Date.now();
    const r = await tc.cluster.exec("master-0", ["bash", "/opt/greenplum-k8s/scripts/gp-backup.sh", ...args], { input, timeoutMs: 600_000 });
    return { ...r, ms: Date.now() - started };
}

interface TableFacts {
    rows: number;
    checksum: string;
}

/** Row count and an order-independent checksum of every table the scenario made, in `database`. */
async function facts(database: string): Promise<Record<string, TableFacts>> {
    const out: Record<string, TableFacts> = {};
    for (const table of ["accounts", "events_heap", "events_ao", "events_aoco", "events_part"]) {
        const client = { ...tc, database };
        const [row] = await sql<{ n: string; c: string }>(client, `SELECT count(*) AS n, coalesce(sum(hashtext(t::text)), 0)::text AS c FROM ${table} t`);
        out[table] = { rows: Number(row.n), checksum: row.c };
    }
    return out;
}

describe("backups to S3 with gpbackup, restores with exact counts", () => {
    let fullTs = "";
    let factsAtIncremental: Record<string, TableFacts> = {};

    test("a full backup of heap, AO row and column and partitioned tables, a view, a sequence, a role and its grant", async () => {
        tc = startCluster("backup", STACK);
        await tc.cluster.waitReady(1_200_000);
        await startS3(tc.cluster.plan.secrets.get("greenplum-backup-s3") as Record<string, string>);
        await sql(tc, `
            CREATE TABLE accounts (id int, balance bigint) DISTRIBUTED BY (id);
            INSERT INTO accounts SELECT g, 1000 FROM generate_series(1, 100) g;
            CREATE TABLE events_heap (id int, v text) DISTRIBUTED BY (id);
            INSERT INTO events_heap SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
            CREATE TABLE events_ao (id int, v text) WITH (appendonly=true) DISTRIBUTED BY (id);
            INSERT INTO events_ao SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
            CREATE TABLE events_aoco (id int, v text) WITH (appendonly=true, orientation=column, compresstype=zstd) DISTRIBUTED BY (id);
            INSERT INTO events_aoco SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
            CREATE TABLE events_part (id int, d date) WITH (appendonly=true) DISTRIBUTED BY (id)
                PARTITION BY RANGE (d) (START (date '2026-01-01') END (date '2026-04-01') EVERY (interval '1 month'));
            INSERT INTO events_part SELECT g, date '2026-01-01' + (g % 90) FROM generate_series(1, 9000) g;
            CREATE INDEX events_part_id ON events_part (id);
            CREATE VIEW heap_total AS SELECT count(*) AS n FROM events_heap;
            CREATE SEQUENCE invoice_no START 500;
            SELECT nextval('invoice_no');
            CREATE ROLE reporting NOLOGIN;
            GRANT SELECT ON events_heap TO reporting;`);
        const r = await gpBackup(["run"]);
        expect(r.stderr).toMatch(/full backup of database gpadmin/);
        expect(r.status).toBe(0);
        fullTs = /backup (\d{14}) gpadmin full Success/.exec(r.stdout)?.[1] ?? "";
        expect(fullTs).toMatch(/^\d{14}$/);
        record("backup: full", { seconds: seconds(r.ms), timestamp: fullTs });
    }, 1_800_000);

    test("rows added to the AO tables, then an incremental: restoring it gives exactly the later state, under another name while a writer commits", async () => {
        await sql(tc, "INSERT INTO events_ao SELECT g, md5(g::text) FROM generate_series(20001, 25000) g; INSERT INTO events_aoco SELECT g, md5(g::text) FROM generate_series(20001, 23000) g");
        const r = await gpBackup(["run"]);
        expect(r.status).toBe(0);
        expect(r.stdout).toMatch(new RegExp(`backup \\d{14} gpadmin incremental Success`));
        factsAtIncremental = await facts("gpadmin");
        expect(factsAtIncremental.events_ao.rows).toBe(25_000);
        expect(factsAtIncremental.events_aoco.rows).toBe(23_000);
        // Later rows are not in the incremental.
        await sql(tc, "INSERT INTO events_ao SELECT g, md5(g::text) FROM generate_series(25001, 26000) g");
        await sql(tc, "CREATE TABLE writes (id int) DISTRIBUTED BY (id)");
        const writer = new Writer(tc, "writes", 1);
        const restored = await gpBackup(["restore", "--timestamp", "latest", "--into-database", "restored"]);
        await writer.stop();
        expect(restored.status).toBe(0);
        expect(await facts("restored")).toEqual(factsAtIncremental);
        const objects = await sql<{ view: string; seq: string; grant: boolean; indexes: string }>({ ...tc, database: "restored" }, `
            SELECT (SELECT n FROM heap_total)::text AS view, (SELECT last_value FROM invoice_no)::text AS seq,
                   has_table_privilege('reporting', 'events_heap', 'SELECT') AS grant,
                   (SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'events_part%')::text AS indexes`);
        expect(objects).toEqual([{ view: "20000", seq: "500", grant: true, indexes: "4" }]);
        const committed = Number((await sql<{ n: string }>(tc, "SELECT count(*) AS n FROM writes"))[0].n);
        expect(committed).toBe(writer.committed.length);
        expect(writer.committed.length).toBeGreaterThan(0);
        record("backup: incremental restored into a new database while serving", { restoreSeconds: seconds(restored.ms), writerCommits: writer.committed.length, writerErrors: writer.errors });
    }, 1_800_000);

    test("a backup taken while money moves between rows on both segments restores with the total unchanged", async () => {
        let moving = true;
        let moves = 0;
        const mover = (async () => {
            for (let i = 0; moving && i < 100_000; i++) {
                const from = 1 + (i % 100);
                const to = 1 + ((i * 37) % 100);
                await sql(tc, `BEGIN; UPDATE accounts SET balance = balance - 7 WHERE id = ${from}; UPDATE accounts SET balance = balance + 7 WHERE id = ${to}; COMMIT;`);
                moves++;
            }
        })();
        await new Promise((r) => setTimeout(r, 1500));
        const r = await gpBackup(["run", "--full"]);
        moving = false;
        await mover;
        expect(r.status).toBe(0);
        const ts = /backup (\d{14}) gpadmin full Success/.exec(r.stdout)?.[1] ?? "";
        const restored = await gpBackup(["restore", "--timestamp", ts, "--into-database", "during_moves"]);
        expect(restored.status).toBe(0);
        const [total] = await sql<{ total: string; spread: string }>({ ...tc, database: "during_moves" }, "SELECT sum(balance)::text AS total, count(DISTINCT gp_segment_id)::text AS spread FROM accounts");
        expect(total).toEqual({ total: "100000", spread: "2" });
        record("backup: consistent under moving money", { moves, backupSeconds: seconds(r.ms) });
    }, 1_800_000);

    test("retention (one full kept): the newest full stays, the older full and its incremental are gone", async () => {
        const list = await gpBackup(["list"]);
        expect(list.status).toBe(0);
        const rows = list.stdout.split("\n").filter((l) => /^\d{14} /.test(l));
        expect(rows).toHaveLength(1);
        expect(rows[0]).toMatch(/gpadmin +full +Success/);
        expect(rows[0]).not.toContain(fullTs);
        record("backup: retention", { listed: rows.length });
    }, 600_000);

    test("a wrong key or a store that does not answer: the run fails within its bound with the cause, the cluster unaffected", async () => {
        const wrong = await gpBackup(["run"], "GPK_S3_SECRET_ACCESS_KEY=not-the-key\n");
        expect(wrong.status).toBe(1);
        expect(wrong.stderr).toMatch(/refused a test write; nothing was backed up: .*SignatureDoesNotMatch/);
        const silent = await gpBackup(["run"], "GPK_S3_ENDPOINT=198.18.0.1:7071\nGPK_S3_PROBE_TIMEOUT_SECONDS=20\n");
        expect(silent.status).toBe(1);
        expect(silent.stderr).toMatch(/did not answer within 20s; nothing was backed up/);
        expect(silent.ms).toBeLessThan(40_000);
        expect(Number((await sql<{ n: string }>(tc, "SELECT count(*) AS n FROM events_heap"))[0].n)).toBe(20_000);
        record("backup: bad destinations", { wrongKeySeconds: seconds(wrong.ms), silentStoreSeconds: seconds(silent.ms) });
    }, 600_000);
});
