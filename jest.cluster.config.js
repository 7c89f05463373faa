/** The real-cluster scenarios: the real Pulumi CLI against `npm run cluster:up` (`GPHOME=... npm run test:cluster`, as root). */
module.exports = {
    testEnvironment: "node",
    roots: ["<rootDir>/test/cluster"],
    testMatch: ["**/*.cluster.ts"],
    transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] },
    maxWorkers: 1,
    testTimeout: 3_600_000,
};
