/**
 * Schema routes: each maps to one API operation (the CLI's `schema` commands go through
 * these while a server runs).
 */
import type { Context } from "hono";
import { isObject, type JsonObject } from "../../api/checks.ts";
import { DbxError } from "../../errors.ts";
import type { AppEnv } from "../auth.ts";
import { call } from "../call.ts";
import type { App, RouteDeps } from "../deps.ts";
import { queryFlag, readBody, readJson } from "../params.ts";

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

  app.get("/v1/schemas", guarded(async (c) => c.json(await call(api, c, "listSchemas", {}))));

  app.get(
    "/v1/schemas/:aggregate",
    guarded(async (c) => {
      return c.json(await call(api, c, "getSchema", { aggregate: c.req.param("aggregate") }));
    }),
  );

  app.post(
    "/v1/schemas",
    guarded(async (c) => {
      return c.json(await call(api, c, "createSchema", readBody(c)), 201);
    }),
  );

  app.post(
    "/v1/schemas/import",
    guarded(async (c) => {
      const replace = queryFlag(c, "replace");
      const schemas = readJson(c);
      return c.json(await call(api, c, "importSchemas", { schemas, replace }));
    }),
  );

  app.put(
    "/v1/schemas/:aggregate",
    guarded(async (c) => {
      const body = readJson(c);
      if (!isObject(body)) throw invalid("a schema must be a JSON object");
      const { aggregate } = withAggregate(c, { aggregate: body.aggregate });
      return c.json(await call(api, c, "putSchema", { aggregate, schema: body }));
    }),
  );

  app.patch(
    "/v1/schemas/:aggregate",
    guarded(async (c) => {
      const aggregate = c.req.param("aggregate");
      return c.json(await call(api, c, "alterSchema", { aggregate, changes: readBody(c) }));
    }),
  );

  app.delete(
    "/v1/schemas/:aggregate",
    guarded(async (c) => {
      return c.json(await call(api, c, "deleteSchema", { aggregate: c.req.param("aggregate") }));
    }),
  );

  app.post(
    "/v1/schemas/:aggregate/events",
    guarded(async (c) => {
      return c.json(await call(api, c, "addSchemaEvents", withAggregate(c, readBody(c))));
    }),
  );

  app.delete(
    "/v1/schemas/:aggregate/events/:event",
    guarded(async (c) => {
      const input = { aggregate: c.req.param("aggregate"), event: c.req.param("event") };
      return c.json(await call(api, c, "removeSchemaEvent", input));
    }),
  );

  app.post(
    "/v1/schemas/:aggregate/events/:event/note",
    guarded(async (c) => {
      const body = readBody(c);
      const unknown = Object.keys(body).filter((k) => k !== "note" && k !== "clear");
      if (unknown.length > 0) {
        throw invalid(
          `the request body has unknown field ${JSON.stringify(unknown[0])}; expected note, clear`,
        );
      }
      const clear = body.clear === true;
      if (body.clear !== undefined && typeof body.clear !== "boolean") {
        throw invalid("clear must be true or false");
      }
      const hasNote = body.note !== undefined && body.note !== null;
      if (clear === hasNote) throw invalid('give either "note" or "clear": true');
      const input = {
        aggregate: c.req.param("aggregate"),
        event: c.req.param("event"),
        note: clear ? null : body.note,
      };
      return c.json(await call(api, c, "annotateSchemaEvent", input));
    }),
  );
}
