import { evaluatePack, formatViolations, readPackConfig } from "../../policy/evaluate";
import { unwrapSecrets } from "../../tools/mock-runtime";
import { deploy, type Deployment } from "../harness";

/** What the policy engine would see in a preview of the stack: every resource with its inputs and options. */
function previewOf(run: Deployment) {
    return run.resources.map((r) => ({
        type: r.type,
        name: r.name,
        urn: r.urn,
        inputs: unwrapSecrets(r.inputs) as Record<string, unknown>,
        opts: { protect: r.options.protect, ignoreChanges: r.options.ignoreChanges, deleteBeforeReplace: r.options.deleteBeforeReplace },
    }));
}

describe("the stacks as shipped pass the whole policy pack", () => {
    test("dev passes under policy/dev.json", async () => {
        const violations = evaluatePack(previewOf(await deploy("dev")), readPackConfig("dev"));
        expect(formatViolations(violations)).toBe("");
    });

    test("gke passes under policy/production.json, every rule mandatory", async () => {
        const violations = evaluatePack(previewOf(await deploy("gke")), readPackConfig("production"));
        expect(formatViolations(violations)).toBe("");
    });

    test("a production config change that drops mirrors is refused by the pack", async () => {
        const run = await deploy("gke", { "greenplum-k8s:greenplum": { segments: { mirrors: "no", antiAffinity: "no" }, masterAndStandby: { antiAffinity: "no" } } });
        const violations = evaluatePack(previewOf(run), readPackConfig("production")).filter((v) => v.enforcementLevel === "mandatory");
        expect(violations.map((v) => v.policy)).toEqual(expect.arrayContaining(["greenplum-segment-mirrors", "greenplum-pod-anti-affinity"]));
    });
});
