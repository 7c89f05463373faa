/**
 * HA on one node through the real CLI and a real kubelet: standby master and two mirrored
 * primaries (anti-affinity off: one node). A primary's container is killed under a writer, and a
 * pod template change is applied by `up` without restarting anything.
 */
import { spawnSync } from "child_process";
import { CLIENT_NAMESPACE_LABEL } from "../../components/greenplum/network-policies";
import { command, finishApp, kubectlOk, localDevConfig, mergeConfig, record, runApp, Stack, startApp, tail, type StackOutputs } from "./harness";

const SCENARIO = "ha";
const ha = (segmentMemory?: string) =>
    localDevConfig({
        "greenplum-k8s:greenplum": {
            masterAndStandby: { standby: true, antiAffinity: false },
            segments: { primarySegmentCount: 2, mirrors: true, antiAffinity: false, ...(segmentMemory ? { memory: segmentMemory } : {}) },
        },
    });
const client = { [CLIENT_NAMESPACE_LABEL]: "true" };
const sql = (query: string) => `psql "$CONNECTION_URI" -v ON_ERROR_STOP=1 -At -c "${query}"`;

let stack: Stack;
let outputs: StackOutputs;

beforeAll(() => {
    stack = new Stack("local-ha", ha());
});

afterAll(() => {
    stack.pulumi(["destroy", "--yes", "--skip-preview"], 15 * 60_000);
    stack.remove();
});

interface PodState {
    uid: string;
    restarts: number;
}

function podStates(): Record<string, PodState> {
    const list = JSON.parse(kubectlOk(["-n", "greenplum", "get", "pods", "-o", "json"])) as { items: { metadata: { name: string; uid: string }; status: { containerStatuses?: { name: string; restartCount: number }[] } }[] };
    return Object.fromEntries(list.items.map((p) => [p.metadata.name, { uid: p.metadata.uid, restarts: p.status.containerStatuses?.find((c) => c.name === "greenplum")?.restartCount ?? 0 }]));
}

/** The host PID of a pod container's first process, from the container runtime (the kubelet's view of it). */
function containerPid(pod: string, container: string): number {
    const id = command("crictl", ["ps", "-q", "--name", `^${container}$`, "--label", `io.kubernetes.pod.name=${pod}`]).stdout.trim().split("\n")[0];
    if (!id) throw new Error(`no running container ${container} in ${pod}`);
    return Number(JSON.parse(command("crictl", ["inspect", id]).stdout).info.pid);
}

test("pulumi up brings up master, standby, 2 primaries and 2 mirrors, in sync", () => {
    const up = stack.up();
    expect({ status: up.status, output: up.status === 0 ? "" : tail(up.stdout) }).toEqual({ status: 0, output: "" });
    outputs = stack.outputs();
    // The master's own row is always mode "n"; the standby and the pairs may still be catching up: wait, bounded, for "s".
    const expected = ["-1|m|s|u", "-1|p|n|u", "0|m|s|u", "0|p|s|u", "1|m|s|u", "1|p|s|u"];
    const startedWaiting = Date.now();
    let rows: string[] = [];
    for (let i = 0; i < 20; i += 1) {
        rows = runApp("app", client, outputs, sql("select content, role, mode, status from gp_segment_configuration order by content, role")).logs.trim().split("\n");
        if (rows.join() === expected.join()) break;
        spawnSync("sleep", ["3"]);
    }
    record(SCENARIO, "up to queries", { upSeconds: up.seconds, pods: Object.keys(podStates()).length, allInSyncAfterSeconds: Math.round((Date.now() - startedWaiting) / 100) / 10 });
    expect(rows).toEqual(expected);
});

function segmentRows(): string[] {
    return runApp("app", client, outputs, sql("select content, role, preferred_role, status from gp_segment_configuration where content >= 0 order by content, role")).logs.trim().split("\n");
}

test("a primary's container killed under a writer: FTS promotes its mirror and every committed row is there", () => {
    // One row per transaction through the client Service for 90 s, reconnecting; each committed id printed.
    const writer = [
        sql("create table ha_rows (id int) distributed by (id)"),
        "end=$((SECONDS + 90)); i=0",
        'while [ $SECONDS -lt $end ]; do i=$((i + 1)); if PGOPTIONS="-c statement_timeout=10000" psql "$CONNECTION_URI" -qAt -c "insert into ha_rows values ($i)" >/dev/null 2>&1; then echo "committed $i"; else sleep 0.2; fi; done',
        sql("select 'count ' || count(*) from ha_rows"),
        sql("select 'ids ' || string_agg(id::text, ',' order by id) from ha_rows"),
    ].join("\n");
    const app = startApp("app", client, outputs, writer, { timeoutSeconds: 300 });
    spawnSync("sleep", ["25"]);
    const before = podStates()["segment-a-0"].restarts;
    // SIGKILL to the container's first process from the host: the container dies at once, no preStop.
    const killedAt = Date.now();
    process.kill(containerPid("segment-a-0", "greenplum"), "SIGKILL");
    let promoted: number | undefined;
    for (let i = 0; i < 60 && promoted === undefined; i += 1) {
        const rows = segmentRows();
        if (rows.includes("0|p|m|u") && rows.includes("0|m|p|d")) promoted = Math.round((Date.now() - killedAt) / 100) / 10;
    }
    const done = finishApp(app);
    const committed = done.logs.split("\n").filter((l) => l.startsWith("committed ")).map((l) => Number(l.slice(10)));
    const count = Number(/^count (\d+)$/m.exec(done.logs)?.[1]);
    const ids = new Set((/^ids (.*)$/m.exec(done.logs)?.[1] ?? "").split(",").filter(Boolean).map(Number));
    const missing = committed.filter((id) => !ids.has(id));
    const after = podStates()["segment-a-0"].restarts;
    record(SCENARIO, "primary killed under writes", { committed: committed.length, rowsInTable: count, missing: missing.length, promotedAfterSeconds: promoted, kubeletRestarts: after - before, writerSeconds: done.seconds });
    expect(done.phase).toBe("Succeeded");
    expect(promoted).toBeDefined();
    expect(committed.length).toBeGreaterThan(100);
    expect(missing).toEqual([]);
    expect(after).toBe(before + 1);
});

test("the killed primary comes back as a mirror and the pair resyncs", () => {
    let rows: string[] = [];
    for (let i = 0; i < 60; i += 1) {
        rows = runApp("app", client, outputs, sql("select content, role, preferred_role, mode, status from gp_segment_configuration where content = 0 order by role")).logs.trim().split("\n");
        if (rows.every((r) => r.endsWith("|s|u"))) break;
        spawnSync("sleep", ["5"]);
    }
    record(SCENARIO, "resync", { content0: rows.join(" ") });
    expect(rows.every((r) => r.endsWith("|s|u"))).toBe(true);
});

test("a pod template change (segment memory): up updates the sets and restarts no pod (OnDelete)", () => {
    const before = podStates();
    stack.setConfig(ha("1536Mi"));
    const preview = stack.pulumi(["preview", "--diff"]);
    expect(preview.status).toBe(0);
    // An in-place update of the sets (the memory limit and Greenplum's memory settings), never a replacement.
    expect(preview.stdout).toMatch(/~ kubernetes:apps\/v1:StatefulSet: \(update\)\s+\[id=greenplum\/segment-a\]/);
    expect(preview.stdout).not.toMatch(/\(replace\)|\+-kubernetes:apps\/v1:StatefulSet/);
    const up = stack.up();
    expect({ status: up.status, output: up.status === 0 ? "" : tail(up.stdout) }).toEqual({ status: 0, output: "" });
    spawnSync("sleep", ["15"]);
    const after = podStates();
    const template = JSON.parse(kubectlOk(["-n", "greenplum", "get", "statefulset", "segment-a", "-o", "json"]));
    record(SCENARIO, "template change", { upSeconds: up.seconds, podsRecreated: Object.keys(before).filter((p) => after[p]?.uid !== before[p].uid).length });
    expect(template.spec.template.spec.containers.find((c: { name: string }) => c.name === "greenplum").resources.limits.memory).toBe("1536Mi");
    expect(template.status.updateRevision).not.toBe(template.status.currentRevision);
    expect(Object.fromEntries(Object.keys(before).map((p) => [p, after[p]?.uid]))).toEqual(Object.fromEntries(Object.keys(before).map((p) => [p, before[p].uid])));
    const again = stack.pulumi(["preview", "--expect-no-changes"]);
    expect({ status: again.status, output: again.status === 0 ? "" : tail(again.stdout, 60) }).toEqual({ status: 0, output: "" });
});

test("a volume size change (immutable volumeClaimTemplates): the preview shows the sets' annotation changing, never a replacement, and up keeps every pod and claim", () => {
    const claimsBefore = kubectlOk(["-n", "greenplum", "get", "pvc", "-o", "jsonpath={range .items[*]}{.metadata.uid} {end}"]).trim();
    const before = podStates();
    stack.setConfig(mergeConfig(ha("1536Mi"), { "greenplum-k8s:greenplum": { segments: { storage: "20Gi" } } }));
    const preview = stack.pulumi(["preview", "--diff"]);
    expect(preview.status).toBe(0);
    expect(preview.stdout).toMatch(/greenplum-k8s\/volume-claim\S*\s*:\s*"10Gi on greenplum-data" => "20Gi on greenplum-data"/);
    expect(preview.stdout).not.toMatch(/\(replace\)|\+-kubernetes:apps\/v1:StatefulSet|replaceBeforeUpdate|--kubernetes:apps\/v1:StatefulSet/);
    const up = stack.up();
    expect({ status: up.status, output: up.status === 0 ? "" : tail(up.stdout) }).toEqual({ status: 0, output: "" });
    const after = podStates();
    const claimsAfter = kubectlOk(["-n", "greenplum", "get", "pvc", "-o", "jsonpath={range .items[*]}{.metadata.uid} {end}"]).trim();
    record(SCENARIO, "volume size change", { upSeconds: up.seconds, podsRecreated: Object.keys(before).filter((p) => after[p]?.uid !== before[p].uid).length, claimsKept: claimsAfter === claimsBefore });
    expect(claimsAfter).toBe(claimsBefore);
    expect(Object.keys(before).filter((p) => after[p]?.uid !== before[p].uid)).toEqual([]);
});
