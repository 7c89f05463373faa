import type { GreenplumPolicy } from "./rules/common";
import { availabilityPolicies } from "./rules/availability";
import { dataSafetyPolicies } from "./rules/data-safety";
import { gkePolicies } from "./rules/gke";
import { securityPolicies } from "./rules/security";

/** Every policy of the greenplum-k8s pack, in report order. Importing this starts nothing. */
export const allPolicies: GreenplumPolicy[] = [...dataSafetyPolicies, ...availabilityPolicies, ...securityPolicies, ...gkePolicies];
