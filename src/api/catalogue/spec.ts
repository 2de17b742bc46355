/**
 * The shape of one operation in the catalogue: the scope it needs, its input checks and
 * what it does. The executor (`../api.ts`) runs every operation the same way:
 * authenticate the caller → check the input → check the scope on each resource the input
 * touches → report the use → run.
 */
import type { Action } from "../../auth/authority.ts";
import type { Engine } from "../../engine/engine.ts";
import type { Principal } from "../access.ts";
import type { Node } from "../node.ts";
import type { OperationInput, OperationName, OperationResult } from "../operations.ts";

/** What an operation runs with. */
export interface OperationContext {
  node: Node;
  who: Principal;
  /** The node's engine (opened on first use). */
  engine(): Promise<Engine>;
  /**
   * Check the caller's scope on a resource known only while running (e.g. the aggregates of
   * the staged events); DbxError "forbidden" when it lacks it.
   */
  permit(action: Action, resource: string): void;
}

/** Which resources the scope check covers. */
export type ScopeRule<N extends OperationName> =
  /** The caller needs `action` on each resource the checked input touches. */
  | { action: Action; resources: (input: OperationInput<N>, node: Node) => readonly string[] }
  /** A listing: the caller needs `action` on some resource; the operation filters by scope. */
  | { action: Action; resources: "filtered" }
  /** Any authenticated caller. */
  | { action: null };

/** One operation. */
export interface OperationSpec<N extends OperationName> {
  scope: ScopeRule<N>;
  /** Input checks: the plain data as it arrived, to the operation's input. */
  check(raw: unknown, node: Node): OperationInput<N>;
  run(ctx: OperationContext, input: OperationInput<N>): Promise<OperationResult<N>>;
}

/** A group of operations, keyed by name. */
export type Operations<K extends OperationName> = { [N in K]: OperationSpec<N> };
