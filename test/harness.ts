import * as path from "path";
import program = require("../index");
import { deepMerge } from "../stacks/defaults";
import { parseStackConfig } from "../stacks";
import { kubernetesObjects, type KubernetesObject } from "../tools/manifests";
import { runProgram, unwrapSecrets, type ProgramRun, type RegisteredResource } from "../tools/mock-runtime";
import { readStackFile } from "../tools/stack-file";

/**
 * The one way tests run the program: a stack's real config file, optionally changed, evaluated by
 * the real index.ts under Pulumi's mocks. Every component is tested through it.
 */

export type ConfigChanges = Record<string, unknown>;

export interface Deployment extends ProgramRun {
    /** Kubernetes objects the program creates, secrets unwrapped (what the cluster would get). */
    objects: KubernetesObject[];
    /** The one object of this kind and name; fails the test when there is not exactly one. */
    object(kind: string, name: string): KubernetesObject;
    /** The resources of a Pulumi type token. */
    ofType(type: string): RegisteredResource[];
    /** The one resource of this type and name. */
    resource(type: string, name: string): RegisteredResource;
}

/**
 * Runs the program for stack `stack` (its Pulumi.<stack>.yaml) with `changes` deep-merged onto the
 * file's values, e.g. `{ "greenplum-k8s:greenplum": { segments: { mirrors: "no" } } }`. A value of
 * `undefined` removes the key.
 */
export async function deploy(stack: string, changes: ConfigChanges = {}): Promise<Deployment> {
    const file = readStackFile(path.join(__dirname, "..", `Pulumi.${stack}.yaml`));
    const config = { ...file.config };
    for (const [key, value] of Object.entries(changes)) {
        if (value === undefined) {
            delete config[key];
            continue;
        }
        const current = config[key] === undefined ? undefined : JSON.parse(config[key]);
        const merged = current && typeof current === "object" && value && typeof value === "object" && !Array.isArray(value) ? deepMerge(current, value as Record<string, unknown>) : value;
        config[key] = typeof merged === "string" ? merged : JSON.stringify(merged);
    }
    const run = await runProgram(program, config, { stack, secretKeys: file.secretKeys });
    const objects = kubernetesObjects(run.resources).map((o) => unwrapSecrets(o) as KubernetesObject);

    const exactlyOne = <T>(items: T[], what: string): T => {
        if (items.length !== 1) throw new Error(`expected exactly one ${what}, found ${items.length}`);
        return items[0];
    };
    return {
        ...run,
        objects,
        object: (kind, name) => exactlyOne(objects.filter((o) => o.kind === kind && o.metadata.name === name), `${kind} ${name}`),
        ofType: (type) => run.resources.filter((r) => r.type === type),
        resource: (type, name) => exactlyOne(run.resources.filter((r) => r.type === type && r.name === name), `${type} ${name}`),
    };
}

/** The problems a config change produces, one string per problem (empty when it is valid). */
export async function configProblems(stack: string, changes: ConfigChanges): Promise<string[]> {
    try {
        await deploy(stack, changes);
        return [];
    } catch (err) {
        const message = (err as Error).message;
        if (!message.startsWith("Invalid stack configuration")) throw err;
        return message.split("\n").slice(1).map((line) => line.replace(/^\s+- /, ""));
    }
}

/** allConfig form of a stack's config, from plain objects. */
export function stackConfig(values: Record<string, unknown>): Record<string, string> {
    return Object.fromEntries(Object.entries(values).map(([k, v]) => [`greenplum-k8s:${k}`, typeof v === "string" ? v : JSON.stringify(v)]));
}

/** The problems parseStackConfig lists for a config given as plain objects (empty when valid). */
export function problemsOf(values: Record<string, unknown>, extra: Record<string, string> = {}): string[] {
    try {
        parseStackConfig({ ...stackConfig(values), ...extra });
        return [];
    } catch (err) {
        return (err as { problems: string[] }).problems;
    }
}
