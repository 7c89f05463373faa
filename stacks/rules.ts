/**
 * Rules for config values that a pattern cannot express: what a CIDR, a quantity or a name really
 * allows, and which ranges, namespaces and names collide. Pure functions: each returns what the
 * value must be and how to fix it, or undefined when the value is fine; `config.ts` adds the key
 * path in front and the value (" (got ...)") behind.
 */
import * as path from "path";

/** How values are shown in messages: as JSON, so strings keep their quotes. */
export function show(value: unknown): string {
    const text = JSON.stringify(value);
    return text === undefined ? "nothing" : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

// ---------------------------------------------------------------------------------------------
// IPv4 CIDRs

export interface Cidr {
    /** The network address as a 32-bit unsigned number. */
    network: number;
    prefix: number;
    text: string;
}

function formatAddress(address: number): string {
    return [24, 16, 8, 0].map((shift) => (address >>> shift) & 255).join(".");
}

function maskOf(prefix: number): number {
    return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses "a.b.c.d/n" strictly: four decimal octets 0-255, a prefix 0-32, no host bits set. */
export function parseCidr(text: string): { cidr: Cidr } | { problem: string } {
    const example = 'such as "10.0.0.0/8"';
    const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
    if (!match) return { problem: `must be an IPv4 CIDR ${example}` };
    const octets = match.slice(1, 5).map(Number);
    const bad = octets.find((o) => o > 255);
    if (bad !== undefined) return { problem: `must be an IPv4 CIDR: ${bad} is not an octet, each of the four is 0 to 255` };
    const prefix = Number(match[5]);
    if (prefix > 32) return { problem: `must be an IPv4 CIDR: the prefix /${prefix} is longer than 32 bits` };
    const address = octets.reduce((acc, o) => acc * 256 + o, 0) >>> 0;
    const network = (address & maskOf(prefix)) >>> 0;
    if (network !== address) {
        return { problem: `must be a network address: host bits are set after /${prefix}; use "${formatAddress(network)}/${prefix}"` };
    }
    return { cidr: { network, prefix, text } };
}

/** The problem with a CIDR, or undefined. */
export function cidrProblem(text: string): string | undefined {
    const parsed = parseCidr(text);
    return "problem" in parsed ? parsed.problem : undefined;
}

/** Whether two ranges share any address (one contains the other's network). */
export function overlaps(a: Cidr, b: Cidr): boolean {
    const prefix = Math.min(a.prefix, b.prefix);
    return ((a.network & maskOf(prefix)) >>> 0) === ((b.network & maskOf(prefix)) >>> 0);
}

/** A range that lets every address in: 0.0.0.0/0. */
export function isEverywhere(text: string): boolean {
    const parsed = parseCidr(text);
    return "cidr" in parsed && parsed.cidr.prefix === 0;
}

// ---------------------------------------------------------------------------------------------
// Quantities: checked by what they measure

const DECIMAL = { k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 } as const;
const BINARY = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 } as const;
type Suffix = keyof typeof DECIMAL | keyof typeof BINARY;

/** Splits a Kubernetes quantity into number and suffix ("1.5Gi" → 1.5, "Gi"); undefined when it is not one. */
function splitQuantity(text: string): { amount: number; suffix: string } | undefined {
    const match = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(text);
    return match ? { amount: Number(match[1]), suffix: match[2] ?? "" } : undefined;
}

/** CPU: cores ("2", "0.5") or millicores ("500m"), more than zero; "" means no limit. */
export function cpuProblem(text: string): string | undefined {
    if (text === "") return undefined;
    const quantity = splitQuantity(text);
    if (!quantity) return `must be a CPU amount in cores or millicores such as "2", "0.5" or "500m", or "" for no limit`;
    if (quantity.suffix !== "" && quantity.suffix !== "m") {
        return `must be a CPU amount in cores or millicores such as "2" or "500m": ${quantity.suffix} is a unit of bytes, for memory`;
    }
    const cores = quantity.suffix === "m" ? quantity.amount / 1000 : quantity.amount;
    if (cores < 0.001) return `must be at least "1m" (one millicore); use "" for no limit`;
    return undefined;
}

/** Bytes of a memory or storage quantity; undefined when the text is not a byte quantity. */
export function bytesOf(text: string): number | undefined {
    const quantity = splitQuantity(text);
    if (!quantity || quantity.suffix === "m") return undefined;
    const factor = quantity.suffix === "" ? 1 : (DECIMAL as Record<string, number>)[quantity.suffix] ?? BINARY[quantity.suffix as Suffix & keyof typeof BINARY];
    return quantity.amount * factor;
}

/** The least memory a Greenplum pod is given: less is a unit slip ("512" bytes, "64k"), not a sizing. */
export const MIN_MEMORY_BYTES = 64 * 2 ** 20;

/** Memory: bytes with a binary or decimal unit ("16Gi", "2Gi"), at least 64Mi; "" means no limit. Suggestions respect the capacity model's 1Gi floor for a Greenplum pod. */
export function memoryProblem(text: string): string | undefined {
    if (text === "") return undefined;
    const quantity = splitQuantity(text);
    if (quantity?.suffix === "m") {
        const meant = `${quantity.amount}Mi`;
        const write = quantity.amount >= 1024 ? `write "${meant}"` : `write "1Gi" ("${meant}" is under a Greenplum pod's 1Gi floor)`;
        return `must be an amount of memory such as "2Gi" or "16Gi": "m" means thousandths, so this is ${quantity.amount / 1000} bytes; ${write}`;
    }
    const bytes = bytesOf(text);
    if (bytes === undefined) return `must be an amount of memory such as "2Gi" or "16Gi", or "" for no limit`;
    if (bytes < MIN_MEMORY_BYTES) return `must be at least "1Gi" for a Greenplum pod; ${bytes} bytes is a unit slip, e.g. "2Gi" or "16Gi"`;
    return undefined;
}

/** Node directories on tmpfs: tmpfs rejects O_DIRECT, and its contents go with a reboot. */
const TMPFS_DIRECTORIES = /^\/(tmp|run|dev\/shm)(\/|$)/;

/** local-path's node directory: persistent, judged where it really is ("/data/../tmp" is /tmp). */
export function localPathProblem(text: string): string | undefined {
    const normalised = path.posix.normalize(text);
    if (!TMPFS_DIRECTORIES.test(normalised)) return undefined;
    const where = normalised === text ? "" : ` (${JSON.stringify(text)} is ${JSON.stringify(normalised)})`;
    return `must be a persistent directory, not under /tmp, /run or /dev/shm${where}: tmpfs rejects O_DIRECT; use e.g. "/data/local-path-provisioner"`;
}

/** A volume size: bytes with a unit ("10Gi", "1Ti"), more than zero. */
export function storageProblem(text: string): string | undefined {
    const quantity = splitQuantity(text);
    if (!quantity || quantity.suffix === "" || quantity.suffix === "m") return `must be a storage size such as "10Gi" or "1Ti"`;
    if ((bytesOf(text) ?? 0) < 2 ** 20) return `must be a storage size of at least "1Mi", such as "10Gi"`;
    return undefined;
}

// ---------------------------------------------------------------------------------------------
// Names

/**
 * Namespaces Greenplum may not use: the cluster's own (Kubernetes reserves the kube- prefix;
 * "default" and kube-* already exist, so creating them fails at `up`).
 */
export function reservedNamespaceProblem(namespace: string): string | undefined {
    if (namespace === "default" || namespace.startsWith("kube-")) {
        return `must be a namespace of its own: ${show(namespace)} belongs to the cluster (it already exists, so creating it fails at pulumi up); use e.g. "greenplum"`;
    }
    return undefined;
}

/** Databases that exist in every Greenplum cluster: gpinitsystem's createdb fails on them. */
export const RESERVED_DATABASES = ["postgres", "template0", "template1"];

export function databaseProblem(name: string): string | undefined {
    if (RESERVED_DATABASES.includes(name)) {
        return `must not be ${RESERVED_DATABASES.join(", ")}: those exist in every Greenplum cluster and are not for data (gpinitsystem cannot create it again); use e.g. "analytics"`;
    }
    return undefined;
}

/**
 * GKE cluster names: lower-case letters, digits and '-', starting with a letter, ending with a
 * letter or digit, at most 40 characters (the GKE API's Cluster.name rule).
 */
export function gkeClusterNameProblem(name: string): string | undefined {
    if (!/^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(name)) {
        return `must be a GKE cluster name: lower-case letters, digits and '-', starting with a letter and ending with a letter or digit`;
    }
    if (name.length > 40) return `must be at most 40 characters, GKE's limit for cluster names; it has ${name.length}`;
    return undefined;
}

/**
 * Greenplum 6 reads segment host names into MAXHOSTNAMELEN buffers (64 bytes with the NUL on
 * Linux: sys/param.h, HOST_NAME_MAX) and refuses longer ones (cdbutil.c, "Invalid length of
 * hostname"), well below DNS's 253; the master's first init refuses them too.
 */
export const MAX_HOST_NAME = 63;

/**
 * The longest host name Greenplum will store in gp_segment_configuration: the headless-service
 * FQDN of the last mirror (or primary) pod.
 */
export function longestPodHostName(namespace: string, clusterDomain: string, primarySegmentCount: number, mirrors: boolean, headlessService: string): string {
    const pod = `${mirrors ? "segment-b" : "segment-a"}-${primarySegmentCount - 1}`;
    return `${pod}.${headlessService}.${namespace}.svc.${clusterDomain}`;
}

// ---------------------------------------------------------------------------------------------
// GKE zones and ranges

/** A GCP region's name ("europe-west1"); its zones add "-<letter>". */
export const GCP_REGION = /^[a-z]+-[a-z]+[0-9]+$/;

/** Not a region's name; a zone's name gets its region as the fix. */
export function regionProblem(region: string): string | undefined {
    if (GCP_REGION.test(region)) return undefined;
    const zoneOf = /^([a-z]+-[a-z]+[0-9]+)-[a-z]$/.exec(region);
    return zoneOf ? `must be a GCP region, not a zone: use "${zoneOf[1]}" (its zones go in gke.zones)` : 'must be a GCP region such as "europe-west1"';
}

/** A zone outside the region: node pools cannot be created there. Not judged against a region that is itself no region's name. */
export function zoneProblem(zone: string, region: string): string | undefined {
    if (!GCP_REGION.test(region) || zone.startsWith(`${region}-`)) return undefined;
    return `must be a zone of gke.region ${show(region)}, such as "${region}-b"`;
}

/** The /28 of the private control plane: exactly a /28, on a /28 boundary. */
export function masterCidrProblem(text: string): string | undefined {
    const parsed = parseCidr(text);
    if ("problem" in parsed) return parsed.problem.replace(/such as "10\.0\.0\.0\/8"/, 'such as "172.16.0.0/28"');
    if (parsed.cidr.prefix !== 28) return `must be a /28 such as "172.16.0.0/28": GKE's private control plane takes exactly 16 addresses`;
    return undefined;
}

export interface NamedRange {
    /** Key path under greenplum-k8s:, e.g. "gke.network.podsCidr". */
    key: string;
    text: string;
}

/** Every pair of ranges that overlap, as [later key, message]: GKE refuses overlapping ranges. */
export function rangeOverlaps(ranges: NamedRange[]): [string, string][] {
    const parsed = ranges.flatMap((r) => {
        const p = parseCidr(r.text);
        return "cidr" in p ? [{ ...r, cidr: p.cidr }] : [];
    });
    const problems: [string, string][] = [];
    parsed.forEach((b, j) => {
        for (const a of parsed.slice(0, j)) {
            if (overlaps(a.cidr, b.cidr)) {
                problems.push([b.key, `must not overlap ${a.key} (${a.text}): GKE needs the subnet, pod, service and control-plane ranges disjoint`]);
            }
        }
    });
    return problems;
}
