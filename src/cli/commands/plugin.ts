/**
 * `dbx plugin config <kind> …|enable|disable|remove|list|test|replay`: configure the
 * plugins that committed events are delivered to. The older seed's short forms
 * (`dbx plugin json --path …`, named after their kind unless `--name` is given) are kept.
 * Every command goes through the API (locally, or through the running server).
 */
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
    summary: "send EventRecord batches to a replication-compatible gRPC endpoint",
    add: (c) => c.requiredOption("--endpoint <host|url>", "endpoint of the gRPC service"),
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
