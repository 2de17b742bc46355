/**
 * Exact decimal numbers for schema checks: `decimal(p,s)` digit limits and `range`
 * bounds are compared on the digits themselves, never through binary floats, so
 * "0.1" vs "0.10000000000000001" or 19-digit integers compare correctly.
 */

/** A parsed decimal: sign, integer digits without leading zeros, fraction without trailing zeros. */
export interface Decimal {
  negative: boolean;
  /** Integer digits, no leading zeros ("" for zero). */
  int: string;
  /** Fraction digits, no trailing zeros ("" when none). */
  frac: string;
}

// Exponents beyond this are refused: they would expand into huge digit strings.
const MAX_EXPONENT = 1000;
const DECIMAL_TEXT = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,7}))?$/;

/**
 * Parse a decimal literal (`-12.50`, `+3`, `.5`, `1e-3`); undefined when it is not one.
 *
 * @example
 * ```ts
 * parseDecimal("-012.50"); // { negative: true, int: "12", frac: "5" }
 * parseDecimal("abc"); // undefined
 * ```
 */
export function parseDecimal(text: string): Decimal | undefined {
  const match = DECIMAL_TEXT.exec(text);
  if (!match) return undefined;
  const [, sign, intPart = "", fracPart = "", expPart] = match;
  if (intPart === "" && fracPart === "") return undefined;
  const exponent = expPart === undefined ? 0 : Number(expPart);
  if (Math.abs(exponent) > MAX_EXPONENT) return undefined;
  const digits = intPart + fracPart;
  // Position of the decimal point within `digits` after applying the exponent.
  const point = intPart.length + exponent;
  let int: string;
  let frac: string;
  if (point <= 0) {
    int = "";
    frac = "0".repeat(-point) + digits;
  } else if (point >= digits.length) {
    int = digits + "0".repeat(point - digits.length);
    frac = "";
  } else {
    int = digits.slice(0, point);
    frac = digits.slice(point);
  }
  int = int.replace(/^0+/, "");
  frac = frac.replace(/0+$/, "");
  const isZero = int === "" && frac === "";
  return { negative: sign === "-" && !isZero, int, frac };
}

/**
 * The decimal value of a finite JS number or a decimal literal string.
 *
 * @example
 * ```ts
 * toDecimal(0.5); // { negative: false, int: "", frac: "5" }
 * ```
 */
export function toDecimal(value: number | string): Decimal | undefined {
  if (typeof value === "number") {
    return Number.isFinite(value) ? parseDecimal(String(value)) : undefined;
  }
  return parseDecimal(value);
}

function compareMagnitude(a: Decimal, b: Decimal): number {
  if (a.int.length !== b.int.length) return a.int.length < b.int.length ? -1 : 1;
  if (a.int !== b.int) return a.int < b.int ? -1 : 1;
  // Trailing zeros are stripped, so plain string order is numeric order here.
  if (a.frac !== b.frac) return a.frac < b.frac ? -1 : 1;
  return 0;
}

/**
 * Compare two decimals: negative when a < b, 0 when equal, positive when a > b.
 *
 * @example
 * ```ts
 * compareDecimal(parseDecimal("0.5")!, parseDecimal("0.49")!); // 1
 * ```
 */
export function compareDecimal(a: Decimal, b: Decimal): number {
  if (a.negative !== b.negative) return a.negative ? -1 : 1;
  const magnitude = compareMagnitude(a, b);
  return a.negative ? -magnitude : magnitude;
}

/** The canonical text of a decimal ("-12.5", "0"). */
export function formatDecimal(d: Decimal): string {
  const body = (d.int || "0") + (d.frac ? `.${d.frac}` : "");
  return d.negative ? `-${body}` : body;
}
