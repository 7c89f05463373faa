/**
 * When the first `up` gives up on the first init (the master set's create timeout), say why in
 * our words: which of Greenplum's claims are still Pending and on which class (a class that does
 * not exist, a provisioner that cannot provision), and which pods wait and why (an image that
 * cannot be pulled): the provider's own error names only the StatefulSet and its readyReplicas.
 */
import { spawnSync } from "child_process";
import { greenplumPods } from "../../stacks/capacity";
import type { GreenplumConfig } from "../../stacks/schema";
import { DATA_VOLUME, MASTER_SET, MIRROR_SET, PRIMARY_SET } from "./naming";

export interface GreenplumClaim {
    name: string;
    storageClassName: string;
}

/** Every claim the sets make (`data-<set>-<ordinal>`, as the StatefulSet controller names them), with its class. */
export function greenplumClaims(gp: GreenplumConfig, stackClass: string): GreenplumClaim[] {
    const pods = greenplumPods(gp);
    const segmentClass = gp.segments.storageClassName ?? stackClass;
    const sets = [
        { set: MASTER_SET, replicas: pods.masters, storageClassName: gp.masterAndStandby.storageClassName ?? stackClass },
        { set: PRIMARY_SET, replicas: pods.primaries, storageClassName: segmentClass },
        { set: MIRROR_SET, replicas: pods.segments - pods.primaries, storageClassName: segmentClass },
    ];
    return sets.flatMap(({ set, replicas, storageClassName }) => Array.from({ length: replicas }, (_, i) => ({ name: `${DATA_VOLUME}-${set}-${i}`, storageClassName })));
}

const listed = (claims: GreenplumClaim[]) => {
    const byClass = new Map<string, string[]>();
    for (const c of claims) byClass.set(c.storageClassName, [...(byClass.get(c.storageClassName) ?? []), c.name]);
    return [...byClass].map(([className, names]) => `${names.join(", ")} on class "${className}"`).join("; ");
};

/** What the cluster shows of the first init: each claim's phase, and why each pod that is not Running waits. */
export interface FirstInitState {
    claims: Record<string, string>;
    /** Pod name → "Pending", or a container's waiting reason ("ImagePullBackOff", "CrashLoopBackOff"); Running pods are left out. */
    waitingPods: Record<string, string>;
}

/**
 * The message for a first init that did not finish in `timeout`. `state` is what the cluster
 * shows, or undefined when it could not be read (then: the commands to read it).
 */
export function firstInitFailureMessage(args: { namespace: string; timeout: string; claims: GreenplumClaim[]; state?: FirstInitState }): string {
    const { namespace, timeout, claims, state } = args;
    const head = `Greenplum's first init did not finish within ${timeout} (greenplum.firstInitTimeoutMinutes), so pulumi up fails rather than report a database that is not there`;
    const masterLog = `kubectl -n ${namespace} logs ${MASTER_SET}-0 -c greenplum`;
    if (!state) {
        return `${head}. Its claims: ${listed(claims)}. If kubectl -n ${namespace} get pvc shows them Pending, their class does not exist or cannot provision (kubectl -n ${namespace} describe pvc ${claims[0]?.name} says which); otherwise see kubectl -n ${namespace} get pods and read ${masterLog}.`;
    }
    const phases = state.claims;
    const pending = claims.filter((c) => (phases[c.name] ?? "missing") !== "Bound");
    const parts = [head];
    if (pending.length > 0) {
        const missingClaims = pending.filter((c) => phases[c.name] === undefined);
        const stuck = pending.filter((c) => phases[c.name] !== undefined);
        parts.push(
            `${pending.length} of its ${claims.length} claims are not Bound` +
                (stuck.length > 0 ? `: ${stuck.length} ${stuck.length === 1 ? "is" : "are"} ${[...new Set(stuck.map((c) => phases[c.name]))].join("/")} (${listed(stuck)})` : "") +
                (missingClaims.length > 0 ? `${stuck.length > 0 ? ";" : ":"} ${missingClaims.length} not created yet (${listed(missingClaims)})` : "") +
                `. A claim stays Pending when its class does not exist or cannot provision (kubectl get storageclass; kubectl -n ${namespace} describe pvc ${pending[0].name}): ` +
                "fix storage.storageClassName or greenplum.*.storageClassName, then run pulumi up again",
        );
    }
    const waiting = Object.entries(state.waitingPods).filter(([, reason]) => pending.length === 0 || reason !== "Pending");
    if (waiting.length > 0) {
        const byReason = new Map<string, string[]>();
        for (const [pod, reason] of waiting.sort(([a], [b]) => a.localeCompare(b))) byReason.set(reason, [...(byReason.get(reason) ?? []), pod]);
        const image = [...byReason.keys()].some((r) => /ImagePull|ErrImage|InvalidImageName/.test(r));
        parts.push(
            `Pods not running: ${[...byReason].map(([reason, pods]) => `${pods.join(", ")} (${reason})`).join("; ")}: kubectl -n ${namespace} describe pod ${waiting[0][0]} says why` +
                (image ? "; an image that cannot be pulled needs greenplum.image (or the node's registry access) fixed, then pulumi up again" : ""),
        );
    }
    if (parts.length === 1) parts.push(`Every claim is Bound and every pod runs: read ${masterLog}`);
    return `${parts.join(". ")}.`;
}

function kubectlLines(kubectlAccess: string[], args: string[]): string[] | undefined {
    const r = spawnSync("kubectl", [...kubectlAccess, ...args], { encoding: "utf8", timeout: 15_000 });
    if (r.status !== 0 || r.error) return undefined;
    return r.stdout.split("\n").filter((line) => line.includes("="));
}

/** The first init's state read with kubectl (each call bounded: 15 s), or undefined when kubectl is missing or fails. */
export function readFirstInitState(kubectlAccess: string[], namespace: string): FirstInitState | undefined {
    const claims = kubectlLines(kubectlAccess, ["-n", namespace, "get", "pvc", "-o", 'jsonpath={range .items[*]}{.metadata.name}={.status.phase}{"\\n"}{end}']);
    const pods = kubectlLines(kubectlAccess, [
        "-n",
        namespace,
        "get",
        "pods",
        "-l",
        "app.kubernetes.io/name=greenplum",
        "-o",
        'jsonpath={range .items[*]}{.metadata.name}={.status.phase}:{range .status.initContainerStatuses[*]}{.state.waiting.reason},{end}{range .status.containerStatuses[*]}{.state.waiting.reason},{end}{"\\n"}{end}',
    ]);
    if (!claims || !pods) return undefined;
    const waitingPods: Record<string, string> = {};
    for (const line of pods) {
        const [name, rest] = line.split("=", 2);
        const [phase, reasons] = rest.split(":", 2);
        const reason = (reasons ?? "").split(",").find(Boolean);
        if (reason) waitingPods[name] = reason;
        else if (phase !== "Running" && phase !== "Succeeded") waitingPods[name] = phase;
    }
    return { claims: Object.fromEntries(claims.map((line) => line.split("=", 2) as [string, string])), waitingPods };
}
