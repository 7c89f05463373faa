import { arr, at, isEverywhere, isObj, obj, productionOnly, resourcePolicy, stackPolicy, str, type Json, type ProductionConfig, type ResourceContext, type StackResource, type StackViolation } from "./common";
import { K8S, WORKLOAD_TYPES, annotationsOf, containersOf, describe, isGreenplumStatefulSet, kindOf, metadataOf, namespaceOf, podTemplateOf, selectorMatches } from "./k8s";
import { unpinnedReason } from "./image-pins";
import { hbaProblems } from "./pg-hba";

/**
 * Security: every pod the stack creates meets the Pod Security Standards "restricted" profile,
 * carries no literal secrets, runs pinned images; no open load balancers; Greenplum pods are
 * isolated by NetworkPolicies.
 */

// ---------------------------------------------------------------------------------------------
// pod-security-restricted

export interface PodSecurityConfig {
    /** Namespaces whose workloads are not checked (operators that need privileges, e.g. Rook's). */
    exemptNamespaces: string[];
}

/** Volume sources the restricted profile allows. */
const RESTRICTED_VOLUME_SOURCES = ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"];
const ALLOWED_SECCOMP = ["RuntimeDefault", "Localhost"];

export const checkPodSecurity = (props: Json, config: PodSecurityConfig, context: ResourceContext): string[] => {
    const template = podTemplateOf(context.type, props);
    if (!template || config.exemptNamespaces.includes(namespaceOf(props))) return [];
    const what = describe(kindOf(context.type), props, context.name);
    const pod = template.spec;
    const podSc = obj(pod.securityContext);
    const violations: string[] = [];
    for (const field of ["hostNetwork", "hostPID", "hostIPC"]) {
        if (pod[field] === true) violations.push(`${what}: remove ${field}: true (Pod Security "restricted" forbids sharing the node's namespaces).`);
    }
    for (const raw of arr(pod.volumes)) {
        const volume = obj(raw);
        const source = Object.keys(volume).find((k) => k !== "name");
        if (source && !RESTRICTED_VOLUME_SOURCES.includes(source)) {
            violations.push(
                `${what}: volume "${str(volume.name) ?? "?"}" is a ${source} volume; Pod Security "restricted" allows only ${RESTRICTED_VOLUME_SOURCES.join(", ")} ` +
                    "(use a PersistentVolumeClaim instead of hostPath).",
            );
        }
    }
    const podSeccomp = str(at(podSc, "seccompProfile", "type"));
    if (podSeccomp !== undefined && !ALLOWED_SECCOMP.includes(podSeccomp)) {
        violations.push(`${what}: set spec.securityContext.seccompProfile.type to RuntimeDefault (found ${podSeccomp}).`);
    }
    if (podSc.runAsUser === 0) violations.push(`${what}: do not set spec.securityContext.runAsUser to 0 (root).`);
    for (const { container, kind } of containersOf(pod)) {
        const where = `${what} ${kind} "${str(container.name) ?? "?"}"`;
        const sc = obj(container.securityContext);
        const fixes: string[] = [];
        if (sc.privileged === true) fixes.push("remove privileged: true");
        if (sc.allowPrivilegeEscalation !== false) fixes.push("set allowPrivilegeEscalation: false");
        const drop = arr(at(sc, "capabilities", "drop"));
        if (!drop.includes("ALL")) fixes.push('set capabilities.drop: ["ALL"]');
        const added = arr(at(sc, "capabilities", "add")).filter((c) => c !== "NET_BIND_SERVICE");
        if (added.length > 0) fixes.push(`remove capabilities.add ${JSON.stringify(added)} (only NET_BIND_SERVICE is allowed)`);
        if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true) fixes.push("set runAsNonRoot: true (here or in the pod's securityContext)");
        if (sc.runAsUser === 0) fixes.push("do not set runAsUser: 0");
        const seccomp = str(at(sc, "seccompProfile", "type")) ?? podSeccomp;
        if (!seccomp || !ALLOWED_SECCOMP.includes(seccomp)) {
            fixes.push(`set seccompProfile.type: RuntimeDefault (here or in the pod's securityContext; found ${seccomp ?? "none"})`);
        }
        if (arr(container.ports).some((p) => typeof obj(p).hostPort === "number" && (obj(p).hostPort as number) !== 0)) fixes.push("remove hostPort");
        if (fixes.length > 0) violations.push(`${where}: ${fixes.join("; ")} (Pod Security "restricted").`);
    }
    return violations;
};

export const podSecurity = resourcePolicy<PodSecurityConfig>({
    name: "pod-security-restricted",
    description: 'Every pod template the stack creates meets Pod Security Standards "restricted" (non-root, no escalation, drop ALL, seccomp, no host access).',
    enforcementLevel: "mandatory",
    configSchema: {
        properties: {
            exemptNamespaces: {
                type: "array",
                items: { type: "string" },
                default: [],
                description: "Namespaces whose workloads are not checked, e.g. an operator's that needs privileges (rook-ceph).",
            },
        },
    },
    types: WORKLOAD_TYPES,
    check: checkPodSecurity,
});

// ---------------------------------------------------------------------------------------------
// no-secret-literals-in-env

export interface SecretEnvConfig {
    /** Env var names that may carry a literal value even though they look secret. */
    allowedNames: string[];
}

const SECRET_NAME = /PASS|SECRET|TOKEN|KEY/i;
const PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

export const checkSecretEnv = (props: Json, config: SecretEnvConfig, context: ResourceContext): string[] => {
    const template = podTemplateOf(context.type, props);
    if (!template) return [];
    const what = describe(kindOf(context.type), props, context.name);
    const violations: string[] = [];
    for (const { container, kind } of containersOf(template.spec)) {
        for (const raw of arr(container.env)) {
            const env = obj(raw);
            const name = str(env.name) ?? "";
            const value = env.value;
            if (typeof value !== "string" || value === "" || config.allowedNames.includes(name)) continue;
            // NAME_FILE=/path points at a mounted secret: that is the right way, not a leak.
            const pointsAtFile = /_(FILE|PATH|DIR)$/i.test(name) && value.startsWith("/");
            if ((SECRET_NAME.test(name) && !pointsAtFile) || PRIVATE_KEY.test(value)) {
                violations.push(
                    `${what} ${kind} "${str(container.name) ?? "?"}": env ${name} has a literal value that looks secret; ` +
                        "move it to a Kubernetes Secret and use valueFrom.secretKeyRef (or mount it as a file), so it is not stored in the pod spec and Pulumi state.",
                );
            }
        }
    }
    return violations;
};

export const secretEnv = resourcePolicy<SecretEnvConfig>({
    name: "no-secret-literals-in-env",
    description: "No env var named like a password, secret, token or key (or holding a private key) has a literal value; use secretKeyRef.",
    enforcementLevel: "mandatory",
    configSchema: {
        properties: {
            allowedNames: { type: "array", items: { type: "string" }, default: [], description: "Env var names exempt from the check." },
        },
    },
    types: WORKLOAD_TYPES,
    check: checkSecretEnv,
});

// ---------------------------------------------------------------------------------------------
// greenplum-pg-hba

/** The env var the master pod's scripts append to pg_hba.conf (components/greenplum/scripts/lib.sh). */
const HBA_ENV = "GP_HBA_EXTRA";

export const checkPgHba = (props: Json, config: ProductionConfig, context: ResourceContext): string[] => {
    if (!isGreenplumStatefulSet(context.type, props)) return [];
    const template = podTemplateOf(context.type, props);
    const what = describe(kindOf(context.type), props, context.name);
    return containersOf(template?.spec ?? {}).flatMap(({ container }) =>
        arr(container.env).flatMap((raw) => {
            const env = obj(raw);
            if (env.name !== HBA_ENV || typeof env.value !== "string") return [];
            return hbaProblems(env.value, { production: config.production }).map((problem) => `${what}: ${HBA_ENV} (greenplum-k8s:greenplum.masterAndStandby.hostBasedAuthentication) ${problem}.`);
        }),
    );
};

export const pgHba = resourcePolicy<ProductionConfig>({
    name: "greenplum-pg-hba",
    description: "The master's extra pg_hba.conf lines are lines Greenplum 6 reads, trust and password only for one host, password never in production.",
    enforcementLevel: "mandatory",
    configSchema: productionOnly,
    types: [K8S.statefulSet],
    check: checkPgHba,
});

// ---------------------------------------------------------------------------------------------
// images-pinned

export const checkImagesPinned = (props: Json, _config: object, context: ResourceContext): string[] => {
    const template = podTemplateOf(context.type, props);
    if (!template) return [];
    const what = describe(kindOf(context.type), props, context.name);
    const violations: string[] = [];
    for (const { container, kind } of containersOf(template.spec)) {
        const image = str(container.image);
        const reason = image === undefined ? "is not set" : unpinnedReason(image);
        if (reason) {
            violations.push(
                `${what} ${kind} "${str(container.name) ?? "?"}": image ${image ? `"${image}" ` : ""}${reason}; ` +
                    'pin it to a full version tag or a digest (e.g. "woblerr/greenplum:6.27.1") so pods restarted later run the same code.',
            );
        }
    }
    return violations;
};

export const imagesPinned = resourcePolicy<object>({
    name: "images-pinned",
    description: "Every container image is pinned to a tag holding a full version (not latest, not a bare major or minor version), or to a digest.",
    enforcementLevel: "mandatory",
    types: WORKLOAD_TYPES,
    check: checkImagesPinned,
});

// ---------------------------------------------------------------------------------------------
// no-public-load-balancer

const INTERNAL_LB_ANNOTATIONS = ["networking.gke.io/load-balancer-type", "cloud.google.com/load-balancer-type"];

export interface LoadBalancerConfig {
    /** Services ("namespace/name") deliberately open to the internet. */
    allowedPublicServices: string[];
}

export const checkLoadBalancer = (props: Json, config: LoadBalancerConfig, context: ResourceContext): string[] => {
    if (at(props, "spec", "type") !== "LoadBalancer") return [];
    const annotations = annotationsOf(props);
    if (INTERNAL_LB_ANNOTATIONS.some((a) => annotations[a]?.toLowerCase() === "internal")) return [];
    const service = `${namespaceOf(props)}/${str(metadataOf(props).name) ?? context.name}`;
    if (config.allowedPublicServices.includes(service)) return [];
    const ranges = arr(at(props, "spec", "loadBalancerSourceRanges"));
    const open = ranges.filter(isEverywhere);
    if (ranges.length > 0 && open.length === 0) return [];
    const problem = open.length > 0 ? `a LoadBalancer open to everywhere (loadBalancerSourceRanges has ${open.join(", ")})` : "a LoadBalancer open to the internet";
    return [
        `${describe("Service", props, context.name)}: ${problem}; set spec.loadBalancerSourceRanges to the client CIDRs ` +
            '(greenplum-k8s:greenplum.service.loadBalancerSourceRanges) or make it internal (annotation networking.gke.io/load-balancer-type: "Internal", ' +
            "greenplum-k8s:greenplum.service.internal true). To expose it deliberately, list it in this policy's allowedPublicServices " +
            `("no-public-load-balancer": {"allowedPublicServices": ["${service}"]}) in the stack's policy config.`,
    ];
};

export const loadBalancer = resourcePolicy<LoadBalancerConfig>({
    name: "no-public-load-balancer",
    description: "A Service of type LoadBalancer is internal or restricted by loadBalancerSourceRanges that do not include 0.0.0.0/0.",
    enforcementLevel: "mandatory",
    configSchema: {
        properties: {
            allowedPublicServices: {
                type: "array",
                items: { type: "string" },
                default: [],
                description: 'Services ("namespace/name") deliberately open to the internet.',
            },
        },
    },
    types: [K8S.service],
    check: checkLoadBalancer,
});

// ---------------------------------------------------------------------------------------------
// greenplum-network-policy

/** The directions a NetworkPolicy isolates: policyTypes, or Kubernetes' default when unset. */
function isolatedDirections(policy: Json): string[] {
    const types = arr(at(policy, "spec", "policyTypes")).filter((t): t is string => typeof t === "string");
    if (types.length > 0) return types;
    return isObj(policy.spec) && Array.isArray(policy.spec.egress) ? ["Ingress", "Egress"] : ["Ingress"];
}

export const checkNetworkPolicies = (resources: StackResource[], _config: object): StackViolation[] => {
    const policies = resources.filter((r) => r.type === K8S.networkPolicy);
    const violations: StackViolation[] = [];
    for (const set of resources.filter((r) => isGreenplumStatefulSet(r.type, r.props))) {
        const labels = podTemplateOf(set.type, set.props)?.labels ?? {};
        const namespace = namespaceOf(set.props);
        const directions = new Set(
            policies
                .filter((p) => namespaceOf(p.props) === namespace && selectorMatches(at(p.props, "spec", "podSelector"), labels))
                .flatMap((p) => isolatedDirections(p.props)),
        );
        const missing = ["Ingress", "Egress"].filter((d) => !directions.has(d));
        if (missing.length > 0) {
            violations.push({
                urn: set.urn,
                message:
                    `${describe("StatefulSet", set.props, set.name)}: no NetworkPolicy in its namespace isolates ${missing.join(" and ")} for its pods; ` +
                    "add one whose spec.podSelector matches the pod template labels with policyTypes [Ingress, Egress], allowing only the Greenplum interconnect, clients and DNS.",
            });
        }
    }
    return violations;
};

export const networkPolicies = stackPolicy<object>({
    name: "greenplum-network-policy",
    description: "Every Greenplum StatefulSet's pods are selected by NetworkPolicies in its namespace that isolate both Ingress and Egress.",
    enforcementLevel: "mandatory",
    check: checkNetworkPolicies,
});

export const securityPolicies = [podSecurity, secretEnv, pgHba, imagesPinned, loadBalancer, networkPolicies];
