/**
 * A plugin instance's configuration: a name, a kind, the kind's settings and whether it is
 * enabled. The checks here are the ones every way of configuring a plugin goes through
 * (the API's `upsertPlugin`, hence `dbx plugin config …` and `PUT /admin/plugins/{name}`).
 *
 * Kinds: the current seed's tcp, http, grpc, log and process, and the older seed's
 * postgres, sqlite, csv and json, in one model.
 */
import { validateName } from "../engine/names.ts";
import { DbxError } from "../errors.ts";
import { formatColumnType, parseColumnType } from "../schema/definition.ts";
import { isJsonObject } from "../util/json_file.ts";
import { checkLabel } from "../util/label.ts";
import { checkHost, checkPort } from "../util/net_address.ts";

/** Every plugin kind. */
export const PLUGIN_KINDS = [
  "tcp",
  "http",
  "grpc",
  "log",
  "process",
  "postgres",
  "sqlite",
  "csv",
  "json",
] as const;
/** One plugin kind. */
export type PluginKind = typeof PLUGIN_KINDS[number];

/** Kinds that keep a table (or file) per aggregate type, with typed columns. */
export const TABLE_KINDS = ["postgres", "sqlite", "csv"] as const;
/** One table kind. */
export type TableKind = typeof TABLE_KINDS[number];

/**
 * Column types a table plugin uses (`dbx plugin map`): aggregate type → state field →
 * type, in the schemas' vocabulary (`integer`, `float`, `decimal(p,s)`, `boolean`, `text`,
 * `timestamp`, `date`, `json`, `binary`, `object`). A field without one takes its schema
 * column's type, else text.
 */
export type ColumnTypes = Record<string, Record<string, string>>;

/** Most column types one plugin keeps. */
export const MAX_COLUMN_TYPES = 1024;

/** Levels of a log plugin. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error"] as const;
/** One log level. */
export type LogLevel = typeof LOG_LEVELS[number];
/** Placeholders a log template may use. */
export const LOG_PLACEHOLDERS = ["aggregate", "event", "id"] as const;

/** The settings of each kind. */
export type PluginSettings =
  | { kind: "tcp"; host: string; port: number }
  | { kind: "http"; endpoint: string; https: boolean; headers: Record<string, string> }
  | { kind: "grpc"; endpoint: string }
  | { kind: "log"; level: LogLevel; template?: string }
  | {
    kind: "process";
    plugin: string;
    version: string;
    args: string[];
    env: Record<string, string>;
    working_dir?: string;
  }
  | { kind: "postgres"; connection: string; column_types?: ColumnTypes }
  | { kind: "sqlite"; path: string; column_types?: ColumnTypes }
  | { kind: "csv"; output_dir: string; column_types?: ColumnTypes }
  | { kind: "json"; path: string; pretty: boolean };

/** A plugin instance as configured. */
export type PluginDefinition = PluginSettings & { name: string; enabled: boolean };

/** A plugin instance as stored and as the API returns it. */
export type Plugin = PluginDefinition & { created_at: string; updated_at: string };

/** The fields each kind takes (besides name, kind and enabled). */
const KIND_FIELDS: Record<PluginKind, readonly string[]> = {
  tcp: ["host", "port"],
  http: ["endpoint", "https", "headers"],
  grpc: ["endpoint"],
  log: ["level", "template"],
  process: ["plugin", "version", "args", "env", "working_dir"],
  postgres: ["connection", "column_types"],
  sqlite: ["path", "column_types"],
  csv: ["output_dir", "column_types"],
  json: ["path", "pretty"],
};
const COMMON_FIELDS = ["name", "kind", "enabled"];

const MAX_TEXT = 4096;
const MAX_ENTRIES = 64;
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}$/;
/** Headers the delivery itself sets: a configured value would corrupt the request. */
const RESERVED_HEADERS = new Set(["content-length", "transfer-encoding", "connection", "host"]);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,255}$/;
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
/** What a header value may not hold: control characters other than tab. */
// deno-lint-ignore no-control-regex
const HEADER_VALUE_FORBIDDEN = /[\u0000-\u0008\u000a-\u001f\u007f]/;

function invalid(message: string): DbxError {
  return new DbxError("invalid_input", message);
}

/**
 * Check a plugin's name (a label: letters, digits, `.`, `_`, `-`, at most 64).
 *
 * @example
 * ```ts
 * checkPluginName("audit-log"); // "audit-log"
 * ```
 */
export function checkPluginName(value: unknown): string {
  return checkLabel("plugin name", value);
}

/**
 * Check a plugin kind.
 *
 * @example
 * ```ts
 * checkPluginKind("tcp"); // "tcp"
 * ```
 */
export function checkPluginKind(value: unknown): PluginKind {
  if (typeof value !== "string" || !(PLUGIN_KINDS as readonly string[]).includes(value)) {
    throw invalid(`kind must be one of ${PLUGIN_KINDS.join(", ")}`);
  }
  return value as PluginKind;
}

/**
 * Check a process plugin's version: a semantic version like 1.2.3 (it names a directory).
 *
 * @example
 * ```ts
 * checkPluginVersion("1.2.3"); // "1.2.3"
 * ```
 */
export function checkPluginVersion(value: unknown): string {
  const version = text("version", value, 256);
  if (!SEMVER.test(version)) throw invalid("version must be a semantic version like 1.2.3");
  return version;
}

/** A non-empty string of at most 4096 characters without control characters. */
function text(field: string, value: unknown, max = MAX_TEXT): string {
  if (typeof value !== "string" || value.length === 0) {
    throw invalid(`${field} must be a non-empty string`);
  }
  if (value.length > max) throw invalid(`${field} is longer than ${max} characters`);
  if (CONTROL.test(value)) throw invalid(`${field} contains a control character`);
  return value;
}

function flag(field: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") throw invalid(`${field} must be true or false`);
  return value;
}

function entries(field: string, value: unknown): [string, unknown][] {
  if (value === undefined) return [];
  if (!isJsonObject(value)) throw invalid(`${field} must be an object of names to strings`);
  const list = Object.entries(value);
  if (list.length > MAX_ENTRIES) throw invalid(`${field} has more than ${MAX_ENTRIES} entries`);
  return list;
}

/**
 * An HTTP(S) URL: with a scheme it must be http or https; without one, `https` chooses.
 * Returned normalized (e.g. `http://hooks.local:8080/events`).
 */
function httpUrl(field: string, value: unknown, https: boolean | undefined): string {
  const given = text(field, value);
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(given)?.[1]?.toLowerCase();
  if (scheme !== undefined && scheme !== "http" && scheme !== "https") {
    throw invalid(`${field} must be an http:// or https:// URL or a host (got ${scheme}://)`);
  }
  if (scheme === "http" && https === true) {
    throw invalid(`${field} says http:// but https is true`);
  }
  let url: URL;
  try {
    url = new URL(scheme ? given : `${https ? "https" : "http"}://${given}`);
  } catch {
    throw invalid(`${field} is not a valid URL or host`);
  }
  if (url.hostname === "" || url.hash !== "" || /\s/.test(given)) {
    throw invalid(`${field} is not a valid URL or host`);
  }
  return url.href;
}

function headers(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const seen = new Set<string>();
  for (const [name, raw] of entries("headers", value)) {
    if (!HEADER_NAME.test(name)) {
      throw invalid(`header name ${JSON.stringify(name.slice(0, 40))} is not valid`);
    }
    const lower = name.toLowerCase();
    if (RESERVED_HEADERS.has(lower)) throw invalid(`header ${name} is set by the delivery itself`);
    if (seen.has(lower)) throw invalid(`header ${name} is given twice`);
    seen.add(lower);
    if (
      typeof raw !== "string" || raw.length > 8192 || HEADER_VALUE_FORBIDDEN.test(raw)
    ) {
      throw invalid(
        `header ${name} must be a string of at most 8192 characters without line breaks`,
      );
    }
    out[name] = raw;
  }
  return out;
}

function template(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const t = text("template", value, 1024);
  for (const [, name] of t.matchAll(/\{([^{}]*)\}/g)) {
    if (!(LOG_PLACEHOLDERS as readonly string[]).includes(name)) {
      throw invalid(
        `template uses {${name.slice(0, 40)}}; the placeholders are ` +
          LOG_PLACEHOLDERS.map((p) => `{${p}}`).join(", "),
      );
    }
  }
  return t;
}

/**
 * Check column types (see {@link ColumnTypes}); types come back in their canonical form
 * (`INT` → `integer`), and empty maps of fields are dropped. An empty object stays: given
 * to `upsertPlugin`, it clears the mappings (absent keeps them).
 *
 * @example
 * ```ts
 * checkColumnTypes({ patient: { age: "INT" } }); // { patient: { age: "integer" } }
 * ```
 */
export function checkColumnTypes(value: unknown): ColumnTypes | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isJsonObject(value)) {
    throw invalid("column_types must map aggregate types to objects of fields to types");
  }
  const out: ColumnTypes = {};
  let count = 0;
  for (const [type, fields] of Object.entries(value)) {
    validateName("aggregate type", type);
    if (!isJsonObject(fields)) {
      throw invalid(`column_types.${type.slice(0, 40)} must map fields to types`);
    }
    for (const [field, datatype] of Object.entries(fields)) {
      validateName("field", field);
      if (++count > MAX_COLUMN_TYPES) {
        throw invalid(`a plugin keeps at most ${MAX_COLUMN_TYPES} column types`);
      }
      let canonical: string;
      try {
        canonical = formatColumnType(parseColumnType(datatype));
      } catch (err) {
        throw invalid(
          `column type of ${type.slice(0, 40)}.${field.slice(0, 40)}: ${(err as Error).message}`,
        );
      }
      (out[type] ??= {})[field] = canonical;
    }
  }
  return out;
}

/** A table kind's settings with its column types, when it has any. */
function withColumnTypes<T extends PluginSettings>(settings: T, raw: unknown): T {
  const types = checkColumnTypes(raw);
  return types === undefined ? settings : { ...settings, column_types: types };
}

function postgresConnection(value: unknown): string {
  const connection = text("connection", value);
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(connection)) {
    let url: URL | undefined;
    try {
      url = new URL(connection);
    } catch { /* refused below */ }
    if (!url || (url.protocol !== "postgres:" && url.protocol !== "postgresql:")) {
      throw invalid("connection must be a postgres:// or postgresql:// URL or key=value settings");
    }
  }
  return connection;
}

function settings(kind: PluginKind, body: Record<string, unknown>): PluginSettings {
  switch (kind) {
    case "tcp":
      if (body.host === undefined) throw invalid("host is required for a tcp plugin");
      if (body.port === undefined) throw invalid("port is required for a tcp plugin");
      return { kind, host: checkHost("host", body.host), port: checkPort("port", body.port) };
    case "http": {
      if (body.endpoint === undefined) throw invalid("endpoint is required for an http plugin");
      const https = flag("https", body.https, false);
      return {
        kind,
        endpoint: httpUrl("endpoint", body.endpoint, https),
        https,
        headers: headers(body.headers),
      };
    }
    case "grpc": {
      if (body.endpoint === undefined) throw invalid("endpoint is required for a grpc plugin");
      const endpoint = httpUrl("endpoint", body.endpoint, undefined);
      // gRPC calls a fixed method path on the host: a path or query would be dropped.
      const url = new URL(endpoint);
      if (url.pathname !== "/" || url.search !== "" || url.username || url.password) {
        throw invalid("a grpc endpoint is host:port or http(s)://host:port, without a path");
      }
      return { kind, endpoint };
    }
    case "log": {
      const level = body.level ?? "info";
      if (typeof level !== "string" || !(LOG_LEVELS as readonly string[]).includes(level)) {
        throw invalid(`level must be one of ${LOG_LEVELS.join(", ")}`);
      }
      const t = template(body.template);
      return t === undefined
        ? { kind, level: level as LogLevel }
        : { kind, level: level as LogLevel, template: t };
    }
    case "process": {
      if (body.plugin === undefined) throw invalid("plugin is required for a process plugin");
      if (body.version === undefined) throw invalid("version is required for a process plugin");
      const version = checkPluginVersion(body.version);
      if (body.args !== undefined && !Array.isArray(body.args)) {
        throw invalid("args must be a list of strings");
      }
      const args = (body.args as unknown[] | undefined ?? []).map((arg, i) => {
        if (typeof arg !== "string" || arg.length > MAX_TEXT || arg.includes("\u0000")) {
          throw invalid(`args[${i}] must be a string of at most ${MAX_TEXT} characters`);
        }
        return arg;
      });
      if (args.length > MAX_ENTRIES) throw invalid(`args has more than ${MAX_ENTRIES} entries`);
      const env: Record<string, string> = {};
      for (const [name, value] of entries("env", body.env)) {
        if (!ENV_NAME.test(name)) {
          throw invalid(`env name ${JSON.stringify(name.slice(0, 40))} is not valid`);
        }
        if (typeof value !== "string" || value.length > 8192 || value.includes("\u0000")) {
          throw invalid(`env ${name} must be a string of at most 8192 characters`);
        }
        env[name] = value;
      }
      const out: PluginSettings = {
        kind,
        plugin: checkLabel("plugin", body.plugin),
        version,
        args,
        env,
      };
      if (body.working_dir !== undefined) out.working_dir = text("working_dir", body.working_dir);
      return out;
    }
    case "postgres":
      if (body.connection === undefined) {
        throw invalid("connection is required for a postgres plugin");
      }
      return withColumnTypes(
        { kind, connection: postgresConnection(body.connection) },
        body.column_types,
      );
    case "sqlite":
      if (body.path === undefined) throw invalid("path is required for a sqlite plugin");
      return withColumnTypes({ kind, path: text("path", body.path) }, body.column_types);
    case "csv":
      if (body.output_dir === undefined) throw invalid("output_dir is required for a csv plugin");
      return withColumnTypes(
        { kind, output_dir: text("output_dir", body.output_dir) },
        body.column_types,
      );
    case "json":
      if (body.path === undefined) throw invalid("path is required for a json plugin");
      return { kind, path: text("path", body.path), pretty: flag("pretty", body.pretty, false) };
  }
}

/**
 * Check a plugin definition given as plain data: `name`, `kind`, the kind's settings and
 * `enabled` (default true, as `dbx plugin config` without `--disable`). Unknown fields, and
 * fields of another kind, are refused.
 *
 * @example
 * ```ts
 * checkPluginDefinition({ name: "audit", kind: "tcp", host: "127.0.0.1", port: 9000 });
 * // { kind: "tcp", host: "127.0.0.1", port: 9000, name: "audit", enabled: true }
 * ```
 */
export function checkPluginDefinition(raw: unknown): PluginDefinition {
  if (!isJsonObject(raw)) throw invalid("a plugin must be a JSON object");
  const kind = checkPluginKind(raw.kind);
  const allowed = [...COMMON_FIELDS, ...KIND_FIELDS[kind]];
  const unknown = Object.keys(raw).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) {
    throw invalid(
      `a ${kind} plugin has no field${unknown.length > 1 ? "s" : ""} ${
        unknown.map((k) => JSON.stringify(k.slice(0, 40))).join(", ")
      }; it takes ${allowed.join(", ")}`,
    );
  }
  // Null counts as absent, as in every other API input.
  const body = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== null));
  const name = checkPluginName(body.name);
  const enabled = flag("enabled", body.enabled, true);
  return { ...settings(kind, body), name, enabled };
}
