import { parse } from "yaml";
import { deploy, type Deployment } from "./harness";

const CLUSTER = "gcp:container/cluster:Cluster";
const NODE_POOL = "gcp:container/nodePool:NodePool";

describe("minikube and existing targets", () => {
    test("dev deploys through the kubeconfig context minikube and creates no cloud resources", async () => {
        const dev = await deploy("dev");
        const provider = dev.resource("pulumi:providers:kubernetes", "minikube");
        expect(provider.inputs.context).toBe("minikube");
        // After `minikube delete`, destroy drops the state instead of failing on the unreachable cluster.
        // Provider inputs reach the engine as strings.
        expect(provider.inputs.deleteUnreachable).toBe("true");
        expect(dev.resources.filter((r) => r.type.startsWith("gcp:"))).toEqual([]);
        expect(dev.outputs.kubeconfig).toBeUndefined();
    });

    test("existing uses the named context and kubeconfig file", async () => {
        const run = await deploy("dev", { "greenplum-k8s:target": { kind: "existing", context: "prod-east", kubeconfig: "/etc/kube/config" } });
        const provider = run.resource("pulumi:providers:kubernetes", "existing");
        expect(provider.inputs).toMatchObject({ context: "prod-east", kubeconfig: "/etc/kube/config", deleteUnreachable: "false" });
    });

    test("the cluster component keeps the URNs of stacks created when it was target:Target", async () => {
        const dev = await deploy("dev");
        const cluster = dev.resource("greenplum-k8s:cluster:Cluster", "target");
        // Without this alias the next `up` of an existing stack would replace the provider (and a GKE cluster).
        expect(cluster.options.aliases).toEqual([{ type: "greenplum-k8s:target:Target", name: "" }]);
    });

    test("every Kubernetes resource goes through the cluster's provider", async () => {
        const dev = await deploy("dev");
        const k8sResources = dev.resources.filter((r) => r.custom && r.type.startsWith("kubernetes:"));
        expect(k8sResources.length).toBeGreaterThan(10);
        const provider = dev.resource("pulumi:providers:kubernetes", "minikube");
        expect(k8sResources.filter((r) => !r.options.provider.startsWith(`${provider.urn}::`)).map((r) => r.name)).toEqual([]);
    });
});

describe("GKE target: hardened as Google's guide and the CIS GKE benchmark ask", () => {
    let gke: Deployment;
    let cluster: Record<string, any>;
    let pools: Record<string, any>[];
    beforeAll(async () => {
        gke = await deploy("gke");
        cluster = gke.resource(CLUSTER, "cluster").inputs;
        pools = gke.ofType(NODE_POOL).map((p) => p.inputs);
    });

    test("its own VPC and subnet with secondary ranges, and Cloud NAT for the private nodes", () => {
        expect(gke.resource("gcp:compute/network:Network", "network").inputs).toMatchObject({ autoCreateSubnetworks: false });
        const subnet = gke.resource("gcp:compute/subnetwork:Subnetwork", "subnet").inputs;
        expect(subnet.secondaryIpRanges).toEqual([
            { rangeName: "pods", ipCidrRange: "10.20.0.0/14" },
            { rangeName: "services", ipCidrRange: "10.24.0.0/20" },
        ]);
        expect(subnet.privateIpGoogleAccess).toBe(true);
        expect(gke.resource("gcp:compute/routerNat:RouterNat", "nat").inputs).toMatchObject({ sourceSubnetworkIpRangesToNat: "ALL_SUBNETWORKS_ALL_IP_RANGES" });
        expect(cluster.ipAllocationPolicy).toEqual({ clusterSecondaryRangeName: "pods", servicesSecondaryRangeName: "services" });
    });

    test("private nodes behind master authorized networks", () => {
        expect(cluster.privateClusterConfig).toMatchObject({ enablePrivateNodes: true, masterIpv4CidrBlock: "172.16.0.0/28" });
        expect(cluster.masterAuthorizedNetworksConfig.cidrBlocks).toEqual([{ cidrBlock: "203.0.113.0/24", displayName: "admin-and-ci" }]);
    });

    test("Workload Identity, Dataplane V2, a release channel, no legacy ABAC or client certificates, deletion protection", () => {
        expect(cluster.workloadIdentityConfig).toEqual({ workloadPool: "my-gcp-project.svc.id.goog" });
        expect(cluster.datapathProvider).toBe("ADVANCED_DATAPATH");
        expect(cluster.releaseChannel).toEqual({ channel: "REGULAR" });
        expect(cluster.enableLegacyAbac).toBe(false);
        expect(cluster.masterAuth.clientCertificateConfig).toEqual({ issueClientCertificate: false });
        expect(cluster.enableShieldedNodes).toBe(true);
        expect(cluster.removeDefaultNodePool).toBe(true);
        expect(cluster.deletionProtection).toBe(true);
    });

    test("deletion protection follows the config", async () => {
        const run = await deploy("gke", { "greenplum-k8s:gke": { deletionProtection: "no" } });
        expect(run.resource(CLUSTER, "cluster").inputs.deletionProtection).toBe(false);
    });

    test("separately managed pools: auto-repair and auto-upgrade, shielded secure boot, GKE_METADATA, a least-privilege node account", () => {
        expect(pools.map((p) => p.name).sort()).toEqual(["ceph", "greenplum"]);
        const account = gke.resource("gcp:serviceaccount/account:Account", "node-sa").inputs;
        const binding = gke.resource("gcp:projects/iAMMember:IAMMember", "node-sa-default-node").inputs;
        expect(binding.role).toBe("roles/container.defaultNodeServiceAccount");
        expect(binding.member).toBe(`serviceAccount:${account.accountId}@my-gcp-project.iam.gserviceaccount.com`);
        for (const pool of pools) {
            expect(pool.management).toEqual({ autoRepair: true, autoUpgrade: true });
            expect(pool.nodeConfig.shieldedInstanceConfig).toEqual({ enableSecureBoot: true, enableIntegrityMonitoring: true });
            expect(pool.nodeConfig.workloadMetadataConfig).toEqual({ mode: "GKE_METADATA" });
            expect(pool.nodeConfig.serviceAccount).toBe(`${account.accountId}@my-gcp-project.iam.gserviceaccount.com`);
            expect(pool.nodeConfig.kubeletConfig.insecureKubeletReadonlyPortEnabled).toBe("FALSE");
            expect(pool.nodeLocations).toEqual(["europe-west1-b", "europe-west1-c", "europe-west1-d"]);
        }
    });

    test("no pool sets the graceful-shutdown kubelet fields GKE accepts only on Spot or preemptible pools", () => {
        for (const nodeConfig of [cluster.nodeConfig, ...pools.map((p) => p.nodeConfig)]) {
            expect(nodeConfig.spot ?? false).toBe(false);
            expect(nodeConfig.preemptible ?? false).toBe(false);
            expect(nodeConfig.kubeletConfig).not.toHaveProperty("shutdownGracePeriodSeconds");
            expect(nodeConfig.kubeletConfig).not.toHaveProperty("shutdownGracePeriodCriticalPodsSeconds");
        }
    });

    test("node pools are created after the NAT and the node account's role: private nodes need both to pull images and register", () => {
        const nat = gke.resource("gcp:compute/routerNat:RouterNat", "nat").urn;
        const role = gke.resource("gcp:projects/iAMMember:IAMMember", "node-sa-default-node").urn;
        for (const pool of gke.ofType(NODE_POOL)) expect(pool.options.dependencies).toEqual(expect.arrayContaining([nat, role]));
    });

    test("Ceph nodes (and nodes mounting Ceph volumes) run Ubuntu for the rbd module; Ceph nodes are tainted for Ceph", () => {
        const ceph = pools.find((p) => p.name === "ceph")!;
        const greenplum = pools.find((p) => p.name === "greenplum")!;
        expect(ceph.nodeConfig.imageType).toBe("UBUNTU_CONTAINERD");
        expect(ceph.nodeConfig.taints).toEqual([{ key: "greenplum-k8s/ceph", value: "true", effect: "NO_SCHEDULE" }]);
        expect(greenplum.nodeConfig.imageType).toBe("UBUNTU_CONTAINERD");
    });

    test("without Ceph there is no Ceph pool and Greenplum nodes keep COS", async () => {
        const run = await deploy("gke", { "greenplum-k8s:storage": { backend: "existing", storageClassName: "premium-rwo", acceptedDataClasses: ["premium-rwo"] } });
        const only = run.ofType(NODE_POOL).map((p) => p.inputs as Record<string, any>);
        expect(only.map((p) => p.name)).toEqual(["greenplum"]);
        expect(only[0].nodeConfig.imageType).toBe("COS_CONTAINERD");
    });

    test("Greenplum nodes get Greenplum's kernel settings that GKE allows, sizes from config", () => {
        const greenplum = pools.find((p) => p.name === "greenplum")!;
        expect(greenplum.nodeConfig.linuxNodeConfig.sysctls).toEqual({
            "kernel.shmmni": "4096",
            "net.core.netdev_max_backlog": "10000",
            "net.core.rmem_max": "2097152",
            "net.core.wmem_max": "2097152",
            "net.core.somaxconn": "4096",
            "vm.dirty_background_ratio": "3",
            "vm.dirty_ratio": "10",
        });
        expect(greenplum.nodeConfig.machineType).toBe("n2-highmem-8");
        expect(greenplum.nodeCount).toBe(1);
    });

    test("the kubeconfig is a secret output that authenticates with gke-gcloud-auth-plugin, no long-lived credentials", () => {
        expect(gke.secretOutputs).toContain("kubeconfig");
        const kubeconfig = parse(gke.outputs.kubeconfig as string);
        expect(kubeconfig.users[0].user.exec.command).toBe("gke-gcloud-auth-plugin");
        // Works with Application Default Credentials (CI), not only a `gcloud auth login` account.
        expect(kubeconfig.users[0].user.exec.args).toEqual(["--use_application_default_credentials"]);
        expect(kubeconfig.users[0].user.token).toBeUndefined();
        expect(kubeconfig.users[0].user["client-certificate-data"]).toBeUndefined();
        expect(kubeconfig.clusters[0].cluster.server).toBe("https://203.0.113.10");
        const provider = gke.resource("pulumi:providers:kubernetes", "gke");
        expect(provider.options.dependencies).toEqual(expect.arrayContaining(gke.ofType(NODE_POOL).map((p) => p.urn)));
    });
});
