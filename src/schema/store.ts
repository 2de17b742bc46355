/**
 * Durable schema storage: `<dataDir>/schemas.json`, a JSON object mapping each
 * aggregate type to its schema (shape: `AggregateSchema` in ./types.ts).
 *
 * Reads are synchronous from memory (the writer validates with them); every
 * mutation is serialized, checked as a whole, written atomically (temp file,
 * fsync, rename) and only then becomes visible. A file that cannot be parsed or
 * holds an invalid schema is reported as corrupt, never silently replaced.
 */
import { dirname, join } from "node:path";
import { DbxError, isDbxError } from "../errors.ts";
import { validateName, validateNote } from "../engine/names.ts";
import { writeFileAtomic } from "../util/atomic_file.ts";
import { type CompiledSchema, compileSchema } from "./compiled.ts";
import { normalizeColumn, normalizeSchema } from "./definition.ts";
import { schemasText, schemaText } from "./file_text.ts";
import type { AggregateSchema, ColumnDefinition, SchemaAlteration } from "./types.ts";

/** File name of the schema store inside the data directory. */
export const SCHEMA_FILE_NAME = "schemas.json";

/** Every file the database writes is private to its owner. */
const SCHEMA_FILE_MODE = 0o600;
const encoder = new TextEncoder();

interface Entry {
  schema: AggregateSchema;
  compiled: CompiledSchema;
}

/** Options of `SchemaStore.importJson`. */
export interface ImportOptions {
  /** Drop every schema that the imported JSON does not contain. */
  replace?: boolean;
}

function invalid(message: string): DbxError {
  return new DbxError("invalid_input", message);
}

function quote(name: string): string {
  return JSON.stringify(name);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function toEntry(schema: AggregateSchema): Entry {
  return { schema, compiled: compileSchema(schema) };
}

function eventNames(what: string, events: unknown): string[] {
  if (!Array.isArray(events) || events.length === 0) {
    throw invalid(`${what}: give at least one event name`);
  }
  return [...new Set(events.map((e) => validateName("event type", e)))];
}

/**
 * The schemas of one data directory.
 *
 * @example
 * ```ts
 * const store = await SchemaStore.open("/home/me/.eventdbx");
 * await store.create("patient", { events: ["patient-added"], snapshot_threshold: 100 });
 * store.snapshotThreshold("patient"); // 100
 * ```
 */
export class SchemaStore {
  /** Absolute path of `schemas.json`. */
  readonly path: string;
  #entries: Map<string, Entry>;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(path: string, entries: Map<string, Entry>) {
    this.path = path;
    this.#entries = entries;
  }

  /**
   * Load the schemas of a data directory (none when the file does not exist yet).
   * Throws DbxError("corrupt") when the file is not a valid schema file.
   */
  static async open(dataDir: string): Promise<SchemaStore> {
    const path = join(dataDir, SCHEMA_FILE_NAME);
    return new SchemaStore(path, await readSchemaFile(path));
  }

  /** Re-read the file, e.g. after another process changed it. */
  reload(): Promise<void> {
    return this.#serialized(async () => {
      this.#entries = await readSchemaFile(this.path);
    });
  }

  /** Every schema, sorted by aggregate type (copies). */
  list(): AggregateSchema[] {
    return [...this.#entries.values()]
      .map((e) => e.schema)
      .sort((a, b) => (a.aggregate < b.aggregate ? -1 : 1))
      .map((s) => structuredClone(s));
  }

  /** The schema of an aggregate type (a copy), or undefined. */
  get(aggregate: string): AggregateSchema | undefined {
    const entry = this.#entries.get(aggregate);
    return entry && structuredClone(entry.schema);
  }

  /** The schema of an aggregate type (a copy); DbxError("not_found") when there is none. */
  require(aggregate: string): AggregateSchema {
    const schema = this.get(aggregate);
    if (!schema) throw notFound(aggregate);
    return schema;
  }

  /** True when the aggregate type has a schema. */
  has(aggregate: string): boolean {
    return this.#entries.has(aggregate);
  }

  /** The compiled schema the validator uses (not a copy: treat as read-only). */
  compiled(aggregate: string): CompiledSchema | undefined {
    return this.#entries.get(aggregate)?.compiled;
  }

  /** The schema's snapshot threshold, if the aggregate type has one. */
  snapshotThreshold(aggregate: string): number | undefined {
    return this.#entries.get(aggregate)?.schema.snapshot_threshold;
  }

  /**
   * Create a schema (`schema create`). DbxError("conflict") when it exists.
   *
   * @example
   * ```ts
   * declare const store: SchemaStore;
   * await store.create("patient", { events: ["patient-added", "patient-updated"] });
   * ```
   */
  create(
    aggregate: string,
    options: { events: string[]; snapshot_threshold?: number },
  ): Promise<AggregateSchema> {
    return this.#commit((entries, now) => {
      validateName("aggregate type", aggregate);
      if (entries.has(aggregate)) {
        throw new DbxError("conflict", `schema ${quote(aggregate)} already exists`);
      }
      const events = eventNames(`schema ${quote(aggregate)}`, options.events);
      const schema = normalizeSchema({
        aggregate,
        events: Object.fromEntries(events.map((e) => [e, { fields: [] }])),
        snapshot_threshold: options.snapshot_threshold,
      }, now);
      entries.set(aggregate, schema);
      return schema;
    });
  }

  /** Declare more events (`schema add`); DbxError("conflict") when one is declared already. */
  addEvents(aggregate: string, events: string[]): Promise<AggregateSchema> {
    return this.#update(aggregate, (schema) => {
      for (const event of eventNames(`schema ${quote(aggregate)}`, events)) {
        if (Object.hasOwn(schema.events, event)) {
          throw new DbxError(
            "conflict",
            `event ${quote(event)} is already declared in schema ${quote(aggregate)}`,
          );
        }
        schema.events[event] = { fields: [] };
      }
    });
  }

  /** Remove a declared event (`schema remove`); the last event cannot be removed. */
  removeEvent(aggregate: string, event: string): Promise<AggregateSchema> {
    return this.#update(aggregate, (schema) => {
      requireEvent(schema, event);
      if (Object.keys(schema.events).length === 1) {
        throw invalid(
          `cannot remove ${quote(event)}, the last event of schema ${quote(aggregate)}; ` +
            `delete the schema instead`,
        );
      }
      delete schema.events[event];
    });
  }

  /** Set (or with null, clear) an event's note (`schema annotate`). */
  annotate(aggregate: string, event: string, note: string | null): Promise<AggregateSchema> {
    return this.#update(aggregate, (schema) => {
      const definition = requireEvent(schema, event);
      if (note === null) {
        delete definition.notes;
        return;
      }
      if (typeof note !== "string" || note.trim() === "") {
        throw invalid("note must not be empty (use --clear to remove a note)");
      }
      definition.notes = validateNote(note);
    });
  }

  /**
   * Apply several changes at once (`schema alter`): all succeed or none.
   *
   * @example
   * ```ts
   * declare const store: SchemaStore;
   * await store.alter("invoice", {
   *   column: { field: "amount", type: "decimal(10,2)", rules: { range: { min: "0" } } },
   * });
   * ```
   */
  async alter(aggregate: string, changes: SchemaAlteration): Promise<AggregateSchema> {
    if (!isPlainObject(changes) || !Object.values(changes).some((v) => v !== undefined)) {
      throw invalid("nothing to alter");
    }
    return await this.#update(aggregate, (schema) => applyAlteration(schema, changes));
  }

  /**
   * Create or replace one whole schema from its JSON form (Admin API, import).
   * A replaced schema keeps its created_at unless the input gives one.
   */
  put(input: unknown): Promise<AggregateSchema> {
    return this.#commit((entries, now) => {
      const schema = normalizeImported(input, entries, now);
      entries.set(schema.aggregate, schema);
      return schema;
    });
  }

  /** Delete the schema of an aggregate type; its events stay untouched. */
  delete(aggregate: string): Promise<void> {
    return this.#commit((entries) => {
      if (!entries.delete(aggregate)) throw notFound(aggregate);
    });
  }

  /**
   * Import schemas from JSON text: one schema object, a list of them, or an
   * object mapping aggregate types to schemas (the `exportJson()` form). Every
   * schema is checked before anything is stored.
   *
   * @example
   * ```ts
   * declare const store: SchemaStore;
   * await store.importJson(await Deno.readTextFile("schemas.json"));
   * ```
   */
  importJson(text: string, options: ImportOptions = {}): Promise<AggregateSchema[]> {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      return Promise.reject(invalid(`schema JSON is not valid JSON: ${(err as Error).message}`));
    }
    return this.importValue(raw, options);
  }

  /**
   * Import schemas already parsed from JSON (see {@link importJson} for the forms).
   *
   * @example
   * ```ts
   * declare const store: SchemaStore;
   * await store.importValue([{ aggregate: "patient", events: { "patient-added": {} } }]);
   * ```
   */
  async importValue(raw: unknown, options: ImportOptions = {}): Promise<AggregateSchema[]> {
    let items: unknown[];
    if (Array.isArray(raw)) {
      items = raw;
    } else if (isPlainObject(raw) && typeof raw.aggregate === "string") {
      items = [raw];
    } else if (isPlainObject(raw)) {
      items = Object.entries(raw).map(([key, value]) => {
        if (!isPlainObject(value)) throw invalid(`schema ${quote(key)} must be a JSON object`);
        if (value.aggregate !== undefined && value.aggregate !== key) {
          throw invalid(
            `entry ${quote(key)} holds the schema of ${quote(String(value.aggregate))}`,
          );
        }
        return { ...value, aggregate: key };
      });
    } else {
      throw invalid("schema JSON must be a schema, a list of schemas, or an object of schemas");
    }
    if (items.length === 0 && !options.replace) throw invalid("the schema JSON holds no schemas");
    return await this.#commit((entries, now) => {
      const previous = new Map(entries);
      if (options.replace) entries.clear();
      const imported: AggregateSchema[] = [];
      for (const item of items) {
        const schema = normalizeImported(item, previous, now);
        if (imported.some((s) => s.aggregate === schema.aggregate)) {
          throw invalid(`schema ${quote(schema.aggregate)} appears twice in the JSON`);
        }
        imported.push(schema);
        entries.set(schema.aggregate, schema);
      }
      return imported;
    });
  }

  /**
   * JSON text of one schema, or of all schemas as an object keyed by aggregate
   * type (the `schemas.json` form); both load back with `importJson`.
   */
  exportJson(aggregate?: string): string {
    if (aggregate !== undefined) return schemaText(this.require(aggregate));
    return schemasText(this.list());
  }

  #update(
    aggregate: string,
    edit: (schema: AggregateSchema) => void,
  ): Promise<AggregateSchema> {
    return this.#commit((entries, now) => {
      const current = entries.get(aggregate);
      if (!current) throw notFound(aggregate);
      const draft = structuredClone(current);
      edit(draft);
      draft.updated_at = now;
      // Re-normalizing re-checks every invariant and keeps lists sorted.
      const schema = normalizeSchema(draft, now);
      entries.set(aggregate, schema);
      return schema;
    });
  }

  /** Run a change on a copy of all schemas, persist it, then make it visible. */
  #commit<T>(change: (entries: Map<string, AggregateSchema>, now: string) => T): Promise<T> {
    return this.#serialized(async () => {
      const entries = new Map([...this.#entries].map(([k, e]) => [k, e.schema]));
      const result = change(entries, new Date().toISOString());
      const next = new Map<string, Entry>();
      for (const [name, schema] of entries) {
        const old = this.#entries.get(name);
        next.set(name, old && old.schema === schema ? old : toEntry(schema));
      }
      await Deno.mkdir(dirname(this.path), { recursive: true });
      await writeFileAtomic(
        this.path,
        encoder.encode(schemasText(entries.values())),
        SCHEMA_FILE_MODE,
      );
      this.#entries = next;
      return structuredClone(result);
    });
  }

  #serialized<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => {});
    return run;
  }
}

function notFound(aggregate: string): DbxError {
  return new DbxError("not_found", `no schema for aggregate type ${quote(aggregate)}`);
}

function requireEvent(schema: AggregateSchema, event: string) {
  validateName("event type", event);
  if (!Object.hasOwn(schema.events, event)) {
    throw new DbxError(
      "not_found",
      `event ${quote(event)} is not declared in schema ${quote(schema.aggregate)}`,
    );
  }
  return schema.events[event];
}

function normalizeImported(
  input: unknown,
  existing: Map<string, AggregateSchema>,
  now: string,
): AggregateSchema {
  if (!isPlainObject(input)) throw invalid("a schema must be a JSON object");
  const previous = typeof input.aggregate === "string" ? existing.get(input.aggregate) : undefined;
  return normalizeSchema({
    ...input,
    created_at: input.created_at ?? previous?.created_at,
    updated_at: input.updated_at ?? now,
  }, now);
}

function applyAlteration(schema: AggregateSchema, changes: SchemaAlteration): void {
  const name = quote(schema.aggregate);
  if (changes.snapshot_threshold !== undefined) {
    const value = changes.snapshot_threshold;
    if (value === null || value === 0) {
      delete schema.snapshot_threshold;
    } else if (!Number.isSafeInteger(value) || value < 0) {
      throw invalid("snapshot threshold must be a non-negative integer");
    } else {
      schema.snapshot_threshold = value;
    }
  }
  if (changes.locked !== undefined) {
    if (typeof changes.locked !== "boolean") throw invalid("locked must be true or false");
    schema.locked = changes.locked;
  }
  if (changes.field_lock !== undefined) {
    const { field, locked } = changes.field_lock;
    validateName("field name", field);
    if (typeof locked !== "boolean") throw invalid("a field lock must be true or false");
    schema.field_locks = locked
      ? [...schema.field_locks, field]
      : schema.field_locks.filter((f) => f !== field);
  }
  if (changes.event_fields !== undefined) {
    const { event, add = [], remove = [] } = changes.event_fields;
    const definition = requireEvent(schema, event);
    if (add.length === 0 && remove.length === 0) {
      throw invalid(`give fields to add or remove for event ${quote(event)}`);
    }
    for (const field of add) validateName("field name", field);
    for (const field of remove) {
      validateName("field name", field);
      if (!definition.fields.includes(field)) {
        throw invalid(`field ${quote(field)} is not listed for event ${quote(event)} of ${name}`);
      }
    }
    definition.fields = [...definition.fields, ...add].filter((f) => !remove.includes(f));
  }
  if (changes.column !== undefined) alterColumn(schema, changes.column);
}

function alterColumn(
  schema: AggregateSchema,
  change: NonNullable<SchemaAlteration["column"]>,
): void {
  const { field, type, rules, remove } = change;
  validateName("field name", field);
  const existing: ColumnDefinition | undefined = Object.hasOwn(schema.columns, field)
    ? schema.columns[field]
    : undefined;
  if (remove) {
    if (type !== undefined || rules !== undefined) {
      throw invalid("removing a column cannot be combined with a type or rules");
    }
    if (!existing) {
      throw new DbxError(
        "not_found",
        `schema ${quote(schema.aggregate)} has no column ${quote(field)}`,
      );
    }
    delete schema.columns[field];
    return;
  }
  if (type === undefined && rules === undefined) {
    throw invalid(`give a type and/or rules for column ${quote(field)}`);
  }
  const newType = type ?? existing?.type;
  if (newType === undefined) {
    throw invalid(`column ${quote(field)} has no type yet; give a type together with the rules`);
  }
  const definition = normalizeColumn(field, {
    type: newType,
    rules: rules === undefined ? existing?.rules : rules,
  });
  if (existing?.properties) {
    if (definition.type !== "object") {
      throw invalid(
        `column ${quote(field)} has nested properties; remove the column before changing its type`,
      );
    }
    definition.properties = existing.properties;
  }
  schema.columns[field] = definition;
}

async function readSchemaFile(path: string): Promise<Map<string, Entry>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return new Map();
    throw new DbxError("unavailable", `cannot read schema file ${path}: ${(err as Error).message}`);
  }
  const corrupt = (why: string) =>
    new DbxError("corrupt", `schema file ${path} is corrupt: ${why}`);
  if (text.trim() === "") throw corrupt("the file is empty");
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw corrupt(`invalid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(raw)) throw corrupt("expected an object mapping aggregate types to schemas");
  const entries = new Map<string, Entry>();
  const now = new Date().toISOString();
  for (const [key, value] of Object.entries(raw)) {
    let schema: AggregateSchema;
    try {
      schema = normalizeSchema(value, now);
    } catch (err) {
      if (isDbxError(err)) throw corrupt(err.message);
      throw err;
    }
    if (schema.aggregate !== key) {
      throw corrupt(`entry ${quote(key)} holds the schema of ${quote(schema.aggregate)}`);
    }
    entries.set(key, toEntry(schema));
  }
  return entries;
}
