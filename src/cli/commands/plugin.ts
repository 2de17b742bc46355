/**
 * `dbx plugin config <kind> …|enable|disable|remove|list|test|replay|install`: configure
 * the plugins that committed events are delivered to, and install process plugins. The
 * older seed's short forms (`dbx plugin json --path …`, named after their kind unless
 * `--name` is given) are kept.
 * Every command goes through the API (locally, or through the running server).
 */
import { resolve } from "node:path";
import { type Command, InvalidArgumentError } from "commander";
import {
  LOG_LEVELS,
  type Plugin,
  type PluginCheck,
  type PluginInput,
  type PluginKind,
} from "../../api/operations.ts";
import { DbxError } from "../../errors.ts";
import { type BackendOptions, withBackend } from "../backend.ts";
import {
  collect,
  type CommonOptions,
  printJson,
  printTable,
  withCommonOptions,
  withJsonOption,
} from "../common.ts";
import { CliExit } from "../exit.ts";

interface ConfigFlags extends CommonOptions {
  name?: string;
  disable?: boolean;
  json?: boolean;
  host?: string;
  port?: number;
  endpoint?: string;
  https?: boolean;
  header?: Record<string, string>;
  level?: string;
  template?: string;
  plugin?: string;
  version?: string;
  arg?: string[];
  env?: Record<string, string>;
  workingDir?: string;
  connection?: string;
  path?: string;
  outputDir?: string;
  pretty?: boolean;
}

interface JsonFlags extends BackendOptions {
  json?: boolean;
}

/** Parse `KEY=VALUE` into a map (split at the first `=`; a key given twice is refused). */
function parsePair(value: string, previous: Record<string, string> = {}) {
  const at = value.indexOf("=");
  if (at <= 0) throw new InvalidArgumentError(`expected KEY=VALUE, got ${JSON.stringify(value)}`);
  const key = value.slice(0, at);
  if (Object.hasOwn(previous, key)) throw new InvalidArgumentError(`${key} is given twice`);
  return { ...previous, [key]: value.slice(at + 1) };
}

function parsePort(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    throw new InvalidArgumentError("must be a port number from 1 to 65535");
  }
  return Number(value);
}

/** The options each kind takes, as `dbx plugin config <kind>` shows them. */
const KIND_OPTIONS: Record<PluginKind, { summary: string; add(cmd: Command): Command }> = {
  tcp: {
    summary: "write one JSON EventRecord per line to a TCP socket",
    add: (c) =>
      c.requiredOption("--host <hostname>", "host to connect to")
        .requiredOption("--port <u16>", "port to connect to", parsePort),
  },
  http: {
    summary: "POST each EventRecord as JSON to an endpoint",
    add: (c) =>
      c.requiredOption("--endpoint <host|url>", "URL, or host[:port][/path]")
        .option("--https", "use HTTPS when the endpoint has no scheme")
        .option("--header <KEY=VALUE>", "request header (repeatable)", parsePair),
  },
  grpc: {
    summary: "send EventRecord batches to an ApplyEvents endpoint (proto/plugin.proto)",
    add: (c) =>
      c.requiredOption(
        "--endpoint <host|url>",
        "host:port, or http(s)://host:port, of an eventdbx.plugin.PluginReceiver",
      ),
  },
  log: {
    summary: "write a formatted line per event to the server's log",
    add: (c) =>
      c.option("--level <level>", `log level: ${LOG_LEVELS.join(", ")}`, "info")
        .option(
          "--template <text>",
          'line with {aggregate} {event} {id} (default "aggregate={aggregate} id={id} ' +
            'event={event}")',
        ),
  },
  process: {
    summary: "run an installed plugin binary as a supervised subprocess",
    add: (c) =>
      c.requiredOption("--plugin <id>", "installed plugin id")
        .requiredOption("--version <semver>", "installed plugin version")
        .option("--arg <value>", "argument (repeatable)", collect)
        .option("--env <KEY=VALUE>", "environment variable (repeatable)", parsePair)
        .option("--working-dir <path>", "working directory"),
  },
  postgres: {
    summary: "keep one row per aggregate with its state in PostgreSQL",
    add: (c) => c.requiredOption("--connection <url>", "postgres:// URL or key=value settings"),
  },
  sqlite: {
    summary: "keep one row per aggregate with its state in a SQLite file",
    add: (c) => c.requiredOption("--path <file>", "SQLite database file"),
  },
  csv: {
    summary: "append each aggregate's state to <aggregate>.csv",
    add: (c) => c.requiredOption("--output-dir <dir>", "directory of the CSV files"),
  },
  json: {
    summary: "append each EventRecord as JSON to a file",
    add: (c) =>
      c.requiredOption("--path <file>", "file to append to")
        .option("--pretty", "indent each record"),
  },
};

/** The API input of `plugin config <kind>`. */
function definition(kind: PluginKind, name: string, f: ConfigFlags): PluginInput {
  const enabled = !f.disable;
  switch (kind) {
    case "tcp":
      return { name, kind, enabled, host: f.host!, port: f.port! };
    case "http":
      return {
        name,
        kind,
        enabled,
        endpoint: f.endpoint!,
        https: f.https === true,
        headers: f.header ?? {},
      };
    case "grpc":
      return { name, kind, enabled, endpoint: f.endpoint! };
    case "log": {
      const level = f.level as typeof LOG_LEVELS[number];
      return f.template === undefined
        ? { name, kind, enabled, level }
        : { name, kind, enabled, level, template: f.template };
    }
    case "process": {
      const out: PluginInput = {
        name,
        kind,
        enabled,
        plugin: f.plugin!,
        version: f.version!,
        args: f.arg ?? [],
        env: f.env ?? {},
      };
      return f.workingDir === undefined ? out : { ...out, working_dir: f.workingDir };
    }
    case "postgres":
      return { name, kind, enabled, connection: f.connection! };
    case "sqlite":
      return { name, kind, enabled, path: f.path! };
    case "csv":
      return { name, kind, enabled, output_dir: f.outputDir! };
    case "json":
      return { name, kind, enabled, path: f.path!, pretty: f.pretty === true };
  }
}

function manage<T>(flags: CommonOptions, run: Parameters<typeof withBackend<T>>[2]): Promise<T> {
  return withBackend({ config: flags.config, dataDir: flags.dataDir }, "write", run);
}

/**
 * One line describing where a plugin delivers (never a connection string: it may hold a
 * password).
 *
 * @example
 * ```ts
 * import type { Plugin } from "../../api/operations.ts";
 * declare const plugin: Plugin;
 * console.log(pluginTarget(plugin)); // e.g. "127.0.0.1:9000"
 * ```
 */
export function pluginTarget(p: Plugin): string {
  switch (p.kind) {
    case "tcp":
      return `${p.host}:${p.port}`;
    case "http":
    case "grpc":
      return p.endpoint;
    case "log":
      return `${p.level}${p.template ? ` "${p.template}"` : ""}`;
    case "process":
      return `${p.plugin}@${p.version}`;
    case "postgres":
      return "(connection set)"; // it may hold a password
    case "sqlite":
    case "json":
      return p.path;
    case "csv":
      return p.output_dir;
  }
}

/** Add `<kind>` sub-commands to `parent` (`plugin config` or, for short forms, `plugin`). */
function registerKinds(parent: Command, nameRequired: boolean): void {
  for (
    const [kind, { summary, add }] of Object.entries(KIND_OPTIONS) as [
      PluginKind,
      (typeof KIND_OPTIONS)[PluginKind],
    ][]
  ) {
    const cmd = parent.command(kind).description(
      nameRequired ? summary : `${summary} (short form of \`plugin config ${kind}\`)`,
    );
    if (nameRequired) cmd.requiredOption("--name <label>", "name of the plugin instance");
    else cmd.option("--name <label>", `name of the plugin instance (default: ${kind})`);
    add(cmd).option("--disable", "configure it disabled");
    withJsonOption(cmd);
    withCommonOptions(cmd);
    cmd.action(async (flags: ConfigFlags) => {
      const input = definition(kind, flags.name ?? kind, flags);
      const { plugin, created } = await manage(flags, (db) => db.call("upsertPlugin", input));
      if (flags.json) printJson({ plugin, created });
      else {
        console.log(
          `${created ? "added" : "updated"} ${plugin.kind} plugin ${plugin.name} ` +
            `(${plugin.enabled ? "enabled" : "disabled"})`,
        );
      }
    });
  }
}

function printChecks(checks: PluginCheck[]): void {
  if (checks.length === 0) {
    console.log("no enabled plugins");
    return;
  }
  printTable(
    ["NAME", "KIND", "RESULT"],
    checks.map((c) => [c.name, c.kind, c.ok ? "ok" : `failed: ${c.error}`]),
  );
}

/**
 * Register `dbx plugin` and its sub-commands.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * const program = new Command("dbx");
 * registerPlugin(program);
 * await program.parseAsync(["plugin", "list", "--json"], { from: "user" });
 * ```
 */
export function registerPlugin(program: Command): void {
  const plugin = program
    .command("plugin")
    .description("configure plugins: every committed event is delivered to each enabled one");

  const config = plugin
    .command("config")
    .description("add or replace a plugin instance of a kind");
  registerKinds(config, true);
  registerKinds(plugin, false);

  const map = plugin
    .command("map")
    .description(
      "set the column type of an aggregate field for the postgres, sqlite and csv plugins " +
        "(default: the schema's column type, else text)",
    )
    .requiredOption("--aggregate <name>", "aggregate type")
    .requiredOption("--field <field>", "state field")
    .requiredOption(
      "--datatype <type>",
      "integer, float, decimal(p,s), boolean, text, timestamp, date, json, binary, object",
    )
    .option(
      "--plugin <name>",
      "only this plugin, or every plugin of this kind (e.g. postgres); default: every " +
        "postgres, sqlite and csv plugin",
    );
  withJsonOption(map);
  withCommonOptions(map);
  map.action(
    async (
      flags: JsonFlags & { aggregate: string; field: string; datatype: string; plugin?: string },
    ) => {
      const input = {
        aggregate_type: flags.aggregate,
        field: flags.field,
        datatype: flags.datatype,
        ...(flags.plugin === undefined ? {} : { plugin: flags.plugin }),
      };
      const r = await manage(flags, (db) => db.call("mapPluginField", input));
      if (flags.json) printJson(r);
      else {
        console.log(
          `mapped ${r.aggregate_type}.${r.field} to ${r.datatype} for ${
            r.plugins.map((p) => `${p.kind} plugin ${p.name}`).join(", ")
          }`,
        );
      }
    },
  );

  const named = (
    command: string,
    description: string,
    run: (name: string, flags: JsonFlags) => Promise<void>,
  ) => {
    const cmd = plugin.command(command).description(description).argument(
      "<name>",
      "plugin name",
    );
    withJsonOption(cmd);
    withCommonOptions(cmd);
    cmd.action(run);
  };

  named(
    "enable",
    "enable a plugin once its target answers (directories made, files touched, hosts reached)",
    async (name, flags) => {
      const p = await manage(flags, (db) => db.call("enablePlugin", { name, check: true }));
      if (flags.json) printJson(p);
      else console.log(`enabled plugin ${p.name}`);
    },
  );
  named("disable", "disable a plugin (its cursor is kept)", async (name, flags) => {
    const p = await manage(flags, (db) => db.call("disablePlugin", { name }));
    if (flags.json) printJson(p);
    else console.log(`disabled plugin ${p.name}`);
  });
  named(
    "remove",
    "remove a disabled plugin, with its cursor and queue",
    async (name, flags) => {
      const r = await manage(flags, (db) => db.call("removePlugin", { name }));
      if (flags.json) printJson(r);
      else console.log(`removed plugin ${r.name}`);
    },
  );

  const list = plugin.command("list").description("list the plugin instances");
  withJsonOption(list);
  withCommonOptions(list);
  list.action(async (flags: JsonFlags) => {
    const plugins = await manage(flags, (db) => db.call("listPlugins", {}));
    if (flags.json) printJson(plugins);
    else if (plugins.length === 0) console.log("no plugins configured");
    else {
      printTable(
        ["NAME", "KIND", "ENABLED", "TARGET"],
        plugins.map((p) => [p.name, p.kind, p.enabled ? "yes" : "no", pluginTarget(p)]),
      );
    }
  });

  const test = plugin
    .command("test")
    .description("check that every enabled plugin's target answers (or one plugin's)")
    .argument("[name]", "plugin name");
  withJsonOption(test);
  withCommonOptions(test);
  test.action(async (name: string | undefined, flags: JsonFlags) => {
    const checks = await manage(
      flags,
      (db) => db.call("testPlugins", name === undefined ? {} : { name }),
    );
    if (flags.json) printJson(checks);
    else printChecks(checks);
    if (checks.some((c) => !c.ok)) throw new CliExit(1);
  });

  const install = plugin
    .command("install")
    .description(
      "install a process plugin's bundle (zip, tar or tar.gz) for this platform under " +
        "<data_dir>/plugins/<plugin>/<version>/<target>/",
    )
    .argument("<plugin>", "plugin id")
    .argument("<version>", "plugin version (semver)")
    .requiredOption("--source <path|url>", "bundle file, or an http(s) URL to fetch it from")
    .option("--bin <file>", "the binary inside the bundle (default: the plugin id)")
    .option("--checksum <sha256>", "refuse the bundle unless its sha256 is this")
    .option("--force", "replace the version if it is installed");
  withJsonOption(install);
  withCommonOptions(install);
  install.action(
    async (
      id: string,
      version: string,
      flags: JsonFlags & { source: string; bin?: string; checksum?: string; force?: boolean },
    ) => {
      // A path is the caller's: the server (if one runs) reads it from the same machine.
      const source = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(flags.source)
        ? flags.source
        : resolve(flags.source);
      const input = {
        plugin: id,
        version,
        source,
        ...(flags.bin === undefined ? {} : { bin: flags.bin }),
        ...(flags.checksum === undefined ? {} : { checksum: flags.checksum }),
        ...(flags.force ? { force: true } : {}),
      };
      const r = await manage(flags, (db) => db.call("installPlugin", input));
      if (flags.json) printJson(r);
      else {
        console.log(
          `${r.replaced ? "reinstalled" : "installed"} plugin ${r.plugin} ${r.version} ` +
            `for ${r.target} in ${r.path} (binary ${r.bin}, sha256 ${r.sha256})`,
        );
      }
    },
  );

  const replay = plugin
    .command("replay")
    .description("send the stored events of an aggregate (or of every one of a type) again")
    .argument("<plugin-name>", "plugin name")
    .argument("<aggregate>", "aggregate type")
    .argument("[aggregate_id]", "aggregate id (default: every aggregate of the type)");
  withJsonOption(replay);
  withCommonOptions(replay);
  replay.action(
    async (name: string, type: string, id: string | undefined, flags: JsonFlags) => {
      if (type === "") throw new DbxError("invalid_input", "aggregate type must not be empty");
      const input = id === undefined
        ? { name, aggregate_type: type }
        : { name, aggregate_type: type, aggregate_id: id };
      const r = await manage(flags, (db) => db.call("replayPlugin", input));
      if (flags.json) printJson(r);
      else console.log(`queued ${r.queued} event${r.queued === 1 ? "" : "s"} for plugin ${r.name}`);
    },
  );
}
