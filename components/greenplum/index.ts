import * as fs from "fs";
import * as path from "path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import type { GreenplumConfig, Profile } from "../../stacks/schema";
import type { NodePlacement } from "../cluster";
import {
    ACTING_MASTER_CONFIGMAP,
    ACTING_MASTER_KEY,
    ADMIN_SECRET,
    ADMIN_USER,
    clientServiceHost,
    commonLabels,
    MASTER_PORT,
    MASTER_SET,
    MIRROR_SET,
    PRIMARY_SET,
    PRIORITY_CLASS,
    SCRIPTS_CONFIGMAP,
    SERVICE_ACCOUNT,
    setSelector,
    SSH_SECRET,
    type SetName,
} from "./naming";
import { firstInitFailureMessage, greenplumClaims, readFirstInitState } from "./first-init";
import { networkPolicyArgs } from "./network-policies";
import { clientServiceArgs, headlessServiceArgs, INITIAL_ACTING_MASTER } from "./services";
import { firstInitTimeoutSeconds } from "./sizing";
import { statefulSetArgs } from "./statefulset";

/** The in-pod scripts: Greenplum's bootstrap, the storage volume guard and the backup's scripts, shipped in one ConfigMap. */
export function podScripts(): Record<string, string> {
    const scriptsDir = path.join(__dirname, "scripts");
    const scripts: Record<string, string> = {};
    for (const file of fs.readdirSync(scriptsDir).filter((f) => f.endsWith(".sh")).sort()) {
        scripts[file] = fs.readFileSync(path.join(scriptsDir, file), "utf8");
    }
    scripts["volume-guard.sh"] = fs.readFileSync(path.join(__dirname, "..", "storage", "volume-guard.sh"), "utf8");
    // The backup's scripts run in the master pods (gp-backup.sh) and in the backup Job's pod.
    const backupDir = path.join(__dirname, "..", "backup", "scripts");
    for (const file of fs.readdirSync(backupDir).filter((f) => f.endsWith(".sh")).sort()) scripts[file] = fs.readFileSync(path.join(backupDir, file), "utf8");
    return scripts;
}

/** A later change to the client Service (type, source ranges) waits this long for the acting master. */
export const CLIENT_SERVICE_UPDATE_TIMEOUT_SECONDS = 600;

/**
 * A drain takes at most one segment pod of a set at a time (anti-affinity keeps its pair on other
 * nodes). In production no drain evicts a master pod: evicting the acting master stops the whole
 * cluster until it restarts elsewhere, so a drain (GKE's auto-upgrade waits up to an hour on a
 * PDB) waits for an operator to fail over with `gp-failover` or move the pod.
 */
export function podDisruptionBudgetArgs(set: SetName, namespace: string, production: boolean): k8s.policy.v1.PodDisruptionBudgetArgs {
    return {
        metadata: { name: set, namespace, labels: commonLabels() },
        spec: { maxUnavailable: set === MASTER_SET && production ? 0 : 1, selector: { matchLabels: setSelector(set) } },
    };
}

export interface GreenplumClusterArgs {
    greenplum: GreenplumConfig;
    profile: Profile;
    provider: k8s.Provider;
    clusterDomain: string;
    /** The storage component's class (used unless the config names a class per set). */
    storageClassName: pulumi.Input<string>;
    /** Greenplum volumes must not be claimed before storage can serve them. */
    storageReady: pulumi.Input<pulumi.Resource>[];
    placement: NodePlacement;
    zoneCount: number;
    onGke: boolean;
    /** kubectl's flags for this cluster (context, kubeconfig), when it has a kubeconfig file: a failed first init then reads the claims' phases. */
    kubectlAccess?: string[];
}

/**
 * Every Kubernetes object here is the program's alone, and each up's provider applies under a
 * field manager of its own: adopting what a production destroy left (the StatefulSets, Secrets,
 * scripts) then conflicts with the manager that wrote them, on fields the API server defaulted
 * (volumeClaimTemplates, env fieldRefs) or whose contents changed (new ssh keys). Shown on the real
 * cluster: the adopting up failed on those conflicts. So every apply forces; fields the program
 * ignores (the selector and acting master that gp-failover writes) are never sent by the
 * provider (await.go handleSSAIgnoreFields), so forcing does not take them back.
 */
function takenOver<A extends { metadata?: pulumi.Input<k8s.types.input.meta.v1.ObjectMeta | undefined> }>(args: A): A {
    const metadata = (args.metadata ?? {}) as k8s.types.input.meta.v1.ObjectMeta;
    return { ...args, metadata: { ...metadata, annotations: { ...(metadata.annotations as Record<string, string> | undefined), "pulumi.com/patchForce": "true" } } };
}

/**
 * Greenplum as GP4K lays it out: a `master` StatefulSet (master and standby), `segment-a`
 * (primaries) and `segment-b` (mirrors), one segment per pod, bootstrapped by scripts in the pods.
 * Greenplum's own mirrors, FTS and standby keep the data safe; Kubernetes schedules, restarts and
 * keeps volumes.
 */
export class GreenplumCluster extends pulumi.ComponentResource {
    public readonly host: pulumi.Output<string>;
    public readonly port: number;
    public readonly database: string;
    public readonly username: string;
    public readonly password: pulumi.Output<string>;
    public readonly connectionUri: pulumi.Output<string>;
    public readonly namespace: string;

    constructor(name: string, args: GreenplumClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("greenplum-k8s:greenplum:GreenplumCluster", name, {}, opts);
        const gp = args.greenplum;
        const production = args.profile === "production";
        const namespaceName = gp.namespace;
        // In production every object is protected (or, where an upgrade replaces it, retained on
        // delete): a `pulumi destroy` run without the README's unprotect step then fails at its first
        // deletion. The real cluster showed an unprotected Service and PDB deleted by such a destroy
        // before it failed on the protected sets, leaving Greenplum without its DNS names.
        const k8sOpts = { parent: this, provider: args.provider, protect: production };

        // In production a `pulumi destroy` must not take the volume claims with the namespace.
        const namespace = new k8s.core.v1.Namespace("namespace", takenOver({
            metadata: {
                name: namespaceName,
                labels: {
                    ...commonLabels(),
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            },
        }), { ...k8sOpts, retainOnDelete: production });
        const inNamespace = { ...k8sOpts, dependsOn: [namespace] };

        // The database keeps the password it was initialised with: after a production destroy the
        // retained Secret holds it, and `greenplum.adminPassword` (a secret config value) hands it back
        // to the next up instead of a new random one that would no longer match.
        const passwordValue = gp.adminPassword !== undefined
            ? pulumi.secret(gp.adminPassword)
            : new random.RandomPassword("gpadmin-password", { length: 32, special: false }, { parent: this, protect: production }).result;
        const adminSecret = new k8s.core.v1.Secret("admin", takenOver({
            metadata: { name: ADMIN_SECRET, namespace: namespaceName, labels: commonLabels() },
            type: "Opaque",
            stringData: { username: ADMIN_USER, password: passwordValue },
        }), { ...inNamespace, protect: false, retainOnDelete: production });

        // One user key for gpadmin everywhere and one host key for every sshd: known_hosts is exact, no trust on first use.
        const userKey = new tls.PrivateKey("ssh-user-key", { algorithm: "RSA", rsaBits: 4096 }, { parent: this, protect: production });
        const hostKey = new tls.PrivateKey("ssh-host-key", { algorithm: "ED25519" }, { parent: this, protect: production });
        const sshSecret = new k8s.core.v1.Secret("ssh", takenOver({
            metadata: { name: SSH_SECRET, namespace: namespaceName, labels: commonLabels() },
            type: "Opaque",
            stringData: {
                id_rsa: userKey.privateKeyOpenssh,
                "id_rsa.pub": userKey.publicKeyOpenssh,
                ssh_host_ed25519_key: hostKey.privateKeyOpenssh,
                "ssh_host_ed25519_key.pub": hostKey.publicKeyOpenssh,
            },
        }), { ...inNamespace, protect: false, retainOnDelete: production });

        const scripts = new k8s.core.v1.ConfigMap("scripts", takenOver({
            metadata: { name: SCRIPTS_CONFIGMAP, namespace: namespaceName, labels: commonLabels() },
            data: podScripts(),
        }), { ...inNamespace, protect: false, retainOnDelete: production });
        // The truth of who is master after a failover: written by `gp-failover promote`, so `pulumi up` ignores its data.
        const actingMaster = new k8s.core.v1.ConfigMap("acting-master", takenOver({
            metadata: { name: ACTING_MASTER_CONFIGMAP, namespace: namespaceName, labels: commonLabels() },
            data: { [ACTING_MASTER_KEY]: INITIAL_ACTING_MASTER },
        }), { ...inNamespace, ignoreChanges: ["data"] });
        const serviceAccount = new k8s.core.v1.ServiceAccount("service-account", takenOver({
            metadata: { name: SERVICE_ACCOUNT, namespace: namespaceName, labels: commonLabels() },
            automountServiceAccountToken: false,
        }), inNamespace);

        const priorityClass = new k8s.scheduling.v1.PriorityClass("priority", takenOver({
            metadata: { name: PRIORITY_CLASS, labels: commonLabels() },
            value: 100000,
            globalDefault: false,
            description: "Greenplum master and segment pods: scheduled before, and evicted after, ordinary workloads.",
        }), k8sOpts);
        const policies = Object.entries(networkPolicyArgs(gp, namespaceName)).map(
            ([policyName, policyArgs]) => new k8s.networking.v1.NetworkPolicy(policyName, takenOver(policyArgs), inNamespace),
        );
        new k8s.core.v1.Service("headless", takenOver(headlessServiceArgs(namespaceName)), inNamespace);

        const initTimeout = `${firstInitTimeoutSeconds(gp)}s`;
        // Resolved before the sets are created, so before their create can fail.
        let stackClass = "";
        pulumi.output(args.storageClassName).apply((className) => (stackClass = className));
        const firstInitDiagnosis = new pulumi.ErrorHook(`${name}-first-init-diagnosis`, (failure) => {
            if (failure.failedOperation === "create") {
                const state = args.kubectlAccess ? readFirstInitState(args.kubectlAccess, namespaceName) : undefined;
                void pulumi.log.error(firstInitFailureMessage({ namespace: namespaceName, timeout: `${firstInitTimeoutSeconds(gp) / 60} minutes`, claims: greenplumClaims(gp, stackClass), state }));
            }
            // Never retry: the set exists; a retried create would only wait again.
            return false;
        });
        const sets: SetName[] = gp.segments.mirrors ? [MASTER_SET, PRIMARY_SET, MIRROR_SET] : [MASTER_SET, PRIMARY_SET];
        const statefulSets: k8s.apps.v1.StatefulSet[] = [];
        for (const set of sets) {
            statefulSets.push(new k8s.apps.v1.StatefulSet(set, takenOver(statefulSetArgs({
                set,
                gp,
                profile: args.profile,
                namespace: namespaceName,
                clusterDomain: args.clusterDomain,
                storageClassName: args.storageClassName,
                placement: args.placement,
                zoneCount: args.zoneCount,
            })), {
                ...k8sOpts,
                dependsOn: [namespace, adminSecret, sshSecret, scripts, actingMaster, serviceAccount, priorityClass, ...policies, ...args.storageReady],
                // Volume claim templates are immutable: a change would replace the set. Sizes change by
                // expanding the claims instead (README), and the set's annotation shows the change in the preview.
                ignoreChanges: ["spec.volumeClaimTemplates"],
                // Production sets (protected, as every object here) are neither deleted nor replaced,
                // which would drop them, without an explicit unprotect; a destroy then leaves them.
                retainOnDelete: production,
                // The master set waits for a ready master (statefulset.ts awaitAnnotations): the first
                // init on create, a serving master on a later change.
                ...(set === MASTER_SET ? { customTimeouts: { create: initTimeout, update: `${CLIENT_SERVICE_UPDATE_TIMEOUT_SECONDS}s` }, hooks: { onError: [firstInitDiagnosis] } } : {}),
            }));
            new k8s.policy.v1.PodDisruptionBudget(set, takenOver(podDisruptionBudgetArgs(set, namespaceName, production)), inNamespace);
        }

        // Created after the sets, so after the master set's wait for a ready master (the first init).
        // The Service's own await (pulumi-kubernetes await/service.go) then ends at once; it alone
        // would pass after 10 s when no master pod has an address at all.
        const clientService = new k8s.core.v1.Service("client", takenOver(clientServiceArgs(gp, namespaceName, args.onGke)), {
            ...inNamespace,
            dependsOn: [namespace, ...statefulSets],
            ignoreChanges: ["spec.selector"],
            customTimeouts: { create: initTimeout, update: `${CLIENT_SERVICE_UPDATE_TIMEOUT_SECONDS}s` },
        });

        this.namespace = namespaceName;
        this.port = MASTER_PORT;
        this.database = gp.database;
        this.username = ADMIN_USER;
        this.password = pulumi.secret(passwordValue);
        const inClusterHost = clientServiceHost(namespaceName, args.clusterDomain);
        this.host = gp.service.type === "LoadBalancer"
            ? clientService.status.apply((s) => s?.loadBalancer?.ingress?.[0]?.ip ?? s?.loadBalancer?.ingress?.[0]?.hostname ?? inClusterHost)
            : pulumi.output(inClusterHost);
        this.connectionUri = pulumi.secret(
            pulumi.interpolate`postgresql://${this.username}:${passwordValue.apply(encodeURIComponent)}@${this.host}:${this.port}/${this.database}`,
        );

        this.registerOutputs({ host: this.host, port: this.port, database: this.database, username: this.username, password: this.password, connectionUri: this.connectionUri });
    }
}
