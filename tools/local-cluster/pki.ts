/**
 * The local cluster's certificates, made with Debian's openssl: one CA, a serving certificate for
 * the API server and the kubelet, and a client certificate per component with the identity the
 * API server's authorizers (Node, RBAC) expect of it.
 */
import * as fs from "fs";
import * as path from "path";
import { run } from "./shell";
import { API_SERVICE_IP, CLUSTER_DOMAIN, NODE_IP, NODE_NAME } from "./plan";

export interface Certificate {
    /** File stem: <pki>/<name>.crt and .key. */
    name: string;
    commonName: string;
    /** Subject organisations: Kubernetes reads them as the client's groups. */
    groups: string[];
    usage: "client" | "server";
    altNames: string[];
}

/** The identities the API server authorizes: system:masters is RBAC's superuser group, system:nodes the Node authorizer's. */
export function certificates(): Certificate[] {
    const client = (name: string, commonName: string, groups: string[] = []): Certificate => ({ name, commonName, groups, usage: "client", altNames: [] });
    return [
        {
            name: "apiserver",
            commonName: "kube-apiserver",
            groups: [],
            usage: "server",
            // Clients inside pods reach it as the kubernetes Service; people and components at the node address.
            altNames: [
                `IP:${NODE_IP}`,
                `IP:${API_SERVICE_IP}`,
                "IP:127.0.0.1",
                "DNS:kubernetes",
                "DNS:kubernetes.default",
                "DNS:kubernetes.default.svc",
                `DNS:kubernetes.default.svc.${CLUSTER_DOMAIN}`,
                "DNS:localhost",
            ],
        },
        { name: "kubelet-serving", commonName: NODE_NAME, groups: [], usage: "server", altNames: [`IP:${NODE_IP}`, `DNS:${NODE_NAME}`] },
        client("admin", "greenplum-k8s-admin", ["system:masters"]),
        // The API server's client for kubelet logs, exec and port-forward.
        client("apiserver-kubelet-client", "kube-apiserver-kubelet-client", ["system:masters"]),
        client("controller-manager", "system:kube-controller-manager"),
        client("scheduler", "system:kube-scheduler"),
        client("kubelet", `system:node:${NODE_NAME}`, ["system:nodes"]),
        client("kube-proxy", "system:kube-proxy"),
        client("kube-router", "greenplum-k8s-kube-router"),
    ];
}

/** The openssl extension section of one certificate. */
export function extensions(cert: Certificate): string {
    const lines = [
        "basicConstraints = critical, CA:FALSE",
        "keyUsage = critical, digitalSignature, keyEncipherment",
        `extendedKeyUsage = ${cert.usage === "server" ? "serverAuth" : "clientAuth"}`,
    ];
    if (cert.altNames.length > 0) lines.push(`subjectAltName = ${cert.altNames.join(", ")}`);
    return `${lines.join("\n")}\n`;
}

/** An openssl -subj string; groups first, as Kubernetes reads every O= as a group. */
export function subject(cert: Pick<Certificate, "commonName" | "groups">): string {
    return [...cert.groups.map((g) => `/O=${g}`), `/CN=${cert.commonName}`].join("");
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** Makes the CA, every certificate and the service-account signing key, unless they exist. */
export function ensurePki(dir: string): void {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = (name: string) => path.join(dir, name);
    if (!fs.existsSync(file("ca.crt"))) {
        run("openssl", ["req", "-x509", "-new", ...EC_KEY, "-keyout", file("ca.key"), "-out", file("ca.crt"), "-days", "3650", "-subj", "/CN=greenplum-k8s-local-ca"]);
    }
    for (const cert of certificates()) {
        if (fs.existsSync(file(`${cert.name}.crt`))) continue;
        fs.writeFileSync(file(`${cert.name}.ext`), extensions(cert));
        run("openssl", ["req", "-new", ...EC_KEY, "-keyout", file(`${cert.name}.key`), "-out", file(`${cert.name}.csr`), "-subj", subject(cert)]);
        run("openssl", ["x509", "-req", "-in", file(`${cert.name}.csr`), "-CA", file("ca.crt"), "-CAkey", file("ca.key"), "-CAcreateserial", "-days", "3650", "-out", file(`${cert.name}.crt`), "-extfile", file(`${cert.name}.ext`)]);
        fs.rmSync(file(`${cert.name}.csr`));
    }
    if (!fs.existsSync(file("service-account.key"))) {
        run("openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", file("service-account.key")]);
        run("openssl", ["pkey", "-in", file("service-account.key"), "-pubout", "-out", file("service-account.pub")]);
    }
    for (const name of fs.readdirSync(dir)) if (name.endsWith(".key")) fs.chmodSync(file(name), 0o600);
}
