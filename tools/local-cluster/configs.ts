/**
 * The configuration files of the local cluster's daemons, as plain functions of the plan: what
 * each setting does is said beside it, with the source that says so.
 */
import * as path from "path";
import { stringify } from "yaml";
import {
    API_SERVICE_IP,
    BRIDGE,
    CLUSTER_DOMAIN,
    CLUSTER_POD_CIDR,
    CONTEXT,
    DNS_SERVICE_IP,
    NODE_IP,
    NODE_NAME,
    NODE_POD_CIDR,
    POD_GATEWAY,
    PORTS,
    type StatePaths,
} from "./plan";

/** CNI plugins from Debian's containernetworking-plugins. */
export const CNI_BIN_DIR = "/usr/lib/cni";
export const CNI_NETWORK = "gpkl";

/**
 * containerd 1.6's config (version 2). Everything it writes goes under the state directory; the
 * CRI plugin uses our pause image (nothing can be pulled here) and runc with cgroupfs, as the
 * kubelet's `cgroupDriver` (PID 1 is not systemd).
 */
export function containerdConfig(paths: StatePaths, pauseImage: string): string {
    const cri = 'plugins."io.containerd.grpc.v1.cri"';
    return [
        "version = 2",
        `root = ${JSON.stringify(paths.containerdRoot)}`,
        `state = ${JSON.stringify(paths.containerdState)}`,
        "",
        "[grpc]",
        `  address = ${JSON.stringify(paths.containerdSocket)}`,
        "",
        // The opt plugin installs into /opt/containerd unless told otherwise.
        '[plugins."io.containerd.internal.v1.opt"]',
        `  path = ${JSON.stringify(path.join(paths.containerdRoot, "opt"))}`,
        "",
        `[${cri}]`,
        `  sandbox_image = ${JSON.stringify(pauseImage)}`,
        "  enable_cdi = false",
        // Machines here withhold CAP_SYS_RESOURCE, so no process may lower its oom_score_adj: runc's
        // nsexec then dies writing the sandbox's -998. This clamps every score to containerd's own.
        "  restrict_oom_score_adj = true",
        `[${cri}.containerd]`,
        '  snapshotter = "overlayfs"',
        '  default_runtime_name = "runc"',
        // The kubelet garbage-collects images itself (and is told not to: they cannot be pulled back).
        "  discard_unpacked_layers = false",
        `[${cri}.containerd.runtimes.runc]`,
        '  runtime_type = "io.containerd.runc.v2"',
        `[${cri}.containerd.runtimes.runc.options]`,
        "  SystemdCgroup = false",
        '  BinaryName = "/usr/sbin/runc"',
        `[${cri}.cni]`,
        `  bin_dir = ${JSON.stringify(CNI_BIN_DIR)}`,
        `  conf_dir = ${JSON.stringify(paths.cniConfDir)}`,
        "  max_conf_num = 1",
        "",
    ].join("\n");
}

/**
 * The pod network: one bridge, host-local addresses from the node's range, a default route to
 * the bridge (the isolation chain drops whatever would leave the lab range). Hairpin mode lets a
 * pod reach itself through a Service. No masquerading: nothing is meant to leave the machine.
 */
export function cniConfig(paths: StatePaths): string {
    return `${JSON.stringify(
        {
            cniVersion: "1.0.0",
            name: CNI_NETWORK,
            plugins: [
                {
                    type: "bridge",
                    bridge: BRIDGE,
                    isGateway: true,
                    ipMasq: false,
                    hairpinMode: true,
                    ipam: {
                        type: "host-local",
                        ranges: [[{ subnet: NODE_POD_CIDR, gateway: POD_GATEWAY }]],
                        routes: [{ dst: "0.0.0.0/0" }],
                        // host-local keeps its leases in /var/lib/cni/networks unless told otherwise.
                        dataDir: path.join(paths.root, "cni", "ipam"),
                    },
                },
            ],
        },
        null,
        2,
    )}\n`;
}

/** KubeletConfiguration (kubelet.config.k8s.io/v1beta1). */
export function kubeletConfig(paths: StatePaths): string {
    return stringify({
        apiVersion: "kubelet.config.k8s.io/v1beta1",
        kind: "KubeletConfiguration",
        address: NODE_IP,
        port: PORTS.kubelet,
        readOnlyPort: 0,
        healthzBindAddress: "127.0.0.1",
        healthzPort: PORTS.kubeletHealthz,
        tlsCertFile: path.join(paths.pki, "kubelet-serving.crt"),
        tlsPrivateKeyFile: path.join(paths.pki, "kubelet-serving.key"),
        authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: path.join(paths.pki, "ca.crt") } },
        authorization: { mode: "Webhook" },
        // PID 1 is not systemd: cgroupfs, matching containerd's runc (SystemdCgroup = false).
        cgroupDriver: "cgroupfs",
        containerRuntimeEndpoint: `unix://${paths.containerdSocket}`,
        clusterDNS: [DNS_SERVICE_IP],
        clusterDomain: CLUSTER_DOMAIN,
        // No host resolver in pods: CoreDNS answers cluster names only, and nothing else is looked up.
        resolvConf: "",
        podCIDR: NODE_POD_CIDR,
        podLogsDir: path.join(paths.root, "pod-logs"),
        failSwapOn: false,
        // Locally built images cannot be pulled back: never garbage-collect them, never evict for a full image disk.
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
        evictionHard: { "memory.available": "100Mi", "nodefs.available": "2%", "imagefs.available": "2%" },
        serializeImagePulls: false,
        rotateCertificates: false,
        // The kubelet's defaults for kernel settings (kernel.panic, vm.overcommit_memory, ...) are
        // applied; `up` records the machine's values and `down` puts them back.
        protectKernelDefaults: false,
        // One machine, so the lifecycle checks run promptly (defaults: 1 min sync, 10 s status).
        syncFrequency: "10s",
        nodeStatusUpdateFrequency: "10s",
    });
}

/** KubeProxyConfiguration: iptables mode; NodePorts only on the node address; no conntrack sysctls changed. */
export function kubeProxyConfig(paths: StatePaths): string {
    return stringify({
        apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
        kind: "KubeProxyConfiguration",
        clientConnection: { kubeconfig: path.join(paths.kubeconfigs, "kube-proxy.kubeconfig") },
        mode: "iptables",
        hostnameOverride: NODE_NAME,
        bindAddress: NODE_IP,
        clusterCIDR: CLUSTER_POD_CIDR,
        healthzBindAddress: `127.0.0.1:${PORTS.proxyHealthz}`,
        metricsBindAddress: `127.0.0.1:${PORTS.proxyMetrics}`,
        nodePortAddresses: [`${NODE_IP}/32`],
        // 0 leaves the machine's conntrack table size and timeouts as they are (kube-proxy's config docs).
        conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
    });
}

export interface KubeconfigUser {
    user: string;
    certFile: string;
    keyFile: string;
}

/** A kubeconfig with one context; `embed` puts the certificates in (for the one people copy around). */
export function kubeconfig(server: string, caFile: string, user: KubeconfigUser, read?: (file: string) => string): string {
    const cluster = read ? { server, "certificate-authority-data": Buffer.from(read(caFile)).toString("base64") } : { server, "certificate-authority": caFile };
    const credentials = read
        ? { "client-certificate-data": Buffer.from(read(user.certFile)).toString("base64"), "client-key-data": Buffer.from(read(user.keyFile)).toString("base64") }
        : { "client-certificate": user.certFile, "client-key": user.keyFile };
    return stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: CONTEXT, cluster }],
        users: [{ name: user.user, user: credentials }],
        contexts: [{ name: CONTEXT, context: { cluster: CONTEXT, user: user.user } }],
        "current-context": CONTEXT,
    });
}

export const API_SERVER_URL = `https://${NODE_IP}:${PORTS.apiserver}`;

/**
 * CoreDNS answers the cluster's names and nothing else: no `forward` plugin, so a name outside
 * the cluster domain is never sent on (CoreDNS answers it SERVFAIL). Reverse zones answer for
 * pod and Service addresses (Greenplum's utilities look hosts up both ways).
 */
export function corefile(): string {
    return [
        ".:53 {",
        "    errors",
        "    health :8080",
        "    ready :8181",
        `    kubernetes ${CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {`,
        "        pods insecure",
        "        ttl 5",
        "    }",
        "    cache 5",
        "    loop",
        "    reload",
        "}",
        "",
    ].join("\n");
}

/** The API server's address as pods see it: the `kubernetes` Service. */
export const IN_CLUSTER_API = `https://${API_SERVICE_IP}:443`;
