import { backupScheduleProblem, gcsBucketNameProblem, s3BucketNameProblem, s3EndpointProblem, s3FolderProblem } from "../stacks/backup-rules";
import { defaultGcsBucketName } from "../stacks/backup-checks";
import { backupSettings, pluginEndpoint, storeEgress } from "../components/backup";
import { parseStackConfig } from "../stacks";
import { deploy, problemsOf, stackConfig } from "./harness";

const minikube = { target: { kind: "minikube" } };
const store = { endpoint: "http://198.18.0.1:7070", bucket: "gpk-backups", folder: "dev", accessKeyId: "gpkaccess", secretAccessKey: "gpksecret0123456789" };
const withBackup = (backup: Record<string, unknown>) => problemsOf({ ...minikube, greenplum: { backup } });

describe("greenplum.backup: configuration", () => {
    test("off unless set on dev; on by default for production on gke, into a bucket the stack makes", () => {
        expect(parseStackConfig(stackConfig(minikube)).greenplum.backup).toBeUndefined();
        const gke = parseStackConfig({
            ...stackConfig({ target: { kind: "gke" }, gke: { region: "europe-west1", zones: ["europe-west1-b"], masterAuthorizedNetworks: [{ cidrBlock: "203.0.113.0/24", displayName: "ci" }] } }),
            "gcp:project": "acme-data",
        });
        expect(gke.greenplum.backup).toEqual({
            schedule: "0 2 * * *",
            databases: ["gpadmin"],
            incrementalsPerFull: 6,
            keepFullBackups: 4,
            compression: { type: "zstd", level: 1 },
            timeoutMinutes: 360,
            destination: { gcs: { retentionDays: 35, folder: "greenplum" } },
        });
    });

    test("an S3 destination with its defaults: the stack's database, weekly fulls, four kept", () => {
        const config = parseStackConfig(stackConfig({ ...minikube, greenplum: { database: "analytics", backup: { destination: { s3: store } } } }));
        expect(config.greenplum.backup?.databases).toEqual(["analytics"]);
        expect(config.greenplum.backup?.keepFullBackups).toBe(4);
    });

    test("each bad value is refused with the key, the value and the fix", () => {
        expect(withBackup({ schedule: "every night", destination: { s3: store } })).toEqual([
            'greenplum-k8s:greenplum.backup.schedule: is not a cron schedule: it has 2 fields, cron needs 5 (minute hour day-of-month month day-of-week), e.g. "0 2 * * *" (02:00 UTC every day), or @weekly / @daily (got "every night")',
        ]);
        expect(withBackup({ keepFullBackups: 0, destination: { s3: store } })).toEqual(["greenplum-k8s:greenplum.backup.keepFullBackups: must be a whole number from 1 to 1000 (got 0)"]);
        expect(withBackup({})).toEqual([
            "greenplum-k8s:greenplum.backup.destination: names no destination: set greenplum.backup.destination.s3 (endpoint, bucket, folder, credentials); a backup needs somewhere to go",
        ]);
        expect(withBackup({ destination: { gcs: { retentionDays: 30, folder: "gp" } } })).toEqual([
            'greenplum-k8s:greenplum.backup.destination.gcs: needs target.kind gke (this stack\'s target is "minikube"): use greenplum.backup.destination.s3 instead',
        ]);
        expect(withBackup({ destination: { s3: { ...store, secretAccessKey: undefined } } })).toEqual([
            "greenplum-k8s:greenplum.backup.destination.s3.secretAccessKey: is missing: the key pair needs both halves (pulumi config set --path greenplum-k8s:greenplum.backup.destination.s3.secretAccessKey <value> --secret)",
        ]);
        expect(withBackup({ destination: { s3: { ...store, credentialsSecret: "my-keys" } } })).toEqual([
            "greenplum-k8s:greenplum.backup.destination.s3.credentialsSecret: is set together with accessKeyId/secretAccessKey: use one of them (remove the key pair, or the Secret's name)",
        ]);
        expect(withBackup({ compression: { type: "gzip", level: 12 }, destination: { s3: store } })).toEqual([
            'greenplum-k8s:greenplum.backup.compression.level: is 12, but gzip levels run 1-9 (zstd\'s 1-19): choose 1-9, or type "zstd"',
        ]);
        expect(withBackup({ destination: { s3: { ...store, endpoint: undefined } } })).toEqual([
            'greenplum-k8s:greenplum.backup.destination.s3.endpoint: is missing, and so is region: name the store\'s endpoint (e.g. "https://s3.example.internal:9000"), or the AWS region (e.g. "eu-west-1")',
        ]);
    });

    test("cron schedules: fields, ranges, steps, names and macros", () => {
        for (const ok of ["0 2 * * *", "*/15 * * * *", "0 1-5/2 * jan-mar mon-fri", "30 3 1,15 * 0", "@daily", "0 0 * * 7"]) expect(backupScheduleProblem(ok)).toBeUndefined();
        expect(backupScheduleProblem("60 2 * * *")).toBe('is not a cron schedule: minute "60" is outside 0-59; e.g. "0 2 * * *" (02:00 UTC every day)');
        expect(backupScheduleProblem("0 5-1 * * *")).toBe('is not a cron schedule: hour range "5-1" runs backwards; e.g. "0 2 * * *" (02:00 UTC every day)');
        expect(backupScheduleProblem("0 2 * * */0")).toMatch(/day of week "\*\/0" has a bad step/);
        expect(backupScheduleProblem("0 0 2 * * *")).toMatch(/has 6 fields, cron needs 5/);
        expect(backupScheduleProblem("TZ=Europe/Berlin 0 2 * * *")).toMatch(/names a time zone: the schedule is UTC/);
    });

    test("bucket, folder and endpoint rules", () => {
        expect(gcsBucketNameProblem("My_Backups")).toMatch(/is a bucket name GCS refuses: 3-63 lower-case/);
        expect(gcsBucketNameProblem("backups.example.com")).toMatch(/names with dots need a verified domain/);
        expect(gcsBucketNameProblem("google-backups")).toMatch(/may not start with "goog" or contain "google"/);
        expect(gcsBucketNameProblem("acme-gp-backups")).toBeUndefined();
        expect(s3BucketNameProblem("192.168.1.1")).toMatch(/not an IP address/);
        expect(s3FolderProblem("/greenplum/")).toMatch(/no leading or trailing '\/'/);
        expect(s3EndpointProblem("https://s3.example.internal:9000/bucket")).toMatch(/the bucket and folder have keys of their own/);
        expect(s3EndpointProblem("http://198.18.0.1:7070")).toBeUndefined();
    });

    test("the default GCS bucket name fits GCS's rules for the longest cluster name, and differs per project", () => {
        const longest = "a".repeat(40);
        expect(gcsBucketNameProblem(defaultGcsBucketName("acme-data", longest))).toBeUndefined();
        expect(defaultGcsBucketName("acme-data", "greenplum")).not.toBe(defaultGcsBucketName("acme-test", "greenplum"));
    });
});

describe("greenplum.backup: what the scripts and the NetworkPolicies get", () => {
    test("settings: the plugin's endpoint without scheme, encryption off only for http, no secret", () => {
        expect(pluginEndpoint("https://s3.example.internal:9000")).toEqual({ endpoint: "s3.example.internal:9000", encryption: "on" });
        const config = parseStackConfig(stackConfig({ ...minikube, greenplum: { backup: { destination: { s3: store } } } }));
        const settings = backupSettings({ endpoint: store.endpoint, bucket: store.bucket, folder: store.folder }, config.greenplum.backup);
        expect(settings).toBe(
            "GPK_S3_ENDPOINT=198.18.0.1:7070\nGPK_S3_ENCRYPTION=off\nGPK_S3_REGION=us-east-1\nGPK_S3_BUCKET=gpk-backups\nGPK_S3_FOLDER=dev\nGPK_BACKUP_DATABASES=gpadmin\nGPK_BACKUP_INCREMENTALS_PER_FULL=6\nGPK_BACKUP_KEEP_FULL=4\nGPK_BACKUP_COMPRESSION=zstd\nGPK_BACKUP_COMPRESSION_LEVEL=1\n",
        );
        expect(settings).not.toContain(store.secretAccessKey);
    });

    test("egress: the endpoint's own address when it is one, else the configured CIDRs, else anywhere on its port", () => {
        expect(storeEgress({ endpoint: "http://198.18.0.1:7070" })).toEqual({ cidrs: ["198.18.0.1/32"], port: 7070 });
        expect(storeEgress({ endpoint: "https://s3.example.internal" })).toEqual({ cidrs: ["0.0.0.0/0"], port: 443 });
        expect(storeEgress({ endpoint: "https://s3.example.internal:9000", egressCidrs: ["10.8.0.0/16"] })).toEqual({ cidrs: ["10.8.0.0/16"], port: 9000 });
    });

    test("dev with an S3 destination: one CronJob, one run at a time, no retries, no API access, through the masters' sshd", async () => {
        const d = await deploy("dev", { "greenplum-k8s:greenplum": { backup: { schedule: "15 3 * * *", destination: { s3: store } } } });
        const cron = d.object("CronJob", "greenplum-backup") as any;
        expect(cron.spec.schedule).toBe("15 3 * * *");
        expect(cron.spec.concurrencyPolicy).toBe("Forbid");
        expect(cron.spec.jobTemplate.spec.backoffLimit).toBe(0);
        expect(cron.spec.jobTemplate.spec.activeDeadlineSeconds).toBe(360 * 60);
        const pod = cron.spec.jobTemplate.spec.template.spec;
        expect(pod.automountServiceAccountToken).toBe(false);
        expect(pod.containers[0].command).toEqual(["/bin/bash", "/opt/greenplum-k8s/scripts/backup-job.sh", "run"]);
        expect(d.objects.filter((o) => o.kind === "Role" || o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding").map((o) => o.metadata.name)).not.toContain("greenplum-backup");
        const secret = d.object("Secret", "greenplum-backup-s3") as any;
        // The key pair reaches the Secret as Pulumi secrets (masked here), never the settings.
        expect(secret.stringData).toEqual({ accessKeyId: "[secret]", secretAccessKey: "[secret]" });
        const settings = (d.object("ConfigMap", "greenplum-backup") as any).data.settings;
        expect(settings).toContain("GPK_S3_BUCKET=gpk-backups");
        expect(settings).not.toContain("gpksecret");
        const ssh = d.object("NetworkPolicy", "greenplum-backup-ssh") as any;
        expect(ssh.spec.ingress[0].ports).toEqual([{ protocol: "TCP", port: 2222 }]);
        const egress = d.object("NetworkPolicy", "greenplum-backup-store") as any;
        expect(egress.spec.egress[0].to).toEqual([{ ipBlock: { cidr: "198.18.0.1/32" } }]);
        // gp-backup.sh and backup-job.sh ship with the pod scripts.
        const scripts = (d.object("ConfigMap", "greenplum-scripts") as any).data;
        expect(Object.keys(scripts)).toEqual(expect.arrayContaining(["gp-backup.sh", "backup-job.sh"]));
    });

    test("gke: a uniform, non-public, versioned bucket with a retention policy, written by a service account of its own with an HMAC key", async () => {
        const d = await deploy("gke");
        const bucket = d.resource("gcp:storage/bucket:Bucket", "backup-bucket").inputs as any;
        expect(bucket.uniformBucketLevelAccess).toBe(true);
        expect(bucket.publicAccessPrevention).toBe("enforced");
        expect(bucket.versioning).toEqual({ enabled: true });
        expect(bucket.retentionPolicy).toEqual({ retentionPeriod: String(35 * 86400) });
        expect(bucket.forceDestroy).toBe(false);
        const member = d.resource("gcp:storage/bucketIAMMember:BucketIAMMember", "backup-writer-access").inputs as any;
        expect(member.role).toBe("roles/storage.objectAdmin");
        expect(d.ofType("gcp:storage/hmacKey:HmacKey")).toHaveLength(1);
        expect((d.object("ConfigMap", "greenplum-backup") as any).data.settings).toContain("GPK_S3_ENDPOINT=storage.googleapis.com");
    });
});
