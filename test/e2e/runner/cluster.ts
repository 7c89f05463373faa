/**
 * The pod runner's "cluster": the StatefulSet controller (pods recreated under the same name with a
 * new address, claims kept), DNS for the headless Service, Service endpoints from selectors and
 * readiness, ConfigMap updates reaching mounted volumes, and the faults tests inject.
 */
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { BRIDGE_ADDRESS, cleanUpMachine, filesystemType, lockMachine, run, setUpBridge, unlockMachine } from "./host";
import { PodRuntime, type ExecResult, type ImageContract } from "./kubelet";
import { clusterPlan, hostsFile, parseManifests, selects, type ClusterPlan, type PodPlan, type ServicePlan } from "./spec";

export interface ClusterOptions {
    /** A render's manifests.yaml. */
    manifests: string;
    namespace: string;
    workDir: string;
    image: ImageContract;
    clusterDomain?: string;
    /** Claims backed by tmpfs instead of the disk (the volume guard's scenario). */
    tmpfsClaims?: string[];
    /** How long a ConfigMap change takes to reach mounted volumes: the kubelet's sync period (1 min) by default. */
    configMapSyncMs?: number;
    log?: (line: string) => void;
}

const MASKED = "[secret]";
/** Addresses 198.18.0.10 and up go to pods, a new one for every pod incarnation. */
const FIRST_POD_SLOT = 10;
const LAST_POD_SLOT = 250;

export class Cluster {
    readonly plan: ClusterPlan;
    readonly workDir: string;
    readonly clusterDomain: string;
    private readonly pods = new Map<string, PodRuntime>();
    private nextSlot = FIRST_POD_SLOT;
    private readonly hostsPath: string;
    private readonly resolvPath: string;
    private readonly logLines: string[] = [];
    private stopping = false;
    private hostsContent = "";
    private readonly droppedExecs: { pod: string; word: string }[] = [];

    constructor(private readonly options: ClusterOptions) {
        this.workDir = options.workDir;
        this.clusterDomain = options.clusterDomain ?? "cluster.local";
        this.plan = clusterPlan(parseManifests(fs.readFileSync(options.manifests, "utf8")), options.namespace);
        // The stack outputs name the values the Secret's masked, non-random keys hold (e.g. username).
        const outputs = JSON.parse(fs.readFileSync(path.join(path.dirname(options.manifests), "outputs.json"), "utf8")) as Record<string, unknown>;
        const known = Object.fromEntries(Object.entries(outputs).filter((e): e is [string, string] => typeof e[1] === "string" && e[1] !== MASKED));
        fillMaskedSecrets(this.plan, path.join(this.workDir, "keys"), known);
        this.hostsPath = path.join(this.workDir, "hosts");
        this.resolvPath = path.join(this.workDir, "resolv.conf");
    }

    log(line: string): void {
        const stamped = `${new Date().toISOString()} ${line}`;
        this.logLines.push(stamped);
        fs.appendFileSync(path.join(this.workDir, "runner.log"), `${stamped}\n`);
        this.options.log?.(stamped);
    }

    /** Creates the machine side and starts every pod at once (podManagementPolicy Parallel). */
    start(): void {
        lockMachine(this.workDir);
        cleanUpMachine();
        fs.mkdirSync(path.join(this.workDir, "pvc"), { recursive: true });
        // Pod addresses (and so log names) start again at .10: an earlier cluster's logs on the same claims move aside.
        const logs = path.join(this.workDir, "logs");
        if (fs.existsSync(logs)) fs.renameSync(logs, `${logs}-until-${new Date().toISOString().replace(/[:.]/g, "")}`);
        fs.mkdirSync(logs, { recursive: true });
        const fsType = filesystemType(path.join(this.workDir, "pvc"));
        if (fsType === "tmpfs") throw new Error(`${this.workDir} is on tmpfs; volumes must be on a disk filesystem as a PVC would be`);
        for (const claim of this.options.tmpfsClaims ?? []) {
            const dir = path.join(this.workDir, "pvc", claim);
            fs.mkdirSync(dir, { recursive: true });
            run("mount", ["-t", "tmpfs", "-o", "size=256m", "tmpfs", dir]);
        }
        // No name server inside the pods: every name they need is in /etc/hosts, and nothing leaves 198.18.0.0/24.
        fs.writeFileSync(this.resolvPath, `search ${this.plan.headlessService}.${this.plan.namespace}.svc.${this.clusterDomain} ${this.plan.namespace}.svc.${this.clusterDomain}\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n`);
        fs.writeFileSync(this.hostsPath, "");
        setUpBridge();
        for (const pod of this.plan.pods) this.createPod(pod);
    }

    private createPod(plan: PodPlan): PodRuntime {
        if (this.nextSlot > LAST_POD_SLOT) throw new Error("the runner ran out of pod addresses (198.18.0.10-250) in this run");
        const pod = new PodRuntime(plan, this.nextSlot++, {
            plan: this.plan,
            image: this.options.image,
            workDir: this.workDir,
            hostsFile: this.hostsPath,
            resolvConf: this.resolvPath,
            log: (line) => this.log(line),
            changed: () => this.refreshDns(),
        });
        this.pods.set(plan.name, pod);
        this.refreshDns();
        void pod.finished().then(() => {
            // The StatefulSet controller recreates a deleted pod under the same name (after a
            // pause when the kubelet failed on it, so an error does not spin).
            if (this.stopping || this.pods.get(plan.name) !== pod) return;
            if (pod.failed) setTimeout(() => !this.stopping && this.pods.get(plan.name) === pod && this.createPod(plan), 10_000);
            else this.createPod(plan);
        });
        return pod;
    }

    /** Headless-Service DNS: every existing pod (publishNotReadyAddresses), or only ready ones. */
    private refreshDns(): void {
        const headless = this.plan.services.find((s) => s.name === this.plan.headlessService);
        const addresses = new Map<string, string>();
        for (const pod of this.pods.values()) {
            if (pod.phase === "Gone" || pod.phase === "Pending") continue;
            if (headless && !headless.publishNotReadyAddresses && !pod.ready) continue;
            addresses.set(pod.name, pod.address);
        }
        // Written in place (every pod bind-mounts this very file), and only when it changes: a
        // reader may see it half-written.
        const content = hostsFile(addresses, this.plan.headlessService, this.plan.namespace, this.clusterDomain);
        if (content !== this.hostsContent) {
            fs.writeFileSync(this.hostsPath, content);
            this.hostsContent = content;
        }
    }

    pod(name: string): PodRuntime {
        const pod = this.pods.get(name);
        if (!pod) throw new Error(`no pod ${name}`);
        return pod;
    }

    podNames(): string[] {
        return [...this.pods.keys()];
    }

    service(name: string): ServicePlan {
        const service = this.plan.services.find((s) => s.name === name);
        if (!service) throw new Error(`no Service ${name}`);
        return service;
    }

    /** Ready pods a Service selects: where its traffic goes. */
    endpoints(serviceName: string): PodRuntime[] {
        const service = this.service(serviceName);
        return [...this.pods.values()].filter((p) => p.phase === "Running" && p.ready && selects(service.selector, p.pod.labels));
    }

    /** Waits until every named pod (default: all) is Ready; throws with each pod's last probe when it times out. */
    async waitReady(timeoutMs: number, names = this.podNames()): Promise<number> {
        const started = Date.now();
        while (Date.now() - started < timeoutMs) {
            if (names.every((n) => this.pods.get(n)?.ready && this.pods.get(n)?.phase === "Running")) return Date.now() - started;
            await new Promise((r) => setTimeout(r, 1000));
        }
        throw new Error(`pods not Ready after ${Math.round(timeoutMs / 1000)}s:\n${this.statusTable()}`);
    }

    /** Waits for `predicate`, polling every second, bounded. */
    async waitFor(what: string, timeoutMs: number, predicate: () => boolean | Promise<boolean>): Promise<number> {
        const started = Date.now();
        while (Date.now() - started < timeoutMs) {
            if (await predicate()) return Date.now() - started;
            await new Promise((r) => setTimeout(r, 1000));
        }
        throw new Error(`timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${what}:\n${this.statusTable()}`);
    }

    statusTable(): string {
        return [...this.pods.values()]
            .map((p) => `${p.name.padEnd(14)} ${p.phase.padEnd(11)} ${(p.ready ? "Ready" : "NotReady").padEnd(8)} restarts=${p.restarts} ${p.address}${p.lost ? " NODE LOST" : ""}  readiness: ${p.lastProbe.readiness ?? "-"}`)
            .join("\n");
    }

    /** kubectl exec; a pod on a lost node cannot be reached (after the API server's dial timeout). */
    async exec(name: string, argv: string[], options: { timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
        const pod = this.pods.get(name);
        if (!pod || pod.phase === "Gone") return { status: 1, stdout: "", stderr: `Error from server (NotFound): pods "${name}" not found\n`, timedOut: false };
        if (pod.lost) {
            await new Promise((r) => setTimeout(r, 5000));
            return { status: 1, stdout: "", stderr: `Error from server: error dialing backend: dial tcp ${pod.address}:10250: i/o timeout\n`, timedOut: false };
        }
        return pod.exec(argv, options);
    }

    /** Updates a ConfigMap; mounted copies follow after the kubelet's sync delay. */
    patchConfigMap(name: string, data: Record<string, string>): void {
        const current = this.plan.configMaps.get(name);
        if (!current) throw new Error(`no ConfigMap ${name}`);
        Object.assign(current, data);
        setTimeout(() => {
            for (const pod of this.pods.values()) {
                if (pod.phase === "Running" && !pod.lost) pod.syncConfigMapVolumes();
            }
        }, this.options.configMapSyncMs ?? 60_000);
    }

    patchServiceSelector(name: string, selector: Record<string, string>): void {
        const service = this.service(name);
        service.selector = { ...service.selector, ...selector };
    }

    /** Graceful delete; the controller recreates the pod. Resolves once the old pod is gone. */
    async deletePod(name: string, graceSeconds?: number): Promise<void> {
        await this.pod(name).delete(graceSeconds);
    }

    crash(name: string): void {
        if (!this.pod(name).crash()) throw new Error(`${name}: no running container to crash`);
        this.log(`${name}: crashed (SIGKILL to the container, no preStop)`);
    }

    /**
     * The API server drops the next `kubectl exec` into `name` whose command contains `word`
     * before the command runs (as a broken exec stream does): kubectl exits 1.
     */
    dropNextExec(name: string, word: string): void {
        this.droppedExecs.push({ pod: name, word });
        this.log(`${name}: the next exec with "${word}" will be dropped`);
    }

    /** True (once) when this exec is one `dropNextExec` asked to drop. */
    takeDroppedExec(name: string, command: string[]): boolean {
        const i = this.droppedExecs.findIndex((d) => d.pod === name && command.includes(d.word));
        if (i < 0) return false;
        this.droppedExecs.splice(i, 1);
        this.log(`${name}: dropped the exec of ${command.join(" ")}`);
        return true;
    }

    cut(name: string): void {
        this.pod(name).cut();
        this.log(`${name}: node lost (network cut, processes frozen)`);
    }

    /** The node returns: processes first, ConfigMap changes made meanwhile only after the kubelet's sync delay. */
    restore(name: string): void {
        const pod = this.pod(name);
        pod.restore();
        this.log(`${name}: node back`);
        setTimeout(() => {
            if (pod.phase === "Running" && !pod.lost) pod.syncConfigMapVolumes();
        }, this.options.configMapSyncMs ?? 60_000);
    }

    /** Where clients connect: the client Service's ready endpoint, with the admin Secret's password. */
    clientConnection(serviceName: string, secretName: string, database: string): { host: string; port: number; user: string; password: string; database: string } {
        const service = this.service(serviceName);
        const endpoints = this.endpoints(serviceName);
        if (endpoints.length === 0) throw new Error(`Service ${serviceName} has no ready endpoint`);
        const secret = this.plan.secrets.get(secretName);
        if (!secret?.password) throw new Error(`Secret ${secretName} has no password`);
        const port = Number(service.ports[0].targetPort ?? service.ports[0].port);
        return { host: endpoints[0].address, port, user: secret.username ?? "gpadmin", password: secret.password, database };
    }

    /** Deletes every pod gracefully (as deleting the StatefulSets would), keeping the claims. */
    async stopAll(): Promise<void> {
        this.stopping = true;
        await Promise.all([...this.pods.values()].map((p) => p.delete()));
    }

    /** Starts the pods again after `stopAll`, on the same claims. */
    startAgain(): void {
        this.stopping = false;
        this.pods.clear();
        for (const pod of this.plan.pods) this.createPod(pod);
    }

    /** Kills everything and removes the machine side; claims stay on disk unless `wipe`. */
    async destroy(wipe = false): Promise<void> {
        this.stopping = true;
        for (const pod of this.pods.values()) {
            if (pod.lost) pod.restore();
            pod.crash();
        }
        await Promise.race([Promise.all([...this.pods.values()].map((p) => p.delete(1))), new Promise((r) => setTimeout(r, 30_000))]);
        cleanUpMachine();
        for (const claim of this.options.tmpfsClaims ?? []) run("umount", [path.join(this.workDir, "pvc", claim)], { allowFail: true });
        if (wipe) fs.rmSync(path.join(this.workDir, "pvc"), { recursive: true, force: true });
        unlockMachine();
    }

    /** The runner's own address on the pods' bridge. */
    static readonly clientAddress = BRIDGE_ADDRESS;
}

/**
 * The render masks secrets, and offline the @pulumi/random and @pulumi/tls values are stand-ins.
 * The runner supplies what `pulumi up` would: values the stack outputs show (the username), a
 * random password and real ssh key pairs (`<key>` with `<key>.pub`).
 */
export function fillMaskedSecrets(plan: ClusterPlan, keyDir: string, known: Record<string, string>): void {
    fs.mkdirSync(keyDir, { recursive: true });
    for (const [name, data] of plan.secrets) {
        for (const key of Object.keys(data)) {
            if (data[key] !== MASKED || key.endsWith(".pub")) continue;
            if (known[key] !== undefined) {
                data[key] = known[key];
            } else if (data[`${key}.pub`] !== undefined) {
                const file = path.join(keyDir, `${name}-${key}`);
                if (!fs.existsSync(file)) {
                    const type = key.includes("ed25519") ? ["-t", "ed25519"] : ["-t", "rsa", "-b", "3072"];
                    run("ssh-keygen", [...type, "-N", "", "-q", "-C", `${name}/${key}`, "-f", file]);
                }
                data[key] = fs.readFileSync(file, "utf8");
                data[`${key}.pub`] = fs.readFileSync(`${file}.pub`, "utf8");
            } else {
                // Kept with the claims, as the stack keeps its random password in state: the database has it.
                const file = path.join(keyDir, `${name}-${key}`);
                if (!fs.existsSync(file)) fs.writeFileSync(file, randomBytes(18).toString("base64url"), { mode: 0o600 });
                data[key] = fs.readFileSync(file, "utf8");
            }
        }
    }
}
