import { PolicyPack } from "@pulumi/policy";
import { allPolicies } from "./policies";

// The pack's entry point: constructing PolicyPack starts the policy server, so nothing else may
// import this file (rules live in rules/*.ts, the list in policies.ts).
new PolicyPack("greenplum-k8s", {
    description: "Guard rails for greenplum-k8s: data safety, availability, Pod Security and GKE hardening.",
    policies: allPolicies,
});
