import type { PolicyResourceOptions, ReportViolation, ResourceValidationArgs, StackValidationArgs } from "@pulumi/policy";
import { fullOptions, toPolicyResource, urnOf, type RenderedResource } from "../../policy/evaluate";

export { urnOf };
import type { GreenplumResourcePolicy, GreenplumStackPolicy } from "../../policy/rules/common";

/**
 * Test helpers: build the args the Pulumi engine passes to a policy and collect what it reports,
 * plus fixtures of a stack that passes every policy (tests break one thing at a time).
 */

export type Obj = Record<string, any>;

const notApplicable = (reason?: string): never => {
    throw new Error(`notApplicable: ${reason}`);
};


/** Calls a resource policy's validateResource as the engine would; returns the reported messages. */
export function runResourcePolicy(
    policy: GreenplumResourcePolicy<never>,
    resource: { type: string; props: Obj; name?: string; opts?: Partial<PolicyResourceOptions> },
    config: object = {},
): string[] {
    const messages: string[] = [];
    const report: ReportViolation = (message) => messages.push(message);
    const args: ResourceValidationArgs = {
        type: resource.type,
        props: resource.props,
        name: resource.name ?? "res",
        urn: `urn:pulumi:test::greenplum-k8s::${resource.type}::${resource.name ?? "res"}`,
        opts: fullOptions(resource.opts),
        stackTags: new Map(),
        isType: () => false,
        asType: () => undefined,
        getConfig: <T extends object>() => config as T,
        notApplicable,
    };
    const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource!];
    for (const validate of validations) void validate(args, report);
    return messages;
}

/** Calls a stack policy's validateStack; returns the reported violations. */
export function runStackPolicy(policy: GreenplumStackPolicy<never>, resources: RenderedResource[], config: object = {}): { message: string; urn?: string }[] {
    const violations: { message: string; urn?: string }[] = [];
    const args: StackValidationArgs = {
        resources: resources.map(toPolicyResource),
        stackTags: new Map(),
        getConfig: <T extends object>() => config as T,
        notApplicable,
    };
    void policy.validateStack(args, (message, urn) => violations.push({ message, urn }));
    return violations;
}


// ---------------------------------------------------------------------------------------------
// Fixtures: each builds a fresh object that passes every policy in production.

export const T = {
    statefulSet: "kubernetes:apps/v1:StatefulSet",
    deployment: "kubernetes:apps/v1:Deployment",
    cronJob: "kubernetes:batch/v1:CronJob",
    pod: "kubernetes:core/v1:Pod",
    service: "kubernetes:core/v1:Service",
    networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    pdb: "kubernetes:policy/v1:PodDisruptionBudget",
    storageClass: "kubernetes:storage.k8s.io/v1:StorageClass",
    cephBlockPool: "kubernetes:ceph.rook.io/v1:CephBlockPool",
    cluster: "gcp:container/cluster:Cluster",
    nodePool: "gcp:container/nodePool:NodePool",
} as const;

export const NS = "greenplum";
export const PRODUCTION = { production: true };

export function restrictedContainer(name: string, image = "woblerr/greenplum:6.27.1"): Obj {
    return {
        name,
        image,
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, runAsNonRoot: true },
    };
}

export function restrictedPodSpec(containers: Obj[]): Obj {
    return {
        securityContext: { runAsNonRoot: true, runAsUser: 1001, fsGroup: 1001, seccompProfile: { type: "RuntimeDefault" } },
        containers,
    };
}

export function podLabels(role: string): Obj {
    return {
        "app.kubernetes.io/part-of": "greenplum-k8s",
        "app.kubernetes.io/name": "greenplum",
        "app.kubernetes.io/component": role,
    };
}

/** A production-ready Greenplum StatefulSet for `role` (master, segment-a, segment-b). */
export function greenplumStatefulSet(role: string, replicas = role === "master" ? 2 : 4): Obj {
    const labels = podLabels(role);
    const container = {
        ...restrictedContainer("greenplum"),
        env: [
            { name: "GP_ROLE", value: role },
            { name: "PGPASSWORD", valueFrom: { secretKeyRef: { name: "gpadmin", key: "password" } } },
        ],
        volumeMounts: [
            { name: "data", mountPath: "/greenplum" },
            { name: "scripts", mountPath: "/opt/greenplum-k8s/scripts" },
        ],
    };
    const guard = {
        ...restrictedContainer("volume-guard"),
        command: ["bash", "/opt/greenplum-k8s/scripts/volume-guard.sh", "data=/greenplum"],
        volumeMounts: [{ name: "data", mountPath: "/greenplum" }],
    };
    return {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: { name: role, namespace: NS, labels },
        spec: {
            replicas,
            serviceName: "greenplum",
            selector: { matchLabels: labels },
            persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
            template: {
                metadata: { labels },
                spec: {
                    ...restrictedPodSpec([container]),
                    initContainers: [guard],
                    terminationGracePeriodSeconds: 300,
                    affinity: {
                        podAntiAffinity: {
                            requiredDuringSchedulingIgnoredDuringExecution: [
                                { labelSelector: { matchLabels: { "app.kubernetes.io/name": "greenplum" } }, topologyKey: "kubernetes.io/hostname" },
                            ],
                        },
                    },
                    volumes: [{ name: "scripts", configMap: { name: "greenplum-scripts" } }],
                },
            },
            volumeClaimTemplates: [
                {
                    metadata: { name: "data" },
                    spec: { accessModes: ["ReadWriteOnce"], storageClassName: "greenplum-data", resources: { requests: { storage: "10Gi" } } },
                },
            ],
        },
    };
}

export function networkPolicy(): Obj {
    return {
        metadata: { name: "greenplum", namespace: NS },
        spec: {
            podSelector: { matchLabels: { "app.kubernetes.io/name": "greenplum" } },
            policyTypes: ["Ingress", "Egress"],
            ingress: [{ from: [{ podSelector: { matchLabels: { "app.kubernetes.io/name": "greenplum" } } }] }],
            egress: [{ to: [{ podSelector: { matchLabels: { "app.kubernetes.io/name": "greenplum" } } }] }],
        },
    };
}

export function podDisruptionBudget(role: string): Obj {
    return { metadata: { name: role, namespace: NS }, spec: { maxUnavailable: 1, selector: { matchLabels: { "app.kubernetes.io/component": role } } } };
}

export function dataStorageClass(): Obj {
    return {
        metadata: { name: "greenplum-data", labels: { "greenplum-k8s/data-storage-class": "true" } },
        provisioner: "rook-ceph.rbd.csi.ceph.com",
        reclaimPolicy: "Retain",
        allowVolumeExpansion: true,
        parameters: { "csi.storage.k8s.io/fstype": "xfs", pool: "greenplum" },
    };
}

export function cephBlockPool(): Obj {
    return { apiVersion: "ceph.rook.io/v1", kind: "CephBlockPool", metadata: { name: "greenplum", namespace: "rook-ceph" }, spec: { replicated: { size: 3, requireSafeReplicaSize: true } } };
}

export function gkeCluster(): Obj {
    return {
        name: "greenplum",
        removeDefaultNodePool: true,
        initialNodeCount: 1,
        deletionProtection: true,
        datapathProvider: "ADVANCED_DATAPATH",
        releaseChannel: { channel: "REGULAR" },
        privateClusterConfig: { enablePrivateNodes: true, enablePrivateEndpoint: false, masterIpv4CidrBlock: "172.16.0.0/28" },
        masterAuthorizedNetworksConfig: { cidrBlocks: [{ cidrBlock: "203.0.113.0/24", displayName: "office" }] },
        workloadIdentityConfig: { workloadPool: "my-project.svc.id.goog" },
        enableShieldedNodes: true,
        masterAuth: { clientCertificateConfig: { issueClientCertificate: false } },
    };
}

export function gkeNodePool(): Obj {
    return {
        name: "greenplum",
        cluster: "greenplum",
        management: { autoRepair: true, autoUpgrade: true },
        nodeConfig: {
            machineType: "n2-highmem-8",
            shieldedInstanceConfig: { enableSecureBoot: true, enableIntegrityMonitoring: true },
            workloadMetadataConfig: { mode: "GKE_METADATA" },
        },
    };
}

/** A whole production stack that passes the pack; `protect` on the StatefulSets. */
export function productionStack(): RenderedResource[] {
    const roles = ["master", "segment-a", "segment-b"];
    return [
        { type: T.cluster, name: "gke", inputs: gkeCluster() },
        { type: T.nodePool, name: "greenplum-pool", inputs: gkeNodePool() },
        { type: T.storageClass, name: "greenplum-data", inputs: dataStorageClass() },
        { type: T.cephBlockPool, name: "greenplum-pool", inputs: cephBlockPool() },
        ...roles.map((role) => ({ type: T.statefulSet, name: role, inputs: greenplumStatefulSet(role), opts: { protect: true } })),
        ...roles.map((role) => ({ type: T.pdb, name: `${role}-pdb`, inputs: podDisruptionBudget(role) })),
        { type: T.networkPolicy, name: "greenplum-netpol", inputs: networkPolicy() },
        {
            type: T.service,
            name: "greenplum-lb",
            inputs: {
                metadata: { name: "greenplum", namespace: NS, annotations: { "networking.gke.io/load-balancer-type": "Internal" } },
                spec: { type: "LoadBalancer", selector: podLabels("master"), ports: [{ port: 5432 }] },
            },
        },
    ];
}
