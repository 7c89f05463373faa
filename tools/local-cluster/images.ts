/**
 * Images without a registry: each is built here from what the cluster's builds made (Go
 * binaries), Debian's packages and a given GPHOME, written as an OCI archive and imported into
 * containerd's CRI namespace. References are `greenplum-k8s.local/<name>:<tag>`: no registry
 * serves that name, so a missing image fails as ErrImageNeverPull or a failed pull, never as
 * someone else's image.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { findPython2, gpadminBashrc, IMAGE_ENV, IMAGE_TOOLS, UTILITY_PYTHON_MODULES } from "../image-contract";
import { GPADMIN_UID, GPHOME } from "../../components/greenplum/naming";
import { writeImageArchive, type ImageSettings } from "./oci";
import { run } from "./shell";

export const IMAGE_HOST = "greenplum-k8s.local";

/**
 * Debian packages of the Greenplum image: the image contract's tools (sshd, ssh, ping, ifconfig,
 * netstat, rsync, getent, ps/pkill) and the en_US.UTF-8 locale gpinitsystem asks for; the
 * libraries GPHOME links against are added from `ldd`.
 */
export const GREENPLUM_IMAGE_PACKAGES = ["openssh-server", "openssh-client", "iputils-ping", "net-tools", "rsync", "procps", "iproute2", "hostname", "locales", "less", "libc-bin"];

/** Where debootstrap fetches from: the machine's own apt source (so no mirror is named here). */
export function aptMirror(sourcesText: string): string | undefined {
    for (const line of sourcesText.split("\n")) {
        const deb822 = /^URIs:\s*(\S+)/.exec(line.trim());
        if (deb822 && !/security/.test(deb822[1])) return deb822[1];
        const legacy = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+/.exec(line.trim());
        if (legacy && !/security/.test(legacy[1])) return legacy[1];
    }
    return undefined;
}

function machineAptMirror(): string {
    const files = ["/etc/apt/sources.list", ...(fs.existsSync("/etc/apt/sources.list.d") ? fs.readdirSync("/etc/apt/sources.list.d").map((f) => path.join("/etc/apt/sources.list.d", f)) : [])];
    for (const file of files.filter((f) => fs.existsSync(f))) {
        const mirror = aptMirror(fs.readFileSync(file, "utf8"));
        if (mirror) return mirror;
    }
    throw new Error("no Debian mirror in /etc/apt/sources.list(.d): debootstrap needs the one apt uses");
}

/** Debian package names owning the shared libraries that ELF files under `dir` link against (and that ldd finds on this machine). */
export function libraryPackages(dir: string): string[] {
    // The real path: GPHOME is often a symlink (/opt/greenplum-db -> greenplum-db-6.x), which find would not enter.
    const root = fs.realpathSync(dir);
    const elfs = run("find", [root, "-type", "f", "(", "-perm", "-u+x", "-o", "-name", "*.so*", ")"], { timeoutMs: 120_000 }).stdout.split("\n").filter(Boolean);
    const libs = new Set<string>();
    for (const file of elfs) {
        const r = run("ldd", [file], { allowFail: true });
        for (const m of r.stdout.matchAll(/=>\s+(\/\S+)/g)) if (!m[1].startsWith(root)) libs.add(m[1]);
    }
    const packages = new Set<string>();
    for (const lib of libs) {
        const owner = run("dpkg", ["-S", fs.realpathSync(lib)], { allowFail: true });
        const fallback = owner.status === 0 ? owner : run("dpkg", ["-S", lib], { allowFail: true });
        if (fallback.status === 0) packages.add(fallback.stdout.split(":")[0].trim());
    }
    return [...packages].sort();
}

/** A key for a set of inputs: equal inputs, equal key (cached images and root filesystems are named by it). */
export function contentKey(parts: string[]): string {
    return createHash("sha256").update(parts.join("\0")).digest("hex").slice(0, 12);
}

/** A Debian bookworm minbase root filesystem with `packages`, cached by their list. */
function debianRootfs(cache: string, packages: string[], log: (line: string) => void): string {
    const dir = path.join(cache, "rootfs", `debian-bookworm-${contentKey(packages)}`);
    if (fs.existsSync(path.join(dir, ".complete"))) return dir;
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    log(`debootstrap bookworm with ${packages.length} packages into ${dir}`);
    run("debootstrap", ["--variant=minbase", `--include=${packages.join(",")}`, "bookworm", dir, machineAptMirror()], { timeoutMs: 40 * 60_000 });
    run("chroot", [dir, "apt-get", "clean"]);
    fs.writeFileSync(path.join(dir, ".complete"), `${packages.join("\n")}\n`);
    return dir;
}

function copyRootfs(source: string, dest: string): void {
    fs.rmSync(dest, { recursive: true, force: true });
    run("cp", ["-a", source, dest], { timeoutMs: 10 * 60_000 });
    fs.rmSync(path.join(dest, ".complete"), { force: true });
}

/** A root filesystem with only these files (static binaries), /etc/passwd for the users pods run as, and /tmp. */
function minimalRootfs(dest: string, files: { from: string; to: string }[]): void {
    fs.rmSync(dest, { recursive: true, force: true });
    for (const dir of ["etc", "tmp", "usr/local/bin"]) fs.mkdirSync(path.join(dest, dir), { recursive: true });
    fs.chmodSync(path.join(dest, "tmp"), 0o1777);
    fs.writeFileSync(path.join(dest, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n");
    fs.writeFileSync(path.join(dest, "etc/group"), "root:x:0:\nnonroot:x:65532:\nnogroup:x:65534:\n");
    for (const { from, to } of files) {
        fs.mkdirSync(path.dirname(path.join(dest, to)), { recursive: true });
        fs.copyFileSync(from, path.join(dest, to));
        fs.chmodSync(path.join(dest, to), 0o755);
    }
}

export interface BuiltImage {
    reference: string;
    archive: string;
}

export interface ImageInputs {
    cache: string;
    log: (line: string) => void;
}

/** Builds the archive unless one for this reference exists. */
function buildArchive(inputs: ImageInputs, reference: string, make: (rootfs: string) => ImageSettings): BuiltImage {
    const archive = path.join(inputs.cache, "images", `${reference.replace(/[/:]/g, "_")}.tar`);
    if (fs.existsSync(archive)) return { reference, archive };
    fs.mkdirSync(path.dirname(archive), { recursive: true });
    const rootfs = `${archive}.rootfs`;
    inputs.log(`building image ${reference}`);
    const settings = make(rootfs);
    writeImageArchive(rootfs, reference, settings, `${archive}.partial`);
    fs.renameSync(`${archive}.partial`, archive);
    fs.rmSync(rootfs, { recursive: true, force: true });
    return { reference, archive };
}

/** The sandbox image: Kubernetes' pause.c built statically (the kubelet's pods need one, and none can be pulled). */
export function pauseImage(inputs: ImageInputs, pauseBinary: string, version: string): BuiltImage {
    return buildArchive(inputs, `${IMAGE_HOST}/pause:${version}`, (rootfs) => {
        minimalRootfs(rootfs, [{ from: pauseBinary, to: "pause" }]);
        return { env: {}, entrypoint: ["/pause"], user: "65535:65535" };
    });
}

/** An image holding one static Go binary on PATH. */
export function binaryImage(inputs: ImageInputs, name: string, version: string, binary: string, entrypoint?: string[]): BuiltImage {
    return buildArchive(inputs, `${IMAGE_HOST}/${name}:${version}`, (rootfs) => {
        minimalRootfs(rootfs, [{ from: binary, to: `usr/local/bin/${path.basename(binary)}` }]);
        return { env: { PATH: "/usr/local/bin:/usr/bin:/bin" }, ...(entrypoint ? { entrypoint } : {}) };
    });
}

/**
 * The local-path provisioner's helper image: it runs `sh` with the provisioner's setup and
 * teardown scripts (mkdir, rm). Debian's busybox-static gives them, at Debian's busybox version.
 */
export function busyboxImage(inputs: ImageInputs): BuiltImage {
    const version = run("dpkg-query", ["-W", "-f=${Version}", "busybox-static"]).stdout.trim().replace(/[^A-Za-z0-9_.-]/g, "_");
    return buildArchive(inputs, `${IMAGE_HOST}/busybox:${version}`, (rootfs) => {
        minimalRootfs(rootfs, [{ from: "/bin/busybox", to: "bin/busybox" }]);
        for (const applet of run("/bin/busybox", ["--list"]).stdout.split("\n").filter(Boolean)) {
            if (applet !== "busybox") fs.symlinkSync("busybox", path.join(rootfs, "bin", applet));
        }
        return { env: { PATH: "/bin" }, cmd: ["sh"] };
    });
}

/** The Greenplum version a GPHOME's postgres reports, e.g. "6.24.3" (a build from git may say "6.0.0-beta.1"). */
export function greenplumVersion(gpVersionOutput: string): string {
    const m = /Greenplum Database\)\s+(\S+)/.exec(gpVersionOutput);
    if (!m) throw new Error(`not a Greenplum postgres: ${gpVersionOutput.trim()}`);
    return m[1];
}

/**
 * The Greenplum image, to the README's image contract: GPHOME at /usr/local/greenplum-db, gpadmin
 * 1001:1001 with a home whose ~/.bashrc sources greenplum_path.sh, OpenSSH (with /run/sshd),
 * Python 2.7 as `python` for the utilities, the en_US.UTF-8 locale. Its tag is the Greenplum
 * version and a key of GPHOME's postgres binary and the Python used.
 */
export function greenplumImage(inputs: ImageInputs, gphome: string, env: NodeJS.ProcessEnv): BuiltImage {
    const gpVersion = run(path.join(gphome, "bin/postgres"), ["--gp-version"]).stdout;
    const python = findPython2(gphome, env)[0];
    if (!python) throw new Error(`no Python 2.7 for ${gphome} (GP_PYTHON2, $GPHOME/ext/python, python2.7 on PATH, pyenv): the gp utilities need it`);
    const pythonPrefix = path.dirname(path.dirname(fs.realpathSync(python)));
    const postgresDigest = createHash("sha256").update(fs.readFileSync(path.join(gphome, "bin/postgres"))).digest("hex");
    const packages = [...new Set([...GREENPLUM_IMAGE_PACKAGES, ...libraryPackages(gphome), ...libraryPackages(pythonPrefix)])].sort();
    // What Python holds counts too (a module installed later must make a new image).
    const pythonModules = fs.readdirSync(path.join(pythonPrefix, "lib/python2.7/site-packages")).sort().join(",");
    const tag = `${greenplumVersion(gpVersion)}-${contentKey([postgresDigest, pythonPrefix, pythonModules, packages.join(","), String(GREENPLUM_IMAGE_RECIPE)])}`;
    return buildArchive(inputs, `${IMAGE_HOST}/greenplum:${tag}`, (rootfs) => {
        copyRootfs(debianRootfs(inputs.cache, packages, inputs.log), rootfs);
        const inImage = (p: string) => path.join(rootfs, p);
        run("cp", ["-a", `${fs.realpathSync(gphome)}/.`, inImage(GPHOME)], { timeoutMs: 10 * 60_000 });
        // Python: the installation's own ext/python came with GPHOME; another one is copied beside it.
        const pythonInImage = pythonPrefix.startsWith(fs.realpathSync(gphome)) ? path.join(GPHOME, path.relative(fs.realpathSync(gphome), pythonPrefix)) : "/opt/python2.7";
        if (pythonInImage === "/opt/python2.7") run("cp", ["-a", `${pythonPrefix}/.`, inImage(pythonInImage)], { timeoutMs: 10 * 60_000 });
        for (const name of ["python", "python2", "python2.7"]) {
            fs.rmSync(inImage(`usr/local/bin/${name}`), { force: true });
            fs.symlinkSync(path.join(pythonInImage, "bin/python2.7"), inImage(`usr/local/bin/${name}`));
        }
        // Its libpython serves the interpreter and PL/Python alike, whatever LD_LIBRARY_PATH a session has.
        fs.writeFileSync(inImage("etc/ld.so.conf.d/greenplum-python.conf"), `${path.join(pythonInImage, "lib")}\n`);
        run("chroot", [rootfs, "ldconfig"]);
        run("chroot", [rootfs, "groupadd", "-g", String(GPADMIN_UID), "gpadmin"]);
        run("chroot", [rootfs, "useradd", "-u", String(GPADMIN_UID), "-g", String(GPADMIN_UID), "-m", "-s", "/bin/bash", "gpadmin"]);
        fs.appendFileSync(inImage("home/gpadmin/.bashrc"), gpadminBashrc(GPHOME));
        fs.writeFileSync(inImage("etc/locale.gen"), "en_US.UTF-8 UTF-8\n");
        run("chroot", [rootfs, "locale-gen"], { timeoutMs: 5 * 60_000 });
        // sshd checks its privilege-separation directory even when it runs as gpadmin.
        fs.mkdirSync(inImage("run/sshd"), { recursive: true, mode: 0o755 });
        // The image's own host keys are never used (the pods bring theirs from a Secret).
        for (const key of fs.readdirSync(inImage("etc/ssh")).filter((f) => f.startsWith("ssh_host_"))) fs.rmSync(inImage(`etc/ssh/${key}`));
        const broken = imageContractProblems(rootfs);
        if (broken.length > 0) throw new Error(`the Greenplum image built from ${gphome} breaks the image contract:\n  ${broken.join("\n  ")}`);
        return { env: { ...IMAGE_ENV, LANG: "en_US.UTF-8" }, cmd: ["/bin/bash"], user: String(GPADMIN_UID), workingDir: "/home/gpadmin" };
    });
}

/** Bump when the Greenplum image is assembled differently, so cached archives are rebuilt. */
const GREENPLUM_IMAGE_RECIPE = 3;

/**
 * The README's image contract, checked inside a built root filesystem as gpadmin would meet it:
 * every tool, every shared library of GPHOME resolved, postgres and the utilities' Python start.
 */
function imageContractProblems(rootfs: string): string[] {
    // As in a container, /proc is there (the loader reads /proc/self/exe for $ORIGIN).
    fs.mkdirSync(path.join(rootfs, "proc"), { recursive: true });
    run("mount", ["-t", "proc", "proc", path.join(rootfs, "proc")]);
    try {
        return contractProblemsInside(rootfs);
    } finally {
        run("umount", ["-l", path.join(rootfs, "proc")], { allowFail: true });
    }
}

function contractProblemsInside(rootfs: string): string[] {
    const inImage = (script: string) => run("chroot", [rootfs, "/bin/bash", "-c", `source ${GPHOME}/greenplum_path.sh && ${script}`], { allowFail: true });
    const problems: string[] = [];
    for (const tool of IMAGE_TOOLS) if (inImage(`command -v ${tool}`).status !== 0) problems.push(`no ${tool} on PATH`);
    const unresolved = inImage(`find ${GPHOME} -type f \\( -perm -u+x -o -name '*.so*' \\) -exec ldd {} + 2>/dev/null | grep 'not found' | sort -u`).stdout.trim();
    if (unresolved !== "") problems.push(`shared libraries not found: ${unresolved.split("\n").map((l) => l.trim().split(" ")[0]).join(", ")}`);
    if (inImage(`${GPHOME}/bin/postgres --gp-version`).status !== 0) problems.push("postgres --gp-version fails");
    const modules = ["gppylib", ...UTILITY_PYTHON_MODULES].join(", ");
    const python = inImage(`python -c 'import sys, ${modules}; print(sys.version_info[0])'`);
    if (python.stdout.trim() !== "2") problems.push(`python is not a Python 2 that imports ${modules}: ${python.stderr.trim().split("\n").pop() ?? ""}`);
    const id = inImage("id -u gpadmin; id -g gpadmin").stdout.split("\n").filter(Boolean);
    if (id.join(":") !== `${GPADMIN_UID}:${GPADMIN_UID}`) problems.push(`gpadmin is ${id.join(":") || "missing"}, not ${GPADMIN_UID}:${GPADMIN_UID}`);
    if (!inImage("locale -a").stdout.split("\n").some((l) => /^en_US\.utf-?8$/i.test(l))) problems.push("no en_US.UTF-8 locale");
    return problems;
}

/** Loads an archive into containerd's CRI namespace (k8s.io), where the kubelet sees images. */
export function importImage(ctr: string, socket: string, image: BuiltImage): void {
    const present = run(ctr, ["--address", socket, "-n", "k8s.io", "images", "ls", "-q"]).stdout.split("\n");
    if (present.includes(image.reference)) return;
    run(ctr, ["--address", socket, "-n", "k8s.io", "images", "import", image.archive], { timeoutMs: 20 * 60_000 });
}
