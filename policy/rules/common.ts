import type {
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
} from "@pulumi/policy";

/**
 * Plumbing shared by every rule: tolerant readers for the untyped property bags the engine hands
 * over, and the two builders that turn a pure check into a Pulumi policy.
 *
 * Only type imports from @pulumi/policy: rule modules load without the policy server (or gRPC),
 * so tests and `evaluatePack` can run them directly.
 */

/** A JSON object as the engine passes it (resource inputs, or outputs in stack policies). */
export type Json = Record<string, unknown>;

export function isObj(value: unknown): value is Json {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The value as an object, or `{}`: lets checks read optional nesting without guards. */
export function obj(value: unknown): Json {
    return isObj(value) ? value : {};
}

/** The value as an array, or `[]`. */
export function arr(value: unknown): unknown[] {
    return Array.isArray(value) ? value : [];
}

/** The value as a string, or undefined. */
export function str(value: unknown): string | undefined {
    return typeof value === "string" ? value : undefined;
}

/** A CIDR that lets every address in: a /0 such as 0.0.0.0/0 or ::/0. */
export function isEverywhere(cidr: unknown): boolean {
    return typeof cidr === "string" && /^[0-9a-fA-F.:]+\/0$/.test(cidr.trim());
}

/** Reads `value.a.b.c` tolerating missing or non-object steps. */
export function at(value: unknown, ...path: string[]): unknown {
    let current = value;
    for (const key of path) {
        if (!isObj(current)) return undefined;
        current = current[key];
    }
    return current;
}

/** The string values of a map field (labels, annotations, selectors). */
export function stringMap(value: unknown): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [key, v] of Object.entries(obj(value))) {
        if (typeof v === "string") out[key] = v;
    }
    return out;
}

/** Policy config as the rules see it: the schema's defaults overlaid with what the stack passed. */
export function withDefaults<C>(schema: PolicyConfigSchema | undefined, given: object | undefined): C {
    const config: Json = {};
    for (const [key, prop] of Object.entries(schema?.properties ?? {})) {
        if (prop.default !== undefined) config[key] = prop.default;
    }
    for (const [key, value] of Object.entries(given ?? {})) {
        if (key !== "enforcementLevel" && value !== undefined) config[key] = value;
    }
    return config as C;
}

/** The `production` switch every production-only rule declares. */
export const productionSchema = {
    type: "boolean" as const,
    default: false,
    description: "true for production stacks: turns on the checks that only production needs (the policy does nothing otherwise).",
};

/** Config of a policy whose only setting is the production switch. */
export interface ProductionConfig {
    production: boolean;
}

/** configSchema of a policy whose only setting is the production switch. */
export const productionOnly = { properties: { production: productionSchema } };

/** What a resource check sees besides the resource's properties. */
export interface ResourceContext {
    type: string;
    /** The Pulumi resource name (the logical name, not metadata.name). */
    name: string;
    /** Resource options; `protect` is the only one the rules read. */
    opts?: Partial<PolicyResourceOptions>;
}

/** A pure resource check: the properties and config in, one message per violation out. */
export type ResourceCheck<C> = (props: Json, config: C, context: ResourceContext) => string[];

/** A resource of the stack as a stack check sees it. */
export interface StackResource {
    type: string;
    name: string;
    urn: string;
    props: Json;
    opts?: Partial<PolicyResourceOptions>;
}

/** A stack violation: the message and, when it is about one resource, that resource's URN. */
export interface StackViolation {
    message: string;
    urn?: string;
}

/** A pure stack check: every resource and the config in, violations out. */
export type StackCheck<C> = (resources: StackResource[], config: C) => StackViolation[];

interface PolicyMeta {
    /** Unique in the pack; the key for the policy in a --policy-pack-config file. */
    name: string;
    /** One line: what the policy requires and why. */
    description: string;
    enforcementLevel: EnforcementLevel;
    configSchema?: PolicyConfigSchema;
}

/** A resource policy that also carries its pure check, so tests and `evaluatePack` can reach it. */
export type GreenplumResourcePolicy<C = Json> = ResourceValidationPolicy & { kind: "resource"; types: readonly string[]; check: ResourceCheck<C> };

/** A stack policy that also carries its pure check. */
export type GreenplumStackPolicy<C = Json> = StackValidationPolicy & { kind: "stack"; check: StackCheck<C> };

export type GreenplumPolicy = GreenplumResourcePolicy<never> | GreenplumStackPolicy<never>;

/** Builds a resource policy that runs `check` on resources whose type token is one of `types`. */
export function resourcePolicy<C>(meta: PolicyMeta & { types: readonly string[]; check: ResourceCheck<C> }): GreenplumResourcePolicy<C> {
    const { types, check, ...rest } = meta;
    return {
        ...rest,
        kind: "resource",
        types,
        check,
        validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
            if (!types.includes(args.type)) return;
            const config = withDefaults<C>(meta.configSchema, args.getConfig<object>());
            for (const message of check(obj(args.props), config, { type: args.type, name: args.name, opts: args.opts })) {
                reportViolation(message);
            }
        },
    };
}

/** Builds a stack policy that runs `check` over every resource of the stack. */
export function stackPolicy<C>(meta: PolicyMeta & { check: StackCheck<C> }): GreenplumStackPolicy<C> {
    const { check, ...rest } = meta;
    return {
        ...rest,
        kind: "stack",
        check,
        validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
            const config = withDefaults<C>(meta.configSchema, args.getConfig<object>());
            const resources = args.resources.map((r) => ({ type: r.type, name: r.name, urn: r.urn, props: obj(r.props), opts: r.opts }));
            for (const violation of check(resources, config)) {
                reportViolation(violation.message, violation.urn);
            }
        },
    };
}
