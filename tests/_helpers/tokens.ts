/** Well-formed tokens of a chosen length, for tests of the token length cap. */
import { base64UrlDecode, MAX_TOKEN_LENGTH, signJwt } from "../../src/auth/jwt.ts";

/**
 * Two re-signings of `token` with `secretKey` (the key that signed it), padded with an
 * extra `pad` claim: `fits`, the longest such token of at most `max` characters, and
 * `over`, the shortest one longer than `max`. Both are valid JWTs of the same issuer,
 * claims and key, correct base64url, differing from an accepted token only in length.
 *
 * @example
 * ```ts
 * import { randomSecretKey, signJwt } from "../../src/auth/jwt.ts";
 * const key = randomSecretKey();
 * const { fits, over } = paddedTokens(signJwt({ sub: "a" }, key), key);
 * ```
 */
export function paddedTokens(
  token: string,
  secretKey: Uint8Array,
  max = MAX_TOKEN_LENGTH,
): { fits: string; over: string } {
  const claims = JSON.parse(new TextDecoder().decode(base64UrlDecode(token.split(".")[1])));
  let fits: string | undefined;
  // Base64url grows by 4 characters per 3 bytes: step the padding one byte at a time.
  for (let pad = Math.max(0, Math.floor(((max - token.length) * 3) / 4) - 32);; pad++) {
    const padded = signJwt({ ...claims, pad: "p".repeat(pad) }, secretKey);
    if (padded.length <= max) fits = padded;
    else if (fits !== undefined) return { fits, over: padded };
    else throw new Error(`could not build a token of at most ${max} characters`);
  }
}
