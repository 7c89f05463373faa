/**
 * Rules for `greenplum.backup`: each returns what is wrong and how to fix
 * it, or undefined. Pure functions, called by the schema and directly by tests.
 */
import { show } from "./rules";

const CRON_FIELDS: { name: string; min: number; max: number; names?: string[] }[] = [
    { name: "minute", min: 0, max: 59 },
    { name: "hour", min: 0, max: 23 },
    { name: "day of month", min: 1, max: 31 },
    { name: "month", min: 1, max: 12, names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"] },
    { name: "day of week", min: 0, max: 7, names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] },
];
/** The macros the CronJob controller accepts (robfig/cron's descriptors, less @every). */
const CRON_MACROS = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"];

function cronValue(text: string, field: (typeof CRON_FIELDS)[number]): number | undefined {
    const named = field.names?.indexOf(text.toLowerCase());
    if (named !== undefined && named >= 0) return named + (field.min === 1 ? 1 : 0);
    if (!/^\d+$/.test(text)) return undefined;
    const n = Number(text);
    return n >= field.min && n <= field.max ? n : undefined;
}

function cronFieldProblem(text: string, field: (typeof CRON_FIELDS)[number]): string | undefined {
    for (const part of text.split(",")) {
        const [range, step, extra] = part.split("/");
        if (extra !== undefined || (step !== undefined && !/^[1-9]\d*$/.test(step))) return `${field.name} ${show(part)} has a bad step`;
        if (range === "*" || range === "?") continue;
        const [from, to, more] = range.split("-");
        if (more !== undefined) return `${field.name} ${show(part)} is not a value or a range`;
        const a = cronValue(from, field);
        const b = to === undefined ? a : cronValue(to, field);
        if (a === undefined || b === undefined) return `${field.name} ${show(part)} is outside ${field.min}-${field.max}${field.names ? ` (or ${field.names[0]}-${field.names[field.names.length - 1]})` : ""}`;
        if (b < a) return `${field.name} range ${show(part)} runs backwards`;
    }
    return undefined;
}

/** A CronJob schedule: five fields or a macro; no seconds field, no time zone prefix (always UTC here). */
export function backupScheduleProblem(schedule: string): string | undefined {
    const trimmed = schedule.trim();
    if (CRON_MACROS.includes(trimmed)) return undefined;
    if (/^(CRON_)?TZ=/.test(trimmed)) return `names a time zone: the schedule is UTC; write the five fields only, e.g. "0 2 * * *" (02:00 UTC every day)`;
    const fields = trimmed.split(/\s+/);
    if (fields.length !== 5) {
        return `is not a cron schedule: it has ${fields.length} field${fields.length === 1 ? "" : "s"}, cron needs 5 (minute hour day-of-month month day-of-week), e.g. "0 2 * * *" (02:00 UTC every day), or ${CRON_MACROS.slice(3, 5).join(" / ")}`;
    }
    for (let i = 0; i < 5; i++) {
        const problem = cronFieldProblem(fields[i], CRON_FIELDS[i]);
        if (problem) return `is not a cron schedule: ${problem}; e.g. "0 2 * * *" (02:00 UTC every day)`;
    }
    return undefined;
}

/** An endpoint URL the plugin can use: scheme and host[:port], nothing after. */
export function s3EndpointProblem(endpoint: string): string | undefined {
    const m = /^(https?):\/\/([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(:(\d{1,5}))?\/?$/.exec(endpoint);
    if (!m) return `is not an endpoint URL: write the scheme and host (and port), e.g. "https://s3.example.internal:9000"; the bucket and folder have keys of their own`;
    if (m[4] !== undefined && (Number(m[4]) < 1 || Number(m[4]) > 65535)) return `has port ${m[4]}, outside 1-65535`;
    return undefined;
}

/** S3's bucket naming rules (which most S3-compatible stores follow). */
export function s3BucketNameProblem(bucket: string): string | undefined {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) return `is not a bucket name: 3-63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit`;
    if (/\.\.|^\d+\.\d+\.\d+\.\d+$/.test(bucket)) return `is not a bucket name: no ".." and not an IP address`;
    return undefined;
}

/** GCS's bucket naming rules (cloud.google.com/storage/docs/buckets#naming). */
export function gcsBucketNameProblem(bucket: string): string | undefined {
    if (!/^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$/.test(bucket)) {
        return `is a bucket name GCS refuses: 3-63 lower-case letters, digits, '-' and '_', starting and ending with a letter or digit${bucket.includes(".") ? " (names with dots need a verified domain: leave them out)" : ""}`;
    }
    if (bucket.startsWith("goog") || /g(o|0)(o|0)gle/.test(bucket)) return `is a bucket name GCS refuses: it may not start with "goog" or contain "google"`;
    return undefined;
}

/** A folder (key prefix) inside the bucket. */
export function s3FolderProblem(folder: string): string | undefined {
    if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(folder)) return `is not a folder: letters, digits, '.', '_' and '-' in parts separated by '/', with no leading or trailing '/', e.g. "greenplum/prod"`;
    return undefined;
}
