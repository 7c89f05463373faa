import * as fs from "fs";
import { parse } from "yaml";
import { PROJECT, SECRET_PLACEHOLDER } from "./mock-runtime";

/** A stack file's config in `pulumi.runtime.allConfig()` form, and which keys hold secrets. */
export interface StackFileConfig {
    config: Record<string, string>;
    secretKeys: string[];
}

function isSecure(value: unknown): boolean {
    return typeof value === "object" && value !== null && Object.keys(value).length === 1 && "secure" in value;
}

/** `secure:` values can't be decrypted offline: they become "[secret]". Returns whether any was found. */
function replaceSecure(value: unknown): { value: unknown; secret: boolean } {
    if (isSecure(value)) return { value: SECRET_PLACEHOLDER, secret: true };
    if (Array.isArray(value)) {
        const items = value.map(replaceSecure);
        return { value: items.map((i) => i.value), secret: items.some((i) => i.secret) };
    }
    if (value && typeof value === "object") {
        const entries = Object.entries(value).map(([k, v]) => [k, replaceSecure(v)] as const);
        return { value: Object.fromEntries(entries.map(([k, r]) => [k, r.value])), secret: entries.some(([, r]) => r.secret) };
    }
    return { value, secret: false };
}

/**
 * Reads a `Pulumi.<stack>.yaml` file as the Pulumi CLI would hand it to the program: keys without
 * a namespace belong to the project, objects and scalars arrive as text.
 */
export function readStackFile(file: string): StackFileConfig {
    let document: unknown;
    try {
        document = parse(fs.readFileSync(file, "utf8"));
    } catch (err) {
        throw new Error(`cannot read stack config file ${file}: ${(err as Error).message}`);
    }
    const section = (document as { config?: unknown } | null)?.config ?? {};
    if (typeof section !== "object" || Array.isArray(section)) throw new Error(`${file}: "config" must be a map of keys to values`);

    const config: Record<string, string> = {};
    const secretKeys: string[] = [];
    for (const [rawKey, rawValue] of Object.entries(section as Record<string, unknown>)) {
        const key = rawKey.includes(":") ? rawKey : `${PROJECT}:${rawKey}`;
        const { value, secret } = replaceSecure(rawValue);
        config[key] = typeof value === "string" ? value : JSON.stringify(value);
        if (secret) secretKeys.push(key);
    }
    return { config, secretKeys };
}
