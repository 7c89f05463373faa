import * as fs from "fs";
import * as path from "path";
import { effectiveEnforcement, evaluatePack, formatViolations, readPackConfig, type RenderedResource } from "../../policy/evaluate";
import { allPolicies } from "../../policy/policies";
import { T, greenplumStatefulSet, networkPolicy, productionStack } from "./helpers";

const POLICY_DIR = path.join(__dirname, "../../policy");

/** The dev shape: one master, segment-a only, NodePort, host-path storage, nothing protected. */
function devStack(): RenderedResource[] {
    return [
        {
            type: T.storageClass,
            name: "greenplum-data",
            inputs: { metadata: { name: "greenplum-data", labels: { "greenplum-k8s/data-storage-class": "true" } }, provisioner: "rancher.io/local-path", reclaimPolicy: "Delete" },
        },
        { type: T.statefulSet, name: "master", inputs: greenplumStatefulSet("master", 1) },
        { type: T.statefulSet, name: "segment-a", inputs: greenplumStatefulSet("segment-a", 2) },
        { type: T.networkPolicy, name: "greenplum-netpol", inputs: networkPolicy() },
        { type: T.service, name: "greenplum", inputs: { metadata: { name: "greenplum", namespace: "greenplum" }, spec: { type: "NodePort" } } },
    ];
}

describe("the pack", () => {
    it("has unique names, a description and an enforcement level for every policy", () => {
        const names = allPolicies.map((p) => p.name);
        expect(new Set(names).size).toBe(names.length);
        for (const p of allPolicies) {
            expect(p.description.length).toBeGreaterThan(20);
            expect(["advisory", "mandatory"]).toContain(p.enforcementLevel);
        }
    });

    it.each(["dev", "production"])("%s.json names only real policies and settings from their schemas", (name) => {
        const config = readPackConfig(name);
        for (const [key, entry] of Object.entries(config)) {
            if (key === "all") continue;
            const policy = allPolicies.find((p) => p.name === key);
            expect(policy).toBeDefined();
            if (typeof entry === "object") {
                for (const setting of Object.keys(entry).filter((k) => k !== "enforcementLevel")) {
                    expect(Object.keys(policy!.configSchema?.properties ?? {})).toContain(setting);
                }
            }
        }
    });

    it("production.json sets production: true on every policy that has the switch", () => {
        const config = readPackConfig("production");
        const switched = allPolicies.filter((p) => p.configSchema?.properties.production).map((p) => p.name);
        expect(switched.length).toBeGreaterThan(5);
        for (const name of switched) expect(config[name]).toMatchObject({ production: true });
    });

    it("keeps rule modules free of the policy server: nothing under policy/ imports index.ts", () => {
        const files = ["evaluate.ts", "policies.ts", ...fs.readdirSync(path.join(POLICY_DIR, "rules")).map((f) => `rules/${f}`)];
        for (const file of files) {
            const text = fs.readFileSync(path.join(POLICY_DIR, file), "utf8");
            expect(text).not.toMatch(/from "\.\.?(\/index)?"/);
            if (file.startsWith("rules/")) expect(text).not.toMatch(/^import (?!type)[^;]*from "@pulumi\/policy"/m);
        }
    });
});

describe("evaluatePack", () => {
    it("passes a compliant production stack under production.json", () => {
        const violations = evaluatePack(productionStack(), readPackConfig("production"));
        expect(formatViolations(violations)).toBe("");
    });

    it("passes a dev-shaped stack under dev.json but not under production.json", () => {
        expect(formatViolations(evaluatePack(devStack(), readPackConfig("dev")))).toBe("");
        const production = evaluatePack(devStack(), readPackConfig("production"));
        const failed = new Set(production.map((v) => v.policy));
        expect([...failed].sort()).toEqual(
            [
                "greenplum-data-storage-class",
                "greenplum-master-standby",
                "greenplum-pod-disruption-budget",
                "greenplum-replacement-opt-in",
                "greenplum-segment-mirrors",
            ].sort(),
        );
        expect(production.every((v) => v.enforcementLevel === "mandatory")).toBe(true);
    });

    it("reports policy, resource, URN and level for resource and stack violations", () => {
        const stack = productionStack();
        const segmentA = stack.find((r) => r.name === "segment-a")!;
        segmentA.inputs = greenplumStatefulSet("segment-a", 4);
        (segmentA.inputs as { spec: { template: { spec: { terminationGracePeriodSeconds: number } } } }).spec.template.spec.terminationGracePeriodSeconds = 0;
        const withoutNetpol = stack.filter((r) => r.type !== T.networkPolicy);
        const violations = evaluatePack(withoutNetpol, { "greenplum-network-policy": "advisory" });
        expect(violations).toContainEqual({
            policy: "greenplum-termination-grace",
            resource: "segment-a",
            type: T.statefulSet,
            urn: "urn:pulumi:offline::greenplum-k8s::kubernetes:apps/v1:StatefulSet::segment-a",
            message: expect.stringContaining("(found 0)"),
            enforcementLevel: "mandatory",
        });
        const netpol = violations.filter((v) => v.policy === "greenplum-network-policy");
        expect(netpol.map((v) => v.resource).sort()).toEqual(["master", "segment-a", "segment-b"]);
        expect(netpol.every((v) => v.enforcementLevel === "advisory" && v.type === T.statefulSet)).toBe(true);
    });

    it("skips disabled policies and applies per-policy settings", () => {
        const stack = productionStack();
        const segmentA = stack.find((r) => r.name === "segment-a")!;
        (segmentA.inputs as { spec: { template: { spec: { terminationGracePeriodSeconds?: number } } } }).spec.template.spec.terminationGracePeriodSeconds = 60;
        expect(evaluatePack(stack, {}).map((v) => v.policy)).toEqual(["greenplum-termination-grace"]);
        expect(evaluatePack(stack, { "greenplum-termination-grace": "disabled" })).toEqual([]);
        expect(evaluatePack(stack, { "greenplum-termination-grace": { minTerminationGracePeriodSeconds: 60 } })).toEqual([]);
    });

    it("resolves enforcement as the engine does: the policy's own entry, then all, then the default", () => {
        const grace = allPolicies.find((p) => p.name === "greenplum-termination-grace")!;
        const mirrors = allPolicies.find((p) => p.name === "greenplum-segment-mirrors")!;
        expect(effectiveEnforcement(grace, {})).toBe("mandatory");
        expect(effectiveEnforcement(mirrors, {})).toBe("advisory");
        expect(effectiveEnforcement(mirrors, { all: "mandatory", "greenplum-segment-mirrors": { production: true } })).toBe("mandatory");
        expect(effectiveEnforcement(grace, { all: "mandatory", "greenplum-termination-grace": { enforcementLevel: "advisory" } })).toBe("advisory");
        expect(effectiveEnforcement(grace, { "greenplum-termination-grace": "remediate" })).toBe("mandatory");
    });
});
