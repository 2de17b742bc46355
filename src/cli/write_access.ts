/**
 * Who is writing from the CLI, and what they may write. With a token the
 * token's group and user are recorded and its scope and write limit apply;
 * without one, offline writes record the local operating-system user in the
 * group "local" (they already hold the files and the DEK).
 */
import { userInfo } from "node:os";
import { aggregateResource, TokenAuthority } from "../auth/authority.ts";
import type { AppendOptions, IssuedBy } from "../engine/types.ts";
import type { LocalStore } from "./local.ts";

export interface WriteAccess {
  /** Authorize an append to one aggregate; throws a DbxError when refused. */
  appendOptions(aggregateType: string, aggregateId: string): AppendOptions;
  close(): Promise<void>;
}

/** The name of the local OS user, for offline writes. */
export function localUser(): IssuedBy {
  let user = Deno.env.get("USER") ?? Deno.env.get("USERNAME");
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = "unknown";
    }
  }
  return { group: "local", user };
}

/** Access for CLI writes against a local store; `token` may be undefined. */
export async function writeAccess(store: LocalStore, token?: string): Promise<WriteAccess> {
  if (token === undefined) {
    const issued_by = localUser();
    return { appendOptions: () => ({ issued_by }), close: () => Promise.resolve() };
  }
  const authority = await TokenAuthority.open({ dataDir: store.dataDir, dek: store.dek });
  return {
    appendOptions(type, id) {
      const who = authority.authorize(token, "aggregate.append", aggregateResource(type, id));
      return { issued_by: who.issued_by, charge: who.charge };
    },
    close: () => authority.close(),
  };
}
