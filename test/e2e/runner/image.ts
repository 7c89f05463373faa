/**
 * The image contract, taken from this machine: GPHOME (Greenplum 6, mounted where the image has it),
 * the image's user (gpadmin, uid 1001) and the tools the image ships. Checks everything up front and
 * names exactly what is missing.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { GPADMIN_UID, GPHOME } from "../../../components/greenplum/naming";
import type { ImageContract } from "./kubelet";
import { findOnImagePath, findPython2, gpadminBashrc, IMAGE_ENV, IMAGE_TOOLS, UTILITY_PYTHON_MODULES } from "../../../tools/image-contract";

/** What the runner itself needs on the machine. */
export const RUNNER_TOOLS = ["ip", "unshare", "nsenter", "setpriv", "mount", "sysctl", "stat"];

function asUser(uid: number, argv: string[]): { status: number; output: string } {
    const r = spawnSync("setpriv", [`--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--", ...argv], { encoding: "utf8", timeout: 30_000 });
    return { status: r.status ?? 1, output: `${r.stdout ?? ""}${r.stderr ?? ""}`.trim() };
}

export interface Prerequisites {
    image?: ImageContract;
    problems: string[];
}

/** Every problem at once, each with its fix; the image contract when there are none. */
export function checkPrerequisites(env: NodeJS.ProcessEnv, workDir: string): Prerequisites {
    const problems: string[] = [];
    if (process.getuid?.() !== 0) problems.push("run as root: the runner creates network namespaces, mounts and cgroups");
    for (const tool of [...RUNNER_TOOLS, ...IMAGE_TOOLS]) {
        if (!findOnImagePath(tool)) problems.push(`command ${tool} not found: apt-get install -y iproute2 util-linux openssh-server openssh-client iputils-ping net-tools rsync procps`);
    }
    if (!fs.existsSync("/sys/fs/cgroup/freezer")) problems.push("no cgroup v1 freezer at /sys/fs/cgroup/freezer: node-loss faults freeze pods with it");
    const user = spawnSync("getent", ["passwd", String(GPADMIN_UID)], { encoding: "utf8" }).stdout.trim().split(":");
    if (user[0] !== "gpadmin") {
        problems.push(`no user gpadmin with uid ${GPADMIN_UID} (the image's user): groupadd -g ${GPADMIN_UID} gpadmin && useradd -u ${GPADMIN_UID} -g ${GPADMIN_UID} -m -s /bin/bash gpadmin`);
    }
    const locales = spawnSync("locale", ["-a"], { encoding: "utf8" }).stdout;
    if (!/^en_US\.utf8$/m.test(locales)) problems.push("locale en_US.utf8 missing (gpinitsystem -n en_US.utf8): apt-get install -y locales && sed -i 's/^# *en_US.UTF-8/en_US.UTF-8/' /etc/locale.gen && locale-gen");

    const gphome = env.GPHOME;
    let python: string | undefined;
    if (!gphome) {
        problems.push("GPHOME is not set: point it at a Greenplum 6 installation (README: 'Getting GPHOME')");
    } else if (!fs.existsSync(path.join(gphome, "bin/postgres")) || !fs.existsSync(path.join(gphome, "greenplum_path.sh"))) {
        problems.push(`GPHOME=${gphome} has no bin/postgres and greenplum_path.sh: it is not a Greenplum installation`);
    } else {
        const version = asUser(GPADMIN_UID, [path.join(gphome, "bin/postgres"), "--gp-version"]);
        if (version.status !== 0) problems.push(`gpadmin cannot run ${gphome}/bin/postgres (${version.output}): chmod -R a+rX ${gphome}`);
        else if (!/Greenplum Database\) 6\./.test(version.output)) problems.push(`GPHOME=${gphome} is not Greenplum 6: ${version.output}`);
        const pythons = findPython2(gphome, env);
        // psutil comes with the installation (--with-pythonsrc-ext, as the image builds it) or with the Python.
        python = pythons.find((p) => asUser(GPADMIN_UID, ["env", `PYTHONPATH=${path.join(gphome, "lib/python")}`, p, "-c", `import ${UTILITY_PYTHON_MODULES.join(", ")}`]).status === 0);
        if (!python) {
            problems.push(
                pythons.length === 0
                    ? "no Python 2.7 found (GP_PYTHON2, $GPHOME/ext/python, python2.7 on PATH, pyenv): the gp utilities need it"
                    : `Python 2.7 at ${pythons.join(", ")} cannot import ${UTILITY_PYTHON_MODULES.join(", ")} (with PYTHONPATH=$GPHOME/lib/python) as gpadmin: give gpadmin a readable copy with psutil and PyYAML installed and set GP_PYTHON2`,
            );
        }
    }
    if (problems.length > 0 || !gphome || !python) return { problems };

    fs.mkdirSync(workDir, { recursive: true });
    const binDir = path.join(workDir, "image-bin");
    fs.rmSync(binDir, { recursive: true, force: true });
    fs.mkdirSync(binDir, { recursive: true });
    for (const name of ["python", "python2", "python2.7"]) fs.symlinkSync(python, path.join(binDir, name));
    // A pod's processes run with no capabilities and no_new_privs, so the image's ping can only use
    // ICMP datagram sockets (net.ipv4.ping_group_range). The machine's ping carries file
    // capabilities, which an empty bounding set turns into EPERM at exec: the pods get a plain copy.
    const ping = findOnImagePath("ping") as string;
    const plainPing = path.join(workDir, "image-ping");
    fs.copyFileSync(fs.realpathSync(ping), plainPing);
    fs.chmodSync(plainPing, 0o755);
    return {
        problems,
        image: {
            gphome,
            mountPath: GPHOME,
            binDir,
            user: { uid: GPADMIN_UID, gid: GPADMIN_UID, home: "/home/gpadmin" },
            // The image's ENV (woblerr/docker-greenplum's Dockerfile) and the home it builds for gpadmin.
            env: { ...IMAGE_ENV },
            homeFiles: { ".bashrc": gpadminBashrc(GPHOME) },
            files: { [fs.realpathSync(ping)]: plainPing },
        },
    };
}
