/**
 * Who is calling the API, as plain data. A surface says who its caller claims to be; the
 * API alone decides what that caller may do (`access.ts`).
 *
 * - `token`: a bearer token (REST, GraphQL, gRPC, the socket, the CLI through a server).
 * - `local`: the operating-system user running the CLI on the node's own files (it holds
 *   the data directory and the DEK already, so it may do everything).
 * - `admin`: the Admin API's master key, checked against its stored hash.
 * - `peer`: a replication peer whose Ed25519 key the transport authenticated by
 *   challenge–response; the API checks that the key is pinned.
 */
export type Caller =
  | { kind: "token"; token: string }
  | { kind: "local"; user: string }
  | { kind: "admin"; key: string }
  | { kind: "peer"; public_key: string };

/**
 * A bearer-token caller.
 *
 * @example
 * ```ts
 * const caller = tokenCaller("eyJhbGciOi...");
 * caller.kind; // "token"
 * ```
 */
export function tokenCaller(token: string): Caller {
  return { kind: "token", token };
}
