import { mebibytes } from "../../stacks/quantity";

/**
 * Greenplum's memory settings from the pods' memory limits, so that Greenplum's own protection
 * (queries fail with "Out of memory" at gp_vmem_protect_limit) acts long before the kernel's OOM
 * killer would kill a postgres process for crossing the container limit.
 *
 * Greenplum 6 docs, "Resource Queue Segment Memory Configuration" (best_practices/workloads) and
 * the gp_vmem_protect_limit entry of the configuration parameter reference:
 *
 *   gp_vmem               = ((SWAP + RAM) – (7.5GB + 0.05 * RAM)) / 1.7      (RAM under 256 GB)
 *   gp_vmem_protect_limit = gp_vmem / max_acting_primary_segments
 *   statement_mem         = (gp_vmem_protect_limit * 0.9) / max_expected_concurrent_queries
 *
 * Adapted to one segment instance per pod: RAM is the container's memory limit, SWAP is 0
 * (Kubernetes nodes run without swap), max_acting_primary_segments is 1 (a promoted mirror runs
 * in its own pod, under its own limit), and the 7.5 GB the formula keeps for the host's operating
 * system becomes what the pod itself holds outside Greenplum's vmem accounting: shared_buffers
 * (Greenplum 6's default 125MB) and sshd, bash and the probes. The node's kernel and system
 * daemons are outside the pod's limit (the kubelet's reservations), so they are not subtracted.
 */

/** What a Greenplum pod holds outside gp_vmem accounting: shared_buffers (125MB) plus sshd, scripts and probes. */
export const POD_NON_VMEM_MIB = 384;
/** Greenplum's default resource queue (pg_default) admits 20 active statements. */
export const EXPECTED_CONCURRENT_QUERIES = 20;
/** gp_vmem_protect_limit below this leaves Greenplum unable to run a catalog query. */
export const MIN_VMEM_PROTECT_LIMIT_MB = 256;

/** gp_vmem_protect_limit in MB (Greenplum's MB are MiB) for a pod with this memory limit. */
export function vmemProtectLimitMb(memoryLimit: string): number {
    const ram = mebibytes(memoryLimit);
    return Math.floor((ram - (POD_NON_VMEM_MIB + 0.05 * ram)) / 1.7);
}

/** statement_mem in MB: 90 % of the protect limit shared by the expected concurrent queries. */
export function statementMemMb(vmemLimitMb: number): number {
    return Math.floor((vmemLimitMb * 0.9) / EXPECTED_CONCURRENT_QUERIES);
}

/** max_statement_mem in MB: one query may take 90 % of the protect limit (the same 10 % buffer). */
export function maxStatementMemMb(vmemLimitMb: number): number {
    return Math.floor(vmemLimitMb * 0.9);
}

export interface ServerSetting {
    name: string;
    segment: string;
    master: string;
}

/**
 * The settings for segments and for the master/standby, from their memory limits; none when a
 * limit is unset ("" in the config), because then there is no limit to stay under.
 * gp_resource_manager stays `queue`: resource groups need a writable cgroup hierarchy, which a
 * PSS-restricted pod does not get.
 */
export function greenplumServerSettings(segmentMemory: string, masterMemory: string): ServerSetting[] {
    if (segmentMemory === "" || masterMemory === "") return [];
    const segment = vmemProtectLimitMb(segmentMemory);
    const master = vmemProtectLimitMb(masterMemory);
    return [
        { name: "gp_resource_manager", segment: "queue", master: "queue" },
        { name: "gp_vmem_protect_limit", segment: String(segment), master: String(master) },
        { name: "statement_mem", segment: `${statementMemMb(segment)}MB`, master: `${statementMemMb(master)}MB` },
        { name: "max_statement_mem", segment: `${maxStatementMemMb(segment)}MB`, master: `${maxStatementMemMb(master)}MB` },
    ];
}

/** The GP_SERVER_SETTINGS value the master's scripts apply with `gpconfig -c NAME -v SEGMENT -m MASTER`. */
export function serverSettingsEnv(settings: ServerSetting[]): string {
    return settings.map((s) => `${s.name} ${s.segment} ${s.master}`).join("\n");
}
