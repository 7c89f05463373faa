/**
 * A real single-node Kubernetes on this machine: etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler, containerd + runc (Debian), a kubelet, kube-proxy (iptables), CNI bridge,
 * CoreDNS and kube-router's NetworkPolicy firewall, all built from Go modules or taken from Debian, and the
 * Pulumi CLI beside them. `up` is idempotent (a running cluster is left as it is); `down`
 * removes everything it made.
 */
import * as fs from "fs";
import * as https from "https";
import * as path from "path";
import { Resolver } from "dns/promises";
import { addonManifests } from "./addons";
import { binaryPath, buildAll, goVersion } from "./build";
import { API_SERVER_URL, cniConfig, containerdConfig, kubeconfig, kubeletConfig, kubeProxyConfig } from "./configs";
import { apiserverArgs, containerdArgs, controllerManagerArgs, etcdArgs, kubeletArgs, kubeProxyArgs, kubeRouterArgs, schedulerArgs, type ControlPlane } from "./daemons";
import { binaryImage, busyboxImage, greenplumImage, importImage, pauseImage, type BuiltImage } from "./images";
import {
    blackholeRoutesIn,
    clusterIpsets,
    leftoverChains,
    removeClusterChains,
    readMachineRecord,
    recordMachine,
    removeInterfaces,
    removeIsolation,
    removeKubeletCgroups,
    removePodNetns,
    restoreMachine,
    setUpMachineNetwork,
    unmountUnder,
} from "./machine";
import { ensurePki } from "./pki";
import { API_SERVICE_IP, BRIDGE, CLUSTER_DOMAIN, directories, DNS_SERVICE_IP, LAB_RANGE, NODE_INTERFACE, NODE_IP, NODE_NAME, planProblems, PORTS, PREFIX, statePaths, type StatePaths } from "./plan";
import { processesMatching, runningPid, startDaemon, stopDaemon, stopPid } from "./processes";
import { findUnservedPlugins, missingPluginsMessage } from "./pulumi-plugins";
import { have, run, waitFor } from "./shell";
import { GO_PIECES, piece } from "./versions";

/** Debian packages the cluster runs on; `up` installs those missing (after `apt-get update`). */
export const DEBIAN_PACKAGES: Record<string, string> = {
    containerd: "containerd",
    runc: "runc",
    "/usr/lib/cni/bridge": "containernetworking-plugins",
    iptables: "iptables",
    ipset: "ipset",
    nft: "nftables",
    openssl: "openssl",
    debootstrap: "debootstrap",
    "/bin/busybox": "busybox-static",
    gcc: "gcc",
    ctr: "containerd",
};

/** Images every cluster has, by what they are (the Greenplum image is added when GPHOME is given). */
export interface ClusterImages {
    pause: string;
    coredns: string;
    localPathProvisioner: string;
    localPathHelper: string;
    greenplum?: string;
}

export interface Context {
    paths: StatePaths;
    cache: string;
    log: (line: string) => void;
    env: NodeJS.ProcessEnv;
}

export function context(env: NodeJS.ProcessEnv, log: (line: string) => void): Context {
    const dirs = directories(env);
    return { paths: statePaths(dirs.state), cache: dirs.cache, log, env };
}

/** The node's control plane. */
export function nodeControlPlane(ctx: Context, go = goVersion()): ControlPlane {
    return {
        prefix: "",
        paths: ctx.paths,
        address: NODE_IP,
        ports: { apiserver: PORTS.apiserver, etcdClient: PORTS.etcdClient, etcdPeer: PORTS.etcdPeer, controllerManager: PORTS.controllerManager, scheduler: PORTS.scheduler },
        pki: ctx.paths.pki,
        bin: (name) => binFor(ctx.cache, name, go),
    };
}

/** A binary of the cluster: from a built piece, or Debian's. */
export function binFor(cache: string, name: string, go = goVersion()): string {
    for (const p of GO_PIECES) if (p.packages.some((pkg) => pkg.binary === name)) return binaryPath(cache, p.name, name, go);
    throw new Error(`no piece builds ${name}`);
}

function preflight(ctx: Context): void {
    const problems = [...planProblems()];
    if (process.platform !== "linux") problems.push("the local cluster runs on Linux only");
    if (process.getuid?.() !== 0) problems.push("run as root: the cluster creates interfaces, iptables rules, mounts and cgroups");
    if (!have("go")) problems.push("Go is not on PATH: the cluster's pieces are built from Go modules");
    if (!fs.existsSync("/sys/fs/cgroup/memory") && !fs.existsSync("/sys/fs/cgroup/cgroup.controllers")) problems.push("no cgroup hierarchy at /sys/fs/cgroup: the kubelet needs one");
    if (fs.existsSync("/run/systemd/system")) problems.push("systemd is PID 1 here: this cluster is written for cgroupfs (no systemd); use kind or minikube instead");
    for (const [port, what] of [[PORTS.apiserver, "API server"], [PORTS.etcdClient, "etcd"], [PORTS.kubelet, "kubelet"]] as const) {
        const busy = run("/bin/sh", ["-c", `ss -Hltn "sport = :${port}" | grep -q . && echo busy`], { allowFail: true }).stdout.trim() === "busy";
        if (busy && !runningPid(ctx.paths.pids, what === "API server" ? "kube-apiserver" : what)) problems.push(`port ${port} (${what}) is taken by another program`);
    }
    if (problems.length > 0) throw new Error(`the local cluster cannot start:\n- ${problems.join("\n- ")}`);
}

/** Installs the Debian packages that are missing (one `apt-get update` first). */
export function installDebianPackages(log: (line: string) => void): string[] {
    const missing = [...new Set(Object.entries(DEBIAN_PACKAGES).filter(([cmd]) => (cmd.startsWith("/") ? !fs.existsSync(cmd) : !have(cmd))).map(([, pkg]) => pkg))];
    if (missing.length === 0) return [];
    log(`installing Debian packages: ${missing.join(" ")}`);
    run("apt-get", ["update", "-qq"], { timeoutMs: 10 * 60_000 });
    // Without systemd the packages start no service: the only containerd is the one `up` starts.
    run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], { timeoutMs: 20 * 60_000, env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    return missing;
}

function writeFile(file: string, content: string, mode = 0o644): void {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content, { mode });
}

function writeConfigs(ctx: Context, images: ClusterImages): void {
    const { paths } = ctx;
    const cert = (name: string) => ({ certFile: path.join(paths.pki, `${name}.crt`), keyFile: path.join(paths.pki, `${name}.key`) });
    const ca = path.join(paths.pki, "ca.crt");
    const components: Record<string, { user: string; cert: string }> = {
        "controller-manager": { user: "system:kube-controller-manager", cert: "controller-manager" },
        scheduler: { user: "system:kube-scheduler", cert: "scheduler" },
        kubelet: { user: `system:node:${NODE_NAME}`, cert: "kubelet" },
        "kube-proxy": { user: "system:kube-proxy", cert: "kube-proxy" },
        "kube-router": { user: "greenplum-k8s-kube-router", cert: "kube-router" },
    };
    for (const [name, c] of Object.entries(components)) writeFile(path.join(paths.kubeconfigs, `${name}.kubeconfig`), kubeconfig(API_SERVER_URL, ca, { user: c.user, ...cert(c.cert) }), 0o600);
    // The one people and stacks use: certificates embedded, so a copy of the file works anywhere on this machine.
    writeFile(paths.kubeconfig, kubeconfig(API_SERVER_URL, ca, { user: "greenplum-k8s-admin", ...cert("admin") }, (f) => fs.readFileSync(f, "utf8")), 0o600);
    writeFile(paths.containerdConfig, containerdConfig(paths, images.pause));
    writeFile(path.join(paths.cniConfDir, "10-gpkl.conflist"), cniConfig(paths));
    writeFile(paths.kubeletConfig, kubeletConfig(paths));
    writeFile(paths.proxyConfig, kubeProxyConfig(paths));
    writeFile(paths.addons, addonManifests({ coredns: images.coredns }));
}

function getJson(url: string, ctx: Context, cert = "admin"): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        const req = https.get(
            url,
            {
                ca: fs.readFileSync(path.join(ctx.paths.pki, "ca.crt")),
                cert: fs.readFileSync(path.join(ctx.paths.pki, `${cert}.crt`)),
                key: fs.readFileSync(path.join(ctx.paths.pki, `${cert}.key`)),
                // The controller-manager and scheduler serve self-signed certificates on loopback.
                rejectUnauthorized: url.startsWith(API_SERVER_URL),
                timeout: 5000,
            },
            (res) => {
                let body = "";
                res.on("data", (d) => (body += d));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
            },
        );
        req.on("timeout", () => req.destroy(new Error(`${url}: timed out`)));
        req.on("error", reject);
    });
}

async function httpOk(url: string): Promise<boolean> {
    try {
        const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
        return res.ok;
    } catch {
        return false;
    }
}

export function kubectl(ctx: Context, args: string[], options: { input?: string; timeoutMs?: number; allowFail?: boolean } = {}) {
    return run(binFor(ctx.cache, "kubectl"), ["--kubeconfig", ctx.paths.kubeconfig, ...args], { ...options, timeoutMs: options.timeoutMs ?? 120_000 });
}

/** Starts etcd, the API server, the controller manager and the scheduler of `cp`, each once it answers. */
export async function startControlPlane(ctx: Context, cp: ControlPlane, timings: Record<string, number>): Promise<void> {
    const step = async (name: string, fn: () => Promise<void>) => {
        const started = Date.now();
        await fn();
        timings[name] = Math.round((Date.now() - started) / 100) / 10;
    };
    const { logs, pids } = cp.paths;
    await step(`${cp.prefix}etcd`, async () => {
        fs.mkdirSync(cp.paths.etcdData, { recursive: true, mode: 0o700 });
        startDaemon({ name: `${cp.prefix}etcd`, command: cp.bin("etcd"), args: etcdArgs(cp) }, logs, pids);
        await waitFor("etcd /health", 60_000, async () => ((await httpOk(`http://127.0.0.1:${cp.ports.etcdClient}/health`)) ? true : undefined));
    });
    await step(`${cp.prefix}kube-apiserver`, async () => {
        startDaemon({ name: `${cp.prefix}kube-apiserver`, command: cp.bin("kube-apiserver"), args: apiserverArgs(cp) }, logs, pids);
        await waitFor("kube-apiserver /readyz", 180_000, async () => ((await getJson(`https://${cp.address}:${cp.ports.apiserver}/readyz`, ctx)).status === 200 ? true : undefined));
    });
    await step(`${cp.prefix}kube-controller-manager`, async () => {
        startDaemon({ name: `${cp.prefix}kube-controller-manager`, command: cp.bin("kube-controller-manager"), args: controllerManagerArgs(cp) }, logs, pids);
        await waitFor("kube-controller-manager /healthz", 120_000, async () => ((await getJson(`https://127.0.0.1:${cp.ports.controllerManager}/healthz`, ctx)).status === 200 ? true : undefined));
    });
    await step(`${cp.prefix}kube-scheduler`, async () => {
        startDaemon({ name: `${cp.prefix}kube-scheduler`, command: cp.bin("kube-scheduler"), args: schedulerArgs(cp) }, logs, pids);
        await waitFor("kube-scheduler /healthz", 120_000, async () => ((await getJson(`https://127.0.0.1:${cp.ports.scheduler}/healthz`, ctx)).status === 200 ? true : undefined));
    });
}

/** Every image's archive (built once, cached); the Greenplum image only when GPHOME is given. */
function buildImageArchives(ctx: Context): Record<keyof ClusterImages, BuiltImage> {
    const inputs = { cache: ctx.cache, log: ctx.log };
    const bin = (name: string) => binFor(ctx.cache, name);
    const images: Partial<Record<keyof ClusterImages, BuiltImage>> = {
        pause: pauseImage(inputs, path.join(ctx.cache, "pause", piece("kubernetes").version, "pause"), "3.10.1"),
        coredns: binaryImage(inputs, "coredns", piece("coredns").version, bin("coredns"), ["coredns"]),
        localPathProvisioner: binaryImage(inputs, "local-path-provisioner", piece("local-path-provisioner").version, bin("local-path-provisioner")),
        localPathHelper: busyboxImage(inputs),
    };
    if (ctx.env.GPHOME) images.greenplum = greenplumImage(inputs, ctx.env.GPHOME, ctx.env);
    return images as Record<keyof ClusterImages, BuiltImage>;
}

function references(images: Record<string, BuiltImage>): ClusterImages {
    return Object.fromEntries(Object.entries(images).map(([k, v]) => [k, v.reference])) as unknown as ClusterImages;
}

/** The image references of the running cluster (images.json), for stacks and tests. */
export function clusterImages(ctx: Context): ClusterImages {
    const file = path.join(ctx.paths.root, "images.json");
    if (!fs.existsSync(file)) throw new Error(`no local cluster at ${ctx.paths.root}: run npm run cluster:up first`);
    return JSON.parse(fs.readFileSync(file, "utf8")) as ClusterImages;
}

/** DNS through the kube-dns Service as pods see it: cluster names answer, nothing else does. */
async function checkDns(): Promise<void> {
    const resolver = new Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([DNS_SERVICE_IP]);
    await waitFor("CoreDNS answering kubernetes.default", 60_000, async () => {
        const answers = await resolver.resolve4(`kubernetes.default.svc.${CLUSTER_DOMAIN}`);
        if (!answers.includes(API_SERVICE_IP)) throw new Error(`kubernetes.default resolved to ${answers.join(",")}, not ${API_SERVICE_IP}`);
        return true;
    });
    const outside = await resolver.resolve4("example.com").then((a) => a.join(","), (err: NodeJS.ErrnoException) => err.code ?? String(err));
    if (!["ESERVFAIL", "ENOTFOUND", "EREFUSED", "ENODATA"].includes(outside)) throw new Error(`CoreDNS answered example.com with ${outside}: it must answer cluster names only`);
}

/** A folder of links to every binary a person uses, for PATH. */
function linkBinaries(ctx: Context, plugins: Record<string, string>): string {
    const bin = path.join(ctx.paths.root, "bin");
    fs.rmSync(bin, { recursive: true, force: true });
    fs.mkdirSync(bin, { recursive: true });
    const links: Record<string, string> = {
        kubectl: binFor(ctx.cache, "kubectl"),
        crictl: binFor(ctx.cache, "crictl"),
        pulumi: binFor(ctx.cache, "pulumi"),
        "pulumi-resource-kubernetes": binFor(ctx.cache, "pulumi-resource-kubernetes"),
        ...plugins,
    };
    for (const [name, target] of Object.entries(links)) fs.symlinkSync(target, path.join(bin, name));
    return bin;
}

/** The environment `cluster:env` prints: the real CLIs on PATH, the kubeconfig and Pulumi's local backend. */
export function clusterEnvironment(ctx: Context): Record<string, string> {
    return {
        PATH: `${path.join(ctx.paths.root, "bin")}:${ctx.env.PATH ?? "/usr/bin:/bin"}`,
        KUBECONFIG: ctx.paths.kubeconfig,
        CONTAINER_RUNTIME_ENDPOINT: `unix://${ctx.paths.containerdSocket}`,
        IMAGE_SERVICE_ENDPOINT: `unix://${ctx.paths.containerdSocket}`,
        PULUMI_HOME: ctx.paths.pulumiHome,
        PULUMI_BACKEND_URL: `file://${ctx.paths.pulumiBackend}`,
        PULUMI_CONFIG_PASSPHRASE_FILE: ctx.paths.passphrase,
        // Nothing is downloaded: plugins come from PATH (ambient) and the CLI never checks for updates.
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
        GPK_CLUSTER_DIR: ctx.paths.root,
        GPK_CLUSTER_CACHE: ctx.cache,
    };
}

export function preparePulumi(ctx: Context): Record<string, string> {
    const { found, missing } = findUnservedPlugins(ctx.env, path.join(ctx.paths.root, "bin"));
    if (missing.length > 0) throw new Error(missingPluginsMessage(missing));
    fs.mkdirSync(ctx.paths.pulumiHome, { recursive: true });
    fs.mkdirSync(ctx.paths.pulumiBackend, { recursive: true });
    if (!fs.existsSync(ctx.paths.passphrase)) writeFile(ctx.paths.passphrase, `${require("crypto").randomBytes(24).toString("base64url")}\n`, 0o600);
    return found;
}

export async function up(ctx: Context): Promise<Record<string, number>> {
    const timings: Record<string, number> = {};
    const started = Date.now();
    preflight(ctx);
    installDebianPackages(ctx.log);
    // Before anything is made: a missing plugin stops here, with nothing half-created.
    const plugins = preparePulumi(ctx);
    const builds = await buildAll({ cache: ctx.cache, log: ctx.log });
    timings.builds = Object.values(builds).reduce((a, b) => a + b, 0) * 60;
    ctx.log("machine network and certificates");
    recordMachine(ctx.paths);
    setUpMachineNetwork();
    ensurePki(ctx.paths.pki);
    fs.mkdirSync(ctx.paths.localPathVolumes, { recursive: true });
    const imagesStarted = Date.now();
    ctx.log("images");
    const images = buildImageArchives(ctx);
    writeConfigs(ctx, references(images));
    writeFile(path.join(ctx.paths.root, "images.json"), `${JSON.stringify(references(images), null, 2)}\n`);
    timings.images = Math.round((Date.now() - imagesStarted) / 100) / 10;
    ctx.log("control plane");
    await startControlPlane(ctx, nodeControlPlane(ctx), timings);
    ctx.log("containerd");
    const containerdStarted = Date.now();
    startDaemon({ name: "containerd", command: fs.realpathSync(run("/bin/sh", ["-c", "command -v containerd"]).stdout.trim()), args: containerdArgs(ctx.paths) }, ctx.paths.logs, ctx.paths.pids);
    await waitFor("containerd", 60_000, () => (run("ctr", ["--address", ctx.paths.containerdSocket, "version"], { allowFail: true }).status === 0 ? true : undefined));
    for (const image of Object.values(images)) importImage("ctr", ctx.paths.containerdSocket, image);
    timings.containerd = Math.round((Date.now() - containerdStarted) / 100) / 10;
    ctx.log("kubelet and kube-proxy");
    const nodeStarted = Date.now();
    startDaemon({ name: "kubelet", command: binFor(ctx.cache, "kubelet"), args: kubeletArgs(ctx.paths) }, ctx.paths.logs, ctx.paths.pids);
    startDaemon({ name: "kube-proxy", command: binFor(ctx.cache, "kube-proxy"), args: kubeProxyArgs(ctx.paths) }, ctx.paths.logs, ctx.paths.pids);
    await waitFor(`node ${NODE_NAME} Ready`, 180_000, () => {
        const r = kubectl(ctx, ["get", "node", NODE_NAME, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"], { allowFail: true });
        return r.stdout.trim() === "True" ? true : undefined;
    }, 2000);
    await waitFor("kube-proxy /healthz", 60_000, async () => ((await httpOk(`http://127.0.0.1:${PORTS.proxyHealthz}/healthz`)) ? true : undefined));
    timings.node = Math.round((Date.now() - nodeStarted) / 100) / 10;
    ctx.log("add-ons: CoreDNS; kube-router's NetworkPolicy firewall");
    const addonsStarted = Date.now();
    kubectl(ctx, ["apply", "--server-side", "--force-conflicts", "--field-manager=greenplum-k8s-local", "-f", ctx.paths.addons]);
    startDaemon({ name: "kube-router", command: binFor(ctx.cache, "kube-router"), args: kubeRouterArgs(ctx.paths) }, ctx.paths.logs, ctx.paths.pids);
    await waitFor("kube-router /healthz", 120_000, async () => ((await httpOk(`http://127.0.0.1:${PORTS.kubeRouterHealth}/healthz`)) ? true : undefined));
    kubectl(ctx, ["-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=180s"], { timeoutMs: 200_000 });
    await checkDns();
    timings.addons = Math.round((Date.now() - addonsStarted) / 100) / 10;
    linkBinaries(ctx, plugins);
    timings.total = Math.round((Date.now() - started) / 100) / 10;
    writeFile(path.join(ctx.paths.root, "timings.json"), `${JSON.stringify(timings, null, 2)}\n`);
    return timings;
}

/** What `down` could not remove: processes, mounts, interfaces, chains and tables of the cluster's. */
export function leftovers(ctx: Context, chainsBefore = readMachineRecord(ctx.paths)?.chainsBefore ?? []): string[] {
    const found: string[] = [];
    for (const pid of [...processesMatching(ctx.paths.root), ...processesMatching(ctx.cache)]) found.push(`process ${pid}: ${fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").slice(0, 120)}`);
    const mountinfo = fs.readFileSync("/proc/self/mountinfo", "utf8");
    for (const line of mountinfo.split("\n")) {
        const point = line.split(" ")[4];
        if (point && (point.startsWith(ctx.paths.root) || point.startsWith("/run/containerd") || /\/netns\/cni-/.test(point))) found.push(`mount ${point}`);
    }
    const links = run("ip", ["-o", "link", "show"], { allowFail: true }).stdout;
    for (const m of links.matchAll(/^\d+:\s+([^:@\s]+)/gm)) if (m[1].startsWith(`${PREFIX}-`) || m[1] === BRIDGE || m[1] === NODE_INTERFACE) found.push(`interface ${m[1]}`);
    for (const destination of blackholeRoutesIn(run("ip", ["route", "show", "type", "blackhole"], { allowFail: true }).stdout)) if (destination === LAB_RANGE) found.push(`route blackhole ${destination}`);
    for (const chain of leftoverChains(chainsBefore)) found.push(`iptables chain ${chain}`);
    if (have("ipset")) for (const set of clusterIpsets(run("ipset", ["list", "-n"], { allowFail: true }).stdout)) found.push(`ipset ${set}`);
    if (have("nft")) for (const m of run("nft", ["list", "tables"], { allowFail: true }).stdout.matchAll(/^table (\S+) (\S+)$/gm)) if (/kube|gpkl/.test(m[2])) found.push(`nftables table ${m[1]} ${m[2]}`);
    return found;
}

/** A built binary, or undefined when its build is not in the cache. */
function optionalBin(ctx: Context, name: string): string | undefined {
    try {
        const bin = binFor(ctx.cache, name);
        return fs.existsSync(bin) ? bin : undefined;
    } catch {
        return undefined;
    }
}

export async function down(ctx: Context, keepCache: boolean): Promise<string[]> {
    const { pids } = ctx.paths;
    const chainsBefore = readMachineRecord(ctx.paths)?.chainsBefore ?? [];
    const crictl = () => binFor(ctx.cache, "crictl");
    await stopDaemon(pids, "kubelet");
    await stopDaemon(pids, "kube-proxy");
    await stopDaemon(pids, "kube-router");
    // Its own clean-up takes out its iptables chains and ipsets.
    const router = optionalBin(ctx, "kube-router");
    if (router) run(router, ["--cleanup-config"], { allowFail: true, timeoutMs: 60_000 });
    // Pods go while containerd still runs, so their networks are torn down by CNI.
    if (runningPid(pids, "containerd") && fs.existsSync(crictl())) {
        run(crictl(), ["--runtime-endpoint", `unix://${ctx.paths.containerdSocket}`, "rmp", "--all", "--force"], { allowFail: true, timeoutMs: 180_000 });
    }
    await stopDaemon(pids, "containerd");
    // Shims (and whatever they still hold) outlive containerd: stop those of our socket.
    for (const pid of processesMatching(ctx.paths.containerdSocket)) await stopPid(pid, 5000);
    // kwok (the gke layout check's, if a run was interrupted) first: it talks to the API server.
    for (const name of ["kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"]) await stopDaemon(pids, name);
    for (const cgroupRoot of fs.existsSync("/sys/fs/cgroup") ? fs.readdirSync("/sys/fs/cgroup") : []) {
        const procs = path.join("/sys/fs/cgroup", cgroupRoot, "kubepods");
        if (!fs.existsSync(procs)) continue;
        for (const file of run("find", [procs, "-name", "cgroup.procs"], { allowFail: true }).stdout.split("\n").filter(Boolean)) {
            for (const pid of fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map(Number)) await stopPid(pid, 2000);
        }
    }
    const proxy = optionalBin(ctx, "kube-proxy");
    if (proxy) run(proxy, ["--cleanup"], { allowFail: true });
    if (have("nft")) {
        for (const m of run("nft", ["list", "tables"], { allowFail: true }).stdout.matchAll(/^table (\S+) (\S+)$/gm)) {
            if (m[2].startsWith("kube-proxy")) run("nft", ["delete", "table", m[1], m[2]], { allowFail: true });
        }
    }
    // Whatever else still runs from the state directory: Pulumi plugins an interrupted CLI left behind.
    for (const pid of processesMatching(ctx.paths.root)) await stopPid(pid, 5000);
    removePodNetns();
    unmountUnder(ctx.paths.root);
    removeInterfaces();
    removeIsolation();
    removeClusterChains(chainsBefore);
    restoreMachine(ctx.paths);
    removeKubeletCgroups();
    fs.rmSync(ctx.paths.root, { recursive: true, force: true });
    if (!keepCache) fs.rmSync(ctx.cache, { recursive: true, force: true });
    return leftovers(ctx, chainsBefore);
}

