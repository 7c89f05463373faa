/**
 * The gke layout on the real kube-scheduler. For each machine-type row of the README's capacity
 * table, GKE's nodes are faked from the capacity model (allocatable as GKE reserves it, zones,
 * pool labels, the Ceph pool's taint) and kept Ready by kwok, with no kubelet; the gke render's
 * Greenplum StatefulSets, PodDisruptionBudgets and PriorityClass are applied, and the real
 * scheduler binds every pod: none Pending, no node holding both copies of a segment, master and
 * standby apart, nothing on the Ceph pool. A config the model refuses (pods 10 % larger) leaves
 * pods Pending.
 *
 * Kept apart from the other scenarios, which use the same cluster meanwhile: the fake nodes carry
 * a NoSchedule taint of our own that only the pods applied here tolerate (the one change made to
 * the rendered objects), the render goes to a namespace of its own and its data class has a name
 * of its own. No Service or NetworkPolicy is applied, and every fake address is in 198.18.0.0/15,
 * blackholed on this machine: nothing is ever sent to them.
 */
import * as fs from "fs";
import * as path from "path";
import { stringify } from "yaml";
import { MASTER_SET, MIRROR_SET, PRIMARY_SET, PRIORITY_CLASS } from "../../components/greenplum/naming";
import { parseStackConfig, type GkeConfig } from "../../stacks";
import { deriveSizes, gkeGreenplumPool, greenplumPods, type Resources } from "../../stacks/capacity";
import { binFor } from "../../tools/local-cluster/cluster";
import {
    everythingElsesShare,
    FAKE_NODE_ADDRESSES,
    FAKE_NODE_LABEL,
    fakeGkeNodes,
    kwokArgs,
    kwokStages,
    LAYOUT_LABEL,
    layoutShape,
    layoutStackConfig,
    placeholderPods,
    PLACEHOLDER_LABEL,
    preboundClaims,
    preboundVolumes,
    segmentCopiesSharingNode,
    setClaims,
    setMembersSharingNode,
    toleratingFakeNodes,
    volumeClass,
    withGreenplumResources,
    withSetLevelAntiAffinity,
    type FakeNode,
    type PlacedPod,
} from "../../tools/local-cluster/layout";
import { blackholeRoutesIn } from "../../tools/local-cluster/machine";
import { CLUSTER_POD_CIDR, LAB_RANGE, NODE_NAME, NODE_POD_CIDR, statePaths, within } from "../../tools/local-cluster/plan";
import { startDaemon, stopDaemon } from "../../tools/local-cluster/processes";
import { run, waitFor } from "../../tools/local-cluster/shell";
import { kubernetesObjects, type KubernetesObject } from "../../tools/manifests";
import { DEFAULT_CHARTS_DIR, renderStack } from "../../tools/render";
import { readStackFile } from "../../tools/stack-file";
import { ENV, images, kubectl, kubectlOk, record, STATE_DIR } from "./harness";

const SCENARIO = "gke layout";
const NAMESPACE = "greenplum-layout";
/** The render's Ceph class, renamed: the other scenarios' stacks own a class called greenplum-data. */
const DATA_CLASS = "greenplum-layout-data";
const FIELD_MANAGER = "greenplum-k8s-layout";
const PROJECT_DIR = path.resolve(__dirname, "../..");
const paths = statePaths(STATE_DIR);
const KWOK_DIR = path.join(STATE_DIR, "kwok");
const SETS = [MASTER_SET, PRIMARY_SET, MIRROR_SET];
const GREENPLUM_PODS = "app.kubernetes.io/name=greenplum";
const LAYOUT = `${LAYOUT_LABEL.key}=${LAYOUT_LABEL.value}`;

interface Row {
    machineType: string;
    nodeCountPerZone: number;
}

/** The README's capacity table (2 masters, 4 primaries, 4 mirrors, anti-affinity, 3 zones). */
const ROWS: Row[] = [
    { machineType: "n2-highmem-8", nodeCountPerZone: 1 },
    { machineType: "n2-highmem-8", nodeCountPerZone: 2 },
    { machineType: "n2-standard-8", nodeCountPerZone: 1 },
    { machineType: "n2-highmem-16", nodeCountPerZone: 1 },
];

let priorityClassIsOurs = false;

const json = <T>(args: string[]): T => JSON.parse(kubectlOk([...args, "-o", "json"])) as T;

function apply(objects: KubernetesObject[]): void {
    kubectlOk(["apply", "--server-side", `--field-manager=${FIELD_MANAGER}`, "-f", "-"], { input: objects.map((o) => JSON.stringify(o)).join("\n") });
}

function rowName(row: Row): string {
    return `${row.machineType} ×${row.nodeCountPerZone * 3}`;
}

/** The row's stack file in the state directory: Pulumi.gke.yaml with the row's pool, our namespace and class. */
function rowConfigFile(row: Row, suffix: string, greenplum: Record<string, unknown> = {}): string {
    const gkeStack = readStackFileRaw(path.join(PROJECT_DIR, "Pulumi.gke.yaml"));
    const file = path.join(STATE_DIR, "stacks", `Pulumi.gke-layout-${row.machineType}-${row.nodeCountPerZone}${suffix}.yaml`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, stringify(layoutStackConfig(gkeStack, row, NAMESPACE, DATA_CLASS, greenplum)));
    return file;
}

function readStackFileRaw(file: string): { config: Record<string, unknown> } {
    const { config } = readStackFile(file);
    return { config: Object.fromEntries(Object.entries(config).map(([k, v]) => [k, v.startsWith("{") || v.startsWith("[") ? JSON.parse(v) : v])) };
}

async function renderObjects(configFile: string): Promise<KubernetesObject[]> {
    const rendered = await renderStack({ stack: path.basename(configFile).replace(/^Pulumi\.|\.yaml$/g, ""), configFile, chartsDir: DEFAULT_CHARTS_DIR, chartsFromRepositories: false });
    // The Greenplum objects and the cluster-scoped ones they need; the charts' (Rook, Ceph CSI) stay out.
    return kubernetesObjects(rendered.resources).filter((o) => o.metadata.namespace === NAMESPACE || (o.kind === "Namespace" && o.metadata.name === NAMESPACE) || (o.kind === "PriorityClass" && o.metadata.name === PRIORITY_CLASS));
}

interface PodView extends PlacedPod {
    phase: string;
    podIP?: string;
    hostIP?: string;
    unschedulable?: string;
}

function greenplumPodViews(): PodView[] {
    const list = json<{ items: { metadata: { name: string }; spec: { nodeName?: string }; status: { phase: string; podIP?: string; hostIP?: string; conditions?: { type: string; status: string; reason?: string; message?: string }[] } }[] }>(["-n", NAMESPACE, "get", "pods", "-l", GREENPLUM_PODS]);
    return list.items.map((p) => {
        const scheduled = p.status.conditions?.find((c) => c.type === "PodScheduled");
        return {
            name: p.metadata.name,
            node: p.spec.nodeName,
            phase: p.status.phase,
            podIP: p.status.podIP,
            hostIP: p.status.hostIP,
            ...(scheduled?.status === "False" && scheduled.reason === "Unschedulable" ? { unschedulable: scheduled.message } : {}),
        };
    });
}

/**
 * The pods once the scheduler is done: all `count` exist, each bound or refused (Unschedulable), and
 * no change for 10 s; bounded by 3 minutes (90 polls).
 */
async function settledPods(count: number): Promise<PodView[]> {
    let last = "";
    let stableSince = Date.now();
    return waitFor(`${count} Greenplum pods bound or unschedulable, unchanged for 10 s`, 180_000, () => {
        const found = greenplumPodViews();
        const state = found.map((p) => `${p.name}:${p.node ?? (p.unschedulable ? "unschedulable" : "?")}`).sort().join(" ");
        if (state !== last) {
            last = state;
            stableSince = Date.now();
        }
        const decided = found.length === count && found.every((p) => p.node || p.unschedulable);
        // All bound needs no settling: bound pods stay where they are.
        if (decided && found.every((p) => p.node)) return found;
        return decided && Date.now() - stableSince >= 10_000 ? found : undefined;
    }, 2000);
}

/** Removes the sets and waits until their pods are gone (the claims stay, bound to their volumes). */
async function removeSets(): Promise<void> {
    kubectlOk(["-n", NAMESPACE, "delete", "statefulsets", "--all", "--cascade=foreground", "--wait=true", "--timeout=120s"], { timeoutMs: 140_000 });
    await waitFor("the sets' pods gone", 60_000, () => (greenplumPodViews().length === 0 ? true : undefined));
}

/**
 * The sets one at a time, each once the scheduler is done with the one before: the order the
 * scheduler meets the pods in is then fixed (applied together, it is whatever the controllers make).
 */
async function applyOneSetAtATime(sets: KubernetesObject[], order: string[]): Promise<PodView[]> {
    let count = 0;
    let pods: PodView[] = [];
    for (const name of order) {
        const set = sets.find((s) => s.metadata.name === name)!;
        apply([set]);
        count += (set as unknown as { spec: { replicas: number } }).spec.replicas;
        pods = await settledPods(count);
    }
    return pods;
}

/** Deletes what a row made (kwok must still run: it removes the pods no kubelet confirms), bounded. */
function removeRow(): void {
    kubectl(["delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true", "--timeout=180s"], { timeoutMs: 200_000 });
    kubectl(["delete", "pv", "-l", LAYOUT, "--wait=true", "--timeout=60s"], { timeoutMs: 80_000 });
    kubectl(["delete", "node", "-l", LAYOUT, "--wait=true", "--timeout=60s"], { timeoutMs: 80_000 });
}

beforeAll(async () => {
    // Every fake address must stay on this machine: cluster:up adds the route (machine.ts).
    expect(blackholeRoutesIn(run("ip", ["route", "show", "type", "blackhole"]).stdout)).toContain(LAB_RANGE);
    removeRow();
    fs.mkdirSync(KWOK_DIR, { recursive: true });
    const stages = path.join(KWOK_DIR, "stages.yaml");
    fs.writeFileSync(stages, kwokStages());
    // KWOK_WORKDIR: kwok reads no ~/.kwok/kwok.yaml, only our stages. The kubeconfig's path names the state directory, so cluster:down stops it too.
    startDaemon({ name: "kwok", command: binFor(ENV.GPK_CLUSTER_CACHE as string, "kwok"), args: kwokArgs({ kubeconfig: paths.kubeconfig, stages }), env: { ...process.env, KWOK_WORKDIR: KWOK_DIR } }, paths.logs, paths.pids);
    apply([volumeClass(DATA_CLASS)]);
});

afterAll(async () => {
    removeRow();
    kubectl(["delete", "storageclass", "-l", LAYOUT, "--ignore-not-found"]);
    if (priorityClassIsOurs) {
        // Only if no one else (the other scenarios' pulumi) took it over meanwhile.
        const managers = json<{ metadata: { managedFields?: { manager: string }[] } }>(["get", "priorityclass", PRIORITY_CLASS]).metadata.managedFields?.map((f) => f.manager) ?? [];
        if (managers.every((m) => m === FIELD_MANAGER)) kubectl(["delete", "priorityclass", PRIORITY_CLASS, "--ignore-not-found"]);
    }
    await stopDaemon(paths.pids, "kwok");
    fs.rmSync(KWOK_DIR, { recursive: true, force: true });
    const left = {
        namespace: kubectl(["get", "namespace", NAMESPACE, "--ignore-not-found", "-o", "name"]).stdout.trim(),
        nodes: kubectl(["get", "nodes", "-l", LAYOUT, "-o", "name"]).stdout.trim(),
        volumes: kubectl(["get", "pv", "-l", LAYOUT, "-o", "name"]).stdout.trim(),
        leases: kubectl(["-n", "kube-node-lease", "get", "leases", "-o", "name"]).stdout.trim().split("\n").filter((l) => l.includes("gke-")).join(" "),
    };
    expect(left).toEqual({ namespace: "", nodes: "", volumes: "", leases: "" });
});

describe.each(ROWS)("gke layout: $machineType, $nodeCountPerZone per zone", (row) => {
    let gke: GkeConfig;
    let nodes: FakeNode[];
    let rendered: KubernetesObject[];
    let derived: { segment: Resources; master: Resources };

    beforeAll(async () => {
        const configFile = rowConfigFile(row, "");
        const config = parseStackConfig(readStackFile(configFile).config);
        gke = config.gke as GkeConfig;
        derived = deriveSizes(gkeGreenplumPool(gke)!, greenplumPods(config.greenplum))!;
        rendered = await renderObjects(configFile);
        nodes = fakeGkeNodes(gke, config.storage.backend === "rook-ceph");
        apply(nodes.map((n) => n.manifest));
        await waitFor(`${nodes.length} fake nodes Ready`, 60_000, () => {
            const ready = kubectl(["get", "nodes", "-l", LAYOUT, "-o", 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}']).stdout.split("\n").filter((s) => s === "True");
            return ready.length === nodes.length ? true : undefined;
        });

        const sets = rendered.filter((o) => o.kind === "StatefulSet");
        apply(preboundVolumes(setClaims(sets), path.join(STATE_DIR, "layout-volumes")));
        apply(rendered.filter((o) => o.kind === "Namespace"));
        // The namespace's default ServiceAccount must exist before a pod may be admitted.
        await waitFor("default ServiceAccount", 30_000, () => (kubectl(["-n", NAMESPACE, "get", "serviceaccount", "default"]).status === 0 ? true : undefined));
        apply(placeholderPods(nodes, everythingElsesShare(gke), NAMESPACE, images().pause));
        const claims = setClaims(sets);
        apply(preboundClaims(claims));
        await waitFor(`${claims.length} claims Bound`, 60_000, () => {
            const phases = kubectl(["-n", NAMESPACE, "get", "pvc", "-o", "jsonpath={range .items[*]}{.status.phase}{\"\\n\"}{end}"]).stdout.split("\n").filter((p) => p === "Bound");
            return phases.length === claims.length ? true : undefined;
        });
        if (kubectl(["get", "priorityclass", PRIORITY_CLASS]).status !== 0) {
            apply(rendered.filter((o) => o.kind === "PriorityClass"));
            priorityClassIsOurs = true;
        }
        // The ServiceAccount: admission refuses a pod naming one that does not exist. Secrets and ConfigMaps the pods mount are only the kubelet's concern.
        apply(rendered.filter((o) => ["ServiceAccount", "PodDisruptionBudget"].includes(o.kind)));
    });

    afterAll(() => removeRow());

    test("the model accepts it: every pod bound by the scheduler, copies of a segment apart, master and standby apart, nothing on the Ceph pool", async () => {
        const sets = rendered.filter((o) => o.kind === "StatefulSet");
        // The render's sizes are the model's derived ones.
        const resources = Object.fromEntries(sets.map((s) => [s.metadata.name, (s as unknown as { spec: { template: { spec: { containers: { name: string; resources: unknown }[] } } } }).spec.template.spec.containers.find((c) => c.name === "greenplum")?.resources]));
        const asQuantities = (r: Resources) => ({ requests: { cpu: `${r.milli}m`, memory: `${r.mib}Mi` }, limits: { cpu: `${r.milli}m`, memory: `${r.mib}Mi` } });
        expect(resources).toEqual({ [MASTER_SET]: asQuantities(derived.master), [PRIMARY_SET]: asQuantities(derived.segment), [MIRROR_SET]: asQuantities(derived.segment) });

        const started = Date.now();
        apply(sets.map(toleratingFakeNodes));
        const expectedPods = sets.reduce((n, s) => n + (s as unknown as { spec: { replicas: number } }).spec.replicas, 0);
        const pods = await settledPods(expectedPods);
        const seconds = Math.round((Date.now() - started) / 100) / 10;
        const pending = pods.filter((p) => !p.node);
        const running = await waitFor("every bound pod Running (kwok)", 60_000, () => {
            const found = greenplumPodViews().filter((p) => p.node);
            return found.every((p) => p.phase === "Running" && p.podIP) ? found : undefined;
        });

        // Everything else's share: one placeholder on each Greenplum node, bound there (by nodeName) and running.
        const placeholders = json<{ items: { spec: { nodeName: string }; status: { phase: string } }[] }>(["-n", NAMESPACE, "get", "pods", "-l", `${PLACEHOLDER_LABEL.key}=${PLACEHOLDER_LABEL.value}`]).items;
        expect(placeholders.filter((p) => p.status.phase === "Running").map((p) => p.spec.nodeName).sort()).toEqual(nodes.filter((n) => n.pool === "greenplum").map((n) => n.name).sort());

        const byName = new Map(nodes.map((n) => [n.name, n]));
        const shape = layoutShape(pods, SETS);
        const perNode = Object.fromEntries(nodes.filter((n) => n.pool === "greenplum").map((n) => [n.name, pods.filter((p) => p.node === n.name).map((p) => p.name).sort()]));
        const mirrorsInOtherZone = pods.filter((p) => p.name.startsWith(`${MIRROR_SET}-`)).filter((m) => {
            const primary = pods.find((p) => p.name === m.name.replace(MIRROR_SET, PRIMARY_SET));
            return primary?.node && m.node && byName.get(primary.node)?.zone !== byName.get(m.node)?.zone;
        }).length;
        const requested = nodes.filter((n) => n.pool === "greenplum").map((n) => {
            const described = kubectlOk(["describe", "node", n.name]);
            return /Allocated resources:[\s\S]*?cpu\s+(\S+) \((\d+)%\)[\s\S]*?memory\s+(\S+) \((\d+)%\)/.exec(described)?.slice(1).join(" ");
        });
        record(SCENARIO, `${rowName(row)}: accepted`, {
            pods: pods.length,
            podsBound: pods.length - pending.length,
            pending: pending.map((p) => p.name).sort(),
            scheduler: pending[0]?.unschedulable,
            nodesUsed: new Set(pods.filter((p) => p.node).map((p) => p.node)).size,
            ...(pending.length === 0 ? { secondsToAllBound: seconds } : {}),
            segment: `${derived.segment.milli}m/${derived.segment.mib}Mi`,
            master: `${derived.master.milli}m/${derived.master.mib}Mi`,
            shape,
            perNode,
            mirrorsInAnotherZoneThanTheirPrimary: mirrorsInOtherZone,
            requestedPerNode: requested,
        });

        expect(pending.map((p) => `${p.name}: ${p.unschedulable}`)).toEqual([]);
        expect(segmentCopiesSharingNode(pods, PRIMARY_SET, MIRROR_SET)).toEqual([]);
        expect(setMembersSharingNode(pods, MASTER_SET)).toEqual([]);
        expect(pods.filter((p) => byName.get(p.node!)?.pool !== "greenplum").map((p) => `${p.name} on ${p.node}`)).toEqual([]);
        // Addresses: each pod's from its fake node's pod range (inside the cluster's, never the real node's), its host address the node's.
        for (const p of running) {
            const node = byName.get(p.node!)!;
            expect({ pod: p.name, podIP: within(p.podIP!, node.podCIDR), inClusterRange: within(p.podIP!, CLUSTER_POD_CIDR), onRealNodeRange: within(p.podIP!, NODE_POD_CIDR), hostIP: p.hostIP }).toEqual({
                pod: p.name,
                podIP: true,
                inClusterRange: true,
                onRealNodeRange: false,
                hostIP: node.internalIP,
            });
            expect(within(node.internalIP, FAKE_NODE_ADDRESSES)).toBe(true);
        }
        // The order the model fears most: every primary, then every mirror, then the masters.
        await removeSets();
        const oneAtATime = await applyOneSetAtATime(sets.map(toleratingFakeNodes), [PRIMARY_SET, MIRROR_SET, MASTER_SET]);
        const pendingOneAtATime = oneAtATime.filter((p) => !p.node);
        record(SCENARIO, `${rowName(row)}: accepted, primaries then mirrors then masters`, { bound: oneAtATime.length - pendingOneAtATime.length, pending: pendingOneAtATime.map((p) => p.name).sort(), shape: layoutShape(oneAtATime, SETS) });
        expect(pendingOneAtATime.map((p) => `${p.name}: ${p.unschedulable}`)).toEqual([]);
        expect(segmentCopiesSharingNode(oneAtATime, PRIMARY_SET, MIRROR_SET)).toEqual([]);
        expect(setMembersSharingNode(oneAtATime, MASTER_SET)).toEqual([]);
        // The real node holds none of it and kwok left it alone.
        expect(kubectlOk(["get", "pods", "-A", "--field-selector", `spec.nodeName=${NODE_NAME}`, "-o", "jsonpath={.items[*].metadata.namespace}"]).split(" ")).not.toContain(NAMESPACE);
        expect(kubectlOk(["get", "node", NODE_NAME, "-o", `jsonpath={.metadata.labels.${FAKE_NODE_LABEL.key.replace(/\./g, "\\.")}}`])).toBe("");
    });

    if (row.machineType === "n2-highmem-8" && row.nodeCountPerZone === 1) {
        test("the layout this replaced: GP4K's disjoint primary and mirror nodes at the earlier sizes (masters at half a node) schedule only in a kind order", async () => {
            // The earlier model's sizes for this row: segments a quarter of a node's room, the master and standby half.
            const earlier = { segment: { milli: 1794, mib: 14636 }, master: { milli: 3588, mib: 29272 } };
            const sets = rendered.filter((o) => o.kind === "StatefulSet").map((s) => withGreenplumResources(withSetLevelAntiAffinity(toleratingFakeNodes(s)), s.metadata.name === MASTER_SET ? earlier.master : earlier.segment));
            await removeSets();
            apply(sets);
            const together = await settledPods(10);
            await removeSets();
            const oneAtATime = await applyOneSetAtATime(sets, [PRIMARY_SET, MIRROR_SET, MASTER_SET]);
            const pending = oneAtATime.filter((p) => !p.node);
            record(SCENARIO, `${rowName(row)}: GP4K's disjoint sets at the earlier sizes`, {
                appliedTogether: { bound: together.filter((p) => p.node).length, shape: layoutShape(together, SETS) },
                primariesThenMirrorsThenMasters: { bound: oneAtATime.length - pending.length, pending: pending.map((p) => p.name).sort(), scheduler: pending[0]?.unschedulable, shape: layoutShape(oneAtATime, SETS) },
            });
            expect(pending.length).toBeGreaterThan(0);
        });
    }

    test("pods 10 % larger than derived: the model refuses the config, and the scheduler leaves pods Pending", async () => {
        const larger = (r: Resources): Resources => ({ milli: Math.ceil(r.milli * 1.1), mib: Math.ceil(r.mib * 1.1) });
        const quantities = (r: Resources) => ({ cpu: `${r.milli}m`, memory: `${r.mib}Mi` });
        const segment = larger(derived.segment);
        const master = larger(derived.master);
        const refusedFile = rowConfigFile(row, "-larger", { segments: quantities(segment), masterAndStandby: quantities(master) });
        const refusal = await renderObjects(refusedFile).then(
            () => "",
            (err: Error) => err.message,
        );
        expect(refusal).toContain(`the 10 Greenplum pods cannot all be scheduled on ${gke.zones.length * row.nodeCountPerZone} ${row.machineType} nodes of gke.nodePools.greenplum`);

        // The sets the render would give for it, had the model not refused: the accepted ones with the larger pods.
        await removeSets();
        const sets = rendered.filter((o) => o.kind === "StatefulSet").map((s) => withGreenplumResources(toleratingFakeNodes(s), s.metadata.name === MASTER_SET ? master : segment));
        apply(sets);
        const pods = await settledPods(10);
        const pending = pods.filter((p) => !p.node);
        record(SCENARIO, `${rowName(row)}: 10 % larger`, {
            segment: `${segment.milli}m/${segment.mib}Mi`,
            master: `${master.milli}m/${master.mib}Mi`,
            refusal: refusal.split("\n").find((l) => l.includes("cannot all be scheduled"))?.trim(),
            bound: pods.length - pending.length,
            pending: pending.map((p) => p.name).sort(),
            scheduler: pending[0]?.unschedulable,
            shape: layoutShape(pods, SETS),
        });
        expect(pending.length).toBeGreaterThan(0);
        expect(pending.every((p) => p.phase === "Pending")).toBe(true);
        expect(segmentCopiesSharingNode(pods, PRIMARY_SET, MIRROR_SET)).toEqual([]);
        expect(setMembersSharingNode(pods, MASTER_SET)).toEqual([]);
    });
});
