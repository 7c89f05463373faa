import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseAllDocuments } from "yaml";
import { kubernetesObjects } from "../tools/manifests";
import { parseArgs, render, UsageError } from "../tools/render";
import { readStackFile } from "../tools/stack-file";

const root = path.join(__dirname, "..");
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "render-"));

function renderCli(args: string[]) {
    return spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "tools/render.ts", ...args], { cwd: root, encoding: "utf8" });
}

describe("render command line", () => {
    test("flags are checked before anything runs", () => {
        expect(() => parseArgs(["--stack", "dev"])).toThrow(/--out is required/);
        expect(() => parseArgs(["--stakc", "dev", "--out", "d"])).toThrow(new UsageError('unknown argument "--stakc"\nusage: npm run render -- --stack <name> [--config <file>] --out <dir>'));
        expect(() => parseArgs(["--stack", "nosuch", "--out", "d"])).toThrow(/Pulumi\.nosuch\.yaml does not exist/);
        expect(parseArgs(["--stack", "gke", "--out", "d"])).toEqual({ stack: "gke", configFile: path.join(root, "Pulumi.gke.yaml"), out: "d" });
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
        await render({ stack, configFile: path.join(root, `Pulumi.${stack}.yaml`), out });
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

    test("writes resources.json with every Pulumi resource: type, name, urn and inputs", () => {
        const resources = JSON.parse(fs.readFileSync(path.join(out, "resources.json"), "utf8"));
        for (const r of resources) expect(Object.keys(r)).toEqual(["type", "name", "urn", "inputs"]);
        const types = resources.map((r: { type: string }) => r.type);
        expect(types).toContain("greenplum-k8s:greenplum:GreenplumCluster");
        expect(types).toContain("random:index/randomPassword:RandomPassword");
        if (stack === "gke") {
            expect(types).toContain("gcp:container/cluster:Cluster");
            expect(types.filter((t: string) => t === "kubernetes:helm.sh/v4:Chart")).toHaveLength(2);
        }
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
            expect(text).not.toContain("PRIVATE KEY");
        }
        const manifests = fs.readFileSync(path.join(out, "manifests.yaml"), "utf8");
        expect(manifests).toContain("password: \"[secret]\"");
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

    test("an object without an explicit name fails loudly", () => {
        const resource = { type: "kubernetes:core/v1:ConfigMap", name: "cm", urn: "u", custom: true, inputs: { apiVersion: "v1", kind: "ConfigMap", metadata: { namespace: "x" } } };
        expect(() => kubernetesObjects([resource as never])).toThrow('kubernetes:core/v1:ConfigMap "cm" has no explicit metadata.name: give every Kubernetes object a stable name');
    });
});
