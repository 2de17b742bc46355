/**
 * Schema routes. Reads need `schema.read`, changes `schema.write`, on
 * `schema:TYPE`. Each change maps to one SchemaStore call (the CLI's `schema`
 * commands go through these while a server runs).
 */
import { permits, schemaResource } from "../../auth/authority.ts";
import { DbxError } from "../../errors.ts";
import type { SchemaAlteration } from "../../schema/types.ts";
import { authorizeFor, requireAction } from "../auth_middleware.ts";
import { bodyText } from "./body.ts";
import type { App, RouteDeps } from "./deps.ts";
import {
  checkObject,
  isObject,
  optionalBoolean,
  optionalInteger,
  optionalString,
  pathName,
  readJson,
  readObject,
} from "./params.ts";

const ALTERATION_FIELDS = [
  "snapshot_threshold",
  "locked",
  "field_lock",
  "event_fields",
  "column",
] as const;

/**
 * The aggregate types an import body names (one schema, a list, or an object
 * keyed by type), for the scope check; the store checks the schemas themselves.
 */
function importedTypes(raw: unknown): string[] {
  if (Array.isArray(raw)) {
    return raw.map((item) => (isObject(item) ? item.aggregate : undefined))
      .filter((a): a is string => typeof a === "string");
  }
  if (isObject(raw)) return typeof raw.aggregate === "string" ? [raw.aggregate] : Object.keys(raw);
  return [];
}

function parseFlag(text: string | undefined, name: string): boolean {
  if (text === undefined || text === "" || text === "false" || text === "0") return false;
  if (text === "true" || text === "1") return true;
  throw new DbxError("invalid_input", `query parameter ${name} must be true or false`);
}

/**
 * Register the schema routes.
 *
 * @example
 * ```ts
 * registerSchemaRoutes(app, { ctx, guard });
 * ```
 */
export function registerSchemaRoutes(app: App, deps: RouteDeps): void {
  const { ctx, guard } = deps;
  const { schemas, auth } = ctx;

  app.get("/v1/schemas", guard, (c) => {
    const { scope } = c.get("auth");
    requireAction(scope, "schema.read");
    const all = schemas.list();
    return c.json(
      scope.resources.includes("*")
        ? all
        : all.filter((s) => permits(scope, "schema.read", schemaResource(s.aggregate))),
    );
  });

  app.get("/v1/schemas/:aggregate", guard, (c) => {
    const name = pathName(c, "aggregate", "aggregate type");
    authorizeFor(c, auth, "schema.read", schemaResource(name));
    return c.json(schemas.require(name));
  });

  app.post("/v1/schemas", guard, async (c) => {
    const body = readObject(c, ["aggregate", "events", "snapshot_threshold"]);
    const name = optionalString(body, "aggregate");
    if (name === undefined) throw new DbxError("invalid_input", "aggregate is required");
    authorizeFor(c, auth, "schema.write", schemaResource(name));
    const events = body.events;
    if (!Array.isArray(events)) {
      throw new DbxError("invalid_input", "events must be a list of event names");
    }
    const schema = await schemas.create(name, {
      events,
      snapshot_threshold: optionalInteger(body, "snapshot_threshold", 0),
    });
    return c.json(schema, 201);
  });

  app.post("/v1/schemas/import", guard, async (c) => {
    const replace = parseFlag(c.req.query("replace"), "replace");
    const text = bodyText(c);
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new DbxError(
        "invalid_input",
        `the request body is not valid JSON: ${(err as Error).message}`,
      );
    }
    requireAction(c.get("auth").scope, "schema.write");
    const touched = new Set(importedTypes(raw));
    // Replacing drops every schema the body lacks: that needs write access to those too.
    if (replace) { for (const s of schemas.list()) touched.add(s.aggregate); }
    for (const name of touched) authorizeFor(c, auth, "schema.write", schemaResource(name));
    return c.json(await schemas.importJson(text, { replace }));
  });

  app.put("/v1/schemas/:aggregate", guard, async (c) => {
    const name = pathName(c, "aggregate", "aggregate type");
    authorizeFor(c, auth, "schema.write", schemaResource(name));
    const body = readJson(c);
    if (!isObject(body)) throw new DbxError("invalid_input", "a schema must be a JSON object");
    if (body.aggregate !== undefined && body.aggregate !== name) {
      throw new DbxError(
        "invalid_input",
        `the body's aggregate ${JSON.stringify(body.aggregate)} differs from the path's`,
      );
    }
    return c.json(await schemas.put({ ...body, aggregate: name }));
  });

  app.patch("/v1/schemas/:aggregate", guard, async (c) => {
    const name = pathName(c, "aggregate", "aggregate type");
    authorizeFor(c, auth, "schema.write", schemaResource(name));
    const body = readObject(c, ALTERATION_FIELDS);
    return c.json(await schemas.alter(name, body as SchemaAlteration));
  });

  app.delete("/v1/schemas/:aggregate", guard, async (c) => {
    const name = pathName(c, "aggregate", "aggregate type");
    authorizeFor(c, auth, "schema.write", schemaResource(name));
    await schemas.delete(name);
    return c.json({ aggregate: name, deleted: true });
  });

  app.post("/v1/schemas/:aggregate/events", guard, async (c) => {
    const name = pathName(c, "aggregate", "aggregate type");
    authorizeFor(c, auth, "schema.write", schemaResource(name));
    const body = readObject(c, ["events"]);
    if (!Array.isArray(body.events)) {
      throw new DbxError("invalid_input", "events must be a list of event names");
    }
    return c.json(await schemas.addEvents(name, body.events));
  });

  app.delete("/v1/schemas/:aggregate/events/:event", guard, async (c) => {
    const name = pathName(c, "aggregate", "aggregate type");
    const event = pathName(c, "event", "event type");
    authorizeFor(c, auth, "schema.write", schemaResource(name));
    return c.json(await schemas.removeEvent(name, event));
  });

  app.post("/v1/schemas/:aggregate/events/:event/note", guard, async (c) => {
    const name = pathName(c, "aggregate", "aggregate type");
    const event = pathName(c, "event", "event type");
    authorizeFor(c, auth, "schema.write", schemaResource(name));
    const body = checkObject(readJson(c), ["note", "clear"], "the request body");
    const clear = optionalBoolean(body, "clear") === true;
    const note = optionalString(body, "note");
    if (clear === (note !== undefined)) {
      throw new DbxError("invalid_input", 'give either "note" or "clear": true');
    }
    return c.json(await schemas.annotate(name, event, clear ? null : note!));
  });
}
