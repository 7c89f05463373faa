/**
 * The local cluster's fixed plan: addresses, ports, names and directories. Every address is in
 * 198.18.0.0/15 (RFC 2544's range for network test labs) or loopback, and nothing here routes
 * off the machine; the pod runner keeps 198.18.0.0/24 to itself.
 */
import * as path from "path";

/** The kubeconfig context the stacks target (`target.context`). */
export const CONTEXT = "greenplum-k8s-local";
export const NODE_NAME = "greenplum-k8s-local";
export const CLUSTER_DOMAIN = "cluster.local";

/** Every interface, chain and nftables table this cluster makes starts with this, so `down` finds them. */
export const PREFIX = "gpkl";
/** An interface of its own (a bridge with no ports) holding the node's address: the API server, the kubelet and NodePorts listen there only. */
export const NODE_INTERFACE = `${PREFIX}-node0`;
export const NODE_IP = "198.18.8.1";
/** The pods' bridge (CNI bridge plugin) and the one node's pod range. */
export const BRIDGE = `${PREFIX}-cni0`;
export const CLUSTER_POD_CIDR = "198.18.16.0/20";
export const NODE_POD_CIDR = "198.18.16.0/24";
export const POD_GATEWAY = "198.18.16.1";
export const SERVICE_CIDR = "198.18.32.0/20";
/** The first address of the service range is the `kubernetes` Service's (the API server allocates it). */
export const API_SERVICE_IP = "198.18.32.1";
export const DNS_SERVICE_IP = "198.18.32.10";
/** Everything the cluster may address besides loopback. */
export const LAB_RANGE = "198.18.0.0/15";
/** The iptables chain, hooked into FORWARD, that drops cluster traffic bound anywhere but the lab range. */
export const ISOLATION_CHAIN = "GPKL-ISOLATE";

export const PORTS = {
    apiserver: 6443,
    etcdClient: 23790,
    etcdPeer: 23800,
    controllerManager: 10257,
    scheduler: 10259,
    kubelet: 10250,
    kubeletHealthz: 10248,
    proxyHealthz: 10256,
    proxyMetrics: 10249,
    kubeRouterHealth: 20244,
} as const;

/** Where the cluster's state lives (removed by `down`) and where builds are cached (kept with `--keep-cache`). */
export interface Directories {
    state: string;
    cache: string;
}

export function directories(env: NodeJS.ProcessEnv): Directories {
    return {
        state: env.GPK_CLUSTER_DIR ?? "/var/lib/greenplum-k8s-local",
        cache: env.GPK_CLUSTER_CACHE ?? "/var/cache/greenplum-k8s",
    };
}

/** The files and folders of a running cluster, all under the state directory. */
export function statePaths(state: string) {
    const p = (...parts: string[]) => path.join(state, ...parts);
    return {
        root: state,
        pki: p("pki"),
        logs: p("logs"),
        pids: p("pids"),
        etcdData: p("etcd"),
        containerdRoot: p("containerd", "root"),
        containerdState: p("containerd", "state"),
        containerdConfig: p("containerd", "config.toml"),
        containerdSocket: p("containerd", "containerd.sock"),
        cniConfDir: p("cni", "net.d"),
        kubeletRoot: p("kubelet"),
        kubeletConfig: p("config", "kubelet.yaml"),
        proxyConfig: p("config", "kube-proxy.yaml"),
        schedulerConfig: p("config", "kube-scheduler.yaml"),
        addons: p("config", "addons.yaml"),
        kubeconfigs: p("kubeconfigs"),
        /** The kubeconfig people and stacks use (context greenplum-k8s-local). */
        kubeconfig: p("kubeconfig"),
        /** Machine settings changed at `up`, with their values before, for `down` to put back. */
        sysctlsBefore: p("sysctls-before.json"),
        /** Where the stacks' local-path volumes go (`storage.localPath.path`), so `down` removes them. */
        localPathVolumes: p("local-path"),
        pulumiHome: p("pulumi", "home"),
        pulumiBackend: p("pulumi", "state"),
        passphrase: p("pulumi", "passphrase"),
    };
}

export type StatePaths = ReturnType<typeof statePaths>;

/** a.b.c.d as a 32-bit number. */
export function ipv4ToNumber(address: string): number {
    const octets = address.split(".").map(Number);
    if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) throw new Error(`not an IPv4 address: ${address}`);
    return octets.reduce((n, o) => n * 256 + o, 0);
}

/** Whether `inner` (an address or CIDR) lies wholly inside `outer` (a CIDR). */
export function within(inner: string, outer: string): boolean {
    const [innerAddress, innerPrefix = "32"] = inner.split("/");
    const [outerAddress, outerPrefix] = outer.split("/");
    const ip = Number(innerPrefix);
    const op = Number(outerPrefix);
    if (ip < op) return false;
    const size = 2 ** (32 - op);
    return Math.floor(ipv4ToNumber(innerAddress) / size) === Math.floor(ipv4ToNumber(outerAddress) / size);
}

/** Whether two CIDRs share any address. */
export function overlaps(a: string, b: string): boolean {
    return within(a, b) || within(b, a);
}

/** The plan's own rules: a change that breaks one fails here (and in the unit tests), not at `up`. */
export function planProblems(): string[] {
    const problems: string[] = [];
    const inLab: Record<string, string> = { NODE_IP, CLUSTER_POD_CIDR, NODE_POD_CIDR, POD_GATEWAY, SERVICE_CIDR, API_SERVICE_IP, DNS_SERVICE_IP };
    for (const [name, value] of Object.entries(inLab)) if (!within(value, LAB_RANGE)) problems.push(`${name} ${value} is outside ${LAB_RANGE}`);
    // The pod runner's bridge owns 198.18.0.0/24; the cluster must not overlap it, so both can exist on one machine.
    for (const [name, value] of Object.entries({ NODE_IP, CLUSTER_POD_CIDR, SERVICE_CIDR })) if (overlaps(value, "198.18.0.0/24")) problems.push(`${name} ${value} overlaps the pod runner's 198.18.0.0/24`);
    if (overlaps(CLUSTER_POD_CIDR, SERVICE_CIDR)) problems.push(`pod range ${CLUSTER_POD_CIDR} overlaps service range ${SERVICE_CIDR}`);
    if (!within(NODE_POD_CIDR, CLUSTER_POD_CIDR)) problems.push(`node pod range ${NODE_POD_CIDR} is outside ${CLUSTER_POD_CIDR}`);
    if (!within(POD_GATEWAY, NODE_POD_CIDR)) problems.push(`pod gateway ${POD_GATEWAY} is outside ${NODE_POD_CIDR}`);
    for (const ip of [API_SERVICE_IP, DNS_SERVICE_IP]) if (!within(ip, SERVICE_CIDR)) problems.push(`${ip} is outside the service range ${SERVICE_CIDR}`);
    if (within(NODE_IP, CLUSTER_POD_CIDR) || within(NODE_IP, SERVICE_CIDR)) problems.push(`node address ${NODE_IP} lies in a pod or service range`);
    return problems;
}
