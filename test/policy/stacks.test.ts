import { evaluatePack, formatViolations, readPackConfig } from "../../policy/evaluate";
import { unwrapSecrets } from "../../tools/mock-runtime";
import { resourceRecord } from "../../tools/render";
import { deploy, type Deployment } from "../harness";

/** What the policy engine would see in a preview of the stack: every resource with its inputs and options, as resources.json holds them. */
function previewOf(run: Deployment) {
    return run.resources.map((r) => resourceRecord(r, unwrapSecrets(r.inputs)));
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

    test("without the resource options resources.json now records, the production pack would refuse the shipped stack", async () => {
        const withoutOptions = previewOf(await deploy("gke")).map(({ opts: _opts, ...r }) => r);
        expect(evaluatePack(withoutOptions, readPackConfig("production")).map((v) => v.policy)).toContain("greenplum-replacement-opt-in");
    });

    test("a control plane and a public load balancer open to 0.0.0.0/0 are refused by the mandatory pack", async () => {
        const run = await deploy("gke", {
            "greenplum-k8s:gke": { masterAuthorizedNetworks: [{ cidrBlock: "0.0.0.0/0", displayName: "anywhere" }] },
            "greenplum-k8s:greenplum": { service: { internal: "no", loadBalancerSourceRanges: ["0.0.0.0/0"] } },
        });
        const violations = evaluatePack(previewOf(run), readPackConfig("production")).filter((v) => v.enforcementLevel === "mandatory");
        expect(violations.map((v) => `${v.policy} ${v.resource}`).sort()).toEqual(["gke-control-plane-not-open cluster", "no-public-load-balancer client"].sort());
    });

    test("a production config change that drops mirrors is refused by the pack", async () => {
        const run = await deploy("gke", { "greenplum-k8s:greenplum": { segments: { mirrors: "no", antiAffinity: "no" }, masterAndStandby: { antiAffinity: "no" } } });
        const violations = evaluatePack(previewOf(run), readPackConfig("production")).filter((v) => v.enforcementLevel === "mandatory");
        expect(violations.map((v) => v.policy)).toEqual(expect.arrayContaining(["greenplum-segment-mirrors", "greenplum-pod-anti-affinity"]));
    });
});
