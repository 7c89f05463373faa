import * as pulumi from "@pulumi/pulumi";
import program = require("../index");
import { parseStackConfig } from "../stacks";
import { configProblems, problemsOf, stackConfig } from "./harness";

const gkeBlock = { region: "europe-west1", zones: ["europe-west1-b", "europe-west1-c"], masterAuthorizedNetworks: [{ cidrBlock: "203.0.113.0/24", displayName: "ci" }] };
const gkeStack = { target: { kind: "gke" }, gke: gkeBlock };
const gcpProject = { "gcp:project": "acme-data" };

describe("profile defaults", () => {
    test("dev is small and disposable: 1 master, 2 unmirrored primaries, local-path volumes deleted with their claims", () => {
        const config = parseStackConfig(stackConfig({ target: { kind: "minikube" } }));
        expect(config.profile).toBe("dev");
        expect(config.greenplum.masterAndStandby).toMatchObject({ standby: false, antiAffinity: false, storage: "5Gi" });
        expect(config.greenplum.segments).toMatchObject({ primarySegmentCount: 2, mirrors: false, antiAffinity: false });
        expect(config.storage).toMatchObject({ backend: "local-path", reclaimPolicy: "Delete" });
        expect(config.storage.localPath.path).toBe("/data/local-path-provisioner");
        expect(config.greenplum.service.type).toBe("NodePort");
    });

    test("production (a gke target) is HA and keeps data: standby, mirrors, anti-affinity, Ceph, Retain", () => {
        const config = parseStackConfig({ ...stackConfig(gkeStack), ...gcpProject });
        expect(config.profile).toBe("production");
        expect(config.greenplum.masterAndStandby).toMatchObject({ standby: true, antiAffinity: true });
        expect(config.greenplum.segments).toMatchObject({ primarySegmentCount: 4, mirrors: true, antiAffinity: true });
        expect(config.storage).toMatchObject({ backend: "rook-ceph", reclaimPolicy: "Retain" });
        expect(config.storage.rookCeph).toMatchObject({ monCount: 3, poolReplicas: 3, osd: { source: "pvc", storageClassName: "premium-rwo" } });
        expect(config.greenplum.service).toMatchObject({ type: "LoadBalancer", internal: true });
        expect(config.gke).toMatchObject({ deletionProtection: true, releaseChannel: "REGULAR", clusterName: "greenplum" });
    });

    test("an explicit profile wins over the target's: production on an existing cluster", () => {
        const config = parseStackConfig(stackConfig({ profile: "production", target: { kind: "existing", context: "prod-east" } }));
        expect(config.profile).toBe("production");
        expect(config.storage.reclaimPolicy).toBe("Retain");
        expect(config.target).toMatchObject({ kind: "existing", context: "prod-east" });
    });

    test('GP4K\'s "yes"/"no" and real booleans both work', () => {
        const config = parseStackConfig(stackConfig({ target: { kind: "minikube" }, greenplum: { segments: { mirrors: "yes" }, masterAndStandby: { standby: true } } }));
        expect(config.greenplum.segments.mirrors).toBe(true);
        expect(config.greenplum.masterAndStandby.standby).toBe(true);
    });
});

describe("field validation", () => {
    test("every problem is listed, each with its full key path, the bad value and what is allowed", () => {
        const problems = problemsOf({
            target: { kind: "minikube" },
            greenplum: { segments: { primarySegmentCount: 0, mirrors: "maybe" }, image: "woblerr/greenplum:latest", namespace: "Green_Plum" },
        });
        expect(problems).toEqual(
            expect.arrayContaining([
                "greenplum-k8s:greenplum.segments.primarySegmentCount: must be a whole number from 1 to 256 (got 0)",
                'greenplum-k8s:greenplum.segments.mirrors: must be true/false or "yes"/"no" (got "maybe")',
                'greenplum-k8s:greenplum.image: must be pinned, but uses the tag "latest": name a full version tag or a digest, e.g. "woblerr/greenplum:6.27.1" (got "woblerr/greenplum:latest")',
                expect.stringMatching(/^greenplum-k8s:greenplum\.namespace: must be a DNS-1123 label.*\(got "Green_Plum"\)$/),
            ]),
        );
        expect(problems).toHaveLength(4);
    });

    test("unknown keys are errors, at any depth, with the keys allowed there", () => {
        const problems = problemsOf({ target: { kind: "minikube" }, greenplum: { segmnts: { primarySegmentCount: 3 } } }, { "greenplum-k8s:greenplm": "{}" });
        expect(problems).toContain("greenplum-k8s:greenplum.segmnts: unknown key; allowed keys here: image, namespace, database, service, masterAndStandby, segments, firstInitTimeoutMinutes, adminPassword, backup");
        expect(problems).toContain(
            "greenplum-k8s:greenplm: unknown key; allowed keys: greenplum-k8s:profile, greenplum-k8s:target, greenplum-k8s:gke, greenplum-k8s:storage, greenplum-k8s:greenplum",
        );
    });

    test("an image without a tag, or with a floating one, is refused for Greenplum and every pinned image; a full version or a digest passes", () => {
        expect(problemsOf({ target: { kind: "minikube" }, greenplum: { image: "woblerr/greenplum" } })).toEqual([
            'greenplum-k8s:greenplum.image: must be pinned, but has no tag: name a full version tag or a digest, e.g. "woblerr/greenplum:6.27.1" (got "woblerr/greenplum")',
        ]);
        const floating = problemsOf({
            target: { kind: "minikube" },
            storage: { backend: "local-path", localPath: { image: "rancher/local-path-provisioner:v0.0", helperImage: "busybox:1" } },
            greenplum: { image: "woblerr/greenplum:6" },
        });
        expect(floating).toEqual([
            'greenplum-k8s:storage.localPath.image: must be pinned, but uses the tag "v0.0", which names no full version and moves to new releases: name a full version tag or a digest, e.g. "woblerr/greenplum:6.27.1" (got "rancher/local-path-provisioner:v0.0")',
            'greenplum-k8s:storage.localPath.helperImage: must be pinned, but uses the tag "1", which names no full version and moves to new releases: name a full version tag or a digest, e.g. "woblerr/greenplum:6.27.1" (got "busybox:1")',
            'greenplum-k8s:greenplum.image: must be pinned, but uses the tag "6", which names no full version and moves to new releases: name a full version tag or a digest, e.g. "woblerr/greenplum:6.27.1" (got "woblerr/greenplum:6")',
        ]);
        expect(problemsOf({ target: { kind: "minikube" }, greenplum: { image: `woblerr/greenplum@sha256:${"0".repeat(64)}` } })).toEqual([]);
        expect(problemsOf({ target: { kind: "minikube" }, storage: { rookCeph: { cephImage: "quay.io/ceph/ceph:v18" } } })).toEqual([
            'greenplum-k8s:storage.rookCeph.cephImage: must be pinned, but uses the tag "v18", which names no full version and moves to new releases: name a full version tag or a digest, e.g. "woblerr/greenplum:6.27.1" (got "quay.io/ceph/ceph:v18")',
        ]);
    });

    test("pg_hba lines that trust a whole network are refused; md5 for a network and trust for one host are fine", () => {
        const hba = (text: string) => problemsOf({ target: { kind: "minikube" }, greenplum: { masterAndStandby: { hostBasedAuthentication: text } } });
        expect(hba("host all all 10.0.0.0 255.0.0.0 trust")).toEqual([
            'greenplum-k8s:greenplum.masterAndStandby.hostBasedAuthentication: line 1 ("host all all 10.0.0.0 255.0.0.0 trust") trusts every host in 10.0.0.0 mask 255.0.0.0, which hides authentication bugs: use md5 or scram-sha-256, or name one host (a.b.c.d/32 or an IPv6 address/128)',
        ]);
        expect(hba("host all all 10.0.0.0/8 md5\nhost all etl 10.1.2.3/32 trust")).toEqual([]);
        expect(hba("allow everyone")[0]).toMatch(/starts with "allow": a line starts with local, host, hostssl or hostnossl/);
    });

    test("password for one host passes on dev and is refused on production", () => {
        const line = "host all etl 10.1.2.3/32 password";
        expect(problemsOf({ target: { kind: "minikube" }, greenplum: { masterAndStandby: { hostBasedAuthentication: line } } })).toEqual([]);
        const production = problemsOf({ profile: "production", target: { kind: "existing", context: "lab" }, storage: { backend: "existing", storageClassName: "fast-xfs" }, greenplum: { masterAndStandby: { hostBasedAuthentication: line } } });
        expect(production).toContain(
            'greenplum-k8s:greenplum.masterAndStandby.hostBasedAuthentication: line 1 ("host all etl 10.1.2.3/32 password") uses password, which sends the password in clear text: use md5 or scram-sha-256 (production refuses password on any line)',
        );
    });

    test("quantities follow Kubernetes' syntax", () => {
        const problems = problemsOf({ target: { kind: "minikube" }, greenplum: { segments: { cpu: "two", storage: "10 gigs" } } });
        expect(problems).toEqual([
            'greenplum-k8s:greenplum.segments.cpu: must be a CPU amount in cores or millicores such as "2", "0.5" or "500m", or "" for no limit (got "two")',
            'greenplum-k8s:greenplum.segments.storage: must be a storage size such as "10Gi" or "1Ti" (got "10 gigs")',
        ]);
    });

    test("an unknown storage backend names the choices", () => {
        expect(problemsOf({ target: { kind: "minikube" }, storage: { backend: "ceph" } })).toEqual([
            'greenplum-k8s:storage.backend: must be "rook-ceph", "local-path", "nfs" or "existing" (got "ceph")',
        ]);
    });

    test("local-path never puts volumes on a tmpfs path", () => {
        expect(problemsOf({ target: { kind: "minikube" }, storage: { localPath: { path: "/tmp/volumes" } } })).toEqual([
            'greenplum-k8s:storage.localPath.path: must be a persistent directory, not under /tmp, /run or /dev/shm: tmpfs rejects O_DIRECT; use e.g. "/data/local-path-provisioner" (got "/tmp/volumes")',
        ]);
    });
});

describe("cross-field rules", () => {
    test("GP4K: antiAffinity needs standby and mirrors, and both blocks must agree", () => {
        const problems = problemsOf({ target: { kind: "minikube" }, greenplum: { masterAndStandby: { antiAffinity: "yes" } } });
        expect(problems).toEqual([
            "greenplum-k8s:greenplum.segments.antiAffinity: must equal greenplum.masterAndStandby.antiAffinity (anti-affinity is all or nothing, as in GP4K)",
            "greenplum-k8s:greenplum.masterAndStandby.standby: must be yes when antiAffinity is yes (there is no pair to keep apart without a standby)",
            "greenplum-k8s:greenplum.segments.mirrors: must be yes when antiAffinity is yes (there is no pair to keep apart without mirrors)",
        ]);
    });

    test("target.kind gke needs the gke block and a project; the gke block is refused elsewhere", () => {
        expect(problemsOf({ target: { kind: "gke" } }, gcpProject)).toEqual(["greenplum-k8s:gke: required when target.kind is gke: set at least gke.region and gke.zones"]);
        expect(problemsOf(gkeStack)).toEqual([
            "greenplum-k8s:gke.project: required when target.kind is gke unless gcp:project is set: name the GCP project to create the cluster in",
        ]);
        expect(problemsOf({ target: { kind: "minikube" }, gke: gkeBlock })).toEqual([
            'greenplum-k8s:gke: only used when target.kind is gke (target.kind is "minikube"): remove it or set target.kind: gke',
        ]);
        expect(problemsOf({ target: { kind: "gke" }, gke: { zones: ["europe-west1-b"] } }, gcpProject)).toEqual(
            expect.arrayContaining(["greenplum-k8s:gke.region: required but not set", "greenplum-k8s:gke.masterAuthorizedNetworks: required but not set"]),
        );
    });

    test("existing needs a context", () => {
        expect(problemsOf({ target: { kind: "existing" } })).toEqual(["greenplum-k8s:target.context: required when target.kind is existing: name the kubeconfig context to deploy to"]);
    });

    test("nfs needs a server and share, and an explicit opt-in before Greenplum data goes on it", () => {
        const problems = problemsOf({ target: { kind: "minikube" }, storage: { backend: "nfs" } });
        expect(problems).toEqual([
            "greenplum-k8s:storage.nfs.server: required when storage.backend is nfs: the NFS server's host name or IP",
            "greenplum-k8s:storage.nfs.share: required when storage.backend is nfs: the exported path",
            expect.stringMatching(/^greenplum-k8s:storage\.nfs\.allowGreenplumData: Greenplum does not support NFS for data directories/),
        ]);
        const blockClassesForData = { masterAndStandby: { storageClassName: "ssd" }, segments: { storageClassName: "ssd" } };
        expect(problemsOf({ target: { kind: "minikube" }, storage: { backend: "nfs", nfs: { server: "nas", share: "/backups" } }, greenplum: blockClassesForData })).toEqual([]);
    });

    test("existing storage needs the class name", () => {
        expect(problemsOf({ target: { kind: "minikube" }, storage: { backend: "existing" } })).toEqual([
            "greenplum-k8s:storage.storageClassName: required when storage.backend is existing: name the cluster's storage class",
        ]);
    });

    test("Ceph cannot keep more copies than it has OSDs", () => {
        expect(problemsOf({ ...gkeStack, storage: { rookCeph: { osd: { source: "pvc", count: 2, size: "100Gi", storageClassName: "premium-rwo" } } } }, gcpProject)).toEqual([
            "greenplum-k8s:storage.rookCeph.poolReplicas: needs at least as many OSDs (storage.rookCeph.osd.count is 2): Ceph cannot place 3 copies",
        ]);
    });

    test("load balancer settings need a LoadBalancer service", () => {
        expect(problemsOf({ target: { kind: "minikube" }, greenplum: { service: { type: "ClusterIP", internal: true, loadBalancerSourceRanges: ["10.0.0.0/8"] } } })).toEqual([
            "greenplum-k8s:greenplum.service.internal: only applies to service.type LoadBalancer",
            "greenplum-k8s:greenplum.service.loadBalancerSourceRanges: only applies to service.type LoadBalancer or NodePort",
        ]);
    });

    test("anti-affinity on GKE needs at least two Greenplum nodes", () => {
        const oneNode = { ...gkeBlock, zones: ["europe-west1-b"], nodePools: { greenplum: { nodeCountPerZone: 1 } } };
        expect(problemsOf({ target: { kind: "gke" }, gke: oneNode }, gcpProject)).toEqual([
            "greenplum-k8s:gke.nodePools.greenplum.nodeCountPerZone: antiAffinity needs at least 2 Greenplum nodes in all zones together",
        ]);
    });
});

describe("the cloud's own limits, before any resource exists", () => {
    test("a zone listed twice is refused, naming the first", async () => {
        expect(await configProblems("gke", { "greenplum-k8s:gke": { zones: ["europe-west1-b", "europe-west1-c", "europe-west1-b"] } })).toEqual([
            'greenplum-k8s:gke.zones[2]: repeats gke.zones[0] (got "europe-west1-b"): list each zone once; the node pools spread over distinct zones',
        ]);
    });

    test("the Ceph pool's machine type is checked against the same table as the Greenplum pool's", async () => {
        expect(await configProblems("gke", { "greenplum-k8s:gke": { nodePools: { ceph: { machineType: "n2-standrad-4" } } } })).toEqual([
            expect.stringMatching(/^greenplum-k8s:gke\.nodePools\.ceph\.machineType: is not a machine type of the capacity model's table \(got "n2-standrad-4"\): choose one of e2-standard, .*, e\.g\. "n2-standard-4"$/),
        ]);
    });

    test("C3 machines cannot attach pd-standard, in either pool", async () => {
        expect(await configProblems("gke", { "greenplum-k8s:gke": { nodePools: { ceph: { machineType: "c3-standard-4", diskType: "pd-standard" } } } })).toEqual([
            'greenplum-k8s:gke.nodePools.ceph.diskType: must be "pd-balanced" or "pd-ssd" for "c3-standard-4" (got "pd-standard"): C3 machines cannot attach pd-standard disks',
        ]);
        expect(await configProblems("gke", { "greenplum-k8s:gke": { nodePools: { ceph: { machineType: "c3-standard-4", diskType: "pd-balanced" } } } })).toEqual([]);
    });

    test("an OSD larger than one Persistent Disk can be is refused, and more OSDs are suggested", async () => {
        expect(await configProblems("gke", { "greenplum-k8s:storage": { rookCeph: { osd: { size: "100Ti" } } } })).toEqual([
            'greenplum-k8s:storage.rookCeph.osd.size: must be at most 64Ti, the largest Persistent Disk (got "100Ti"): raise storage.rookCeph.osd.count instead',
        ]);
    });
});

describe("bad input creates nothing", () => {
    test("the program fails before registering a single resource, with every problem in the message", async () => {
        let registered = 0;
        await pulumi.runtime.setMocks({ newResource: (args) => ((registered += 1), { id: args.name, state: args.inputs }), call: (args) => args.inputs }, "greenplum-k8s", "dev", false);
        pulumi.runtime.setAllConfig(stackConfig({ target: { kind: "minikube" }, greenplum: { segments: { primarySegmentCount: -1 } }, storage: { backend: "tape" } }));
        const failure = program();
        await expect(failure).rejects.toThrow(/greenplum-k8s:greenplum\.segments\.primarySegmentCount: must be a whole number from 1 to 256 \(got -1\)/);
        await expect(failure).rejects.toThrow(/greenplum-k8s:storage\.backend: must be "rook-ceph", "local-path", "nfs" or "existing" \(got "tape"\)/);
        expect(registered).toBe(0);
    });

    test("the shared harness reports the same problems for a stack file with a change", async () => {
        expect(await configProblems("dev", { "greenplum-k8s:greenplum": { segments: { primarySegmentCount: 1000 } } })).toEqual([
            "greenplum-k8s:greenplum.segments.primarySegmentCount: must be a whole number from 1 to 256 (got 1000)",
        ]);
    });
});
