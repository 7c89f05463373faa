/**
 * The pg_hba check (policy/rules/pg-hba.ts) against Greenplum itself: random lines, each written
 * into the pg_hba.conf of a throw-away instance of GPHOME's postgres, which then starts (it read
 * the line) or refuses to ("could not load pg_hba.conf"). Every line the check allows must start;
 * every line it refuses as unreadable to Greenplum must not. Lines it refuses by its own stricter
 * rules (trust for a network, shortened IPv4 forms, methods that depend on the build) are counted.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { hbaLineRefusal } from "../../../policy/rules/pg-hba";

const GPHOME = process.env.GPHOME ?? "";
const LINES = 300;
const PORT = 16_543;

/** A small deterministic generator (mulberry32), so a failure names a line that can be rerun. */
function random(seed: number): () => number {
    let state = seed;
    return () => {
        state = (state + 0x6d2b79f5) | 0;
        let t = Math.imul(state ^ (state >>> 15), 1 | state);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

/** Each field's usual values and its mistakes; a mistake is picked with MISTAKE_RATE per field. */
const PARTS: Record<string, { usual: string[]; mistakes: string[] }> = {
    type: { usual: ["host", "hostnossl", "local"], mistakes: ["hostssl", "Host", "hosts", "host,local"] },
    database: { usual: ["all", "analytics", "analytics,etl", "analytics, etl", '"my db"', "replication", "sameuser"], mistakes: ["@dbs", ""] },
    role: { usual: ["all", "etl", "etl, loader", "+admins", '"ETL"'], mistakes: ["@roles"] },
    address: {
        usual: ["10.0.0.0/8", "10.1.2.3/32", "10.0.0.0 255.0.0.0", "10.1.2.3 255.255.255.255", "fd00::/8", "::1/128", "::ffff:10.1.2.3/128", "all", "samehost", "samenet", ".example.com", "db.example.com", "0.0.0.0/0"],
        mistakes: ["10.1.2.3/33", "10.1.2.3", "10.0.0.0 md5", "10.0.0.0 ffff::", "fd00::/129", "db.example.com/24", "10.0.0.0/8,10.1.0.0/16", "10.0.0.0/8x", "10.1/16", "010.0.0.0/8", "10.1.2.3/8"],
    },
    method: { usual: ["md5", "trust", "password", "reject", "scram-sha-256", "ident", "radius"], mistakes: ["peer", "MD5", "cert", "sspi", "ldap", "pam", "gss", "krb5", "md5,trust", ""] },
    options: { usual: [""], mistakes: ["map=etl", "sameuser", "ldapserver=ldap.example.com", "clientcert=1", "radiusserver=127.0.0.1"] },
};
const MISTAKE_RATE = 0.12;

function randomLine(next: () => number): string {
    const pick = (field: string) => {
        const { usual, mistakes } = PARTS[field];
        const list = next() < MISTAKE_RATE ? mistakes : usual;
        return list[Math.floor(next() * list.length)];
    };
    const type = pick("type");
    const method = pick("method");
    // ident takes a map and radius its server and secret: give them as often as not.
    const options = method === "ident" && next() < 0.5 ? "map=etl" : method === "radius" ? "radiusserver=127.0.0.1 radiussecret=s3cret" : pick("options");
    const address = type === "local" ? "" : pick("address");
    return [type, pick("database"), pick("role"), address, method, options].filter(Boolean).join(" ");
}

const asGpadmin = (script: string, timeoutMs = 60_000) =>
    spawnSync("su", ["gpadmin", "-c", `source ${GPHOME}/greenplum_path.sh\n${script}`], { encoding: "utf8", timeout: timeoutMs });

let dir: string;

beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpk-hba-"));
    fs.chownSync(dir, 1001, 1001);
    const init = asGpadmin(`initdb -D ${dir}/data -A trust >${dir}/initdb.log 2>&1`, 300_000);
    if (init.status !== 0) throw new Error(`initdb failed: ${fs.readFileSync(path.join(dir, "initdb.log"), "utf8")}`);
});

afterAll(() => {
    asGpadmin(`pg_ctl -D ${dir}/data stop -m immediate >/dev/null 2>&1`);
    fs.rmSync(dir, { recursive: true, force: true });
});

/** Whether Greenplum starts with `line` in its pg_hba.conf (after a local line so the start check can connect). */
function greenplumReads(line: string): boolean {
    fs.writeFileSync(path.join(dir, "data", "pg_hba.conf"), `local all all trust\n${line}\n`);
    const started = asGpadmin(
        `pg_ctl -D ${dir}/data -w -t 30 -l ${dir}/server.log ` +
            `-o "--gp_dbid=-1 --gp_contentid=-1 -c gp_role=utility -p ${PORT} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c logging_collector=off" start`,
    );
    asGpadmin(`pg_ctl -D ${dir}/data stop -m fast -w -t 30 >/dev/null 2>&1`);
    return started.status === 0;
}

test(`${LINES} random pg_hba lines: every line the check allows, Greenplum 6 reads; every line it refuses as unreadable, Greenplum refuses`, () => {
    expect(GPHOME).not.toBe("");
    const next = random(20261207);
    const lines = [...new Set(Array.from({ length: LINES * 3 }, () => randomLine(next)))].slice(0, LINES);
    const disagreements: string[] = [];
    const counts = { allowed: 0, refusedAsUnreadable: 0, refusedByStricterRule: 0 };
    for (const line of lines) {
        const refusal = hbaLineRefusal(line, { production: false });
        if (refusal?.greenplumReads) {
            counts.refusedByStricterRule += 1;
            continue;
        }
        const reads = greenplumReads(line);
        if (refusal === undefined) counts.allowed += 1;
        else counts.refusedAsUnreadable += 1;
        if (reads !== (refusal === undefined)) disagreements.push(`${JSON.stringify(line)}: check ${refusal ? `refuses (${refusal.message})` : "allows"}, Greenplum ${reads ? "reads it" : "refuses it"}`);
    }
    console.log(`pg_hba property test: ${JSON.stringify({ lines: lines.length, ...counts })}`);
    expect(disagreements).toEqual([]);
    // The sample exercises both sides.
    expect(counts.allowed).toBeGreaterThan(50);
    expect(counts.refusedAsUnreadable).toBeGreaterThan(50);
});
