/**
 * The catalogue: every operation of the database by name, with its scope, input checks and
 * implementation. Adding an operation means one entry here (and its types in
 * `../operations.ts`); every surface then reaches it through the same executor.
 */
import { checkObject } from "../checks.ts";
import type { OperationName } from "../operations.ts";
import { aggregateOperations } from "./aggregates.ts";
import { conditionalAppendOperations } from "./conditional_appends.ts";
import { eventOperations } from "./events.ts";
import { pluginOperations } from "./plugins.ts";
import { queryOperations } from "./queries.ts";
import { remoteOperations } from "./remotes.ts";
import { replicationOperations } from "./replication.ts";
import { schemaOperations } from "./schemas.ts";
import type { Operations } from "./spec.ts";
import { stagingOperations } from "./staging.ts";
import { tokenOperations } from "./tokens.ts";
import { verifyOperations } from "./verify.ts";

export type { OperationContext, OperationSpec, ScopeRule } from "./spec.ts";

/** Every operation. */
export const CATALOGUE: Operations<OperationName> = {
  describeCaller: {
    scope: { action: null },
    check: (raw) => checkObject(raw ?? {}, [], "the input") as Record<string, never>,
    run: ({ node, who }) => Promise.resolve(node.access.describe(who)),
  },
  ...eventOperations,
  ...conditionalAppendOperations,
  ...aggregateOperations,
  ...queryOperations,
  ...stagingOperations,
  ...schemaOperations,
  ...tokenOperations,
  ...verifyOperations,
  ...remoteOperations,
  ...replicationOperations,
  ...pluginOperations,
};
