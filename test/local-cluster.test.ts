/** The local cluster's pure logic: addresses, config files, version keys, readiness waits, the CLI. */
import { parse } from "yaml";
import { parseCommand, shellExports } from "../tools/local-cluster/cli";
import { cniConfig, containerdConfig, corefile, kubeletConfig, kubeProxyConfig } from "../tools/local-cluster/configs";
import { aptMirror, contentKey, greenplumVersion } from "../tools/local-cluster/images";
import {
    everythingElsesShare,
    FAKE_NODE_TAINT,
    fakeGkeNodes,
    kwokArgs,
    kwokStages,
    layoutAddressProblems,
    layoutShape,
    layoutStackConfig,
    placeholderPods,
    preboundClaims,
    preboundVolumes,
    segmentCopiesSharingNode,
    setClaims,
    setMembersSharingNode,
    toleratingFakeNodes,
    volumeClass,
    withGreenplumResources,
    withSetLevelAntiAffinity,
} from "../tools/local-cluster/layout";
import { blackholeRoutesIn, clusterChainsIn, LAB_BLACKHOLE_ROUTE, mountsUnder } from "../tools/local-cluster/machine";
import { parseAllDocuments } from "yaml";
import { parseStackConfig } from "../stacks";
import type { KubernetesObject } from "../tools/manifests";
import { CLUSTER_POD_CIDR, LAB_RANGE, NODE_IP, overlaps, planProblems, SERVICE_CIDR, statePaths, within } from "../tools/local-cluster/plan";
import { missingPluginsMessage, newestPluginDir, UNSERVED_PLUGINS } from "../tools/local-cluster/pulumi-plugins";
import { waitFor } from "../tools/local-cluster/shell";
import { cacheKey, GO_PIECES, piece, replaceDirectives, wrapperGoMod } from "../tools/local-cluster/versions";

const paths = statePaths("/var/lib/gpk-test");

describe("addresses", () => {
    test("pods, Services and the node sit inside 198.18.0.0/15 and apart from each other", () => {
        expect(planProblems()).toEqual([]);
        for (const range of [CLUSTER_POD_CIDR, SERVICE_CIDR, `${NODE_IP}/32`]) expect(within(range, LAB_RANGE)).toBe(true);
        expect(overlaps(CLUSTER_POD_CIDR, SERVICE_CIDR)).toBe(false);
    });

    test("within and overlaps compare whole prefixes", () => {
        expect(within("10.0.0.0/8", LAB_RANGE)).toBe(false);
        expect(within("198.20.0.0/16", LAB_RANGE)).toBe(false);
        expect(within("198.19.255.0/24", LAB_RANGE)).toBe(true);
        expect(overlaps("198.18.0.0/15", "198.19.4.0/24")).toBe(true);
        expect(overlaps("198.18.16.0/24", "198.18.17.0/24")).toBe(false);
    });
});

describe("config files", () => {
    test("containerd: the cluster's own root, the pause image built here, cgroupfs runc and oom scores clamped", () => {
        const text = containerdConfig(paths, "greenplum-k8s.local/pause:3.10.1");
        expect(text).toContain('root = "/var/lib/gpk-test/containerd/root"');
        expect(text).toContain('sandbox_image = "greenplum-k8s.local/pause:3.10.1"');
        expect(text).toContain("SystemdCgroup = false");
        // Without it runc's nsexec dies writing the sandbox's oom_score_adj on machines without CAP_SYS_RESOURCE.
        expect(text).toContain("restrict_oom_score_adj = true");
    });

    test("CNI: one bridge, the node's pod range, no masquerade, leases kept in the state directory", () => {
        const bridge = JSON.parse(cniConfig(paths)).plugins[0];
        expect(bridge).toMatchObject({ type: "bridge", ipMasq: false, hairpinMode: true });
        expect(bridge.ipam.ranges).toEqual([[{ subnet: "198.18.16.0/24", gateway: "198.18.16.1" }]]);
        expect(bridge.ipam.dataDir).toBe("/var/lib/gpk-test/cni/ipam");
    });

    test("kubelet: cgroupfs, cluster DNS only, no image garbage collection of images that cannot be pulled back", () => {
        const config = parse(kubeletConfig(paths));
        expect(config).toMatchObject({ cgroupDriver: "cgroupfs", clusterDNS: ["198.18.32.10"], resolvConf: "", imageGCHighThresholdPercent: 100, readOnlyPort: 0 });
        expect(config.authentication.anonymous.enabled).toBe(false);
    });

    test("kube-proxy: iptables, NodePorts on the node address only, conntrack left as it is", () => {
        const config = parse(kubeProxyConfig(paths));
        expect(config).toMatchObject({ mode: "iptables", nodePortAddresses: ["198.18.8.1/32"], clusterCIDR: CLUSTER_POD_CIDR });
        expect(config.conntrack).toEqual({ maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" });
    });

    test("CoreDNS answers cluster names and forwards nothing", () => {
        const text = corefile();
        expect(text).toContain("kubernetes cluster.local");
        expect(text).not.toMatch(/forward/);
    });
});

describe("builds keyed by version", () => {
    const kubernetes = piece("kubernetes");

    test("the cache key changes with the Go version and the version, not otherwise", () => {
        expect(cacheKey(kubernetes, "1.26.8")).toBe(cacheKey(kubernetes, "1.26.8"));
        expect(cacheKey(kubernetes, "1.26.8")).toMatch(/^v1\.34\.4-[0-9a-f]{10}$/);
        expect(cacheKey(kubernetes, "1.26.9")).not.toBe(cacheKey(kubernetes, "1.26.8"));
        expect(cacheKey({ ...kubernetes, version: "v1.34.5" }, "1.26.8")).toMatch(/^v1\.34\.5-/);
    });

    test("the pieces cluster:up builds, kwok among them with the key of its cached build", () => {
        expect(GO_PIECES.map((p) => p.name)).toEqual(["kubernetes", "etcd", "coredns", "cri-tools", "kube-router", "local-path-provisioner", "kwok", "pulumi", "pulumi-resource-kubernetes"]);
        expect(piece("kwok")).toMatchObject({ module: "sigs.k8s.io/kwok", version: "v0.8.0", packages: [{ path: "sigs.k8s.io/kwok/cmd/kwok", binary: "kwok" }], ldflags: {} });
        // Built once under this key (Go 1.26.8): a changed recipe would build it again.
        expect(cacheKey(piece("kwok"), "1.26.8")).toBe("v0.8.0-ed95f297fc");
    });

    test("replace directives are read single and in blocks, with and without versions", () => {
        const goMod = ["module x", "replace a => b v1.0.0", "replace (", "\tk8s.io/api => ./staging/src/k8s.io/api", "\tc v1 => d v2 // pinned", ")"].join("\n");
        expect(replaceDirectives(goMod)).toEqual([
            { module: "a", target: "b", targetVersion: "v1.0.0" },
            { module: "k8s.io/api", target: "./staging/src/k8s.io/api" },
            { module: "c", target: "d", targetVersion: "v2" },
        ]);
    });

    test("a folder replace the piece cannot map is an error naming it, never dropped", () => {
        const p = { ...kubernetes, localReplaces: undefined };
        expect(() => wrapperGoMod(p, "replace k8s.io/api => ./staging/src/k8s.io/api\n", "1.26")).toThrow(/replaces k8s.io\/api with the folder \.\/staging\/src\/k8s.io\/api/);
        expect(wrapperGoMod(kubernetes, "replace k8s.io/api => ./staging/src/k8s.io/api\n", "1.26")).toContain("k8s.io/api => k8s.io/api v0.34.4");
    });

    test("image keys follow their inputs; the Greenplum version comes from postgres --gp-version", () => {
        expect(contentKey(["a", "b"])).toBe(contentKey(["a", "b"]));
        expect(contentKey(["a", "b"])).not.toBe(contentKey(["ab"]));
        expect(greenplumVersion("postgres (Greenplum Database) 6.24.3 build commit:25d3498a")).toBe("6.24.3");
        expect(() => greenplumVersion("postgres (PostgreSQL) 16.1")).toThrow(/not a Greenplum postgres/);
    });

    test("debootstrap uses the machine's own apt source, one-line or deb822", () => {
        expect(aptMirror("deb http://mirror.example/debian bookworm main\n")).toBe("http://mirror.example/debian");
        expect(aptMirror("Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n")).toBe("http://mirror.example/debian");
        expect(aptMirror("# nothing\n")).toBeUndefined();
    });
});

describe("the Pulumi plugins the proxy does not serve", () => {
    test("the newest installed plugin folder wins", () => {
        expect(newestPluginDir(["resource-random-v4.9.0", "resource-random-v4.18.4", "resource-tls-v5.1.1"], "resource-random-v")).toBe("resource-random-v4.18.4");
        expect(newestPluginDir(["resource-tls-v5.1.1"], "resource-random-v")).toBeUndefined();
    });

    test("a missing plugin is named with where it was looked for", () => {
        const message = missingPluginsMessage(UNSERVED_PLUGINS.slice(0, 1));
        expect(message).toContain(UNSERVED_PLUGINS[0].binary);
        expect(message).toContain("GPK_PULUMI_PLUGINS");
    });
});

describe("cleaning up", () => {
    test("mounts under the state directory are found deepest first, and nothing outside it", () => {
        const mountinfo = [
            "1 0 0:1 / / rw - ext4 /dev/vda rw",
            "2 1 0:2 / /var/lib/gpk-test/containerd/root rw - overlay overlay rw",
            "3 2 0:3 / /var/lib/gpk-test/containerd/root/a/rootfs rw - overlay overlay rw",
            "4 1 0:4 / /var/lib/gpk-test2 rw - tmpfs tmpfs rw",
        ].join("\n");
        expect(mountsUnder(mountinfo, "/var/lib/gpk-test")).toEqual(["/var/lib/gpk-test/containerd/root/a/rootfs", "/var/lib/gpk-test/containerd/root"]);
    });

    test("the lab range is blackholed, and down's leftover check finds that route among others", () => {
        expect(LAB_BLACKHOLE_ROUTE).toEqual(["blackhole", LAB_RANGE]);
        expect(blackholeRoutesIn("blackhole 198.18.0.0/15 \nblackhole 10.9.0.0/16 proto static\n")).toEqual(["198.18.0.0/15", "10.9.0.0/16"]);
        expect(blackholeRoutesIn("")).toEqual([]);
    });

    test("the kubelet's and kube-proxy's chains are recognised, the machine's own are not", () => {
        const rules = ["-P INPUT ACCEPT", "-N DOCKER", "-N KUBE-FIREWALL", "-N KUBE-KUBELET-CANARY", "-N GPKL-ISOLATE-INPUT", "-A INPUT -j KUBE-FIREWALL"].join("\n");
        expect(clusterChainsIn(rules)).toEqual(["KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "GPKL-ISOLATE-INPUT"]);
    });
});

describe("readiness waits", () => {
    test("a wait returns the first value its check gives", async () => {
        let calls = 0;
        await expect(waitFor("thing", 1000, () => (++calls >= 3 ? "ready" : undefined), 1)).resolves.toBe("ready");
        expect(calls).toBe(3);
    });

    test("a wait that times out names what it waited for and the last problem", async () => {
        let clock = 0;
        const now = () => (clock += 400);
        await expect(waitFor("node Ready", 1000, () => {
            throw new Error("NotReady: PLEG");
        }, 1, now)).rejects.toThrow("node Ready: not ready after 1 s (last: NotReady: PLEG)");
    });
});

describe("the CLI", () => {
    test("commands and their flags; anything else is refused naming it", () => {
        expect(parseCommand(["down", "--keep-cache"])).toEqual({ command: "down", keepCache: true });
        expect(parseCommand(["up"])).toEqual({ command: "up", keepCache: false });
        expect(parseCommand(["up", "--keep-cache"])).toEqual({ error: 'up: unknown argument "--keep-cache" (it takes none)' });
        expect(parseCommand(["start"])).toEqual({ error: 'unknown command "start"' });
        expect(parseCommand([])).toEqual({ help: true });
    });

    test("env lines survive quotes in values", () => {
        expect(shellExports({ A: "it's" })).toBe("export A='it'\\''s'");
    });
});

describe("the gke layout check's pieces", () => {
    const gkeFile = {
        config: {
            "gcp:project": "p",
            "greenplum-k8s:target": { kind: "gke" },
            "greenplum-k8s:gke": { region: "europe-west1", zones: ["europe-west1-b", "europe-west1-c", "europe-west1-d"], masterAuthorizedNetworks: [{ cidrBlock: "203.0.113.0/24", displayName: "ci" }], nodePools: { greenplum: { nodeCountPerZone: 1 } } },
            "greenplum-k8s:greenplum": { service: { loadBalancerSourceRanges: ["10.0.0.0/8"] } },
        },
    };
    const parsed = (file: { config: Record<string, unknown> }) => parseStackConfig(Object.fromEntries(Object.entries(file.config).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)])));
    const rowFile = layoutStackConfig(gkeFile, { machineType: "n2-highmem-8", nodeCountPerZone: 2 }, "greenplum-layout", "greenplum-layout-data");
    const gke = parsed(rowFile).gke!;

    test("a row's stack is the gke stack with the row's pool, the namespace and the data class", () => {
        expect(rowFile.config["greenplum-k8s:gke"]).toMatchObject({ region: "europe-west1", nodePools: { greenplum: { machineType: "n2-highmem-8", nodeCountPerZone: 2 } } });
        expect(rowFile.config["greenplum-k8s:greenplum"]).toEqual({ service: { loadBalancerSourceRanges: ["10.0.0.0/8"] }, namespace: "greenplum-layout" });
        expect(rowFile.config["greenplum-k8s:storage"]).toEqual({ storageClassName: "greenplum-layout-data" });
        expect(gkeFile.config["greenplum-k8s:gke"].nodePools.greenplum).toEqual({ nodeCountPerZone: 1 });
    });

    test("fake nodes: per zone, the Greenplum pool's and the Ceph pool's, GKE's allocatable, labels and taints, lab addresses", () => {
        const nodes = fakeGkeNodes(gke, true);
        expect(nodes.map((n) => `${n.name} ${n.pool} ${n.zone} ${n.internalIP} ${n.podCIDR}`)).toEqual([
            "gke-greenplum-europe-west1-b-0 greenplum europe-west1-b 198.18.9.1 198.18.17.0/24",
            "gke-greenplum-europe-west1-b-1 greenplum europe-west1-b 198.18.9.2 198.18.18.0/24",
            "gke-greenplum-europe-west1-c-0 greenplum europe-west1-c 198.18.9.3 198.18.19.0/24",
            "gke-greenplum-europe-west1-c-1 greenplum europe-west1-c 198.18.9.4 198.18.20.0/24",
            "gke-greenplum-europe-west1-d-0 greenplum europe-west1-d 198.18.9.5 198.18.21.0/24",
            "gke-greenplum-europe-west1-d-1 greenplum europe-west1-d 198.18.9.6 198.18.22.0/24",
            "gke-ceph-europe-west1-b-0 ceph europe-west1-b 198.18.9.7 198.18.23.0/24",
            "gke-ceph-europe-west1-c-0 ceph europe-west1-c 198.18.9.8 198.18.24.0/24",
            "gke-ceph-europe-west1-d-0 ceph europe-west1-d 198.18.9.9 198.18.25.0/24",
        ]);
        const [greenplum, ceph] = [nodes[0].manifest as any, nodes[6].manifest as any];
        // The README's table: n2-highmem-8 is 8 vCPU / 64 GiB, 7910m / 59824Mi allocatable.
        expect(greenplum.status.capacity).toEqual({ cpu: "8", memory: "64Gi", pods: "110" });
        expect(greenplum.status.allocatable).toEqual({ cpu: "7910m", memory: "59824Mi", pods: "110" });
        expect(greenplum.metadata.labels).toMatchObject({ "greenplum-k8s/pool": "greenplum", "topology.kubernetes.io/zone": "europe-west1-b", "kubernetes.io/hostname": "gke-greenplum-europe-west1-b-0", "greenplum-k8s.local/fake-node": "kwok" });
        expect(greenplum.spec.taints).toEqual([FAKE_NODE_TAINT]);
        expect(ceph.metadata.labels).toMatchObject({ "greenplum-k8s/pool": "ceph", "node.kubernetes.io/instance-type": "n2-standard-4" });
        expect(ceph.spec.taints).toEqual([FAKE_NODE_TAINT, { key: "greenplum-k8s/ceph", value: "true", effect: "NoSchedule" }]);
        expect(fakeGkeNodes(gke, false)).toHaveLength(6);
        expect(layoutAddressProblems()).toEqual([]);
    });

    test("everything else's share is the model's: allocatable less the room, one system-node-critical pod per Greenplum node", () => {
        // 6 nodes: 400m / 768Mi of DaemonSets plus a sixth of the add-ons' 1000m / 1536Mi (README: room 7343m / 58800Mi of 7910m / 59824Mi).
        expect(everythingElsesShare(gke)).toEqual({ milli: 567, mib: 1024 });
        const pods = placeholderPods(fakeGkeNodes(gke, true), everythingElsesShare(gke), "ns", "pause:1") as any[];
        expect(pods.map((p) => p.spec.nodeName)).toEqual(fakeGkeNodes(gke, false).map((n) => n.name));
        expect(pods[0].spec).toMatchObject({ priorityClassName: "system-node-critical", tolerations: [{ key: "greenplum-k8s.local/fake-node", operator: "Equal", value: "kwok", effect: "NoSchedule" }] });
        expect(pods[0].spec.containers[0].resources.requests).toEqual({ cpu: "567m", memory: "1Gi" });
    });

    const set = (name: string, replicas: number): KubernetesObject => ({
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: { name, namespace: "ns" },
        spec: {
            replicas,
            template: { spec: { containers: [{ name: "greenplum", resources: { requests: { cpu: "1" } } }, { name: "other" }] } },
            volumeClaimTemplates: [{ metadata: { name: "data" }, spec: { storageClassName: "c", accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "500Gi" } } } }],
        },
    });

    test("one volume per claim the sets make, bound to it in advance, no node affinity; a class with no provisioner, binding at once", () => {
        const claims = setClaims([set("master", 2), set("segment-a", 1)]);
        expect(claims.map((c) => c.name)).toEqual(["data-master-0", "data-master-1", "data-segment-a-0"]);
        const [pv] = preboundVolumes(claims, "/never") as any[];
        expect(pv.metadata.name).toBe("layout-ns-data-master-0");
        expect(pv.spec).toEqual({
            capacity: { storage: "500Gi" },
            accessModes: ["ReadWriteOnce"],
            storageClassName: "c",
            persistentVolumeReclaimPolicy: "Retain",
            claimRef: { namespace: "ns", name: "data-master-0" },
            hostPath: { path: "/never/ns/data-master-0" },
        });
        expect(volumeClass("c")).toMatchObject({ provisioner: "kubernetes.io/no-provisioner", volumeBindingMode: "Immediate" });
        // The claims are made too, each naming its volume, so none waits for the volume controller.
        const [pvc] = preboundClaims(claims) as any[];
        expect(pvc.metadata).toEqual({ name: "data-master-0", namespace: "ns" });
        expect(pvc.spec.volumeName).toBe(pv.metadata.name);
        expect(pvc.spec).toMatchObject({ storageClassName: "c", accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "500Gi" } } });
    });

    test("the only change to a rendered set is the fake-node toleration (and, for a refused config, the greenplum container's size)", () => {
        const original = set("segment-a", 4);
        const tolerating = toleratingFakeNodes(original) as any;
        expect(tolerating.spec.template.spec.tolerations).toEqual([{ key: "greenplum-k8s.local/fake-node", operator: "Equal", value: "kwok", effect: "NoSchedule" }]);
        const { tolerations: _added, ...podSpec } = tolerating.spec.template.spec;
        expect({ ...tolerating, spec: { ...tolerating.spec, template: { spec: podSpec } } }).toEqual(original);
        expect((original as any).spec.template.spec.tolerations).toBeUndefined();
        const larger = withGreenplumResources(original, { milli: 1974, mib: 16100 }) as any;
        expect(larger.spec.template.spec.containers).toEqual([{ name: "greenplum", resources: { requests: { cpu: "1974m", memory: "16100Mi" }, limits: { cpu: "1974m", memory: "16100Mi" } } }, { name: "other" }]);
    });

    test("GP4K's set-level rule for the comparison run: the pod-index match dropped from the required terms, nothing else changed", () => {
        const term = { labelSelector: { matchLabels: { "greenplum-k8s/set": "segment-b" } }, matchLabelKeys: ["apps.kubernetes.io/pod-index"], topologyKey: "kubernetes.io/hostname" };
        const original = { ...set("segment-a", 4) } as any;
        original.spec.template.spec.affinity = { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } };
        const setLevel = withSetLevelAntiAffinity(original) as any;
        expect(setLevel.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution).toEqual([{ labelSelector: term.labelSelector, topologyKey: term.topologyKey }]);
        expect(original.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].matchLabelKeys).toEqual(["apps.kubernetes.io/pod-index"]);
    });

    test("where the pods landed: both copies of a segment on one node, master and standby together, the layout's shape", () => {
        const pods = [
            { name: "master-0", node: "a" },
            { name: "master-1", node: "b" },
            { name: "segment-a-0", node: "c" },
            { name: "segment-a-1", node: "c" },
            { name: "segment-b-0", node: "a" },
            { name: "segment-b-1", node: "c" },
            { name: "segment-b-2" },
        ];
        expect(segmentCopiesSharingNode(pods, "segment-a", "segment-b")).toEqual(["segment-a-1 and segment-b-1 on c"]);
        expect(setMembersSharingNode(pods, "master")).toEqual([]);
        expect(setMembersSharingNode([...pods, { name: "master-2", node: "a" }], "master")).toEqual(["master-0 on a", "master-2 on a"]);
        expect(layoutShape(pods, ["master", "segment-a", "segment-b"])).toEqual(["master ×1", "master ×1, segment-b ×1", "segment-a ×2, segment-b ×1"]);
    });

    test("kwok: only the labelled nodes, leases, no server, lab fallback addresses; stages for node, pod and deletion", () => {
        const args = kwokArgs({ kubeconfig: "/state/kubeconfig", stages: "/state/kwok/stages.yaml" });
        expect(args).toEqual([
            "--kubeconfig=/state/kubeconfig",
            "--config=/state/kwok/stages.yaml",
            "--manage-all-nodes=false",
            "--manage-nodes-with-label-selector=greenplum-k8s.local/fake-node=kwok",
            "--node-lease-duration-seconds=40",
            "--cidr=198.18.31.0/24",
            "--node-ip=198.18.9.254",
        ]);
        for (const flag of args.filter((a) => /--(cidr|node-ip)=/.test(a))) expect(within(flag.split("=")[1], LAB_RANGE)).toBe(true);
        expect(args.some((a) => /--(server-address|node-port)/.test(a))).toBe(false);
        const stages = parseAllDocuments(kwokStages()).map((d) => d.toJS());
        expect(stages.map((s) => `${s.kind} ${s.metadata.name} ${s.spec.resourceRef.kind}`)).toEqual(["Stage fake-node-ready Node", "Stage fake-pod-running Pod", "Stage fake-pod-deleted Pod"]);
        expect(stages[1].spec.steps[0].patch.template).toContain("PodIPWith .spec.nodeName");
        expect(stages[2].spec.steps).toEqual([{ delete: true }]);
    });
});
