/**
 * The cluster's daemons as plain processes: each started in its own session (so `up` can return
 * and a terminal's signals never reach it), its output in <state>/logs/<name>.log and its PID in
 * <state>/pids/<name>.pid, which is all `down` needs to stop it.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";

export interface Daemon {
    name: string;
    command: string;
    args: string[];
    env?: NodeJS.ProcessEnv;
}

function pidFile(pidsDir: string, name: string): string {
    return path.join(pidsDir, `${name}.pid`);
}

export function alive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch (err) {
        return (err as NodeJS.ErrnoException).code === "EPERM";
    }
}

/** The PID of a running daemon, if its PID file names a live process running its command. */
export function runningPid(pidsDir: string, name: string): number | undefined {
    const file = pidFile(pidsDir, name);
    if (!fs.existsSync(file)) return undefined;
    const [pidText, command] = fs.readFileSync(file, "utf8").split("\n");
    const pid = Number(pidText);
    if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return undefined;
    // A reused PID runs something else: compare /proc/<pid>/exe with what we started.
    try {
        if (command && fs.readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, "") !== command) return undefined;
    } catch {
        return undefined;
    }
    return pid;
}

export function startDaemon(daemon: Daemon, logsDir: string, pidsDir: string): number {
    fs.mkdirSync(logsDir, { recursive: true });
    fs.mkdirSync(pidsDir, { recursive: true });
    const existing = runningPid(pidsDir, daemon.name);
    if (existing) return existing;
    const log = fs.openSync(path.join(logsDir, `${daemon.name}.log`), "a");
    fs.writeSync(log, `\n==== ${new Date().toISOString()} ${daemon.command} ${daemon.args.join(" ")}\n`);
    const child = spawn(daemon.command, daemon.args, { detached: true, stdio: ["ignore", log, log], env: daemon.env ?? process.env });
    fs.closeSync(log);
    if (!child.pid) throw new Error(`${daemon.name}: ${daemon.command} did not start`);
    child.unref();
    fs.writeFileSync(pidFile(pidsDir, daemon.name), `${child.pid}\n${fs.realpathSync(daemon.command)}\n`);
    return child.pid;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopPid(pid: number, graceMs: number): Promise<void> {
    try {
        process.kill(pid, "SIGTERM");
    } catch {
        return;
    }
    const deadline = Date.now() + graceMs;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    if (alive(pid)) {
        try {
            process.kill(pid, "SIGKILL");
        } catch {
            // gone meanwhile
        }
        for (let i = 0; i < 50 && alive(pid); i += 1) await new Promise((r) => setTimeout(r, 100));
    }
}

export async function stopDaemon(pidsDir: string, name: string, graceMs = 10_000): Promise<boolean> {
    const pid = runningPid(pidsDir, name);
    if (pid) await stopPid(pid, graceMs);
    fs.rmSync(pidFile(pidsDir, name), { force: true });
    return pid !== undefined;
}

/** Live processes whose command line contains `needle` (e.g. containerd shims of our socket). */
export function processesMatching(needle: string): number[] {
    const pids: number[] = [];
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
        try {
            if (fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").join(" ").includes(needle)) pids.push(Number(entry));
        } catch {
            // exited while we looked
        }
    }
    return pids;
}
