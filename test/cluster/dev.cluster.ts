/**
 * A dev stack on the local cluster through the real Pulumi CLI, as a team uses it: `up`, an app
 * reading the stack outputs, a no-change preview, the policy pack in a pull request, `destroy`.
 */
import * as fs from "fs";
import * as path from "path";
import { CLIENT_NAMESPACE_LABEL } from "../../components/greenplum/network-policies";
import { kubectl, kubectlOk, localDevConfig, record, runApp, Stack, STATE_DIR, tail, type StackOutputs } from "./harness";

const SCENARIO = "dev";
const ROWS = 10_000;
/** A lab range no pod is in: with client sources set (they apply to a NodePort), only labelled namespaces reach the master. */
const CLIENT_SOURCES = ["198.19.255.0/24"];
const config = localDevConfig({ "greenplum-k8s:greenplum": { service: { type: "NodePort", loadBalancerSourceRanges: CLIENT_SOURCES } } });

let stack: Stack;
let outputs: StackOutputs;

beforeAll(() => {
    stack = new Stack("local-dev", config);
});

afterAll(() => {
    stack.pulumi(["destroy", "--yes"], 15 * 60_000);
    stack.remove();
});

const clientNamespace = { [CLIENT_NAMESPACE_LABEL]: "true" };

test("pulumi up returns when Greenplum takes queries", () => {
    const up = stack.up();
    expect({ status: up.status, output: up.status === 0 ? "" : tail(up.stdout) }).toEqual({ status: 0, output: "" });
    outputs = stack.outputs();
    const app = runApp("app", clientNamespace, outputs, 'psql "$CONNECTION_URI" -Atc "select 1"');
    record(SCENARIO, "up to queries", { upSeconds: up.seconds, appSeconds: app.seconds, reachableAfter: app.reachableAfter, phase: app.phase });
    expect({ phase: app.phase, logs: app.logs.trim() }).toEqual({ phase: "Succeeded", logs: "1" });
});

test("the outputs are what an app needs: in-cluster host, port 5432, the database and gpadmin", () => {
    expect(outputs).toMatchObject({ host: "greenplum.greenplum.svc.cluster.local", port: 5432, database: "gpadmin", username: "gpadmin", namespace: "greenplum" });
    expect(outputs.connectionUri).toBe(`postgresql://gpadmin:${encodeURIComponent(outputs.password)}@greenplum.greenplum.svc.cluster.local:5432/gpadmin`);
});

test(`an app configured only from the outputs writes ${ROWS} rows through the client Service and reads them back from both segments`, () => {
    const script = [
        "set -euo pipefail",
        // Greenplum 6's psql (9.4) runs only the last of several -c: statements go on stdin.
        `psql "$CONNECTION_URI" -v ON_ERROR_STOP=1 -qAt <<'SQL'`,
        "create table app_rows (id int, note text) distributed by (id);",
        `insert into app_rows select i, 'row ' || i from generate_series(1, ${ROWS}) i;`,
        "SQL",
        // The same table through the separate outputs (host, port, database, username, password).
        'psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$PGDATABASE" -v ON_ERROR_STOP=1 -At -c "select count(*), count(distinct gp_segment_id) from app_rows"',
    ].join("\n");
    const app = runApp("app", clientNamespace, outputs, script);
    record(SCENARIO, "app writes and reads", { rows: app.logs.trim(), seconds: app.seconds });
    expect({ phase: app.phase, logs: app.logs.trim() }).toEqual({ phase: "Succeeded", logs: `${ROWS}|2` });
});

test("a pod in a namespace the NetworkPolicies do not admit cannot reach the master", () => {
    const app = runApp("outsider", {}, outputs, 'PGCONNECT_TIMEOUT=5 psql "$CONNECTION_URI" -Atc "select 1"', { reachWithinSeconds: 15 });
    record(SCENARIO, "unadmitted namespace", { phase: app.phase, logs: app.logs.trim() });
    expect(app.reachableAfter).toBeUndefined();
    expect(app.phase).toBe("Failed");
    // kube-router rejects (REJECT, so "refused") what no policy admits.
    expect(app.logs).toMatch(/Connection refused|timeout expired/);
});

test("a preview right after up, and after a refresh, has no changes", () => {
    const first = stack.pulumi(["preview", "--expect-no-changes", "--diff"]);
    expect({ status: first.status, output: first.status === 0 ? "" : tail(first.stdout, 60) }).toEqual({ status: 0, output: "" });
    const refresh = stack.pulumi(["refresh", "--yes", "--skip-preview"], 10 * 60_000);
    expect({ status: refresh.status, output: refresh.status === 0 ? "" : tail(refresh.stdout) }).toEqual({ status: 0, output: "" });
    const second = stack.pulumi(["preview", "--expect-no-changes", "--diff"]);
    record(SCENARIO, "no-change preview", { previewSeconds: first.seconds, refreshSeconds: refresh.seconds, previewAfterRefreshSeconds: second.seconds });
    expect({ status: second.status, output: second.status === 0 ? "" : tail(second.stdout, 60) }).toEqual({ status: 0, output: "" });
});

describe("preview in a pull request, with the policy pack", () => {
    const policy = ["--policy-pack", "policy", "--policy-pack-config", "policy/dev.json"];

    test("the dev stack as it is passes the pack", () => {
        const preview = stack.pulumi(["preview", ...policy]);
        record(SCENARIO, "policy preview", { seconds: preview.seconds, status: preview.status });
        expect({ status: preview.status, output: preview.status === 0 ? "" : tail(preview.stdout, 60) }).toEqual({ status: 0, output: "" });
    });

    test("a public LoadBalancer for the client Service fails the preview, naming no-public-load-balancer", () => {
        stack.setConfig(localDevConfig({ "greenplum-k8s:greenplum": { service: { type: "LoadBalancer", internal: false, loadBalancerSourceRanges: ["0.0.0.0/0"] } } }));
        try {
            const preview = stack.pulumi(["preview", ...policy]);
            record(SCENARIO, "policy refusal", { seconds: preview.seconds, status: preview.status });
            expect(preview.status).not.toBe(0);
            expect(preview.stdout).toMatch(/no-public-load-balancer/);
            expect(preview.stdout).toMatch(/mandatory/);
        } finally {
            stack.setConfig(config);
        }
    });
});

test("a dev destroy removes everything, volumes included, and a new up starts clean", () => {
    const destroy = stack.pulumi(["destroy", "--yes", "--skip-preview"], 15 * 60_000);
    expect({ status: destroy.status, output: destroy.status === 0 ? "" : tail(destroy.stdout) }).toEqual({ status: 0, output: "" });
    const namespaces = kubectlOk(["get", "namespaces", "-o", "jsonpath={.items[*].metadata.name}"]).split(" ");
    const volumes = kubectlOk(["get", "pv", "-o", "jsonpath={range .items[*]}{.metadata.name} {.status.phase}{\"\\n\"}{end}"]).trim();
    const directories = fs.existsSync(path.join(STATE_DIR, "local-path")) ? fs.readdirSync(path.join(STATE_DIR, "local-path")) : [];
    record(SCENARIO, "destroy", { seconds: destroy.seconds, volumesLeft: volumes === "" ? 0 : volumes.split("\n").length, directoriesLeft: directories.length });
    expect(namespaces).not.toEqual(expect.arrayContaining(["greenplum"]));
    expect(namespaces).not.toEqual(expect.arrayContaining(["local-path-storage"]));
    expect({ volumes, directories }).toEqual({ volumes: "", directories: [] });

    const again = stack.up();
    expect({ status: again.status, output: again.status === 0 ? "" : tail(again.stdout) }).toEqual({ status: 0, output: "" });
    outputs = stack.outputs();
    const app = runApp("app", clientNamespace, outputs, `psql "$CONNECTION_URI" -Atc "select count(*) from pg_tables where tablename = 'app_rows'"`);
    record(SCENARIO, "up after destroy", { upSeconds: again.seconds, appRowsTables: app.logs.trim() });
    expect({ phase: app.phase, logs: app.logs.trim() }).toEqual({ phase: "Succeeded", logs: "0" });
    expect(kubectl(["get", "namespace", "app"]).status).toBe(0);
});
