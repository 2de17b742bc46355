/**
 * Filter expressions over aggregates and events: the SQL-like language the official client
 * SDKs send (`status = "active"`, `score > 40 AND archived = false`,
 * `(owner.group = "ops" OR owner.group = "support") AND NOT archived = true`,
 * `payload.status = "open" AND metadata.note LIKE "retry%"`, `tier IN ["gold", "silver"]`).
 *
 * Grammar (keywords in any case):
 *   expr       := or
 *   or         := and ("OR" and)*
 *   and        := unary ("AND" unary)*
 *   unary      := "NOT" unary | "(" expr ")" | comparison
 *   comparison := field ("=" | "==" | "!=" | "<>" | ">" | ">=" | "<" | "<=") literal
 *               | field ["NOT"] "LIKE" string
 *               | field ["NOT"] "IN" ("[" | "(") literal ("," literal)* ("]" | ")")
 *   field      := name ("." name)*     (a name may be `back-quoted` to hold any character)
 *   literal    := "string" | 'string' | number | true | false | null
 *
 * Comparisons follow the data model, where scalar state values are strings: a number
 * literal matches a value that is that number or a string spelling it ("42"), a boolean
 * literal matches true or "true", `= null` matches a missing field, null or "" (how null is
 * stored). `<`, `>`… compare numbers when both sides are numeric, else strings by code point;
 * a value of another kind never matches them. LIKE is case-sensitive (`%` any run, `_` one
 * character). Parsing is bounded (length, nodes, nesting), so no filter can exhaust the
 * stack or the CPU; errors are DbxError "invalid_input" naming the position.
 */
import { DbxError } from "../errors.ts";

/** Longest filter text, in characters. */
export const MAX_FILTER_LENGTH = 4096;
/** Most comparisons and operators in one filter. */
const MAX_NODES = 256;
/** Deepest nesting of parentheses and NOT. */
const MAX_DEPTH = 32;
/** Most values of one IN list. */
const MAX_IN_VALUES = 256;

/** A literal of the language. */
export type Literal = string | number | boolean | null;

type Comparison = "=" | "!=" | ">" | ">=" | "<" | "<=";

/** A parsed filter expression. */
export type FilterNode =
  | { op: "and" | "or"; left: FilterNode; right: FilterNode }
  | { op: "not"; node: FilterNode }
  | { op: "compare"; field: string[]; compare: Comparison; value: Literal }
  | { op: "like"; field: string[]; pattern: RegExp }
  | { op: "in"; field: string[]; values: Literal[] };

/** A checked filter: its tree and the field paths it reads. */
export interface Filter {
  readonly text: string;
  readonly root: FilterNode;
  readonly fields: readonly (readonly string[])[];
}

type Token =
  | { kind: "name"; value: string; quoted: boolean; at: number }
  | { kind: "string"; value: string; at: number }
  | { kind: "number"; value: number; at: number }
  | { kind: "punct"; value: string; at: number }
  | { kind: "end"; at: number };

function invalid(message: string, at?: number): DbxError {
  const where = at === undefined ? "" : ` at character ${at + 1}`;
  return new DbxError("invalid_input", `filter${where}: ${message}`);
}

const PUNCT = ["==", "!=", "<>", ">=", "<=", "=", ">", "<", "(", ")", "[", "]", ",", "."];

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const at = i;
    if (c === '"' || c === "'" || c === "`") {
      let value = "";
      i++;
      for (;;) {
        if (i >= text.length) throw invalid("unterminated quoted text", at);
        const d = text[i];
        if (d === "\\" && i + 1 < text.length) {
          const e = text[i + 1];
          value += e === "n" ? "\n" : e === "t" ? "\t" : e;
          i += 2;
          continue;
        }
        if (d === c) {
          i++;
          break;
        }
        value += d;
        i++;
      }
      tokens.push(
        c === "`" ? { kind: "name", value, quoted: true, at } : { kind: "string", value, at },
      );
      continue;
    }
    const number = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 64));
    if (number) {
      const value = Number(number[0]);
      if (!Number.isFinite(value)) throw invalid(`number ${number[0]} is out of range`, at);
      tokens.push({ kind: "number", value, at });
      i += number[0].length;
      continue;
    }
    const name = /^[A-Za-z_@$\u0080-\uffff][A-Za-z0-9_@$\-\u0080-\uffff]*/.exec(
      text.slice(i, i + 1024),
    );
    if (name) {
      tokens.push({ kind: "name", value: name[0], quoted: false, at });
      i += name[0].length;
      continue;
    }
    const punct = PUNCT.find((p) => text.startsWith(p, i));
    if (!punct) throw invalid(`unexpected ${JSON.stringify(c)}`, at);
    tokens.push({ kind: "punct", value: punct, at });
    i += punct.length;
  }
  tokens.push({ kind: "end", at: text.length });
  return tokens;
}

const keyword = (t: Token, word: string) =>
  t.kind === "name" && !t.quoted && t.value.toUpperCase() === word;

/** Escape a LIKE pattern into an anchored regular expression. */
function likePattern(pattern: string): RegExp {
  let source = "";
  for (const c of pattern) {
    if (c === "%") source += "[\\s\\S]*";
    else if (c === "_") source += "[\\s\\S]";
    else source += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${source}$`, "u");
}

class Parser {
  #tokens: Token[];
  #at = 0;
  #nodes = 0;
  readonly fields: string[][] = [];

  constructor(tokens: Token[]) {
    this.#tokens = tokens;
  }

  get #peek(): Token {
    return this.#tokens[this.#at];
  }

  #next(): Token {
    return this.#tokens[this.#at++];
  }

  #count(at: number): void {
    if (++this.#nodes > MAX_NODES) throw invalid(`more than ${MAX_NODES} terms`, at);
  }

  #expect(value: string): void {
    const t = this.#next();
    if (t.kind !== "punct" || t.value !== value) {
      throw invalid(`expected ${JSON.stringify(value)}`, t.at);
    }
  }

  parse(): FilterNode {
    const node = this.#or(0);
    const t = this.#peek;
    if (t.kind !== "end") throw invalid("unexpected text after the expression", t.at);
    return node;
  }

  #or(depth: number): FilterNode {
    let left = this.#and(depth);
    while (keyword(this.#peek, "OR")) {
      this.#count(this.#next().at);
      left = { op: "or", left, right: this.#and(depth) };
    }
    return left;
  }

  #and(depth: number): FilterNode {
    let left = this.#unary(depth);
    while (keyword(this.#peek, "AND")) {
      this.#count(this.#next().at);
      left = { op: "and", left, right: this.#unary(depth) };
    }
    return left;
  }

  #unary(depth: number): FilterNode {
    const t = this.#peek;
    if (depth >= MAX_DEPTH) throw invalid(`nested deeper than ${MAX_DEPTH} levels`, t.at);
    if (keyword(t, "NOT")) {
      this.#next();
      this.#count(t.at);
      return { op: "not", node: this.#unary(depth + 1) };
    }
    if (t.kind === "punct" && t.value === "(") {
      this.#next();
      const node = this.#or(depth + 1);
      this.#expect(")");
      return node;
    }
    return this.#comparison();
  }

  #field(): string[] {
    const t = this.#next();
    if (t.kind !== "name" || (!t.quoted && ["AND", "OR", "NOT"].includes(t.value.toUpperCase()))) {
      throw invalid("expected a field name", t.at);
    }
    const path = [t.value];
    while (this.#peek.kind === "punct" && (this.#peek as { value: string }).value === ".") {
      this.#next();
      const part = this.#next();
      // An array index (`items.0.name`) reads as a number token.
      if (part.kind === "number" && Number.isSafeInteger(part.value) && part.value >= 0) {
        path.push(String(part.value));
        continue;
      }
      if (part.kind !== "name") throw invalid("expected a field name after '.'", part.at);
      path.push(part.value);
    }
    if (path.some((p) => p === "")) throw invalid("empty field name", t.at);
    this.fields.push(path);
    return path;
  }

  #literal(): Literal {
    const t = this.#next();
    if (t.kind === "string" || t.kind === "number") return t.value;
    if (keyword(t, "TRUE")) return true;
    if (keyword(t, "FALSE")) return false;
    if (keyword(t, "NULL")) return null;
    throw invalid("expected a value (a quoted string, a number, true, false or null)", t.at);
  }

  #comparison(): FilterNode {
    const start = this.#peek.at;
    this.#count(start);
    const field = this.#field();
    let negated = false;
    if (keyword(this.#peek, "NOT")) {
      this.#next();
      negated = true;
    }
    const t = this.#next();
    let node: FilterNode;
    if (keyword(t, "LIKE")) {
      const p = this.#next();
      if (p.kind !== "string") throw invalid("LIKE needs a quoted pattern", p.at);
      node = { op: "like", field, pattern: likePattern(p.value) };
    } else if (keyword(t, "IN")) {
      const open = this.#next();
      if (open.kind !== "punct" || (open.value !== "[" && open.value !== "(")) {
        throw invalid("IN needs a list: [value, …]", open.at);
      }
      const close = open.value === "[" ? "]" : ")";
      const values: Literal[] = [];
      for (;;) {
        values.push(this.#literal());
        if (values.length > MAX_IN_VALUES) {
          throw invalid(`an IN list holds at most ${MAX_IN_VALUES} values`, open.at);
        }
        const sep = this.#next();
        if (sep.kind === "punct" && sep.value === close) break;
        if (sep.kind !== "punct" || sep.value !== ",") {
          throw invalid(`expected "," or "${close}"`, sep.at);
        }
      }
      node = { op: "in", field, values };
    } else if (
      !negated && t.kind === "punct" &&
      ["=", "==", "!=", "<>", ">", ">=", "<", "<="].includes(t.value)
    ) {
      const compare: Comparison = t.value === "=="
        ? "="
        : t.value === "<>"
        ? "!="
        : t.value as Comparison;
      node = { op: "compare", field, compare, value: this.#literal() };
    } else {
      throw invalid("expected a comparison (=, !=, <, <=, >, >=, LIKE or IN)", t.at);
    }
    return negated ? { op: "not", node } : node;
  }
}

/**
 * Parse and check a filter.
 *
 * @example
 * ```ts
 * const filter = parseFilter('status = "active" AND score > 40');
 * filter.fields; // [["status"], ["score"]]
 * ```
 */
export function parseFilter(text: string): Filter {
  if (typeof text !== "string") throw invalid("must be a string");
  if (text.length > MAX_FILTER_LENGTH) {
    throw invalid(`is longer than ${MAX_FILTER_LENGTH} characters`);
  }
  if (text.trim() === "") throw invalid("is empty");
  const parser = new Parser(tokenize(text));
  const root = parser.parse();
  return { text, root, fields: parser.fields };
}

/** A value read from a record: a path through objects (own keys) and arrays (indexes). */
export function readPath(value: unknown, path: readonly string[]): unknown {
  let at: unknown = value;
  for (const part of path) {
    if (Array.isArray(at)) {
      if (!/^\d+$/.test(part)) return undefined;
      at = at[Number(part)];
    } else if (typeof at === "object" && at !== null && Object.hasOwn(at, part)) {
      at = (at as Record<string, unknown>)[part];
    } else return undefined;
  }
  return at;
}

function numeric(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (
    typeof value === "string" && value.trim() !== "" &&
    /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(value.trim())
  ) {
    return Number(value);
  }
  return undefined;
}

function equals(value: unknown, literal: Literal): boolean {
  if (literal === null) return value === undefined || value === null || value === "";
  if (typeof literal === "boolean") return value === literal || value === String(literal);
  if (typeof literal === "number") return numeric(value) === literal;
  if (typeof value === "string") return value === literal;
  if (typeof value === "number" || typeof value === "boolean") return String(value) === literal;
  return false;
}

function codePointCompare(a: string, b: string): number {
  // Code-point order (UTF-8 byte order), not UTF-16 unit order.
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

function ordered(value: unknown, compare: Comparison, literal: Literal): boolean {
  let d: number;
  const left = numeric(value);
  if (typeof literal === "number" && left !== undefined) d = left - literal;
  else if (typeof literal === "string" && typeof value === "string") {
    d = codePointCompare(value, literal);
  } else return false;
  switch (compare) {
    case ">":
      return d > 0;
    case ">=":
      return d >= 0;
    case "<":
      return d < 0;
    default:
      return d <= 0;
  }
}

/**
 * Whether a record matches: `read` gives the value of a field path (undefined: missing).
 *
 * @example
 * ```ts
 * const state = { status: "active", score: "42" };
 * matchesFilter(parseFilter("score > 40"), (path) => readPath(state, path)); // true
 * ```
 */
export function matchesFilter(filter: Filter, read: (path: readonly string[]) => unknown): boolean {
  const test = (node: FilterNode): boolean => {
    switch (node.op) {
      case "and":
        return test(node.left) && test(node.right);
      case "or":
        return test(node.left) || test(node.right);
      case "not":
        return !test(node.node);
      case "like": {
        const value = read(node.field);
        return typeof value === "string" && node.pattern.test(value);
      }
      case "in": {
        const value = read(node.field);
        return node.values.some((literal) => equals(value, literal));
      }
      case "compare": {
        const value = read(node.field);
        if (node.compare === "=") return equals(value, node.value);
        if (node.compare === "!=") return !equals(value, node.value);
        return ordered(value, node.compare, node.value);
      }
    }
  };
  return test(filter.root);
}

export { codePointCompare };
