/** The runner renders the stack itself, with the project's own offline render. */
import { spawnSync } from "child_process";
import * as path from "path";

export const REPO_ROOT = path.resolve(__dirname, "../../..");

export function renderStack(options: { stack?: string; config?: string; out: string }): void {
    const args = ["--transpile-only", path.join(REPO_ROOT, "tools/render.ts"), ...(options.config ? ["--config", options.config] : ["--stack", options.stack ?? "dev"]), "--out", options.out];
    const r = spawnSync(path.join(REPO_ROOT, "node_modules/.bin/ts-node"), args, { cwd: REPO_ROOT, encoding: "utf8", timeout: 120_000 });
    if (r.status !== 0) throw new Error(`render failed (exit ${r.status}): ${r.stderr || r.stdout}`);
}
