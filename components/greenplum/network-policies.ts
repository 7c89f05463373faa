import type * as k8s from "@pulumi/kubernetes";
import type { GreenplumConfig } from "../../stacks/schema";
import { commonLabels, MASTER_PORT, MASTER_SET, setSelector } from "./naming";

const greenplumPods = { matchLabels: { "app.kubernetes.io/name": "greenplum" } };

/** Label a namespace with this ("true") to let its pods connect to the master when client sources are configured. */
export const CLIENT_NAMESPACE_LABEL = "greenplum-k8s/client";

/**
 * Default deny in the Greenplum namespace; Greenplum pods talk freely among themselves (the UDP
 * interconnect uses ephemeral ports, replication and sshd their own) and to DNS; clients reach
 * only the master's port, from the configured sources.
 */
export function networkPolicyArgs(gp: GreenplumConfig, namespace: string): Record<string, k8s.networking.v1.NetworkPolicyArgs> {
    const metadata = (name: string) => ({ name, namespace, labels: commonLabels() });
    const clientSources = gp.service.loadBalancerSourceRanges;
    return {
        "default-deny": {
            metadata: metadata("default-deny"),
            spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
        },
        "greenplum-interconnect": {
            metadata: metadata("greenplum-interconnect"),
            spec: {
                podSelector: greenplumPods,
                policyTypes: ["Ingress", "Egress"],
                ingress: [{ from: [{ podSelector: greenplumPods }] }],
                egress: [
                    { to: [{ podSelector: greenplumPods }] },
                    {
                        to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } }, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }],
                        ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }],
                    },
                ],
            },
        },
        "greenplum-clients": {
            metadata: metadata("greenplum-clients"),
            spec: {
                podSelector: { matchLabels: setSelector(MASTER_SET) },
                policyTypes: ["Ingress"],
                ingress: [
                    {
                        // No configured sources: any client may try (a password is still required).
                        // ipBlock matches only addresses outside the cluster under Dataplane V2 (Cilium):
                        // in-cluster clients are admitted by their namespace's label instead.
                        ...(clientSources.length > 0
                            ? { from: [...clientSources.map((cidr) => ({ ipBlock: { cidr } })), { namespaceSelector: { matchLabels: { [CLIENT_NAMESPACE_LABEL]: "true" } } }] }
                            : {}),
                        ports: [{ protocol: "TCP", port: MASTER_PORT }],
                    },
                ],
            },
        },
    };
}
