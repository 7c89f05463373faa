import { HEADLESS_SERVICE } from "../components/greenplum/naming";
import { LOCAL_PATH_NAMESPACE } from "../components/storage/local-path";
import { NFS_NAMESPACE } from "../components/storage/nfs";
import { ROOK_NAMESPACE } from "../components/storage/rook-ceph";
import { hbaProblems } from "../policy/rules/pg-hba";
import { MACHINE_TYPES, MAX_PERSISTENT_DISK_GIB } from "./capacity";
import { mebibytes } from "./quantity";
import { MAX_HOST_NAME, longestPodHostName, rangeOverlaps, show, zoneProblem } from "./rules";

/**
 * Rules across keys that need the merged config: zones in the region, disjoint GKE ranges,
 * Greenplum's namespace apart from the storage backend's, host names Greenplum can store, and
 * pg_hba lines (the profile decides whether `password` is allowed at all).
 * Each problem is [key path, message]; values that fail their own field's check are skipped.
 */

type Raw = Record<string, unknown>;
export type Problem = [(string | number)[], string];

function at(obj: unknown, ...path: string[]): unknown {
    return path.reduce<unknown>((o, key) => (o && typeof o === "object" ? (o as Raw)[key] : undefined), obj);
}

/** The namespace each storage backend installs its own components in. */
export const BACKEND_NAMESPACES: Record<string, string> = { "rook-ceph": ROOK_NAMESPACE, "local-path": LOCAL_PATH_NAMESPACE, nfs: NFS_NAMESPACE };

/** Machine series that cannot attach pd-standard (Compute Engine's disk-type support table: C3 takes pd-balanced, pd-ssd and Hyperdisk). */
const NO_PD_STANDARD = ["c3"];

function nodePoolProblems(gke: unknown, pool: "greenplum" | "ceph"): Problem[] {
    const problems: Problem[] = [];
    const machineType = at(gke, "nodePools", pool, "machineType");
    const diskType = at(gke, "nodePools", pool, "diskType");
    // The Greenplum pool's machine type is checked by the capacity model, which also sizes the pods from it.
    if (pool === "ceph" && typeof machineType === "string" && !MACHINE_TYPES[machineType]) {
        const series = [...new Set(Object.keys(MACHINE_TYPES).map((n) => n.replace(/-\d+$/, "")))];
        problems.push([["gke", "nodePools", pool, "machineType"], `is not a machine type of the capacity model's table (got ${show(machineType)}): choose one of ${series.join(", ")} followed by a size, e.g. "n2-standard-4"`]);
    }
    const series = typeof machineType === "string" ? machineType.split("-")[0] : undefined;
    if (diskType === "pd-standard" && series && NO_PD_STANDARD.includes(series)) {
        problems.push([["gke", "nodePools", pool, "diskType"], `must be "pd-balanced" or "pd-ssd" for ${show(machineType)} (got "pd-standard"): ${series.toUpperCase()} machines cannot attach pd-standard disks`]);
    }
    return problems;
}

export function gkeProblems(gke: unknown): Problem[] {
    const problems: Problem[] = [];
    const region = at(gke, "region");
    const zones = at(gke, "zones");
    if (typeof region === "string" && Array.isArray(zones)) {
        zones.forEach((zone, i) => {
            const problem = typeof zone === "string" ? zoneProblem(zone, region) : undefined;
            if (problem) problems.push([["gke", "zones", i], `${problem} (got ${show(zone)})`]);
            else if (zones.indexOf(zone) < i) problems.push([["gke", "zones", i], `repeats gke.zones[${zones.indexOf(zone)}] (got ${show(zone)}): list each zone once; the node pools spread over distinct zones`]);
        });
    }
    problems.push(...nodePoolProblems(gke, "greenplum"), ...nodePoolProblems(gke, "ceph"));
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

/** The extra pg_hba.conf lines, read as Greenplum 6 reads them (the policy pack applies the same rule to the master pod). */
export function hostBasedAuthenticationProblems(merged: Raw): Problem[] {
    const text = at(merged, "greenplum", "masterAndStandby", "hostBasedAuthentication");
    if (typeof text !== "string") return [];
    return hbaProblems(text, { production: at(merged, "profile") === "production" }).map((problem) => [["greenplum", "masterAndStandby", "hostBasedAuthentication"], problem]);
}

/** Each Greenplum set's data class: its own storageClassName, or the stack's. */
export function greenplumDataClasses(merged: Raw): { key: (string | number)[]; className: string }[] {
    const stackClass = at(merged, "storage", "storageClassName");
    return (["masterAndStandby", "segments"] as const).flatMap((set) => {
        const own = at(merged, "greenplum", set, "storageClassName");
        const className = typeof own === "string" ? own : stackClass;
        return typeof className === "string" ? [{ key: typeof own === "string" ? ["greenplum", set, "storageClassName"] : ["storage", "storageClassName"], className }] : [];
    });
}

/**
 * Production keeps data: Retain, and XFS on a block device. The only class this program makes and
 * can vouch for is rook-ceph's (XFS, storage.reclaimPolicy); any other class holding Greenplum data
 * (a set's own, an existing cluster's, local-path's node directories, NFS) must be accepted by name.
 */
export function productionDataClassProblems(merged: Raw): Problem[] {
    if (at(merged, "profile") !== "production") return [];
    const problems: Problem[] = [];
    const reclaimPolicy = at(merged, "storage", "reclaimPolicy");
    if (reclaimPolicy === "Delete") {
        problems.push([["storage", "reclaimPolicy"], 'must be "Retain" in production (got "Delete"): with Delete, a deleted claim deletes its Greenplum data volume']);
    }
    const backend = at(merged, "storage", "backend");
    const stackClass = at(merged, "storage", "storageClassName");
    const accepted = at(merged, "storage", "acceptedDataClasses");
    const acceptedNames = Array.isArray(accepted) ? accepted.filter((n): n is string => typeof n === "string") : [];
    const risk: Record<string, string> = {
        "local-path": "storage.backend local-path keeps it in node directories, which do not survive the node and need not be XFS",
        nfs: "storage.backend nfs keeps it on NFS, which Greenplum does not support for data",
    };
    const reported = new Set<string>();
    for (const { key, className } of greenplumDataClasses(merged)) {
        const vouched = backend === "rook-ceph" && className === stackClass;
        if (vouched || acceptedNames.includes(className) || reported.has(className)) continue;
        reported.add(className);
        const accept = `storage.acceptedDataClasses: [${show(className)}]`;
        const known = className === stackClass && typeof backend === "string" ? risk[backend] : undefined;
        const message = known
            ? `holds Greenplum data in production, but ${known} (got ${show(className)}): use storage.backend "rook-ceph", or accept the risk by name: ${accept}`
            : `holds Greenplum data in production, but nothing here checks that class keeps volumes (reclaimPolicy Retain) and formats them XFS (got ${show(className)}): ` +
              `check that it does, then accept it by name: ${accept}` +
              (backend === "rook-ceph" ? `; or remove ${key.join(".")} to use rook-ceph's ${show(stackClass)}` : "");
        problems.push([key, message]);
    }
    const used = new Set(greenplumDataClasses(merged).map((c) => c.className));
    acceptedNames.forEach((name, i) => {
        if (!used.has(name)) problems.push([["storage", "acceptedDataClasses", i], `names a class no Greenplum set uses (got ${show(name)}): remove it`]);
    });
    return problems;
}

/** Ceph's OSDs on GKE are Persistent Disk claims: none can exceed one disk's limit. */
export function cephOnGkeProblems(merged: Raw): Problem[] {
    const size = at(merged, "storage", "rookCeph", "osd", "size");
    if (at(merged, "target", "kind") !== "gke" || at(merged, "storage", "backend") !== "rook-ceph" || at(merged, "storage", "rookCeph", "osd", "source") !== "pvc" || typeof size !== "string") return [];
    const gib = mebibytes(size) / 1024;
    if (Number.isNaN(gib) || gib <= MAX_PERSISTENT_DISK_GIB) return [];
    return [[["storage", "rookCeph", "osd", "size"], `must be at most 64Ti, the largest Persistent Disk (got ${show(size)}): raise storage.rookCeph.osd.count instead`]];
}
