/**
 * Whether an image reference is pinned: a digest, or a tag holding a full version (major.minor.patch).
 * A missing tag, `latest` and a bare major or minor version ("6", "6.27", "16-alpine") move to new
 * builds while the cluster runs, so a pod restarted later runs other code than its peers. The
 * stack config check and the policy pack both use this; it imports nothing so both can.
 */

const DIGEST = /@sha256:[a-f0-9]{64}$/;
const FULL_VERSION = /\d+\.\d+\.\d+/;

/** Why `image` is not pinned, or undefined when it is. */
export function unpinnedReason(image: string): string | undefined {
    if (DIGEST.test(image)) return undefined;
    const lastSegment = image.slice(image.lastIndexOf("/") + 1);
    const colon = lastSegment.lastIndexOf(":");
    if (colon < 0 || colon === lastSegment.length - 1) return "has no tag";
    const tag = lastSegment.slice(colon + 1);
    if (tag === "latest") return 'uses the tag "latest"';
    if (!FULL_VERSION.test(tag)) return `uses the tag "${tag}", which names no full version and moves to new releases`;
    return undefined;
}
