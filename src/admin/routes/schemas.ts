/**
 * `/admin/schemas`, as `dbx schema …`: list and create (GET, POST /admin/schemas), show,
 * replace, alter and delete one (GET, PUT, PATCH, DELETE /admin/schemas/{aggregate}), add
 * events (POST …/events), remove one event (DELETE …/events/{event}) and annotate one
 * (POST …/events/{event}/note with `{"note": "..."}` or `{"note": null}`).
 */
import type { Api } from "../../api/api.ts";
import { DbxError } from "../../errors.ts";
import type { AdminApp } from "../app.ts";
import { call } from "../../http/call.ts";
import { readJson, readObject, withPath } from "../input.ts";

/**
 * Register the schema routes.
 *
 * @example
 * ```ts
 * import type { Api } from "../../api/api.ts";
 * import type { AdminApp } from "../app.ts";
 * declare const app: AdminApp;
 * declare const api: Api;
 * registerSchemaRoutes(app, api);
 * ```
 */
export function registerSchemaRoutes(app: AdminApp, api: Api): void {
  const one = "/admin/schemas/:aggregate";
  const aggregate = (c: { req: { param(name: "aggregate"): string } }) => ({
    aggregate: c.req.param("aggregate"),
  });

  app.get(
    "/admin/schemas",
    async (c) => c.json(await call(api, c, "listSchemas", readObject(c, true))),
  );
  app.post(
    "/admin/schemas",
    async (c) => c.json(await call(api, c, "createSchema", readObject(c)), 201),
  );
  app.get(one, async (c) => {
    const input = withPath(readObject(c, true), aggregate(c));
    return c.json(await call(api, c, "getSchema", input));
  });
  app.put(one, async (c) => {
    const schema = readJson(c);
    if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
      throw new DbxError("invalid_input", "a schema must be a JSON object");
    }
    return c.json(await call(api, c, "putSchema", { ...aggregate(c), schema }));
  });
  app.patch(one, async (c) => {
    return c.json(await call(api, c, "alterSchema", { ...aggregate(c), changes: readObject(c) }));
  });
  app.delete(one, async (c) => {
    const input = withPath(readObject(c, true), aggregate(c));
    return c.json(await call(api, c, "deleteSchema", input));
  });
  app.post(`${one}/events`, async (c) => {
    const input = withPath(readObject(c), aggregate(c));
    return c.json(await call(api, c, "addSchemaEvents", input));
  });
  app.delete(`${one}/events/:event`, async (c) => {
    const input = withPath(readObject(c, true), { ...aggregate(c), event: c.req.param("event") });
    return c.json(await call(api, c, "removeSchemaEvent", input));
  });
  app.post(`${one}/events/:event/note`, async (c) => {
    const input = withPath(readObject(c), { ...aggregate(c), event: c.req.param("event") });
    return c.json(await call(api, c, "annotateSchemaEvent", input));
  });
}
