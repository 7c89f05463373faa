import { MIN_VMEM_PROTECT_LIMIT_MB, vmemProtectLimitMb } from "../components/greenplum/server-settings";
import { cpuQuantity, mebibytes, memoryQuantity, millicores } from "./quantity";
import type { StackConfig } from "./schema";

/**
 * The capacity model: which nodes the Greenplum pods run on, how much of each node they may
 * request, and whether every pod can be scheduled. Validation refuses a config whose pods cannot
 * all be placed; the gke profile derives the pods' CPU and memory from the pool's machine type.
 */

/** CPU in millicores and memory in MiB. */
export interface Resources {
    milli: number;
    mib: number;
}

export interface MachineType {
    name: string;
    vcpus: number;
    /** Compute Engine lists memory in GB meaning 2^30 bytes, i.e. GiB. */
    memoryGiB: number;
}

/**
 * The machine families the stack may use, from Compute Engine's machine-type tables
 * (general-purpose E2, N2, N2D; compute-optimised C3): vCPUs per size and GB of memory per vCPU.
 */
const FAMILIES: { series: string; sizes: number[]; memoryPerVcpu: Record<string, number> }[] = [
    { series: "e2", sizes: [2, 4, 8, 16, 32], memoryPerVcpu: { standard: 4, highmem: 8, highcpu: 1 } },
    { series: "n2", sizes: [2, 4, 8, 16, 32, 48, 64, 80, 96], memoryPerVcpu: { standard: 4, highmem: 8, highcpu: 1 } },
    { series: "n2d", sizes: [2, 4, 8, 16, 32, 48, 64, 80, 96], memoryPerVcpu: { standard: 4, highmem: 8, highcpu: 1 } },
    { series: "c3", sizes: [4, 8, 22, 44, 88, 176], memoryPerVcpu: { standard: 4, highmem: 8, highcpu: 2 } },
];

export const MACHINE_TYPES: Record<string, MachineType> = Object.fromEntries(
    FAMILIES.flatMap(({ series, sizes, memoryPerVcpu }) =>
        Object.entries(memoryPerVcpu).flatMap(([shape, perVcpu]) =>
            // E2 high-memory stops at 16 vCPUs.
            sizes.filter((n) => !(series === "e2" && shape === "highmem" && n > 16)).map((n) => {
                const name = `${series}-${shape}-${n}`;
                return [name, { name, vcpus: n, memoryGiB: n * perVcpu }];
            }),
        ),
    ),
);

/**
 * What GKE reserves on a Standard node (GKE docs, "Plan GKE node sizes", memory and CPU
 * reservations): memory 255 MiB below 1 GiB, else 25 % of the first 4 GiB, 20 % of the next 4,
 * 10 % of the next 8, 6 % of the next 112 and 2 % above 128 GiB, plus 100 MiB for eviction;
 * CPU 6 % of the first core, 1 % of the next, 0.5 % of the next 2 and 0.25 % above 4 cores.
 */
export function gkeAllocatable(machine: MachineType): Resources {
    const memoryGiB = machine.memoryGiB;
    const memoryTiers: [number, number][] = [[4, 0.25], [4, 0.2], [8, 0.1], [112, 0.06], [Infinity, 0.02]];
    const cpuTiers: [number, number][] = [[1, 0.06], [1, 0.01], [2, 0.005], [Infinity, 0.0025]];
    const tiered = (amount: number, tiers: [number, number][]) => {
        let rest = amount;
        let reserved = 0;
        for (const [size, share] of tiers) {
            const part = Math.min(rest, size);
            reserved += part * share;
            rest -= part;
        }
        return reserved;
    };
    const reservedMib = memoryGiB < 1 ? 255 : tiered(memoryGiB, memoryTiers) * 1024;
    return {
        milli: Math.floor(machine.vcpus * 1000 - tiered(machine.vcpus, cpuTiers) * 1000),
        mib: Math.floor(memoryGiB * 1024 - reservedMib - 100),
    };
}

/**
 * Requests of pods that are not Greenplum's on each Greenplum node, per node: GKE's kube-system
 * DaemonSets (anetd with Dataplane V2, netd, fluentbit-gke, gke-metrics-agent, pdcsi-node). An
 * allowance rounded up from their declared requests, not a measurement; `kubectl describe node`
 * shows the real sum. Ceph's RBD node plugin requests nothing (ceph-csi-drivers values: `resources: {}`).
 */
export const GKE_DAEMONSETS_PER_NODE: Resources = { milli: 400, mib: 768 };
/**
 * Cluster add-ons that run as Deployments and land on the Greenplum pool, because the Ceph pool
 * is tainted: kube-dns and its autoscaler, konnectivity-agent, metrics-server, event-exporter,
 * the default HTTP backend. An allowance for the whole pool, shared by its nodes.
 */
export const GKE_ADDONS_PER_POOL: Resources = { milli: 1000, mib: 1536 };

/**
 * The node the dev profile is sized for: `minikube start --cpus 4 --memory 8g` (what up:dev
 * suggests). The VM's kernel keeps about 512 MiB of the 8 GiB; the kubelet's hard eviction
 * threshold 100 MiB more.
 */
export const MINIKUBE_NODE: Resources = { milli: 4000, mib: 8192 - 512 - 100 };
/** minikube's control plane on the same node: etcd, kube-apiserver, controller-manager, scheduler, CoreDNS. */
export const MINIKUBE_SYSTEM_PODS: Resources = { milli: 750, mib: 170 };
/** The storage backend's own pods on a minikube node: the local-path provisioner, or Rook's operator. */
const MINIKUBE_STORAGE_PODS: Record<string, Resources> = {
    "local-path": { milli: 10, mib: 32 },
    "rook-ceph": { milli: 200, mib: 128 },
};

/** Ceph's mon_osd_full_ratio default: writes stop when an OSD is 95 % full. */
export const CEPH_FULL_RATIO = 0.95;

export interface GreenplumPods {
    masters: number;
    /** Primaries plus mirrors. */
    segments: number;
    primaries: number;
    mirrors: boolean;
    /** Master and standby apart, and the two copies of each segment (see antiAffinity in the statefulset). */
    antiAffinity: boolean;
}

export interface Pool {
    /** A label for messages, e.g. "6 n2-highmem-8 nodes of gke.nodePools.greenplum". */
    description: string;
    nodes: number;
    /** What each node offers Greenplum: allocatable less everything else's requests. */
    free: Resources;
    allocatable: Resources;
}

type PodKind = "master" | "primary" | "mirror";

/**
 * Orders in which the scheduler may meet the pods: the three StatefulSets are created together and
 * each creates its pods in a burst (Parallel), so any set's burst may come first, or they interleave.
 */
function creationOrders(pods: GreenplumPods): { kind: PodKind; index: number }[][] {
    const sets: { kind: PodKind; count: number }[] = [
        { kind: "master", count: pods.masters },
        { kind: "primary", count: pods.primaries },
        { kind: "mirror", count: pods.mirrors ? pods.primaries : 0 },
    ];
    const burst = (set: { kind: PodKind; count: number }) => Array.from({ length: set.count }, (_, index) => ({ kind: set.kind, index }));
    const permutations = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]].map((order) => order.flatMap((i) => burst(sets[i])));
    const longest = Math.max(...sets.map((s) => s.count));
    const interleaved = Array.from({ length: longest }, (_, index) => sets.filter((s) => index < s.count).map((s) => ({ kind: s.kind, index }))).flat();
    return [...permutations, interleaved];
}

/**
 * kube-scheduler's choices, one pod at a time: among the nodes the pod fits on (and, with
 * anti-affinity, that hold neither the other master nor the other copy of its segment), the least
 * allocated (NodeResourcesFit's default LeastAllocated score); `lastOnTie` picks the other end of a
 * tie, since the scheduler breaks ties at random.
 */
function placesEveryPod(pool: Pool, pods: GreenplumPods, segment: Resources, master: Resources, sequence: { kind: PodKind; index: number }[], lastOnTie: boolean): boolean {
    const nodes = Array.from({ length: pool.nodes }, () => ({ milli: 0, mib: 0, pods: [] as { kind: PodKind; index: number }[] }));
    const room = (n: (typeof nodes)[number]) => ((pool.free.milli - n.milli) / Math.max(pool.free.milli, 1) + (pool.free.mib - n.mib) / Math.max(pool.free.mib, 1)) / 2;
    for (const pod of sequence) {
        const request = pod.kind === "master" ? master : segment;
        const conflicts = (n: (typeof nodes)[number]) =>
            pods.antiAffinity &&
            n.pods.some((p) => (pod.kind === "master" ? p.kind === "master" : p.kind !== "master" && p.kind !== pod.kind && p.index === pod.index));
        let chosen: (typeof nodes)[number] | undefined;
        for (const n of nodes) {
            if (n.milli + request.milli > pool.free.milli || n.mib + request.mib > pool.free.mib || conflicts(n)) continue;
            if (!chosen || room(n) > room(chosen) + 1e-12 || (lastOnTie && Math.abs(room(n) - room(chosen)) <= 1e-12)) chosen = n;
        }
        if (!chosen) return false;
        chosen.milli += request.milli;
        chosen.mib += request.mib;
        chosen.pods.push(pod);
    }
    return true;
}

/**
 * Whether kube-scheduler places every Greenplum pod on `pool`'s identical nodes, whatever the order
 * it meets them in and however it breaks ties: a packing that exists but that the scheduler's
 * spreading does not find leaves pods Pending (shown with kwok on the real scheduler:
 * test/cluster/gke-layout.cluster.ts). With anti-affinity, the master and standby need different
 * nodes, and so do the two copies of each segment (statefulset.ts: same pod index).
 */
export function schedulable(pool: Pool, pods: GreenplumPods, segment: Resources, master: Resources): boolean {
    return creationOrders(pods).every((sequence) => placesEveryPod(pool, pods, segment, master, sequence, false) && placesEveryPod(pool, pods, segment, master, sequence, true));
}

export interface DerivedSizes {
    segment: Resources;
    master: Resources;
    /** Share of the pool's allocatable CPU and memory the Greenplum pods request (the lower of the two). */
    share: number;
}

/**
 * The largest requests that still schedule: segments get 1/k of a node's free room, the master
 * and standby j/k (j ≤ k), for the k and j that give Greenplum the largest share of the pool.
 */
export function deriveSizes(pool: Pool, pods: GreenplumPods): DerivedSizes | undefined {
    let best: DerivedSizes | undefined;
    for (let k = 1; k <= pods.segments; k++) {
        const segment = { milli: Math.floor(pool.free.milli / k), mib: Math.floor(pool.free.mib / k) };
        for (let j = 1; j <= k; j++) {
            const master = { milli: Math.floor((pool.free.milli * j) / k), mib: Math.floor((pool.free.mib * j) / k) };
            if (!schedulable(pool, pods, segment, master)) continue;
            const total = (r: Resources, count: number) => ({ milli: r.milli * count, mib: r.mib * count });
            const used = [total(segment, pods.segments), total(master, pods.masters)].reduce((a, b) => ({ milli: a.milli + b.milli, mib: a.mib + b.mib }));
            const share = Math.min(used.milli / (pool.allocatable.milli * pool.nodes), used.mib / (pool.allocatable.mib * pool.nodes));
            if (!best || share > best.share + 1e-9) best = { segment, master, share };
        }
    }
    return best;
}

/** The pods the config asks for. */
export function greenplumPods(gp: StackConfig["greenplum"]): GreenplumPods {
    return {
        masters: gp.masterAndStandby.standby ? 2 : 1,
        primaries: gp.segments.primarySegmentCount,
        segments: gp.segments.primarySegmentCount * (gp.segments.mirrors ? 2 : 1),
        mirrors: gp.segments.mirrors,
        antiAffinity: gp.segments.antiAffinity,
    };
}

/** The Greenplum pool of a GKE config; undefined when its machine type is not in the table. */
export function gkeGreenplumPool(gke: NonNullable<StackConfig["gke"]>): Pool | undefined {
    const { machineType, nodeCountPerZone } = gke.nodePools.greenplum;
    const machine = MACHINE_TYPES[machineType];
    if (!machine) return undefined;
    const nodes = nodeCountPerZone * gke.zones.length;
    const allocatable = gkeAllocatable(machine);
    const addonShare = { milli: Math.ceil(GKE_ADDONS_PER_POOL.milli / nodes), mib: Math.ceil(GKE_ADDONS_PER_POOL.mib / nodes) };
    return {
        description: `${nodes} ${machineType} node${nodes === 1 ? "" : "s"} of gke.nodePools.greenplum (${nodeCountPerZone} per zone × ${gke.zones.length} zone${gke.zones.length === 1 ? "" : "s"})`,
        nodes,
        allocatable,
        free: {
            milli: allocatable.milli - GKE_DAEMONSETS_PER_NODE.milli - addonShare.milli,
            mib: allocatable.mib - GKE_DAEMONSETS_PER_NODE.mib - addonShare.mib,
        },
    };
}

/** The minikube node the dev profile is sized for, less its control plane and the storage pods. */
export function minikubePool(backend: string): Pool {
    const storage = MINIKUBE_STORAGE_PODS[backend] ?? { milli: 0, mib: 0 };
    return {
        description: "the minikube node (minikube start --cpus 4 --memory 8g)",
        nodes: 1,
        allocatable: MINIKUBE_NODE,
        free: { milli: MINIKUBE_NODE.milli - MINIKUBE_SYSTEM_PODS.milli - storage.milli, mib: MINIKUBE_NODE.mib - MINIKUBE_SYSTEM_PODS.mib - storage.mib },
    };
}

function show(r: Resources): string {
    return `${cpuQuantity(r.milli)} CPU / ${memoryQuantity(Math.floor(r.mib))}`;
}

type Problem = [(string | number)[], string];
type Config = StackConfig;

/** Keys a user leaves unset so the gke profile derives them. */
export interface UnsetResources {
    segmentsCpu: boolean;
    segmentsMemory: boolean;
    masterCpu: boolean;
    masterMemory: boolean;
}

/**
 * Fills in the Greenplum pods' CPU and memory that the stack leaves unset, on a production GKE
 * target, from the Greenplum pool's machine type. Everything else is returned as given.
 */
export function withDerivedResources(config: Config, unset: UnsetResources): Config {
    if (config.target.kind !== "gke" || config.profile !== "production" || !config.gke) return config;
    if (!Object.values(unset).some(Boolean)) return config;
    const pool = gkeGreenplumPool(config.gke);
    if (!pool) return config;
    const sizes = deriveSizes(pool, greenplumPods(config.greenplum));
    if (!sizes) return config;
    const gp = config.greenplum;
    return {
        ...config,
        greenplum: {
            ...gp,
            segments: {
                ...gp.segments,
                cpu: unset.segmentsCpu ? cpuQuantity(sizes.segment.milli) : gp.segments.cpu,
                memory: unset.segmentsMemory ? memoryQuantity(sizes.segment.mib) : gp.segments.memory,
            },
            masterAndStandby: {
                ...gp.masterAndStandby,
                cpu: unset.masterCpu ? cpuQuantity(sizes.master.milli) : gp.masterAndStandby.cpu,
                memory: unset.masterMemory ? memoryQuantity(sizes.master.mib) : gp.masterAndStandby.memory,
            },
        },
    };
}

/** The least memory the capacity model suggests for a Greenplum pod (its vmem floor message says so). */
const MIN_GREENPLUM_MEMORY = "1Gi";

/** The most primaries (below the config's) that the pool holds at these sizes; undefined when not even one does. */
function mostPrimariesThatFit(pool: Pool, pods: GreenplumPods, segment: Resources, master: Resources): number | undefined {
    for (let primaries = pods.primaries - 1; primaries >= 1; primaries--) {
        if (schedulable(pool, { ...pods, primaries, segments: primaries * (pods.mirrors ? 2 : 1) }, segment, master)) return primaries;
    }
    return undefined;
}

function requested(cpu: string, memory: string): Resources {
    return { milli: cpu === "" ? 0 : millicores(cpu), mib: memory === "" ? 0 : mebibytes(memory) };
}

/** Everything the capacity model refuses in a (schema-valid) config, each with the key to change. */
export function capacityProblems(config: Config): Problem[] {
    const problems: Problem[] = [];
    const gp = config.greenplum;
    const pods = greenplumPods(gp);
    // A set below Greenplum's memory floor is judged at the floor: that is what its own fix gives it,
    // so the placement message below never asks for less than the floor message does.
    const atLeastFloor = (memory: string) => (memory !== "" && vmemProtectLimitMb(memory) < MIN_VMEM_PROTECT_LIMIT_MB ? MIN_GREENPLUM_MEMORY : memory);
    const segment = requested(gp.segments.cpu, atLeastFloor(gp.segments.memory));
    const master = requested(gp.masterAndStandby.cpu, atLeastFloor(gp.masterAndStandby.memory));
    const floored = (memory: string) => (atLeastFloor(memory) === memory ? "" : ` (counted at the ${MIN_GREENPLUM_MEMORY} floor, not ${memory})`);

    for (const [set, memory] of [["segments", gp.segments.memory], ["masterAndStandby", gp.masterAndStandby.memory]] as const) {
        if (atLeastFloor(memory) !== memory) {
            problems.push([["greenplum", set, "memory"], `${memory} leaves Greenplum a gp_vmem_protect_limit of ${vmemProtectLimitMb(memory)} MB (under ${MIN_VMEM_PROTECT_LIMIT_MB}): give the pods at least ${MIN_GREENPLUM_MEMORY}`]);
        }
    }

    let pool: Pool | undefined;
    if (config.target.kind === "gke" && config.gke) {
        const machineType = config.gke.nodePools.greenplum.machineType;
        pool = gkeGreenplumPool(config.gke);
        if (!pool) {
            const series = [...new Set(Object.keys(MACHINE_TYPES).map((n) => n.replace(/-\d+$/, "")))];
            problems.push([["gke", "nodePools", "greenplum", "machineType"], `"${machineType}" is not in the capacity model's table: choose one of ${series.join(", ")} followed by a size (e.g. n2-highmem-8)`]);
            return problems;
        }
    } else if (config.target.kind === "minikube") {
        pool = minikubePool(config.storage.backend);
    }
    // An existing cluster's nodes are unknown here: nothing to check them against.
    if (!pool) return problems;

    if (pods.antiAffinity && pool.nodes === 1) {
        // No size fits: anti-affinity needs a second node whatever the pods request.
        problems.push([
            ["greenplum", "segments", "antiAffinity"],
            `needs the master and standby, and each primary and its mirror, on different nodes, and ${pool.description} is one node: ` +
                "set greenplum.masterAndStandby.antiAffinity and greenplum.segments.antiAffinity to no",
        ]);
        return problems;
    }
    if (!schedulable(pool, pods, segment, master)) {
        const podCount = pods.masters + pods.segments;
        const layout = pods.antiAffinity ? "; with antiAffinity the master and standby need different nodes, and so do the two copies of each segment, in whatever order the scheduler meets the pods" : "";
        const derived = config.target.kind === "gke" ? deriveSizes(pool, pods) : undefined;
        const fewer = derived ? undefined : mostPrimariesThatFit(pool, pods, segment, master);
        const hint = derived
            ? `; sizes that fit: segments ${show(derived.segment)}, masterAndStandby ${show(derived.master)} (leave cpu and memory unset to get them)`
            : fewer
              ? `; at these sizes ${fewer} primary segment${fewer === 1 ? "" : "s"} fit (greenplum.segments.primarySegmentCount: ${fewer})`
              : "";
        const keys = config.target.kind === "gke"
            ? "greenplum.segments.cpu/memory, greenplum.masterAndStandby.cpu/memory, gke.nodePools.greenplum.machineType or gke.nodePools.greenplum.nodeCountPerZone"
            : "greenplum.segments.cpu/memory, greenplum.masterAndStandby.cpu/memory or greenplum.segments.primarySegmentCount";
        problems.push([
            ["greenplum", "segments"],
            `the ${podCount} Greenplum pods cannot all be scheduled on ${pool.description}, each offering Greenplum ${show(pool.free)}: ` +
                `segments request ${show(segment)}${floored(gp.segments.memory)} × ${pods.segments}, masterAndStandby ${show(master)}${floored(gp.masterAndStandby.memory)} × ${pods.masters}${layout}. Change ${keys}${hint}`,
        ]);
    }
    return problems;
}

/**
 * Ceph's usable capacity (OSDs × size / replicas, at the full ratio) against the Greenplum claims
 * on it; and, where the pool keeps a copy per zone (a GKE cluster with a zone per replica), OSDs
 * in equal numbers per zone, since the smallest zone bounds what a zone-replicated pool holds.
 */
/** Compute Engine's limit on one Persistent Disk (so on an OSD's claim on GKE): 64 TiB. */
export const MAX_PERSISTENT_DISK_GIB = 65536;
/** The most OSDs the config schema accepts (storage.rookCeph.osd.count). */
const MAX_OSDS = 64;

export function cephCapacityProblems(config: Config): Problem[] {
    const ceph = config.storage.rookCeph;
    if (config.storage.backend !== "rook-ceph" || ceph.osd.source !== "pvc") return [];
    const zones = config.target.kind === "gke" && config.gke ? config.gke.zones.length : 1;
    if (ceph.poolReplicas > 1 && zones >= ceph.poolReplicas && ceph.osd.count % zones !== 0) {
        return [[["storage", "rookCeph", "osd", "count"], `must be a multiple of the ${zones} zones in gke.zones (got ${ceph.osd.count}): each zone keeps one copy, and the zone with the fewest OSDs bounds what the pool holds`]];
    }
    if (ceph.overcommit) return [];
    const gp = config.greenplum;
    const pods = greenplumPods(gp);
    const onCeph = (className: string | undefined) => className === undefined || className === config.storage.storageClassName;
    const claimsGiB =
        (onCeph(gp.masterAndStandby.storageClassName) ? (pods.masters * mebibytes(gp.masterAndStandby.storage)) / 1024 : 0) +
        (onCeph(gp.segments.storageClassName) ? (pods.segments * mebibytes(gp.segments.storage)) / 1024 : 0);
    const usableGiB = (ceph.osd.count * (mebibytes(ceph.osd.size) / 1024) * CEPH_FULL_RATIO) / ceph.poolReplicas;
    if (usableGiB >= claimsGiB) return [];
    const neededSizeGiB = Math.ceil((claimsGiB * ceph.poolReplicas) / (CEPH_FULL_RATIO * ceph.osd.count));
    const held = `${ceph.osd.count} OSDs of ${ceph.osd.size} at ${ceph.poolReplicas} replicas hold ${Math.floor(usableGiB)} GiB (at Ceph's full ratio ${CEPH_FULL_RATIO}), less than the ${Math.ceil(claimsGiB)} GiB of Greenplum volume claims`;
    const thin = "or set storage.rookCeph.overcommit: yes to accept thin provisioning (writes stop when Ceph is full)";
    // On GKE an OSD is one Persistent Disk: past its limit only more OSDs help.
    if (config.target.kind === "gke" && neededSizeGiB > MAX_PERSISTENT_DISK_GIB) {
        const count = Math.ceil(Math.ceil((claimsGiB * ceph.poolReplicas) / (CEPH_FULL_RATIO * MAX_PERSISTENT_DISK_GIB)) / zones) * zones;
        const fix = count <= MAX_OSDS
            ? `set storage.rookCeph.osd.size to 64Ti (one Persistent Disk's limit) and storage.rookCeph.osd.count to at least ${count} (a multiple of the ${zones} zones)`
            : `not even ${MAX_OSDS} OSDs of 64Ti (one Persistent Disk's limit) hold them: make greenplum.segments.storage smaller`;
        return [[["storage", "rookCeph", "osd", "count"], `${held}: ${fix}, ${thin}`]];
    }
    return [[["storage", "rookCeph", "osd", "size"], `${held}: set storage.rookCeph.osd.size to at least ${neededSizeGiB}Gi, raise storage.rookCeph.osd.count, ${thin}`]];
}

/** One row per machine type for the README: allocatable, room for Greenplum, derived sizes for a layout. */
export function capacityRow(machineType: string, nodeCountPerZone: number, zones: number, pods: GreenplumPods): string {
    const machine = MACHINE_TYPES[machineType];
    const pool = gkeGreenplumPool({ nodePools: { greenplum: { machineType, nodeCountPerZone } }, zones: Array(zones).fill("z") } as NonNullable<StackConfig["gke"]>)!;
    const sizes = deriveSizes(pool, pods);
    const cells = [
        machineType,
        `${machine.vcpus} / ${machine.memoryGiB} GiB`,
        show(pool.allocatable),
        show(pool.free),
        String(pool.nodes),
        sizes ? show(sizes.segment) : "does not fit",
        sizes ? show(sizes.master) : "",
        sizes ? `${Math.floor(sizes.share * 1000) / 10} %` : "",
    ];
    return `| ${cells.join(" | ")} |`;
}
