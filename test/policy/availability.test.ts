import {
    cephPoolReplication,
    checkCephPoolReplication,
    checkMasterStandby,
    checkPodAntiAffinity,
    checkPodDisruptionBudgets,
    checkSegmentMirrors,
    masterStandby,
    podAntiAffinity,
    podDisruptionBudgets,
    segmentMirrors,
} from "../../policy/rules/availability";
import type { StackResource } from "../../policy/rules/common";
import { PRODUCTION, T, cephBlockPool, greenplumStatefulSet, podDisruptionBudget, runResourcePolicy, runStackPolicy, urnOf } from "./helpers";

const master = { type: T.statefulSet, name: "master" };

function stackResources(list: { type: string; name: string; inputs: Record<string, unknown> }[]): StackResource[] {
    return list.map((r) => ({ type: r.type, name: r.name, urn: urnOf(r), props: r.inputs }));
}

describe("greenplum-master-standby", () => {
    it("passes a master with 2 replicas", () => {
        expect(checkMasterStandby(greenplumStatefulSet("master"), { production: true }, master)).toEqual([]);
    });

    it("rejects a lone master in production only, and ignores segments", () => {
        const props = greenplumStatefulSet("master", 1);
        expect(runResourcePolicy(masterStandby, { ...master, props })).toEqual([]);
        expect(runResourcePolicy(masterStandby, { ...master, props }, PRODUCTION)).toEqual([expect.stringContaining("set spec.replicas to 2 (found 1)")]);
        expect(runResourcePolicy(masterStandby, { type: T.statefulSet, name: "segment-a", props: greenplumStatefulSet("segment-a", 1) }, PRODUCTION)).toEqual([]);
    });

    it("recognises the master by the greenplum-k8s/set label", () => {
        const props = greenplumStatefulSet("master", 3);
        props.metadata.name = "gp-head";
        for (const labels of [props.metadata.labels, props.spec.template.metadata.labels]) {
            delete labels["app.kubernetes.io/component"];
            labels["greenplum-k8s/set"] = "master";
        }
        expect(checkMasterStandby(props, { production: true }, master)).toHaveLength(1);
    });

    it("recognises the master by name when no role label is set", () => {
        const props = greenplumStatefulSet("master", 3);
        delete props.metadata.labels["app.kubernetes.io/component"];
        delete props.spec.template.metadata.labels["app.kubernetes.io/component"];
        props.metadata.name = "greenplum-master";
        expect(checkMasterStandby(props, { production: true }, master)).toHaveLength(1);
    });
});

describe("greenplum-segment-mirrors", () => {
    const a = { type: T.statefulSet, name: "segment-a", inputs: greenplumStatefulSet("segment-a", 4) };

    it("passes when segment-b mirrors segment-a", () => {
        const b = { type: T.statefulSet, name: "segment-b", inputs: greenplumStatefulSet("segment-b", 4) };
        expect(checkSegmentMirrors(stackResources([a, b]), { production: true })).toEqual([]);
        expect(runStackPolicy(segmentMirrors, [a, b], PRODUCTION)).toEqual([]);
    });

    it("rejects a missing mirror set, reported on segment-a", () => {
        expect(runStackPolicy(segmentMirrors, [a])).toEqual([]);
        expect(runStackPolicy(segmentMirrors, [a], PRODUCTION)).toEqual([{ urn: urnOf(a), message: expect.stringContaining("add the mirror StatefulSet segment-b") }]);
    });

    it("rejects a mirror set of another size, reported on segment-b", () => {
        const b = { type: T.statefulSet, name: "segment-b", inputs: greenplumStatefulSet("segment-b", 2) };
        expect(runStackPolicy(segmentMirrors, [a, b], PRODUCTION)).toEqual([{ urn: urnOf(b), message: expect.stringContaining("set spec.replicas to 4 (found 2)") }]);
    });
});

describe("greenplum-pod-anti-affinity", () => {
    it("passes required anti-affinity", () => {
        expect(checkPodAntiAffinity(greenplumStatefulSet("segment-a"), { production: true }, master)).toEqual([]);
    });

    it("rejects preferred-only anti-affinity in production", () => {
        const props = greenplumStatefulSet("segment-a");
        props.spec.template.spec.affinity = { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [] } };
        expect(runResourcePolicy(podAntiAffinity, { ...master, props })).toEqual([]);
        expect(runResourcePolicy(podAntiAffinity, { ...master, props }, PRODUCTION)).toEqual([expect.stringContaining("requiredDuringSchedulingIgnoredDuringExecution")]);
    });
});

describe("greenplum-pod-disruption-budget", () => {
    const sets = ["master", "segment-a"].map((role) => ({ type: T.statefulSet, name: role, inputs: greenplumStatefulSet(role) }));

    it("passes when every set's pods are selected by a PDB in its namespace", () => {
        const pdbs = ["master", "segment-a"].map((role) => ({ type: T.pdb, name: `${role}-pdb`, inputs: podDisruptionBudget(role) }));
        expect(checkPodDisruptionBudgets(stackResources([...sets, ...pdbs]), { production: true })).toEqual([]);
        expect(runStackPolicy(podDisruptionBudgets, [...sets, ...pdbs], PRODUCTION)).toEqual([]);
    });

    it("accepts one PDB selecting every Greenplum pod with matchExpressions", () => {
        const pdb = {
            type: T.pdb,
            name: "all",
            inputs: { metadata: { namespace: "greenplum" }, spec: { maxUnavailable: 1, selector: { matchExpressions: [{ key: "app.kubernetes.io/component", operator: "In", values: ["master", "segment-a"] }] } } },
        };
        expect(runStackPolicy(podDisruptionBudgets, [...sets, pdb], PRODUCTION)).toEqual([]);
    });

    it("rejects a set without a PDB, and a PDB in another namespace", () => {
        const elsewhere = podDisruptionBudget("segment-a");
        elsewhere.metadata.namespace = "default";
        const pdbs = [
            { type: T.pdb, name: "master-pdb", inputs: podDisruptionBudget("master") },
            { type: T.pdb, name: "segment-a-pdb", inputs: elsewhere },
        ];
        expect(runStackPolicy(podDisruptionBudgets, [...sets, ...pdbs])).toEqual([]);
        expect(runStackPolicy(podDisruptionBudgets, [...sets, ...pdbs], PRODUCTION)).toEqual([
            { urn: urnOf(sets[1]), message: expect.stringContaining("StatefulSet greenplum/segment-a: add a PodDisruptionBudget") },
        ]);
    });
});

describe("ceph-pool-replication", () => {
    const pool = { type: T.cephBlockPool, name: "greenplum-pool" };

    it("passes size 3 with requireSafeReplicaSize", () => {
        expect(checkCephPoolReplication(cephBlockPool(), { production: true, minReplicaSize: 2 }, pool)).toEqual([]);
        expect(runResourcePolicy(cephPoolReplication, { ...pool, props: cephBlockPool() }, PRODUCTION)).toEqual([]);
    });

    it("rejects size 1 without requireSafeReplicaSize in production only", () => {
        const props = { metadata: { name: "greenplum", namespace: "rook-ceph" }, spec: { replicated: { size: 1 } } };
        expect(runResourcePolicy(cephPoolReplication, { ...pool, props })).toEqual([]);
        expect(runResourcePolicy(cephPoolReplication, { ...pool, props }, PRODUCTION)).toEqual([
            expect.stringContaining("set spec.replicated.size to at least 2 (found 1"),
            expect.stringContaining("requireSafeReplicaSize to true"),
        ]);
    });

    it("honours a configured minimum", () => {
        expect(runResourcePolicy(cephPoolReplication, { ...pool, props: cephBlockPool() }, { production: true, minReplicaSize: 4 })).toHaveLength(1);
    });
});
