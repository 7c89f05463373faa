/** The local cluster's pure logic: addresses, config files, version keys, readiness waits, the CLI. */
import { parse } from "yaml";
import { parseCommand, shellExports } from "../tools/local-cluster/cli";
import { cniConfig, containerdConfig, corefile, kubeletConfig, kubeProxyConfig } from "../tools/local-cluster/configs";
import { aptMirror, contentKey, greenplumVersion } from "../tools/local-cluster/images";
import { clusterChainsIn, mountsUnder } from "../tools/local-cluster/machine";
import { CLUSTER_POD_CIDR, LAB_RANGE, NODE_IP, overlaps, planProblems, SERVICE_CIDR, statePaths, within } from "../tools/local-cluster/plan";
import { missingPluginsMessage, newestPluginDir, UNSERVED_PLUGINS } from "../tools/local-cluster/pulumi-plugins";
import { waitFor } from "../tools/local-cluster/shell";
import { cacheKey, piece, replaceDirectives, wrapperGoMod } from "../tools/local-cluster/versions";

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
