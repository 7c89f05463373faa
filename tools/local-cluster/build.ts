/**
 * Builds the Go pieces (versions.ts) from the module proxy into the cache, once per cache key:
 * a wrapper module per piece (`go install mod@version` refuses modules with replace directives),
 * static binaries (CGO off: they also go into images with nothing else in them), and the
 * sandbox's pause binary from Kubernetes' own pause.c.
 */
import * as fs from "fs";
import * as path from "path";
import { run, runLogged } from "./shell";
import { cacheKey, GO_PIECES, KUBERNETES_VERSION, ldflags, piece, replaceDirectives, wrapperGoMod, type GoPiece } from "./versions";

export interface BuildContext {
    cache: string;
    log: (line: string) => void;
}

const MINUTES = 60_000;

export function goVersion(): string {
    return run("go", ["env", "GOVERSION"]).stdout.trim().replace(/^go/, "");
}

export function goEnv(cache: string): NodeJS.ProcessEnv {
    return {
        ...process.env,
        GOMODCACHE: path.join(cache, "go", "mod"),
        GOCACHE: path.join(cache, "go", "build"),
        // -mod=mod: the wrapper's go.sum is filled as the build finds what it needs.
        GOFLAGS: "-buildvcs=false -mod=mod",
        GOTOOLCHAIN: "local",
        GOWORK: "off",
        CGO_ENABLED: "0",
    };
}

export function pieceDir(cache: string, p: GoPiece, go = goVersion()): string {
    return path.join(cache, p.name, cacheKey(p, go));
}

/** Where a piece's binary is once built. */
export function binaryPath(cache: string, pieceName: string, binary: string, go = goVersion()): string {
    return path.join(pieceDir(cache, piece(pieceName), go), binary);
}

export function isBuilt(cache: string, p: GoPiece, go = goVersion()): boolean {
    return fs.existsSync(path.join(pieceDir(cache, p, go), ".complete"));
}

/** A go.mod whose folder replaces are mapped to proxy versions (for a writable copy of a module). */
export function mapFolderReplaces(p: GoPiece, goMod: string): string {
    const mapped = replaceDirectives(goMod)
        .filter((r) => !r.targetVersion && !r.target.includes("FORBIDDEN_DEPENDENCY"))
        .map((r) => {
            const version = p.localReplaces?.(r.module, r.target);
            if (!version) throw new Error(`${p.name}: cannot map the folder replace ${r.module} => ${r.target}`);
            return `replace ${r.module} => ${r.module} ${version}`;
        });
    // Drop every folder replace (single-line or in a block), keep the rest, add the mapped ones.
    const kept = goMod
        .split("\n")
        .filter((line) => !/=>\s+\.{1,2}\//.test(line))
        .join("\n");
    return `${kept}\n${mapped.join("\n")}\n`;
}

async function buildPiece(ctx: BuildContext, p: GoPiece, go: string): Promise<void> {
    const out = pieceDir(ctx.cache, p, go);
    if (isBuilt(ctx.cache, p, go)) return;
    const work = path.join(ctx.cache, "work", `${p.name}-${cacheKey(p, go)}`);
    const logFile = path.join(ctx.cache, "logs", `${p.name}-${cacheKey(p, go)}.log`);
    fs.mkdirSync(path.dirname(logFile), { recursive: true });
    fs.rmSync(work, { recursive: true, force: true });
    fs.mkdirSync(work, { recursive: true });
    const env = goEnv(ctx.cache);
    const started = Date.now();
    ctx.log(`building ${p.name} ${p.version} (log: ${logFile})`);

    const info = JSON.parse(run("go", ["mod", "download", "-json", `${p.module}@${p.version}`], { env, cwd: work, timeoutMs: 30 * MINUTES }).stdout) as { Dir?: string; GoMod?: string; Error?: string };
    if (info.Error || !info.Dir || !info.GoMod) throw new Error(`${p.module}@${p.version}: ${info.Error ?? "the module proxy gave no module"}`);
    const upstreamGoMod = fs.readFileSync(info.GoMod, "utf8");

    let localModule: string | undefined;
    if (p.writableCopy) {
        localModule = "./src";
        const src = path.join(work, "src");
        run("cp", ["-r", info.Dir, src]);
        run("chmod", ["-R", "u+w", src]);
        fs.writeFileSync(path.join(src, "go.mod"), mapFolderReplaces(p, upstreamGoMod));
        for (const step of p.writableCopy.generate) {
            await runLogged(step.command[0], step.command.slice(1), logFile, { env: { ...env, ...step.env }, cwd: path.join(src, step.dir), timeoutMs: 60 * MINUTES });
        }
    }
    fs.writeFileSync(path.join(work, "go.mod"), wrapperGoMod(p, upstreamGoMod, go, localModule));
    fs.rmSync(out, { recursive: true, force: true });
    fs.mkdirSync(out, { recursive: true });
    // One package at a time, each named as the piece says (etcd's main package is the module root, "server/v3").
    for (const pkg of p.packages) {
        await runLogged("go", ["build", "-trimpath", "-ldflags", ldflags(p), "-o", path.join(out, pkg.binary), pkg.path], logFile, { env, cwd: work, timeoutMs: 120 * MINUTES });
    }
    const minutes = (Date.now() - started) / MINUTES;
    fs.writeFileSync(path.join(out, ".complete"), `${JSON.stringify({ module: p.module, version: p.version, go, minutes: Math.round(minutes * 10) / 10, builtAt: new Date().toISOString() })}\n`);
    fs.rmSync(work, { recursive: true, force: true });
    ctx.log(`built ${p.name} in ${minutes.toFixed(1)} min`);
}

/** The sandbox ("pause") binary: Kubernetes' build/pause/linux/pause.c, static, from the kubernetes module. */
export function buildPause(ctx: BuildContext, go: string): string {
    const kubernetes = piece("kubernetes");
    const out = path.join(ctx.cache, "pause", `${KUBERNETES_VERSION}`, "pause");
    if (fs.existsSync(out)) return out;
    const info = JSON.parse(run("go", ["mod", "download", "-json", `${kubernetes.module}@${kubernetes.version}`], { env: goEnv(ctx.cache), timeoutMs: 30 * MINUTES }).stdout) as { Dir: string };
    fs.mkdirSync(path.dirname(out), { recursive: true });
    run("gcc", ["-Os", "-static", "-Wall", "-Werror", `-DVERSION=${KUBERNETES_VERSION}-${go}`, "-o", out, path.join(info.Dir, "build/pause/linux/pause.c")]);
    run("strip", [out]);
    return out;
}

/** Builds every piece not in the cache yet; returns the minutes each build took (0: cached). */
export async function buildAll(ctx: BuildContext, names: string[] = GO_PIECES.map((p) => p.name)): Promise<Record<string, number>> {
    const go = goVersion();
    const minutes: Record<string, number> = {};
    for (const name of names) {
        const p = piece(name);
        const started = Date.now();
        await buildPiece(ctx, p, go);
        minutes[name] = Math.round(((Date.now() - started) / MINUTES) * 10) / 10;
    }
    buildPause(ctx, go);
    return minutes;
}
