/**
 * The pod runner's own logic (test/e2e/runner), without Greenplum or root: what it reads from a
 * render, what it writes into pods, and its kubectl.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stringify } from "yaml";
import { fillMaskedSecrets } from "./e2e/runner/cluster";
import { jsonPath, matchesSelector, parseKubectl } from "./e2e/runner/kubectl";
import { lockMachine, unlockMachine } from "./e2e/runner/host";
import { clusterPlan, containerEnv, hostsFile, parseManifests, projectedFiles, restartBackoffSeconds, type ClusterPlan } from "./e2e/runner/spec";
import { kubernetesObjects } from "../tools/manifests";
import { deploy } from "./harness";

let ha: ClusterPlan;
beforeAll(async () => {
    const run = await deploy("dev", {
        "greenplum-k8s:greenplum": { masterAndStandby: { standby: true }, segments: { mirrors: true } },
    });
    const text = kubernetesObjects(run.resources).map((o) => stringify(o)).join("---\n");
    ha = clusterPlan(parseManifests(text), "greenplum");
});

describe("reading the render", () => {
    test("every StatefulSet pod with the controller's labels and claim names", () => {
        expect(ha.pods.map((p) => p.name).sort()).toEqual(["master-0", "master-1", "segment-a-0", "segment-a-1", "segment-b-0", "segment-b-1"]);
        const pod = ha.pods.find((p) => p.name === "segment-b-1");
        expect(pod?.labels).toMatchObject({ "greenplum-k8s/set": "segment-b", "statefulset.kubernetes.io/pod-name": "segment-b-1", "apps.kubernetes.io/pod-index": "1" });
        expect(pod?.claims).toEqual({ data: "data-segment-b-1" });
        expect(ha.headlessService).toBe("agent");
    });

    test("the pods' sysctls reach the runner (ping needs ping_group_range)", () => {
        expect(ha.pods[0].spec.securityContext?.sysctls).toEqual([{ name: "net.ipv4.ping_group_range", value: "1001 1001" }]);
    });

    test("a render with no StatefulSet in the namespace is refused by name", () => {
        expect(() => clusterPlan([], "analytics")).toThrow("the render has no StatefulSet in namespace analytics");
    });

    test("pod-spec features the runner does not emulate are refused by name, not ignored", () => {
        const set = {
            kind: "StatefulSet",
            metadata: { name: "segment-a", namespace: "gp" },
            spec: {
                serviceName: "agent",
                template: {
                    spec: {
                        containers: [{ name: "greenplum", startupProbe: { exec: { command: ["true"] } }, volumeMounts: [{ name: "data", mountPath: "/greenplum/conf", subPath: "conf" }] }],
                    },
                },
            },
        };
        expect(() => clusterPlan([set] as never, "gp")).toThrow(
            "StatefulSet segment-a uses what the pod runner does not emulate: startupProbe on container greenplum; subPath on container greenplum's mount /greenplum/conf",
        );
    });
});

describe("what the runner writes into pods", () => {
    test("/etc/hosts resolves each pod's headless-Service name first (reverse lookups), then its short name", () => {
        expect(hostsFile(new Map([["segment-a-0", "198.18.0.11"], ["master-0", "198.18.0.10"]]), "agent", "gp", "cluster.local")).toBe(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n198.18.0.10\tmaster-0.agent.gp.svc.cluster.local master-0\n198.18.0.11\tsegment-a-0.agent.gp.svc.cluster.local segment-a-0\n",
        );
    });

    test("environment: image defaults, then the spec in order, fieldRefs and $(VAR) references resolved", () => {
        const pod = ha.pods.find((p) => p.name === "master-1");
        if (!pod) throw new Error("no master-1");
        const env = containerEnv(
            { name: "c", env: [{ name: "A", value: "x" }, { name: "B", value: "$(A)-$(MISSING)" }, { name: "NS", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } }, { name: "IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } }] },
            { pod, podIP: "198.18.0.20", configMaps: ha.configMaps, secrets: ha.secrets },
            { PATH: "/usr/bin", A: "image" },
        );
        expect(env).toEqual({ PATH: "/usr/bin", A: "x", HOSTNAME: "master-1", B: "x-$(MISSING)", NS: "greenplum", IP: "198.18.0.20" });
    });

    test("ConfigMap and Secret volumes: only the listed items, with their modes", () => {
        const master = ha.pods.find((p) => p.name === "master-0");
        const password = master?.spec.volumes?.find((v) => v.name === "password");
        if (!password) throw new Error("no password volume");
        expect(projectedFiles(password, { configMaps: new Map(), secrets: new Map([["greenplum-admin", { username: "gpadmin", password: "pw" }]]) })).toEqual([{ path: "password", content: "pw", mode: 0o440 }]);
        expect(() => projectedFiles(password, { configMaps: new Map(), secrets: new Map() })).toThrow("volume password: Secret greenplum-admin does not exist");
    });

    test("masked secrets get what pulumi up would give them: known values, real ssh key pairs, a kept random password", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpk-keys-"));
        const plan = { ...ha, secrets: new Map<string, Record<string, string>>([["greenplum-admin", { username: "[secret]", password: "[secret]" }], ["greenplum-ssh", { id_rsa: "[secret]", "id_rsa.pub": "[secret]" }]]) };
        fillMaskedSecrets(plan, dir, { username: "gpadmin" });
        const admin = plan.secrets.get("greenplum-admin");
        expect(admin?.username).toBe("gpadmin");
        expect(admin?.password).toMatch(/^[A-Za-z0-9_-]{24}$/);
        expect(plan.secrets.get("greenplum-ssh")?.id_rsa).toContain("BEGIN OPENSSH PRIVATE KEY");
        expect(plan.secrets.get("greenplum-ssh")?.["id_rsa.pub"]).toMatch(/^ssh-rsa /);
        // A second run (the pods restarted on the same claims) keeps the password the database has.
        const again = { ...ha, secrets: new Map<string, Record<string, string>>([["greenplum-admin", { username: "[secret]", password: "[secret]" }]]) };
        fillMaskedSecrets(again, dir, { username: "gpadmin" });
        expect(again.secrets.get("greenplum-admin")?.password).toBe(admin?.password);
        fs.rmSync(dir, { recursive: true, force: true });
    });

    test("crash-loop back-off: immediate first restart, then 10 s doubling to 300 s", () => {
        expect([0, 1, 2, 3, 5, 6, 10].map(restartBackoffSeconds)).toEqual([0, 10, 20, 40, 160, 300, 300]);
    });
});

describe("the runner's kubectl", () => {
    test("parses what gp-failover sends", () => {
        expect(parseKubectl(["--namespace", "gp", "exec", "master-1", "--", "bash", "/x/ctl.sh", "role"])).toEqual({ namespace: "gp", verb: "exec", args: ["master-1"], flags: { "--namespace": "gp" }, command: ["bash", "/x/ctl.sh", "role"] });
        expect(parseKubectl(["get", "pods", "-l", "a in (b,c)", "-o=jsonpath={.items[*].metadata.name}"]).flags).toEqual({ "-l": "a in (b,c)", "-o": "jsonpath={.items[*].metadata.name}" });
    });

    test("JSONPath: keys with dashes, lists and filters", () => {
        const object = { data: { "acting-master": "master-1" }, items: [{ metadata: { name: "a" } }, { metadata: { name: "b" } }], status: { conditions: [{ type: "Ready", status: "True" }] } };
        expect(jsonPath(object, "{.data.acting-master}")).toBe("master-1");
        expect(jsonPath(object, "{.items[*].metadata.name}")).toBe("a b");
        expect(jsonPath(object, '{.status.conditions[?(@.type=="Ready")].status}')).toBe("True");
    });

    test("label selectors: equality, set-based and existence", () => {
        const labels = { "greenplum-k8s/set": "segment-b", app: "gp" };
        expect(matchesSelector("greenplum-k8s/set in (segment-a,segment-b)", labels)).toBe(true);
        expect(matchesSelector("greenplum-k8s/set in (segment-a),app=gp", labels)).toBe(false);
        expect(matchesSelector("app!=gp", labels)).toBe(false);
        expect(matchesSelector("app,!missing", labels)).toBe(true);
    });
});

describe("one runner per machine", () => {
    test("a live runner's lock refuses a second one, naming it; a dead holder's lock is taken over", () => {
        const lock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "gpk-lock-")), "lock");
        // PID 1 is always alive: another runner holds the machine.
        fs.writeFileSync(lock, "1 /var/tmp/greenplum-k8s-e2e/cluster\n");
        expect(() => lockMachine("/var/tmp/other", lock)).toThrow("another pod runner (pid 1, work dir /var/tmp/greenplum-k8s-e2e/cluster) is using this machine's gpk-br0");
        // A holder that exited (no such pid) leaves a lock anyone may take.
        fs.writeFileSync(lock, "2147483646 /var/tmp/gone\n");
        lockMachine("/var/tmp/other", lock);
        expect(fs.readFileSync(lock, "utf8")).toBe(`${process.pid} /var/tmp/other\n`);
        unlockMachine(lock);
        expect(fs.existsSync(lock)).toBe(false);
    });
});
