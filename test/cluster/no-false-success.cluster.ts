/**
 * `pulumi up` never reports success without a database: a stack whose claims can never bind, and
 * one whose image cannot start, fail at their (shortened) init timeout, naming the master set they
 * waited on and, in our words (components/greenplum/first-init.ts, an onError hook), the Pending
 * claims and their class, or the pods that wait and why.
 */
import { images, kubectlOk, localDevConfig, record, Stack, tail } from "./harness";

const SCENARIO = "no false success";
const TIMEOUT_MINUTES = 2;

let stack: Stack;
let noStart: Stack | undefined;

beforeAll(() => {
    // Its own namespace and no storage of its own: the class it names does not exist.
    stack = new Stack("local-unbound", {
        ...localDevConfig({ "greenplum-k8s:greenplum": { namespace: "gp-unbound", firstInitTimeoutMinutes: TIMEOUT_MINUTES } }),
        "greenplum-k8s:storage": { backend: "existing", storageClassName: "does-not-exist" },
    });
});

afterAll(() => {
    stack.pulumi(["destroy", "--yes", "--skip-preview"], 10 * 60_000);
    stack.remove();
    if (noStart) {
        noStart.pulumi(["destroy", "--yes", "--skip-preview"], 10 * 60_000);
        noStart.remove();
    }
});

test(`claims that can never bind: up fails after its ${TIMEOUT_MINUTES}-minute init timeout, naming the master set, the Pending claims and their class`, () => {
    expect(images().greenplum).toBeTruthy();
    const up = stack.up(10 * 60_000);
    const claims = kubectlOk(["-n", "gp-unbound", "get", "pvc", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.phase} {end}"]).trim();
    record(SCENARIO, "unbindable claims", { status: up.status, seconds: up.seconds, claims });
    expect(up.status).not.toBe(0);
    const output = tail(up.stdout, 80);
    expect(output).toMatch(/StatefulSet master/);
    expect(output).toMatch(/readyReplicas/);
    expect(output).toContain(`Greenplum's first init did not finish within ${TIMEOUT_MINUTES} minutes`);
    expect(output).toContain('3 of its 3 claims are not Bound: 3 are Pending (data-master-0, data-segment-a-0, data-segment-a-1 on class "does-not-exist")');
    expect(up.seconds).toBeGreaterThanOrEqual(TIMEOUT_MINUTES * 60);
    expect(up.seconds).toBeLessThan(TIMEOUT_MINUTES * 60 + 180);
    expect(claims).toMatch(/data-master-0=Pending/);
});

test(`an image that cannot start: up fails after its ${TIMEOUT_MINUTES}-minute init timeout, naming the pods and why they wait`, () => {
    // A pinned image that exists on the node but holds no shell: every Greenplum container fails to start.
    noStart = new Stack("local-nostart", localDevConfig({ "greenplum-k8s:greenplum": { namespace: "gp-nostart", image: images().localPathProvisioner, firstInitTimeoutMinutes: TIMEOUT_MINUTES } }));
    const up = noStart.up(10 * 60_000);
    const pods = kubectlOk(["-n", "gp-nostart", "get", "pods", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.phase} {end}"]).trim();
    const output = tail(up.stdout, 80);
    record(SCENARIO, "image cannot start", { status: up.status, seconds: up.seconds, pods, message: output.split("\n").find((l) => l.includes("Pods not running"))?.trim() });
    expect(up.status).not.toBe(0);
    expect(output).toContain(`Greenplum's first init did not finish within ${TIMEOUT_MINUTES} minutes`);
    expect(output).toMatch(/Pods not running: master-0, segment-a-0, segment-a-1 \((CrashLoopBackOff|RunContainerError|StartError|CreateContainerError)\)/);
    expect(output).not.toContain("claims are not Bound");
    expect(up.seconds).toBeGreaterThanOrEqual(TIMEOUT_MINUTES * 60);
    expect(up.seconds).toBeLessThan(TIMEOUT_MINUTES * 60 + 180);
});
