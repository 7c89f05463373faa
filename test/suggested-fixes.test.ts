/**
 * Every refusal that suggests a value is taken at its word: the suggestion is read out of the
 * message, written into the config exactly as a user would, and the config must then pass. A
 * message whose fix fails is worse than no suggestion at all.
 */
import { parseStackConfig } from "../stacks";
import { deepMerge } from "../stacks/defaults";
import { stackConfig } from "./harness";

type Values = Record<string, unknown>;

function problems(values: Values): string[] {
    try {
        parseStackConfig(stackConfig(values));
        return [];
    } catch (err) {
        return (err as { problems: string[] }).problems;
    }
}

/** `{a: {b: value}}` for the path "a.b" (list indexes as numbers: "x.y.0"). */
function at(path: string, value: unknown): Values {
    return path
        .split(".")
        .reverse()
        .reduce<unknown>((inner, key) => (/^\d+$/.test(key) ? Object.assign([], { [Number(key)]: inner }) : { [key]: inner }), value) as Values;
}

/** The one problem of a config, and the captured suggestions in it (fails when the pattern is not there). */
function suggestion(values: Values, pattern: RegExp): { problem: string; values: string[] } {
    const found = problems(values);
    expect(found).toHaveLength(1);
    const match = pattern.exec(found[0]);
    expect({ problem: found[0], suggests: match !== null }).toEqual({ problem: found[0], suggests: true });
    return { problem: found[0], values: match!.slice(1) };
}

const minikube = { target: { kind: "minikube" } };
const gke = (over: Values = {}) => ({
    target: { kind: "gke" },
    gke: deepMerge({ project: "acme-data", region: "europe-west1", zones: ["europe-west1-b", "europe-west1-c", "europe-west1-d"], masterAuthorizedNetworks: [{ cidrBlock: "203.0.113.0/24", displayName: "ci" }] }, over),
});
const lab = { profile: "production", target: { kind: "existing", context: "lab" } };

describe("a refusal's suggested value, written back, passes", () => {
    test.each([
        { what: "host bits in a client range", config: { ...minikube, greenplum: { service: { type: "NodePort", loadBalancerSourceRanges: ["10.1.2.3/8"] } } }, pattern: /use "([^"]+)"/, key: "greenplum.service.loadBalancerSourceRanges.0" },
        { what: "host bits in the control-plane range", config: gke({ network: { masterCidr: "172.16.0.8/28" } }), pattern: /use "([^"]+)"/, key: "gke.network.masterCidr" },
        { what: "a zone as the region", config: gke({ region: "europe-west1-b" }), pattern: /use "([^"]+)"/, key: "gke.region" },
        { what: 'memory "512m"', config: { ...minikube, greenplum: { segments: { memory: "512m" } } }, pattern: /write "([^"]+)"/, key: "greenplum.segments.memory" },
        { what: 'memory "2048m"', config: { ...minikube, greenplum: { segments: { memory: "2048m" } } }, pattern: /write "([^"]+)"/, key: "greenplum.segments.memory" },
        { what: 'memory "512" (bytes)', config: { ...minikube, greenplum: { segments: { memory: "512" } } }, pattern: /at least "([^"]+)"/, key: "greenplum.segments.memory" },
        { what: "memory as a YAML number", config: { ...minikube, greenplum: { segments: { memory: 2 } } }, pattern: /as in "([^"]+)"/, key: "greenplum.segments.memory" },
        { what: "cpu as a YAML number", config: { ...minikube, greenplum: { masterAndStandby: { cpu: 1 } } }, pattern: /as in "([^"]+)"/, key: "greenplum.masterAndStandby.cpu" },
        { what: "an unpinned image", config: { ...minikube, greenplum: { image: "woblerr/greenplum" } }, pattern: /e\.g\. "([^"]+)"/, key: "greenplum.image" },
        { what: "a local-path directory that normalises into /tmp", config: { ...minikube, storage: { localPath: { path: "/data/../tmp/volumes" } } }, pattern: /use e\.g\. "([^"]+)"/, key: "storage.localPath.path" },
        { what: "a reserved namespace", config: { ...minikube, greenplum: { namespace: "kube-system" } }, pattern: /use e\.g\. "([^"]+)"/, key: "greenplum.namespace" },
        { what: "reclaimPolicy Delete in production", config: { ...lab, storage: { backend: "existing", storageClassName: "fast", acceptedDataClasses: ["fast"], reclaimPolicy: "Delete" } }, pattern: /must be "(Retain)"/, key: "storage.reclaimPolicy" },
        { what: "a production class nothing checks", config: { ...lab, storage: { backend: "existing", storageClassName: "fast" } }, pattern: /storage\.acceptedDataClasses: \["([^"]+)"\]/, key: "storage.acceptedDataClasses.0" },
    ])("$what", ({ config, pattern, key }) => {
        const { values } = suggestion(config, pattern);
        expect(problems(deepMerge(config, at(key, values[0])))).toEqual([]);
    });

    test("Ceph too small for its claims: the OSD size it names", () => {
        const config = { ...lab, storage: { backend: "rook-ceph", rookCeph: { osd: { source: "pvc", count: 3, size: "100Gi", storageClassName: "premium-rwo" } } }, greenplum: { segments: { primarySegmentCount: 2 } } };
        const { values } = suggestion(config, /set storage\.rookCeph\.osd\.size to at least (\d+Gi)/);
        expect(problems(deepMerge(config, at("storage.rookCeph.osd.size", values[0])))).toEqual([]);
    });

    test("anti-affinity on the one minikube node: turning it off is the fix, and no size is suggested", () => {
        const config = { ...minikube, greenplum: { masterAndStandby: { standby: true, antiAffinity: true }, segments: { mirrors: true, antiAffinity: true } } };
        const { problem } = suggestion(config, /set (greenplum\.masterAndStandby\.antiAffinity) and (greenplum\.segments\.antiAffinity) to no/);
        expect(problem).not.toMatch(/\.cpu|\.memory/);
        expect(problems(deepMerge(config, { greenplum: { masterAndStandby: { antiAffinity: false }, segments: { antiAffinity: false } } }))).toEqual([]);
    });

    test("segments under Greenplum's memory floor and too many for the node: the two messages agree, and both fixes together pass", () => {
        const config = { ...minikube, greenplum: { segments: { memory: "512Mi", primarySegmentCount: 8 } } };
        const found = problems(config);
        expect(found).toEqual([
            "greenplum-k8s:greenplum.segments.memory: 512Mi leaves Greenplum a gp_vmem_protect_limit of 60 MB (under 256): give the pods at least 1Gi",
            "greenplum-k8s:greenplum.segments: the 9 Greenplum pods cannot all be scheduled on the minikube node (minikube start --cpus 4 --memory 8g), each offering Greenplum 3240m CPU / 7378Mi: " +
                "segments request 500m CPU / 1Gi (counted at the 1Gi floor, not 512Mi) × 8, masterAndStandby 500m CPU / 1Gi × 1. " +
                "Change greenplum.segments.cpu/memory, greenplum.masterAndStandby.cpu/memory or greenplum.segments.primarySegmentCount; at these sizes 5 primary segments fit (greenplum.segments.primarySegmentCount: 5)",
        ]);
        expect(problems(deepMerge(config, { greenplum: { segments: { memory: "1Gi", primarySegmentCount: 5 } } }))).toEqual([]);
        expect(problems(deepMerge(config, { greenplum: { segments: { memory: "1Gi", primarySegmentCount: 6 } } }))).toHaveLength(1);
    });
});
