/** Commands the cluster scripts run: bounded in time, failing with what the command printed. */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";

export interface RunOptions {
    input?: string;
    timeoutMs?: number;
    allowFail?: boolean;
    env?: NodeJS.ProcessEnv;
    cwd?: string;
}

export interface RunResult {
    status: number;
    stdout: string;
    stderr: string;
}

export function run(cmd: string, args: string[], options: RunOptions = {}): RunResult {
    const r = spawnSync(cmd, args, { input: options.input, encoding: "utf8", timeout: options.timeoutMs ?? 60_000, env: options.env, cwd: options.cwd, maxBuffer: 64 * 1024 * 1024 });
    const status = r.status ?? (r.signal ? 128 : 1);
    if (status !== 0 && !options.allowFail) {
        const output = (r.stderr || r.stdout || String(r.error ?? "")).trim().split("\n").slice(-20).join("\n");
        throw new Error(`${cmd} ${args.join(" ")} exited ${status}${r.signal ? ` (${r.signal})` : ""}: ${output}`);
    }
    return { status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** Whether a command is on PATH. */
export function have(cmd: string): boolean {
    return run("/bin/sh", ["-c", 'command -v "$1"', "sh", cmd], { allowFail: true }).status === 0;
}

/**
 * A long command (a build) with its output appended to `logFile`; resolves on exit 0, rejects
 * with the log's last lines otherwise or when `timeoutMs` passes (the whole process group is killed).
 */
export function runLogged(cmd: string, args: string[], logFile: string, options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number }): Promise<void> {
    return new Promise((resolve, reject) => {
        const out = fs.openSync(logFile, "a");
        fs.writeSync(out, `\n$ ${cmd} ${args.join(" ")}\n`);
        const child = spawn(cmd, args, { env: options.env, cwd: options.cwd, stdio: ["ignore", out, out], detached: true });
        const timer = setTimeout(() => {
            try {
                process.kill(-(child.pid as number), "SIGKILL");
            } catch {
                // already gone
            }
        }, options.timeoutMs);
        child.on("exit", (code, signal) => {
            clearTimeout(timer);
            fs.closeSync(out);
            if (code === 0) return resolve();
            const tail = fs.readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-25).join("\n");
            reject(new Error(`${cmd} ${args.join(" ")} ${signal ? `was killed (${signal}, limit ${options.timeoutMs / 60000} min)` : `exited ${code}`}; the end of ${logFile}:\n${tail}`));
        });
        child.on("error", (err) => {
            clearTimeout(timer);
            reject(err);
        });
    });
}

/** Polls `check` every `intervalMs` until it returns a value other than undefined, or fails naming `what` and the last problem. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => T | undefined | Promise<T | undefined>, intervalMs = 1000, now: () => number = Date.now): Promise<T> {
    const started = now();
    let last = "";
    for (;;) {
        try {
            const value = await check();
            if (value !== undefined) return value;
        } catch (err) {
            last = err instanceof Error ? err.message : String(err);
        }
        if (now() - started >= timeoutMs) throw new Error(`${what}: not ready after ${Math.round(timeoutMs / 1000)} s${last ? ` (last: ${last})` : ""}`);
        await new Promise((r) => setTimeout(r, intervalMs));
    }
}
