/**
 * `pg_hba.conf` lines read as Greenplum 6 reads them (src/backend/libpq/hba.c, Postgres 9.4's:
 * next_token, parse_hba_line, parse_hba_auth_opt), so that a line Greenplum would skip on a reload
 * (one LOG line) and refuse at the next master start is refused before anything is created; and
 * greenplum-k8s' own rule on top: `trust` and `password` only for one host, `password` never in
 * production. The stack config check and the policy pack both call hbaProblems.
 *
 * Where this check is stricter than Greenplum it says so in its message: IPv4 addresses must be
 * four decimal octets (getaddrinfo also takes "10.1" and reads "010" as octal), and methods that
 * depend on how the server was built, or on settings greenplum-k8s does not make, are refused.
 */

interface Token {
    text: string;
    /** Written in double quotes: never a keyword (hba.c token_is_keyword). */
    quoted: boolean;
}

/** Greenplum's MAX_TOKEN is 256 bytes including the terminator. */
const MAX_TOKEN_LENGTH = 255;

/** One token from `line` at `position`, as next_token reads it: leading blanks and commas skipped, a `#` outside quotes ends the line. */
function nextToken(line: string, position: number): { token?: Token; terminatingComma: boolean; next: number } {
    let i = position;
    while (i < line.length && /[ \t,]/.test(line[i])) i += 1;
    let text = "";
    let inQuote = false;
    let sawQuote = false;
    let initialQuote = false;
    let terminatingComma = false;
    while (i < line.length && (inQuote || !/[ \t]/.test(line[i]))) {
        const c = line[i];
        if (c === "#" && !inQuote) {
            i = line.length;
            break;
        }
        if (c === "," && !inQuote) {
            terminatingComma = true;
            i += 1;
            break;
        }
        if (c === '"') {
            // Two double quotes inside quotes are one literal quote.
            if (inQuote && line[i + 1] === '"') {
                text += '"';
                i += 2;
                continue;
            }
            if (text === "" && !sawQuote) initialQuote = true;
            inQuote = !inQuote;
            sawQuote = true;
        } else {
            text += c;
        }
        i += 1;
    }
    const token = sawQuote || text !== "" ? { text, quoted: initialQuote } : undefined;
    return { token, terminatingComma, next: i };
}

/** A line's fields, each a list of tokens (a field continues while a token ends in a comma), as next_field_expand builds them; undefined for a blank or comment line. */
export function hbaFields(line: string): Token[][] | undefined {
    const fields: Token[][] = [];
    let position = 0;
    while (position < line.length) {
        const field: Token[] = [];
        let read;
        do {
            read = nextToken(line, position);
            position = read.next;
            if (read.token) field.push(read.token);
        } while (read.terminatingComma && position < line.length);
        if (field.length > 0) fields.push(field);
        if (!read.token && !read.terminatingComma) break;
    }
    return fields.length > 0 ? fields : undefined;
}

const CONNECTION_TYPES = ["local", "host", "hostssl", "hostnossl"];
const METHODS = ["trust", "reject", "md5", "password", "scram-sha-256", "ident", "peer", "gss", "sspi", "pam", "ldap", "cert", "radius"];
/** Options each method takes (parse_hba_auth_opt); clientcert needs hostssl, refused here anyway. */
const METHOD_OPTIONS: Record<string, string[]> = {
    ident: ["map"],
    peer: ["map"],
    radius: ["radiusserver", "radiusport", "radiussecret", "radiusidentifier"],
};

/** What an address field matches: one host, or many (for the trust/password rule). */
interface AddressMatch {
    /** What it matches, as the message says it, e.g. "every host in 10.0.0.0/8". */
    shown: string;
    oneHost: boolean;
    /** Fields the address used (1, or 2 with a separate netmask). */
    width: number;
}

/** Why a line is refused, and whether Greenplum itself would read it (then the refusal is this check's stricter rule). */
export interface Refusal {
    message: string;
    greenplumReads: boolean;
}

/** Greenplum skips the line on reload and refuses it at the next start. */
const refused = (message: string): Refusal => ({ message, greenplumReads: false });
/** Greenplum reads the line (perhaps otherwise than meant); greenplum-k8s refuses it. */
const stricter = (message: string): Refusal => ({ message, greenplumReads: true });

type Parsed<T> = { value: T } | { problem: Refusal };

function ipv4Octets(text: string): number[] | undefined {
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) return undefined;
    const octets = text.split(".").map(Number);
    return octets.every((o) => o <= 255) ? octets : undefined;
}

/** A numeric address as getaddrinfo(AI_NUMERICHOST) would take it, or why not; undefined when it is not meant as one (a host name). */
function numericAddress(text: string): Parsed<{ family: 4 | 6; bits: number[] }> | undefined {
    if (text.includes(":")) {
        const bits = ipv6Bits(text);
        return bits ? { value: { family: 6, bits } } : { problem: stricter(`"${text}" is not an IPv6 address`) };
    }
    if (!/^[\d.]+$/.test(text)) return undefined;
    const octets = ipv4Octets(text);
    if (!octets) return { problem: stricter(`"${text}" is not an IPv4 address: write four decimal octets from 0 to 255, e.g. 10.1.2.3 (stricter than Greenplum, which also reads shortened forms such as 10.1)`) };
    if (text.split(".").some((o) => o.length > 1 && o.startsWith("0"))) {
        return { problem: stricter(`"${text}" has an octet with a leading zero, which Greenplum reads as octal (010 is 8): write it without leading zeros`) };
    }
    return { value: { family: 4, bits: octets.flatMap((o) => [...o.toString(2).padStart(8, "0")].map(Number)) } };
}

/** The 128 bits of an IPv6 address (RFC 4291 text forms, an embedded IPv4 tail included), or undefined. */
function ipv6Bits(text: string): number[] | undefined {
    const address = text.replace(/%[A-Za-z0-9_.-]+$/, "");
    const halves = address.split("::");
    if (halves.length > 2) return undefined;
    const groupsOf = (part: string): string[] | undefined => {
        if (part === "") return [];
        const groups = part.split(":");
        const last = groups[groups.length - 1];
        const v4 = last.includes(".") ? ipv4Octets(last) : undefined;
        if (last.includes(".") && !v4) return undefined;
        if (v4) groups.splice(groups.length - 1, 1, ((v4[0] << 8) | v4[1]).toString(16), ((v4[2] << 8) | v4[3]).toString(16));
        return groups.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g)) ? groups : undefined;
    };
    const head = groupsOf(halves[0]);
    const tail = halves.length === 2 ? groupsOf(halves[1]) : [];
    if (!head || !tail) return undefined;
    const missing = 8 - head.length - tail.length;
    if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
    const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
    return groups.flatMap((g) => [...parseInt(g, 16).toString(2).padStart(16, "0")].map(Number));
}

const HOST_NAME = /^\.?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

/** The address field of a host line (and its netmask field), as parse_hba_line reads it. */
function parseAddress(fields: Token[][], index: number): Parsed<AddressMatch> {
    const field = fields[index];
    if (!field) return { problem: refused("has no address: end-of-line before IP address specification; give a host's address as a.b.c.d/32, a network, a host name, samehost or samenet") };
    if (field.length > 1) return { problem: refused("has several addresses (a comma-separated list): Greenplum takes one address range per line; write one line per address") };
    const token = field[0];
    if (!token.quoted && ["all", "samehost", "samenet"].includes(token.text)) {
        const shown = { all: "every address (all)", samehost: "the master pod's own addresses (samehost)", samenet: "every host on the master pod's subnets (samenet)" }[token.text as "all" | "samehost" | "samenet"];
        return { value: { shown, oneHost: token.text === "samehost", width: 1 } };
    }
    const [address, prefix, ...rest] = token.text.split("/");
    const numeric = numericAddress(address);
    if (numeric && "problem" in numeric) return numeric;
    if (!numeric) {
        if (prefix !== undefined) return { problem: refused(`"${token.text}" gives a host name a CIDR mask, which Greenplum refuses ("specifying both host name and CIDR mask is invalid"): write the network's address, e.g. 10.0.0.0/8`) };
        if (!HOST_NAME.test(address)) return { problem: stricter(`"${token.text}" is neither an IP address nor a host name`) };
        // A leading dot matches every host whose name ends so (hba.c check_hostname).
        return { value: { shown: address.startsWith(".") ? `every host whose name ends in ${address}` : address, oneHost: !address.startsWith("."), width: 1 } };
    }
    const { family, bits } = numeric.value;
    const maxBits = family === 4 ? 32 : 128;
    if (prefix !== undefined) {
        if (rest.length > 0 || !/^\d{1,3}$/.test(prefix) || Number(prefix) > maxBits) {
            return { problem: refused(`"${token.text}" has an invalid CIDR mask: the prefix length is a whole number from 0 to ${maxBits}`) };
        }
        const length = Number(prefix);
        if (bits.slice(length).some((b) => b === 1)) {
            const network = family === 4 ? "the network's own address" : "the network's own address (host bits zero)";
            return { problem: stricter(`"${token.text}" has host bits set beyond /${length}: Greenplum matches the whole network anyway, so write ${network} to say what is meant`) };
        }
        return { value: { shown: `every host in ${token.text}`, oneHost: length === maxBits, width: 1 } };
    }
    // An address without a prefix takes its mask from the next field.
    const maskField = fields[index + 1];
    if (!maskField) return { problem: refused(`"${token.text}" has no mask: end-of-line before netmask specification; write ${token.text}/${maxBits} for one host, or add the netmask`) };
    if (maskField.length > 1) return { problem: refused("has several netmasks (a comma-separated list): give one") };
    const mask = numericAddress(maskField[0].text);
    if (!mask || "problem" in mask) {
        const message = `"${maskField[0].text}" is not a netmask: after an address without /prefix Greenplum reads the next field as its mask, e.g. 255.255.255.255 for one host`;
        // A shortened numeric form (10.1) is a mask to Greenplum's getaddrinfo, only not to this check.
        return { problem: mask ? stricter(message) : refused(message) };
    }
    if (mask.value.family !== family) return { problem: refused(`address ${token.text} and mask ${maskField[0].text} are of different IP families ("IP address and mask do not match")`) };
    return { value: { shown: `every host in ${token.text} mask ${maskField[0].text}`, oneHost: mask.value.bits.every((b) => b === 1), width: 2 } };
}

function optionsProblem(method: string, options: Token[][]): Refusal | undefined {
    const allowed = METHOD_OPTIONS[method] ?? [];
    const given = new Map<string, string>();
    for (const token of options.flat()) {
        const equals = token.text.indexOf("=");
        if (equals < 0) return refused(`has "${token.text}" after the method: options are name=value ("authentication option not in name=value format")`);
        const name = token.text.slice(0, equals);
        if (!allowed.includes(name)) {
            return refused(allowed.length > 0
                ? `has option "${name}", which ${method} does not take (it takes ${allowed.join(", ")})`
                : `has option "${name}", but ${method} takes no options here`);
        }
        given.set(name, token.text.slice(equals + 1));
    }
    if (method === "radius") {
        for (const required of ["radiusserver", "radiussecret"]) {
            if (!given.has(required)) return refused(`uses radius without ${required}=…, which Greenplum requires`);
        }
        const port = given.get("radiusport");
        if (port !== undefined && !/^\d+$/.test(port)) return refused(`has radiusport=${port}: a port number`);
    }
    return undefined;
}

export interface HbaRules {
    /** Production refuses `password` (clear text on the wire) everywhere. */
    production: boolean;
}

/** Why one pg_hba.conf line is refused, or undefined if Greenplum reads it and greenplum-k8s allows it. */
export function hbaLineRefusal(line: string, rules: HbaRules): Refusal | undefined {
    const fields = hbaFields(line);
    if (!fields) return undefined;
    if (fields.some((f) => f.some((t) => t.text.length > MAX_TOKEN_LENGTH))) return stricter(`has a word longer than ${MAX_TOKEN_LENGTH} characters, which Greenplum skips ("authentication file token too long")`);
    const type = fields[0];
    if (type.length > 1) return refused("has several connection types: Greenplum takes exactly one per line");
    if (!CONNECTION_TYPES.includes(type[0].text)) return refused(`starts with "${type[0].text}": a line starts with local, host, hostssl or hostnossl (lower case)`);
    const connection = type[0].text;
    if (connection === "hostssl") return refused('is a hostssl line: the master runs with ssl off, so Greenplum refuses it ("hostssl requires SSL to be turned on"); use host or hostnossl');
    if (!fields[1]) return refused("has no database: end-of-line before database specification (e.g. all, or a database name)");
    if (!fields[2]) return refused("has no role: end-of-line before role specification (e.g. all, or a role name)");
    const include = [...fields[1], ...fields[2]].find((t) => !t.quoted && t.text.startsWith("@"));
    if (include) return stricter(`names a file (${include.text}) for databases or roles, which does not exist in the master pod: list the names on the line`);

    let address: AddressMatch = { shown: "the master pod's own socket", oneHost: true, width: 0 };
    if (connection !== "local") {
        const parsed = parseAddress(fields, 3);
        if ("problem" in parsed) return parsed.problem;
        address = parsed.value;
    }
    const methodIndex = 3 + address.width;
    const methodField = fields[methodIndex];
    if (!methodField) return refused("has no authentication method: end-of-line before authentication method; end the line with md5 or scram-sha-256 (or reject)");
    if (methodField.length > 1) return refused("has several authentication methods: Greenplum takes exactly one per line");
    const method = methodField[0].text;
    if (!METHODS.includes(method)) {
        const lower = method.toLowerCase();
        const hint = METHODS.includes(lower) ? ` (methods are lower case: ${lower})` : "";
        return refused(`has authentication method "${method}", which Greenplum does not know${hint}`);
    }
    if (method === "sspi") return refused("uses sspi, which exists only on Windows builds of Greenplum");
    if (["gss", "pam", "ldap"].includes(method)) return stricter(`uses ${method}, which works only if the image's Greenplum was built with it, and the image contract does not require that: use md5 or scram-sha-256`);
    if (method === "cert") return refused("uses cert, which needs a hostssl line and ssl on; the master runs with ssl off");
    if (method === "peer" && connection !== "local") return refused('uses peer on a host line: Greenplum takes peer only on local lines ("peer authentication is only supported on local sockets")');
    const options = optionsProblem(method === "ident" && connection === "local" ? "peer" : method, fields.slice(methodIndex + 1));
    if (options) return options;

    if (method === "password" && rules.production) return stricter("uses password, which sends the password in clear text: use md5 or scram-sha-256 (production refuses password on any line)");
    if ((method === "trust" || method === "password") && !address.oneHost) {
        const why = method === "trust" ? `trusts ${address.shown}, which hides authentication bugs` : `takes clear-text passwords from ${address.shown}, where anyone on the path can read them`;
        return stricter(`${why}: use md5 or scram-sha-256, or name one host (a.b.c.d/32 or an IPv6 address/128)`);
    }
    return undefined;
}

/** The problem with one pg_hba.conf line, or undefined if Greenplum reads it and greenplum-k8s allows it. */
export function hbaLineProblem(line: string, rules: HbaRules): string | undefined {
    return hbaLineRefusal(line, rules)?.message;
}

/** Every problem of a pg_hba.conf text, one per line, each naming the line. */
export function hbaProblems(text: string, rules: HbaRules): string[] {
    return text.split("\n").flatMap((line, index) => {
        const problem = hbaLineProblem(line, rules);
        return problem ? [`line ${index + 1} ("${line.trim()}") ${problem}`] : [];
    });
}
