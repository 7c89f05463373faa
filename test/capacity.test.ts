import { greenplumServerSettings, serverSettingsEnv, vmemProtectLimitMb } from "../components/greenplum/server-settings";
import { parseStackConfig } from "../stacks";
import { capacityRow, deriveSizes, gkeAllocatable, gkeGreenplumPool, greenplumPods, MACHINE_TYPES, minikubePool, schedulable, type Pool } from "../stacks/capacity";
import { mebibytes, millicores } from "../stacks/quantity";
import { readStackFile } from "../tools/stack-file";
import * as path from "path";
import { configProblems, deploy } from "./harness";

const shipped = (stack: string) => parseStackConfig(readStackFile(path.join(__dirname, "..", `Pulumi.${stack}.yaml`)).config);
const production = { masters: 2, primaries: 4, segments: 8, mirrors: true, antiAffinity: true };

describe("machine types and GKE's allocatable formula", () => {
    test("the table has Compute Engine's vCPUs and GiB per family", () => {
        expect(MACHINE_TYPES["n2-highmem-8"]).toEqual({ name: "n2-highmem-8", vcpus: 8, memoryGiB: 64 });
        expect(MACHINE_TYPES["n2-standard-4"]).toEqual({ name: "n2-standard-4", vcpus: 4, memoryGiB: 16 });
        expect(MACHINE_TYPES["c3-highcpu-22"]).toEqual({ name: "c3-highcpu-22", vcpus: 22, memoryGiB: 44 });
        expect(MACHINE_TYPES["e2-highmem-32"]).toBeUndefined();
    });

    test("n2-highmem-8: 7.91 CPU (6+1+0.5·2+0.25·4 % reserved) and 64 GiB less 5.48 GiB and 100 MiB eviction", () => {
        expect(gkeAllocatable(MACHINE_TYPES["n2-highmem-8"])).toEqual({ milli: 7910, mib: 64 * 1024 - Math.round(5.48 * 1024) - 100 });
    });

    test("a 4 GiB machine keeps 75 % of its first 4 GiB", () => {
        expect(gkeAllocatable({ name: "x", vcpus: 1, memoryGiB: 4 })).toEqual({ milli: 940, mib: 3072 - 100 });
    });
});

describe("which pods may share a node", () => {
    const pool = (nodes: number, milli: number, mib: number): Pool => ({ description: "test", nodes, free: { milli, mib }, allocatable: { milli, mib } });
    const four = { milli: 4000, mib: 16384 };

    test("issue #9: 10 pods of 4 CPU on 3 nodes of ~7.2 free CPU do not fit; on 6 nodes they do not either (primaries and mirrors apart)", () => {
        expect(schedulable(pool(3, 7200, 58000), production, four, four)).toBe(false);
        // 6 nodes: one pod each fits, but 10 pods need 10 nodes.
        expect(schedulable(pool(6, 7200, 58000), production, four, four)).toBe(false);
        expect(schedulable(pool(10, 7200, 58000), production, four, four)).toBe(true);
    });

    test("with anti-affinity the two copies of a segment never share a node; other pods may", () => {
        const slot = { milli: 1000, mib: 1024 };
        const pair = { masters: 1, primaries: 1, segments: 2, mirrors: true, antiAffinity: true };
        expect(schedulable(pool(1, 4000, 4096), pair, slot, slot)).toBe(false);
        expect(schedulable(pool(2, 4000, 4096), pair, slot, slot)).toBe(true);
        // 12 pods in 12 slots: segment-a-i and segment-b-j (i ≠ j) share nodes freely.
        const five = { masters: 2, primaries: 5, segments: 10, mirrors: true, antiAffinity: true };
        expect(schedulable(pool(3, 4000, 4096), five, slot, slot)).toBe(true);
    });

    test("a packing the scheduler's spreading misses is refused: on 3 nodes, segments at a quarter and masters at half a node fit only if the masters come first", () => {
        const p = pool(3, 8000, 64000);
        expect(schedulable(p, production, { milli: 2000, mib: 16000 }, { milli: 4000, mib: 32000 })).toBe(false);
        expect(schedulable(p, production, { milli: 2000, mib: 16000 }, { milli: 2000, mib: 16000 })).toBe(true);
    });

    test("with anti-affinity master and standby never share a node", () => {
        const slot = { milli: 100, mib: 100 };
        const pods = { masters: 2, primaries: 1, segments: 2, mirrors: true, antiAffinity: true };
        expect(schedulable(pool(1, 4000, 4096), pods, slot, slot)).toBe(false);
        expect(schedulable(pool(1, 4000, 4096), { ...pods, antiAffinity: false }, slot, slot)).toBe(true);
    });

    test("derived sizes are the largest that schedule in any order: a quarter of a node each on 3 nodes, half on 6", () => {
        const three = deriveSizes(pool(3, 8000, 64000), production)!;
        expect(three).toEqual({ segment: { milli: 2000, mib: 16000 }, master: { milli: 2000, mib: 16000 }, share: 10 / 12 });
        const six = deriveSizes(pool(6, 8000, 64000), production)!;
        expect(six).toEqual({ segment: { milli: 4000, mib: 32000 }, master: { milli: 4000, mib: 32000 }, share: 10 / 12 });
    });
});

describe("the shipped stacks fit", () => {
    test("gke: segments and master sizes are derived from n2-highmem-8 and give Greenplum at least 75 % of the pool", () => {
        const config = shipped("gke");
        const pool = gkeGreenplumPool(config.gke!)!;
        expect(pool.nodes).toBe(3);
        const segment = { milli: millicores(config.greenplum.segments.cpu), mib: mebibytes(config.greenplum.segments.memory) };
        const master = { milli: millicores(config.greenplum.masterAndStandby.cpu), mib: mebibytes(config.greenplum.masterAndStandby.memory) };
        expect(schedulable(pool, greenplumPods(config.greenplum), segment, master)).toBe(true);
        const used = { milli: 8 * segment.milli + 2 * master.milli, mib: 8 * segment.mib + 2 * master.mib };
        expect(used.milli / (pool.allocatable.milli * pool.nodes)).toBeGreaterThanOrEqual(0.75);
        expect(used.mib / (pool.allocatable.mib * pool.nodes)).toBeGreaterThanOrEqual(0.75);
        expect(config.greenplum.segments).toMatchObject({ cpu: "1794m", memory: "14636Mi" });
        expect(config.greenplum.masterAndStandby).toMatchObject({ cpu: "1794m", memory: "14636Mi" });
    });

    test("gke: the StatefulSets request what the model derived, as request and limit", async () => {
        const gke = await deploy("gke");
        const container = (gke.object("StatefulSet", "segment-a").spec as any).template.spec.containers[0];
        expect(container.resources).toEqual({ requests: { cpu: "1794m", memory: "14636Mi" }, limits: { cpu: "1794m", memory: "14636Mi" } });
    });

    test("dev fits a minikube start --cpus 4 --memory 8g node next to minikube's control plane", () => {
        const config = shipped("dev");
        const pool = minikubePool(config.storage.backend);
        const segment = { milli: millicores(config.greenplum.segments.cpu), mib: mebibytes(config.greenplum.segments.memory) };
        const master = { milli: millicores(config.greenplum.masterAndStandby.cpu), mib: mebibytes(config.greenplum.masterAndStandby.memory) };
        expect(schedulable(pool, greenplumPods(config.greenplum), segment, master)).toBe(true);
    });

    test("the README shows the model's table for the default machine types", () => {
        const readme = require("fs").readFileSync(path.join(__dirname, "..", "README.md"), "utf8") as string;
        for (const nodes of [1, 2]) expect(readme).toContain(capacityRow("n2-highmem-8", nodes, 3, production));
        expect(readme).toContain(capacityRow("n2-standard-8", 1, 3, production));
        expect(readme).toContain(capacityRow("n2-highmem-16", 1, 3, production));
    });
});

describe("validation refuses pods that cannot be scheduled, naming the keys and numbers", () => {
    test("issue #9's gke stack with 4 CPU / 16Gi pods on 3 n2-highmem-8 nodes", async () => {
        const problems = await configProblems("gke", { "greenplum-k8s:greenplum": { segments: { cpu: "4", memory: "16Gi" }, masterAndStandby: { cpu: "4", memory: "16Gi" } } });
        expect(problems).toHaveLength(1);
        expect(problems[0]).toMatch(/^greenplum-k8s:greenplum\.segments: the 10 Greenplum pods cannot all be scheduled on 3 n2-highmem-8 nodes of gke\.nodePools\.greenplum/);
        expect(problems[0]).toContain("segments request 4 CPU / 16Gi × 8, masterAndStandby 4 CPU / 16Gi × 2");
        expect(problems[0]).toContain("gke.nodePools.greenplum.machineType or gke.nodePools.greenplum.nodeCountPerZone");
        expect(problems[0]).toContain("sizes that fit: segments 1794m CPU / 14636Mi, masterAndStandby 1794m CPU / 14636Mi");
    });

    test("more nodes make the same pods fit", async () => {
        expect(await configProblems("gke", { "greenplum-k8s:gke": { nodePools: { greenplum: { nodeCountPerZone: 4 } } }, "greenplum-k8s:greenplum": { segments: { cpu: "4", memory: "16Gi" }, masterAndStandby: { cpu: "4", memory: "16Gi" } } })).toEqual([]);
    });

    test("a machine type outside the table is refused with the families offered", async () => {
        const problems = await configProblems("gke", { "greenplum-k8s:gke": { nodePools: { greenplum: { machineType: "m1-ultramem-40" } } } });
        expect(problems).toEqual([expect.stringMatching(/^greenplum-k8s:gke\.nodePools\.greenplum\.machineType: "m1-ultramem-40" is not in the capacity model's table: choose one of e2-standard, .*n2-highmem/)]);
    });

    test("dev pods larger than the minikube node are refused", async () => {
        const problems = await configProblems("dev", { "greenplum-k8s:greenplum": { segments: { memory: "4Gi" } } });
        expect(problems).toEqual([expect.stringContaining("greenplum-k8s:greenplum.segments: the 3 Greenplum pods cannot all be scheduled on the minikube node (minikube start --cpus 4 --memory 8g)")]);
    });

    test("a capacity problem is listed with the schema problems of other keys, in one run", async () => {
        const problems = await configProblems("dev", { "greenplum-k8s:greenplum": { database: "Analytics", segments: { memory: "4Gi" } } });
        expect(problems).toEqual([
            expect.stringMatching(/^greenplum-k8s:greenplum\.database: must be a lower-case SQL identifier/),
            expect.stringContaining("greenplum-k8s:greenplum.segments: the 3 Greenplum pods cannot all be scheduled on the minikube node"),
        ]);
    });

    test("a capacity problem that depends on a refused key waits for that key's fix", async () => {
        // Alone, cpu 3 does not fit the node; with the memory refused the capacity verdict is left for the next run.
        expect(await configProblems("dev", { "greenplum-k8s:greenplum": { segments: { cpu: "3" } } })).toEqual([expect.stringContaining("greenplum-k8s:greenplum.segments: the 3 Greenplum pods cannot all be scheduled")]);
        const problems = await configProblems("dev", { "greenplum-k8s:greenplum": { segments: { cpu: "3", memory: "4 gigs" } } });
        expect(problems).toEqual([expect.stringMatching(/^greenplum-k8s:greenplum\.segments\.memory: must be/)]);
    });

    test("memory too small for Greenplum's own protection is refused", async () => {
        const problems = await configProblems("dev", { "greenplum-k8s:greenplum": { masterAndStandby: { memory: "512Mi" } } });
        expect(problems).toEqual(["greenplum-k8s:greenplum.masterAndStandby.memory: 512Mi leaves Greenplum a gp_vmem_protect_limit of 60 MB (under 256): give the pods at least 1Gi"]);
    });
});

describe("Ceph holds the claims, or the config says it over-commits", () => {
    test("issue #9: 3 × 512Gi OSDs at size 3 do not hold 4.2 TiB of claims", async () => {
        const problems = await configProblems("gke", { "greenplum-k8s:storage": { rookCeph: { osd: { source: "pvc", count: 3, size: "512Gi", storageClassName: "premium-rwo" } } } });
        expect(problems).toEqual([
            "greenplum-k8s:storage.rookCeph.osd.size: 3 OSDs of 512Gi at 3 replicas hold 486 GiB (at Ceph's full ratio 0.95), less than the 4200 GiB of Greenplum volume claims: " +
                "set storage.rookCeph.osd.size to at least 4422Gi, raise storage.rookCeph.osd.count, or set storage.rookCeph.overcommit: yes to accept thin provisioning (writes stop when Ceph is full)",
        ]);
    });

    test("the suggested OSD size, fed back, holds the claims", async () => {
        expect(await configProblems("gke", { "greenplum-k8s:storage": { rookCeph: { osd: { source: "pvc", count: 3, size: "4422Gi", storageClassName: "premium-rwo" } } } })).toEqual([]);
    });

    test("claims past what one Persistent Disk per OSD can hold: the fix is 64Ti OSDs, more of them, and it works", async () => {
        const big = { "greenplum-k8s:greenplum": { segments: { storage: "40Ti" } } };
        const problems = await configProblems("gke", big);
        expect(problems).toEqual([
            "greenplum-k8s:storage.rookCeph.osd.count: 6 OSDs of 2304Gi at 3 replicas hold 4377 GiB (at Ceph's full ratio 0.95), less than the 327880 GiB of Greenplum volume claims: " +
                "set storage.rookCeph.osd.size to 64Ti (one Persistent Disk's limit) and storage.rookCeph.osd.count to at least 18 (a multiple of the 3 zones), or set storage.rookCeph.overcommit: yes to accept thin provisioning (writes stop when Ceph is full)",
        ]);
        expect(await configProblems("gke", { ...big, "greenplum-k8s:storage": { rookCeph: { osd: { source: "pvc", count: 18, size: "64Ti", storageClassName: "premium-rwo" } } } })).toEqual([]);
    });

    test("an explicit overcommit is accepted", async () => {
        expect(await configProblems("gke", { "greenplum-k8s:storage": { rookCeph: { overcommit: "yes", osd: { source: "pvc", count: 3, size: "512Gi", storageClassName: "premium-rwo" } } } })).toEqual([]);
    });

    test("with a copy per zone, the OSDs come in equal numbers per zone", async () => {
        expect(await configProblems("gke", { "greenplum-k8s:storage": { rookCeph: { osd: { source: "pvc", count: 7, size: "2304Gi", storageClassName: "premium-rwo" } } } })).toEqual([
            "greenplum-k8s:storage.rookCeph.osd.count: must be a multiple of the 3 zones in gke.zones (got 7): each zone keeps one copy, and the zone with the fewest OSDs bounds what the pool holds",
        ]);
    });

    test("the shipped production default holds its claims: 6 × 2304Gi", () => {
        expect(shipped("gke").storage.rookCeph.osd).toMatchObject({ count: 6, size: "2304Gi" });
    });
});

describe("Greenplum's memory settings follow the pod's memory limit", () => {
    test("Greenplum 6's gp_vmem formula with the container limit as RAM, no swap and one segment per pod", () => {
        // (14636 − (384 + 0.05 × 14636)) / 1.7
        expect(vmemProtectLimitMb("14636Mi")).toBe(Math.floor((14636 - 384 - 0.05 * 14636) / 1.7));
        expect(vmemProtectLimitMb("1Gi")).toBe(346);
    });

    test("Greenplum's protection acts before the container limit: protect limit plus what the pod holds outside vmem stays below it", () => {
        for (const limit of ["1Gi", "4Gi", "14636Mi", "64Gi"]) {
            expect(vmemProtectLimitMb(limit) + 384).toBeLessThan(mebibytes(limit));
        }
    });

    test("one line per setting: name, segment value, master value, in Greenplum's units", () => {
        expect(serverSettingsEnv(greenplumServerSettings("14636Mi", "29272Mi"))).toBe(
            ["gp_resource_manager queue queue", "gp_vmem_protect_limit 7953 16132", "statement_mem 357MB 725MB", "max_statement_mem 7157MB 14518MB"].join("\n"),
        );
        expect(greenplumServerSettings("", "1Gi")).toEqual([]);
    });

    test("the master pod gets GP_SERVER_SETTINGS; segment pods do not", async () => {
        const dev = await deploy("dev");
        const env = (set: string) => ((dev.object("StatefulSet", set).spec as any).template.spec.containers[0].env as { name: string; value?: string }[]);
        expect(env("master").find((e) => e.name === "GP_SERVER_SETTINGS")?.value).toContain("gp_vmem_protect_limit 346 346");
        expect(env("segment-a").find((e) => e.name === "GP_SERVER_SETTINGS")).toBeUndefined();
    });
});
