/**
 * The machine side of the pod runner: network namespaces on a bridge (198.18.0.0/15 only), a
 * freezer cgroup per pod, and processes started inside a pod's namespaces as its container would
 * be. Everything here needs root.
 */
import { spawn, spawnSync, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as path from "path";

/** Names of everything the runner creates on the machine start with this, so cleanup finds them. */
export const PREFIX = "gpk";
export const BRIDGE = `${PREFIX}-br0`;
/** RFC 2544's range for network test labs: the only addresses the runner ever uses. */
export const SUBNET_PREFIX = "198.18.0";
export const BRIDGE_ADDRESS = `${SUBNET_PREFIX}.1`;
const FREEZER_ROOT = "/sys/fs/cgroup/freezer";

export function run(cmd: string, args: string[], options: { input?: string; timeoutMs?: number; allowFail?: boolean } = {}): { status: number; stdout: string; stderr: string } {
    const r = spawnSync(cmd, args, { input: options.input, encoding: "utf8", timeout: options.timeoutMs ?? 30_000 });
    const status = r.status ?? (r.signal ? 128 : 1);
    if (status !== 0 && !options.allowFail) {
        throw new Error(`${cmd} ${args.join(" ")} exited ${status}: ${(r.stderr || r.stdout || String(r.error ?? "")).trim()}`);
    }
    return { status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

export function netnsName(pod: string): string {
    return `${PREFIX}-${pod}`;
}

/** Interface names are at most 15 characters: the host end of a pod's veth is numbered. */
function hostVeth(slot: number): string {
    return `${PREFIX}v${slot}`;
}

export function setUpBridge(): void {
    if (run("ip", ["link", "show", BRIDGE], { allowFail: true }).status !== 0) {
        run("ip", ["link", "add", BRIDGE, "type", "bridge"]);
        run("ip", ["addr", "add", `${BRIDGE_ADDRESS}/24`, "dev", BRIDGE]);
    }
    run("ip", ["link", "set", BRIDGE, "up"]);
}

/**
 * A pod's network: its own namespace, `eth0` on the bridge with `address`, loopback, no default
 * route (nothing leaves 198.18.0.0/24), and the pod's sysctls. A new namespace starts with
 * `net.ipv4.ping_group_range = 1 0`, as on a node: ping works for non-root users only when the pod
 * sets it.
 */
export function createPodNetwork(pod: string, slot: number, address: string, sysctls: { name: string; value: string }[]): void {
    const ns = netnsName(pod);
    deletePodNetwork(pod, slot);
    run("ip", ["netns", "add", ns]);
    run("ip", ["link", "add", hostVeth(slot), "type", "veth", "peer", "name", "eth0", "netns", ns]);
    run("ip", ["link", "set", hostVeth(slot), "master", BRIDGE, "up"]);
    run("ip", ["-n", ns, "addr", "add", `${address}/24`, "dev", "eth0"]);
    run("ip", ["-n", ns, "link", "set", "eth0", "up"]);
    run("ip", ["-n", ns, "link", "set", "lo", "up"]);
    for (const { name, value } of sysctls) {
        if (!name.startsWith("net.")) throw new Error(`${pod}: sysctl ${name} is not namespaced by the network namespace; the runner applies only net.*`);
        run("ip", ["netns", "exec", ns, "sysctl", "-q", "-w", `${name}=${value}`]);
    }
}

export function deletePodNetwork(pod: string, slot: number): void {
    run("ip", ["link", "del", hostVeth(slot)], { allowFail: true });
    run("ip", ["netns", "del", netnsName(pod)], { allowFail: true });
}

/** Node loss, as the network sees it: the pod's link goes down (and comes back with `up`). */
export function setPodLink(slot: number, up: boolean): void {
    run("ip", ["link", "set", hostVeth(slot), up ? "up" : "down"]);
}

export function freezerPath(pod: string): string {
    return path.join(FREEZER_ROOT, netnsName(pod));
}

export function createFreezer(pod: string): void {
    fs.mkdirSync(freezerPath(pod), { recursive: true });
    fs.writeFileSync(path.join(freezerPath(pod), "freezer.state"), "THAWED");
}

/** Node loss, as the processes see it: every process of the pod stops where it is. */
export function setFrozen(pod: string, frozen: boolean): void {
    fs.writeFileSync(path.join(freezerPath(pod), "freezer.state"), frozen ? "FROZEN" : "THAWED");
}

export function freezerProcesses(pod: string): number[] {
    try {
        return fs.readFileSync(path.join(freezerPath(pod), "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
    } catch {
        return [];
    }
}

/** Kills whatever is left of a pod (SIGKILL), thawing first so the signal is delivered, and removes its cgroup. */
export function destroyFreezer(pod: string): void {
    if (!fs.existsSync(freezerPath(pod))) return;
    for (let attempt = 0; attempt < 50; attempt++) {
        const pids = freezerProcesses(pod);
        if (pids.length === 0) break;
        for (const pid of pids) {
            try {
                process.kill(pid, "SIGKILL");
            } catch {
                // already gone
            }
        }
        setFrozen(pod, false);
        spawnSync("sleep", ["0.1"]);
    }
    try {
        fs.rmdirSync(freezerPath(pod));
    } catch {
        // still busy: removed by the next cleanup
    }
}

/**
 * Starts `script` (a bash file written by the kubelet) inside the pod: joins the pod's freezer
 * cgroup, its network namespace, then new mount, UTS, IPC and PID namespaces, where the script
 * becomes PID 1 after setting up the container's filesystem.
 */
export function startContainerProcess(pod: string, script: string, log: fs.WriteStream): ChildProcess {
    const cgroupProcs = path.join(freezerPath(pod), "cgroup.procs");
    const child = spawn(
        "/bin/sh",
        [
            "-c",
            'echo $$ > "$1" && exec ip netns exec "$2" unshare --mount --uts --ipc --pid --fork --mount-proc --propagation private -- /bin/bash "$3"',
            "sh",
            cgroupProcs,
            netnsName(pod),
            script,
        ],
        { stdio: ["ignore", "pipe", "pipe"], detached: true },
    );
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    return child;
}

/** The host PID of a container's PID 1 (the only child of `unshare`), or undefined once `unshare` has exited. */
export async function containerInitPid(unsharePid: number, exited: () => boolean): Promise<number | undefined> {
    for (let attempt = 0; attempt < 200 && !exited(); attempt++) {
        try {
            // `ip netns exec` execs unshare in place, so the spawned PID is unshare's.
            const children = fs.readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
            if (children.length > 0) return children[0];
        } catch {
            return undefined;
        }
        await new Promise((r) => setTimeout(r, 25));
    }
    return undefined;
}

/**
 * Runs `argv` inside a running container (kubectl exec, exec probes, preStop hooks): same
 * namespaces, cgroup, user, environment and limits as the container's own processes.
 */
export function execInContainerArgs(pod: string, initPid: number, wrapper: string, argv: string[]): { cmd: string; args: string[] } {
    const cgroupProcs = path.join(freezerPath(pod), "cgroup.procs");
    return {
        cmd: "/bin/sh",
        args: [
            "-c",
            'cgroup=$1 pid=$2 wrapper=$3; shift 3; echo $$ > "$cgroup" && exec nsenter -t "$pid" --net --mount --uts --ipc --pid -- /bin/bash "$wrapper" "$@"',
            "sh",
            cgroupProcs,
            String(initPid),
            wrapper,
            ...argv,
        ],
    };
}

/** The filesystem type of `dir`, e.g. "ext2/ext3", "xfs", "tmpfs". */
export function filesystemType(dir: string): string {
    return run("stat", ["-f", "-c", "%T", dir]).stdout.trim();
}

/** One runner per machine: the bridge, namespace names and addresses are machine-wide. */
export const MACHINE_LOCK = "/run/greenplum-k8s-e2e.lock";

/** Takes the machine for this process, or says which live runner holds it. A dead holder's lock is taken over. */
export function lockMachine(workDir: string, lockFile = MACHINE_LOCK): void {
    const [holder, ...dir] = (fs.existsSync(lockFile) ? fs.readFileSync(lockFile, "utf8") : "").trim().split(" ");
    const pid = Number(holder);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
        throw new Error(`another pod runner (pid ${pid}, work dir ${dir.join(" ")}) is using this machine's ${BRIDGE} and 198.18.0.0/24: stop it first ('npm run e2e:cluster -- down', or let its tests finish)`);
    }
    fs.writeFileSync(lockFile, `${process.pid} ${workDir}\n`);
}

/** Gives the machine back, if this process holds it. */
export function unlockMachine(lockFile = MACHINE_LOCK): void {
    if (fs.existsSync(lockFile) && Number(fs.readFileSync(lockFile, "utf8").split(" ")[0]) === process.pid) fs.rmSync(lockFile);
}

function processAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch (err) {
        return (err as NodeJS.ErrnoException).code === "EPERM";
    }
}

/** Removes everything a previous run left behind on the machine (namespaces, links, cgroups). */
export function cleanUpMachine(): void {
    for (const ns of run("ip", ["netns", "list"], { allowFail: true }).stdout.split("\n")) {
        const name = ns.split(" ")[0];
        if (name.startsWith(`${PREFIX}-`)) {
            const pod = name.slice(PREFIX.length + 1);
            destroyFreezer(pod);
            run("ip", ["netns", "del", name], { allowFail: true });
        }
    }
    if (fs.existsSync(FREEZER_ROOT)) {
        for (const entry of fs.readdirSync(FREEZER_ROOT)) {
            if (entry.startsWith(`${PREFIX}-`)) destroyFreezer(entry.slice(PREFIX.length + 1));
        }
    }
    for (const line of run("ip", ["-o", "link", "show"], { allowFail: true }).stdout.split("\n")) {
        const m = /^\d+:\s+([^:@]+)/.exec(line);
        if (m && m[1].startsWith(`${PREFIX}v`)) run("ip", ["link", "del", m[1]], { allowFail: true });
    }
}
