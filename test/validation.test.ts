import * as pulumi from "@pulumi/pulumi";
import { acceptedDataClassWarnings, parseStackConfig, stackConfigWarnings } from "../stacks";
import { deploy, problemsOf, stackConfig } from "./harness";
import { cidrProblem, cpuProblem, databaseProblem, gkeClusterNameProblem, isEverywhere, longestPodHostName, masterCidrProblem, memoryProblem, rangeOverlaps, reservedNamespaceProblem, storageProblem, zoneProblem } from "../stacks/rules";
import { issueMessage } from "../stacks/messages";

const minikube = { target: { kind: "minikube" } };
const gkeBlock = { region: "europe-west1", zones: ["europe-west1-b", "europe-west1-c"], masterAuthorizedNetworks: [{ cidrBlock: "203.0.113.0/24", displayName: "ci" }] };
const gcpProject = { "gcp:project": "acme-data" };
const onGke = (gke: Record<string, unknown>) => problemsOf({ target: { kind: "gke" }, gke: { ...gkeBlock, ...gke } }, gcpProject);
const withService = (service: Record<string, unknown>) => problemsOf({ ...minikube, greenplum: { service: { type: "NodePort", ...service } } });

describe("each mistake a newcomer makes is refused with the key, the value and the fix", () => {
    test("a prefix longer than 32 bits", () => {
        expect(withService({ loadBalancerSourceRanges: ["10.0.0.0/33"] })).toEqual([
            'greenplum-k8s:greenplum.service.loadBalancerSourceRanges[0]: must be an IPv4 CIDR: the prefix /33 is longer than 32 bits (got "10.0.0.0/33")',
        ]);
    });

    test("an octet over 255", () => {
        expect(onGke({ masterAuthorizedNetworks: [{ cidrBlock: "300.1.1.1/8", displayName: "office" }] })).toEqual([
            'greenplum-k8s:gke.masterAuthorizedNetworks[0].cidrBlock: must be an IPv4 CIDR: 300 is not an octet, each of the four is 0 to 255 (got "300.1.1.1/8")',
        ]);
    });

    test("host bits set, with the network address to use instead", () => {
        expect(withService({ loadBalancerSourceRanges: ["10.1.2.3/8"] })).toEqual([
            'greenplum-k8s:greenplum.service.loadBalancerSourceRanges[0]: must be a network address: host bits are set after /8; use "10.0.0.0/8" (got "10.1.2.3/8")',
        ]);
    });

    test("a zone outside the region", () => {
        expect(onGke({ zones: ["europe-west1-b", "us-east1-b"] })).toEqual([
            'greenplum-k8s:gke.zones[1]: must be a zone of gke.region "europe-west1", such as "europe-west1-b" (got "us-east1-b")',
        ]);
    });

    test("a zone given as the region: one message, with the region to use, and no zone suggestion built on it", () => {
        expect(onGke({ region: "europe-west1-b" })).toEqual(['greenplum-k8s:gke.region: must be a GCP region, not a zone: use "europe-west1" (its zones go in gke.zones) (got "europe-west1-b")']);
        expect(onGke({ region: "europe-west1" })).toEqual([]);
    });

    test("a local-path directory that only normalises into /tmp", () => {
        expect(problemsOf({ ...minikube, storage: { localPath: { path: "/data/../tmp/volumes" } } })).toEqual([
            'greenplum-k8s:storage.localPath.path: must be a persistent directory, not under /tmp, /run or /dev/shm ("/data/../tmp/volumes" is "/tmp/volumes"): tmpfs rejects O_DIRECT; use e.g. "/data/local-path-provisioner" (got "/data/../tmp/volumes")',
        ]);
    });

    test("quantities written as YAML numbers: quote them, and the quoted value passes", () => {
        const segments = (values: Record<string, unknown>) => problemsOf({ ...minikube, greenplum: { segments: values } });
        expect(segments({ cpu: 1, memory: 2, storage: 20 })).toEqual([
            'greenplum-k8s:greenplum.segments.cpu: must be text: quote it, as in "1"; YAML reads an unquoted 1 as a number (got 1)',
            'greenplum-k8s:greenplum.segments.memory: must be text: quote it, as in "2Gi" (a size needs its unit); YAML reads an unquoted 2 as a number (got 2)',
            'greenplum-k8s:greenplum.segments.storage: must be text: quote it, as in "20Gi" (a size needs its unit); YAML reads an unquoted 20 as a number (got 20)',
        ]);
        expect(segments({ cpu: "1", memory: "2Gi", storage: "20Gi" })).toEqual([]);
    });

    describe("production keeps Greenplum data: Retain and XFS, or a class accepted by name", () => {
        const production = (storage: Record<string, unknown>, greenplum: Record<string, unknown> = {}) =>
            stackConfig({ profile: "production", target: { kind: "existing", context: "lab" }, storage, greenplum: { segments: { primarySegmentCount: 2 }, ...greenplum } });
        const problems = (config: Record<string, string>) => {
            try {
                parseStackConfig(config);
                return [];
            } catch (err) {
                return (err as { problems: string[] }).problems;
            }
        };
        const ceph = { backend: "rook-ceph", rookCeph: { osd: { source: "pvc", count: 3, size: "2400Gi", storageClassName: "premium-rwo" } } };

        test("rook-ceph's own class passes without a warning", () => {
            expect(problems(production(ceph))).toEqual([]);
            expect(acceptedDataClassWarnings(parseStackConfig(production(ceph)))).toEqual([]);
        });

        test("a set's own class: refused naming both fixes, and each fix passes (the accepted one with a warning)", () => {
            const own = { segments: { primarySegmentCount: 2, storageClassName: "standard-rwo" } };
            expect(problems(production(ceph, own))).toEqual([
                'greenplum-k8s:greenplum.segments.storageClassName: holds Greenplum data in production, but nothing here checks that class keeps volumes (reclaimPolicy Retain) and formats them XFS (got "standard-rwo"): ' +
                    'check that it does, then accept it by name: storage.acceptedDataClasses: ["standard-rwo"]; or remove greenplum.segments.storageClassName to use rook-ceph\'s "greenplum-data"',
            ]);
            expect(problems(production({ ...ceph, acceptedDataClasses: ["standard-rwo"] }, own))).toEqual([]);
            expect(acceptedDataClassWarnings(parseStackConfig(production({ ...ceph, acceptedDataClasses: ["standard-rwo"] }, own)))).toEqual([
                'greenplum-k8s:storage.acceptedDataClasses: Greenplum data is on class "standard-rwo" on your word that it keeps volumes (reclaimPolicy Retain) and formats them XFS on a block device; nothing here checks it',
            ]);
        });

        test("an existing cluster's class, local-path and NFS: each refused with its reason, and accepting the class passes", () => {
            expect(problems(production({ backend: "existing", storageClassName: "fast" }))).toEqual([
                'greenplum-k8s:storage.storageClassName: holds Greenplum data in production, but nothing here checks that class keeps volumes (reclaimPolicy Retain) and formats them XFS (got "fast"): check that it does, then accept it by name: storage.acceptedDataClasses: ["fast"]',
            ]);
            expect(problems(production({ backend: "existing", storageClassName: "fast", acceptedDataClasses: ["fast"] }))).toEqual([]);
            expect(problems(production({ backend: "local-path", reclaimPolicy: "Retain" }))).toEqual([
                'greenplum-k8s:storage.storageClassName: holds Greenplum data in production, but storage.backend local-path keeps it in node directories, which do not survive the node and need not be XFS (got "greenplum-data"): use storage.backend "rook-ceph", or accept the risk by name: storage.acceptedDataClasses: ["greenplum-data"]',
            ]);
            expect(problems(production({ backend: "local-path", reclaimPolicy: "Retain", acceptedDataClasses: ["greenplum-data"] }))).toEqual([]);
            const nfs = { backend: "nfs", nfs: { server: "nfs.lab", share: "/exports/gp", allowGreenplumData: true } };
            expect(problems(production(nfs))).toEqual([
                'greenplum-k8s:storage.storageClassName: holds Greenplum data in production, but storage.backend nfs keeps it on NFS, which Greenplum does not support for data (got "greenplum-data"): use storage.backend "rook-ceph", or accept the risk by name: storage.acceptedDataClasses: ["greenplum-data"]',
            ]);
            expect(problems(production({ ...nfs, acceptedDataClasses: ["greenplum-data"] }))).toEqual([]);
        });

        test("reclaimPolicy Delete is refused, and Retain passes; dev keeps its Delete", () => {
            expect(problems(production({ ...ceph, reclaimPolicy: "Delete" }))).toEqual(['greenplum-k8s:storage.reclaimPolicy: must be "Retain" in production (got "Delete"): with Delete, a deleted claim deletes its Greenplum data volume']);
            expect(problems(production({ ...ceph, reclaimPolicy: "Retain" }))).toEqual([]);
            expect(problemsOf({ ...minikube, greenplum: { segments: { storageClassName: "standard" } } })).toEqual([]);
        });

        test("an accepted class no set uses is refused, so the list stays true", () => {
            expect(problems(production({ ...ceph, acceptedDataClasses: ["old-class"] }))).toEqual(['greenplum-k8s:storage.acceptedDataClasses[0]: names a class no Greenplum set uses (got "old-class"): remove it']);
        });
    });

    test("a misaligned control-plane range, and one that is not a /28", () => {
        expect(onGke({ network: { masterCidr: "172.16.0.8/28" } })).toEqual([
            'greenplum-k8s:gke.network.masterCidr: must be a network address: host bits are set after /28; use "172.16.0.0/28" (got "172.16.0.8/28")',
        ]);
        expect(onGke({ network: { masterCidr: "172.16.0.0/24" } })).toEqual([
            'greenplum-k8s:gke.network.masterCidr: must be a /28 such as "172.16.0.0/28": GKE\'s private control plane takes exactly 16 addresses (got "172.16.0.0/24")',
        ]);
    });

    test("overlapping subnet, pod, service and control-plane ranges", () => {
        expect(onGke({ network: { servicesCidr: "10.20.0.0/20", masterCidr: "10.10.0.0/28" } })).toEqual([
            "greenplum-k8s:gke.network.servicesCidr: must not overlap gke.network.podsCidr (10.20.0.0/14): GKE needs the subnet, pod, service and control-plane ranges disjoint (got \"10.20.0.0/20\")",
            "greenplum-k8s:gke.network.masterCidr: must not overlap gke.network.subnetCidr (10.10.0.0/20): GKE needs the subnet, pod, service and control-plane ranges disjoint (got \"10.10.0.0/28\")",
        ]);
    });

    test('memory "512m" is half a byte', () => {
        expect(problemsOf({ ...minikube, greenplum: { segments: { memory: "512m" } } })).toEqual([
            'greenplum-k8s:greenplum.segments.memory: must be an amount of memory such as "2Gi" or "16Gi": "m" means thousandths, so this is 0.512 bytes; write "1Gi" ("512Mi" is under a Greenplum pod\'s 1Gi floor) (got "512m")',
        ]);
    });

    test('cpu "4Gi" is a memory unit', () => {
        expect(problemsOf({ ...minikube, greenplum: { masterAndStandby: { cpu: "4Gi" } } })).toEqual([
            'greenplum-k8s:greenplum.masterAndStandby.cpu: must be a CPU amount in cores or millicores such as "2" or "500m": Gi is a unit of bytes, for memory (got "4Gi")',
        ]);
    });

    test('storage "0Gi"', () => {
        expect(problemsOf({ ...minikube, greenplum: { segments: { storage: "0Gi" } } })).toEqual([
            'greenplum-k8s:greenplum.segments.storage: must be a storage size of at least "1Mi", such as "10Gi" (got "0Gi")',
        ]);
    });

    test("namespace kube-system", () => {
        expect(problemsOf({ ...minikube, greenplum: { namespace: "kube-system" } })).toEqual([
            'greenplum-k8s:greenplum.namespace: must be a namespace of its own: "kube-system" belongs to the cluster (it already exists, so creating it fails at pulumi up); use e.g. "greenplum" (got "kube-system")',
        ]);
    });

    test("the storage backend's own namespace", () => {
        expect(problemsOf({ profile: "production", target: { kind: "existing", context: "prod" }, greenplum: { namespace: "rook-ceph" } })).toEqual([
            'greenplum-k8s:greenplum.namespace: must differ from the namespace storage.backend "rook-ceph" installs into: both would create Namespace "rook-ceph" (pulumi up fails), ' +
                'and Greenplum\'s default-deny NetworkPolicy would cut off the storage pods; use e.g. "greenplum" (got "rook-ceph")',
        ]);
        // The backend's namespace is free when another backend is in use.
        expect(problemsOf({ ...minikube, greenplum: { namespace: "rook-ceph" } })).toEqual([]);
    });

    test("database template1", () => {
        expect(problemsOf({ ...minikube, greenplum: { database: "template1" } })).toEqual([
            'greenplum-k8s:greenplum.database: must not be postgres, template0, template1: those exist in every Greenplum cluster and are not for data (gpinitsystem cannot create it again); use e.g. "analytics" (got "template1")',
        ]);
    });

    test("a GKE cluster name longer than GKE allows", () => {
        const name = "greenplum-analytics-production-europe-w1x";
        expect(onGke({ clusterName: name })).toEqual([
            `greenplum-k8s:gke.clusterName: must be at most 40 characters, GKE's limit for cluster names; it has 41 (got "${name}")`,
        ]);
    });

    test("a pod host name longer than Greenplum's 63 characters", () => {
        // 18 + 27 + 18 = 63 fits; one more character does not (segment-a-1: dev has 2 primaries, no mirrors).
        const fits = "n".repeat(27);
        expect(problemsOf({ target: { kind: "minikube" }, greenplum: { namespace: fits } })).toEqual([]);
        expect(problemsOf({ target: { kind: "minikube" }, greenplum: { namespace: `${fits}n` } })).toEqual([
            `greenplum-k8s:greenplum.namespace: is too long for the pod host names Greenplum stores: "segment-a-1.agent.${fits}n.svc.cluster.local" has 64 characters, ` +
                "Greenplum keeps at most 63; shorten greenplum.namespace or target.clusterDomain",
        ]);
        expect(problemsOf({ target: { kind: "minikube", clusterDomain: "k8s.example.internal" }, greenplum: { namespace: "greenplum" } })).toEqual([]);
    });

    test("keys under a misspelt config namespace are named in a warning", () => {
        expect(stackConfigWarnings({ "greenplum_k8s:greenplum": "{}", "GreenplumK8s:target": "{}", "greenplum-k8s:target": "{}", "gcp:project": "p" })).toEqual([
            'greenplum_k8s:greenplum: ignored: the config namespace "greenplum_k8s" is not "greenplum-k8s"; rename the key to greenplum-k8s:greenplum',
            'GreenplumK8s:target: ignored: the config namespace "GreenplumK8s" is not "greenplum-k8s"; rename the key to greenplum-k8s:target',
        ]);
        expect(stackConfigWarnings({ "greenplum-k8s:target": "{}", "gcp:project": "p", "kubernetes:context": "x" })).toEqual([]);
    });

    test("the program warns about them in pulumi preview and up", async () => {
        const warn = jest.spyOn(pulumi.log, "warn").mockResolvedValue();
        try {
            await deploy("dev", { "greenplum_k8s:greenplum": { database: "analytics" } });
            expect(warn).toHaveBeenCalledWith('greenplum_k8s:greenplum: ignored: the config namespace "greenplum_k8s" is not "greenplum-k8s"; rename the key to greenplum-k8s:greenplum');
        } finally {
            warn.mockRestore();
        }
    });

    test("a dotted key set without --path gets the command that sets it properly", () => {
        expect(problemsOf(minikube, { "greenplum-k8s:greenplum.segments.primarySegmentCount": "3" })).toEqual([
            "greenplum-k8s:greenplum.segments.primarySegmentCount: unknown key: a nested key was set without --path, so it arrived as one flat name; " +
                "run pulumi config rm greenplum-k8s:greenplum.segments.primarySegmentCount and pulumi config set --path greenplum-k8s:greenplum.segments.primarySegmentCount <value>",
        ]);
    });
});

describe("no raw library text reaches users", () => {
    const zodWords = /Invalid input|Invalid option|Too small|Too big|expected (string|number|boolean|array|object)|Unrecognized key/;

    test("wrong types and bounds in keys without a message of their own get ours", () => {
        const problems = [
            ...onGke({ releaseChannel: "FAST", masterAuthorizedNetworks: [], nodePools: { greenplum: { nodeCountPerZone: 0, diskSizeGb: "big" }, ceph: { diskType: "ssd" } } }),
            ...problemsOf({ ...minikube, target: { kind: "minikube", context: "" }, greenplum: { service: { loadBalancerSourceRanges: "10.0.0.0/8" } } }),
            ...problemsOf({ ...minikube, storage: { rookCeph: { poolReplicas: 9, osd: { source: "pvc", count: 0, size: "1Gi", storageClassName: "x" } } } }),
        ];
        expect(problems).toEqual([
            'greenplum-k8s:gke.releaseChannel: must be "RAPID", "REGULAR" or "STABLE" (got "FAST")',
            "greenplum-k8s:gke.masterAuthorizedNetworks: must list at least 1 item (got [])",
            "greenplum-k8s:gke.nodePools.greenplum.nodeCountPerZone: must be at least 1 (got 0)",
            'greenplum-k8s:gke.nodePools.greenplum.diskSizeGb: must be a number (got "big")',
            'greenplum-k8s:gke.nodePools.ceph.diskType: must be "pd-standard", "pd-balanced" or "pd-ssd" (got "ssd")',
            'greenplum-k8s:target.context: must not be empty (got "")',
            'greenplum-k8s:greenplum.service.loadBalancerSourceRanges: must be a list (got "10.0.0.0/8")',
            "greenplum-k8s:storage.rookCeph.poolReplicas: must be at most 5 (got 9)",
            "greenplum-k8s:storage.rookCeph.osd.count: must be at least 1 (got 0)",
        ]);
        for (const problem of problems) expect(problem).not.toMatch(zodWords);
    });

    test("every issue code has our words", () => {
        const issues = [
            { code: "invalid_type", expected: "boolean", input: 1 },
            { code: "too_small", origin: "number", minimum: 0, inclusive: false, input: 0 },
            { code: "too_big", origin: "string", maximum: 3, input: "abcd" },
            { code: "invalid_format", format: "regex", pattern: /^a$/, input: "b" },
            { code: "not_multiple_of", divisor: 2, input: 3 },
            { code: "invalid_value", values: ["a"], input: "b" },
            { code: "invalid_union", errors: [], input: 1 },
            { code: "invalid_key", origin: "record", issues: [], input: {} },
            { code: "invalid_element", origin: "map", key: "k", issues: [], input: {} },
            { code: "unrecognized_keys", keys: ["x", "y"], input: {} },
            { code: "custom", input: 1 },
        ];
        expect(issues.map((i) => issueMessage(i as never))).toEqual([
            "must be true or false",
            "must be more than 0",
            "must have at most 3 characters",
            "must match the pattern /^a$/",
            "must be a multiple of 2",
            'must be "a"',
            "must have one of the forms the configuration reference lists",
            "has a key that is not allowed",
            "has an entry that is not allowed",
            'has unknown keys "x" or "y"',
            "is not allowed here",
        ]);
    });
});

describe("rules: a failing and a passing case each", () => {
    test("CIDRs", () => {
        expect(cidrProblem("10.0.0.0/8")).toBeUndefined();
        expect(cidrProblem("0.0.0.0/0")).toBeUndefined();
        expect(cidrProblem("192.168.1.7/32")).toBeUndefined();
        expect(cidrProblem("10.0.0/8")).toBe('must be an IPv4 CIDR such as "10.0.0.0/8"');
        expect(cidrProblem("10.0.0.0")).toBe('must be an IPv4 CIDR such as "10.0.0.0/8"');
        expect(cidrProblem("192.168.1.7/24")).toBe('must be a network address: host bits are set after /24; use "192.168.1.0/24"');
    });

    test("0.0.0.0/0 is everywhere; a real range is not", () => {
        expect(isEverywhere("0.0.0.0/0")).toBe(true);
        expect(isEverywhere("10.0.0.0/8")).toBe(false);
    });

    test("range overlap: containment either way, and adjacency is fine", () => {
        const overlapsOf = (a: string, b: string) => rangeOverlaps([{ key: "a", text: a }, { key: "b", text: b }]).length;
        expect(overlapsOf("10.0.0.0/8", "10.200.0.0/16")).toBe(1);
        expect(overlapsOf("10.200.0.0/16", "10.0.0.0/8")).toBe(1);
        expect(overlapsOf("10.10.0.0/20", "10.10.16.0/20")).toBe(0);
    });

    test("the control plane takes exactly a /28", () => {
        expect(masterCidrProblem("172.16.0.16/28")).toBeUndefined();
        expect(masterCidrProblem("172.16.0.0/27")).toMatch(/^must be a \/28/);
        expect(masterCidrProblem("172.16.0/28")).toBe('must be an IPv4 CIDR such as "172.16.0.0/28"');
    });

    test("CPU is cores or millicores, more than nothing", () => {
        for (const ok of ["2", "0.5", "500m", ""]) expect(cpuProblem(ok)).toBeUndefined();
        expect(cpuProblem("0")).toBe('must be at least "1m" (one millicore); use "" for no limit');
        expect(cpuProblem("two")).toMatch(/^must be a CPU amount/);
        expect(cpuProblem("2k")).toMatch(/k is a unit of bytes/);
    });

    test("memory is bytes with a unit, not a unit slip", () => {
        for (const ok of ["16Gi", "512Mi", "1G", "", "67108864"]) expect(memoryProblem(ok)).toBeUndefined();
        expect(memoryProblem("512")).toBe('must be at least "1Gi" for a Greenplum pod; 512 bytes is a unit slip, e.g. "2Gi" or "16Gi"');
        expect(memoryProblem("lots")).toBe('must be an amount of memory such as "2Gi" or "16Gi", or "" for no limit');
    });

    test("storage has a unit and is more than nothing", () => {
        expect(storageProblem("10Gi")).toBeUndefined();
        expect(storageProblem("1.5Ti")).toBeUndefined();
        expect(storageProblem("100")).toBe('must be a storage size such as "10Gi" or "1Ti"');
        expect(storageProblem("0.5Ki")).toBe('must be a storage size of at least "1Mi", such as "10Gi"');
    });

    test("the cluster's own namespaces are reserved", () => {
        expect(reservedNamespaceProblem("greenplum")).toBeUndefined();
        expect(reservedNamespaceProblem("kubernetes-dashboard")).toBeUndefined();
        expect(reservedNamespaceProblem("default")).toMatch(/^must be a namespace of its own: "default"/);
        expect(reservedNamespaceProblem("kube-node-lease")).toMatch(/^must be a namespace of its own/);
    });

    test("databases every cluster has are reserved", () => {
        expect(databaseProblem("analytics")).toBeUndefined();
        expect(databaseProblem("postgres")).toMatch(/^must not be postgres, template0, template1/);
        expect(databaseProblem("template0")).toMatch(/^must not be/);
    });

    test("GKE cluster names", () => {
        expect(gkeClusterNameProblem("greenplum")).toBeUndefined();
        expect(gkeClusterNameProblem("a".repeat(40))).toBeUndefined();
        expect(gkeClusterNameProblem("1greenplum")).toMatch(/starting with a letter/);
        expect(gkeClusterNameProblem("greenplum-")).toMatch(/ending with a letter or digit/);
    });

    test("zones belong to their region", () => {
        expect(zoneProblem("europe-west1-b", "europe-west1")).toBeUndefined();
        expect(zoneProblem("europe-west12-a", "europe-west1")).toBe('must be a zone of gke.region "europe-west1", such as "europe-west1-b"');
    });

    test("the longest host name is the last mirror's, or the last primary's without mirrors", () => {
        expect(longestPodHostName("greenplum", "cluster.local", 4, true, "agent")).toBe("segment-b-3.agent.greenplum.svc.cluster.local");
        expect(longestPodHostName("gp", "example.org", 12, false, "agent")).toBe("segment-a-11.agent.gp.svc.example.org");
    });
});

describe("defaults", () => {
    test("switching rookCeph.osd to another source replaces the default's variant instead of mixing both", () => {
        const osd = { source: "pvc", count: 3, size: "100Gi", storageClassName: "standard" };
        const config = parseStackConfig(stackConfig({ ...minikube, storage: { backend: "rook-ceph", rookCeph: { osd } } }));
        expect(config.storage.rookCeph.osd).toEqual(osd);
        expect(parseStackConfig(stackConfig({ ...minikube, storage: { rookCeph: { osd: { deviceFilter: "^sdb$" } } } })).storage.rookCeph.osd).toEqual({ source: "device", deviceFilter: "^sdb$" });
    });
});
