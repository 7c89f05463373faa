import { stringify } from "yaml";

/**
 * A kubeconfig for a GKE cluster that authenticates through `gke-gcloud-auth-plugin`: short-lived
 * tokens from the caller's gcloud credentials, no client certificate or static token in state.
 */
export function gkeKubeconfig(contextName: string, endpoint: string, clusterCaCertificate: string): string {
    return stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: contextName, cluster: { server: `https://${endpoint}`, "certificate-authority-data": clusterCaCertificate } }],
        contexts: [{ name: contextName, context: { cluster: contextName, user: contextName } }],
        "current-context": contextName,
        users: [
            {
                name: contextName,
                user: {
                    exec: {
                        apiVersion: "client.authentication.k8s.io/v1beta1",
                        command: "gke-gcloud-auth-plugin",
                        // Application Default Credentials (a CI service account, or `gcloud auth
                        // application-default login`), as gcloud writes it when
                        // container/use_application_default_credentials is set; without it the
                        // plugin needs a `gcloud auth login` account.
                        args: ["--use_application_default_credentials"],
                        installHint: "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin",
                        provideClusterInfo: true,
                        interactiveMode: "Never",
                    },
                },
            },
        ],
    });
}
