import type { GreenplumConfig } from "../../stacks/schema";

/** How long master-0 waits for every host to resolve and answer before it fails with their names. */
export const HOST_WAIT_SECONDS = 600;

/**
 * How long `pulumi up` waits for a first init: pods scheduled and images pulled, every host
 * answering, then gpinitsystem, which creates (and, with mirrors, copies) each segment in turn.
 */
export function firstInitTimeoutSeconds(gp: GreenplumConfig): number {
    if (gp.firstInitTimeoutMinutes !== undefined) return gp.firstInitTimeoutMinutes * 60;
    const segmentInstances = gp.segments.primarySegmentCount * (gp.segments.mirrors ? 2 : 1);
    return HOST_WAIT_SECONDS + 600 + 60 * segmentInstances + (gp.masterAndStandby.standby ? 300 : 0);
}

/** Time the preStop hook gets for a fast, clean stop (`gpstop -M fast` stops every segment). */
export function stopTimeoutSeconds(gp: GreenplumConfig): number {
    return 120 + 5 * gp.segments.primarySegmentCount;
}

/** If a fast stop overruns, the preStop hook falls back to `-M immediate` for at most this long. */
export const IMMEDIATE_STOP_TIMEOUT_SECONDS = 60;

/** The kubelet waits this long before SIGKILL: both stop budgets plus slack; never 0. */
export function terminationGracePeriodSeconds(gp: GreenplumConfig): number {
    return stopTimeoutSeconds(gp) + IMMEDIATE_STOP_TIMEOUT_SECONDS + 30;
}

/** GP4K semantics: the configured cpu/memory are both request and limit; "" means unset. */
export function containerResources(cpu: string, memory: string): { requests?: Record<string, string>; limits?: Record<string, string> } {
    const values: Record<string, string> = {};
    if (cpu !== "") values.cpu = cpu;
    if (memory !== "") values.memory = memory;
    return Object.keys(values).length === 0 ? {} : { requests: values, limits: { ...values } };
}
