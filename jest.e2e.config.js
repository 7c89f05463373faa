/** The pod runner's scenarios against a real Greenplum (`GPHOME=... npm run test:e2e`, as root). */
module.exports = {
    testEnvironment: "node",
    roots: ["<rootDir>/test/e2e/scenarios"],
    testMatch: ["**/*.e2e.ts"],
    transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] },
    globalSetup: "<rootDir>/test/e2e/scenarios/prerequisites.ts",
    maxWorkers: 1,
    // The runner's delayed kubelet actions (ConfigMap syncs, node-monitor timers) may outlive a
    // cluster by a minute; the machine side is cleaned up by each file's afterAll.
    forceExit: true,
    testTimeout: 1_800_000,
};
