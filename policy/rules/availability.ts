import {
    arr,
    at,
    obj,
    productionOnly,
    productionSchema,
    resourcePolicy,
    stackPolicy,
    type Json,
    type ProductionConfig,
    type ResourceContext,
    type StackResource,
    type StackViolation,
} from "./common";
import { K8S, describe, greenplumRole, isGreenplumStatefulSet, namespaceOf, podTemplateOf, replicasOf, selectorMatches } from "./k8s";

/**
 * Availability (production only: every check is off unless the policy's config has
 * production: true): a standby master, mirrored segments, pods spread over nodes, disruption
 * budgets, and a Ceph pool that survives losing a disk.
 */

// ---------------------------------------------------------------------------------------------
// greenplum-master-standby

export const checkMasterStandby = (props: Json, config: ProductionConfig, context: ResourceContext): string[] => {
    if (!config.production || !isGreenplumStatefulSet(context.type, props) || greenplumRole(props, context.name) !== "master") return [];
    const replicas = replicasOf(props);
    if (replicas === 2) return [];
    return [
        `${describe("StatefulSet", props, context.name)}: set spec.replicas to 2 (found ${replicas}): the master and its standby ` +
            "(greenplum-k8s:greenplum.masterAndStandby.standby true), so losing the master's node is a gpactivatestandby away, not a restore.",
    ];
};

export const masterStandby = resourcePolicy<ProductionConfig>({
    name: "greenplum-master-standby",
    description: "In production the master StatefulSet runs 2 replicas: the master and a standby master.",
    enforcementLevel: "advisory",
    configSchema: productionOnly,
    types: [K8S.statefulSet],
    check: checkMasterStandby,
});

// ---------------------------------------------------------------------------------------------
// greenplum-segment-mirrors

/** The Greenplum StatefulSets of a stack with their role and namespace. */
function greenplumStatefulSets(resources: StackResource[]) {
    return resources
        .filter((r) => isGreenplumStatefulSet(r.type, r.props))
        .map((r) => ({ resource: r, role: greenplumRole(r.props, r.name), namespace: namespaceOf(r.props) }));
}

export const checkSegmentMirrors = (resources: StackResource[], config: ProductionConfig): StackViolation[] => {
    if (!config.production) return [];
    const sets = greenplumStatefulSets(resources);
    const violations: StackViolation[] = [];
    for (const primary of sets.filter((s) => s.role === "segment-a")) {
        const mirror = sets.find((s) => s.role === "segment-b" && s.namespace === primary.namespace);
        const what = describe("StatefulSet", primary.resource.props, primary.resource.name);
        if (!mirror) {
            violations.push({
                urn: primary.resource.urn,
                message: `${what}: add the mirror StatefulSet segment-b in the same namespace (greenplum-k8s:greenplum.segments.mirrors true); without mirrors losing one segment's disk loses data.`,
            });
        } else if (replicasOf(mirror.resource.props) !== replicasOf(primary.resource.props)) {
            violations.push({
                urn: mirror.resource.urn,
                message:
                    `${describe("StatefulSet", mirror.resource.props, mirror.resource.name)}: set spec.replicas to ${replicasOf(primary.resource.props)} ` +
                    `(found ${replicasOf(mirror.resource.props)}) to match segment-a: every primary segment needs its mirror.`,
            });
        }
    }
    return violations;
};

export const segmentMirrors = stackPolicy<ProductionConfig>({
    name: "greenplum-segment-mirrors",
    description: "In production a segment-b mirror StatefulSet exists beside segment-a with the same number of replicas.",
    enforcementLevel: "advisory",
    configSchema: productionOnly,
    check: checkSegmentMirrors,
});

// ---------------------------------------------------------------------------------------------
// greenplum-pod-anti-affinity

export const checkPodAntiAffinity = (props: Json, config: ProductionConfig, context: ResourceContext): string[] => {
    if (!config.production || !isGreenplumStatefulSet(context.type, props)) return [];
    const terms = arr(at(podTemplateOf(context.type, props)?.spec, "affinity", "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution"));
    if (terms.length > 0 && terms.every((t) => typeof obj(t).topologyKey === "string")) return [];
    return [
        `${describe("StatefulSet", props, context.name)}: add spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution ` +
            '(topologyKey "kubernetes.io/hostname") so a primary and its mirror, or the master and its standby, never share a node ' +
            "(greenplum-k8s:greenplum.*.antiAffinity true).",
    ];
};

export const podAntiAffinity = resourcePolicy<ProductionConfig>({
    name: "greenplum-pod-anti-affinity",
    description: "In production Greenplum pods have required pod anti-affinity, so one node failure cannot take a primary and its mirror.",
    enforcementLevel: "advisory",
    configSchema: productionOnly,
    types: [K8S.statefulSet],
    check: checkPodAntiAffinity,
});

// ---------------------------------------------------------------------------------------------
// greenplum-pod-disruption-budget

export const checkPodDisruptionBudgets = (resources: StackResource[], config: ProductionConfig): StackViolation[] => {
    if (!config.production) return [];
    const budgets = resources.filter((r) => r.type === K8S.podDisruptionBudget);
    const violations: StackViolation[] = [];
    for (const { resource, namespace } of greenplumStatefulSets(resources)) {
        const labels = podTemplateOf(resource.type, resource.props)?.labels ?? {};
        const covered = budgets.some((pdb) => namespaceOf(pdb.props) === namespace && selectorMatches(at(pdb.props, "spec", "selector"), labels));
        if (!covered) {
            violations.push({
                urn: resource.urn,
                message:
                    `${describe("StatefulSet", resource.props, resource.name)}: add a PodDisruptionBudget in its namespace whose spec.selector matches its pod ` +
                    "template labels (e.g. maxUnavailable: 1), so a node drain cannot evict a primary and its mirror at once.",
            });
        }
    }
    return violations;
};

export const podDisruptionBudgets = stackPolicy<ProductionConfig>({
    name: "greenplum-pod-disruption-budget",
    description: "In production every Greenplum StatefulSet's pods are selected by a PodDisruptionBudget in the same namespace.",
    enforcementLevel: "advisory",
    configSchema: productionOnly,
    check: checkPodDisruptionBudgets,
});

// ---------------------------------------------------------------------------------------------
// ceph-pool-replication

export interface CephPoolConfig {
    production: boolean;
    minReplicaSize: number;
}

export const checkCephPoolReplication = (props: Json, config: CephPoolConfig, context: ResourceContext): string[] => {
    if (!config.production) return [];
    const what = describe("CephBlockPool", props, context.name);
    const replicated = obj(at(props, "spec", "replicated"));
    const violations: string[] = [];
    const size = replicated.size;
    if (typeof size !== "number" || size < config.minReplicaSize) {
        violations.push(
            `${what}: set spec.replicated.size to at least ${config.minReplicaSize} (found ${typeof size === "number" ? size : "none"}; ` +
                "greenplum-k8s:storage.rookCeph.poolReplicas) so losing one OSD does not lose Greenplum data.",
        );
    }
    if (replicated.requireSafeReplicaSize !== true) {
        violations.push(`${what}: set spec.replicated.requireSafeReplicaSize to true so Ceph refuses to run the pool with a single copy.`);
    }
    return violations;
};

export const cephPoolReplication = resourcePolicy<CephPoolConfig>({
    name: "ceph-pool-replication",
    description: "In production Rook CephBlockPools keep at least minReplicaSize copies and requireSafeReplicaSize.",
    enforcementLevel: "advisory",
    configSchema: {
        properties: {
            production: productionSchema,
            minReplicaSize: { type: "integer", minimum: 1, default: 2, description: "Fewest copies a production pool may keep." },
        },
    },
    types: [K8S.cephBlockPool],
    check: checkCephPoolReplication,
});

export const availabilityPolicies = [masterStandby, segmentMirrors, podAntiAffinity, podDisruptionBudgets, cephPoolReplication];
