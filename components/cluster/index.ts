import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { GkeConfig, TargetConfig } from "../../stacks/schema";
import { createGkeCluster, NODE_POOL_LABEL, CEPH_NODE_TAINT } from "./gke";

export interface ClusterArgs {
    target: TargetConfig;
    /** Required when `target.kind` is gke. */
    gke?: GkeConfig;
    /** GCP project for gke (from `gke.project` or `gcp:project`). */
    gcpProject?: string;
    /** Whether Ceph will run here: on GKE that adds an Ubuntu node pool for it. */
    cephNodes: boolean;
}

/** Node placement every later component uses: where its pods go and which taints they tolerate. */
export interface NodePlacement {
    nodeSelector?: Record<string, string>;
    tolerations?: k8s.types.input.core.v1.Toleration[];
}

/**
 * The Kubernetes cluster everything else is deployed to: the local minikube, any kubeconfig
 * context, or a hardened GKE cluster created here. Every later component uses `provider`.
 */
export class Cluster extends pulumi.ComponentResource {
    public readonly provider: k8s.Provider;
    /** Only for gke: a kubeconfig using gke-gcloud-auth-plugin, as a secret. */
    public readonly kubeconfig?: pulumi.Output<string>;
    /** Zones the cluster's nodes span, when known (1 for minikube and existing clusters). */
    public readonly zoneCount: number;
    /** Where Greenplum pods go (the GKE Greenplum pool; anywhere elsewhere). */
    public readonly greenplumPlacement: NodePlacement;
    /** Where Ceph daemons go (the tainted GKE Ceph pool; anywhere elsewhere). */
    public readonly cephPlacement: NodePlacement;
    /** kubectl's flags for this cluster when it is a kubeconfig context (not gke: its kubeconfig exists only in the state). */
    public readonly kubectlAccess?: string[];

    constructor(name: string, args: ClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        // The alias keeps the URNs of stacks created while this component was `target:Target`:
        // without it Pulumi would replace the provider and, on GKE, the cluster itself.
        super("greenplum-k8s:cluster:Cluster", name, {}, { ...opts, aliases: [...(opts?.aliases ?? []), { type: "greenplum-k8s:target:Target" }] });
        const { target } = args;
        // upsertExistingObjects: a production destroy retains the Greenplum namespace, sets and Secret
        // (retainOnDelete); the next up adopts them with a server-side apply instead of failing with
        // AlreadyExists. Every object here has an explicit name and renames carry aliases, so an
        // upsert never lands on an object another resource of this stack still manages.

        if (target.kind === "gke") {
            if (!args.gke || !args.gcpProject) throw new Error("target.kind gke needs the gke config block and a GCP project");
            const gke = createGkeCluster(args.gke, args.gcpProject, args.cephNodes, this);
            this.kubeconfig = gke.kubeconfig;
            this.zoneCount = gke.zoneCount;
            this.provider = new k8s.Provider("gke", { kubeconfig: gke.kubeconfig, enableServerSideApply: true, upsertExistingObjects: true }, { parent: this, dependsOn: gke.nodePools });
            this.greenplumPlacement = { nodeSelector: { [NODE_POOL_LABEL]: "greenplum" } };
            this.cephPlacement = {
                nodeSelector: { [NODE_POOL_LABEL]: "ceph" },
                tolerations: [{ ...CEPH_NODE_TAINT, operator: "Equal", effect: "NoSchedule" }],
            };
        } else {
            const context = target.context ?? "minikube";
            this.zoneCount = 1;
            this.provider = new k8s.Provider(target.kind, {
                context,
                kubeconfig: target.kubeconfig,
                enableServerSideApply: true,
                upsertExistingObjects: true,
                // After `minikube delete` nothing is left to delete: `destroy` drops the state
                // instead of failing on an unreachable cluster. Not for other clusters, which may only be unreachable for a while.
                deleteUnreachable: target.kind === "minikube",
            }, { parent: this });
            this.greenplumPlacement = {};
            this.cephPlacement = {};
            this.kubectlAccess = ["--context", context, ...(target.kubeconfig ? ["--kubeconfig", target.kubeconfig] : [])];
        }

        this.registerOutputs({ kubeconfig: this.kubeconfig, zoneCount: this.zoneCount });
    }
}
