/**
 * Every piece of the local cluster built from Go modules: the module, the version (the newest the
 * module proxy serves in the line the project targets, or the one the stack pins), the packages to
 * build and their version stamps. A piece's cache key is its version and a digest of its recipe,
 * so a changed recipe builds again and an unchanged one never does.
 */
import { createHash } from "crypto";

export interface GoPackage {
    /** Import path of the main package. */
    path: string;
    /** Binary name in the piece's cache folder. */
    binary: string;
}

export interface GoPiece {
    name: string;
    module: string;
    version: string;
    packages: GoPackage[];
    /** -X stamps: the version the binary reports. */
    ldflags: Record<string, string>;
    /**
     * How the module's own go.mod replaces a module with a folder of its repository (which a
     * module zip does not contain): the version to take from the proxy instead.
     */
    localReplaces?: (module: string, target: string) => string | undefined;
    /** Built in a writable copy of the module (files generated first), not from the module cache. */
    writableCopy?: { generate: { dir: string; command: string[]; env: Record<string, string> }[] };
}

const K8S = "1.34.4";

export const KUBERNETES_VERSION = `v${K8S}`;

const kubernetesStamp = (version: string, [major, minor]: string[]) => ({
    "k8s.io/component-base/version.gitVersion": version,
    "k8s.io/component-base/version.gitMajor": major,
    "k8s.io/component-base/version.gitMinor": minor,
    "k8s.io/component-base/version.gitTreeState": "clean",
    "k8s.io/component-base/version.buildDate": "2026-01-01T00:00:00Z",
});

/** The Pulumi CLI the proxy serves nearest the npm package's 3.270.0 (pkg/v3 3.270.0-3.273.x are refused). */
export const PULUMI_VERSION = "3.274.0";
/**
 * The kubernetes provider: the proxy serves one build of provider/v4, the pseudo-version of commit
 * f47bc2d6f199 (2026-01-15, the day before the v4.25.0 tag); the npm SDK is 4.34.2.
 */
export const KUBERNETES_PROVIDER_PSEUDO = "v4.0.0-20260115033456-f47bc2d6f199";
export const KUBERNETES_PROVIDER_VERSION = "4.25.0-alpha.f47bc2d6f199";

export const GO_PIECES: GoPiece[] = [
    {
        name: "kubernetes",
        module: "k8s.io/kubernetes",
        version: KUBERNETES_VERSION,
        packages: ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"].map((b) => ({ path: `k8s.io/kubernetes/cmd/${b}`, binary: b })),
        ldflags: kubernetesStamp(KUBERNETES_VERSION, K8S.split(".")),
        // The staging modules (k8s.io/api, ...) are published as k8s.io/<name> v0.<minor>.<patch>.
        localReplaces: (_module, target) => (target.startsWith("./staging/") ? `v0.${K8S.split(".").slice(1).join(".")}` : undefined),
    },
    {
        name: "etcd",
        module: "go.etcd.io/etcd/server/v3",
        version: "v3.6.16",
        packages: [{ path: "go.etcd.io/etcd/server/v3", binary: "etcd" }],
        ldflags: {},
        // Its sibling modules (api, client, pkg) are released together at the same version.
        localReplaces: (_module, target) => (target.startsWith("../") ? "v3.6.16" : undefined),
    },
    {
        name: "coredns",
        module: "github.com/coredns/coredns",
        version: "v1.12.4",
        packages: [{ path: "github.com/coredns/coredns", binary: "coredns" }],
        ldflags: {},
    },
    {
        name: "cri-tools",
        module: "sigs.k8s.io/cri-tools",
        version: "v1.34.0",
        packages: [{ path: "sigs.k8s.io/cri-tools/cmd/crictl", binary: "crictl" }],
        ldflags: { "sigs.k8s.io/cri-tools/pkg/version.Version": "v1.34.0" },
    },
    {
        // The NetworkPolicy engine: its firewall alone (iptables + ipset). v2.1.0 is the only v2 the
        // module proxy serves here; advisories are reported against it, acceptable for a lab whose
        // traffic never leaves the machine. (kube-network-policies needs nftables' queue
        // expression, which this kernel lacks: its rules fail with "netlink receive: no such file".)
        name: "kube-router",
        module: "github.com/cloudnativelabs/kube-router/v2",
        version: "v2.1.0",
        packages: [{ path: "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router", binary: "kube-router" }],
        ldflags: { "github.com/cloudnativelabs/kube-router/v2/pkg/version.Version": "v2.1.0" },
    },
    {
        name: "local-path-provisioner",
        module: "github.com/rancher/local-path-provisioner",
        version: "v0.0.37",
        packages: [{ path: "github.com/rancher/local-path-provisioner", binary: "local-path-provisioner" }],
        ldflags: { "main.VERSION": "v0.0.37" },
    },
    {
        // Keeps the gke layout check's fake nodes Ready and their pods Running, with no kubelet
        // (test/cluster/gke-layout.cluster.ts starts it; cluster:up only builds it).
        name: "kwok",
        module: "sigs.k8s.io/kwok",
        version: "v0.8.0",
        packages: [{ path: "sigs.k8s.io/kwok/cmd/kwok", binary: "kwok" }],
        ldflags: {},
    },
    {
        name: "pulumi",
        module: "github.com/pulumi/pulumi/pkg/v3",
        version: `v${PULUMI_VERSION}`,
        packages: [{ path: "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi", binary: "pulumi" }],
        ldflags: { "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version": `v${PULUMI_VERSION}` },
        localReplaces: (module, target) => (module === "github.com/pulumi/pulumi/sdk/v3" && target === "../sdk" ? `v${PULUMI_VERSION}` : undefined),
    },
    {
        name: "pulumi-resource-kubernetes",
        module: "github.com/pulumi/pulumi-kubernetes/provider/v4",
        version: KUBERNETES_PROVIDER_PSEUDO,
        packages: [{ path: "github.com/pulumi/pulumi-kubernetes/provider/v4/cmd/pulumi-resource-kubernetes", binary: "pulumi-resource-kubernetes" }],
        ldflags: { "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version": KUBERNETES_PROVIDER_VERSION },
        // `../sdk` is the SDK module of the same repository; provider/v4's go.mod requires sdk/v4 v4.24.0.
        localReplaces: (module, target) => (module === "github.com/pulumi/pulumi-kubernetes/sdk/v4" && target === "../sdk" ? "v4.24.0" : undefined),
        // main.go embeds schema-embed.json and terraform-mapping-embed.json, which its generate.go makes (gitignored upstream).
        writableCopy: { generate: [{ dir: "cmd/pulumi-resource-kubernetes", command: ["go", "run", "generate.go"], env: { VERSION: KUBERNETES_PROVIDER_VERSION } }] },
    },
];

export function piece(name: string): GoPiece {
    const found = GO_PIECES.find((p) => p.name === name);
    if (!found) throw new Error(`no Go piece named ${name}`);
    return found;
}

/** `<version>-<digest of the recipe and the Go version>`: the folder a piece's binaries are cached in. */
export function cacheKey(p: GoPiece, goVersion: string): string {
    const recipe = JSON.stringify({
        module: p.module,
        version: p.version,
        packages: p.packages,
        ldflags: p.ldflags,
        localReplaces: p.localReplaces?.toString(),
        writableCopy: p.writableCopy,
        goVersion,
    });
    return `${p.version}-${createHash("sha256").update(recipe).digest("hex").slice(0, 10)}`;
}

/** Lines of `replace` directives in a go.mod, single or in blocks: [module, target, target version?]. */
export function replaceDirectives(goMod: string): { module: string; target: string; targetVersion?: string }[] {
    const found: { module: string; target: string; targetVersion?: string }[] = [];
    const parse = (line: string) => {
        const m = /^\s*(\S+)(?:\s+\S+)?\s+=>\s+(\S+)(?:\s+(\S+))?\s*(?:\/\/.*)?$/.exec(line);
        if (m) found.push({ module: m[1], target: m[2], ...(m[3] ? { targetVersion: m[3] } : {}) });
    };
    let inBlock = false;
    for (const line of goMod.split("\n")) {
        if (inBlock) {
            if (/^\s*\)/.test(line)) inBlock = false;
            else parse(line);
        } else if (/^replace\s*\($/.test(line.trim())) inBlock = true;
        else if (/^replace\s/.test(line)) parse(line.replace(/^replace\s+/, ""));
    }
    return found;
}

/**
 * The wrapper module that builds a piece: it requires the upstream module and carries over the
 * upstream's replace directives (Go ignores them in a dependency), a folder of the upstream
 * repository mapped to the version the proxy serves. A folder replace with no mapping is an
 * error naming it, never silently dropped.
 */
export function wrapperGoMod(p: GoPiece, upstreamGoMod: string, goVersion: string, localModule?: string): string {
    const lines = [`module greenplum-k8s.local/build/${p.name}`, "", `go ${goVersion}`, "", `require ${p.module} ${p.version}`, ""];
    const replaces: string[] = [];
    for (const r of replaceDirectives(upstreamGoMod)) {
        if (r.targetVersion) {
            replaces.push(`${r.module} => ${r.target} ${r.targetVersion}`);
            continue;
        }
        if (r.target.includes("FORBIDDEN_DEPENDENCY")) continue;
        const version = p.localReplaces?.(r.module, r.target);
        if (!version) throw new Error(`${p.name}: ${p.module}'s go.mod replaces ${r.module} with the folder ${r.target}, which the module zip lacks; say which version stands for it`);
        replaces.push(`${r.module} => ${r.module} ${version}`);
    }
    if (localModule) replaces.push(`${p.module} => ${localModule}`);
    if (replaces.length > 0) lines.push("replace (", ...replaces.map((r) => `\t${r}`), ")", "");
    return lines.join("\n");
}

/** `-ldflags` for a piece: stripped, with its version stamps. */
export function ldflags(p: GoPiece): string {
    return ["-s", "-w", ...Object.entries(p.ldflags).map(([k, v]) => `-X ${k}=${v}`)].join(" ");
}
