import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import type { GkeConfig } from "../../stacks/schema";
import { gkeKubeconfig } from "./kubeconfig";

/** Node label that tells Greenplum and Ceph pods which pool is theirs. */
export const NODE_POOL_LABEL = "greenplum-k8s/pool";
/** Taint that keeps everything but Ceph off the Ceph nodes. */
export const CEPH_NODE_TAINT = { key: "greenplum-k8s/ceph", value: "true" };

/**
 * Kernel settings from Greenplum 6's installation guide that GKE's node system config accepts.
 * kernel.sem and kernel.msg* are not settable there, and need not be: the node kernels' defaults
 * already exceed Greenplum's recommendations.
 */
export function greenplumNodeSysctls(): Record<string, string> {
    return {
        "kernel.shmmni": "4096",
        "net.core.netdev_max_backlog": "10000",
        "net.core.rmem_max": "2097152",
        "net.core.wmem_max": "2097152",
        "net.core.somaxconn": "4096",
        // Flush dirty pages early and steadily rather than in stalls (Greenplum's guidance for hosts under 64 GB).
        "vm.dirty_background_ratio": "3",
        "vm.dirty_ratio": "10",
    };
}

export interface GkeClusterResult {
    cluster: gcp.container.Cluster;
    nodePools: gcp.container.NodePool[];
    kubeconfig: pulumi.Output<string>;
    zoneCount: number;
}

/**
 * A private, hardened GKE cluster (Google's hardening guide, CIS GKE benchmark): its own VPC with
 * secondary ranges, Cloud NAT for egress, private nodes behind master authorized networks,
 * Workload Identity, shielded nodes, Dataplane V2, a release channel and no legacy credentials.
 */
export function createGkeCluster(config: GkeConfig, project: string, cephNodes: boolean, parent: pulumi.Resource): GkeClusterResult {
    const opts = { parent };
    const name = config.clusterName;

    const network = new gcp.compute.Network("network", { name: `${name}-vpc`, project, autoCreateSubnetworks: false, routingMode: "REGIONAL" }, opts);
    const subnet = new gcp.compute.Subnetwork("subnet", {
        name: `${name}-nodes`,
        project,
        region: config.region,
        network: network.id,
        ipCidrRange: config.network.subnetCidr,
        privateIpGoogleAccess: true,
        secondaryIpRanges: [
            { rangeName: "pods", ipCidrRange: config.network.podsCidr },
            { rangeName: "services", ipCidrRange: config.network.servicesCidr },
        ],
        logConfig: { aggregationInterval: "INTERVAL_5_SEC", flowSampling: 0.5, metadata: "INCLUDE_ALL_METADATA" },
    }, opts);
    const router = new gcp.compute.Router("router", { name: `${name}-router`, project, region: config.region, network: network.id }, opts);
    const nat = new gcp.compute.RouterNat("nat", {
        name: `${name}-nat`,
        project,
        region: config.region,
        router: router.name,
        natIpAllocateOption: "AUTO_ONLY",
        sourceSubnetworkIpRangesToNat: "ALL_SUBNETWORKS_ALL_IP_RANGES",
        logConfig: { enable: true, filter: "ERRORS_ONLY" },
    }, opts);

    // Nodes run as a dedicated account with only what a node needs (logs, metrics, image pulls).
    const nodeAccount = new gcp.serviceaccount.Account("node-sa", { project, accountId: `${name}-nodes`.slice(0, 30), displayName: `GKE nodes of ${name}` }, opts);
    const nodeAccountRole = new gcp.projects.IAMMember("node-sa-default-node", {
        project,
        role: "roles/container.defaultNodeServiceAccount",
        member: pulumi.interpolate`serviceAccount:${nodeAccount.email}`,
    }, opts);

    const cluster = new gcp.container.Cluster("cluster", {
        name,
        project,
        location: config.region,
        nodeLocations: config.zones,
        network: network.id,
        subnetwork: subnet.id,
        networkingMode: "VPC_NATIVE",
        ipAllocationPolicy: { clusterSecondaryRangeName: "pods", servicesSecondaryRangeName: "services" },
        removeDefaultNodePool: true,
        initialNodeCount: 1,
        deletionProtection: config.deletionProtection,
        releaseChannel: { channel: config.releaseChannel },
        datapathProvider: "ADVANCED_DATAPATH",
        privateClusterConfig: { enablePrivateNodes: true, enablePrivateEndpoint: false, masterIpv4CidrBlock: config.network.masterCidr },
        masterAuthorizedNetworksConfig: { cidrBlocks: config.masterAuthorizedNetworks.map((n) => ({ cidrBlock: n.cidrBlock, displayName: n.displayName })) },
        workloadIdentityConfig: { workloadPool: `${project}.svc.id.goog` },
        enableShieldedNodes: true,
        enableLegacyAbac: false,
        masterAuth: { clientCertificateConfig: { issueClientCertificate: false } },
        addonsConfig: { gcePersistentDiskCsiDriverConfig: { enabled: true }, httpLoadBalancing: { disabled: false } },
        // The default pool is removed at once, but it is still created: keep even it hardened.
        nodeConfig: hardenedNodeConfig(nodeAccount.email, "COS_CONTAINERD", "e2-small", 50, "pd-standard"),
        resourceLabels: { app: "greenplum-k8s" },
    }, { ...opts, ignoreChanges: ["nodeConfig"] });

    const poolDefaults = { project, cluster: cluster.name, location: config.region, nodeLocations: config.zones };
    // Private nodes pull images through the NAT and log and report as the node account: without
    // both in place first, nodes come up unable to pull or register and the pool's creation fails.
    const poolOpts = { ...opts, dependsOn: [nat, nodeAccountRole] };
    const management = { autoRepair: true, autoUpgrade: true };
    // One node at a time, surge first: a drain moves one Greenplum pod set member while its PDB holds the rest.
    const upgradeSettings = { maxSurge: 1, maxUnavailable: 0, strategy: "SURGE" };

    const gp = config.nodePools.greenplum;
    // Nodes that mount Ceph RBD volumes need the rbd kernel module, which COS lacks.
    const greenplumImage = cephNodes ? "UBUNTU_CONTAINERD" : "COS_CONTAINERD";
    const greenplumPool = new gcp.container.NodePool("greenplum-pool", {
        ...poolDefaults,
        name: "greenplum",
        nodeCount: gp.nodeCountPerZone,
        management,
        upgradeSettings,
        nodeConfig: {
            ...hardenedNodeConfig(nodeAccount.email, greenplumImage, gp.machineType, gp.diskSizeGb, gp.diskType),
            labels: { [NODE_POOL_LABEL]: "greenplum" },
            linuxNodeConfig: { sysctls: greenplumNodeSysctls() },
        },
    }, poolOpts);
    const nodePools = [greenplumPool];

    if (cephNodes) {
        const ceph = config.nodePools.ceph;
        nodePools.push(new gcp.container.NodePool("ceph-pool", {
            ...poolDefaults,
            name: "ceph",
            nodeCount: ceph.nodeCountPerZone,
            management,
            upgradeSettings,
            nodeConfig: {
                ...hardenedNodeConfig(nodeAccount.email, "UBUNTU_CONTAINERD", ceph.machineType, ceph.diskSizeGb, ceph.diskType),
                labels: { [NODE_POOL_LABEL]: "ceph" },
                taints: [{ ...CEPH_NODE_TAINT, effect: "NO_SCHEDULE" }],
            },
        }, poolOpts));
    }

    const kubeconfig = pulumi.secret(
        pulumi.all([cluster.name, cluster.endpoint, cluster.masterAuth]).apply(([clusterName, endpoint, auth]) =>
            gkeKubeconfig(`gke_${project}_${config.region}_${clusterName}`, endpoint, auth.clusterCaCertificate ?? ""),
        ),
    );
    return { cluster, nodePools, kubeconfig, zoneCount: config.zones.length };
}

function hardenedNodeConfig(serviceAccount: pulumi.Input<string>, imageType: string, machineType: string, diskSizeGb: number, diskType: string) {
    return {
        machineType,
        diskSizeGb,
        diskType,
        imageType,
        serviceAccount,
        oauthScopes: ["https://www.googleapis.com/auth/cloud-platform"],
        shieldedInstanceConfig: { enableSecureBoot: true, enableIntegrityMonitoring: true },
        workloadMetadataConfig: { mode: "GKE_METADATA" },
        metadata: { "disable-legacy-endpoints": "true" },
        // No shutdownGracePeriodSeconds: GKE accepts it only on Spot or preemptible pools (the
        // field's docs in @pulumi/gcp) and rejects the cluster with a 400 otherwise. Planned
        // node stops (upgrades, repairs) drain the node, which honours terminationGracePeriodSeconds.
        kubeletConfig: { insecureKubeletReadonlyPortEnabled: "FALSE" },
    };
}
