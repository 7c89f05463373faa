/**
 * OCI image archives without a registry or a build daemon: a root filesystem tarred into one
 * layer, its config and manifest, in the OCI image layout `ctr images import` reads
 * (image-spec: image-layout.md, manifest.md, config.md).
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { run } from "./shell";

export const MEDIA = {
    index: "application/vnd.oci.image.index.v1+json",
    manifest: "application/vnd.oci.image.manifest.v1+json",
    config: "application/vnd.oci.image.config.v1+json",
    layer: "application/vnd.oci.image.layer.v1.tar",
} as const;

export interface Descriptor {
    mediaType: string;
    digest: string;
    size: number;
    annotations?: Record<string, string>;
}

export interface ImageSettings {
    env: Record<string, string>;
    entrypoint?: string[];
    cmd?: string[];
    user?: string;
    workingDir?: string;
}

/** The image config: the layer's digest is its diff ID too, since the layer is not compressed. */
export function imageConfig(layerDigests: string[], settings: ImageSettings): Record<string, unknown> {
    return {
        architecture: "amd64",
        os: "linux",
        config: {
            Env: Object.entries(settings.env).map(([k, v]) => `${k}=${v}`),
            ...(settings.entrypoint ? { Entrypoint: settings.entrypoint } : {}),
            ...(settings.cmd ? { Cmd: settings.cmd } : {}),
            ...(settings.user ? { User: settings.user } : {}),
            ...(settings.workingDir ? { WorkingDir: settings.workingDir } : {}),
        },
        rootfs: { type: "layers", diff_ids: layerDigests },
    };
}

export function imageManifest(config: Descriptor, layers: Descriptor[]): Record<string, unknown> {
    return { schemaVersion: 2, mediaType: MEDIA.manifest, config, layers };
}

/** containerd names an imported image by `io.containerd.image.name` (its archive importer). */
export function imageIndex(manifest: Descriptor, reference: string): Record<string, unknown> {
    const tag = reference.slice(reference.lastIndexOf(":") + 1);
    return {
        schemaVersion: 2,
        mediaType: MEDIA.index,
        manifests: [{ ...manifest, annotations: { "io.containerd.image.name": reference, "org.opencontainers.image.ref.name": tag } }],
    };
}

function sha256File(file: string): string {
    const hash = createHash("sha256");
    const fd = fs.openSync(file, "r");
    const buffer = Buffer.alloc(8 * 1024 * 1024);
    try {
        for (let n = fs.readSync(fd, buffer); n > 0; n = fs.readSync(fd, buffer)) hash.update(buffer.subarray(0, n));
    } finally {
        fs.closeSync(fd);
    }
    return `sha256:${hash.digest("hex")}`;
}

function writeBlob(blobs: string, content: string, mediaType: string): Descriptor {
    const digest = `sha256:${createHash("sha256").update(content).digest("hex")}`;
    fs.writeFileSync(path.join(blobs, digest.slice("sha256:".length)), content);
    return { mediaType, digest, size: Buffer.byteLength(content) };
}

/**
 * Tars `rootfs` into one layer (owners kept as numbers, names sorted, times zeroed, no extended
 * attributes: file capabilities, such as ping's, are not carried over) and writes the archive.
 */
export function writeImageArchive(rootfs: string, reference: string, settings: ImageSettings, archive: string): void {
    const work = `${archive}.d`;
    fs.rmSync(work, { recursive: true, force: true });
    const blobs = path.join(work, "blobs", "sha256");
    fs.mkdirSync(blobs, { recursive: true });
    const layerTar = path.join(work, "layer.tar");
    run("tar", ["--numeric-owner", "--sort=name", "--mtime=@0", "-C", rootfs, "-cf", layerTar, "."], { timeoutMs: 20 * 60_000 });
    const layerDigest = sha256File(layerTar);
    const layer: Descriptor = { mediaType: MEDIA.layer, digest: layerDigest, size: fs.statSync(layerTar).size };
    fs.renameSync(layerTar, path.join(blobs, layerDigest.slice("sha256:".length)));
    const config = writeBlob(blobs, JSON.stringify(imageConfig([layerDigest], settings)), MEDIA.config);
    const manifest = writeBlob(blobs, JSON.stringify(imageManifest(config, [layer])), MEDIA.manifest);
    fs.writeFileSync(path.join(work, "index.json"), JSON.stringify(imageIndex(manifest, reference)));
    fs.writeFileSync(path.join(work, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    run("tar", ["-C", work, "-cf", archive, "oci-layout", "index.json", "blobs"], { timeoutMs: 20 * 60_000 });
    fs.rmSync(work, { recursive: true, force: true });
}
