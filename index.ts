import * as pulumi from "@pulumi/pulumi";
import { GreenplumCluster } from "./components/greenplum";
import { Storage } from "./components/storage";
import { Cluster } from "./components/cluster";
import { GreenplumBackup } from "./components/backup";
import { acceptedDataClassWarnings, ConfigError, parseStackConfig, stackConfigWarnings, type StackConfig } from "./stacks";

/** Validates the whole stack config before any resource exists: bad input creates nothing. */
function loadConfig(): StackConfig {
    const allConfig = pulumi.runtime.allConfig();
    for (const warning of stackConfigWarnings(allConfig)) void pulumi.log.warn(warning);
    try {
        const config = parseStackConfig(allConfig);
        for (const warning of acceptedDataClassWarnings(config)) void pulumi.log.warn(warning);
        return config;
    } catch (err) {
        // RunError prints just the message: the list of problems, without a stack trace.
        if (err instanceof ConfigError) throw new pulumi.RunError(err.message);
        throw err;
    }
}

/** The program: cluster → storage → Greenplum, and the stack outputs apps read. */
export = async function main(): Promise<Record<string, unknown>> {
    const config = loadConfig();
    const gcpProject = config.gke?.project ?? pulumi.runtime.allConfig()["gcp:project"];

    const cluster = new Cluster("target", {
        target: config.target,
        gke: config.gke,
        gcpProject,
        cephNodes: config.storage.backend === "rook-ceph",
    });

    const storage = new Storage("storage", {
        storage: config.storage,
        profile: config.profile,
        provider: cluster.provider,
        cephPlacement: cluster.cephPlacement,
        zoneCount: cluster.zoneCount,
    });

    const greenplum = new GreenplumCluster("greenplum", {
        greenplum: config.greenplum,
        profile: config.profile,
        provider: cluster.provider,
        clusterDomain: config.target.clusterDomain,
        storageClassName: storage.storageClassName,
        storageReady: storage.ready,
        placement: cluster.greenplumPlacement,
        zoneCount: cluster.zoneCount,
        onGke: config.target.kind === "gke",
        kubectlAccess: cluster.kubectlAccess,
    });

    const backup = config.greenplum.backup
        ? new GreenplumBackup("backup", {
              backup: config.greenplum.backup,
              namespace: greenplum.namespace,
              image: config.greenplum.image,
              clusterDomain: config.target.clusterDomain,
              provider: cluster.provider,
              dependsOn: [greenplum],
              production: config.profile === "production",
              gcp: config.gke ? { project: gcpProject ?? "", region: config.gke.region, clusterName: config.gke.clusterName } : undefined,
          })
        : undefined;

    return {
        host: greenplum.host,
        port: greenplum.port,
        database: greenplum.database,
        username: greenplum.username,
        password: greenplum.password,
        connectionUri: greenplum.connectionUri,
        namespace: greenplum.namespace,
        storageClassName: storage.storageClassName,
        ...(backup ? { backupBucket: backup.bucket, backupFolder: backup.folder } : {}),
        ...(cluster.kubeconfig ? { kubeconfig: cluster.kubeconfig } : {}),
    };
};
