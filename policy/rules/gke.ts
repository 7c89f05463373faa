import { arr, at, isEverywhere, obj, productionOnly, resourcePolicy, str, type Json, type ProductionConfig, type ResourceContext } from "./common";

/**
 * GKE hardening for `gcp:container/cluster:Cluster` and `gcp:container/nodePool:NodePool`. Props
 * are camelCase, as the TypeScript SDK's inputs.
 */

export const GCP = {
    cluster: "gcp:container/cluster:Cluster",
    nodePool: "gcp:container/nodePool:NodePool",
} as const;

const GKE_TYPES = [GCP.cluster, GCP.nodePool];

function what(context: ResourceContext, props: Json): string {
    const kind = context.type === GCP.cluster ? "GKE cluster" : "GKE node pool";
    return `${kind} ${str(props.name) ?? context.name}`;
}

/**
 * The node config a check applies to: a node pool's, or a cluster's own when it keeps its
 * default pool (removeDefaultNodePool not true) and sets one.
 */
function nodeConfigOf(props: Json, context: ResourceContext): Json | undefined {
    if (context.type === GCP.nodePool) return obj(props.nodeConfig);
    if (props.removeDefaultNodePool === true || props.nodeConfig === undefined) return undefined;
    return obj(props.nodeConfig);
}

// ---------------------------------------------------------------------------------------------
// gke-private-cluster

export const checkPrivateCluster = (props: Json, _config: object, context: ResourceContext): string[] => {
    if (context.type !== GCP.cluster) return [];
    const violations: string[] = [];
    if (at(props, "privateClusterConfig", "enablePrivateNodes") !== true) {
        violations.push(`${what(context, props)}: set privateClusterConfig.enablePrivateNodes: true so nodes (and Greenplum) get no public IPs.`);
    }
    if (props.masterAuthorizedNetworksConfig === undefined || props.masterAuthorizedNetworksConfig === null) {
        violations.push(
            `${what(context, props)}: set masterAuthorizedNetworksConfig (greenplum-k8s:gke.masterAuthorizedNetworks) so only listed CIDRs reach the control plane.`,
        );
    }
    return violations;
};

export const privateCluster = resourcePolicy<object>({
    name: "gke-private-cluster",
    description: "GKE clusters have private nodes and a master authorized networks list.",
    enforcementLevel: "advisory",
    types: [GCP.cluster],
    check: checkPrivateCluster,
});

// ---------------------------------------------------------------------------------------------
// gke-control-plane-not-open

export interface ControlPlaneConfig {
    /** Accept a control plane reachable from every address (set deliberately, per stack). */
    allowEverywhere: boolean;
}

export const checkControlPlaneNotOpen = (props: Json, config: ControlPlaneConfig, context: ResourceContext): string[] => {
    if (context.type !== GCP.cluster || config.allowEverywhere) return [];
    const open = arr(at(props, "masterAuthorizedNetworksConfig", "cidrBlocks"))
        .map((b) => str(obj(b).cidrBlock))
        .filter(isEverywhere);
    if (open.length === 0) return [];
    return [
        `${what(context, props)}: masterAuthorizedNetworksConfig lets ${open.join(", ")} reach the control plane, i.e. every address on the internet; ` +
            "list only your admin and CI ranges in greenplum-k8s:gke.masterAuthorizedNetworks. To accept it deliberately, set " +
            '"gke-control-plane-not-open": {"allowEverywhere": true} in the stack\'s policy config.',
    ];
};

export const controlPlaneNotOpen = resourcePolicy<ControlPlaneConfig>({
    name: "gke-control-plane-not-open",
    description: "GKE clusters do not authorize 0.0.0.0/0 to reach the control plane.",
    enforcementLevel: "mandatory",
    configSchema: {
        properties: {
            allowEverywhere: { type: "boolean", default: false, description: "Accept a control plane reachable from every address." },
        },
    },
    types: [GCP.cluster],
    check: checkControlPlaneNotOpen,
});

// ---------------------------------------------------------------------------------------------
// gke-workload-identity

export const checkWorkloadIdentity = (props: Json, _config: object, context: ResourceContext): string[] => {
    const violations: string[] = [];
    if (context.type === GCP.cluster && !str(at(props, "workloadIdentityConfig", "workloadPool"))) {
        violations.push(
            `${what(context, props)}: set workloadIdentityConfig.workloadPool ("<project>.svc.id.goog") so pods use Workload Identity instead of node credentials.`,
        );
    }
    const nodeConfig = nodeConfigOf(props, context);
    if (nodeConfig && at(nodeConfig, "workloadMetadataConfig", "mode") !== "GKE_METADATA") {
        violations.push(
            `${what(context, props)}: set nodeConfig.workloadMetadataConfig.mode: "GKE_METADATA" so pods cannot read the node's service account token from the metadata server.`,
        );
    }
    return violations;
};

export const workloadIdentity = resourcePolicy<object>({
    name: "gke-workload-identity",
    description: "GKE clusters enable Workload Identity and node pools hide node metadata (workloadMetadataConfig.mode GKE_METADATA).",
    enforcementLevel: "mandatory",
    types: GKE_TYPES,
    check: checkWorkloadIdentity,
});

// ---------------------------------------------------------------------------------------------
// gke-shielded-nodes

export const checkShieldedNodes = (props: Json, _config: object, context: ResourceContext): string[] => {
    const violations: string[] = [];
    if (context.type === GCP.cluster && props.enableShieldedNodes === false) {
        violations.push(`${what(context, props)}: remove enableShieldedNodes: false; shielded nodes prove their boot integrity to the control plane.`);
    }
    const nodeConfig = nodeConfigOf(props, context);
    if (nodeConfig && at(nodeConfig, "shieldedInstanceConfig", "enableSecureBoot") !== true) {
        violations.push(`${what(context, props)}: set nodeConfig.shieldedInstanceConfig.enableSecureBoot: true so nodes boot only signed kernels.`);
    }
    return violations;
};

export const shieldedNodes = resourcePolicy<object>({
    name: "gke-shielded-nodes",
    description: "GKE clusters keep shielded nodes on and node pools enable secure boot.",
    enforcementLevel: "mandatory",
    types: GKE_TYPES,
    check: checkShieldedNodes,
});

// ---------------------------------------------------------------------------------------------
// gke-network-policy-enforcement

export const checkNetworkPolicyEnforcement = (props: Json, _config: object, context: ResourceContext): string[] => {
    if (context.type !== GCP.cluster) return [];
    if (props.datapathProvider === "ADVANCED_DATAPATH" || at(props, "networkPolicy", "enabled") === true) return [];
    return [
        `${what(context, props)}: set datapathProvider: "ADVANCED_DATAPATH" (Dataplane V2) or networkPolicy.enabled: true; ` +
            "without enforcement the stack's NetworkPolicies are silently ignored.",
    ];
};

export const networkPolicyEnforcement = resourcePolicy<object>({
    name: "gke-network-policy-enforcement",
    description: "GKE clusters enforce NetworkPolicies (Dataplane V2 or networkPolicy.enabled).",
    enforcementLevel: "mandatory",
    types: [GCP.cluster],
    check: checkNetworkPolicyEnforcement,
});

// ---------------------------------------------------------------------------------------------
// gke-auto-upgrade

export const checkAutoUpgrade = (props: Json, _config: object, context: ResourceContext): string[] => {
    if (context.type === GCP.cluster) {
        const channel = str(at(props, "releaseChannel", "channel"));
        if (channel && channel !== "UNSPECIFIED") return [];
        return [`${what(context, props)}: set releaseChannel.channel (greenplum-k8s:gke.releaseChannel, e.g. "REGULAR") so the control plane gets security patches.`];
    }
    const management = obj(props.management);
    const off = (["autoRepair", "autoUpgrade"] as const).filter((k) => management[k] !== true);
    if (off.length === 0) return [];
    return [`${what(context, props)}: set management.${off.join(" and management.")} to true so broken nodes are replaced and nodes get patched.`];
};

export const autoUpgrade = resourcePolicy<object>({
    name: "gke-auto-upgrade",
    description: "GKE clusters follow a release channel and node pools auto-repair and auto-upgrade.",
    enforcementLevel: "advisory",
    types: GKE_TYPES,
    check: checkAutoUpgrade,
});

// ---------------------------------------------------------------------------------------------
// gke-no-legacy-auth

export const checkLegacyAuth = (props: Json, _config: object, context: ResourceContext): string[] => {
    if (context.type !== GCP.cluster) return [];
    const violations: string[] = [];
    if (props.enableLegacyAbac === true) {
        violations.push(`${what(context, props)}: remove enableLegacyAbac: true; legacy ABAC bypasses RBAC.`);
    }
    if (at(props, "masterAuth", "clientCertificateConfig", "issueClientCertificate") === true) {
        violations.push(
            `${what(context, props)}: set masterAuth.clientCertificateConfig.issueClientCertificate: false; a client certificate is a credential that cannot be revoked.`,
        );
    }
    return violations;
};

export const legacyAuth = resourcePolicy<object>({
    name: "gke-no-legacy-auth",
    description: "GKE clusters use neither legacy ABAC nor client certificates.",
    enforcementLevel: "mandatory",
    types: [GCP.cluster],
    check: checkLegacyAuth,
});

// ---------------------------------------------------------------------------------------------
// gke-deletion-protection

export const checkDeletionProtection = (props: Json, config: ProductionConfig, context: ResourceContext): string[] => {
    if (!config.production || context.type !== GCP.cluster || props.deletionProtection === true) return [];
    return [
        `${what(context, props)}: set deletionProtection: true (greenplum-k8s:gke.deletionProtection) so a destroy or replacement cannot delete the cluster ` +
            "and every Greenplum volume on it.",
    ];
};

export const deletionProtection = resourcePolicy<ProductionConfig>({
    name: "gke-deletion-protection",
    description: "In production GKE clusters set deletionProtection: true.",
    enforcementLevel: "advisory",
    configSchema: productionOnly,
    types: [GCP.cluster],
    check: checkDeletionProtection,
});

export const gkePolicies = [privateCluster, controlPlaneNotOpen, workloadIdentity, shieldedNodes, networkPolicyEnforcement, autoUpgrade, legacyAuth, deletionProtection];
