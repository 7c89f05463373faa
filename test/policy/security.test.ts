import {
    checkImagesPinned,
    checkLoadBalancer,
    checkNetworkPolicies,
    checkPodSecurity,
    checkSecretEnv,
    imagesPinned,
    loadBalancer,
    networkPolicies,
    pgHba,
    podSecurity,
    secretEnv,
} from "../../policy/rules/security";
import { unpinnedReason } from "../../policy/rules/image-pins";
import { T, greenplumStatefulSet, networkPolicy, restrictedContainer, restrictedPodSpec, runResourcePolicy, runStackPolicy, urnOf, type Obj } from "./helpers";

const ss = { type: T.statefulSet, name: "segment-a" };

function deployment(containers: Obj[], namespace = "greenplum"): Obj {
    return { metadata: { name: "exporter", namespace }, spec: { template: { metadata: { labels: { app: "exporter" } }, spec: restrictedPodSpec(containers) } } };
}

describe("pod-security-restricted", () => {
    it("passes restricted pod templates of every workload kind", () => {
        expect(checkPodSecurity(greenplumStatefulSet("segment-a"), { exemptNamespaces: [] }, ss)).toEqual([]);
        const dep = deployment([restrictedContainer("exporter")]);
        expect(runResourcePolicy(podSecurity, { type: T.deployment, name: "exporter", props: dep })).toEqual([]);
        const cron = { metadata: { name: "backup" }, spec: { jobTemplate: { spec: { template: { spec: restrictedPodSpec([restrictedContainer("gpbackup")]) } } } } };
        expect(runResourcePolicy(podSecurity, { type: T.cronJob, name: "backup", props: cron })).toEqual([]);
    });

    it("rejects a container missing each restricted setting, in one message naming them", () => {
        const props = greenplumStatefulSet("segment-a");
        props.spec.template.spec.containers[0].securityContext = { privileged: true, capabilities: { add: ["SYS_ADMIN"] }, runAsNonRoot: false, seccompProfile: { type: "Unconfined" } };
        const messages = runResourcePolicy(podSecurity, { ...ss, props });
        expect(messages).toHaveLength(1);
        expect(messages[0]).toMatch(/^StatefulSet greenplum\/segment-a container "greenplum": remove privileged: true; set allowPrivilegeEscalation: false; set capabilities.drop/);
        expect(messages[0]).toContain('remove capabilities.add ["SYS_ADMIN"]');
        expect(messages[0]).toContain("set runAsNonRoot: true");
        expect(messages[0]).toContain("found Unconfined");
    });

    it("takes runAsNonRoot and seccomp from the pod when the container does not set them", () => {
        const props = greenplumStatefulSet("segment-a");
        delete props.spec.template.spec.containers[0].securityContext.runAsNonRoot;
        expect(checkPodSecurity(props, { exemptNamespaces: [] }, ss)).toEqual([]);
        delete props.spec.template.spec.securityContext.seccompProfile;
        expect(checkPodSecurity(props, { exemptNamespaces: [] }, ss)).toEqual([
            expect.stringContaining('init container "volume-guard": set seccompProfile.type: RuntimeDefault'),
            expect.stringContaining('container "greenplum": set seccompProfile.type: RuntimeDefault'),
        ]);
    });

    it("rejects hostPath volumes and host namespaces on a Pod", () => {
        const pod = { metadata: { name: "debug" }, spec: { ...restrictedPodSpec([restrictedContainer("sh")]), hostNetwork: true, hostPID: true, volumes: [{ name: "root", hostPath: { path: "/" } }] } };
        const messages = runResourcePolicy(podSecurity, { type: T.pod, name: "debug", props: pod });
        expect(messages).toEqual([
            expect.stringContaining("remove hostNetwork: true"),
            expect.stringContaining("remove hostPID: true"),
            expect.stringContaining('volume "root" is a hostPath volume'),
        ]);
    });

    it("skips exempt namespaces", () => {
        const dep = deployment([{ name: "operator", image: "rook/ceph:v1.20.6" }], "rook-ceph");
        expect(runResourcePolicy(podSecurity, { type: T.deployment, name: "rook", props: dep })).toHaveLength(1);
        expect(runResourcePolicy(podSecurity, { type: T.deployment, name: "rook", props: dep }, { exemptNamespaces: ["rook-ceph"] })).toEqual([]);
    });

    it("ignores non-workload resources", () => {
        expect(runResourcePolicy(podSecurity, { type: T.service, name: "svc", props: { spec: { type: "ClusterIP" } } })).toEqual([]);
    });
});

describe("no-secret-literals-in-env", () => {
    it("passes secretKeyRef, harmless literals and *_FILE paths", () => {
        const props = greenplumStatefulSet("master");
        props.spec.template.spec.containers[0].env.push({ name: "PGPASSWORD_FILE", value: "/etc/greenplum/secret/password" });
        expect(checkSecretEnv(props, { allowedNames: [] }, ss)).toEqual([]);
        expect(runResourcePolicy(secretEnv, { ...ss, props })).toEqual([]);
    });

    it("rejects a literal password and a literal private key", () => {
        const props = greenplumStatefulSet("master");
        props.spec.template.spec.containers[0].env.push({ name: "GPADMIN_PASSWORD", value: "changeme" });
        props.spec.template.spec.containers[0].env.push({ name: "SSH_HOST_CONFIG", value: "-----BEGIN OPENSSH PRIVATE KEY-----\nabc" });
        const messages = runResourcePolicy(secretEnv, { ...ss, props });
        expect(messages).toEqual([expect.stringContaining("env GPADMIN_PASSWORD has a literal value"), expect.stringContaining("env SSH_HOST_CONFIG has a literal value")]);
        expect(messages[0]).toContain("valueFrom.secretKeyRef");
    });

    it("honours allowedNames", () => {
        const props = greenplumStatefulSet("master");
        props.spec.template.spec.containers[0].env.push({ name: "MONKEY_MODE", value: "on" });
        expect(runResourcePolicy(secretEnv, { ...ss, props })).toHaveLength(1);
        expect(runResourcePolicy(secretEnv, { ...ss, props }, { allowedNames: ["MONKEY_MODE"] })).toEqual([]);
    });
});

describe("greenplum-pg-hba", () => {
    const master = (hba: string) => {
        const props = greenplumStatefulSet("master");
        props.spec.template.spec.containers[0].env.push({ name: "GP_HBA_EXTRA", value: hba });
        return { type: T.statefulSet, name: "master", props };
    };

    it("passes md5 for a network and trust for one host", () => {
        expect(runResourcePolicy(pgHba, master("host all all 10.0.0.0/8 md5\nhost all etl 10.1.2.3/32 trust"))).toEqual([]);
    });

    it("refuses, in the rendered master pod, what the config check refuses: a netmask-form network trusted, a method Greenplum does not know", () => {
        expect(runResourcePolicy(pgHba, master("host all all 10.0.0.0 255.0.0.0 trust\nhost all all 10.0.0.0/8 MD5"))).toEqual([
            'StatefulSet greenplum/master: GP_HBA_EXTRA (greenplum-k8s:greenplum.masterAndStandby.hostBasedAuthentication) line 1 ("host all all 10.0.0.0 255.0.0.0 trust") trusts every host in 10.0.0.0 mask 255.0.0.0, which hides authentication bugs: use md5 or scram-sha-256, or name one host (a.b.c.d/32 or an IPv6 address/128).',
            'StatefulSet greenplum/master: GP_HBA_EXTRA (greenplum-k8s:greenplum.masterAndStandby.hostBasedAuthentication) line 2 ("host all all 10.0.0.0/8 MD5") has authentication method "MD5", which Greenplum does not know (methods are lower case: md5).',
        ]);
    });

    it("refuses password for one host in production only", () => {
        const resource = master("host all etl 10.1.2.3/32 password");
        expect(runResourcePolicy(pgHba, resource)).toEqual([]);
        expect(runResourcePolicy(pgHba, resource, { production: true })).toEqual([expect.stringContaining("uses password, which sends the password in clear text")]);
    });
});

describe("images-pinned", () => {
    it.each([
        ["woblerr/greenplum:6.27.1", undefined],
        ["localhost:5000/greenplum:6.24.3-5a8295d6d4c1", undefined],
        ["busybox:1_1.35.0-4_deb12u1_b1", undefined],
        ["coredns/coredns:v1.12.4", undefined],
        [`quay.io/ceph/ceph@sha256:${"a".repeat(64)}`, undefined],
        ["woblerr/greenplum", "has no tag"],
        ["localhost:5000/greenplum", "has no tag"],
        ["woblerr/greenplum:latest", 'uses the tag "latest"'],
        ["woblerr/greenplum:6", 'uses the tag "6", which names no full version and moves to new releases'],
        ["woblerr/greenplum:6.27", 'uses the tag "6.27", which names no full version and moves to new releases'],
        ["postgres:16-alpine", 'uses the tag "16-alpine", which names no full version and moves to new releases'],
        ["localhost:5000/greenplum:dev", 'uses the tag "dev", which names no full version and moves to new releases'],
    ])("unpinnedReason(%s) is %s", (image, reason) => {
        expect(unpinnedReason(image)).toBe(reason);
    });

    it("passes pinned images", () => {
        expect(checkImagesPinned(greenplumStatefulSet("master"), {}, ss)).toEqual([]);
        expect(runResourcePolicy(imagesPinned, { ...ss, props: greenplumStatefulSet("master") })).toEqual([]);
    });

    it("rejects latest, untagged and missing images, init containers included", () => {
        const props = greenplumStatefulSet("master");
        props.spec.template.spec.initContainers[0].image = "busybox";
        props.spec.template.spec.containers[0].image = "woblerr/greenplum:latest";
        props.spec.template.spec.containers.push({ name: "sidecar" });
        expect(runResourcePolicy(imagesPinned, { ...ss, props })).toEqual([
            expect.stringContaining('container "volume-guard": image "busybox" has no tag'),
            expect.stringContaining('container "greenplum": image "woblerr/greenplum:latest" uses the tag "latest"'),
            expect.stringContaining('container "sidecar": image is not set'),
        ]);
    });
});

describe("no-public-load-balancer", () => {
    const svc = { type: T.service, name: "greenplum" };
    const lb = (metadata: Obj, spec: Obj = {}) => ({ metadata: { name: "greenplum", namespace: "greenplum", ...metadata }, spec: { type: "LoadBalancer", ...spec } });

    it("passes internal load balancers, restricted ones and other service types", () => {
        expect(checkLoadBalancer(lb({ annotations: { "networking.gke.io/load-balancer-type": "Internal" } }), { allowedPublicServices: [] }, svc)).toEqual([]);
        expect(checkLoadBalancer(lb({ annotations: { "cloud.google.com/load-balancer-type": "Internal" } }), { allowedPublicServices: [] }, svc)).toEqual([]);
        expect(runResourcePolicy(loadBalancer, { ...svc, props: lb({}, { loadBalancerSourceRanges: ["203.0.113.0/24"] }) })).toEqual([]);
        expect(runResourcePolicy(loadBalancer, { ...svc, props: { spec: { type: "NodePort" } } })).toEqual([]);
    });

    it("rejects an open load balancer", () => {
        expect(runResourcePolicy(loadBalancer, { ...svc, props: lb({}, { loadBalancerSourceRanges: [] }) })).toEqual([
            expect.stringContaining("Service greenplum/greenplum: a LoadBalancer open to the internet; set spec.loadBalancerSourceRanges"),
        ]);
    });

    it("rejects source ranges that include 0.0.0.0/0, and says how to allow it deliberately", () => {
        const open = lb({}, { loadBalancerSourceRanges: ["10.0.0.0/8", "0.0.0.0/0"] });
        expect(runResourcePolicy(loadBalancer, { ...svc, props: open })).toEqual([
            "Service greenplum/greenplum: a LoadBalancer open to everywhere (loadBalancerSourceRanges has 0.0.0.0/0); set spec.loadBalancerSourceRanges to the client CIDRs " +
                '(greenplum-k8s:greenplum.service.loadBalancerSourceRanges) or make it internal (annotation networking.gke.io/load-balancer-type: "Internal", ' +
                "greenplum-k8s:greenplum.service.internal true). To expose it deliberately, list it in this policy's allowedPublicServices " +
                '("no-public-load-balancer": {"allowedPublicServices": ["greenplum/greenplum"]}) in the stack\'s policy config.',
        ]);
        expect(runResourcePolicy(loadBalancer, { ...svc, props: open }, { allowedPublicServices: ["greenplum/greenplum"] })).toEqual([]);
        expect(runResourcePolicy(loadBalancer, { ...svc, props: open }, { allowedPublicServices: ["other/greenplum"] })).toHaveLength(1);
    });
});

describe("greenplum-network-policy", () => {
    const set = { type: T.statefulSet, name: "segment-a", inputs: greenplumStatefulSet("segment-a") };
    const np = (inputs: Obj, name = "np") => ({ type: T.networkPolicy, name, inputs });

    it("passes a policy selecting the pods with Ingress and Egress", () => {
        const resources = [set, np(networkPolicy())];
        expect(checkNetworkPolicies(resources.map((r) => ({ ...r, urn: urnOf(r), props: r.inputs })), {})).toEqual([]);
        expect(runStackPolicy(networkPolicies, resources)).toEqual([]);
    });

    it("accepts Ingress and Egress from two policies, and an empty podSelector", () => {
        const ingress = networkPolicy();
        ingress.spec.policyTypes = ["Ingress"];
        const egress = { metadata: { namespace: "greenplum" }, spec: { podSelector: {}, egress: [{}] } };
        expect(runStackPolicy(networkPolicies, [set, np(ingress, "in"), np(egress, "out")])).toEqual([]);
    });

    it("rejects missing coverage: no policy, Ingress only, another namespace, a non-matching selector", () => {
        const expected = (what: string) => [{ urn: urnOf(set), message: expect.stringContaining(`no NetworkPolicy in its namespace isolates ${what} for its pods`) }];
        expect(runStackPolicy(networkPolicies, [set])).toEqual(expected("Ingress and Egress"));
        const ingressOnly = networkPolicy();
        delete ingressOnly.spec.policyTypes;
        delete ingressOnly.spec.egress;
        expect(runStackPolicy(networkPolicies, [set, np(ingressOnly)])).toEqual(expected("Egress"));
        const elsewhere = networkPolicy();
        elsewhere.metadata.namespace = "default";
        expect(runStackPolicy(networkPolicies, [set, np(elsewhere)])).toEqual(expected("Ingress and Egress"));
        const other = networkPolicy();
        other.spec.podSelector = { matchLabels: { "app.kubernetes.io/component": "master" } };
        expect(runStackPolicy(networkPolicies, [set, np(other)])).toEqual(expected("Ingress and Egress"));
    });
});
