/**
 * What the cluster changes on the machine outside its state directory, and how `down` takes it
 * back: the node's address, the isolation rules, kernel settings, the folders containerd, CNI and
 * the kubelet insist on, mounts, interfaces and iptables/nftables state.
 */
import * as fs from "fs";
import { run } from "./shell";
import { BRIDGE, ISOLATION_CHAIN, LAB_RANGE, NODE_INTERFACE, NODE_IP, PREFIX, SERVICE_CIDR, type StatePaths } from "./plan";

/**
 * Kernel settings the cluster needs (forwarding between pods through Services; bridged traffic
 * seen by iptables, for kube-proxy) and those the kubelet sets itself (its
 * `protectKernelDefaults: false`: kernel.panic, vm.overcommit_memory, ...). All are put back by `down`.
 */
export const SYSCTLS_SET_BY_UP: Record<string, string> = {
    "net.ipv4.ip_forward": "1",
    "net.bridge.bridge-nf-call-iptables": "1",
};
export const SYSCTLS_SET_BY_KUBELET = ["vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops", "kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes"];

/** Folders outside the state directory that containerd (shim sockets, netns), CNI (its cache) and the kubelet (log links) create. */
export const MACHINE_FOLDERS = ["/run/containerd", "/var/lib/cni", "/run/netns", "/var/log/containers", "/var/log/pods"];

export interface MachineRecord {
    sysctls: Record<string, string>;
    /** Folders of MACHINE_FOLDERS that did not exist before `up`: `down` removes them. */
    createdFolders: string[];
    /** KUBE-* chains (`<tool>/<table>/<chain>`) that were there before `up`: `down` leaves them. */
    chainsBefore: string[];
}

function sysctlPath(name: string): string {
    return `/proc/sys/${name.replace(/\./g, "/")}`;
}

export function readSysctl(name: string): string | undefined {
    try {
        return fs.readFileSync(sysctlPath(name), "utf8").trim().replace(/\s+/g, " ");
    } catch {
        return undefined;
    }
}

function writeSysctl(name: string, value: string): void {
    fs.writeFileSync(sysctlPath(name), value);
}

/** Records the machine as it was, once: a second `up` keeps the first record. */
export function recordMachine(paths: StatePaths): MachineRecord {
    if (fs.existsSync(paths.sysctlsBefore)) return JSON.parse(fs.readFileSync(paths.sysctlsBefore, "utf8")) as MachineRecord;
    const sysctls: Record<string, string> = {};
    for (const name of [...Object.keys(SYSCTLS_SET_BY_UP), ...SYSCTLS_SET_BY_KUBELET]) {
        const value = readSysctl(name);
        if (value !== undefined) sysctls[name] = value;
    }
    const record: MachineRecord = { sysctls, createdFolders: MACHINE_FOLDERS.filter((f) => !fs.existsSync(f)), chainsBefore: clusterChains() };
    fs.mkdirSync(paths.root, { recursive: true });
    fs.writeFileSync(paths.sysctlsBefore, JSON.stringify(record, null, 2));
    return record;
}

/**
 * The iptables rules that keep cluster traffic on the machine, by the hook they are in: pods may
 * reach lab addresses only (not the machine's other addresses, nothing off the machine), and
 * nothing from outside the lab range is forwarded to a pod.
 */
export function isolationRules(): Record<"INPUT" | "FORWARD", string[][]> {
    return {
        INPUT: [["-i", BRIDGE, "!", "-d", LAB_RANGE, "-j", "DROP"]],
        FORWARD: [
            ["-i", BRIDGE, "!", "-d", LAB_RANGE, "-j", "DROP"],
            ["-o", BRIDGE, "!", "-s", LAB_RANGE, "-j", "DROP"],
        ],
    };
}

const isolationChain = (hook: string) => `${ISOLATION_CHAIN}-${hook}`;

function iptables(args: string[], allowFail = false) {
    return run("iptables", ["-w", "5", ...args], { allowFail });
}

/**
 * Every lab address without a more specific route (the pod bridge, the Service range, the node's
 * own address) is dropped here rather than sent to the default route: the layout check's fake
 * nodes and pods have addresses that nothing answers, and none of them may ever leave the machine.
 */
export const LAB_BLACKHOLE_ROUTE = ["blackhole", LAB_RANGE];

/** The destinations of `ip route show type blackhole` output. */
export function blackholeRoutesIn(routes: string): string[] {
    return [...routes.matchAll(/^blackhole (\S+)/gm)].map((m) => m[1]);
}

export function setUpMachineNetwork(): void {
    for (const [name, value] of Object.entries(SYSCTLS_SET_BY_UP)) writeSysctl(name, value);
    if (run("ip", ["link", "show", NODE_INTERFACE], { allowFail: true }).status !== 0) {
        // A bridge with no ports: this kernel has no dummy device, and a portless bridge, like one, drops what it is sent.
        run("ip", ["link", "add", NODE_INTERFACE, "type", "bridge"]);
        run("ip", ["addr", "add", `${NODE_IP}/32`, "dev", NODE_INTERFACE]);
    }
    run("ip", ["link", "set", NODE_INTERFACE, "up"]);
    // Service addresses that kube-proxy did not translate end on that device (which drops
    // everything) instead of following the default route off the machine. Not a blackhole route:
    // that would fail the machine's own connect() before kube-proxy's OUTPUT rules could translate it.
    run("ip", ["route", "replace", SERVICE_CIDR, "dev", NODE_INTERFACE]);
    run("ip", ["route", "replace", ...LAB_BLACKHOLE_ROUTE]);
    for (const [hook, rules] of Object.entries(isolationRules())) {
        const chain = isolationChain(hook);
        if (iptables(["-n", "-L", chain], true).status !== 0) iptables(["-N", chain]);
        iptables(["-F", chain]);
        for (const rule of rules) iptables(["-A", chain, ...rule]);
        if (iptables(["-C", hook, "-j", chain], true).status !== 0) iptables(["-I", hook, "1", "-j", chain]);
    }
}

/** Mount points at or below `prefix`, deepest first. */
export function mountsUnder(mountinfo: string, prefix: string): string[] {
    const points = mountinfo
        .split("\n")
        .map((line) => line.split(" ")[4])
        .filter((p): p is string => p !== undefined && (p === prefix || p.startsWith(`${prefix}/`)))
        .map((p) => p.replace(/\\040/g, " "));
    return [...new Set(points)].sort((a, b) => b.length - a.length);
}

export function unmountUnder(prefix: string): string[] {
    const left: string[] = [];
    for (let round = 0; round < 5; round += 1) {
        const points = mountsUnder(fs.readFileSync("/proc/self/mountinfo", "utf8"), prefix);
        if (points.length === 0) return [];
        for (const point of points) run("umount", ["-l", point], { allowFail: true });
        left.splice(0, left.length, ...points);
    }
    return left;
}

/** Network namespaces CRI made for pods (cni-<uuid>): unmounted and removed. */
export function removePodNetns(): void {
    for (const dir of ["/run/netns", "/var/run/netns"]) {
        if (!fs.existsSync(dir)) continue;
        for (const name of fs.readdirSync(dir).filter((n) => n.startsWith("cni-"))) {
            run("umount", ["-l", `${dir}/${name}`], { allowFail: true });
            fs.rmSync(`${dir}/${name}`, { force: true });
        }
    }
}

/** Interfaces named with the cluster's prefix, and the veths the bridge plugin attached to its bridge. */
export function removeInterfaces(): void {
    const links = run("ip", ["-o", "link", "show"], { allowFail: true }).stdout;
    for (const m of links.matchAll(/^\d+:\s+([^:@\s]+)(?:@\S+)?:.*master (\S+)/gm)) if (m[2] === BRIDGE) run("ip", ["link", "del", m[1]], { allowFail: true });
    for (const m of links.matchAll(/^\d+:\s+([^:@\s]+)/gm)) if (m[1].startsWith(`${PREFIX}-`)) run("ip", ["link", "del", m[1]], { allowFail: true });
    run("ip", ["route", "del", SERVICE_CIDR], { allowFail: true });
    run("ip", ["route", "del", ...LAB_BLACKHOLE_ROUTE], { allowFail: true });
}

export function removeIsolation(): void {
    for (const hook of Object.keys(isolationRules())) {
        const chain = isolationChain(hook);
        while (iptables(["-D", hook, "-j", chain], true).status === 0);
        iptables(["-F", chain], true);
        iptables(["-X", chain], true);
    }
}

const IPTABLES_TOOLS = ["iptables", "ip6tables"] as const;
const IPTABLES_TABLES = ["filter", "nat", "mangle", "raw"] as const;

/** Chain names in `iptables -S` output that the kubelet, kube-proxy or `up` create. */
export function clusterChainsIn(rules: string): string[] {
    return [...rules.matchAll(/^-N ((?:KUBE|GPKL)-\S+)$/gm)].map((m) => m[1]);
}

/** ipsets kube-router makes (KUBE-SRC-*, KUBE-DST-*, kube-router-*), from `ipset list -n`. */
export function clusterIpsets(names: string): string[] {
    return names.split("\n").map((n) => n.trim()).filter((n) => /^(KUBE-|kube-router-)/.test(n));
}

/** The cluster's chains present now, as `<tool>/<table>/<chain>`. */
function clusterChains(): string[] {
    const found: string[] = [];
    for (const tool of IPTABLES_TOOLS) {
        for (const table of IPTABLES_TABLES) {
            const rules = run(tool, ["-w", "5", "-t", table, "-S"], { allowFail: true }).stdout;
            for (const chain of clusterChainsIn(rules)) found.push(`${tool}/${table}/${chain}`);
        }
    }
    return found;
}

/** Chains of the cluster's (KUBE-* from the kubelet and kube-proxy, GPKL-*) that `up` found absent and are still there. */
export function leftoverChains(chainsBefore: string[]): string[] {
    const before = new Set(chainsBefore);
    return clusterChains().filter((c) => !before.has(c));
}

/**
 * Removes the KUBE-* chains the kubelet made (KUBE-FIREWALL, KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT:
 * `kube-proxy --cleanup` leaves them) in both address families: first every jump to them, then the chains.
 */
export function removeClusterChains(chainsBefore: string[]): void {
    const before = new Set(chainsBefore);
    for (const tool of IPTABLES_TOOLS) {
        for (const table of IPTABLES_TABLES) {
            const rules = run(tool, ["-w", "5", "-t", table, "-S"], { allowFail: true }).stdout;
            const ours = clusterChainsIn(rules).filter((c) => !before.has(`${tool}/${table}/${c}`));
            if (ours.length === 0) continue;
            for (const line of rules.split("\n")) {
                const jump = /^-A (\S+) (.*-j (\S+).*)$/.exec(line);
                if (jump && ours.includes(jump[3]) && !ours.includes(jump[1])) run("sh", ["-c", `${tool} -w 5 -t ${table} -D ${jump[1]} ${jump[2]}`], { allowFail: true });
            }
            for (const chain of ours) run(tool, ["-w", "5", "-t", table, "-F", chain], { allowFail: true });
            for (const chain of ours) run(tool, ["-w", "5", "-t", table, "-X", chain], { allowFail: true });
        }
    }
}

export function readMachineRecord(paths: StatePaths): MachineRecord | undefined {
    if (!fs.existsSync(paths.sysctlsBefore)) return undefined;
    return JSON.parse(fs.readFileSync(paths.sysctlsBefore, "utf8")) as MachineRecord;
}

/** Puts back every kernel setting `up` and the kubelet changed; removes the folders `up` created. */
export function restoreMachine(paths: StatePaths): void {
    const record = readMachineRecord(paths);
    if (!record) return;
    for (const [name, value] of Object.entries(record.sysctls)) {
        try {
            writeSysctl(name, value);
        } catch {
            // a setting that vanished (its interface is gone) needs no restoring
        }
    }
    for (const folder of record.createdFolders) {
        unmountUnder(folder);
        fs.rmSync(folder, { recursive: true, force: true });
    }
}

/** The kubelet's cgroups (kubepods, in every cgroup v1 controller and the unified tree), deepest first. */
export function removeKubeletCgroups(): string[] {
    const left: string[] = [];
    const roots = fs.readdirSync("/sys/fs/cgroup").map((c) => `/sys/fs/cgroup/${c}`);
    for (const root of roots) {
        const top = `${root}/kubepods`;
        if (!fs.existsSync(top)) continue;
        const dirs = run("find", [top, "-depth", "-type", "d"], { allowFail: true }).stdout.split("\n").filter(Boolean);
        for (const dir of dirs) {
            try {
                fs.rmdirSync(dir);
            } catch {
                left.push(dir);
            }
        }
    }
    return left;
}
