/**
 * The production profile's promise that data is kept, through the real CLI: a `destroy` without
 * the README's unprotect step deletes nothing; after it, `destroy` leaves the namespace,
 * StatefulSets, Secrets and claims; a new `up` adopts
 * them with the password handed back as the README's Destroying runbook says; every row is there.
 * On one node: anti-affinity off and local-path volumes, which the production policy pack refuses
 * (this runs `up` without the pack, as the profile's destroy and adoption do not depend on them)
 * and the config accepts only by name (storage.acceptedDataClasses), with a warning at every `up`.
 */
import * as fs from "fs";
import * as path from "path";
import { CLIENT_NAMESPACE_LABEL } from "../../components/greenplum/network-policies";
import { command, kubectl, kubectlOk, localDevConfig, record, runApp, Stack, STATE_DIR, tail, type StackOutputs } from "./harness";

const SCENARIO = "production";
const ROWS = 10_000;
const config = localDevConfig({
    "greenplum-k8s:profile": "production",
    "greenplum-k8s:storage": { acceptedDataClasses: ["greenplum-data"] },
    "greenplum-k8s:greenplum": {
        service: { internal: false },
        masterAndStandby: { antiAffinity: false, memory: "1Gi", storage: "5Gi" },
        segments: { primarySegmentCount: 2, antiAffinity: false, memory: "1Gi", storage: "10Gi" },
    },
});
const client = { [CLIENT_NAMESPACE_LABEL]: "true" };
const count = `psql "$CONNECTION_URI" -v ON_ERROR_STOP=1 -At -c "select count(*), count(distinct gp_segment_id) from kept_rows"`;

let stack: Stack;
/** The outputs of the first up: what the apps were configured with before the destroy. */
let firstOutputs: StackOutputs;

const names = (kind: string) => kubectl(["-n", "greenplum", "get", kind, "-o", "jsonpath={.items[*].metadata.name}"]).stdout.trim().split(" ").filter(Boolean).sort();
const podUids = () => kubectlOk(["-n", "greenplum", "get", "pods", "-o", "jsonpath={range .items[*]}{.metadata.name}={.metadata.uid} {end}"]).trim();
const claimUids = () => kubectlOk(["-n", "greenplum", "get", "pvc", "-o", "jsonpath={range .items[*]}{.metadata.name}={.metadata.uid}:{.status.phase} {end}"]).trim();

beforeAll(() => {
    stack = new Stack("local-prod", config);
});

afterAll(() => {
    // Production keeps what matters on purpose: remove it by hand, as an operator retiring the stack would.
    stack.pulumiState(["unprotect", "--all", "--yes"]);
    stack.pulumi(["destroy", "--yes", "--skip-preview"], 15 * 60_000);
    stack.remove();
    const volumes = kubectl(["get", "pv", "-o", "jsonpath={range .items[?(@.spec.claimRef.namespace==\"greenplum\")]}{.metadata.name} {end}"]).stdout.trim().split(" ").filter(Boolean);
    kubectl(["delete", "namespace", "greenplum", "--wait=true", "--timeout=180s"], { timeoutMs: 200_000 });
    if (volumes.length > 0) kubectl(["delete", "pv", ...volumes, "--wait=true", "--timeout=60s"], { timeoutMs: 80_000 });
    // Retained volumes keep their directories (local-path names them <pv>_<namespace>_<claim>).
    const root = path.join(STATE_DIR, "local-path");
    for (const dir of fs.existsSync(root) ? fs.readdirSync(root) : []) {
        if (dir.includes("_greenplum_")) fs.rmSync(path.join(root, dir), { recursive: true, force: true });
    }
});

test(`a production-profile stack: up, and an app writes ${ROWS} rows`, () => {
    const up = stack.up();
    expect({ status: up.status, output: up.status === 0 ? "" : tail(up.stdout) }).toEqual({ status: 0, output: "" });
    expect(up.stdout).toContain('Greenplum data is on class "greenplum-data" on your word');
    firstOutputs = stack.outputs();
    const app = runApp("app", client, firstOutputs, [
        `psql "$CONNECTION_URI" -v ON_ERROR_STOP=1 -qAt <<'SQL'`,
        "create table kept_rows (id int, note text) distributed by (id);",
        `insert into kept_rows select i, 'row ' || i from generate_series(1, ${ROWS}) i;`,
        "SQL",
        count,
    ].join("\n"));
    record(SCENARIO, "up and write", { upSeconds: up.seconds, rows: app.logs.trim() });
    expect({ phase: app.phase, logs: app.logs.trim() }).toEqual({ phase: "Succeeded", logs: `${ROWS}|2` });
});

test("destroy without the unprotect step fails, naming a protected resource, and deletes nothing of Greenplum's", () => {
    const objects = () => ({ statefulsets: names("statefulsets"), services: names("services"), pdbs: names("poddisruptionbudgets"), policies: names("networkpolicies"), configmaps: names("configmaps"), secrets: names("secrets") });
    const before = { objects: objects(), pods: podUids() };
    const destroy = stack.pulumi(["destroy", "--yes", "--skip-preview"], 5 * 60_000);
    const after = { objects: objects(), pods: podUids() };
    record(SCENARIO, "destroy while protected", { seconds: destroy.seconds, status: destroy.status, ...after.objects });
    expect(destroy.status).not.toBe(0);
    expect(`${destroy.stdout}${destroy.stderr}`).toMatch(/protected/);
    expect(after).toEqual(before);
    expect(before.objects.services).toEqual(["agent", "greenplum"]);
});

test("destroy after `pulumi state unprotect --all` leaves the namespace, StatefulSets, Secrets, scripts and claims; the rest is gone", () => {
    const claimsBefore = claimUids();
    const unprotect = stack.pulumiState(["unprotect", "--all", "--yes"]);
    expect({ status: unprotect.status, stderr: unprotect.stderr }).toEqual({ status: 0, stderr: "" });
    const destroy = stack.pulumi(["destroy", "--yes", "--skip-preview"], 15 * 60_000);
    expect({ status: destroy.status, output: destroy.status === 0 ? "" : tail(destroy.stdout) }).toEqual({ status: 0, output: "" });
    const kept = { statefulsets: names("statefulsets"), secrets: names("secrets"), claims: claimUids(), services: names("services"), configmaps: names("configmaps") };
    record(SCENARIO, "destroy after unprotect", { seconds: destroy.seconds, ...kept, claims: kept.claims.split(" ").length });
    expect(kubectl(["get", "namespace", "greenplum"]).status).toBe(0);
    expect(kept.statefulsets).toEqual(["master", "segment-a", "segment-b"]);
    // Retained on delete (an upgrade replaces them, so they are not protected).
    expect(kept.secrets).toEqual(["greenplum-admin", "greenplum-ssh"]);
    expect(kept.configmaps).toEqual(["greenplum-scripts", "kube-root-ca.crt"]);
    expect(kept.claims).toBe(claimsBefore);
    expect(kept.claims.split(" ").every((c) => c.endsWith(":Bound"))).toBe(true);
    expect(kept.services).toEqual([]);
});

test("a new up with the password handed back as the README says adopts them: same claims, every row there, the old password still works", () => {
    const claimsBefore = claimUids();
    // The README's command, verbatim but for the stack's flags.
    const handBack = command("bash", ["-c", [
        "set -euo pipefail",
        `pulumi config set --secret --path 'greenplum-k8s:greenplum.adminPassword' "$(kubectl -n greenplum get secret greenplum-admin -o jsonpath='{.data.password}' | base64 -d)" --stack ${stack.name} --config-file '${stack.configFile}' --non-interactive`,
    ].join("\n")]);
    expect({ status: handBack.status, stderr: handBack.stderr }).toEqual({ status: 0, stderr: "" });
    expect(fs.readFileSync(stack.configFile, "utf8")).toMatch(/adminPassword:\s*\{?\s*secure: /);
    const up = stack.up();
    expect({ status: up.status, output: up.status === 0 ? "" : tail(up.stdout) }).toEqual({ status: 0, output: "" });
    const outputs = stack.outputs();
    // The apps still hold the first outputs: they must keep working.
    const app = runApp("app", client, firstOutputs, count);
    record(SCENARIO, "adopted by a new up", { upSeconds: up.seconds, rows: app.logs.trim(), samePassword: outputs.password === firstOutputs.password });
    expect(outputs.password).toBe(firstOutputs.password);
    expect(claimUids()).toBe(claimsBefore);
    expect({ phase: app.phase, logs: app.logs.trim() }).toEqual({ phase: "Succeeded", logs: `${ROWS}|2` });
    const again = stack.pulumi(["preview", "--expect-no-changes"]);
    expect({ status: again.status, output: again.status === 0 ? "" : tail(again.stdout, 60) }).toEqual({ status: 0, output: "" });
});

test("after the adoption the ssh keys are new: a restarted master still starts the cluster over ssh", () => {
    kubectlOk(["-n", "greenplum", "delete", "pod", "master-0", "--wait=true", "--timeout=180s"], { timeoutMs: 200_000 });
    const app = runApp("app", client, firstOutputs, count, { reachWithinSeconds: 600, timeoutSeconds: 700 });
    record(SCENARIO, "master restarted after adoption", { reachableAfter: app.reachableAfter, rows: app.logs.trim() });
    expect({ phase: app.phase, logs: app.logs.trim() }).toEqual({ phase: "Succeeded", logs: `${ROWS}|2` });
});
