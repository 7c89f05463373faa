import {
    autoUpgrade,
    checkAutoUpgrade,
    controlPlaneNotOpen,
    checkDeletionProtection,
    checkLegacyAuth,
    checkNetworkPolicyEnforcement,
    checkPrivateCluster,
    checkShieldedNodes,
    checkWorkloadIdentity,
    deletionProtection,
    legacyAuth,
    networkPolicyEnforcement,
    privateCluster,
    shieldedNodes,
    workloadIdentity,
} from "../../policy/rules/gke";
import { PRODUCTION, T, gkeCluster, gkeNodePool, runResourcePolicy } from "./helpers";

const cluster = { type: T.cluster, name: "gke" };
const pool = { type: T.nodePool, name: "greenplum-pool" };

describe("gke-private-cluster", () => {
    it("passes private nodes with authorized networks", () => {
        expect(checkPrivateCluster(gkeCluster(), {}, cluster)).toEqual([]);
        expect(runResourcePolicy(privateCluster, { ...cluster, props: gkeCluster() })).toEqual([]);
    });

    it("rejects public nodes and a missing authorized networks list", () => {
        const props = gkeCluster();
        props.privateClusterConfig.enablePrivateNodes = false;
        delete props.masterAuthorizedNetworksConfig;
        expect(runResourcePolicy(privateCluster, { ...cluster, props })).toEqual([
            expect.stringContaining("GKE cluster greenplum: set privateClusterConfig.enablePrivateNodes: true"),
            expect.stringContaining("set masterAuthorizedNetworksConfig"),
        ]);
    });
});

describe("gke-control-plane-not-open", () => {
    it("passes authorized networks that are real ranges", () => {
        expect(runResourcePolicy(controlPlaneNotOpen, { ...cluster, props: gkeCluster() })).toEqual([]);
    });

    it("rejects 0.0.0.0/0 unless the stack's policy config allows it deliberately", () => {
        const props = gkeCluster();
        props.masterAuthorizedNetworksConfig.cidrBlocks.push({ cidrBlock: "0.0.0.0/0", displayName: "anywhere" });
        expect(runResourcePolicy(controlPlaneNotOpen, { ...cluster, props })).toEqual([
            "GKE cluster greenplum: masterAuthorizedNetworksConfig lets 0.0.0.0/0 reach the control plane, i.e. every address on the internet; " +
                "list only your admin and CI ranges in greenplum-k8s:gke.masterAuthorizedNetworks. To accept it deliberately, set " +
                '"gke-control-plane-not-open": {"allowEverywhere": true} in the stack\'s policy config.',
        ]);
        expect(runResourcePolicy(controlPlaneNotOpen, { ...cluster, props }, { allowEverywhere: true })).toEqual([]);
    });
});

describe("gke-workload-identity", () => {
    it("passes a cluster with a workload pool and a GKE_METADATA node pool", () => {
        expect(checkWorkloadIdentity(gkeCluster(), {}, cluster)).toEqual([]);
        expect(runResourcePolicy(workloadIdentity, { ...pool, props: gkeNodePool() })).toEqual([]);
    });

    it("rejects a cluster without a workload pool and a node pool exposing node metadata", () => {
        const props = gkeCluster();
        delete props.workloadIdentityConfig;
        expect(runResourcePolicy(workloadIdentity, { ...cluster, props })).toEqual([expect.stringContaining("set workloadIdentityConfig.workloadPool")]);
        const np = gkeNodePool();
        np.nodeConfig.workloadMetadataConfig.mode = "GCE_METADATA";
        expect(runResourcePolicy(workloadIdentity, { ...pool, props: np })).toEqual([
            expect.stringContaining('GKE node pool greenplum: set nodeConfig.workloadMetadataConfig.mode: "GKE_METADATA"'),
        ]);
    });

    it("checks the cluster's own node config when it keeps the default pool", () => {
        const props = { ...gkeCluster(), removeDefaultNodePool: false, nodeConfig: { workloadMetadataConfig: { mode: "GCE_METADATA" } } };
        expect(checkWorkloadIdentity(props, {}, cluster)).toHaveLength(1);
    });
});

describe("gke-shielded-nodes", () => {
    it("passes shielded nodes with secure boot", () => {
        expect(checkShieldedNodes(gkeCluster(), {}, cluster)).toEqual([]);
        expect(runResourcePolicy(shieldedNodes, { ...pool, props: gkeNodePool() })).toEqual([]);
    });

    it("rejects enableShieldedNodes false and a pool without secure boot", () => {
        expect(runResourcePolicy(shieldedNodes, { ...cluster, props: { ...gkeCluster(), enableShieldedNodes: false } })).toHaveLength(1);
        const np = gkeNodePool();
        delete np.nodeConfig.shieldedInstanceConfig;
        expect(runResourcePolicy(shieldedNodes, { ...pool, props: np })).toEqual([expect.stringContaining("enableSecureBoot: true")]);
    });
});

describe("gke-network-policy-enforcement", () => {
    it("passes Dataplane V2 or networkPolicy.enabled", () => {
        expect(checkNetworkPolicyEnforcement(gkeCluster(), {}, cluster)).toEqual([]);
        const props = { ...gkeCluster(), datapathProvider: undefined, networkPolicy: { enabled: true, provider: "CALICO" } };
        expect(runResourcePolicy(networkPolicyEnforcement, { ...cluster, props })).toEqual([]);
    });

    it("rejects a cluster that enforces nothing", () => {
        const props = { ...gkeCluster(), datapathProvider: "LEGACY_DATAPATH" };
        expect(runResourcePolicy(networkPolicyEnforcement, { ...cluster, props })).toEqual([expect.stringContaining("NetworkPolicies are silently ignored")]);
    });
});

describe("gke-auto-upgrade", () => {
    it("passes a release channel and auto-repairing, auto-upgrading pools", () => {
        expect(checkAutoUpgrade(gkeCluster(), {}, cluster)).toEqual([]);
        expect(runResourcePolicy(autoUpgrade, { ...pool, props: gkeNodePool() })).toEqual([]);
    });

    it("rejects no release channel and a pool without auto-upgrade", () => {
        expect(runResourcePolicy(autoUpgrade, { ...cluster, props: { ...gkeCluster(), releaseChannel: { channel: "UNSPECIFIED" } } })).toHaveLength(1);
        const np = gkeNodePool();
        np.management = { autoRepair: true };
        expect(runResourcePolicy(autoUpgrade, { ...pool, props: np })).toEqual([expect.stringContaining("set management.autoUpgrade to true")]);
    });
});

describe("gke-no-legacy-auth", () => {
    it("passes a cluster without legacy auth", () => {
        expect(checkLegacyAuth(gkeCluster(), {}, cluster)).toEqual([]);
    });

    it("rejects legacy ABAC and client certificates", () => {
        const props = { ...gkeCluster(), enableLegacyAbac: true, masterAuth: { clientCertificateConfig: { issueClientCertificate: true } } };
        expect(runResourcePolicy(legacyAuth, { ...cluster, props })).toEqual([expect.stringContaining("enableLegacyAbac"), expect.stringContaining("issueClientCertificate: false")]);
    });
});

describe("gke-deletion-protection", () => {
    it("passes deletionProtection true in production", () => {
        expect(checkDeletionProtection(gkeCluster(), { production: true }, cluster)).toEqual([]);
    });

    it("rejects deletionProtection false in production only", () => {
        const props = { ...gkeCluster(), deletionProtection: false };
        expect(runResourcePolicy(deletionProtection, { ...cluster, props })).toEqual([]);
        expect(runResourcePolicy(deletionProtection, { ...cluster, props }, PRODUCTION)).toEqual([expect.stringContaining("set deletionProtection: true")]);
    });
});
