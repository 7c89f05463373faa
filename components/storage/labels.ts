/** Marks the class Greenplum data lives on, so policies can find it and hold it to XFS and Retain. */
export const DATA_STORAGE_CLASS_LABEL = "greenplum-k8s/data-storage-class";

export function dataStorageClassLabels(): Record<string, string> {
    return { "app.kubernetes.io/part-of": "greenplum-k8s", [DATA_STORAGE_CLASS_LABEL]: "true" };
}
