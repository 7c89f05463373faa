/**
 * What a cluster ships beyond its daemons: CoreDNS as kube-dns (a pod in kube-system, so that
 * NetworkPolicies that admit DNS by its labels, as Greenplum's do, are tested as on any cluster)
 * and the RBAC of kube-router, which enforces NetworkPolicies from the node (a daemon beside
 * kube-proxy, with the machine's iptables and ipset).
 */
import { stringify } from "yaml";
import { corefile } from "./configs";
import { DNS_SERVICE_IP } from "./plan";

const DNS_LABELS = { "k8s-app": "kube-dns" };

export interface AddonImages {
    coredns: string;
}

export function addonObjects(images: AddonImages): Record<string, unknown>[] {
    const ns = "kube-system";
    return [
        { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "coredns", namespace: ns } },
        {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRole",
            metadata: { name: "system:coredns" },
            // What CoreDNS's kubernetes plugin watches (its README: "RBAC").
            rules: [
                { apiGroups: [""], resources: ["endpoints", "services", "pods", "namespaces"], verbs: ["list", "watch"] },
                { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
            ],
        },
        {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRoleBinding",
            metadata: { name: "system:coredns" },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "system:coredns" },
            subjects: [{ kind: "ServiceAccount", name: "coredns", namespace: ns }],
        },
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "coredns", namespace: ns }, data: { Corefile: corefile() } },
        {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: "coredns", namespace: ns, labels: DNS_LABELS },
            spec: {
                replicas: 1,
                selector: { matchLabels: DNS_LABELS },
                template: {
                    metadata: { labels: DNS_LABELS },
                    spec: {
                        serviceAccountName: "coredns",
                        priorityClassName: "system-cluster-critical",
                        dnsPolicy: "Default",
                        // Port 53 without a capability: a namespaced sysctl Kubernetes counts as safe.
                        securityContext: {
                            runAsNonRoot: true,
                            runAsUser: 65532,
                            runAsGroup: 65532,
                            seccompProfile: { type: "RuntimeDefault" },
                            sysctls: [{ name: "net.ipv4.ip_unprivileged_port_start", value: "53" }],
                        },
                        containers: [
                            {
                                name: "coredns",
                                image: images.coredns,
                                imagePullPolicy: "Never",
                                args: ["-conf", "/etc/coredns/Corefile"],
                                ports: [
                                    { name: "dns", containerPort: 53, protocol: "UDP" },
                                    { name: "dns-tcp", containerPort: 53, protocol: "TCP" },
                                ],
                                readinessProbe: { httpGet: { path: "/ready", port: 8181 }, periodSeconds: 2 },
                                livenessProbe: { httpGet: { path: "/health", port: 8080 }, initialDelaySeconds: 10 },
                                resources: { requests: { cpu: "50m", memory: "32Mi" }, limits: { memory: "128Mi" } },
                                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
                                volumeMounts: [{ name: "config", mountPath: "/etc/coredns", readOnly: true }],
                            },
                        ],
                        volumes: [{ name: "config", configMap: { name: "coredns" } }],
                    },
                },
            },
        },
        {
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: "kube-dns", namespace: ns, labels: DNS_LABELS },
            spec: {
                clusterIP: DNS_SERVICE_IP,
                selector: DNS_LABELS,
                ports: [
                    { name: "dns", port: 53, protocol: "UDP", targetPort: 53 },
                    { name: "dns-tcp", port: 53, protocol: "TCP", targetPort: 53 },
                ],
            },
        },
        {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRole",
            metadata: { name: "greenplum-k8s:kube-router" },
            // What kube-router's informers watch (its daemonset manifests' ClusterRole), read-only:
            // with only the firewall running it writes nothing to the API server.
            rules: [
                { apiGroups: [""], resources: ["namespaces", "pods", "services", "nodes", "endpoints"], verbs: ["get", "list", "watch"] },
                { apiGroups: ["networking.k8s.io"], resources: ["networkpolicies"], verbs: ["get", "list", "watch"] },
                { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
            ],
        },
        {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRoleBinding",
            metadata: { name: "greenplum-k8s:kube-router" },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "greenplum-k8s:kube-router" },
            subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "greenplum-k8s-kube-router" }],
        },
    ];
}

export function addonManifests(images: AddonImages): string {
    return addonObjects(images).map((o) => stringify(o)).join("---\n");
}
