import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { StorageConfig } from "../../stacks/schema";
import { dataStorageClassLabels } from "./labels";

export const LOCAL_PATH_NAMESPACE = "local-path-storage";
export const LOCAL_PATH_PROVISIONER = "rancher.io/local-path";
const NAME = "local-path-provisioner";
/**
 * How long the provisioner keeps running once it is deleted. A dev `destroy` deletes Greenplum's
 * namespace (its claims) just before the provisioner; with reclaimPolicy Delete it is the
 * provisioner that removes the released volumes, and without this window they stayed behind
 * (seen on the local cluster: 3 Released volumes and their directories after `pulumi destroy`).
 */
export const PROVISIONER_DRAIN_SECONDS = 30;

/** The provisioner's config: every node gets volumes under one persistent directory. */
export function localPathConfig(path: string, helperImage: string): Record<string, string> {
    return {
        "config.json": JSON.stringify({ nodePathMap: [{ node: "DEFAULT_PATH_FOR_NON_LISTED_NODES", paths: [path] }] }, null, 2),
        // Greenplum runs as uid 1001; hostPath volumes get no fsGroup, so the volume root must be writable.
        setup: '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"\n',
        teardown: '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"\n',
        "helperPod.yaml": [
            "apiVersion: v1",
            "kind: Pod",
            "metadata:",
            "  name: helper-pod",
            "spec:",
            "  priorityClassName: system-node-critical",
            "  tolerations:",
            "    - key: node.kubernetes.io/disk-pressure",
            "      operator: Exists",
            "      effect: NoSchedule",
            "  containers:",
            "    - name: helper-pod",
            `      image: ${helperImage}`,
            "      imagePullPolicy: IfNotPresent",
            "",
        ].join("\n"),
    };
}

/**
 * rancher/local-path-provisioner as explicit resources: dynamic hostPath volumes under a
 * persistent node directory (on minikube under /data, never the tmpfs root or /tmp).
 */
export function createLocalPath(storage: StorageConfig, opts: pulumi.CustomResourceOptions): k8s.storage.v1.StorageClass {
    const labels = { "app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "greenplum-k8s" };
    const namespace = new k8s.core.v1.Namespace("local-path-storage", {
        metadata: {
            name: LOCAL_PATH_NAMESPACE,
            labels: {
                ...labels,
                // The provisioner's helper pods mount host paths as root to create volume directories.
                "pod-security.kubernetes.io/enforce": "privileged",
                "pod-security.kubernetes.io/warn": "restricted",
            },
        },
    }, opts);
    const nsOpts = { ...opts, dependsOn: [namespace] };
    const meta = (name: string) => ({ name, namespace: LOCAL_PATH_NAMESPACE, labels });

    const account = new k8s.core.v1.ServiceAccount("local-path-provisioner", { metadata: meta(NAME) }, nsOpts);
    const role = new k8s.rbac.v1.Role("local-path-provisioner", {
        metadata: meta(NAME),
        rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "create", "patch", "update", "delete"] }],
    }, nsOpts);
    const roleBinding = new k8s.rbac.v1.RoleBinding("local-path-provisioner", {
        metadata: meta(NAME),
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
        subjects: [{ kind: "ServiceAccount", name: NAME, namespace: LOCAL_PATH_NAMESPACE }],
    }, nsOpts);
    const clusterRole = new k8s.rbac.v1.ClusterRole("local-path-provisioner", {
        metadata: { name: NAME, labels },
        rules: [
            { apiGroups: [""], resources: ["nodes", "persistentvolumeclaims", "configmaps", "pods", "pods/log"], verbs: ["get", "list", "watch"] },
            { apiGroups: [""], resources: ["persistentvolumes"], verbs: ["get", "list", "watch", "create", "patch", "update", "delete"] },
            { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] },
            { apiGroups: ["storage.k8s.io"], resources: ["storageclasses"], verbs: ["get", "list", "watch"] },
        ],
    }, opts);
    const clusterRoleBinding = new k8s.rbac.v1.ClusterRoleBinding("local-path-provisioner", {
        metadata: { name: NAME, labels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRole.metadata.name },
        subjects: [{ kind: "ServiceAccount", name: NAME, namespace: LOCAL_PATH_NAMESPACE }],
    }, opts);
    const config = new k8s.core.v1.ConfigMap("local-path-config", { metadata: meta("local-path-config"), data: localPathConfig(storage.localPath.path, storage.localPath.helperImage) }, nsOpts);

    const deployment = new k8s.apps.v1.Deployment("local-path-provisioner", {
        metadata: meta(NAME),
        spec: {
            replicas: 1,
            selector: { matchLabels: { "app.kubernetes.io/name": NAME } },
            template: {
                metadata: { labels },
                spec: {
                    serviceAccountName: account.metadata.name,
                    terminationGracePeriodSeconds: PROVISIONER_DRAIN_SECONDS + 10,
                    securityContext: { runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: { type: "RuntimeDefault" } },
                    containers: [
                        {
                            name: "provisioner",
                            image: storage.localPath.image,
                            imagePullPolicy: "IfNotPresent",
                            command: ["local-path-provisioner", "start", "--config", "/etc/config/config.json"],
                            env: [
                                { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
                                { name: "CONFIG_MOUNT_PATH", value: "/etc/config/" },
                                // Helper pods run as this account; unset, the provisioner uses
                                // "local-path-provisioner-service-account" (its main.go default), which does not exist here.
                                { name: "SERVICE_ACCOUNT_NAME", value: NAME },
                                { name: "HEALTH_PORT", value: "8080" },
                            ],
                            ports: [{ name: "health", containerPort: 8080 }],
                            readinessProbe: { httpGet: { path: "/ready", port: "health" } },
                            livenessProbe: { httpGet: { path: "/health", port: "health" } },
                            resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { cpu: "200m", memory: "128Mi" } },
                            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
                            volumeMounts: [{ name: "config", mountPath: "/etc/config/" }],
                            // The kubelet's own sleep (no tool in the image): the provisioner keeps
                            // running while it is deleted, so volumes released just before are removed.
                            lifecycle: { preStop: { sleep: { seconds: PROVISIONER_DRAIN_SECONDS } } },
                        },
                    ],
                    volumes: [{ name: "config", configMap: { name: config.metadata.name } }],
                },
            },
        },
    // Deleted before its RBAC (and awaited: the provider deletes in the foreground), so the
    // drain above can still run helper pods and delete volumes.
    }, { ...opts, dependsOn: [namespace, roleBinding, clusterRoleBinding] });

    // The provisioner only talks to the API server; nothing talks to it.
    new k8s.networking.v1.NetworkPolicy("local-path-provisioner", {
        metadata: meta(NAME),
        spec: { podSelector: { matchLabels: { "app.kubernetes.io/name": NAME } }, policyTypes: ["Ingress", "Egress"], ingress: [], egress: [{}] },
    }, nsOpts);

    return new k8s.storage.v1.StorageClass("local-path", {
        metadata: { name: storage.storageClassName, labels: dataStorageClassLabels() },
        provisioner: LOCAL_PATH_PROVISIONER,
        reclaimPolicy: storage.reclaimPolicy,
        // Node-local volumes: the scheduler must pick the node before the volume is made.
        volumeBindingMode: "WaitForFirstConsumer",
    }, { ...opts, dependsOn: [deployment] });
}
