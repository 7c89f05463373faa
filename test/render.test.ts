import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseAllDocuments } from "yaml";
import { kubernetesObjects } from "../tools/manifests";
import { archiveOf, chartObjects, expandCharts, templateArgs } from "../tools/charts";
import { findHelm, readZipEntry } from "../tools/helm-binary";
import { formatAsPreview } from "../tools/policy";
import { DEFAULT_CHARTS_DIR, durationSeconds, HelpRequested, parseArgs, render, USAGE, UsageError } from "../tools/render";
import { readStackFile } from "../tools/stack-file";
import { parseStackConfig } from "../stacks";

const root = path.join(__dirname, "..");
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "render-"));

function renderCli(args: string[]) {
    return spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "tools/render.ts", ...args], { cwd: root, encoding: "utf8" });
}

describe("render command line", () => {
    test("flags are checked before anything runs", () => {
        expect(() => parseArgs(["--stack", "dev"])).toThrow(/--out is required/);
        expect(() => parseArgs(["--stakc", "dev", "--out", "d"])).toThrow(new UsageError(`unknown argument "--stakc"\n${USAGE}`));
        expect(() => parseArgs(["--stack", "nosuch", "--out", "d"])).toThrow(/Pulumi\.nosuch\.yaml does not exist/);
        expect(parseArgs(["--stack", "gke", "--out", "d"], {})).toEqual({
            stack: "gke",
            configFile: path.join(root, "Pulumi.gke.yaml"),
            out: "d",
            chartsDir: path.join(root, "..", "shared", "reference", "charts"),
            chartsFromRepositories: false,
        });
    });

    test("the charts folder comes from --charts, else $GREENPLUM_K8S_CHARTS, else ../shared/reference/charts", () => {
        expect(parseArgs(["--stack", "gke", "--out", "d", "--charts", "/a"], { GREENPLUM_K8S_CHARTS: "/b" }).chartsDir).toBe("/a");
        expect(parseArgs(["--stack", "gke", "--out", "d"], { GREENPLUM_K8S_CHARTS: "/b" }).chartsDir).toBe("/b");
        expect(parseArgs(["--stack", "gke", "--out", "d"], {}).chartsDir).toBe(DEFAULT_CHARTS_DIR);
        expect(parseArgs(["--stack", "gke", "--out", "d", "--charts-from-repositories", "--kube-version", "1.33.0"], {})).toMatchObject({ chartsFromRepositories: true, kubeVersion: "1.33.0" });
    });

    test("--help prints the usage and exits 0", () => {
        expect(() => parseArgs(["--help"])).toThrow(HelpRequested);
        const result = renderCli(["--help"]);
        expect(result.status).toBe(0);
        expect(result.stdout).toContain("usage: npm run render -- (--stack <name> | --config <file>) --out <dir> [options]");
        expect(result.stdout).toContain("--charts-from-repositories");
    });

    test("an invalid --config file exits 1 and names every bad key path on stderr", () => {
        const dir = tmp();
        const file = path.join(dir, "Pulumi.broken.yaml");
        fs.writeFileSync(file, "config:\n  greenplum-k8s:target:\n    kind: minikube\n  greenplum-k8s:greenplum:\n    segmnts: {}\n    segments:\n      primarySegmentCount: zero\n  greenplum-k8s:storage:\n    backend: nfs\n");
        const result = renderCli(["--config", file, "--out", path.join(dir, "out")]);
        expect(result.status).toBe(1);
        for (const key of ["greenplum.segmnts", "greenplum.segments.primarySegmentCount", "storage.nfs.server", "storage.nfs.share", "storage.nfs.allowGreenplumData"]) {
            expect(result.stderr).toContain(`greenplum-k8s:${key}:`);
        }
        expect(fs.existsSync(path.join(dir, "out"))).toBe(false);
    });

    test("keys under a look-alike config namespace are named in a warning on stderr", () => {
        const dir = tmp();
        const file = path.join(dir, "Pulumi.typo.yaml");
        fs.writeFileSync(file, "config:\n  greenplum-k8s:target:\n    kind: minikube\n  greenplum_k8s:greenplum:\n    database: analytics\n");
        const result = renderCli(["--config", file, "--out", path.join(dir, "out")]);
        expect(result.status).toBe(0);
        expect(result.stderr).toContain('warning: greenplum_k8s:greenplum: ignored: the config namespace "greenplum_k8s" is not "greenplum-k8s"; rename the key to greenplum-k8s:greenplum');
    });

    test("npm run policy prints violations as pulumi preview does and exits 1 on a mandatory one", () => {
        const dir = tmp();
        const file = path.join(dir, "Pulumi.open.yaml");
        const gke = fs.readFileSync(path.join(root, "Pulumi.gke.yaml"), "utf8").replace("cidrBlock: 203.0.113.0/24", "cidrBlock: 0.0.0.0/0");
        fs.writeFileSync(file, gke);
        const policy = (args: string[]) => spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "tools/policy.ts", ...args], { cwd: root, encoding: "utf8" });
        const open = policy(["--config", file, "--charts", path.join(dir, "none")]);
        expect(open.status).toBe(1);
        expect(open.stdout).toContain("policy config: production\nPolicies:\n    ❌ greenplum-k8s@v0.1.0 (local: policy)\n        - [mandatory]  gke-control-plane-not-open  (gcp:container/cluster:Cluster: cluster)\n");
        expect(open.stdout).toContain("          GKE cluster greenplum: masterAuthorizedNetworksConfig lets 0.0.0.0/0 reach the control plane");
        expect(formatAsPreview([], "policy")).toBe("Policies:\n    ✅ greenplum-k8s@v0.1.0 (local: policy)");
    });

    test("a bad flag exits 2 with the usage", () => {
        const result = renderCli(["--stack", "dev"]);
        expect(result.status).toBe(2);
        expect(result.stderr).toContain("usage: npm run render");
    });
});

describe.each(["dev", "gke"])("render of the %s stack", (stack) => {
    let out: string;
    beforeAll(async () => {
        out = tmp();
        // Without ../shared's archives (a CI elsewhere) the charts come from their repositories.
        const fromRepositories = fs.existsSync(DEFAULT_CHARTS_DIR) ? [] : ["--charts-from-repositories"];
        await render(parseArgs(["--stack", stack, "--out", out, ...fromRepositories], {}));
    });

    test("writes manifests.yaml: named, namespaced objects in registration order", () => {
        const docs = parseAllDocuments(fs.readFileSync(path.join(out, "manifests.yaml"), "utf8")).map((d) => d.toJSON());
        expect(docs.length).toBeGreaterThan(15);
        for (const doc of docs) {
            expect(typeof doc.apiVersion).toBe("string");
            expect(typeof doc.kind).toBe("string");
            expect(doc.metadata.name).toMatch(/^[a-z0-9]/);
        }
        const kinds = docs.map((d) => `${d.kind}/${d.metadata.name}`);
        expect(kinds.indexOf("Namespace/greenplum")).toBeLessThan(kinds.indexOf("StatefulSet/master"));
        expect(docs.filter((d) => d.kind === "StatefulSet").every((d) => d.metadata.namespace === "greenplum")).toBe(true);
    });

    test("writes resources.json with every Pulumi resource: type, name, urn, inputs and the options a policy sees", () => {
        const resources = JSON.parse(fs.readFileSync(path.join(out, "resources.json"), "utf8"));
        for (const r of resources) {
            expect(Object.keys(r)).toEqual(["type", "name", "urn", "inputs", "opts"]);
            expect(Object.keys(r.opts)).toEqual(expect.arrayContaining(["protect", "retainOnDelete", "ignoreChanges", "deleteBeforeReplace", "aliases", "customTimeouts"]));
        }
        const master = resources.find((r: { type: string; name: string }) => r.type === "kubernetes:apps/v1:StatefulSet" && r.name === "master");
        expect(master.opts.protect).toBe(stack === "gke");
        expect(master.opts.ignoreChanges.length).toBeGreaterThan(0);
        const types = resources.map((r: { type: string }) => r.type);
        expect(types).toContain("greenplum-k8s:greenplum:GreenplumCluster");
        expect(types).toContain("random:index/randomPassword:RandomPassword");
        if (stack === "gke") {
            expect(types).toContain("gcp:container/cluster:Cluster");
            expect(types.filter((t: string) => t === "kubernetes:helm.sh/v4:Chart")).toHaveLength(2);
        }
    });

    test("manifests.yaml holds the charts' objects: CRDs, the operators, their RBAC and the CSI Driver", () => {
        const docs = parseAllDocuments(fs.readFileSync(path.join(out, "manifests.yaml"), "utf8")).map((d) => d.toJSON());
        const ids = docs.map((d) => `${d.kind}/${d.metadata.namespace ? `${d.metadata.namespace}/` : ""}${d.metadata.name}`);
        if (stack === "dev") {
            expect(ids.some((id) => id.startsWith("CustomResourceDefinition/"))).toBe(false);
            return;
        }
        expect(ids).toEqual(
            expect.arrayContaining([
                "CustomResourceDefinition/cephclusters.ceph.rook.io",
                "CustomResourceDefinition/drivers.csi.ceph.io",
                "Deployment/rook-ceph/rook-ceph-operator",
                "Deployment/rook-ceph/ceph-csi-controller-manager",
                "ClusterRole/rook-ceph-system",
                "Driver/rook-ceph/rook-ceph.rbd.csi.ceph.com",
            ]),
        );
        // The chart's values arrive: the operator runs on the Ceph pool like the rest of Ceph.
        const operator = docs.find((d) => d.kind === "Deployment" && d.metadata.name === "rook-ceph-operator");
        expect(operator.spec.template.spec.nodeSelector).toEqual({ "greenplum-k8s/pool": "ceph" });
        // Children are resources too, under the chart, with Helm's keep policy as retainOnDelete.
        const resources = JSON.parse(fs.readFileSync(path.join(out, "resources.json"), "utf8"));
        const crd = resources.find((r: { name: string }) => r.name === "rook-ceph-operator:cephclusters.ceph.rook.io");
        expect(crd.urn).toBe(`urn:pulumi:gke::greenplum-k8s::greenplum-k8s:storage:Storage$kubernetes:helm.sh/v4:Chart$kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition::rook-ceph-operator:cephclusters.ceph.rook.io`);
        expect(crd.opts.retainOnDelete).toBe(true);
    });

    test("writes outputs.json with the stack outputs, secrets as [secret]", () => {
        const outputs = JSON.parse(fs.readFileSync(path.join(out, "outputs.json"), "utf8"));
        expect(outputs).toMatchObject({ port: 5432, database: "gpadmin", username: "gpadmin", namespace: "greenplum", storageClassName: "greenplum-data", password: "[secret]", connectionUri: "[secret]" });
        expect(outputs.kubeconfig).toBe(stack === "gke" ? "[secret]" : undefined);
    });

    test("no secret value appears in any file", () => {
        for (const file of ["manifests.yaml", "resources.json", "outputs.json"]) {
            const text = fs.readFileSync(path.join(out, file), "utf8");
            expect(text).not.toContain("mock-password");
            expect(text).not.toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
        }
        const manifests = fs.readFileSync(path.join(out, "manifests.yaml"), "utf8");
        expect(manifests).toContain("password: \"[secret]\"");
    });
});

describe("charts", () => {
    const chart = {
        type: "kubernetes:helm.sh/v4:Chart",
        name: "rook-ceph-operator",
        urn: "u",
        custom: false,
        inputs: { chart: "rook-ceph", version: "v1.20.6", namespace: "rook-ceph", values: {} },
        options: {} as never,
    };

    test("helm template gets the release name, namespace, CRDs and no hooks, as pulumi-kubernetes' v4 Chart sets them", () => {
        expect(templateArgs(chart, { archive: "a.tgz" }, "v.json")).toEqual(["template", "rook-ceph-operator", "a.tgz", "--namespace", "rook-ceph", "--include-crds", "--no-hooks", "--values", "v.json"]);
        const named = { ...chart, inputs: { ...chart.inputs, name: "rook", skipCrds: true } };
        expect(templateArgs(named, { repo: "https://charts.example" }, "v.json", "1.33.0")).toEqual([
            "template", "rook", "rook-ceph", "--repo", "https://charts.example", "--version", "v1.20.6", "--namespace", "rook-ceph", "--no-hooks", "--values", "v.json", "--kube-version", "1.33.0",
        ]);
    });

    test("archives are found with or without the v in the version", () => {
        const dir = tmp();
        fs.writeFileSync(path.join(dir, "ceph-csi-drivers-1.0.4.tgz"), "");
        expect(archiveOf(dir, "ceph-csi-drivers", "v1.0.4")).toBe(path.join(dir, "ceph-csi-drivers-1.0.4.tgz"));
        expect(archiveOf(dir, "ceph-csi-drivers", "1.0.5")).toBeUndefined();
    });

    test("namespaced objects without a namespace get the chart's; cluster-scoped ones (CRD scope included) do not", () => {
        const manifest = [
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa}",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: other}",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: cr}",
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec: {scope: Cluster, names: {kind: Widget}}",
            "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}",
        ].join("\n---\n");
        expect(chartObjects(manifest, "rook-ceph").map((o) => `${o.kind}:${o.metadata.namespace ?? "-"}`)).toEqual([
            "ServiceAccount:rook-ceph",
            "ConfigMap:other",
            "ClusterRole:-",
            "CustomResourceDefinition:-",
            "Widget:-",
        ]);
    });

    test("without an archive or helm the render says which charts it left unexpanded", () => {
        const dir = tmp();
        const result = renderCli(["--stack", "gke", "--out", path.join(dir, "out"), "--charts", path.join(dir, "none")]);
        expect(result.status).toBe(0);
        expect(result.stdout).toContain(`chart rook-ceph v1.20.6 (rook-ceph-operator) LEFT UNEXPANDED (its objects are not in manifests.yaml): no archive rook-ceph-v1.20.6.tgz in ${path.join(dir, "none")}`);
        expect(result.stdout).toContain("chart ceph-csi-drivers 1.0.4 (ceph-csi-drivers) LEFT UNEXPANDED");
        const noHelm = expandCharts([chart], { helm: findHelm({ HELM: path.join(dir, "no-such-helm") }), chartsDir: DEFAULT_CHARTS_DIR, fromRepositories: false });
        expect(noHelm.unexpanded.map((u) => u.reason)).toEqual([`$HELM (${path.join(dir, "no-such-helm")}) does not run`]);
    });

    test("the zip reader returns an entry's bytes, stored or deflated", () => {
        // A zip (made by Python's zipfile) with a stored entry "a.txt" = "hi" and a deflated "b.txt" = "hello hello hello".
        const zip = Buffer.from(
            "UEsDBBQAAAAAAAAAIUisKpPYAgAAAAIAAAAFAAAAYS50eHRoaVBLAwQUAAAACAAAACFIgIj55QoAAAARAAAABQAAAGIudHh0y0jNyclXyECQAFBLAQIUAxQAAAAAAAAAIUisKpPYAgAAAAIAAAAFAAAAAAAAAAAAAACAAQAAAABhLnR4dFBLAQIUAxQAAAAIAAAAIUiAiPnlCgAAABEAAAAFAAAAAAAAAAAAAACAASUAAABiLnR4dFBLBQYAAAAAAgACAGYAAABSAAAAAAA=",
            "base64",
        );
        expect(readZipEntry(zip, "a.txt").toString()).toBe("hi");
        expect(readZipEntry(zip, "b.txt").toString()).toBe("hello hello hello");
        expect(() => readZipEntry(zip, "c.txt")).toThrow("zip has no entry c.txt");
    });

    test("custom timeouts are read as the engine reads Go durations", () => {
        expect(durationSeconds("10m")).toBe(600);
        expect(durationSeconds("1h30m5s")).toBe(5405);
        expect(durationSeconds("")).toBe(0);
    });
});

describe("stack files and manifests", () => {
    test("secure: values can't be decrypted offline: they become [secret] and their keys are secret", () => {
        const dir = tmp();
        const file = path.join(dir, "Pulumi.s.yaml");
        fs.writeFileSync(file, "config:\n  gcp:project: p\n  greenplum-k8s:greenplum:\n    database: analytics\n  token:\n    secure: v1:abc\n");
        expect(readStackFile(file)).toEqual({
            config: { "gcp:project": "p", "greenplum-k8s:greenplum": '{"database":"analytics"}', "greenplum-k8s:token": "[secret]" },
            secretKeys: ["greenplum-k8s:token"],
        });
    });

    test("a password set as the README's Destroying runbook says (config set --secret --path) passes offline: its length is checked at up, where it is decrypted", () => {
        const file = path.join(tmp(), "Pulumi.gke.yaml");
        const shipped = fs.readFileSync(path.join(__dirname, "..", "Pulumi.gke.yaml"), "utf8");
        fs.writeFileSync(file, shipped.replace("  greenplum-k8s:greenplum:\n", "  greenplum-k8s:greenplum:\n    adminPassword:\n      secure: v1:c2FsdA==:v1:AAAA\n"));
        const { config } = readStackFile(file);
        expect(JSON.parse(config["greenplum-k8s:greenplum"]).adminPassword).toBe("[secret]");
        expect(parseStackConfig(config).greenplum.adminPassword).toBe("[secret]");
    });

    test("a refused render removes the earlier render's files from --out and says so", async () => {
        const out = tmp();
        for (const file of ["manifests.yaml", "resources.json", "outputs.json", "notes.txt"]) fs.writeFileSync(path.join(out, file), "from an earlier render\n");
        const file = path.join(tmp(), "Pulumi.bad.yaml");
        fs.writeFileSync(file, "config:\n  greenplum-k8s:profile: staging\n");
        await expect(render(parseArgs(["--config", file, "--out", out]))).rejects.toThrow(
            `(removed the earlier render's manifests.yaml, resources.json, outputs.json from ${out}: they were not made from this config)`,
        );
        expect(fs.readdirSync(out)).toEqual(["notes.txt"]);
    });

    test("an object without an explicit name fails loudly", () => {
        const resource = { type: "kubernetes:core/v1:ConfigMap", name: "cm", urn: "u", custom: true, inputs: { apiVersion: "v1", kind: "ConfigMap", metadata: { namespace: "x" } } };
        expect(() => kubernetesObjects([resource as never])).toThrow('kubernetes:core/v1:ConfigMap "cm" has no explicit metadata.name: give every Kubernetes object a stable name');
    });
});
