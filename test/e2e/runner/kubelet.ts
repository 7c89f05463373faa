/**
 * One pod as the kubelet runs it: volumes, init containers in order, the main container with
 * restartPolicy Always and back-off, exec probes with their timing, preStop then SIGTERM then
 * SIGKILL on deletion, and the faults a node suffers (crash, loss, return).
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import {
    containerInitPid,
    createFreezer,
    createPodNetwork,
    deletePodNetwork,
    destroyFreezer,
    execInContainerArgs,
    setFrozen,
    setPodLink,
    startContainerProcess,
} from "./host";
import { containerEnv, probeTiming, projectedFiles, restartBackoffSeconds, type ClusterPlan, type Container, type PodPlan, type Probe } from "./spec";

/** What the runner takes from the machine in place of the Greenplum image. */
export interface ImageContract {
    /** The Greenplum installation, mounted at `mountPath` read-only. */
    gphome: string;
    mountPath: string;
    /** A folder with `python` (2.7) and friends, mounted at /usr/local/bin. */
    binDir: string;
    user: { uid: number; gid: number; home: string };
    env: Record<string, string>;
    /** The user's home as the image has it; every container starts with a fresh copy. */
    homeFiles: Record<string, string>;
    /** Files of the image that differ from the machine's: path in the container → file on the machine. */
    files: Record<string, string>;
}

export interface PodContext {
    plan: ClusterPlan;
    image: ImageContract;
    workDir: string;
    hostsFile: string;
    resolvConf: string;
    log: (line: string) => void;
    /** Called when readiness or existence changes, so Services and DNS follow. */
    changed: () => void;
}

export interface ExecResult {
    status: number;
    stdout: string;
    stderr: string;
    timedOut: boolean;
}

type ContainerState = "waiting" | "running" | "terminated";

const MIN_GRACE_AFTER_PRESTOP_SECONDS = 2;
/** How long the node controller waits for a silent node before its pods stop being Ready. */
const NODE_MONITOR_GRACE_SECONDS = 40;
/** A container that ran this long resets its crash back-off, as the kubelet does. */
const BACKOFF_RESET_SECONDS = 600;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
        if (signal?.aborted) return resolve();
        const onAbort = (): void => {
            clearTimeout(t);
            resolve();
        };
        const t = setTimeout(() => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
        }, ms);
        signal?.addEventListener("abort", onAbort, { once: true });
    });
}

function shellQuote(s: string): string {
    return `'${s.replace(/'/g, `'\\''`)}'`;
}

export class PodRuntime {
    readonly name: string;
    readonly slot: number;
    readonly address: string;
    readonly dir: string;
    phase: "Pending" | "Running" | "Terminating" | "Gone" = "Pending";
    ready = false;
    restarts = 0;
    state: ContainerState = "waiting";
    /** Node lost: network down, processes frozen, kubelet silent. */
    lost = false;
    /** The kubelet failed on this pod (bad spec, machine error): recreated after a pause. */
    failed = false;
    /** Messages of the last probe of each kind, for status and debugging. */
    lastProbe: Record<string, string> = {};
    private initPid?: number;
    private containerExit?: Promise<number>;
    private readonly deleting = new AbortController();
    private readonly done: Promise<void>;
    private containerSeq = 0;
    private lossCount = 0;

    constructor(
        readonly pod: PodPlan,
        slot: number,
        private readonly ctx: PodContext,
    ) {
        this.name = pod.name;
        this.slot = slot;
        this.address = `198.18.0.${slot}`;
        this.dir = path.join(ctx.workDir, "pods", `${pod.name}-${slot}`);
        this.done = this.lifecycle().catch((err) => {
            ctx.log(`${this.name}: kubelet error: ${err instanceof Error ? err.stack : String(err)}`);
            this.failed = true;
            try {
                this.cleanUp();
            } catch {
                this.phase = "Gone";
            }
        });
    }

    /** Resolves when the pod is gone (deleted and cleaned up). */
    finished(): Promise<void> {
        return this.done;
    }

    logFile(container: string, seq: number): string {
        return path.join(this.ctx.workDir, "logs", this.name, `${container}.${this.slot}.${seq}.log`);
    }

    /** The current and previous log of the main container, as `kubectl logs [--previous]`. */
    containerLog(previous = false): string {
        const dir = path.join(this.ctx.workDir, "logs", this.name);
        const main = this.pod.spec.containers[0].name;
        const files = fs.existsSync(dir)
            ? fs
                  .readdirSync(dir)
                  .filter((f) => f.startsWith(`${main}.`))
                  .sort((a, b) => {
                      const [, sa, qa] = a.split(".").map(Number);
                      const [, sb, qb] = b.split(".").map(Number);
                      return sa - sb || qa - qb;
                  })
            : [];
        const file = files[files.length - (previous ? 2 : 1)];
        return file ? fs.readFileSync(path.join(dir, file), "utf8") : "";
    }

    private async lifecycle(): Promise<void> {
        const { pod, ctx } = this;
        const spec = pod.spec;
        fs.mkdirSync(this.dir, { recursive: true });
        createFreezer(pod.name);
        createPodNetwork(pod.name, this.slot, this.address, spec.securityContext?.sysctls ?? []);
        this.prepareVolumes();
        this.phase = "Running";
        ctx.changed();
        ctx.log(`${pod.name}: pod started at ${this.address}`);

        for (const init of spec.initContainers ?? []) {
            let failures = 0;
            for (;;) {
                if (this.deleting.signal.aborted) return this.cleanUp();
                const status = await this.runContainer(init, false);
                if (status === 0) break;
                failures++;
                ctx.log(`${pod.name}: init container ${init.name} exited ${status}; retrying after back-off`);
                await sleep(restartBackoffSeconds(failures) * 1000, this.deleting.signal);
            }
        }

        const main = spec.containers[0];
        let failures = 0;
        while (!this.deleting.signal.aborted) {
            const started = Date.now();
            const status = await this.runContainer(main, true);
            if (this.deleting.signal.aborted) break;
            failures = (Date.now() - started) / 1000 > BACKOFF_RESET_SECONDS ? 1 : failures + 1;
            this.restarts++;
            const delay = restartBackoffSeconds(failures - 1);
            ctx.log(`${pod.name}: container ${main.name} exited ${status}; restart ${this.restarts} in ${delay}s`);
            await sleep(delay * 1000, this.deleting.signal);
        }
        this.cleanUp();
    }

    /** PVCs outlive the pod (a directory per claim); ConfigMap, Secret and emptyDir volumes do not. */
    private prepareVolumes(): void {
        const { pod, ctx } = this;
        const fsGroup = pod.spec.securityContext?.fsGroup;
        for (const volume of pod.spec.volumes ?? []) {
            const dir = path.join(this.dir, "volumes", volume.name);
            fs.mkdirSync(dir, { recursive: true });
            if (volume.configMap || volume.secret) {
                this.writeProjected(volume.name);
            } else if (volume.emptyDir) {
                if (fsGroup !== undefined) fs.chownSync(dir, 0, fsGroup);
                fs.chmodSync(dir, 0o2777);
            } else {
                throw new Error(`${pod.name}: volume ${volume.name} has a type the pod runner does not support`);
            }
        }
        for (const claim of Object.values(pod.claims)) {
            const dir = this.claimDir(claim);
            if (!fs.existsSync(dir)) {
                fs.mkdirSync(dir, { recursive: true });
                ctx.log(`${pod.name}: provisioned volume ${claim}`);
            }
            // fsGroup ownership management: group-owned, group-writable, setgid, as the kubelet applies it.
            if (fsGroup !== undefined) {
                const st = fs.statSync(dir);
                if (st.gid !== fsGroup) fs.chownSync(dir, st.uid, fsGroup);
                fs.chmodSync(dir, (st.mode & 0o7777) | 0o2070);
            }
        }
    }

    claimDir(claim: string): string {
        return path.join(this.ctx.workDir, "pvc", claim);
    }

    /** (Re)writes a ConfigMap or Secret volume from the current objects, file by file atomically. */
    writeProjected(volumeName: string): void {
        const volume = (this.pod.spec.volumes ?? []).find((v) => v.name === volumeName);
        if (!volume) return;
        const dir = path.join(this.dir, "volumes", volume.name);
        const fsGroup = this.pod.spec.securityContext?.fsGroup;
        for (const file of projectedFiles(volume, this.ctx.plan)) {
            const target = path.join(dir, file.path);
            fs.mkdirSync(path.dirname(target), { recursive: true });
            fs.writeFileSync(`${target}.tmp`, file.content);
            fs.chmodSync(`${target}.tmp`, file.mode);
            if (fsGroup !== undefined) fs.chownSync(`${target}.tmp`, 0, fsGroup);
            fs.renameSync(`${target}.tmp`, target);
        }
    }


    private containerEnvironment(container: Container): Record<string, string> {
        const { image } = this.ctx;
        return containerEnv(container, { pod: this.pod, podIP: this.address, configMaps: this.ctx.plan.configMaps, secrets: this.ctx.plan.secrets }, {
            ...image.env,
            HOME: image.user.home,
        });
    }

    private user(container: Container): { uid: number; gid: number } {
        const pod = this.pod.spec.securityContext ?? {};
        const own = container.securityContext ?? {};
        return { uid: own.runAsUser ?? pod.runAsUser ?? this.ctx.image.user.uid, gid: own.runAsGroup ?? pod.runAsGroup ?? this.ctx.image.user.gid };
    }

    /** The bash that becomes the container's PID 1: mounts, limits, then exec as the container's user. */
    private containerScript(container: Container, seq: number): { start: string; exec: string } {
        const { image } = this.ctx;
        const cdir = path.join(this.dir, "containers", `${container.name}.${seq}`);
        const home = path.join(cdir, "home");
        const tmp = path.join(cdir, "tmp");
        fs.mkdirSync(home, { recursive: true });
        fs.mkdirSync(tmp, { recursive: true });
        for (const [file, content] of Object.entries(image.homeFiles)) fs.writeFileSync(path.join(home, file), content);
        fs.mkdirSync(path.join(home, ".ssh"), { mode: 0o700 });
        const { uid, gid } = this.user(container);
        chownRecursive(home, image.user.uid, image.user.gid);
        fs.chmodSync(tmp, 0o1777);

        const lines = [
            "set -euo pipefail",
            `hostname ${shellQuote(this.name)}`,
            `mount --bind ${shellQuote(this.ctx.hostsFile)} /etc/hosts`,
            `mount --bind ${shellQuote(this.ctx.resolvConf)} /etc/resolv.conf`,
            "mount -t tmpfs -o mode=1777,size=64m shm /dev/shm",
            `mount --bind ${shellQuote(home)} ${shellQuote(image.user.home)}`,
            `mount --bind ${shellQuote(tmp)} /tmp`,
            `mkdir -p ${shellQuote(image.mountPath)}`,
            `mount --bind ${shellQuote(image.gphome)} ${shellQuote(image.mountPath)}`,
            `mount -o remount,bind,ro ${shellQuote(image.mountPath)}`,
            `mount --bind ${shellQuote(image.binDir)} /usr/local/bin`,
            ...Object.entries(image.files).map(([target, source]) => `mount --bind ${shellQuote(source)} ${shellQuote(target)}`),
        ];
        for (const m of container.volumeMounts ?? []) {
            const claim = this.pod.claims[m.name];
            const source = claim ? this.claimDir(claim) : path.join(this.dir, "volumes", m.name);
            lines.push(`mkdir -p ${shellQuote(m.mountPath)}`, `mount --bind ${shellQuote(source)} ${shellQuote(m.mountPath)}`);
            if (m.readOnly) lines.push(`mount -o remount,bind,ro ${shellQuote(m.mountPath)}`);
        }
        const env = this.containerEnvironment(container);
        const envArgs = Object.entries(env).map(([k, v]) => shellQuote(`${k}=${v}`)).join(" ");
        const fsGroup = this.pod.spec.securityContext?.fsGroup;
        const groups = [...new Set([gid, ...(fsGroup !== undefined ? [fsGroup] : [])])].join(",");
        // As container runtimes start processes: open files soft limit 1024 (the hard limit stays), no new privileges, no capabilities.
        const becomeUser = [
            "ulimit -Sn 1024",
            `cd ${shellQuote(container.workingDir ?? "/")}`,
            `exec env -i ${envArgs} setpriv --reuid=${uid} --regid=${gid} --groups=${groups} --no-new-privs --inh-caps=-all --bounding-set=-all -- "$@"`,
        ];
        const start = path.join(cdir, "start.sh");
        const argv = [...(container.command ?? []), ...(container.args ?? [])];
        fs.writeFileSync(start, [...lines, `set -- ${argv.map(shellQuote).join(" ")}`, ...becomeUser, ""].join("\n"));
        const exec = path.join(cdir, "exec.sh");
        fs.writeFileSync(exec, ["set -euo pipefail", ...becomeUser, ""].join("\n"));
        return { start, exec };
    }

    private execWrapper?: string;

    /** Runs one container to its end; for the main container, with its probes. */
    private async runContainer(container: Container, main: boolean): Promise<number> {
        const seq = ++this.containerSeq;
        const { start, exec } = this.containerScript(container, seq);
        fs.mkdirSync(path.dirname(this.logFile(container.name, seq)), { recursive: true });
        const log = fs.createWriteStream(this.logFile(container.name, seq), { flags: "a" });
        const child = startContainerProcess(this.name, start, log);
        let exited = false;
        const exit = new Promise<number>((resolve) =>
            child.on("exit", (code, signal) => {
                exited = true;
                resolve(code ?? (signal ? 128 + (signalNumber(signal) ?? 9) : 1));
            }),
        );
        if (main) {
            const pid = child.pid !== undefined ? await containerInitPid(child.pid, () => exited) : undefined;
            this.containerExit = exit;
            this.initPid = pid;
            this.execWrapper = exec;
            this.state = "running";
        }
        const probing = new AbortController();
        if (main) void this.probeLoops(container, probing.signal);
        // The log closes when the container's output does (after its exit, buffered lines may follow).
        child.on("close", () => log.end());
        const status = await exit;
        probing.abort();
        if (main) {
            this.state = "terminated";
            this.initPid = undefined;
            if (this.ready) {
                this.ready = false;
                this.ctx.changed();
            }
        }
        return status;
    }

    private async probeLoops(container: Container, stop: AbortSignal): Promise<void> {
        const loops: Promise<void>[] = [];
        if (container.readinessProbe) loops.push(this.probeLoop("readiness", container.readinessProbe, stop));
        if (container.livenessProbe) loops.push(this.probeLoop("liveness", container.livenessProbe, stop));
        await Promise.all(loops);
    }

    private async probeLoop(kind: "readiness" | "liveness", probe: Probe, stop: AbortSignal): Promise<void> {
        const t = probeTiming(probe);
        let failures = 0;
        let successes = 0;
        await sleep(t.initialDelaySeconds * 1000, stop);
        while (!stop.aborted && !this.deleting.signal.aborted) {
            if (!this.lost && this.initPid !== undefined && probe.exec) {
                const r = await this.exec(probe.exec.command, { timeoutMs: t.timeoutSeconds * 1000 });
                if (stop.aborted) return;
                const ok = r.status === 0 && !r.timedOut;
                this.lastProbe[kind] = `${ok ? "ok" : "failed"}${r.timedOut ? " (timed out)" : ""}: ${(r.stdout + r.stderr).trim().split("\n").pop() ?? ""}`;
                if (ok) {
                    successes++;
                    failures = 0;
                } else {
                    failures++;
                    successes = 0;
                }
                if (kind === "readiness") {
                    const ready = ok ? successes >= t.successThreshold || this.ready : failures < t.failureThreshold && this.ready;
                    if (ready !== this.ready) {
                        this.ready = ready;
                        this.ctx.log(`${this.name}: ${ready ? "Ready" : "not Ready"} (${this.lastProbe[kind]})`);
                        this.ctx.changed();
                    }
                } else if (failures >= t.failureThreshold) {
                    this.ctx.log(`${this.name}: liveness probe failed ${failures} times; killing the container (${this.lastProbe[kind]})`);
                    void this.stopContainer();
                    return;
                }
            }
            await sleep(t.periodSeconds * 1000, stop);
        }
    }

    /** `kubectl exec`: runs argv in the main container; exit status 126 when it is not running. */
    exec(argv: string[], options: { timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
        if (this.initPid === undefined || !this.execWrapper) {
            return Promise.resolve({ status: 126, stdout: "", stderr: `container ${this.pod.spec.containers[0].name} is not running\n`, timedOut: false });
        }
        const { cmd, args } = execInContainerArgs(this.name, this.initPid, this.execWrapper, argv);
        return runBounded(cmd, args, options.timeoutMs ?? 600_000, options.input);
    }

    /** Graceful stop of the main container: preStop, SIGTERM, SIGKILL after the grace period. */
    async stopContainer(graceSeconds = this.pod.spec.terminationGracePeriodSeconds ?? 30): Promise<void> {
        const pid = this.initPid;
        const exit = this.containerExit;
        if (pid === undefined || !exit) return;
        const deadline = Date.now() + graceSeconds * 1000;
        const preStop = this.pod.spec.containers[0].lifecycle?.preStop?.exec;
        if (preStop) {
            const r = await this.exec(preStop.command, { timeoutMs: graceSeconds * 1000 });
            this.ctx.log(`${this.name}: preStop exited ${r.status}${r.timedOut ? " (timed out)" : ""}`);
        }
        // A container that exited during preStop is gone: its PID may already belong to another process.
        if (this.initPid !== pid) return;
        signal(pid, "SIGTERM");
        const remaining = Math.max(deadline - Date.now(), MIN_GRACE_AFTER_PRESTOP_SECONDS * 1000);
        const stopped = await Promise.race([exit.then(() => true), sleep(remaining).then(() => false)]);
        if (!stopped) {
            this.ctx.log(`${this.name}: still running after the grace period; SIGKILL`);
            if (this.initPid === pid) signal(pid, "SIGKILL");
            await exit;
        }
    }

    /** A crash: SIGKILL to the container's PID 1 (every process in it dies), no preStop. */
    crash(): boolean {
        if (this.initPid === undefined) return false;
        signal(this.initPid, "SIGKILL");
        return true;
    }

    /** `kubectl delete pod`: graceful stop, then the pod and its non-persistent volumes are gone. */
    async delete(graceSeconds?: number): Promise<void> {
        if (this.phase === "Terminating" || this.phase === "Gone") return this.done;
        this.phase = "Terminating";
        this.ctx.changed();
        this.deleting.abort();
        if (this.lost) {
            // A pod on a lost node can only be force-deleted; here its processes die with the node
            // (a frozen task takes SIGKILL only once thawed; the link stays down).
            this.crash();
            setFrozen(this.name, false);
        } else {
            await this.stopContainer(graceSeconds);
        }
        return this.done;
    }

    /**
     * Node loss: the network goes down and every process freezes. The node controller marks the
     * pod not Ready once the node misses its heartbeats (node-monitor-grace-period, 40 s); the
     * pod itself stays, as a StatefulSet's pod on a dead node does.
     */
    cut(): void {
        this.lost = true;
        setPodLink(this.slot, false);
        setFrozen(this.name, true);
        const lostAt = ++this.lossCount;
        setTimeout(() => {
            if (this.lost && this.lossCount === lostAt && this.ready) {
                this.ready = false;
                this.ctx.log(`${this.name}: not Ready (node unreachable for ${NODE_MONITOR_GRACE_SECONDS}s)`);
                this.ctx.changed();
            }
        }, NODE_MONITOR_GRACE_SECONDS * 1000);
    }

    /** The node is back: its processes resume where they stopped (the kubelet syncs volumes later). */
    restore(): void {
        setFrozen(this.name, false);
        setPodLink(this.slot, true);
        this.lost = false;
    }

    /** What the kubelet's periodic sync does to ConfigMap volumes. */
    syncConfigMapVolumes(): void {
        for (const volume of this.pod.spec.volumes ?? []) if (volume.configMap) this.writeProjected(volume.name);
    }

    private cleanUp(): void {
        destroyFreezer(this.name);
        deletePodNetwork(this.name, this.slot);
        fs.rmSync(this.dir, { recursive: true, force: true });
        this.phase = "Gone";
        this.ready = false;
        this.ctx.changed();
        this.ctx.log(`${this.name}: pod deleted`);
    }
}

function chownRecursive(dir: string, uid: number, gid: number): void {
    fs.chownSync(dir, uid, gid);
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, entry.name);
        if (entry.isDirectory()) chownRecursive(p, uid, gid);
        else fs.lchownSync(p, uid, gid);
    }
}

function signal(pid: number, sig: NodeJS.Signals): void {
    try {
        process.kill(pid, sig);
    } catch {
        // already gone
    }
}

function signalNumber(sig: NodeJS.Signals): number | undefined {
    return ({ SIGKILL: 9, SIGTERM: 15, SIGINT: 2 } as Record<string, number>)[sig];
}

/** Runs a command in its own process group; on timeout the whole group is killed. */
export function runBounded(cmd: string, args: string[], timeoutMs: number, input?: string, env?: NodeJS.ProcessEnv): Promise<ExecResult> {
    return new Promise((resolve) => {
        const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], detached: true, env: env ?? process.env });
        let stdout = "";
        let stderr = "";
        let timedOut = false;
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.stdin.on("error", () => undefined);
        child.stdin.end(input ?? "");
        const timer = setTimeout(() => {
            timedOut = true;
            try {
                if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
            } catch {
                // gone
            }
        }, timeoutMs);
        child.on("close", (code, sig) => {
            clearTimeout(timer);
            resolve({ status: code ?? (sig ? 137 : 1), stdout, stderr, timedOut });
        });
    });
}
