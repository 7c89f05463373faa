/** Transpile-only (isolatedModules): type checking is its own step (`npm run typecheck`). */
module.exports = {
    testEnvironment: "node",
    roots: ["<rootDir>/test"],
    testMatch: ["**/*.test.ts"],
    transform: { "^.+\\.ts$": ["ts-jest", { isolatedModules: true, diagnostics: false }] },
    testTimeout: 30000,
};
