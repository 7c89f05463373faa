/**
 * When the first `up` gives up on the first init (the master set's create timeout), say why in
 * our words: which of Greenplum's claims are still Pending and on which class, since a claim that
 * never binds (a class that does not exist, a provisioner that cannot provision) is the usual cause,
 * and the provider's own error names only the StatefulSet and its readyReplicas.
 */
import { spawnSync } from "child_process";
import type { GreenplumConfig } from "../../stacks/schema";
import { MASTER_SET, MIRROR_SET, PRIMARY_SET } from "./naming";

/** The claim template every Greenplum set has (statefulset.ts). */
export const DATA_CLAIM_TEMPLATE = "data";

export interface GreenplumClaim {
    name: string;
    storageClassName: string;
}

/** Every claim the sets make (`data-<set>-<ordinal>`, as the StatefulSet controller names them), with its class. */
export function greenplumClaims(gp: GreenplumConfig, stackClass: string): GreenplumClaim[] {
    const sets = [
        { set: MASTER_SET, replicas: gp.masterAndStandby.standby ? 2 : 1, storageClassName: gp.masterAndStandby.storageClassName ?? stackClass },
        { set: PRIMARY_SET, replicas: gp.segments.primarySegmentCount, storageClassName: gp.segments.storageClassName ?? stackClass },
        ...(gp.segments.mirrors ? [{ set: MIRROR_SET, replicas: gp.segments.primarySegmentCount, storageClassName: gp.segments.storageClassName ?? stackClass }] : []),
    ];
    return sets.flatMap(({ set, replicas, storageClassName }) => Array.from({ length: replicas }, (_, i) => ({ name: `${DATA_CLAIM_TEMPLATE}-${set}-${i}`, storageClassName })));
}

const listed = (claims: GreenplumClaim[]) => {
    const byClass = new Map<string, string[]>();
    for (const c of claims) byClass.set(c.storageClassName, [...(byClass.get(c.storageClassName) ?? []), c.name]);
    return [...byClass].map(([className, names]) => `${names.join(", ")} on class "${className}"`).join("; ");
};

/**
 * The message for a first init that did not finish in `timeout`. `phases` are the claims' phases as
 * the cluster reports them, or undefined when they could not be read (then: the command to read them).
 */
export function firstInitFailureMessage(args: { namespace: string; timeout: string; claims: GreenplumClaim[]; phases?: Record<string, string> }): string {
    const { namespace, timeout, claims, phases } = args;
    const head = `Greenplum's first init did not finish within ${timeout} (greenplum.firstInitTimeoutMinutes), so pulumi up fails rather than report a database that is not there`;
    const masterLog = `kubectl -n ${namespace} logs ${MASTER_SET}-0 -c greenplum`;
    if (!phases) {
        return `${head}. Its claims: ${listed(claims)}. If kubectl -n ${namespace} get pvc shows them Pending, their class does not exist or cannot provision (kubectl -n ${namespace} describe pvc ${claims[0]?.name} says which); otherwise read ${masterLog}.`;
    }
    const pending = claims.filter((c) => (phases[c.name] ?? "missing") !== "Bound");
    if (pending.length === 0) return `${head}. Every claim is Bound: read ${masterLog}.`;
    const missingClaims = pending.filter((c) => phases[c.name] === undefined);
    const stuck = pending.filter((c) => phases[c.name] !== undefined);
    return (
        `${head}. ${pending.length} of its ${claims.length} claims are not Bound` +
        (stuck.length > 0 ? `: ${stuck.length} ${stuck.length === 1 ? "is" : "are"} ${[...new Set(stuck.map((c) => phases[c.name]))].join("/")} (${listed(stuck)})` : "") +
        (missingClaims.length > 0 ? `${stuck.length > 0 ? ";" : ":"} ${missingClaims.length} not created yet (${listed(missingClaims)})` : "") +
        `. A claim stays Pending when its class does not exist or cannot provision (kubectl get storageclass; kubectl -n ${namespace} describe pvc ${pending[0].name}): ` +
        "fix storage.storageClassName or greenplum.*.storageClassName, then run pulumi up again."
    );
}

/** The claims' phases read with kubectl (bounded: 15 s), or undefined when kubectl is missing or fails. */
export function claimPhases(kubectlAccess: string[], namespace: string): Record<string, string> | undefined {
    const r = spawnSync("kubectl", [...kubectlAccess, "-n", namespace, "get", "pvc", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.phase}{\"\\n\"}{end}"], { encoding: "utf8", timeout: 15_000 });
    if (r.status !== 0 || r.error) return undefined;
    return Object.fromEntries(
        r.stdout
            .split("\n")
            .filter((line) => line.includes("="))
            .map((line) => line.split("=", 2) as [string, string]),
    );
}
