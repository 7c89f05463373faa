import * as pulumi from "@pulumi/pulumi";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import * as settings from "@pulumi/pulumi/runtime/settings";

/**
 * Runs the real program (index.ts) under Pulumi's mock runtime: every resource is registered as it
 * would be by `pulumi up`, only the engine and providers are replaced. Shared by the tests and the
 * offline render so both see exactly what a deployment would create.
 */

export const PROJECT = "greenplum-k8s";
export const SECRET_PLACEHOLDER = "[secret]";

export interface RegisteredResource {
    type: string;
    name: string;
    urn: string;
    custom: boolean;
    /** Inputs as the engine received them; secret values are wrapped (see `maskSecrets`). */
    inputs: Record<string, unknown>;
}

export interface ProgramRun {
    resources: RegisteredResource[];
    /** Stack outputs with secret values unwrapped. */
    outputs: Record<string, unknown>;
    /** Names of the outputs that are secret. */
    secretOutputs: string[];
}

interface SecretWrapper {
    value: unknown;
}

function isSecretWrapper(value: unknown): value is SecretWrapper {
    return typeof value === "object" && value !== null && (value as Record<string, unknown>)[specialSigKey] === specialSecretSig;
}

/** Replaces every secret in a value with "[secret]" and resource references with their URN. */
export function maskSecrets(value: unknown): unknown {
    if (isSecretWrapper(value)) return SECRET_PLACEHOLDER;
    if (Array.isArray(value)) return value.map(maskSecrets);
    if (pulumi.Resource.isInstance(value)) return "[resource reference]";
    if (value && typeof value === "object") {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskSecrets(v)]));
    }
    return value;
}

/** Removes secret wrappers, keeping the values (what a deployment would really send). */
export function unwrapSecrets(value: unknown): unknown {
    if (isSecretWrapper(value)) return unwrapSecrets(value.value);
    if (Array.isArray(value)) return value.map(unwrapSecrets);
    if (pulumi.Resource.isInstance(value)) return "[resource reference]";
    if (value && typeof value === "object") {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v)]));
    }
    return value;
}

/** Values the cloud would compute, so outputs derived from them resolve offline. */
function computedState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
    switch (type) {
        case "gcp:container/cluster:Cluster":
            return { ...inputs, endpoint: "203.0.113.10", masterAuth: { ...(inputs.masterAuth as object), clusterCaCertificate: "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t" } };
        case "gcp:serviceaccount/account:Account":
            return { ...inputs, email: `${inputs.accountId}@${inputs.project}.iam.gserviceaccount.com` };
        case "random:index/randomPassword:RandomPassword":
            return { ...inputs, result: `mock-password-${name}` };
        case "tls:index/privateKey:PrivateKey":
            return {
                ...inputs,
                privateKeyOpenssh: `-----BEGIN OPENSSH PRIVATE KEY-----\nmock-${name}\n-----END OPENSSH PRIVATE KEY-----\n`,
                publicKeyOpenssh: `ssh-${String(inputs.algorithm).toLowerCase()} AAAAmock${name}\n`,
            };
        default:
            return inputs;
    }
}

function settle<T>(output: pulumi.Output<T>): Promise<{ value: T; secret: boolean }> {
    return new Promise((resolve) => {
        output.apply((value) => {
            // isSecret is internal to Output but stable; it is how the engine learns secretness too.
            (output as unknown as { isSecret: Promise<boolean> }).isSecret.then((secret) => resolve({ value, secret }));
            return value;
        });
    });
}

/**
 * Runs `program` (the default export of index.ts) with `config` in Pulumi's
 * `pulumi.runtime.allConfig()` form ("namespace:key" → string).
 */
export async function runProgram(
    program: () => Promise<Record<string, unknown>>,
    config: Record<string, string>,
    options: { stack: string; secretKeys?: string[] },
): Promise<ProgramRun> {
    const calls: Omit<RegisteredResource, "urn">[] = [];
    pulumi.runtime.setAllConfig(config, options.secretKeys ?? []);
    await pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                calls.push({ type: args.type, name: args.name, custom: args.custom ?? true, inputs: args.inputs });
                return { id: `${args.name}-id`, state: computedState(args.type, args.name, args.inputs) };
            },
            call: (args) => args.inputs,
        },
        PROJECT,
        options.stack,
        false,
    );

    const exported = await program();
    const outputs: Record<string, unknown> = {};
    const secretOutputs: string[] = [];
    for (const [key, value] of Object.entries(exported)) {
        const { value: resolved, secret } = await settle(pulumi.output(value));
        outputs[key] = resolved;
        if (secret) secretOutputs.push(key);
    }
    // Resources created inside apply() callbacks register after the program returns.
    // waitForRPCs is exported by the runtime but left out of its typings.
    await (settings as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();

    const monitor = settings.getMonitor() as unknown as { getRegisteredResources(): Map<string, unknown> };
    const urns = [...monitor.getRegisteredResources().keys()];
    if (urns.length !== calls.length) throw new Error(`mock runtime: ${calls.length} resources registered but ${urns.length} URNs recorded`);
    // The monitor assigns URNs; pair each registration with the first unused URN of its type and name.
    const unused = new Set(urns);
    const resources = calls.map((call) => {
        const urn = [...unused].find((u) => u.endsWith(`:${call.type}::${call.name}`) || u.endsWith(`$${call.type}::${call.name}`));
        if (!urn) throw new Error(`mock runtime: no URN recorded for ${call.type} "${call.name}"`);
        unused.delete(urn);
        return { ...call, urn };
    });
    return { resources, outputs, secretOutputs };
}
