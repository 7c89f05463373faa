import type * as k8s from "@pulumi/kubernetes";
import type { GreenplumConfig } from "../../stacks/schema";
import { CLIENT_SERVICE, commonLabels, HEADLESS_SERVICE, MASTER_PORT, MASTER_SET, setSelector, SSH_PORT } from "./naming";

/** The pod the client Service selects until a failover says otherwise. */
export const INITIAL_ACTING_MASTER = `${MASTER_SET}-0`;

/**
 * Every pod resolves through this Service before it is ready: master-0 must reach all hosts to
 * run gpinitsystem, and segments are not ready until it has.
 */
export function headlessServiceArgs(namespace: string): k8s.core.v1.ServiceArgs {
    return {
        metadata: { name: HEADLESS_SERVICE, namespace, labels: commonLabels() },
        spec: {
            clusterIP: "None",
            publishNotReadyAddresses: true,
            selector: { "app.kubernetes.io/name": "greenplum" },
            ports: [{ name: "ssh", port: SSH_PORT, targetPort: SSH_PORT }],
        },
    };
}

/**
 * The Service clients use. It selects one pod by name: the acting master. `gp-failover promote`
 * repoints it, and the component ignores later diffs of the selector so `pulumi up` never sends
 * clients back to a stale master.
 */
export function clientServiceArgs(gp: GreenplumConfig, namespace: string, onGke: boolean): k8s.core.v1.ServiceArgs {
    const { type, internal, loadBalancerSourceRanges } = gp.service;
    const annotations: Record<string, string> = {};
    if (type === "LoadBalancer" && internal && onGke) annotations["networking.gke.io/load-balancer-type"] = "Internal";
    return {
        metadata: { name: CLIENT_SERVICE, namespace, labels: commonLabels(), annotations },
        spec: {
            type,
            selector: { ...setSelector(MASTER_SET), "statefulset.kubernetes.io/pod-name": INITIAL_ACTING_MASTER },
            ports: [{ name: "postgres", port: MASTER_PORT, targetPort: MASTER_PORT, protocol: "TCP" }],
            // Keep client addresses so pg_hba.conf and the NetworkPolicy see who connects.
            ...(type !== "ClusterIP" ? { externalTrafficPolicy: "Local" } : {}),
            ...(type === "LoadBalancer" && loadBalancerSourceRanges.length > 0 ? { loadBalancerSourceRanges } : {}),
        },
    };
}
