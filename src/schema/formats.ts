/**
 * Text formats used by column types (timestamp, date, binary) and by the
 * `format` rule (email, url, credit_card, iso8601, country_code).
 */
import { COUNTRY_CODES } from "./country_codes.ts";

/** A point in time that compares exactly, down to nanoseconds. */
export interface Instant {
  /** Whole seconds since the Unix epoch, UTC. */
  seconds: number;
  /** Fraction of the second as 9 digits, for string comparison. */
  nanos: string;
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function validDate(year: number, month: number, day: number): boolean {
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
}

function validTime(hour: number, minute: number, second: number): boolean {
  // Second 60 is a leap second, which RFC 3339 allows.
  return hour <= 23 && minute <= 59 && second <= 60;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * True for a calendar date written `YYYY-MM-DD` (the `date` column type).
 *
 * @example
 * ```ts
 * isDate("2024-02-29"); // true
 * isDate("2023-02-29"); // false
 * ```
 */
export function isDate(text: string): boolean {
  const m = DATE.exec(text);
  return m !== null && validDate(Number(m[1]), Number(m[2]), Number(m[3]));
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * Parse an RFC 3339 timestamp with a time zone (the `timestamp` column type);
 * undefined when the text is not one.
 *
 * @example
 * ```ts
 * parseTimestamp("2024-05-01T12:00:00.5+02:00"); // { seconds: 1714557600, nanos: "500000000" }
 * ```
 */
export function parseTimestamp(text: string): Instant | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  if (!validDate(year, month, day) || !validTime(hour, minute, second)) return undefined;
  let offsetSeconds = 0;
  if (m[9] !== undefined) {
    const offsetHours = Number(m[10]);
    const offsetMinutes = Number(m[11]);
    if (offsetHours > 23 || offsetMinutes > 59) return undefined;
    offsetSeconds = (m[9] === "-" ? -1 : 1) * (offsetHours * 3600 + offsetMinutes * 60);
  }
  const utc = Date.UTC(year, month - 1, day, hour, minute, second) / 1000;
  return { seconds: utc - offsetSeconds, nanos: (m[7] ?? "").padEnd(9, "0") };
}

/** Compare two instants: negative, zero or positive. */
export function compareInstant(a: Instant, b: Instant): number {
  if (a.seconds !== b.seconds) return a.seconds < b.seconds ? -1 : 1;
  return a.nanos === b.nanos ? 0 : a.nanos < b.nanos ? -1 : 1;
}

const ISO8601 =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?(?:Z|[+-](\d{2})(?::?(\d{2}))?)?)?$/;

/**
 * True for an ISO 8601 date or date-time in extended format: `2024-05-01`,
 * `2024-05-01T12:30`, `2024-05-01T12:30:00.123Z`, `2024-05-01T12:30:00+02:00`.
 *
 * @example
 * ```ts
 * isIso8601("2024-05-01T12:30Z"); // true
 * isIso8601("May 1st"); // false
 * ```
 */
export function isIso8601(text: string): boolean {
  const m = ISO8601.exec(text);
  if (!m) return false;
  if (!validDate(Number(m[1]), Number(m[2]), Number(m[3]))) return false;
  if (m[4] !== undefined && !validTime(Number(m[4]), Number(m[5]), Number(m[6] ?? 0))) {
    return false;
  }
  if (m[7] !== undefined && (Number(m[7]) > 23 || Number(m[8] ?? 0) > 59)) return false;
  return true;
}

// The WHATWG HTML definition of a valid e-mail address, plus RFC 5321 length limits.
const EMAIL =
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * True for an e-mail address such as `jane@example.com`.
 *
 * @example
 * ```ts
 * isEmail("jane@example.com"); // true
 * isEmail("jane@"); // false
 * ```
 */
export function isEmail(text: string): boolean {
  if (text.length > 254 || !EMAIL.test(text)) return false;
  return text.indexOf("@") <= 64;
}

/**
 * True for an absolute URL with a host, such as `https://example.com/a?b=c`.
 *
 * @example
 * ```ts
 * isUrl("https://example.com"); // true
 * isUrl("example.com"); // false
 * ```
 */
export function isUrl(text: string): boolean {
  if (/\s/.test(text) || !/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text)) return false;
  try {
    return new URL(text).host !== "";
  } catch {
    return false;
  }
}

/**
 * True for a payment card number: 12 to 19 digits (spaces or hyphens may group
 * them) whose Luhn checksum is valid.
 *
 * @example
 * ```ts
 * isCreditCard("4111 1111 1111 1111"); // true
 * isCreditCard("4111 1111 1111 1112"); // false
 * ```
 */
export function isCreditCard(text: string): boolean {
  if (!/^\d[\d -]*\d$/.test(text)) return false;
  const digits = text.replace(/[ -]/g, "");
  if (digits.length < 12 || digits.length > 19) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/**
 * True for an ISO 3166-1 alpha-2 country code, uppercase (`US`, `NO`).
 *
 * @example
 * ```ts
 * isCountryCode("NO"); // true
 * isCountryCode("XX"); // false
 * ```
 */
export function isCountryCode(text: string): boolean {
  return COUNTRY_CODES.has(text);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The decoded length of standard padded base64 text, or undefined when the text
 * is not base64 (the `binary` column type).
 *
 * @example
 * ```ts
 * base64Length("aGVsbG8="); // 5
 * base64Length("not base64!"); // undefined
 * ```
 */
export function base64Length(text: string): number | undefined {
  if (!BASE64.test(text)) return undefined;
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  return (text.length / 4) * 3 - padding;
}
