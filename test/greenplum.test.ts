import { podDisruptionBudgetArgs } from "../components/greenplum";
import { maskSecrets, unwrapSecrets } from "../tools/mock-runtime";
import { configProblems, deploy, type Deployment } from "./harness";

const STATEFUL_SET = "kubernetes:apps/v1:StatefulSet";
type Spec = Record<string, any>;

const setSpec = (run: Deployment, name: string): Spec => run.object("StatefulSet", name).spec as Spec;
const podSpec = (run: Deployment, name: string): Spec => setSpec(run, name).template.spec;
const container = (run: Deployment, name: string): Spec => podSpec(run, name).containers[0];
const envOf = (c: Spec): Record<string, string> => Object.fromEntries(c.env.filter((e: Spec) => "value" in e).map((e: Spec) => [e.name, e.value]));

describe("dev: 1 master, 2 primaries, no mirrors", () => {
    let dev: Deployment;
    beforeAll(async () => {
        dev = await deploy("dev");
    });

    test("GP4K's topology: a master set of 1 and segment-a of 2, no segment-b, all starting in parallel", () => {
        expect(setSpec(dev, "master").replicas).toBe(1);
        expect(setSpec(dev, "segment-a").replicas).toBe(2);
        expect(dev.objects.filter((o) => o.kind === "StatefulSet").map((o) => o.metadata.name).sort()).toEqual(["master", "segment-a"]);
        for (const set of ["master", "segment-a"]) {
            expect(setSpec(dev, set)).toMatchObject({ podManagementPolicy: "Parallel", serviceName: "agent", updateStrategy: { type: "OnDelete" } });
        }
        expect(envOf(container(dev, "master"))).toMatchObject({ GP_PRIMARY_SEGMENT_COUNT: "2", GP_MIRRORS: "false", GP_STANDBY: "false", GP_DATABASE: "gpadmin" });
    });

    test("a headless Service gives every pod DNS before it is ready; pods search it for short host names", () => {
        expect(dev.object("Service", "agent").spec).toMatchObject({ clusterIP: "None", publishNotReadyAddresses: true, selector: { "app.kubernetes.io/name": "greenplum" } });
        expect(podSpec(dev, "segment-a").dnsConfig).toEqual({ searches: ["agent.greenplum.svc.cluster.local"] });
    });

    test("the client Service selects the acting master and is a NodePort on dev", () => {
        expect(dev.object("Service", "greenplum").spec).toMatchObject({
            type: "NodePort",
            selector: { "app.kubernetes.io/name": "greenplum", "greenplum-k8s/set": "master", "statefulset.kubernetes.io/pod-name": "master-0" },
            ports: [{ name: "postgres", port: 5432, targetPort: 5432, protocol: "TCP" }],
        });
    });

    test("dev volumes are disposable: claims deleted with the set, nothing protected", () => {
        expect(setSpec(dev, "segment-a").persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: "Delete", whenScaled: "Delete" });
        expect(dev.resource(STATEFUL_SET, "segment-a").options.retainOnDelete).toBe(false);
        expect(dev.resource("kubernetes:core/v1:Namespace", "namespace").options.protect).toBe(false);
        expect(setSpec(dev, "segment-a").volumeClaimTemplates[0].spec).toEqual({ accessModes: ["ReadWriteOnce"], storageClassName: "greenplum-data", resources: { requests: { storage: "10Gi" } } });
        expect(setSpec(dev, "master").volumeClaimTemplates[0].spec.resources.requests.storage).toBe("5Gi");
    });

    test("no anti-affinity without mirrors and standby", () => {
        expect(podSpec(dev, "master").affinity).toBeUndefined();
    });

    test("outputs: in-cluster host, port, database, user, and secret password and URI", () => {
        expect(dev.outputs).toMatchObject({ host: "greenplum.greenplum.svc.cluster.local", port: 5432, database: "gpadmin", username: "gpadmin", namespace: "greenplum" });
        expect(dev.outputs.password).toBe("mock-password-gpadmin-password");
        expect(dev.outputs.connectionUri).toBe("postgresql://gpadmin:mock-password-gpadmin-password@greenplum.greenplum.svc.cluster.local:5432/gpadmin");
        expect(dev.secretOutputs.sort()).toEqual(["connectionUri", "password"]);
    });
});

describe("gke: master + standby, 4 primaries with mirrors, anti-affinity, PDBs, Retain", () => {
    let gke: Deployment;
    beforeAll(async () => {
        gke = await deploy("gke");
    });

    test("master set of 2 (standby), 4 primaries and 4 mirrors", () => {
        expect(setSpec(gke, "master").replicas).toBe(2);
        expect(setSpec(gke, "segment-a").replicas).toBe(4);
        expect(setSpec(gke, "segment-b").replicas).toBe(4);
        expect(container(gke, "segment-b").ports).toEqual([{ name: "postgres", containerPort: 7000 }, { name: "ssh", containerPort: 2222 }]);
        expect(container(gke, "segment-a").ports[0].containerPort).toBe(6000);
    });

    test("required anti-affinity: master and standby apart, and each segment's two copies (same pod index) apart; pairs prefer other zones", () => {
        const master = podSpec(gke, "master").affinity.podAntiAffinity;
        expect(master.requiredDuringSchedulingIgnoredDuringExecution).toEqual([{ labelSelector: { matchLabels: { "app.kubernetes.io/name": "greenplum", "greenplum-k8s/set": "master" } }, topologyKey: "kubernetes.io/hostname" }]);
        const mirrors = podSpec(gke, "segment-b").affinity.podAntiAffinity;
        expect(mirrors.requiredDuringSchedulingIgnoredDuringExecution).toEqual([
            { labelSelector: { matchLabels: { "app.kubernetes.io/name": "greenplum", "greenplum-k8s/set": "segment-a" } }, matchLabelKeys: ["apps.kubernetes.io/pod-index"], topologyKey: "kubernetes.io/hostname" },
        ]);
        expect(mirrors.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm).toMatchObject({ matchLabelKeys: ["apps.kubernetes.io/pod-index"], topologyKey: "topology.kubernetes.io/zone" });
        const primaries = podSpec(gke, "segment-a").affinity.podAntiAffinity;
        expect(primaries.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchLabels["greenplum-k8s/set"]).toBe("segment-b");
    });

    test("a PodDisruptionBudget per set: a drain takes one segment pod of a set at a time and never the acting master", () => {
        for (const set of ["segment-a", "segment-b"]) {
            expect(gke.object("PodDisruptionBudget", set).spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: { "app.kubernetes.io/name": "greenplum", "greenplum-k8s/set": set } } });
        }
        // Evicting the acting master stops the whole cluster: a drain (GKE auto-upgrade) waits for a failover instead.
        expect(gke.object("PodDisruptionBudget", "master").spec).toEqual({ maxUnavailable: 0, selector: { matchLabels: { "app.kubernetes.io/name": "greenplum", "greenplum-k8s/set": "master" } } });
        expect(podDisruptionBudgetArgs("master", "greenplum", false).spec).toMatchObject({ maxUnavailable: 1 });
    });

    test("data is kept: PVC retention Retain, sets retained on delete, the namespace protected", () => {
        for (const set of ["master", "segment-a", "segment-b"]) {
            expect(setSpec(gke, set).persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: "Retain", whenScaled: "Retain" });
            expect(gke.resource(STATEFUL_SET, set).options).toMatchObject({ protect: true, retainOnDelete: true, ignoreChanges: ["spec.volumeClaimTemplates"] });
        }
        expect(gke.resource("kubernetes:core/v1:Namespace", "namespace").options).toMatchObject({ protect: true, retainOnDelete: true });
        expect(gke.resource("kubernetes:core/v1:Secret", "admin").options.retainOnDelete).toBe(true);
    });

    test("a volume size change shows in the preview as an annotation, not a replacement", async () => {
        expect(gke.object("StatefulSet", "segment-a").metadata.annotations).toMatchObject({ "greenplum-k8s/volume-claim": "500Gi on greenplum-data" });
        // More than the OSDs hold: the Ceph capacity check must be told the pool over-commits.
        const bigger = await deploy("gke", { "greenplum-k8s:greenplum": { segments: { storage: "1Ti" } }, "greenplum-k8s:storage": { rookCeph: { overcommit: "yes" } } });
        expect(bigger.object("StatefulSet", "segment-a").metadata.annotations).toMatchObject({ "greenplum-k8s/volume-claim": "1Ti on greenplum-data" });
    });

    test("Greenplum pods run on the Greenplum pool, ahead of ordinary workloads, with resources derived from its machine type", () => {
        expect(podSpec(gke, "segment-a").nodeSelector).toEqual({ "greenplum-k8s/pool": "greenplum" });
        expect(podSpec(gke, "segment-a").priorityClassName).toBe("greenplum-k8s-database");
        expect(gke.object("PriorityClass", "greenplum-k8s-database")).toMatchObject({ value: 100000, globalDefault: false });
        expect(container(gke, "segment-a").resources).toEqual({ requests: { cpu: "1794m", memory: "14636Mi" }, limits: { cpu: "1794m", memory: "14636Mi" } });
    });

    test("an internal load balancer limited to the configured sources, keeping client addresses", () => {
        const service = gke.object("Service", "greenplum");
        expect(service.metadata.annotations).toEqual({ "networking.gke.io/load-balancer-type": "Internal", "pulumi.com/patchForce": "true" });
        expect(service.spec).toMatchObject({ type: "LoadBalancer", loadBalancerSourceRanges: ["10.0.0.0/8"], externalTrafficPolicy: "Local" });
    });

    test("the first up waits on the master set until a master is ready (the first init), within the init timeout", () => {
        expect(gke.object("StatefulSet", "master").metadata.annotations).toMatchObject({ "pulumi.com/waitFor": "jsonpath={.status.readyReplicas}" });
        expect(gke.object("StatefulSet", "master").metadata.annotations).not.toHaveProperty("pulumi.com/skipAwait");
        expect(gke.resource(STATEFUL_SET, "master").options.customTimeouts).toEqual({ create: "1980s", update: "600s", delete: "" });
        // A create that times out is explained (first-init.ts), never retried.
        expect(["master", "segment-a", "segment-b"].map((set) => gke.resource(STATEFUL_SET, set).options.onErrorHooks)).toEqual([["greenplum-first-init-diagnosis"], [], []]);
        // The client Service comes after the sets; its own await passes when no pod has an address at all.
        const client = gke.resource("kubernetes:core/v1:Service", "client");
        for (const set of ["master", "segment-a", "segment-b"]) expect(client.options.dependencies).toContain(gke.resource(STATEFUL_SET, set).urn);
        expect(gke.object("Service", "greenplum").spec).toMatchObject({ selector: expect.objectContaining({ "statefulset.kubernetes.io/pod-name": "master-0" }) });
    });

    test("greenplum.firstInitTimeoutMinutes replaces the computed init timeout", async () => {
        const quick = await deploy("gke", { "greenplum-k8s:greenplum": { firstInitTimeoutMinutes: 5 } });
        expect(quick.resource(STATEFUL_SET, "master").options.customTimeouts).toEqual({ create: "300s", update: "600s", delete: "" });
        expect(await configProblems("dev", { "greenplum-k8s:greenplum": { firstInitTimeoutMinutes: 0 } })).toEqual([
            "greenplum-k8s:greenplum.firstInitTimeoutMinutes: must be a whole number of minutes from 1 to 1440 (got 0)",
        ]);
    });

    test("segment sets never wait: an unready segment after a failover or a segment down must not fail an up", () => {
        for (const set of ["segment-a", "segment-b"]) {
            expect(gke.object("StatefulSet", set).metadata.annotations).toMatchObject({ "pulumi.com/skipAwait": "true" });
            expect(gke.resource(STATEFUL_SET, set).options.customTimeouts).toEqual({ create: "", update: "", delete: "" });
        }
    });

    test("a production destroy without the unprotect step deletes nothing of Greenplum's: every object is protected, or retained where upgrades replace it", () => {
        const greenplum = gke.ofType("greenplum-k8s:greenplum:GreenplumCluster")[0].urn;
        const children = gke.resources.filter((r) => r.custom && r.options.parent === greenplum);
        const unguarded = children.filter((r) => !r.options.protect && !r.options.retainOnDelete).map((r) => `${r.type} ${r.name}`);
        expect(unguarded).toEqual([]);
        // Replaced when their contents change (new scripts, keys or password): retained, not protected, so an up can replace them.
        const retainedOnly = children.filter((r) => !r.options.protect).map((r) => r.name).sort();
        expect(retainedOnly).toEqual(["admin", "scripts", "ssh"]);
        // The next up takes over what the destroy left, which another up's field manager applied.
        const notForced = children
            .filter((r) => r.type.startsWith("kubernetes:") && (r.inputs.metadata as { annotations?: Record<string, string> }).annotations?.["pulumi.com/patchForce"] !== "true")
            .map((r) => r.name);
        expect(notForced).toEqual([]);
        expect(children.length).toBeGreaterThan(15);
    });

    test("after a production destroy the next up adopts the retained objects instead of failing with AlreadyExists", () => {
        expect(gke.resource("pulumi:providers:kubernetes", "gke").inputs).toMatchObject({ enableServerSideApply: "true", upsertExistingObjects: "true" });
        for (const [type, name] of [["kubernetes:core/v1:Namespace", "namespace"], ["kubernetes:core/v1:Secret", "admin"], [STATEFUL_SET, "master"]]) {
            expect(gke.resource(type, name).options.retainOnDelete).toBe(true);
        }
    });

    test("a retained database's password can be handed back: greenplum.adminPassword replaces the random one, as a secret", async () => {
        const run = await deploy("gke", { "greenplum-k8s:greenplum": { adminPassword: "the-password-the-database-has" } });
        expect(run.ofType("random:index/randomPassword:RandomPassword")).toEqual([]);
        expect(unwrapSecrets(run.resource("kubernetes:core/v1:Secret", "admin").inputs.stringData)).toMatchObject({ password: "the-password-the-database-has" });
        expect(run.secretOutputs).toContain("password");
        expect(run.outputs.password).toBe("the-password-the-database-has");
        // The value is a secret: the message gives its length, never the value.
        expect(await configProblems("gke", { "greenplum-k8s:greenplum": { adminPassword: "short" } })).toEqual(["greenplum-k8s:greenplum.adminPassword: must be at least 16 characters (got a secret of 5 characters, not shown)"]);
    });

    test("in-cluster clients reach the master from labelled namespaces: Dataplane V2's ipBlock matches only outside addresses", () => {
        const ingress = (gke.object("NetworkPolicy", "greenplum-clients").spec as Spec).ingress[0];
        expect(ingress.from).toEqual([{ ipBlock: { cidr: "10.0.0.0/8" } }, { namespaceSelector: { matchLabels: { "greenplum-k8s/client": "true" } } }]);
        expect(ingress.ports).toEqual([{ protocol: "TCP", port: 5432 }]);
    });
});

describe("the acting master survives pulumi up and restarts", () => {
    test("the truth lives in a ConfigMap the failover command writes and pulumi up never reverts", async () => {
        const dev = await deploy("dev");
        expect(dev.object("ConfigMap", "greenplum-acting-master").data).toEqual({ "acting-master": "master-0" });
        expect(dev.resource("kubernetes:core/v1:ConfigMap", "acting-master").options.ignoreChanges).toEqual(["data"]);
        expect(dev.resource("kubernetes:core/v1:Service", "client").options.ignoreChanges).toEqual(["spec.selector"]);
        const master = podSpec(dev, "master");
        expect(master.volumes).toContainEqual({ name: "acting-master", configMap: { name: "greenplum-acting-master", defaultMode: 0o444 } });
        expect(container(dev, "master").volumeMounts).toContainEqual({ name: "acting-master", mountPath: "/etc/greenplum-k8s/acting-master", readOnly: true });
    });
});

describe("lifecycle: usable readiness, gentle liveness, a fast clean stop", () => {
    let dev: Deployment;
    beforeAll(async () => {
        dev = await deploy("dev");
    });

    test("probes and the preStop hook run the bootstrap scripts", () => {
        const c = container(dev, "master");
        expect(c.command).toEqual(["/bin/bash", "/opt/greenplum-k8s/scripts/entrypoint.sh"]);
        expect(c.readinessProbe.exec.command).toEqual(["/bin/bash", "/opt/greenplum-k8s/scripts/readiness.sh"]);
        expect(c.livenessProbe).toMatchObject({ exec: { command: ["/bin/bash", "/opt/greenplum-k8s/scripts/liveness.sh"] }, failureThreshold: 6 });
        expect(c.lifecycle.preStop.exec.command).toEqual(["/bin/bash", "/opt/greenplum-k8s/scripts/prestop.sh"]);
    });

    test("the grace period leaves room for the stop and is never 0", () => {
        for (const set of ["master", "segment-a"]) {
            const grace = podSpec(dev, set).terminationGracePeriodSeconds;
            const env = envOf(container(dev, set));
            const stop = Number(env.GP_STOP_TIMEOUT_SECONDS);
            // 120 s plus 5 s per primary segment (2 on dev).
            expect(stop).toBe(130);
            // The hook may spend the fast budget and then the immediate one; the kubelet must not kill it first.
            expect(grace).toBeGreaterThan(stop + Number(env.GP_STOP_IMMEDIATE_TIMEOUT_SECONDS));
        }
    });

    test("the scripts ConfigMap ships every script the pods call", () => {
        const scripts = dev.object("ConfigMap", "greenplum-scripts").data as Record<string, string>;
        for (const name of ["entrypoint.sh", "readiness.sh", "liveness.sh", "prestop.sh", "volume-guard.sh"]) expect(scripts[name]).toMatch(/^#!\/usr\/bin\/env bash|^#!\/bin\/bash/);
    });
});

describe("security", () => {
    let gke: Deployment;
    beforeAll(async () => {
        gke = await deploy("gke");
    });

    test('every container meets Pod Security "restricted": non-root, no escalation, no capabilities, RuntimeDefault seccomp', () => {
        for (const set of ["master", "segment-a", "segment-b"]) {
            const pod = podSpec(gke, set);
            expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1001, runAsGroup: 1001, fsGroup: 1001, seccompProfile: { type: "RuntimeDefault" } });
            expect(pod.automountServiceAccountToken).toBe(false);
            // ping (run by gpinitsystem/gpinitstandby) works without capabilities only for these groups.
            expect(pod.securityContext.sysctls).toEqual([{ name: "net.ipv4.ping_group_range", value: "1001 1001" }]);
            for (const c of [...pod.initContainers, ...pod.containers]) {
                expect(c.securityContext).toEqual({ runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" } });
            }
        }
        expect(gke.object("Namespace", "greenplum").metadata.labels).toMatchObject({ "pod-security.kubernetes.io/enforce": "restricted" });
    });

    test("the password comes from random, reaches pods only as a mounted Secret, and is secret in state", () => {
        expect(gke.resource("random:index/randomPassword:RandomPassword", "gpadmin-password").inputs).toMatchObject({ length: 32, special: false });
        const admin = gke.resource("kubernetes:core/v1:Secret", "admin");
        expect(maskSecrets(admin.inputs.stringData)).toEqual({ username: "[secret]", password: "[secret]" });
        for (const set of ["master", "segment-a", "segment-b"]) {
            for (const env of container(gke, set).env) {
                if (/PASS|SECRET|TOKEN|KEY/i.test(env.name)) expect(env.value).toBeUndefined();
                expect(String(env.value ?? "")).not.toContain("mock-password");
            }
        }
        expect(podSpec(gke, "master").volumes).toContainEqual({ name: "password", secret: { secretName: "greenplum-admin", defaultMode: 0o440, items: [{ key: "password", path: "password" }] } });
        expect(podSpec(gke, "segment-a").volumes.map((v: Spec) => v.name)).not.toContain("password");
    });

    test("SSH keys are generated by Pulumi (RSA user key, ED25519 host key) and stored in a Secret", () => {
        expect(gke.resource("tls:index/privateKey:PrivateKey", "ssh-user-key").inputs).toMatchObject({ algorithm: "RSA", rsaBits: 4096 });
        expect(gke.resource("tls:index/privateKey:PrivateKey", "ssh-host-key").inputs).toMatchObject({ algorithm: "ED25519" });
        expect(Object.keys(gke.object("Secret", "greenplum-ssh").stringData as object).sort()).toEqual(["id_rsa", "id_rsa.pub", "ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"]);
        expect(envOf(container(gke, "segment-a")).GP_SSH_PORT).toBe("2222");
    });
});

describe("config variations", () => {
    test("segment count, standby on dev, image, worker selectors and resources follow the config", async () => {
        const run = await deploy("dev", {
            "greenplum-k8s:greenplum": {
                image: "registry.example.com/warehousepg:6.27.4",
                masterAndStandby: { standby: "yes", cpu: "", memory: "" },
                segments: { primarySegmentCount: 6, workerSelector: { "node.example.com/disk": "nvme" }, cpu: "250m", memory: "1Gi" },
            },
        });
        expect(setSpec(run, "master").replicas).toBe(2);
        expect(setSpec(run, "segment-a").replicas).toBe(6);
        expect(container(run, "segment-a").image).toBe("registry.example.com/warehousepg:6.27.4");
        expect(podSpec(run, "segment-a").initContainers[0].image).toBe("registry.example.com/warehousepg:6.27.4");
        expect(podSpec(run, "segment-a").nodeSelector).toEqual({ "node.example.com/disk": "nvme" });
        expect(container(run, "segment-a").resources).toEqual({ requests: { cpu: "250m", memory: "1Gi" }, limits: { cpu: "250m", memory: "1Gi" } });
        expect(container(run, "master").resources).toEqual({});
        expect(envOf(container(run, "master"))).toMatchObject({ GP_STANDBY: "true", GP_PRIMARY_SEGMENT_COUNT: "6" });
    });

    test("extra pg_hba lines reach the master only", async () => {
        const run = await deploy("dev", { "greenplum-k8s:greenplum": { masterAndStandby: { hostBasedAuthentication: "host all etl 10.1.2.3/32 md5" } } });
        expect(envOf(container(run, "master")).GP_HBA_EXTRA).toBe("host all etl 10.1.2.3/32 md5");
        expect(envOf(container(run, "segment-a")).GP_HBA_EXTRA).toBeUndefined();
    });

    test("a LoadBalancer reports its address as host; ClusterIP services stay in-cluster", async () => {
        const run = await deploy("dev", { "greenplum-k8s:greenplum": { service: { type: "ClusterIP" }, database: "analytics" } });
        expect(run.object("Service", "greenplum").spec).not.toHaveProperty("externalTrafficPolicy");
        expect(run.outputs).toMatchObject({ host: "greenplum.greenplum.svc.cluster.local", database: "analytics" });
        expect(run.outputs.connectionUri).toMatch(/\/analytics$/);
    });

    test("the namespace is configurable and every Greenplum object follows it", async () => {
        const run = await deploy("dev", { "greenplum-k8s:greenplum": { namespace: "warehouse" } });
        const greenplumObjects = run.objects.filter((o) => (o.metadata.labels as Record<string, string> | undefined)?.["app.kubernetes.io/name"] === "greenplum" && !["Namespace", "PriorityClass"].includes(o.kind));
        expect(greenplumObjects.length).toBeGreaterThan(10);
        expect(greenplumObjects.every((o) => o.metadata.namespace === "warehouse")).toBe(true);
        expect(run.outputs.host).toBe("greenplum.warehouse.svc.cluster.local");
    });
});
