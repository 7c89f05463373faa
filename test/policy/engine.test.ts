/**
 * Runs the pack through @pulumi/policy's own gRPC handlers (without starting a server), as the
 * Pulumi CLI would call them: the analyzer info it publishes (config schemas must serialise),
 * and Analyze on wire-format properties, preview-time unknowns included.
 * These reach into @pulumi/policy internals (pinned at 1.21.0), hence the untyped requires.
 */
import { allPolicies } from "../../policy/policies";
import { T, greenplumStatefulSet } from "./helpers";

type Any = any;
const protoutil: Any = require("@pulumi/policy/protoutil");
const server: Any = require("@pulumi/policy/server");
const analyzerproto: Any = require("@pulumi/pulumi/proto/analyzer_pb");
const structproto: Any = require("google-protobuf/google/protobuf/struct_pb");

/** The wire value the engine sends for a value unknown during preview. */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

function analyze(type: string, name: string, props: object): Promise<{ policy: string; message: string; level: number }[]> {
    const req = new analyzerproto.AnalyzeRequest();
    req.setType(type);
    req.setName(name);
    req.setUrn(`urn:pulumi:test::greenplum-k8s::${type}::${name}`);
    req.setProperties(structproto.Struct.fromJavaScript(props));
    const opts = new analyzerproto.AnalyzerResourceOptions();
    req.setOptions(opts);
    const rpc = server.makeAnalyzeRpcFun("greenplum-k8s", "0.1.0", "advisory", allPolicies);
    return new Promise((resolve, reject) => {
        rpc({ request: req }, (err: unknown, resp: Any) => {
            if (err) return reject(err);
            resolve(resp.getDiagnosticsList().map((d: Any) => ({ policy: d.getPolicyname(), message: d.getMessage(), level: d.getEnforcementlevel() })));
        });
    });
}

describe("through @pulumi/policy's handlers", () => {
    it("publishes every policy with its config schema", () => {
        const info = protoutil.makeAnalyzerInfo("greenplum-k8s", "0.1.0", "advisory", { policies: allPolicies }, undefined);
        const published = info.getPoliciesList().map((p: Any) => p.getName());
        expect(published).toEqual(allPolicies.map((p) => p.name));
        const grace = info.getPoliciesList().find((p: Any) => p.getName() === "greenplum-termination-grace");
        expect(grace.getConfigschema().getProperties().toJavaScript()).toMatchObject({ minTerminationGracePeriodSeconds: { type: "integer", default: 120 } });
    });

    it("passes a compliant StatefulSet and reports a broken one", async () => {
        expect(await analyze(T.statefulSet, "segment-a", greenplumStatefulSet("segment-a"))).toEqual([]);
        const broken = greenplumStatefulSet("segment-a");
        broken.spec.template.spec.terminationGracePeriodSeconds = 0;
        broken.spec.template.spec.containers[0].image = "woblerr/greenplum:latest";
        const diagnostics = await analyze(T.statefulSet, "segment-a", broken);
        expect(diagnostics.map((d) => d.policy).sort()).toEqual(["greenplum-termination-grace", "images-pinned"]);
    });

    it("reports a value unknown during preview as advisory instead of failing the preview", async () => {
        const props = greenplumStatefulSet("segment-a");
        props.spec.template.spec.containers[0].image = UNKNOWN;
        const diagnostics = await analyze(T.statefulSet, "segment-a", props);
        expect(diagnostics.length).toBeGreaterThan(0);
        for (const d of diagnostics) expect(d.message).toMatch(/can't run policy '.*' from policy pack .* during preview/);
    });
});
