/** Greenplum-for-Kubernetes' names, so its users recognise every object. */
export const MASTER_SET = "master" as const;
export const PRIMARY_SET = "segment-a" as const;
export const MIRROR_SET = "segment-b" as const;
export type SetName = typeof MASTER_SET | typeof PRIMARY_SET | typeof MIRROR_SET;

/** Headless Service giving every pod a stable DNS name (`<pod>.agent.<ns>.svc.<domain>`). */
export const HEADLESS_SERVICE = "agent";
/** The Service clients connect to; it selects the acting master. */
export const CLIENT_SERVICE = "greenplum";
export const SCRIPTS_CONFIGMAP = "greenplum-scripts";
/** Names the acting master; written by `gp-failover promote`, never reverted by `pulumi up`. */
export const ACTING_MASTER_CONFIGMAP = "greenplum-acting-master";
export const ACTING_MASTER_KEY = "acting-master";
export const ADMIN_SECRET = "greenplum-admin";
export const SSH_SECRET = "greenplum-ssh";
export const SERVICE_ACCOUNT = "greenplum";
/** Greenplum pods outrank ordinary workloads when a node is short of room. */
export const PRIORITY_CLASS = "greenplum-k8s-database";

export const ADMIN_USER = "gpadmin";
/** uid/gid of gpadmin in the image (the image contract). */
export const GPADMIN_UID = 1001;
export const GPHOME = "/usr/local/greenplum-db";

export const MASTER_PORT = 5432;
/** Greenplum's own defaults (gpinitsystem_config PORT_BASE=6000, MIRROR_PORT_BASE=7000), below Linux's ephemeral range (32768-60999) so an outgoing connection can never hold them. */
export const PRIMARY_PORT = 6000;
export const MIRROR_PORT = 7000;
/** sshd runs as gpadmin, so it needs an unprivileged port. */
export const SSH_PORT = 2222;

export const DATA_ROOT = "/greenplum";
/** The sets' one volume claim template (and the volume mounted at DATA_ROOT): claims are `data-<set>-<ordinal>`. */
export const DATA_VOLUME = "data";
export const SCRIPTS_DIR = "/opt/greenplum-k8s/scripts";
export const SSH_DIR = "/etc/greenplum-k8s/ssh";
export const PASSWORD_DIR = "/etc/greenplum-k8s/password";
export const ACTING_MASTER_DIR = "/etc/greenplum-k8s/acting-master";

export const SET_LABEL = "greenplum-k8s/set";

/** Labels every Greenplum object carries. */
export function commonLabels(): Record<string, string> {
    return { "app.kubernetes.io/name": "greenplum", "app.kubernetes.io/part-of": "greenplum-k8s", "app.kubernetes.io/managed-by": "pulumi" };
}

/** Labels selecting the pods of one set. */
export function setSelector(set: SetName): Record<string, string> {
    return { "app.kubernetes.io/name": "greenplum", [SET_LABEL]: set };
}

/** The in-cluster DNS name of the client Service. */
export function clientServiceHost(namespace: string, clusterDomain: string): string {
    return `${CLIENT_SERVICE}.${namespace}.svc.${clusterDomain}`;
}
