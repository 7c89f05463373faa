/**
 * The gke layout check's pure parts (test/cluster/gke-layout.cluster.ts): GKE nodes faked from the
 * capacity model (kept Ready by kwok, no kubelet), kwok's command line and stages, what stands for
 * everything else's share of each node, the volumes a render's claims bind to, and where the
 * Greenplum pods landed.
 */
import { stringify } from "yaml";
import { CEPH_NODE_TAINT, NODE_POOL_LABEL } from "../../components/cluster/gke";
import { gkeAllocatable, gkeGreenplumPool, MACHINE_TYPES, type Resources } from "../../stacks/capacity";
import { cpuQuantity, memoryQuantity } from "../../stacks/quantity";
import type { GkeConfig } from "../../stacks/schema";
import type { KubernetesObject } from "../manifests";
import { CLUSTER_POD_CIDR, ipv4ToNumber, LAB_RANGE, NODE_POD_CIDR, overlaps, within } from "./plan";

/** kwok manages the nodes with this label (and only them: never the real node). */
export const FAKE_NODE_LABEL = { key: "greenplum-k8s.local/fake-node", value: "kwok" };
/** Keeps every pod that does not tolerate it (the other scenarios' pods, running meanwhile) off the fake nodes. */
export const FAKE_NODE_TAINT = { key: "greenplum-k8s.local/fake-node", value: "kwok", effect: "NoSchedule" };
export const FAKE_NODE_TOLERATION = { key: FAKE_NODE_TAINT.key, operator: "Equal", value: FAKE_NODE_TAINT.value, effect: FAKE_NODE_TAINT.effect };
/** Labels what the check creates outside its namespace (nodes, volumes, the class), so clean-up finds it all. */
export const LAYOUT_LABEL = { key: "greenplum-k8s.local/layout-check", value: "true" };
/** The fake nodes' InternalIPs: lab addresses no interface holds, blackholed (machine.ts). */
export const FAKE_NODE_ADDRESSES = "198.18.9.0/24";
/** kwok's address for a node without one: never used, since every fake node has its own. */
export const KWOK_FALLBACK_NODE_IP = "198.18.9.254";
/** The fake nodes' pod ranges follow the real node's /24 in the cluster's pod range; the range's last /24 is kwok's fallback. */
const FIRST_FAKE_POD_CIDR = "198.18.17.0/24";
export const KWOK_FALLBACK_POD_CIDR = "198.18.31.0/24";
const MAX_FAKE_NODES = 14;
/** GKE's default maximum pods per node. */
const GKE_MAX_PODS = 110;
/** The pods that stand for everything else's share on a node. */
export const PLACEHOLDER_LABEL = { key: "greenplum-k8s.local/placeholder", value: "everything-else" };

const addressAt = (base: string, offset: number) => {
    const n = ipv4ToNumber(base.split("/")[0]) + offset;
    return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
};

/** Node i's pod range (a /24) and InternalIP. */
export function fakeNodeAddresses(i: number): { podCIDR: string; internalIP: string } {
    if (i < 0 || i >= MAX_FAKE_NODES) throw new Error(`at most ${MAX_FAKE_NODES} fake nodes (their pod ranges are 198.18.17.0/24 to 198.18.30.0/24)`);
    return { podCIDR: `${addressAt(FIRST_FAKE_POD_CIDR, i * 256)}/24`, internalIP: addressAt(FAKE_NODE_ADDRESSES, i + 1) };
}

/** The check's address rules: a change that breaks one fails the unit tests. */
export function layoutAddressProblems(): string[] {
    const problems: string[] = [];
    const ranges = Array.from({ length: MAX_FAKE_NODES }, (_, i) => fakeNodeAddresses(i));
    for (const { podCIDR, internalIP } of ranges) {
        if (!within(podCIDR, CLUSTER_POD_CIDR)) problems.push(`fake pod range ${podCIDR} is outside the cluster's ${CLUSTER_POD_CIDR}`);
        if (overlaps(podCIDR, NODE_POD_CIDR)) problems.push(`fake pod range ${podCIDR} overlaps the real node's ${NODE_POD_CIDR}`);
        if (overlaps(podCIDR, KWOK_FALLBACK_POD_CIDR)) problems.push(`fake pod range ${podCIDR} overlaps kwok's fallback ${KWOK_FALLBACK_POD_CIDR}`);
        if (!within(internalIP, FAKE_NODE_ADDRESSES)) problems.push(`fake node address ${internalIP} is outside ${FAKE_NODE_ADDRESSES}`);
    }
    if (new Set(ranges.map((r) => r.podCIDR)).size !== ranges.length) problems.push("two fake nodes share a pod range");
    for (const [name, value] of Object.entries({ FAKE_NODE_ADDRESSES, KWOK_FALLBACK_NODE_IP, KWOK_FALLBACK_POD_CIDR })) if (!within(value, LAB_RANGE)) problems.push(`${name} ${value} is outside ${LAB_RANGE}`);
    if (overlaps(FAKE_NODE_ADDRESSES, CLUSTER_POD_CIDR)) problems.push(`fake node addresses ${FAKE_NODE_ADDRESSES} overlap the pod range`);
    return problems;
}

export interface FakeNode {
    name: string;
    pool: "greenplum" | "ceph";
    zone: string;
    internalIP: string;
    podCIDR: string;
    manifest: KubernetesObject;
}

function machine(machineType: string) {
    const found = MACHINE_TYPES[machineType];
    if (!found) throw new Error(`${machineType} is not in the capacity model's machine table`);
    return found;
}

/**
 * The GKE cluster's nodes as the scheduler sees them: per zone, the Greenplum pool's nodes and (with
 * Ceph) the Ceph pool's, labelled as GKE and components/cluster/gke.ts label them, the Ceph pool
 * tainted as gke.ts taints it; capacity the machine type's, allocatable what GKE reserves
 * (gkeAllocatable); every node also carries the fake-node taint and kwok's label.
 */
export function fakeGkeNodes(gke: GkeConfig, cephNodes: boolean): FakeNode[] {
    const pools = [{ pool: "greenplum" as const, ...gke.nodePools.greenplum }, ...(cephNodes ? [{ pool: "ceph" as const, ...gke.nodePools.ceph }] : [])];
    const nodes: FakeNode[] = [];
    for (const { pool, machineType, nodeCountPerZone } of pools) {
        const type = machine(machineType);
        const allocatable = gkeAllocatable(type);
        for (const zone of gke.zones) {
            for (let n = 0; n < nodeCountPerZone; n++) {
                const name = `gke-${pool}-${zone}-${n}`;
                const { podCIDR, internalIP } = fakeNodeAddresses(nodes.length);
                const taints = [FAKE_NODE_TAINT, ...(pool === "ceph" ? [{ ...CEPH_NODE_TAINT, effect: "NoSchedule" }] : [])];
                nodes.push({
                    name,
                    pool,
                    zone,
                    internalIP,
                    podCIDR,
                    manifest: {
                        apiVersion: "v1",
                        kind: "Node",
                        metadata: {
                            name,
                            labels: {
                                "kubernetes.io/hostname": name,
                                "kubernetes.io/os": "linux",
                                "kubernetes.io/arch": "amd64",
                                "topology.kubernetes.io/region": gke.region,
                                "topology.kubernetes.io/zone": zone,
                                "node.kubernetes.io/instance-type": machineType,
                                "cloud.google.com/gke-nodepool": pool,
                                [NODE_POOL_LABEL]: pool,
                                [FAKE_NODE_LABEL.key]: FAKE_NODE_LABEL.value,
                                [LAYOUT_LABEL.key]: LAYOUT_LABEL.value,
                            },
                        },
                        spec: { podCIDR, podCIDRs: [podCIDR], taints },
                        // A node's status is kept on create (the kubelet registers its capacity so).
                        status: {
                            capacity: { cpu: String(type.vcpus), memory: `${type.memoryGiB}Gi`, pods: String(GKE_MAX_PODS) },
                            allocatable: { cpu: cpuQuantity(allocatable.milli), memory: memoryQuantity(allocatable.mib), pods: String(GKE_MAX_PODS) },
                            addresses: [
                                { type: "InternalIP", address: internalIP },
                                { type: "Hostname", address: name },
                            ],
                        },
                    },
                });
            }
        }
    }
    return nodes;
}

/**
 * What the capacity model keeps back on each Greenplum node for everything else (GKE's DaemonSets,
 * the node's share of the pool's add-ons): allocatable less the room it offers Greenplum.
 */
export function everythingElsesShare(gke: GkeConfig): Resources {
    const pool = gkeGreenplumPool(gke);
    if (!pool) throw new Error(`${gke.nodePools.greenplum.machineType} is not in the capacity model's machine table`);
    return { milli: pool.allocatable.milli - pool.free.milli, mib: pool.allocatable.mib - pool.free.mib };
}

/**
 * One pod per Greenplum node requesting everything else's share, pinned to it by nodeName, at
 * system-node-critical (GKE's DaemonSets' priority): the Greenplum pods' own priority class may
 * preempt lower pods, and must not take this share any more than they could take the DaemonSets'.
 */
export function placeholderPods(nodes: FakeNode[], share: Resources, namespace: string, image: string): KubernetesObject[] {
    return nodes
        .filter((n) => n.pool === "greenplum")
        .map((n) => ({
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: `everything-else-${n.name}`, namespace, labels: { [PLACEHOLDER_LABEL.key]: PLACEHOLDER_LABEL.value } },
            spec: {
                nodeName: n.name,
                priorityClassName: "system-node-critical",
                tolerations: [FAKE_NODE_TOLERATION],
                automountServiceAccountToken: false,
                // Pod Security "restricted", as the rendered namespace enforces.
                securityContext: { runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: "RuntimeDefault" } },
                containers: [
                    {
                        name: "reserved",
                        image,
                        resources: { requests: { cpu: cpuQuantity(share.milli), memory: memoryQuantity(share.mib) }, limits: { cpu: cpuQuantity(share.milli), memory: memoryQuantity(share.mib) } },
                        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
                    },
                ],
            },
        }));
}

/** A claim a StatefulSet's volumeClaimTemplates make for one replica. */
export interface SetClaim {
    namespace: string;
    name: string;
    storageClassName: string;
    storage: string;
    accessModes: string[];
}

type StatefulSet = KubernetesObject & {
    spec: {
        replicas: number;
        template: { spec: { tolerations?: unknown[]; containers: { name: string; resources?: unknown }[] } & Record<string, unknown> } & Record<string, unknown>;
        volumeClaimTemplates?: { metadata: { name: string }; spec: { storageClassName: string; accessModes: string[]; resources: { requests: { storage: string } } } }[];
    } & Record<string, unknown>;
};

/** `<template>-<set>-<ordinal>` for every replica and template, as the StatefulSet controller names them. */
export function setClaims(sets: KubernetesObject[]): SetClaim[] {
    return (sets as StatefulSet[]).flatMap((set) =>
        (set.spec.volumeClaimTemplates ?? []).flatMap((t) =>
            Array.from({ length: set.spec.replicas }, (_, i) => ({
                namespace: set.metadata.namespace ?? "default",
                name: `${t.metadata.name}-${set.metadata.name}-${i}`,
                storageClassName: t.spec.storageClassName,
                storage: t.spec.resources.requests.storage,
                accessModes: t.spec.accessModes,
            })),
        ),
    );
}

/**
 * The render's Ceph class as one with no provisioner and Immediate binding: nothing here provisions
 * RBD images, and with WaitForFirstConsumer and no volume the scheduler would never bind a pod.
 */
export function volumeClass(name: string): KubernetesObject {
    return {
        apiVersion: "storage.k8s.io/v1",
        kind: "StorageClass",
        metadata: { name, labels: { [LAYOUT_LABEL.key]: LAYOUT_LABEL.value } },
        provisioner: "kubernetes.io/no-provisioner",
        volumeBindingMode: "Immediate",
        reclaimPolicy: "Retain",
    };
}

/**
 * A volume for each claim, bound to it in advance (claimRef: no other claim can take it) and with no
 * node affinity, as Ceph RBD volumes are reachable from every node. hostPath under a folder nothing
 * creates: no container ever runs on a fake node, so nothing mounts it.
 */
export function preboundVolumes(claims: SetClaim[], hostPathRoot: string): KubernetesObject[] {
    return claims.map((c) => ({
        apiVersion: "v1",
        kind: "PersistentVolume",
        metadata: { name: `layout-${c.namespace}-${c.name}`, labels: { [LAYOUT_LABEL.key]: LAYOUT_LABEL.value } },
        spec: {
            capacity: { storage: c.storage },
            accessModes: c.accessModes,
            storageClassName: c.storageClassName,
            persistentVolumeReclaimPolicy: "Retain",
            claimRef: { namespace: c.namespace, name: c.name },
            hostPath: { path: `${hostPathRoot}/${c.namespace}/${c.name}` },
        },
    }));
}

/**
 * The claims themselves, each naming its volume: the StatefulSet controller then finds them made
 * and bound, and the scheduler never meets a claim the volume controller has not bound yet (it
 * left a pod Unschedulable, "pod has unbound immediate PersistentVolumeClaims", past the wait).
 */
export function preboundClaims(claims: SetClaim[]): KubernetesObject[] {
    return claims.map((c) => ({
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        metadata: { name: c.name, namespace: c.namespace },
        spec: { accessModes: c.accessModes, storageClassName: c.storageClassName, volumeName: `layout-${c.namespace}-${c.name}`, resources: { requests: { storage: c.storage } } },
    }));
}

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** The set with the fake-node toleration added to its pods: the only change the check makes to the render. */
export function toleratingFakeNodes(set: KubernetesObject): KubernetesObject {
    const copy = clone(set) as StatefulSet;
    const pod = copy.spec.template.spec;
    pod.tolerations = [...(pod.tolerations ?? []), FAKE_NODE_TOLERATION];
    return copy;
}

/** The set with its greenplum container's requests and limits replaced (a config the model refuses renders nothing to take them from). */
export function withGreenplumResources(set: KubernetesObject, resources: Resources): KubernetesObject {
    const copy = clone(set) as StatefulSet;
    const values = { cpu: cpuQuantity(resources.milli), memory: memoryQuantity(resources.mib) };
    for (const c of copy.spec.template.spec.containers) if (c.name === "greenplum") c.resources = { requests: values, limits: { ...values } };
    return copy;
}

/**
 * The set with GP4K's set-level rule in place of ours: a segment avoids every node holding a pod of
 * the other segment set (no matchLabelKeys), so primaries and mirrors need disjoint nodes.
 */
export function withSetLevelAntiAffinity(set: KubernetesObject): KubernetesObject {
    const copy = clone(set) as StatefulSet;
    const terms = (copy.spec.template.spec as { affinity?: { podAntiAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { matchLabelKeys?: string[] }[] } } }).affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
    for (const term of terms) delete term.matchLabelKeys;
    return copy;
}

/** A Greenplum pod as the check reads it back. */
export interface PlacedPod {
    name: string;
    /** The node it is bound to; undefined while Pending. */
    node?: string;
}

const ordinalOf = (pod: string, set: string) => (pod.startsWith(`${set}-`) && /^\d+$/.test(pod.slice(set.length + 1)) ? Number(pod.slice(set.length + 1)) : undefined);

/** Segment i's primary and mirror on one node: each such pair, naming the node. */
export function segmentCopiesSharingNode(pods: PlacedPod[], primarySet: string, mirrorSet: string): string[] {
    const shared: string[] = [];
    for (const primary of pods) {
        const i = ordinalOf(primary.name, primarySet);
        if (i === undefined || !primary.node) continue;
        const mirror = pods.find((p) => p.name === `${mirrorSet}-${i}`);
        if (mirror?.node === primary.node) shared.push(`${primary.name} and ${mirror.name} on ${primary.node}`);
    }
    return shared;
}

/** The pods of a set that share a node with another pod of the same set (master and standby must not). */
export function setMembersSharingNode(pods: PlacedPod[], set: string): string[] {
    const members = pods.filter((p) => p.node && ordinalOf(p.name, set) !== undefined);
    return members.filter((p) => members.some((q) => q !== p && q.node === p.node)).map((p) => `${p.name} on ${p.node}`);
}

/**
 * What each used node holds, by set ("master ×1, segment-b ×2"), sorted: the layout's shape,
 * independent of which node or zone the scheduler picked.
 */
export function layoutShape(pods: PlacedPod[], sets: string[]): string[] {
    const byNode = new Map<string, Map<string, number>>();
    for (const p of pods) {
        const set = sets.find((s) => ordinalOf(p.name, s) !== undefined);
        if (!p.node || !set) continue;
        const counts = byNode.get(p.node) ?? new Map<string, number>();
        counts.set(set, (counts.get(set) ?? 0) + 1);
        byNode.set(p.node, counts);
    }
    return [...byNode.values()].map((counts) => sets.filter((s) => counts.has(s)).map((s) => `${s} ×${counts.get(s)}`).join(", ")).sort();
}

/**
 * kwok's stages: a fake node turns Ready (its capacity, addresses and taints are the ones it was
 * created with; leases keep it Ready), a pod bound to one runs at once with an address from the
 * node's pod range, and a deleted pod goes at once (no kubelet confirms it).
 */
export function kwokStages(): string {
    const stage = (name: string, kind: string, matchExpressions: unknown[], step: unknown) => ({
        apiVersion: "kwok.x-k8s.io/v1alpha1",
        kind: "Stage",
        metadata: { name },
        spec: { resourceRef: { apiGroup: "v1", kind }, selector: { matchExpressions }, steps: [step] },
    });
    const readyNot = { key: '.status.conditions.[] | select( .type == "Ready" ) | .status', operator: "NotIn", values: ["True"] };
    const statusPatch = (template: string) => ({ patch: { subresource: "status", root: "status", template } });
    const nodeReady = [
        "{{ $now := Now }}",
        "conditions:",
        "{{ range NodeConditions }}",
        "- type: {{ .type | Quote }}",
        "  status: {{ .status | Quote }}",
        "  reason: {{ .reason | Quote }}",
        "  message: {{ .message | Quote }}",
        "  lastHeartbeatTime: {{ $now | Quote }}",
        "  lastTransitionTime: {{ $now | Quote }}",
        "{{ end }}",
        "phase: Running",
    ].join("\n");
    const podRunning = [
        "{{ $now := Now }}",
        "conditions:",
        "{{ range list \"Initialized\" \"ContainersReady\" \"Ready\" }}",
        "- type: {{ . | Quote }}",
        "  status: \"True\"",
        "  lastTransitionTime: {{ $now | Quote }}",
        "{{ end }}",
        "initContainerStatuses:",
        "{{ range .spec.initContainers }}",
        "- name: {{ .name | Quote }}",
        "  image: {{ .image | Quote }}",
        "  ready: true",
        "  restartCount: 0",
        "  state: { terminated: { exitCode: 0, reason: Completed, startedAt: {{ $now | Quote }}, finishedAt: {{ $now | Quote }} } }",
        "{{ end }}",
        "containerStatuses:",
        "{{ range .spec.containers }}",
        "- name: {{ .name | Quote }}",
        "  image: {{ .image | Quote }}",
        "  ready: true",
        "  started: true",
        "  restartCount: 0",
        "  state: { running: { startedAt: {{ $now | Quote }} } }",
        "{{ end }}",
        "hostIP: {{ NodeIPWith .spec.nodeName | Quote }}",
        "podIP: {{ PodIPWith .spec.nodeName false .metadata.uid .metadata.name .metadata.namespace | Quote }}",
        "phase: Running",
        "startTime: {{ $now | Quote }}",
    ].join("\n");
    const stages = [
        stage("fake-node-ready", "Node", [readyNot], statusPatch(nodeReady)),
        stage("fake-pod-running", "Pod", [{ key: ".metadata.deletionTimestamp", operator: "DoesNotExist" }, { key: ".status.phase", operator: "In", values: ["Pending"] }], statusPatch(podRunning)),
        stage("fake-pod-deleted", "Pod", [{ key: ".metadata.deletionTimestamp", operator: "Exists" }], { delete: true }),
    ];
    return stages.map((s) => stringify(s, { lineWidth: 0 })).join("---\n");
}

/**
 * kwok's command line (flags of kwok v0.8.0's cmd/kwok): only nodes with the fake-node label, so
 * never the real node or its pods; leases keep them Ready; no server (no --server-address or
 * --node-port: it listens nowhere); the fallback addresses in the lab range.
 */
export function kwokArgs(files: { kubeconfig: string; stages: string }): string[] {
    return [
        `--kubeconfig=${files.kubeconfig}`,
        `--config=${files.stages}`,
        "--manage-all-nodes=false",
        `--manage-nodes-with-label-selector=${FAKE_NODE_LABEL.key}=${FAKE_NODE_LABEL.value}`,
        "--node-lease-duration-seconds=40",
        `--cidr=${KWOK_FALLBACK_POD_CIDR}`,
        `--node-ip=${KWOK_FALLBACK_NODE_IP}`,
    ];
}

/** One row of the README's capacity table as a gke stack: Pulumi.gke.yaml's config with the pool, the namespace and the data class set. */
export function layoutStackConfig(
    gkeStack: { config: Record<string, unknown> },
    row: { machineType: string; nodeCountPerZone: number },
    namespace: string,
    storageClassName: string,
    greenplum: Record<string, unknown> = {},
): { config: Record<string, unknown> } {
    const config = clone(gkeStack.config);
    const gke = (config["greenplum-k8s:gke"] ?? {}) as { nodePools?: { greenplum?: Record<string, unknown> } };
    gke.nodePools = { ...gke.nodePools, greenplum: { ...gke.nodePools?.greenplum, machineType: row.machineType, nodeCountPerZone: row.nodeCountPerZone } };
    config["greenplum-k8s:gke"] = gke;
    config["greenplum-k8s:greenplum"] = { ...(config["greenplum-k8s:greenplum"] as object), namespace, ...greenplum };
    config["greenplum-k8s:storage"] = { ...(config["greenplum-k8s:storage"] as object), storageClassName };
    return { config };
}
