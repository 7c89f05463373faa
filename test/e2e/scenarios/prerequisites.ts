/** Runs before any scenario: says exactly what is missing instead of failing half-way through. */
import { checkPrerequisites } from "../runner/image";
import { WORK_ROOT } from "./harness";

export default function prerequisites(): void {
    const { problems } = checkPrerequisites(process.env, WORK_ROOT);
    if (problems.length > 0) throw new Error(`the pod runner cannot run the scenarios:\n- ${problems.join("\n- ")}`);
}
