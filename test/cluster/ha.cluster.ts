/**
 * HA on one node through the real CLI, a real kubelet and the real kubectl: standby master and
 * two mirrored primaries (anti-affinity off: one node). A primary's container is killed under a
 * writer; the master pod is lost under a writer and `gp-failover promote` moves the clients; a
 * later `up` keeps them on the promoted master; `reinstate`; then config changes that `up`
 * applies without restarting anything.
 */
import { spawnSync } from "child_process";
import { CLIENT_NAMESPACE_LABEL } from "../../components/greenplum/network-policies";
import { NODE_NAME } from "../../tools/local-cluster/plan";
import { command, finishApp, kubectl, kubectlOk, localDevConfig, mergeConfig, record, runApp, Stack, startApp, tail, type StackOutputs } from "./harness";

const SCENARIO = "ha";
/** The stack's config as the file's tests change it, one step after another. */
let config = localDevConfig({
    "greenplum-k8s:greenplum": {
        masterAndStandby: { standby: true, antiAffinity: false },
        segments: { primarySegmentCount: 2, mirrors: true, antiAffinity: false },
    },
});
const change = (overrides: Record<string, unknown>) => {
    config = mergeConfig(config, overrides);
    stack.setConfig(config);
};
const client = { [CLIENT_NAMESPACE_LABEL]: "true" };
const sql = (query: string) => `psql "$CONNECTION_URI" -v ON_ERROR_STOP=1 -At -c "${query}"`;

/**
 * An app that writes one row per transaction to a new table through the client Service for
 * `seconds`, reconnecting after a failure, and prints "committed <id> <epoch second>" for each
 * commit (the pod's clock is the host's), then the table's count and ids.
 */
function writerScript(table: string, seconds: number): string {
    return [
        sql(`create table ${table} (id int) distributed by (id)`),
        `end=$((SECONDS + ${seconds})); i=0`,
        `while [ $SECONDS -lt $end ]; do i=$((i + 1)); if PGOPTIONS="-c statement_timeout=10000" PGCONNECT_TIMEOUT=3 psql "$CONNECTION_URI" -qAt -c "insert into ${table} values ($i)" >/dev/null 2>&1; then echo "committed $i $(date +%s)"; else sleep 0.5; fi; done`,
        sql(`select 'count ' || count(*) from ${table}`),
        sql(`select 'ids ' || string_agg(id::text, ',' order by id) from ${table}`),
    ].join("\n");
}

/** What a writer's log shows: each commit (id, epoch second), the ids in the table, and the committed ids missing from it. */
function writerResult(logs: string): { commits: { id: number; at: number }[]; count: number; missing: number[] } {
    const commits = logs.split("\n").filter((l) => l.startsWith("committed ")).map((l) => {
        const [, id, at] = l.split(" ").map(Number);
        return { id, at };
    });
    const ids = new Set((/^ids (.*)$/m.exec(logs)?.[1] ?? "").split(",").filter(Boolean).map(Number));
    return { commits, count: Number(/^count (\d+)$/m.exec(logs)?.[1]), missing: commits.map((c) => c.id).filter((id) => !ids.has(id)) };
}

let stack: Stack;
let outputs: StackOutputs;

beforeAll(() => {
    stack = new Stack("local-ha", config);
});

afterAll(() => {
    // A failed failover test must not leave the node unschedulable for the next file.
    command("kubectl", ["uncordon", NODE_NAME]);
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
    const app = startApp("app", client, outputs, writerScript("ha_rows", 90), { timeoutSeconds: 300 });
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
    const { commits: committed, count, missing } = writerResult(done.logs);
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

const gpFailover = (verb: string) =>
    command("bin/gp-failover", ["--context", "greenplum-k8s-local", "--namespace", "greenplum", verb], { timeoutMs: 10 * 60_000 });
const podIp = (pod: string) => kubectlOk(["-n", "greenplum", "get", "pod", pod, "-o", "jsonpath={.status.podIP}"]).trim();
const endpointIps = () => kubectlOk(["-n", "greenplum", "get", "endpoints", "greenplum", "-o", "jsonpath={.subsets[*].addresses[*].ip}"]).trim();
const actingMaster = () => kubectlOk(["-n", "greenplum", "get", "configmap", "greenplum-acting-master", "-o", "jsonpath={.data.acting-master}"]).trim();
const serviceSelectsPod = () => kubectlOk(["-n", "greenplum", "get", "service", "greenplum", "-o", "jsonpath={.spec.selector.statefulset\\.kubernetes\\.io/pod-name}"]).trim();
/** Which master pod the client Service took the connection to: Greenplum's own view of its address. */
const servingMasterIp = () => runApp("app", client, outputs, sql("select host(inet_server_addr())")).logs.trim();

/** Seconds until check() held (tries bounded, `seconds` apart), or undefined if it never did. */
function secondsUntil(tries: number, seconds: number, check: () => boolean): number | undefined {
    const started = Date.now();
    for (let i = 0; i < tries; i += 1) {
        if (check()) return Math.round((Date.now() - started) / 100) / 10;
        spawnSync("sleep", [String(seconds)]);
    }
    return undefined;
}

function waitUntil(what: string, tries: number, seconds: number, check: () => boolean): number {
    const after = secondsUntil(tries, seconds, check);
    if (after === undefined) throw new Error(`${what}: not after ${tries} tries ${seconds} s apart`);
    return after;
}

test("the master pod is lost under a writer: gp-failover promote (real kubectl) moves the Service's endpoints to the standby, writes continue and every committed row is there", () => {
    waitUntil("standby in sync", 20, 3, () => runApp("app", client, outputs, sql("select mode || status from gp_segment_configuration where content = -1 and role = 'm'")).logs.trim() === "su");
    // What promote checks when the master cannot be asked: the standby's own evidence, which the
    // master's supervisor sends some passes after the first init.
    const evidenceAfter = waitUntil("sync evidence on the standby", 40, 5, () => kubectl(["-n", "greenplum", "exec", "master-1", "-c", "greenplum", "--", "bash", "/opt/greenplum-k8s/scripts/ctl.sh", "sync-evidence"]).status === 0);
    const standbyIp = podIp("master-1");
    const app = startApp("app", client, outputs, writerScript("failover_rows", 150), { timeoutSeconds: 420 });
    spawnSync("sleep", ["20"]);

    // The master pod lost as on a dead node: its container killed (no preStop, no shutdown), the pod
    // force-deleted, and the node cordoned so the StatefulSet's replacement master-0 stays Pending.
    kubectlOk(["cordon", NODE_NAME]);
    const lostAt = Date.now();
    process.kill(containerPid("master-0", "greenplum"), "SIGKILL");
    kubectlOk(["-n", "greenplum", "delete", "pod", "master-0", "--grace-period=0", "--force"]);
    waitUntil("replacement master-0 Pending", 30, 1, () => kubectl(["-n", "greenplum", "get", "pod", "master-0", "-o", "jsonpath={.status.phase}"]).stdout.trim() === "Pending");

    const promote = gpFailover("promote");
    const promotedAt = Date.now();
    const endpointsMovedAfter = waitUntil("endpoints on master-1", 60, 2, () => endpointIps() === standbyIp);
    const endpointsMovedSeconds = Math.round((promotedAt - lostAt) / 100) / 10 + endpointsMovedAfter;
    kubectlOk(["uncordon", NODE_NAME]);

    const done = finishApp(app);
    const { commits: committed, count, missing } = writerResult(done.logs);
    const afterPromotion = committed.filter((c) => c.at * 1000 > promotedAt).length;
    record(SCENARIO, "master lost, gp-failover promote", {
        evidenceAfterSeconds: evidenceAfter,
        promoteStatus: promote.status,
        promoteSeconds: promote.seconds,
        lostToEndpointsMovedSeconds: Math.round(endpointsMovedSeconds * 10) / 10,
        committed: committed.length,
        committedAfterPromotion: afterPromotion,
        rowsInTable: count,
        missing: missing.length,
    });
    expect({ status: promote.status, output: promote.status === 0 ? "" : `${promote.stdout}\n${promote.stderr}` }).toEqual({ status: 0, output: "" });
    // master-0 could not be asked: the standby's own evidence decided.
    expect(promote.stdout).toMatch(/pod master-0 cannot be reached[\s\S]*sync evidence: sync evidence on master-1[\s\S]*promoted master-1/);
    expect(done.phase).toBe("Succeeded");
    expect(afterPromotion).toBeGreaterThan(50);
    expect(missing).toEqual([]);
    expect([actingMaster(), serviceSelectsPod()]).toEqual(["master-1", "master-1"]);
});

test("the old master comes back fenced: it runs sshd only and refuses to start as master", () => {
    let role = "";
    waitUntil("master-0 running", 60, 2, () => kubectl(["-n", "greenplum", "get", "pod", "master-0", "-o", "jsonpath={.status.phase}"]).stdout.trim() === "Running");
    waitUntil("master-0's entrypoint decided", 30, 2, () => {
        role = kubectl(["-n", "greenplum", "exec", "master-0", "-c", "greenplum", "--", "bash", "/opt/greenplum-k8s/scripts/ctl.sh", "role"]).stdout;
        return /acting_master=master-1/.test(role);
    });
    record(SCENARIO, "old master back", { role: role.trim().split("\n").join(" ") });
    expect(role).toMatch(/postmaster=stopped/);
    expect(servingMasterIp()).toBe(podIp("master-1"));
});

test("pulumi up after the failover (the client Service changed to NodePort, state refreshed): clients stay on the promoted master", () => {
    // The state learns the promoted selector and ConfigMap data; the program still says master-0 (ignored).
    const refresh = stack.pulumiOk(["refresh", "--yes", "--skip-preview"]);
    change({ "greenplum-k8s:greenplum": { service: { type: "NodePort" } } });
    const preview = stack.pulumi(["preview", "--diff"]);
    expect(preview.status).toBe(0);
    const changes = (JSON.parse(stack.pulumiOk(["preview", "--json"]).stdout) as { steps: { urn: string; op: string; diffs?: string[]; detailedDiff?: unknown }[] }).steps
        .filter((step) => step.op !== "same")
        .map((step) => ({ resource: step.urn.split("::").pop(), op: step.op, diffs: step.diffs, detailedDiff: step.detailedDiff }));
    record(SCENARIO, "preview after failover", { changes });
    expect(preview.stdout).toMatch(/~ kubernetes:core\/v1:Service: \(update\)\s+\[id=greenplum\/greenplum\]/);
    // The Service's type is the only property that changes. (After the refresh the engine also
    // lists the master set as an update with no property diff; it changes nothing, see below.)
    expect(Object.fromEntries(changes.map((c) => [c.resource, Object.keys(c.detailedDiff ?? {}).sort()]))).toEqual(
        expect.objectContaining({ client: ["spec.externalTrafficPolicy", "spec.type"] }),
    );
    expect(changes.filter((c) => c.resource !== "client").filter((c) => c.op !== "update" || Object.keys(c.detailedDiff ?? {}).length > 0)).toEqual([]);
    // The selector is not part of the change (ignoreChanges), and nothing is replaced.
    expect(preview.stdout).not.toMatch(/pod-name|\(replace\)/);
    const podsBefore = podStates();
    const up = stack.up(15 * 60_000);
    expect({ status: up.status, output: up.status === 0 ? "" : tail(up.stdout) }).toEqual({ status: 0, output: "" });
    const podsAfter = podStates();
    expect(Object.keys(podsBefore).filter((p) => podsAfter[p]?.uid !== podsBefore[p].uid)).toEqual([]);
    const type = kubectlOk(["-n", "greenplum", "get", "service", "greenplum", "-o", "jsonpath={.spec.type}"]).trim();
    const served = servingMasterIp();
    record(SCENARIO, "up after failover", { refreshSeconds: refresh.seconds, upSeconds: up.seconds, serviceType: type, selector: serviceSelectsPod(), actingMaster: actingMaster(), endpoints: endpointIps() === podIp("master-1") ? "master-1" : endpointIps() });
    expect(type).toBe("NodePort");
    expect([actingMaster(), serviceSelectsPod(), endpointIps(), served]).toEqual(["master-1", "master-1", podIp("master-1"), podIp("master-1")]);
    const again = stack.pulumi(["preview", "--expect-no-changes"]);
    expect({ status: again.status, output: again.status === 0 ? "" : tail(again.stdout, 60) }).toEqual({ status: 0, output: "" });
});

test("gp-failover reinstate: the old master becomes the standby of the promoted one, in sync, its old data moved aside", () => {
    const reinstate = gpFailover("reinstate");
    expect({ status: reinstate.status, output: reinstate.status === 0 ? "" : `${reinstate.stdout}\n${reinstate.stderr}` }).toEqual({ status: 0, output: "" });
    let rows: string[] = [];
    const syncedAfter = secondsUntil(40, 3, () => {
        rows = runApp("app", client, outputs, sql("select role, mode, status, hostname from gp_segment_configuration where content = -1 order by role")).logs.trim().split("\n");
        // Greenplum reports the master's own row as "n" after gpinitsystem and "s" after gpinitstandby.
        return rows.length === 2 && rows[0].startsWith("m|s|u|") && /^p\|[ns]\|u\|/.test(rows[1]);
    });
    const count = runApp("app", client, outputs, sql("select count(*) from failover_rows")).logs.trim();
    record(SCENARIO, "reinstate", { reinstateSeconds: reinstate.seconds, standbyInSyncAfterSeconds: syncedAfter, masters: rows.join(" "), rows: count });
    if (syncedAfter === undefined) console.log(`reinstate printed:\n${reinstate.stdout}\nmaster-0 log:\n${kubectl(["-n", "greenplum", "logs", "master-0", "--tail=60"]).stdout}`);
    expect(reinstate.stdout).toMatch(/old data on master-0: \/greenplum\/data-1\.old-/);
    expect(rows[0]).toMatch(/^m\|s\|u\|master-0\./);
    expect(rows[1]).toMatch(/^p\|[ns]\|u\|master-1\./);
    expect(Number(count)).toBeGreaterThan(0);
});

test("a pod template change (segment memory): up updates the sets and restarts no pod (OnDelete)", () => {
    const before = podStates();
    change({ "greenplum-k8s:greenplum": { segments: { memory: "1536Mi" } } });
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
    change({ "greenplum-k8s:greenplum": { segments: { storage: "20Gi" } } });
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
