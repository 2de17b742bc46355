/**
 * What a token may do: actions and resources, with `*` / `?` wildcards.
 *
 * Resources are strings of the form `aggregate:TYPE:ID`, `schema:TYPE`,
 * `token:ID`, `remote:NAME` and `plugin:NAME`. The parts are escaped (`%`, `:`, `*`, `?` become `%XX`) so that a
 * `:` inside an aggregate type cannot make one type's scope reach another.
 */
import { DbxError } from "../errors.ts";

/** Every action a token can be granted. `*` grants all of them. */
export const ACTIONS = [
  "aggregate.read",
  "aggregate.append",
  "aggregate.archive",
  // Replication: import events with their original metadata (a pinned peer, or `*`).
  "aggregate.import",
  "schema.read",
  "schema.write",
  "token.manage",
  "remote.manage",
  "plugin.manage",
] as const;

/** One permission checked by `authorize`. */
export type Action = typeof ACTIONS[number];

/** The resource kinds a pattern may name. */
const RESOURCE_KINDS = ["aggregate", "schema", "token", "remote", "plugin"];
const MAX_PATTERN_BYTES = 512;
const MAX_SCOPE_ENTRIES = 64;

/** Escape one resource part so that it cannot contain a separator or a wildcard. */
function escapePart(part: string): string {
  return part.replace(/[%:*?]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * The resource string for one aggregate.
 *
 * @example
 * ```ts
 * aggregateResource("patient", "p-001"); // "aggregate:patient:p-001"
 * ```
 */
export function aggregateResource(aggregateType: string, aggregateId: string): string {
  return `aggregate:${escapePart(aggregateType)}:${escapePart(aggregateId)}`;
}

/**
 * The resource string for one aggregate type's schema.
 *
 * @example
 * ```ts
 * schemaResource("patient"); // "schema:patient"
 * ```
 */
export function schemaResource(aggregateType: string): string {
  return `schema:${escapePart(aggregateType)}`;
}

/**
 * The resource string for one token (by id); `tokenResource()` names all tokens.
 *
 * @example
 * ```ts
 * tokenResource(); // "token:*"
 * ```
 */
export function tokenResource(tokenId?: string): string {
  return tokenId === undefined ? "token:*" : `token:${escapePart(tokenId)}`;
}

/**
 * The resource string for one replication remote (by name); `remoteResource()` names all.
 *
 * @example
 * ```ts
 * remoteResource("standby"); // "remote:standby"
 * ```
 */
export function remoteResource(name?: string): string {
  return name === undefined ? "remote:*" : `remote:${escapePart(name)}`;
}

/**
 * The resource string for one plugin instance (by name); `pluginResource()` names all.
 *
 * @example
 * ```ts
 * pluginResource("audit-log"); // "plugin:audit-log"
 * ```
 */
export function pluginResource(name?: string): string {
  return name === undefined ? "plugin:*" : `plugin:${escapePart(name)}`;
}

/**
 * Glob match: `*` matches any run of characters (also none), `?` exactly one,
 * everything else itself. Linear-time greedy matching with one backtrack
 * point, so hostile patterns cannot make it slow.
 *
 * @example
 * ```ts
 * matchResource("aggregate:patient:*", "aggregate:patient:p-001"); // true
 * matchResource("aggregate:patient:p-00?", "aggregate:patient:p-0010"); // false
 * ```
 */
export function matchResource(pattern: string, resource: string): boolean {
  let p = 0;
  let r = 0;
  let starP = -1;
  let starR = 0;
  while (r < resource.length) {
    const pc = pattern[p];
    if (p < pattern.length && (pc === "?" || pc === resource[r]) && pc !== "*") {
      p++;
      r++;
    } else if (pc === "*") {
      starP = p++;
      starR = r;
    } else if (starP >= 0) {
      p = starP + 1;
      r = ++starR;
    } else {
      return false;
    }
  }
  while (pattern[p] === "*") p++;
  return p === pattern.length;
}

/** True when any of `patterns` matches `value`. */
export function matchAny(patterns: readonly string[], value: string): boolean {
  for (const pattern of patterns) {
    if (pattern === "*" || matchResource(pattern, value)) return true;
  }
  return false;
}

/** A token's granted scope. */
export interface Scope {
  actions: readonly string[];
  resources: readonly string[];
}

/**
 * True when `scope` allows `action` on `resource`. Surfaces use it to filter
 * listings (an auditor sees only the aggregates it names).
 *
 * @example
 * ```ts
 * permits({ actions: ["aggregate.read"], resources: ["aggregate:patient:p-001"] },
 *   "aggregate.read", aggregateResource("patient", "p-001")); // true
 * ```
 */
export function permits(scope: Scope, action: Action, resource: string): boolean {
  return matchAny(scope.actions, action) && matchAny(scope.resources, resource);
}

function checkPatternText(kind: string, pattern: string): void {
  if (pattern.length === 0) throw new DbxError("invalid_input", `${kind} must not be empty`);
  if (new TextEncoder().encode(pattern).length > MAX_PATTERN_BYTES) {
    throw new DbxError("invalid_input", `${kind} is longer than ${MAX_PATTERN_BYTES} bytes`);
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(pattern) || /\s/.test(pattern)) {
    throw new DbxError("invalid_input", `${kind} must not contain spaces or control characters`);
  }
}

/**
 * Check action patterns given by a user: each must name (or, with wildcards,
 * match) at least one known action.
 *
 * @example
 * ```ts
 * validateActions(["aggregate.*"]); // ok
 * validateActions(["aggregate.delete"]); // throws invalid_input
 * ```
 */
export function validateActions(actions: readonly string[]): void {
  if (actions.length > MAX_SCOPE_ENTRIES) {
    throw new DbxError("invalid_input", `at most ${MAX_SCOPE_ENTRIES} actions may be given`);
  }
  for (const action of actions) {
    checkPatternText("an action", action);
    if (!ACTIONS.some((known) => matchResource(action, known))) {
      throw new DbxError(
        "invalid_input",
        `unknown action "${action}"; expected one of ${
          ACTIONS.join(", ")
        } or * (wildcards * and ?)`,
      );
    }
  }
}

/**
 * Check resource patterns given by a user: `*`, or `aggregate:TYPE:ID`,
 * `schema:TYPE`, `token:ID`, `remote:NAME`, `plugin:NAME` with `*` / `?` wildcards in any
 * part.
 *
 * @example
 * ```ts
 * validateResources(["aggregate:patient:*"]); // ok
 * validateResources(["patient:p-001"]); // throws invalid_input
 * ```
 */
export function validateResources(resources: readonly string[]): void {
  if (resources.length > MAX_SCOPE_ENTRIES) {
    throw new DbxError("invalid_input", `at most ${MAX_SCOPE_ENTRIES} resources may be given`);
  }
  for (const resource of resources) {
    checkPatternText("a resource", resource);
    const kind = resource.split(":", 1)[0];
    const kindOk = RESOURCE_KINDS.includes(kind) ||
      (/[*?]/.test(kind) && RESOURCE_KINDS.some((k) => matchResource(kind, k)));
    if (!kindOk) {
      throw new DbxError(
        "invalid_input",
        `resource "${resource}" must look like aggregate:TYPE:ID, schema:TYPE, token:ID, ` +
          "remote:NAME, plugin:NAME or * (wildcards * and ?)",
      );
    }
  }
}
