import * as pulumi from "@pulumi/pulumi";
import { deserializeProperties, specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import * as settings from "@pulumi/pulumi/runtime/settings";
import { OFFLINE_SECRET } from "../stacks/schema";

/**
 * Runs the real program (index.ts) under Pulumi's mock runtime: every resource is registered as it
 * would be by `pulumi up`, only the engine and providers are replaced. Shared by the tests and the
 * offline render so both see exactly what a deployment would create.
 */

export const PROJECT = "greenplum-k8s";
/** What secret values look like in renders; also what a `secure:` config value is offline. */
export const SECRET_PLACEHOLDER = OFFLINE_SECRET;

export interface RegisteredResource {
    type: string;
    name: string;
    urn: string;
    custom: boolean;
    /** Inputs as the engine received them; secret values are wrapped (see `maskSecrets`). */
    inputs: Record<string, unknown>;
    /** The resource options the engine would act on. */
    options: {
        parent: string;
        /** Provider reference ("<provider urn>::<id>"), for custom resources. */
        provider: string;
        dependencies: string[];
        protect: boolean;
        retainOnDelete: boolean;
        deleteBeforeReplace: boolean;
        ignoreChanges: string[];
        /** Earlier identities (type and name) the engine maps onto this resource. */
        aliases: { type: string; name: string }[];
        customTimeouts?: { create: string; update: string; delete: string };
        /** How many transforms (`transforms` option) the engine would call for this resource's children. */
        transforms: number;
        /** Names of the error hooks (`hooks.onError`) the engine would call when an operation on it fails. */
        onErrorHooks: string[];
    };
}

/** The getters of the engine's RegisterResourceRequest message that we read. */
interface RegisterRequest {
    getType(): string;
    getName(): string;
    getCustom(): boolean;
    getObject(): Parameters<typeof deserializeProperties>[0];
    getParent(): string;
    getProvider(): string;
    getDependenciesList(): string[];
    getProtect(): boolean;
    getRetainondelete(): boolean;
    getDeletebeforereplace(): boolean;
    getIgnorechangesList(): string[];
    getAliasesList(): { getSpec(): { getType(): string; getName(): string } | undefined }[];
    getCustomtimeouts(): { getCreate(): string; getUpdate(): string; getDelete(): string } | undefined;
    getTransformsList(): unknown[];
    getHooks(): { getOnErrorList(): string[] } | undefined;
}
type Callback = (err: unknown, response?: { getUrn(): string }) => void;
interface Monitor {
    registerResource(req: RegisterRequest, callback: Callback): Promise<void>;
    registerErrorHook?(req: unknown, callback: (err: unknown) => void): void;
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

/** Every scalar becomes "[secret]"; maps and lists keep their shape so manifests stay valid. */
function hide(value: unknown): unknown {
    if (isSecretWrapper(value)) return hide(value.value);
    if (Array.isArray(value)) return value.map(hide);
    if (value && typeof value === "object" && !pulumi.Resource.isInstance(value)) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, hide(v)]));
    }
    return SECRET_PLACEHOLDER;
}

/** Replaces every secret value with "[secret]" and resource references with a marker. */
export function maskSecrets(value: unknown): unknown {
    if (isSecretWrapper(value)) return hide(value.value);
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
        case "random:index/randomId:RandomId":
            return { ...inputs, hex: "0a1b2c3d" };
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
    const resources: RegisteredResource[] = [];
    pulumi.runtime.setAllConfig(config, options.secretKeys ?? []);
    await pulumi.runtime.setMocks(
        {
            newResource: (args) => ({ id: `${args.name}-id`, state: computedState(args.type, args.name, args.inputs) }),
            call: (args) => args.inputs,
        },
        PROJECT,
        options.stack,
        false,
    );
    // The mocks API does not show resource options; read them from each registration request.
    const monitor = settings.getMonitor() as unknown as Monitor;
    // The mock monitor has no hook registry: accept error hooks (nothing fails under mocks, so none is called).
    monitor.registerErrorHook = (_req, callback) => callback(null);
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req, callback) => {
        const timeouts = req.getCustomtimeouts();
        const resource: RegisteredResource = {
            type: req.getType(),
            name: req.getName(),
            urn: "",
            custom: req.getCustom(),
            inputs: deserializeProperties(req.getObject()),
            options: {
                parent: req.getParent(),
                provider: req.getProvider(),
                dependencies: req.getDependenciesList(),
                protect: req.getProtect(),
                retainOnDelete: req.getRetainondelete(),
                deleteBeforeReplace: req.getDeletebeforereplace(),
                ignoreChanges: req.getIgnorechangesList(),
                aliases: req.getAliasesList().flatMap((a) => {
                    const spec = a.getSpec();
                    return spec ? [{ type: spec.getType(), name: spec.getName() }] : [];
                }),
                ...(timeouts ? { customTimeouts: { create: timeouts.getCreate(), update: timeouts.getUpdate(), delete: timeouts.getDelete() } } : {}),
                transforms: req.getTransformsList().length,
                onErrorHooks: req.getHooks()?.getOnErrorList() ?? [],
            },
        };
        resources.push(resource);
        return register(req, (err, response) => {
            if (response) resource.urn = response.getUrn();
            callback(err, response);
        });
    };

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

    return { resources, outputs, secretOutputs };
}
