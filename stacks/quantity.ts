/**
 * Kubernetes resource quantities as numbers, for the capacity model and Greenplum's memory
 * settings. Only the forms the config schema admits are read (its `quantityPattern`).
 */

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { m: 1e-3, "": 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

/** The value of a quantity in base units (bytes, or cores); NaN when it is not one. */
export function quantityValue(quantity: string): number {
    const match = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|K|M|G|T|P|E)?$/.exec(quantity);
    if (!match) return Number.NaN;
    const unit = match[2] ?? "";
    return Number(match[1]) * (BINARY[unit] ?? DECIMAL[unit]);
}

/** CPU as millicores ("500m" → 500, "4" → 4000). */
export function millicores(cpu: string): number {
    return Math.round(quantityValue(cpu) * 1000);
}

/** Memory or storage as MiB ("1Gi" → 1024, "1G" → 953.67...). */
export function mebibytes(memory: string): number {
    return quantityValue(memory) / 2 ** 20;
}

/** Millicores as the quantity Kubernetes shows ("7500m", or "4" for whole cores). */
export function cpuQuantity(milli: number): string {
    return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

/** MiB as a quantity ("16Gi" when whole GiB, else "14643Mi"). */
export function memoryQuantity(mib: number): string {
    return mib % 1024 === 0 ? `${mib / 1024}Gi` : `${mib}Mi`;
}
