/**
 * The layering of src/, checked on the source: every surface (REST, CLI, client, and the
 * GraphQL, gRPC, socket and Admin surfaces once they exist) reaches the database only
 * through the API layer (src/api), never the engine, the storage or a stateful store
 * directly; surfaces do not depend on each other; the lower layers never import the
 * layers above them; and only src/store/rocksdb.ts loads the RocksDB binding.
 *
 * The imports are read by a small TypeScript lexer (comments, strings, template literals
 * and regular expressions are skipped correctly, so an `import` inside a doc example or a
 * string does not count), covering `import … from`, `import type … from`, side-effect
 * `import "…"`, `export … from`, dynamic `import("…")` (also in type positions) and module
 * URLs `new URL("…", import.meta.url)` (workers). Relative specifiers are resolved to
 * repository paths. Every rule is a plain function over a list of files and their imports,
 * and each one is also run over a synthetic violating file list to prove it can fail.
 */
import assert from "node:assert/strict";
import { join, posix, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

// ---------------------------------------------------------------------------------------
// Reading imports
// ---------------------------------------------------------------------------------------

/** How a module refers to another. */
export type ImportKind = "static" | "type" | "side-effect" | "re-export" | "dynamic" | "url";

/** One import of a file: the specifier as written and what it resolves to. */
export interface ImportRef {
  specifier: string;
  /** Repository-relative path (`src/engine/engine.ts`) for relative specifiers, else the bare specifier. */
  target: string;
  kind: ImportKind;
  line: number;
}

/** A source file and its imports. */
export interface SourceFile {
  /** Repository-relative path with forward slashes, e.g. `src/rest/app.ts`. */
  path: string;
  imports: ImportRef[];
}

type Token =
  | { t: "name"; v: string; line: number }
  | { t: "string"; v: string; line: number }
  | { t: "template"; line: number }
  | { t: "punct"; v: string; line: number }
  | { t: "other"; line: number };

/** Keywords after which a `/` starts a regular expression, not a division. */
const REGEX_AFTER_KEYWORDS = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await",
]);

/**
 * Split TypeScript source into the tokens the import scanner needs: names, string literals
 * (with their value), template literals (as one opaque token; the code inside `${}` is
 * tokenized), punctuation. Comments and regular-expression literals are dropped.
 */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  // One entry per open `{`: "code" for a block, "template" for a `${` in a template.
  const braces: ("code" | "template")[] = [];
  let i = 0;
  let line = 1;
  const n = source.length;
  const isIdStart = (c: string) => /[A-Za-z_$\u0080-\uffff]/.test(c);
  const isId = (c: string) => /[A-Za-z0-9_$\u0080-\uffff]/.test(c);

  const regexAllowed = (): boolean => {
    const prev = tokens[tokens.length - 1];
    if (!prev) return true;
    if (prev.t === "name") return REGEX_AFTER_KEYWORDS.has(prev.v);
    if (prev.t === "string" || prev.t === "template" || prev.t === "other") return false;
    return !(prev.v === ")" || prev.v === "]" || prev.v === "}");
  };

  /** Read a template literal body from `i` (just after "`" or a closing "}" of `${`). */
  const readTemplate = (): void => {
    const start = line;
    while (i < n) {
      const c = source[i];
      if (c === "\\") {
        i += 2;
        continue;
      }
      if (c === "\n") line++;
      if (c === "`") {
        i++;
        tokens.push({ t: "template", line: start });
        return;
      }
      if (c === "$" && source[i + 1] === "{") {
        i += 2;
        braces.push("template");
        tokens.push({ t: "template", line: start });
        return;
      }
      i++;
    }
    throw new Error(`unterminated template literal from line ${start}`);
  };

  while (i < n) {
    const c = source[i];
    if (c === "\n") {
      line++;
      i++;
      continue;
    }
    if (c === " " || c === "\t" || c === "\r" || c === "\uFEFF") {
      i++;
      continue;
    }
    if (c === "/" && source[i + 1] === "/") {
      while (i < n && source[i] !== "\n") i++;
      continue;
    }
    if (c === "/" && source[i + 1] === "*") {
      const end = source.indexOf("*/", i + 2);
      if (end === -1) throw new Error(`unterminated comment at line ${line}`);
      for (let k = i; k < end; k++) if (source[k] === "\n") line++;
      i = end + 2;
      continue;
    }
    if (c === '"' || c === "'") {
      const start = line;
      let value = "";
      i++;
      while (i < n && source[i] !== c) {
        if (source[i] === "\n") throw new Error(`unterminated string at line ${start}`);
        if (source[i] === "\\") {
          value += source[i + 1];
          i += 2;
          continue;
        }
        value += source[i++];
      }
      i++;
      tokens.push({ t: "string", v: value, line: start });
      continue;
    }
    if (c === "`") {
      i++;
      readTemplate();
      continue;
    }
    if (c === "/" && regexAllowed()) {
      const start = line;
      i++;
      let inClass = false;
      while (i < n) {
        const r = source[i];
        if (r === "\n") throw new Error(`unterminated regular expression at line ${start}`);
        if (r === "\\") {
          i += 2;
          continue;
        }
        if (r === "[") inClass = true;
        else if (r === "]") inClass = false;
        else if (r === "/" && !inClass) break;
        i++;
      }
      i++;
      while (i < n && isId(source[i])) i++; // flags
      tokens.push({ t: "other", line: start });
      continue;
    }
    if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(source[i + 1] ?? ""))) {
      while (i < n && /[0-9A-Za-z_.]/.test(source[i])) i++;
      tokens.push({ t: "other", line });
      continue;
    }
    if (isIdStart(c) || c === "#") {
      const start = i;
      i++;
      while (i < n && isId(source[i])) i++;
      tokens.push({ t: "name", v: source.slice(start, i), line });
      continue;
    }
    if (c === "{") {
      braces.push("code");
      tokens.push({ t: "punct", v: c, line });
      i++;
      continue;
    }
    if (c === "}") {
      i++;
      if (braces.pop() === "template") {
        readTemplate();
        continue;
      }
      tokens.push({ t: "punct", v: "}", line });
      continue;
    }
    // Multi-character operators matter only for "?." and "...": neither starts a regex.
    if (c === "." && source[i + 1] === "." && source[i + 2] === ".") {
      tokens.push({ t: "punct", v: "...", line });
      i += 3;
      continue;
    }
    tokens.push({ t: "punct", v: c, line });
    i++;
  }
  return tokens;
}

function isPunct(tok: Token | undefined, v: string): boolean {
  return tok?.t === "punct" && tok.v === v;
}

function isName(tok: Token | undefined, v: string): boolean {
  return tok?.t === "name" && tok.v === v;
}

/** The specifiers of a module's imports, in source order (unresolved). */
export function importSpecifiers(
  source: string,
): { specifier: string; kind: ImportKind; line: number }[] {
  const tokens = tokenize(source);
  const out: { specifier: string; kind: ImportKind; line: number }[] = [];
  for (let k = 0; k < tokens.length; k++) {
    const tok = tokens[k];
    if (tok.t !== "name") continue;
    const prev = tokens[k - 1];
    // `x.import(…)` or `{ import: … }` are not imports.
    if (isPunct(prev, ".") && !isPunct(tokens[k - 2], ".")) continue;
    const next = tokens[k + 1];

    if (tok.v === "import") {
      if (isPunct(next, ".")) continue; // import.meta
      if (isPunct(next, "(")) {
        const arg = tokens[k + 2];
        if (arg?.t === "string" && (isPunct(tokens[k + 3], ")") || isPunct(tokens[k + 3], ","))) {
          out.push({ specifier: arg.v, kind: "dynamic", line: tok.line });
        }
        continue;
      }
      if (next?.t === "string") {
        out.push({ specifier: next.v, kind: "side-effect", line: tok.line });
        continue;
      }
      // import [type] <clause> from "x"   (a clause never holds a string or a semicolon)
      const typeOnly = isName(next, "type") && !isName(tokens[k + 2], "from") &&
        !isPunct(tokens[k + 2], ",");
      for (let j = k + 1; j < tokens.length; j++) {
        const t = tokens[j];
        if (isPunct(t, ";") || t.t === "string") break;
        if (isName(t, "from") && tokens[j + 1]?.t === "string") {
          const spec = tokens[j + 1] as { v: string };
          out.push({ specifier: spec.v, kind: typeOnly ? "type" : "static", line: tok.line });
          k = j + 1;
          break;
        }
        if (isPunct(t, "=")) break; // import x = require(...) / import a = ns.b
      }
      continue;
    }

    if (tok.v === "export") {
      let j = k + 1;
      if (isName(tokens[j], "type")) j++;
      if (isPunct(tokens[j], "*")) {
        j++;
        if (isName(tokens[j], "as")) j += 2;
      } else if (isPunct(tokens[j], "{")) {
        let depth = 0;
        for (; j < tokens.length; j++) {
          if (isPunct(tokens[j], "{")) depth++;
          if (isPunct(tokens[j], "}") && --depth === 0) break;
        }
        j++;
      } else {
        continue;
      }
      if (isName(tokens[j], "from") && tokens[j + 1]?.t === "string") {
        out.push({
          specifier: (tokens[j + 1] as { v: string }).v,
          kind: "re-export",
          line: tok.line,
        });
        k = j + 1;
      }
      continue;
    }

    // new URL("./worker.ts", import.meta.url)
    if (tok.v === "URL" && isName(prev, "new") && isPunct(next, "(")) {
      const arg = tokens[k + 2];
      if (
        arg?.t === "string" && isPunct(tokens[k + 3], ",") && isName(tokens[k + 4], "import") &&
        isPunct(tokens[k + 5], ".") && isName(tokens[k + 6], "meta") &&
        isPunct(tokens[k + 7], ".") && isName(tokens[k + 8], "url")
      ) {
        out.push({ specifier: arg.v, kind: "url", line: tok.line });
      }
    }
  }
  return out;
}

/** Resolve a specifier of `fromPath` (repository-relative) to a repository path or bare name. */
export function resolveSpecifier(fromPath: string, specifier: string): string {
  if (specifier.startsWith("./") || specifier.startsWith("../")) {
    return posix.normalize(posix.join(posix.dirname(fromPath), specifier));
  }
  if (specifier.startsWith("file:")) {
    return relative(ROOT, fileURLToPath(specifier)).split(sep).join("/");
  }
  if (specifier.startsWith("/")) return relative(ROOT, specifier).split(sep).join("/");
  return specifier;
}

/** Parse one file's source into a {@link SourceFile}. */
export function parseSource(path: string, source: string): SourceFile {
  return {
    path,
    imports: importSpecifiers(source).map((s) => ({
      ...s,
      target: resolveSpecifier(path, s.specifier),
    })),
  };
}

async function listTs(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const full = join(dir, entry.name);
    if (entry.isDirectory) out.push(...await listTs(full));
    else if (entry.isFile && entry.name.endsWith(".ts")) out.push(full);
  }
  return out.sort();
}

/** Every .ts file under src/ with its imports. */
async function readSourceTree(): Promise<SourceFile[]> {
  const files = await listTs(resolve(ROOT, "src"));
  return await Promise.all(files.map(async (full) => {
    const path = relative(ROOT, full).split(sep).join("/");
    try {
      return parseSource(path, await Deno.readTextFile(full));
    } catch (err) {
      throw new Error(`cannot read the imports of ${path}: ${(err as Error).message}`);
    }
  }));
}

// ---------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------

/** A file that breaks a rule by one import. */
export interface Violation {
  file: string;
  line: number;
  specifier: string;
  target: string;
  why: string;
}

/** Folders of the surfaces: they call only the API. */
export const SURFACES = [
  "src/rest",
  "src/cli",
  "src/client",
  "src/graphql",
  "src/grpc",
  "src/socket",
  "src/admin",
];

/** Where the state lives: only the API layer (and the server wiring it) reaches it. */
const STATEFUL = [
  "src/engine/",
  "src/store/",
  "src/auth/authority.ts",
  "src/auth/token_file.ts",
  "src/schema/store.ts",
  "src/staging/",
  "src/remotes/store.ts",
  "src/plugins/store.ts",
];

/** Below the API: never import what is built on top of them. */
const LOWER_LAYERS = [
  "src/engine",
  "src/store",
  "src/integrity",
  "src/crypto",
  "src/util",
  "src/schema",
  "src/auth",
  "src/config",
];
const ABOVE_API = ["src/rest", "src/cli", "src/client", "src/server"];

/** True when `path` is `folder` itself or inside it (`src/rest` matches `src/rest/app.ts`). */
function inFolder(path: string, folder: string): boolean {
  const f = folder.endsWith("/") ? folder.slice(0, -1) : folder;
  return path === f || path.startsWith(f + "/");
}

function matches(path: string, pattern: string): boolean {
  return pattern.endsWith("/") ? inFolder(path, pattern) : path === pattern;
}

function surfaceOf(path: string): string | undefined {
  return SURFACES.find((s) => inFolder(path, s));
}

function collect(
  files: SourceFile[],
  check: (file: SourceFile, ref: ImportRef) => string | undefined,
): Violation[] {
  const out: Violation[] = [];
  for (const file of files) {
    for (const ref of file.imports) {
      const why = check(file, ref);
      if (why) {
        out.push({
          file: file.path,
          line: ref.line,
          specifier: ref.specifier,
          target: ref.target,
          why,
        });
      }
    }
  }
  return out;
}

/** a. Surfaces never import the engine, the storage or the stateful stores (types included). */
export function surfacesUseOnlyTheApi(files: SourceFile[]): Violation[] {
  return collect(files, (file, ref) => {
    const surface = surfaceOf(file.path);
    if (!surface) return undefined;
    const hit = STATEFUL.find((p) => matches(ref.target, p));
    return hit
      ? `surface ${surface} imports ${hit} (${ref.kind}); go through src/api (it re-exports the record types)`
      : undefined;
  });
}

/**
 * b. No surface imports another surface. Allowed: src/cli → src/client and src/server (the
 * CLI picks the backend and runs the server). src/server, which serves the surfaces, may import every surface but the
 * CLI (which drives it) and the client.
 */
export function surfacesAreIndependent(files: SourceFile[]): Violation[] {
  return collect(files, (file, ref) => {
    const from = surfaceOf(file.path) ?? (inFolder(file.path, "src/server") ? "src/server" : "");
    if (!from) return undefined;
    const to = surfaceOf(ref.target) ??
      (inFolder(ref.target, "src/server") ? "src/server" : undefined);
    if (!to || to === from) return undefined;
    if (from === "src/cli" && (to === "src/client" || to === "src/server")) return undefined;
    if (from === "src/server" && to !== "src/cli" && to !== "src/client") return undefined;
    return `${from} imports the ${to} folder (${ref.kind})`;
  });
}

/** c. No upward imports: the layers below the API never import it or anything above it. */
export function noUpwardImports(files: SourceFile[]): Violation[] {
  return collect(files, (file, ref) => {
    const lower = LOWER_LAYERS.find((l) => inFolder(file.path, l));
    if (lower) {
      const up = [...ABOVE_API, "src/api"].find((u) => inFolder(ref.target, u));
      return up ? `${lower} is below ${up} but imports it (${ref.kind})` : undefined;
    }
    if (inFolder(file.path, "src/api")) {
      const up = ABOVE_API.find((u) => inFolder(ref.target, u));
      return up ? `src/api is below ${up} but imports it (${ref.kind})` : undefined;
    }
    return undefined;
  });
}

/** The RocksDB binding, however it is spelled. */
function isRocksBinding(target: string): boolean {
  return /^(npm:)?rocksdb(@[^/]*)?(\/.*)?$/.test(target);
}

/** d. Only src/store/rocksdb.ts imports the RocksDB binding. */
export function onlyTheStoreLoadsRocksDb(files: SourceFile[]): Violation[] {
  return collect(
    files,
    (file, ref) =>
      isRocksBinding(ref.target) && file.path !== "src/store/rocksdb.ts"
        ? `only src/store/rocksdb.ts may import the RocksDB binding (${ref.kind})`
        : undefined,
  );
}

function report(rule: string, violations: Violation[]): string {
  return `${rule}: ${violations.length} offending import(s):\n` +
    violations.map((v) =>
      `  ${v.file}:${v.line} → "${v.specifier}"` +
      (v.target !== v.specifier ? ` (${v.target})` : "") + `\n      ${v.why}`
    ).join("\n");
}

function assertNoViolations(rule: string, violations: Violation[]): void {
  assert.equal(violations.length, 0, report(rule, violations));
}

// ---------------------------------------------------------------------------------------
// The tests on src/
// ---------------------------------------------------------------------------------------

let tree: Promise<SourceFile[]> | undefined;
const sources = () => tree ??= readSourceTree();

Deno.test("architecture: the import reader sees the whole of src/", async () => {
  const files = await sources();
  assert(files.length >= 50, `only ${files.length} .ts files found under src/`);
  const byPath = new Map(files.map((f) => [f.path, f]));
  // Known imports of each kind, as a check that the reader works on the real code.
  const has = (path: string, target: string, kind?: ImportKind) => {
    const file = byPath.get(path);
    assert(file, `${path} exists`);
    assert(
      file.imports.some((r) => r.target === target && (!kind || r.kind === kind)),
      `${path} → ${target}${kind ? ` (${kind})` : ""} is found; found:\n` +
        file.imports.map((r) => `  ${r.kind} ${r.target}`).join("\n"),
    );
  };
  has("src/store/rocksdb.ts", "rocksdb", "static");
  has("src/cli/commands/server.ts", "src/server/serve.ts", "dynamic");
  has("src/rest/app.ts", "src/api/api.ts", "type");
  has("src/server/http_workers.ts", "src/server/http_worker.ts", "url");
  // Every relative import names a file that exists: the resolution is right.
  const missing: string[] = [];
  for (const file of files) {
    for (const ref of file.imports) {
      if (ref.target.startsWith("src/") && !byPath.has(ref.target)) {
        missing.push(`  ${file.path}:${ref.line} → "${ref.specifier}" (${ref.target})`);
      }
    }
  }
  assert.equal(missing.length, 0, `imports that resolve to no file:\n${missing.join("\n")}`);
});

Deno.test("architecture (a): surfaces never import the engine, the storage or the stateful stores", async () => {
  assertNoViolations(
    "surfaces must use only src/api (not src/engine, src/store, src/auth/authority.ts, " +
      "src/auth/token_file.ts, src/schema/store.ts, src/staging)",
    surfacesUseOnlyTheApi(await sources()),
  );
});

Deno.test("architecture (b): no surface imports another surface", async () => {
  assertNoViolations(
    "surfaces must not import each other",
    surfacesAreIndependent(await sources()),
  );
});

Deno.test("architecture (c): no upward imports into src/api and the layers above it", async () => {
  assertNoViolations("lower layers must not import upwards", noUpwardImports(await sources()));
});

Deno.test("architecture (d): only src/store/rocksdb.ts imports the RocksDB binding", async () => {
  assertNoViolations(
    "the RocksDB binding is private to src/store/rocksdb.ts",
    onlyTheStoreLoadsRocksDb(await sources()),
  );
});

// ---------------------------------------------------------------------------------------
// Self-checks: the reader and the rules do fail when they should
// ---------------------------------------------------------------------------------------

Deno.test("architecture self-check: the reader finds every import form and ignores comments and strings", () => {
  const source = [
    `import { a } from "./a.ts";`,
    `import type { B } from "../engine/types.ts";`,
    `import { type C, d } from "./c.ts";`,
    `import * as ns from "./ns.ts";`,
    `import def, { e } from "./e.ts";`,
    `import "./side.ts";`,
    `import {`,
    `  f,`,
    `  g,`,
    `} from "./multi.ts";`,
    `export { h } from "./h.ts";`,
    `export * from "./star.ts";`,
    `export type { I } from "./i.ts";`,
    `export * as j from "./j.ts";`,
    `export const k = 1;`,
    `export { k as kk };`,
    `const m = await import("../store/rocksdb.ts");`,
    `type T = typeof import("./typed.ts");`,
    `const w = new Worker(new URL("./worker.ts", import.meta.url).href);`,
    `/** @example`,
    ` * import { doc } from "../engine/engine.ts";`,
    ` */`,
    `// import { line } from "../engine/engine.ts";`,
    `const s = 'import { str } from "../engine/engine.ts"';`,
    'const t = `import("../engine/${m}.ts") ${`nested ${\'}\'}`} import { x } from "./y.ts"`;',
    `const r = /import ["'](x)["'] \\/\\//g.test(s) ? 1 / 2 / 3 : 0;`,
    `const url = "http://example.com/x"; // not a comment start inside the string`,
    `const o = { import: 1 }; o.import;`,
    `import { last } from 'rocksdb';`,
  ].join("\n");
  const found = parseSource("src/rest/x.ts", source).imports.map((r) => `${r.kind} ${r.target}`);
  assert.deepEqual(found, [
    "static src/rest/a.ts",
    "type src/engine/types.ts",
    "static src/rest/c.ts",
    "static src/rest/ns.ts",
    "static src/rest/e.ts",
    "side-effect src/rest/side.ts",
    "static src/rest/multi.ts",
    "re-export src/rest/h.ts",
    "re-export src/rest/star.ts",
    "re-export src/rest/i.ts",
    "re-export src/rest/j.ts",
    "dynamic src/store/rocksdb.ts",
    "dynamic src/rest/typed.ts",
    "url src/rest/worker.ts",
    "static rocksdb",
  ]);
});

Deno.test("architecture self-check: every rule reports a synthetic violation (and only it)", () => {
  const file = (path: string, ...specifiers: string[]): SourceFile => ({
    path,
    imports: specifiers.map((specifier, i) => ({
      specifier,
      target: resolveSpecifier(path, specifier),
      kind: "static",
      line: i + 1,
    })),
  });
  const files: SourceFile[] = [
    // Allowed everywhere below.
    file("src/rest/routes/events.ts", "../../api/checks.ts", "../call.ts", "hono"),
    file("src/cli/backend.ts", "../client/http_api.ts", "../server/pid_file.ts", "../api/node.ts"),
    file("src/client/http_api.ts", "../http/status.ts", "../api/api.ts"),
    file("src/server/serve.ts", "../rest/app.ts", "../api/node.ts"),
    file("src/api/node.ts", "../engine/engine.ts", "../store/rocksdb.ts", "../auth/authority.ts"),
    file("src/store/rocksdb.ts", "rocksdb"),
    file("src/engine/engine.ts", "../store/rocksdb.ts", "../integrity/mod.ts"),
    // Violations, one per rule (and one type-only import of the engine).
    file("src/rest/routes/bad.ts", "../../engine/types.ts"),
    file("src/graphql/schema.ts", "../staging/staged_events.ts"),
    file("src/client/bad.ts", "../rest/app.ts"),
    file("src/rest/bad_surface.ts", "../cli/run.ts"),
    file("src/engine/bad.ts", "../api/api.ts"),
    file("src/api/bad.ts", "../rest/app.ts"),
    file("src/cli/bad.ts", "npm:rocksdb@5.2.1"),
  ];
  // Type-only imports are dependencies too.
  files[7].imports[0].kind = "type";
  const list = (v: Violation[]) => v.map((x) => `${x.file} → ${x.target}`);
  assert.deepEqual(list(surfacesUseOnlyTheApi(files)), [
    "src/rest/routes/bad.ts → src/engine/types.ts",
    "src/graphql/schema.ts → src/staging/staged_events.ts",
  ]);
  assert.deepEqual(list(surfacesAreIndependent(files)), [
    "src/client/bad.ts → src/rest/app.ts",
    "src/rest/bad_surface.ts → src/cli/run.ts",
  ]);
  assert.deepEqual(list(noUpwardImports(files)), [
    "src/engine/bad.ts → src/api/api.ts",
    "src/api/bad.ts → src/rest/app.ts",
  ]);
  assert.deepEqual(list(onlyTheStoreLoadsRocksDb(files)), ["src/cli/bad.ts → npm:rocksdb@5.2.1"]);
  // And the failure message lists file → import.
  assert.throws(
    () => assertNoViolations("rule a", surfacesUseOnlyTheApi(files)),
    (err: Error) =>
      /src\/rest\/routes\/bad\.ts:1 → "\.\.\/\.\.\/engine\/types\.ts"/.test(err.message) &&
      /2 offending import/.test(err.message),
  );
});
