/**
 * The one API every surface calls: run an operation of the catalogue for a caller, or
 * subscribe to committed events. Requests and results are plain data and errors are
 * DbxError codes, so the same interface is offered in this process (`createApi`), across a
 * message port (`port/`) and over HTTP (`src/client/`), and every surface behaves the same.
 */
import type { EventRecord } from "../engine/types.ts";
import { DbxError } from "../errors.ts";
import type { Caller } from "./caller.ts";
import { CATALOGUE } from "./catalogue/mod.ts";
import type { OperationContext } from "./catalogue/spec.ts";
import { checkJsonDepth, checkObject, optionalInteger } from "./checks.ts";
import { type FeedOptions, openFeed } from "./feed.ts";
import type { Node } from "./node.ts";
import type {
  OperationInput,
  OperationName,
  OperationResult,
  SubscribeInput,
} from "./operations.ts";

/** An open subscription to committed events. */
export interface Subscription {
  /**
   * The next committed events the caller may read (at least one), an empty list when
   * `waitMs` passed first, or `null` once the subscription is closed. Throws DbxError
   * "unauthorized" once the caller's token expired or was revoked: no event committed
   * after that is ever delivered.
   */
  next(waitMs: number): Promise<EventRecord[] | null>;
  close(): void;
}

/** How a call hands over its input. */
export interface CallOptions {
  /**
   * The caller gives the input away (it made it for this call, e.g. by parsing a request,
   * and never touches it again), so the API need not copy it first.
   */
  owned?: boolean;
}

/** The database, as every surface sees it. */
export interface Api {
  /**
   * Run one operation for a caller. The input is taken when the call is made: what the
   * caller does with its objects afterwards changes nothing.
   */
  call<N extends OperationName>(
    caller: Caller,
    name: N,
    input: OperationInput<N>,
    options?: CallOptions,
  ): Promise<OperationResult<N>>;
  /** Follow committed events from a global position, filtered by the caller's read scope. */
  subscribe(caller: Caller, input: SubscribeInput): Promise<Subscription>;
}

/** Tuning of subscriptions (tests shrink the buffers). */
export type ApiOptions = Pick<FeedOptions, "maxBuffered" | "pageSize">;

/**
 * The API of a node, in this process.
 *
 * @example
 * ```ts
 * import { openNode } from "./node.ts";
 * import { defaultConfig } from "../config/mod.ts";
 * import { generateDek } from "../crypto/aead.ts";
 * const node = await openNode({
 *   dataDir: "/tmp/dbx-api-doc",
 *   config: { ...defaultConfig("/tmp/dbx-api-doc"), dek: generateDek() },
 * });
 * const api = createApi(node);
 * const { event } = await api.call({ kind: "local", user: "me" }, "appendEvent", {
 *   aggregate_type: "patient",
 *   aggregate_id: "p-001",
 *   event_type: "patient-added",
 *   payload: { name: "Jane" },
 * });
 * await node.close();
 * ```
 */
export function createApi(node: Node, options: ApiOptions = {}): Api {
  const access = node.access;
  const engine = () => node.engine();

  /** Authenticate → check the input → check the scope → report the use → run. */
  async function run(caller: Caller, name: OperationName, raw: unknown): Promise<unknown> {
    // deno-lint-ignore no-explicit-any
    const spec = CATALOGUE[name] as any;
    const who = await access.authenticate(caller);
    const input = spec.check(raw, node);
    const scope = spec.scope;
    // A caller with every action on every resource needs no per-resource check.
    if (scope.action !== null && !who.unrestricted) {
      const resources: readonly string[] = scope.resources === "filtered"
        ? []
        : scope.resources(input, node);
      if (resources.length === 0) access.permitSome(who, scope.action);
      for (const resource of resources) access.permit(who, scope.action, resource);
    }
    access.used(who);
    const ctx: OperationContext = {
      node,
      who,
      engine,
      permit: (action, resource) => access.permit(who, action, resource),
    };
    return await spec.run(ctx, input);
  }

  return {
    call<N extends OperationName>(
      caller: Caller,
      name: N,
      raw: OperationInput<N>,
      options?: CallOptions,
    ): Promise<OperationResult<N>> {
      if (typeof name !== "string" || !Object.hasOwn(CATALOGUE, name)) {
        return Promise.reject(
          new DbxError("invalid_input", `unknown operation ${JSON.stringify(name)}`),
        );
      }
      // One nesting limit for every input, checked first (a deep value cannot even be copied).
      try {
        checkJsonDepth(raw, node.config.max_json_depth, "the input");
      } catch (err) {
        return Promise.reject(err);
      }
      // The input is taken when the call is made, as over a port or a wire: a copy, unless
      // the caller gave it away.
      let input: unknown = raw;
      if (!options?.owned) {
        try {
          input = structuredClone(raw);
        } catch {
          return Promise.reject(new DbxError("invalid_input", "the input is not plain data"));
        }
      }
      return run(caller, name, input) as Promise<OperationResult<N>>;
    },

    async subscribe(caller, raw) {
      checkJsonDepth(raw, node.config.max_json_depth, "the input");
      const who = await access.authenticate(caller);
      const body = checkObject(raw ?? {}, ["after"], "the input");
      const after = optionalInteger(body, "after");
      access.permitSome(who, "aggregate.read");
      access.used(who);
      const everything = who.unrestricted || who.scope.resources.includes("*");
      const feed = await openFeed(await engine(), {
        ...options,
        after,
        filter: everything ? undefined : { resources: who.scope.resources },
      });
      // The caller is checked again around every wait: an expired or revoked token ends
      // the subscription before anything committed after that is handed out. An ended
      // subscription stays ended (null), whatever ended it.
      let ended = false;
      const stillValid = async () => {
        try {
          await access.authenticate(caller);
        } catch (err) {
          ended = true;
          feed.close();
          throw err;
        }
      };
      return {
        async next(waitMs) {
          if (ended) return null;
          await stillValid();
          const records = await feed.next(waitMs);
          if (records === null) ended = true;
          else if (records.length > 0) await stillValid();
          return records;
        },
        close: () => {
          ended = true;
          feed.close();
        },
      };
    },
  };
}

/**
 * An API bound to one caller: what a CLI command or a test uses.
 *
 * @example
 * ```ts
 * declare const api: Api;
 * const db = bindCaller(api, { kind: "token", token: "eyJ..." });
 * const page = await db.call("listAggregates", {});
 * ```
 */
export interface BoundApi {
  readonly caller: Caller;
  call<N extends OperationName>(
    name: N,
    input: OperationInput<N>,
    options?: CallOptions,
  ): Promise<OperationResult<N>>;
  subscribe(input: SubscribeInput): Promise<Subscription>;
}

/** Bind an API to a caller (see {@link BoundApi}). */
export function bindCaller(api: Api, caller: Caller): BoundApi {
  return {
    caller,
    call: (name, input, options) => api.call(caller, name, input, options),
    subscribe: (input) => api.subscribe(caller, input),
  };
}
