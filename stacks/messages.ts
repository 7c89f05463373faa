import type { z } from "zod";

/**
 * Our words for every kind of problem zod reports, used wherever a schema gives no message of its
 * own: users read what the value must be, never the library's text.
 */

type RawIssue = z.core.$ZodRawIssue;

const TYPE_NAMES: Record<string, string> = {
    string: "text",
    number: "a number",
    int: "a whole number",
    boolean: "true or false",
    array: "a list",
    object: "a map of keys to values",
    record: "a map of keys to values",
};

function list(values: readonly unknown[]): string {
    const shown = values.map((v) => JSON.stringify(v));
    return shown.length <= 1 ? shown.join("") : `${shown.slice(0, -1).join(", ")} or ${shown[shown.length - 1]}`;
}

function bound(issue: { origin: string; inclusive?: boolean }, limit: number | bigint, side: "least" | "most"): string {
    const n = Number(limit);
    switch (issue.origin) {
        case "string":
            return side === "least" && n === 1 ? "must not be empty" : `must have at ${side} ${n} character${n === 1 ? "" : "s"}`;
        case "array":
        case "set":
            return `must list at ${side} ${n} item${n === 1 ? "" : "s"}`;
        default:
            if (issue.inclusive === false) return `must be ${side === "least" ? "more" : "less"} than ${n}`;
            return `must be at ${side} ${n}`;
    }
}

/** The message for an issue the schema left without one. */
export function issueMessage(issue: RawIssue): string {
    switch (issue.code) {
        case "invalid_type":
            return `must be ${TYPE_NAMES[issue.expected] ?? issue.expected}`;
        case "too_small":
            return bound(issue, issue.minimum, "least");
        case "too_big":
            return bound(issue, issue.maximum, "most");
        case "invalid_format":
            return issue.format === "regex" && "pattern" in issue ? `must match the pattern ${String(issue.pattern)}` : `must be a valid ${issue.format}`;
        case "not_multiple_of":
            return `must be a multiple of ${issue.divisor}`;
        case "invalid_value":
            return `must be ${list(issue.values)}`;
        case "invalid_union":
            return "must have one of the forms the configuration reference lists";
        case "invalid_key":
            return "has a key that is not allowed";
        case "invalid_element":
            return "has an entry that is not allowed";
        case "unrecognized_keys":
            return `has unknown keys ${list(issue.keys)}`;
        case "custom":
        default:
            return "is not allowed here";
    }
}
