/**
 * The README's image contract as data: what a Greenplum image must hold for the pods' scripts
 * and Greenplum's utilities. The pod runner takes it from the machine; the local cluster builds
 * an image that holds exactly it (tools/local-cluster/images.ts).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

/** Commands the woblerr/greenplum image ships that Greenplum's utilities and our scripts call. */
export const IMAGE_TOOLS = ["bash", "ssh", "ssh-keygen", "sshd", "ping", "ifconfig", "netstat", "rsync", "hostname", "md5sum", "timeout", "getent"];
/**
 * Python modules the gp utilities import beyond the standard library and GPHOME's own
 * (gpinitstandby reaches `yaml` through gppylib.operations.package; a real run failed without it).
 */
export const UTILITY_PYTHON_MODULES = ["psutil", "yaml", "pygresql"];
/** The image's PATH and TZ (woblerr/docker-greenplum's Dockerfile ENV). */
export const IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
export const IMAGE_ENV = { PATH: IMAGE_PATH, TZ: "Etc/UTC" };
/** What gpadmin's ~/.bashrc holds, as the image builds it: the utilities need greenplum_path.sh in every ssh session. */
export function gpadminBashrc(gphomeInImage: string): string {
    return `source ${gphomeInImage}/greenplum_path.sh\n`;
}

/** A command as the image's PATH finds it on this machine. */
export function findOnImagePath(cmd: string): string | undefined {
    const r = spawnSync("/bin/sh", ["-c", `PATH=${IMAGE_PATH}:$PATH command -v "$1"`, "sh", cmd], { encoding: "utf8" });
    return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Python 2.7 for the gp utilities: GP_PYTHON2, the installation's own ext/python, python2.7 on PATH, or pyenv's 2.7. */
export function findPython2(gphome: string, env: NodeJS.ProcessEnv): string[] {
    const candidates = [env.GP_PYTHON2, path.join(gphome, "ext/python/bin/python2.7"), findOnImagePath("python2.7")];
    const pyenvRoot = env.PYENV_ROOT ?? path.join(env.HOME ?? "/root", ".pyenv");
    if (fs.existsSync(path.join(pyenvRoot, "versions"))) {
        for (const v of fs.readdirSync(path.join(pyenvRoot, "versions")).filter((v) => v.startsWith("2.7")).sort().reverse()) {
            candidates.push(path.join(pyenvRoot, "versions", v, "bin/python2.7"));
        }
    }
    return candidates.filter((c): c is string => typeof c === "string" && c !== "" && fs.existsSync(c));
}
