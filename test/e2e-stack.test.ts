import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { deploy } from "./harness";

const workflow = parse(fs.readFileSync(path.join(__dirname, "..", ".github", "workflows", "e2e.yml"), "utf8"));
const steps = workflow.jobs.e2e.steps as { name?: string; uses?: string; with?: Record<string, string>; run?: string; if?: string }[];

describe("the e2e workflow's stack", () => {
    test("targets the kind cluster the workflow creates, with kind's own storage class, and has mirrors to fail over to", async () => {
        const run = await deploy("e2e");
        const kind = steps.find((s) => s.uses?.startsWith("helm/kind-action@"))!;
        expect(kind.with!.cluster_name).toBe("${{ env.KIND_CLUSTER }}");
        // kind names the context kind-<cluster name>.
        expect(workflow.env.KUBE_CONTEXT).toBe(`kind-${workflow.env.KIND_CLUSTER}`);
        expect(run.resource("pulumi:providers:kubernetes", "existing").inputs.context).toBe(workflow.env.KUBE_CONTEXT);
        expect((run.object("StatefulSet", "segment-a").spec as any).volumeClaimTemplates[0].spec.storageClassName).toBe("standard");
        expect(run.objects.filter((o) => o.kind === "StatefulSet").map((o) => o.metadata.name).sort()).toEqual(["master", "segment-a", "segment-b"]);
        const container = (run.object("StatefulSet", "segment-a").spec as any).template.spec.containers[0];
        expect(container.image).toBe(workflow.env.GREENPLUM_IMAGE);
        // No CPU requests: the pods must schedule on a runner whose cores kind's control plane shares.
        expect(container.resources).toEqual({ requests: { memory: "1Gi" }, limits: { memory: "1Gi" } });
    });

    test("up, the psql checks around a deleted primary, and a destroy that runs even after a failure", () => {
        const script = steps.map((s) => s.run ?? "").join("\n");
        expect(script).toContain("pulumi up --stack e2e --yes");
        expect(script).toContain("delete pod segment-a-0");
        expect(script).toMatch(/SELECT count\(\*\) FROM e2e_rows/);
        const destroy = steps.find((s) => s.run?.includes("pulumi destroy"))!;
        expect(destroy.if).toBe("always()");
        expect(workflow.env.PULUMI_BACKEND_URL).toMatch(/^file:\/\//);
    });
});
