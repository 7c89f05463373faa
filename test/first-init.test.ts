import { firstInitFailureMessage, greenplumClaims, readFirstInitState } from "../components/greenplum/first-init";
import { parseStackConfig } from "../stacks";
import { stackConfig } from "./harness";

const gp = (greenplum: Record<string, unknown>) => parseStackConfig(stackConfig({ target: { kind: "minikube" }, greenplum })).greenplum;

describe("a first init that times out says which claims are stuck and on which class, and which pods wait and why", () => {
    const ha = gp({ masterAndStandby: { standby: true }, segments: { primarySegmentCount: 2, mirrors: true, storageClassName: "fast" } });
    const claims = greenplumClaims(ha, "greenplum-data");

    test("every set's claims, named as the StatefulSet controller names them, with the class each uses", () => {
        expect(claims.map((c) => `${c.name}:${c.storageClassName}`)).toEqual([
            "data-master-0:greenplum-data",
            "data-master-1:greenplum-data",
            "data-segment-a-0:fast",
            "data-segment-a-1:fast",
            "data-segment-b-0:fast",
            "data-segment-b-1:fast",
        ]);
    });

    test("Pending claims are named by class, with the command that says why and the keys to fix; pods Pending for them are not listed again", () => {
        const claimsState = { "data-master-0": "Bound", "data-master-1": "Bound", "data-segment-a-0": "Pending", "data-segment-a-1": "Pending", "data-segment-b-0": "Pending" };
        const waitingPods = { "segment-a-0": "Pending", "segment-a-1": "Pending", "segment-b-0": "Pending" };
        expect(firstInitFailureMessage({ namespace: "greenplum", timeout: "2 minutes", claims, state: { claims: claimsState, waitingPods } })).toBe(
            "Greenplum's first init did not finish within 2 minutes (greenplum.firstInitTimeoutMinutes), so pulumi up fails rather than report a database that is not there. " +
                '4 of its 6 claims are not Bound: 3 are Pending (data-segment-a-0, data-segment-a-1, data-segment-b-0 on class "fast"); 1 not created yet (data-segment-b-1 on class "fast"). ' +
                "A claim stays Pending when its class does not exist or cannot provision (kubectl get storageclass; kubectl -n greenplum describe pvc data-segment-a-0): fix storage.storageClassName or greenplum.*.storageClassName, then run pulumi up again.",
        );
    });

    test("an image that cannot be pulled: the pods and their reason, and what to fix", () => {
        const bound = Object.fromEntries(claims.map((c) => [c.name, "Bound"]));
        const waitingPods = { "segment-a-0": "ImagePullBackOff", "master-0": "ErrImagePull", "master-1": "ImagePullBackOff" };
        expect(firstInitFailureMessage({ namespace: "gp", timeout: "2 minutes", claims, state: { claims: bound, waitingPods } })).toMatch(
            /not there\. Pods not running: master-0 \(ErrImagePull\); master-1, segment-a-0 \(ImagePullBackOff\): kubectl -n gp describe pod master-0 says why; an image that cannot be pulled needs greenplum\.image \(or the node's registry access\) fixed, then pulumi up again\.$/,
        );
    });

    test("every claim Bound and every pod running: the master's log is where to look", () => {
        const bound = Object.fromEntries(claims.map((c) => [c.name, "Bound"]));
        expect(firstInitFailureMessage({ namespace: "gp", timeout: "20 minutes", claims, state: { claims: bound, waitingPods: {} } })).toMatch(/Every claim is Bound and every pod runs: read kubectl -n gp logs master-0 -c greenplum\.$/);
    });

    test("state unknown (gke, or no kubectl): the claims by class and the commands to check them", () => {
        expect(firstInitFailureMessage({ namespace: "greenplum", timeout: "2 minutes", claims: claims.slice(0, 2) })).toMatch(
            /Its claims: data-master-0, data-master-1 on class "greenplum-data"\. If kubectl -n greenplum get pvc shows them Pending, .* describe pvc data-master-0 .*; otherwise see kubectl -n greenplum get pods and read kubectl -n greenplum logs master-0 -c greenplum\.$/,
        );
    });

    test("kubectl that cannot reach a cluster gives no state, within its bound", () => {
        const started = Date.now();
        expect(readFirstInitState(["--kubeconfig", "/nonexistent/kubeconfig", "--context", "nowhere", "--request-timeout=2s"], "greenplum")).toBeUndefined();
        expect(Date.now() - started).toBeLessThan(16_000);
    });
});
