/**
 * Schema routes: each maps to one API operation (the CLI's `schema` commands go through
 * these while a server runs).
 */
import type { Context } from "hono";
import { isObject, type JsonObject } from "../../api/checks.ts";
import { DbxError } from "../../errors.ts";
import type { AppEnv } from "../auth.ts";
import { call } from "../../http/call.ts";
import type { App, RouteDeps } from "../deps.ts";
import { merge, queryInput, readBody, readJson } from "../params.ts";

function invalid(message: string): DbxError {
  return new DbxError("invalid_input", message);
}

/** The body with the path's aggregate (a body naming another one is refused). */
function withAggregate(c: Context<AppEnv>, body: JsonObject): JsonObject {
  const aggregate = c.req.param("aggregate");
  if (body.aggregate !== undefined && body.aggregate !== aggregate) {
    throw invalid(`the body's aggregate ${JSON.stringify(body.aggregate)} differs from the path's`);
  }
  return { ...body, aggregate };
}

/**
 * Register the schema routes.
 *
 * @example
 * ```ts
 * import type { App, RouteDeps } from "../deps.ts";
 * declare const app: App;
 * declare const deps: RouteDeps;
 * registerSchemaRoutes(app, deps);
 * ```
 */
export function registerSchemaRoutes(app: App, deps: RouteDeps): void {
  const { api, guarded } = deps;
  const named = (c: Context<AppEnv>) => ({ aggregate: c.req.param("aggregate") });

  app.get(
    "/v1/schemas",
    guarded(async (c) => c.json(await call(api, c, "listSchemas", queryInput(c)))),
  );

  app.get(
    "/v1/schemas/:aggregate",
    guarded(async (c) => c.json(await call(api, c, "getSchema", merge(queryInput(c), named(c))))),
  );

  app.post(
    "/v1/schemas",
    guarded(async (c) =>
      c.json(await call(api, c, "createSchema", merge(queryInput(c), readBody(c))), 201)
    ),
  );

  app.post(
    "/v1/schemas/import",
    guarded(async (c) => {
      const input = merge(queryInput(c, [], ["replace"]), { schemas: readJson(c) });
      return c.json(await call(api, c, "importSchemas", input));
    }),
  );

  app.put(
    "/v1/schemas/:aggregate",
    guarded(async (c) => {
      const body = readJson(c);
      if (!isObject(body)) throw invalid("a schema must be a JSON object");
      withAggregate(c, { aggregate: body.aggregate });
      const input = merge(queryInput(c), named(c), { schema: body });
      return c.json(await call(api, c, "putSchema", input));
    }),
  );

  app.patch(
    "/v1/schemas/:aggregate",
    guarded(async (c) => {
      const input = merge(queryInput(c), named(c), { changes: readBody(c) });
      return c.json(await call(api, c, "alterSchema", input));
    }),
  );

  app.delete(
    "/v1/schemas/:aggregate",
    guarded(async (c) =>
      c.json(await call(api, c, "deleteSchema", merge(queryInput(c), named(c))))
    ),
  );

  app.post(
    "/v1/schemas/:aggregate/events",
    guarded(async (c) => {
      const input = merge(queryInput(c), withAggregate(c, readBody(c)));
      return c.json(await call(api, c, "addSchemaEvents", input));
    }),
  );

  app.delete(
    "/v1/schemas/:aggregate/events/:event",
    guarded(async (c) => {
      const input = merge(queryInput(c), named(c), { event: c.req.param("event") });
      return c.json(await call(api, c, "removeSchemaEvent", input));
    }),
  );

  app.post(
    "/v1/schemas/:aggregate/events/:event/note",
    guarded(async (c) => {
      // REST's own spelling: {"note": "..."} or {"clear": true}; the API takes note or null.
      const { note, clear, ...rest } = readBody(c);
      if (clear !== undefined && typeof clear !== "boolean") {
        throw invalid("clear must be true or false");
      }
      const hasNote = note !== undefined && note !== null;
      if ((clear === true) === hasNote) throw invalid('give either "note" or "clear": true');
      const input = merge(queryInput(c), rest, named(c), {
        event: c.req.param("event"),
        note: clear === true ? null : note,
      });
      return c.json(await call(api, c, "annotateSchemaEvent", input));
    }),
  );
}
