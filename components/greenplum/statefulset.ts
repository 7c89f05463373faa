import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { GreenplumConfig, Profile } from "../../stacks/schema";
import type { NodePlacement } from "../cluster";
import {
    ACTING_MASTER_CONFIGMAP,
    ACTING_MASTER_DIR,
    ADMIN_SECRET,
    commonLabels,
    DATA_ROOT,
    DATA_VOLUME,
    GPHOME,
    GPADMIN_UID,
    HEADLESS_SERVICE,
    MASTER_PORT,
    MASTER_SET,
    MIRROR_PORT,
    MIRROR_SET,
    PASSWORD_DIR,
    PRIMARY_PORT,
    PRIMARY_SET,
    PRIORITY_CLASS,
    SCRIPTS_CONFIGMAP,
    SCRIPTS_DIR,
    SERVICE_ACCOUNT,
    SET_LABEL,
    setSelector,
    SSH_DIR,
    SSH_PORT,
    SSH_SECRET,
    type SetName,
} from "./naming";
import { greenplumServerSettings, serverSettingsEnv } from "./server-settings";
import { containerResources, HOST_WAIT_SECONDS, IMMEDIATE_STOP_TIMEOUT_SECONDS, stopTimeoutSeconds, terminationGracePeriodSeconds } from "./sizing";

type PodSpec = k8s.types.input.core.v1.PodSpec;
type Affinity = k8s.types.input.core.v1.Affinity;

export interface StatefulSetInputs {
    set: SetName;
    gp: GreenplumConfig;
    profile: Profile;
    namespace: string;
    clusterDomain: string;
    storageClassName: pulumi.Input<string>;
    placement: NodePlacement;
    /** Zones the cluster spans; with 2 or more, pairs are also spread across zones. */
    zoneCount: number;
}

/** The PSS "restricted" container context: non-root, no escalation, no capabilities. */
export function restrictedContainerContext(): k8s.types.input.core.v1.SecurityContext {
    return { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" } };
}

function replicas(set: SetName, gp: GreenplumConfig): number {
    if (set === MASTER_SET) return gp.masterAndStandby.standby ? 2 : 1;
    return gp.segments.primarySegmentCount;
}

function port(set: SetName): number {
    return set === MASTER_SET ? MASTER_PORT : set === PRIMARY_SET ? PRIMARY_PORT : MIRROR_PORT;
}

/** Set on every StatefulSet pod by its controller: the same index in segment-a and segment-b is one segment's two copies. */
const POD_INDEX_LABEL = "apps.kubernetes.io/pod-index";

/**
 * Required anti-affinity: master and standby on different nodes, and the two copies of each segment
 * (segment-a-i and segment-b-i: the same `apps.kubernetes.io/pod-index`, matched by matchLabelKeys,
 * stable since Kubernetes 1.33) on different nodes, so no node holds both. Pairs, not GP4K's disjoint
 * sets of nodes: with disjoint sets kube-scheduler spread the primaries over all three nodes and the
 * four mirrors stayed Pending, depending on the order it met the pods (kwok, gke-layout.cluster.ts);
 * and after a node loss the promoted mirrors land on several nodes, not one (Greenplum's spread
 * mirroring). With zones, each mirror prefers a zone other than its primary's.
 */
export function antiAffinity(set: SetName, zoneCount: number): Affinity {
    const hostname = "kubernetes.io/hostname";
    if (set === MASTER_SET) {
        return {
            podAntiAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: setSelector(MASTER_SET) }, topologyKey: hostname }],
                ...(zoneCount > 1
                    ? { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { labelSelector: { matchLabels: setSelector(MASTER_SET) }, topologyKey: "topology.kubernetes.io/zone" } }] }
                    : {}),
            },
        };
    }
    const other = set === PRIMARY_SET ? MIRROR_SET : PRIMARY_SET;
    return {
        podAntiAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: setSelector(other) }, matchLabelKeys: [POD_INDEX_LABEL], topologyKey: hostname }],
            ...(zoneCount > 1
                ? {
                      preferredDuringSchedulingIgnoredDuringExecution: [
                          {
                              weight: 100,
                              podAffinityTerm: { labelSelector: { matchLabels: setSelector(other) }, matchLabelKeys: [POD_INDEX_LABEL], topologyKey: "topology.kubernetes.io/zone" },
                          },
                      ],
                  }
                : {}),
        },
    };
}

function environment(inputs: StatefulSetInputs): k8s.types.input.core.v1.EnvVar[] {
    const { set, gp } = inputs;
    const env: Record<string, string> = {
        GP_SET: set,
        GP_HEADLESS_SERVICE: HEADLESS_SERVICE,
        GP_CLUSTER_DOMAIN: inputs.clusterDomain,
        GP_PRIMARY_SEGMENT_COUNT: String(gp.segments.primarySegmentCount),
        GP_MIRRORS: String(gp.segments.mirrors),
        GP_STANDBY: String(gp.masterAndStandby.standby),
        GP_DATABASE: gp.database,
        GP_MASTER_PORT: String(MASTER_PORT),
        GP_PRIMARY_PORT: String(PRIMARY_PORT),
        GP_MIRROR_PORT: String(MIRROR_PORT),
        GP_SSH_PORT: String(SSH_PORT),
        GP_DATA_ROOT: DATA_ROOT,
        GPHOME,
        GP_HOST_WAIT_SECONDS: String(HOST_WAIT_SECONDS),
        GP_STOP_TIMEOUT_SECONDS: String(stopTimeoutSeconds(gp)),
        GP_STOP_IMMEDIATE_TIMEOUT_SECONDS: String(IMMEDIATE_STOP_TIMEOUT_SECONDS),
    };
    if (set === MASTER_SET) {
        env.GP_HBA_EXTRA = gp.masterAndStandby.hostBasedAuthentication;
        // Memory settings that keep Greenplum under its pods' limits; the master applies them cluster-wide with gpconfig.
        const settings = greenplumServerSettings(gp.segments.memory, gp.masterAndStandby.memory);
        if (settings.length > 0) env.GP_SERVER_SETTINGS = serverSettingsEnv(settings);
    }
    return [
        { name: "GP_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
        ...Object.entries(env).map(([name, value]) => ({ name, value })),
    ];
}

function script(name: string): string[] {
    return ["/bin/bash", `${SCRIPTS_DIR}/${name}`];
}

/**
 * How `up` waits on a set. Never for every replica (after a failover or with a segment down that
 * never happens; OnDelete: an update changes no pod anyway). The master set waits until one of
 * its pods is ready, i.e. a master answers SQL: that is the first init's end, and a later `up`
 * fails rather than succeed with no master serving. (The client Service's own await cannot do
 * it: with no endpoint address at all, e.g. claims that never bind, it passes after 10 s; seen
 * on the real cluster.)
 */
export function awaitAnnotations(set: SetName): Record<string, string> {
    return set === MASTER_SET ? { "pulumi.com/waitFor": "jsonpath={.status.readyReplicas}" } : { "pulumi.com/skipAwait": "true" };
}

/** The full StatefulSet for one Greenplum set (master, segment-a or segment-b). */
export function statefulSetArgs(inputs: StatefulSetInputs): k8s.apps.v1.StatefulSetArgs {
    const { set, gp, profile } = inputs;
    const isMaster = set === MASTER_SET;
    const settings = isMaster ? gp.masterAndStandby : gp.segments;
    const labels = { ...commonLabels(), [SET_LABEL]: set };
    const keepData = profile === "production";
    const storageClassName = settings.storageClassName ?? inputs.storageClassName;

    const volumeMounts: k8s.types.input.core.v1.VolumeMount[] = [
        { name: DATA_VOLUME, mountPath: DATA_ROOT },
        { name: "scripts", mountPath: SCRIPTS_DIR, readOnly: true },
        { name: "ssh", mountPath: SSH_DIR, readOnly: true },
    ];
    const volumes: k8s.types.input.core.v1.Volume[] = [
        { name: "scripts", configMap: { name: SCRIPTS_CONFIGMAP, defaultMode: 0o444 } },
        // 0440 with fsGroup: readable by gpadmin only; the entrypoint copies keys to ~/.ssh with 0600.
        { name: "ssh", secret: { secretName: SSH_SECRET, defaultMode: 0o440 } },
    ];
    if (isMaster) {
        volumeMounts.push({ name: "password", mountPath: PASSWORD_DIR, readOnly: true }, { name: "acting-master", mountPath: ACTING_MASTER_DIR, readOnly: true });
        volumes.push(
            { name: "password", secret: { secretName: ADMIN_SECRET, defaultMode: 0o440, items: [{ key: "password", path: "password" }] } },
            { name: "acting-master", configMap: { name: ACTING_MASTER_CONFIGMAP, defaultMode: 0o444 } },
        );
    }

    const nodeSelector = { ...(inputs.placement.nodeSelector ?? {}), ...settings.workerSelector };
    const podSpec: PodSpec = {
        serviceAccountName: SERVICE_ACCOUNT,
        automountServiceAccountToken: false,
        priorityClassName: PRIORITY_CLASS,
        enableServiceLinks: false,
        securityContext: {
            runAsNonRoot: true,
            runAsUser: GPADMIN_UID,
            runAsGroup: GPADMIN_UID,
            fsGroup: GPADMIN_UID,
            fsGroupChangePolicy: "OnRootMismatch",
            seccompProfile: { type: "RuntimeDefault" },
            // gpinitsystem and gpinitstandby ping every host and stop when ping fails
            // (gp_bash_functions.sh PING_HOST); without CAP_NET_RAW, ping needs an ICMP socket,
            // which the kernel allows only to groups in this range (a "safe", namespaced sysctl).
            sysctls: [{ name: "net.ipv4.ping_group_range", value: `${GPADMIN_UID} ${GPADMIN_UID}` }],
        },
        // Short host names resolve through the headless Service, as gpinitsystem expects.
        dnsConfig: { searches: [`${HEADLESS_SERVICE}.${inputs.namespace}.svc.${inputs.clusterDomain}`] },
        terminationGracePeriodSeconds: terminationGracePeriodSeconds(gp),
        ...(Object.keys(nodeSelector).length > 0 ? { nodeSelector } : {}),
        ...(inputs.placement.tolerations ? { tolerations: inputs.placement.tolerations } : {}),
        ...(settings.antiAffinity ? { affinity: antiAffinity(set, inputs.zoneCount) } : {}),
        initContainers: [
            {
                name: "volume-guard",
                image: gp.image,
                imagePullPolicy: "IfNotPresent",
                command: [...script("volume-guard.sh"), `data=${DATA_ROOT}`],
                securityContext: restrictedContainerContext(),
                resources: { requests: { cpu: "50m", memory: "32Mi" }, limits: { cpu: "500m", memory: "64Mi" } },
                volumeMounts: [{ name: DATA_VOLUME, mountPath: DATA_ROOT }, { name: "scripts", mountPath: SCRIPTS_DIR, readOnly: true }],
            },
        ],
        containers: [
            {
                name: "greenplum",
                image: gp.image,
                imagePullPolicy: "IfNotPresent",
                command: script("entrypoint.sh"),
                env: environment(inputs),
                ports: [
                    { name: "postgres", containerPort: port(set) },
                    { name: "ssh", containerPort: SSH_PORT },
                ],
                // Ready = usable: the acting master only when every segment has an up primary.
                readinessProbe: { exec: { command: script("readiness.sh") }, periodSeconds: 10, timeoutSeconds: 15, failureThreshold: 3 },
                // Liveness watches sshd and the entrypoint, never postgres: a segment in recovery must not be killed.
                livenessProbe: { exec: { command: script("liveness.sh") }, initialDelaySeconds: 30, periodSeconds: 30, timeoutSeconds: 10, failureThreshold: 6 },
                lifecycle: { preStop: { exec: { command: script("prestop.sh") } } },
                resources: containerResources(settings.cpu, settings.memory),
                securityContext: restrictedContainerContext(),
                volumeMounts,
            },
        ],
        volumes,
    };

    return {
        metadata: {
            name: set,
            namespace: inputs.namespace,
            labels,
            annotations: {
                // volumeClaimTemplates are immutable and ignored in diffs (see index.ts): this shows a change in the preview.
                "greenplum-k8s/volume-claim": pulumi.interpolate`${settings.storage} on ${storageClassName}`,
                ...awaitAnnotations(set),
            },
        },
        spec: {
            serviceName: HEADLESS_SERVICE,
            replicas: replicas(set, gp),
            // Every segment starts at once: gpinitsystem needs them all, not one after another.
            podManagementPolicy: "Parallel",
            // Kubernetes knows nothing about the database: a template change waits for a coordinated restart.
            updateStrategy: { type: "OnDelete" },
            selector: { matchLabels: setSelector(set) },
            persistentVolumeClaimRetentionPolicy: keepData ? { whenDeleted: "Retain", whenScaled: "Retain" } : { whenDeleted: "Delete", whenScaled: "Delete" },
            // gp-failover runs its commands with `kubectl exec`, which picks this container.
            template: { metadata: { labels, annotations: { "kubectl.kubernetes.io/default-container": "greenplum" } }, spec: podSpec },
            volumeClaimTemplates: [
                {
                    metadata: { name: DATA_VOLUME, labels },
                    spec: {
                        accessModes: ["ReadWriteOnce"],
                        storageClassName,
                        resources: { requests: { storage: settings.storage } },
                    },
                },
            ],
        },
    };
}
