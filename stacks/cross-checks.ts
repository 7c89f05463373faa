import { HEADLESS_SERVICE } from "../components/greenplum/naming";
import { LOCAL_PATH_NAMESPACE } from "../components/storage/local-path";
import { ROOK_NAMESPACE } from "../components/storage/rook-ceph";
import { MAX_HOST_NAME, longestPodHostName, rangeOverlaps, show, zoneProblem } from "./rules";

/**
 * Rules across keys that need the merged config: zones in the region, disjoint GKE ranges,
 * Greenplum's namespace apart from the storage backend's, and host names Greenplum can store.
 * Each problem is [key path, message]; values that fail their own field's check are skipped.
 */

type Raw = Record<string, unknown>;
export type Problem = [(string | number)[], string];

function at(obj: unknown, ...path: string[]): unknown {
    return path.reduce<unknown>((o, key) => (o && typeof o === "object" ? (o as Raw)[key] : undefined), obj);
}

/** The namespace each storage backend installs its own components in. */
export const BACKEND_NAMESPACES: Record<string, string> = { "rook-ceph": ROOK_NAMESPACE, "local-path": LOCAL_PATH_NAMESPACE };

export function gkeProblems(gke: unknown): Problem[] {
    const problems: Problem[] = [];
    const region = at(gke, "region");
    const zones = at(gke, "zones");
    if (typeof region === "string" && Array.isArray(zones)) {
        zones.forEach((zone, i) => {
            const problem = typeof zone === "string" ? zoneProblem(zone, region) : undefined;
            if (problem) problems.push([["gke", "zones", i], `${problem} (got ${show(zone)})`]);
        });
    }
    const network = at(gke, "network");
    const keys = ["subnetCidr", "podsCidr", "servicesCidr", "masterCidr"];
    const ranges = keys.flatMap((key) => {
        const text = at(network, key);
        return typeof text === "string" ? [{ key: `gke.network.${key}`, text }] : [];
    });
    for (const [key, message] of rangeOverlaps(ranges)) problems.push([key.split("."), `${message} (got ${show(at(network, key.split(".")[2]))})`]);
    return problems;
}

export function greenplumPlacementProblems(merged: Raw): Problem[] {
    const problems: Problem[] = [];
    const namespace = at(merged, "greenplum", "namespace");
    const backend = at(merged, "storage", "backend");
    const backendNamespace = typeof backend === "string" ? BACKEND_NAMESPACES[backend] : undefined;
    if (typeof namespace === "string" && namespace === backendNamespace) {
        problems.push([
            ["greenplum", "namespace"],
            `must differ from the namespace storage.backend ${show(backend)} installs into: both would create Namespace ${show(namespace)} (pulumi up fails), ` +
                `and Greenplum's default-deny NetworkPolicy would cut off the storage pods; use e.g. "greenplum" (got ${show(namespace)})`,
        ]);
    }
    const domain = at(merged, "target", "clusterDomain");
    const count = at(merged, "greenplum", "segments", "primarySegmentCount");
    const mirrors = at(merged, "greenplum", "segments", "mirrors");
    if (typeof namespace === "string" && typeof domain === "string" && typeof count === "number" && count >= 1) {
        const host = longestPodHostName(namespace, domain, count, mirrors === true || mirrors === "yes", HEADLESS_SERVICE);
        if (host.length > MAX_HOST_NAME) {
            problems.push([
                ["greenplum", "namespace"],
                `is too long for the pod host names Greenplum stores: "${host}" has ${host.length} characters, Greenplum keeps at most ${MAX_HOST_NAME}; ` +
                    "shorten greenplum.namespace or target.clusterDomain",
            ]);
        }
    }
    return problems;
}
