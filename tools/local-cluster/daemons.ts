/**
 * The command lines of the cluster's daemons, as functions of a control-plane instance (its
 * address, ports, certificates and binaries). Flags are those of Kubernetes 1.34's `--help` and
 * etcd 3.6's.
 */
import * as path from "path";
import { CLUSTER_POD_CIDR, NODE_IP, NODE_NAME, PORTS, SERVICE_CIDR, type StatePaths } from "./plan";

export interface ControlPlane {
    /** Prefixes its daemons' log and PID file names ("" for the node's cluster). */
    prefix: string;
    paths: StatePaths;
    /** The API server's address. */
    address: string;
    ports: { apiserver: number; etcdClient: number; etcdPeer: number; controllerManager: number; scheduler: number };
    /** The directory the PKI lives in. */
    pki: string;
    /** Binaries by name (kube-apiserver, etcd, ...). */
    bin: (name: string) => string;
}

const pkiFile = (cp: ControlPlane, name: string) => path.join(cp.pki, name);
export const componentKubeconfig = (cp: ControlPlane, component: string) => path.join(cp.paths.kubeconfigs, `${component}.kubeconfig`);

export function etcdArgs(cp: ControlPlane): string[] {
    const client = `http://127.0.0.1:${cp.ports.etcdClient}`;
    const peer = `http://127.0.0.1:${cp.ports.etcdPeer}`;
    const name = `${cp.prefix}etcd`;
    return [
        `--name=${name}`,
        `--data-dir=${cp.paths.etcdData}`,
        // Loopback only, plain HTTP: nothing but this machine's API server ever connects.
        `--listen-client-urls=${client}`,
        `--advertise-client-urls=${client}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=${name}=${peer}`,
        "--initial-cluster-state=new",
        // A test cluster on a shared disk: fewer fsync stalls reported as slow requests.
        "--quota-backend-bytes=4294967296",
        "--log-level=warn",
    ];
}

export function apiserverArgs(cp: ControlPlane): string[] {
    return [
        `--etcd-servers=http://127.0.0.1:${cp.ports.etcdClient}`,
        `--bind-address=${cp.address}`,
        `--advertise-address=${cp.address === "127.0.0.1" ? NODE_IP : cp.address}`,
        `--secure-port=${cp.ports.apiserver}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        `--tls-cert-file=${pkiFile(cp, "apiserver.crt")}`,
        `--tls-private-key-file=${pkiFile(cp, "apiserver.key")}`,
        `--client-ca-file=${pkiFile(cp, "ca.crt")}`,
        `--kubelet-client-certificate=${pkiFile(cp, "apiserver-kubelet-client.crt")}`,
        `--kubelet-client-key=${pkiFile(cp, "apiserver-kubelet-client.key")}`,
        `--kubelet-certificate-authority=${pkiFile(cp, "ca.crt")}`,
        "--kubelet-preferred-address-types=InternalIP",
        `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
        `--service-account-key-file=${pkiFile(cp, "service-account.pub")}`,
        `--service-account-signing-key-file=${pkiFile(cp, "service-account.key")}`,
        "--authorization-mode=Node,RBAC",
        // On top of the default plugins (PodSecurity, Priority, ResourceQuota, DefaultStorageClass, ...).
        "--enable-admission-plugins=NodeRestriction",
        // The NetworkPolicy agent's DaemonSet runs privileged in the host network (Pod Security still applies per namespace).
        "--allow-privileged=true",
        "--profiling=false",
        "--v=1",
    ];
}

export function controllerManagerArgs(cp: ControlPlane): string[] {
    const kubeconfig = componentKubeconfig(cp, "controller-manager");
    return [
        `--kubeconfig=${kubeconfig}`,
        `--authentication-kubeconfig=${kubeconfig}`,
        `--authorization-kubeconfig=${kubeconfig}`,
        "--bind-address=127.0.0.1",
        `--secure-port=${cp.ports.controllerManager}`,
        `--root-ca-file=${pkiFile(cp, "ca.crt")}`,
        `--service-account-private-key-file=${pkiFile(cp, "service-account.key")}`,
        "--use-service-account-credentials=true",
        "--allocate-node-cidrs=true",
        `--cluster-cidr=${CLUSTER_POD_CIDR}`,
        "--node-cidr-mask-size=24",
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        "--leader-elect=false",
        "--v=1",
    ];
}

export function schedulerArgs(cp: ControlPlane): string[] {
    const kubeconfig = componentKubeconfig(cp, "scheduler");
    return [
        `--kubeconfig=${kubeconfig}`,
        `--authentication-kubeconfig=${kubeconfig}`,
        `--authorization-kubeconfig=${kubeconfig}`,
        "--bind-address=127.0.0.1",
        `--secure-port=${cp.ports.scheduler}`,
        "--leader-elect=false",
        "--v=1",
    ];
}

export function kubeletArgs(paths: StatePaths): string[] {
    return [
        `--config=${paths.kubeletConfig}`,
        `--kubeconfig=${path.join(paths.kubeconfigs, "kubelet.kubeconfig")}`,
        `--root-dir=${paths.kubeletRoot}`,
        `--node-ip=${NODE_IP}`,
        `--hostname-override=${NODE_NAME}`,
        "--v=1",
    ];
}

export function containerdArgs(paths: StatePaths): string[] {
    return ["--config", paths.containerdConfig];
}

export function kubeProxyArgs(paths: StatePaths): string[] {
    return [`--config=${paths.proxyConfig}`, "--v=1"];
}

/** kube-router as the node's NetworkPolicy engine only: no routing (the bridge does it), no service proxy (kube-proxy's), no CNI. */
export function kubeRouterArgs(paths: StatePaths): string[] {
    return [
        `--kubeconfig=${path.join(paths.kubeconfigs, "kube-router.kubeconfig")}`,
        `--hostname-override=${NODE_NAME}`,
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        "--enable-cni=false",
        "--enable-ipv6=false",
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        `--health-port=${PORTS.kubeRouterHealth}`,
        "--metrics-port=0",
        "--v=1",
    ];
}
