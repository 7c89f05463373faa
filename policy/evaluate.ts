import * as fs from "fs";
import * as path from "path";
import type {
    EnforcementLevel,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
} from "@pulumi/policy";
import { allPolicies } from "./policies";
import type { GreenplumPolicy } from "./rules/common";

/**
 * Runs the whole pack offline, without the Pulumi engine: over the resources of a rendered stack
 * (`resources.json`), through the same validateResource/validateStack callbacks the engine calls.
 */

/** One resource as the offline render writes it. */
export interface RenderedResource {
    /** Type token, e.g. "kubernetes:apps/v1:StatefulSet". */
    type: string;
    /** Pulumi resource name. */
    name: string;
    urn?: string;
    /** The resource's inputs (camelCase, as the SDK takes them). */
    inputs: Record<string, unknown>;
    /** Resource options the render knows (the rules read only `protect`). */
    opts?: Partial<PolicyResourceOptions>;
}

/** A policy's entry in a policy-pack config file: its enforcement level, or its settings. */
export type PolicyConfigEntry = EnforcementLevel | ({ enforcementLevel?: EnforcementLevel } & Record<string, unknown>);

/** A --policy-pack-config file: `all` sets every policy's level; a policy's own entry wins. */
export type PackConfig = Record<string, PolicyConfigEntry>;

export interface PackViolation {
    /** Policy name, e.g. "greenplum-data-on-pvc". */
    policy: string;
    /** Pulumi name of the offending resource; undefined for a violation of the stack as a whole. */
    resource?: string;
    type?: string;
    urn?: string;
    message: string;
    enforcementLevel: EnforcementLevel;
}

/** Reads policy/<name>.json (dev or production), or any config file path. */
export function readPackConfig(nameOrPath: "dev" | "production" | string): PackConfig {
    const file = nameOrPath === "dev" || nameOrPath === "production" ? path.join(__dirname, `${nameOrPath}.json`) : nameOrPath;
    return JSON.parse(fs.readFileSync(file, "utf8")) as PackConfig;
}

function splitEntry(entry: PolicyConfigEntry | undefined): { level?: EnforcementLevel; settings: Record<string, unknown> } {
    if (typeof entry === "string") return { level: entry, settings: {} };
    if (!entry) return { settings: {} };
    const { enforcementLevel, ...settings } = entry;
    return { level: enforcementLevel, settings };
}

/** The level a policy runs at under `config`, as the engine decides it. */
export function effectiveEnforcement(policy: GreenplumPolicy, config: PackConfig): EnforcementLevel {
    const level = splitEntry(config[policy.name]).level ?? splitEntry(config.all).level ?? policy.enforcementLevel ?? "advisory";
    return level === "remediate" ? "mandatory" : level;
}

class NotApplicable extends Error {}
const notApplicable = (reason?: string): never => {
    throw new NotApplicable(reason);
};

/** Resource options as the engine hands them to a policy, defaults filled in. */
export function fullOptions(opts: Partial<PolicyResourceOptions> | undefined): PolicyResourceOptions {
    return {
        protect: false,
        ignoreChanges: [],
        aliases: [],
        additionalSecretOutputs: [],
        customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
        ...opts,
    };
}

export function urnOf(r: RenderedResource): string {
    return r.urn ?? `urn:pulumi:offline::greenplum-k8s::${r.type}::${r.name}`;
}

/** Runs a callback that must be synchronous (all of this pack's are). */
function runSync(result: void | Promise<void>, policy: string): void {
    if (result instanceof Promise) throw new Error(`policy ${policy} is asynchronous; evaluatePack runs only synchronous policies`);
}

/**
 * Runs every resource policy on every resource and every stack policy on the list, with the
 * levels and settings of `config` (e.g. `readPackConfig("production")`). Disabled policies are
 * skipped. Returns every violation, advisory ones included.
 */
export function evaluatePack(resources: RenderedResource[], config: PackConfig = {}): PackViolation[] {
    const violations: PackViolation[] = [];
    const byUrn = new Map(resources.map((r) => [urnOf(r), r]));
    const stackTags = new Map<string, string>();
    for (const policy of allPolicies) {
        const enforcementLevel = effectiveEnforcement(policy, config);
        if (enforcementLevel === "disabled") continue;
        const settings = splitEntry(config[policy.name]).settings;
        const getConfig = <T extends object>() => settings as T;
        try {
            if (policy.kind === "resource" && policy.validateResource) {
                const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource];
                for (const r of resources) {
                    const urn = urnOf(r);
                    const report: ReportViolation = (message) =>
                        violations.push({ policy: policy.name, resource: r.name, type: r.type, urn, message, enforcementLevel });
                    const args: ResourceValidationArgs = {
                        type: r.type,
                        name: r.name,
                        urn,
                        props: r.inputs,
                        opts: fullOptions(r.opts),
                        stackTags,
                        isType: () => false,
                        asType: () => undefined,
                        getConfig,
                        notApplicable,
                    };
                    for (const validate of validations) runSync(validate(args, report), policy.name);
                }
            }
            if (policy.kind === "stack") {
                const stackResources = resources.map(toPolicyResource);
                const args: StackValidationArgs = { resources: stackResources, stackTags, getConfig, notApplicable };
                const report: ReportViolation = (message, urn) => {
                    const r = urn ? byUrn.get(urn) : undefined;
                    violations.push({ policy: policy.name, resource: r?.name, type: r?.type, urn, message, enforcementLevel });
                };
                runSync(policy.validateStack(args, report), policy.name);
            }
        } catch (e) {
            if (!(e instanceof NotApplicable)) throw e;
        }
    }
    return violations;
}

/** A rendered resource as a stack policy sees it. */
export function toPolicyResource(r: RenderedResource): PolicyResource {
    return {
        type: r.type,
        name: r.name,
        urn: urnOf(r),
        props: r.inputs,
        opts: fullOptions(r.opts),
        dependencies: [],
        propertyDependencies: {},
        isType: () => false,
        asType: () => undefined,
    };
}

/** One line per violation, for test failure output: "[mandatory] policy (resource): message". */
export function formatViolations(violations: PackViolation[]): string {
    return violations.map((v) => `[${v.enforcementLevel}] ${v.policy}${v.resource ? ` (${v.resource})` : ""}: ${v.message}`).join("\n");
}
