/**
 * The Pulumi CLI's plugins for the local cluster. The module proxy serves the CLI and the
 * kubernetes provider (built here), but no Node.js language host and no random or tls provider:
 * those are taken from a folder you name, from a Pulumi installation on PATH, or from
 * ~/.pulumi/plugins, and `up` says which are missing and how to supply them.
 * The CLI runs them as ambient plugins (found on PATH, whatever version a program asks for:
 * sdk/go/common/workspace/plugins.go), so nothing is labelled with a version it is not.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface UnservedPlugin {
    binary: string;
    what: string;
    /** The plugin folder `pulumi plugin install` makes under ~/.pulumi/plugins. */
    pluginDirPrefix: string;
    /** The version the program's npm packages ask for. */
    wanted: string;
}

export const UNSERVED_PLUGINS: UnservedPlugin[] = [
    { binary: "pulumi-language-nodejs", what: "the Node.js language host", pluginDirPrefix: "language-nodejs-v", wanted: "3.270.0 (@pulumi/pulumi)" },
    { binary: "pulumi-resource-random", what: "the random provider", pluginDirPrefix: "resource-random-v", wanted: "4.21.2 (@pulumi/random)" },
    { binary: "pulumi-resource-tls", what: "the tls provider", pluginDirPrefix: "resource-tls-v", wanted: "5.6.1 (@pulumi/tls)" },
];

/** Versions in plugin folder names (resource-random-v4.21.2), newest first. */
export function newestPluginDir(names: string[], prefix: string): string | undefined {
    const versions = names
        .filter((n) => n.startsWith(prefix) && !n.endsWith(".lock") && !n.endsWith(".partial"))
        .map((n) => ({ n, v: n.slice(prefix.length).split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0) }));
    versions.sort((a, b) => {
        for (let i = 0; i < Math.max(a.v.length, b.v.length); i += 1) if ((a.v[i] ?? 0) !== (b.v[i] ?? 0)) return (b.v[i] ?? 0) - (a.v[i] ?? 0);
        return 0;
    });
    return versions[0]?.n;
}

function onPath(binary: string, env: NodeJS.ProcessEnv): string | undefined {
    for (const dir of (env.PATH ?? "").split(":").filter(Boolean)) {
        const candidate = path.join(dir, binary);
        try {
            fs.accessSync(candidate, fs.constants.X_OK);
            return candidate;
        } catch {
            // not here
        }
    }
    return undefined;
}

/** Where each unserved plugin is found: GPK_PULUMI_PLUGINS, then PATH, then ~/.pulumi/plugins. */
export function findUnservedPlugins(env: NodeJS.ProcessEnv, ownBin: string): { found: Record<string, string>; missing: UnservedPlugin[] } {
    const found: Record<string, string> = {};
    const missing: UnservedPlugin[] = [];
    const userPlugins = path.join(os.homedir(), ".pulumi", "plugins");
    // Our own bin folder is on PATH once `cluster:env` is sourced: never find our own links there.
    const pathEnv = { PATH: (env.PATH ?? "").split(":").filter((d) => path.resolve(d) !== path.resolve(ownBin)).join(":") };
    for (const plugin of UNSERVED_PLUGINS) {
        const fromFolder = env.GPK_PULUMI_PLUGINS ? path.join(env.GPK_PULUMI_PLUGINS, plugin.binary) : undefined;
        let hit = fromFolder && fs.existsSync(fromFolder) ? fromFolder : onPath(plugin.binary, pathEnv);
        if (!hit && fs.existsSync(userPlugins)) {
            const dir = newestPluginDir(fs.readdirSync(userPlugins), plugin.pluginDirPrefix);
            if (dir && fs.existsSync(path.join(userPlugins, dir, plugin.binary))) hit = path.join(userPlugins, dir, plugin.binary);
        }
        if (hit) found[plugin.binary] = fs.realpathSync(hit);
        else missing.push(plugin);
    }
    return { found, missing };
}

export function missingPluginsMessage(missing: UnservedPlugin[]): string {
    return [
        `the Go module proxy serves no ${missing.map((m) => m.what).join(", ")}, and none was found:`,
        ...missing.map((m) => `  - ${m.binary} (the program asks for ${m.wanted})`),
        "Supply them in one of these ways, then run cluster:up again:",
        "  - GPK_PULUMI_PLUGINS=<folder holding the binaries above>",
        "  - a Pulumi CLI installation on PATH (its archive ships pulumi-language-nodejs beside pulumi)",
        "  - on a machine that reaches Pulumi's plugin downloads: pulumi plugin install resource random 4.21.2 && pulumi plugin install resource tls 5.6.1 (~/.pulumi/plugins)",
    ].join("\n");
}
