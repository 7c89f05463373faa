export { acceptedDataClassWarnings, parseStackConfig, stackConfigWarnings, ConfigError, CONFIG_NAMESPACE } from "./config";
export { DEFAULT_GREENPLUM_IMAGE } from "./defaults";
export type { StackConfig, Profile, TargetConfig, GkeConfig, StorageConfig, GreenplumConfig } from "./schema";
