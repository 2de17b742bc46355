/**
 * Replication remotes (`remote.manage` on `remote:NAME`): list, show, add or replace, remove.
 * The checks of a remote (name, `tcp://` endpoint, pinned Ed25519 key) run here, for every
 * surface: `dbx remote …` and `/admin/remotes` answer the same.
 */
import { remoteResource } from "../../auth/scope.ts";
import { DbxError } from "../../errors.ts";
import {
  checkEndpoint,
  checkPublicKey,
  checkRemoteName,
  DEFAULT_REMOTE_PORT,
  formatEndpoint,
} from "../../remotes/remote.ts";
import { RemoteStore } from "../../remotes/store.ts";
import { checkObject } from "../checks.ts";
import type { Node } from "../node.ts";
import type { Operations } from "./spec.ts";

const manage = {
  action: "remote.manage",
  resources: (input: { name: string }) => [remoteResource(input.name)],
} as const;

const store = (node: Node) => new RemoteStore(node.dataDir);

const present = (value: unknown) => value !== undefined && value !== null;

function named(raw: unknown): { name: string } {
  return { name: checkRemoteName(checkObject(raw, ["name"], "the input").name) };
}

/** The remote operations. */
export const remoteOperations: Operations<
  "listRemotes" | "getRemote" | "upsertRemote" | "removeRemote"
> = {
  listRemotes: {
    scope: { action: "remote.manage", resources: "filtered" },
    check: (raw) => checkObject(raw ?? {}, [], "the input") as Record<string, never>,
    async run({ node, who }) {
      const all = await store(node).list();
      return all.filter((r) => node.access.allows(who, "remote.manage", remoteResource(r.name)));
    },
  },

  getRemote: {
    scope: manage,
    check: named,
    run: ({ node }, input) => store(node).get(input.name),
  },

  upsertRemote: {
    scope: manage,
    check(raw) {
      const body = checkObject(
        raw,
        ["name", "endpoint", "host", "port", "public_key"],
        "the input",
      );
      const name = checkRemoteName(body.name);
      let endpoint: string;
      if (present(body.endpoint)) {
        if (present(body.host) || present(body.port)) {
          throw new DbxError("invalid_input", "give either endpoint or host (and port), not both");
        }
        endpoint = checkEndpoint(body.endpoint);
      } else if (present(body.host)) {
        endpoint = formatEndpoint(body.host, present(body.port) ? body.port : DEFAULT_REMOTE_PORT);
      } else {
        throw new DbxError(
          "invalid_input",
          "endpoint (tcp://HOST:PORT) or host (with an optional port) is required",
        );
      }
      if (!present(body.public_key)) throw new DbxError("invalid_input", "public_key is required");
      return { name, endpoint, public_key: checkPublicKey(body.public_key) };
    },
    run: ({ node }, input) =>
      store(node).upsert({
        name: input.name,
        endpoint: input.endpoint!,
        public_key: input.public_key,
      }),
  },

  removeRemote: {
    scope: manage,
    check: named,
    async run({ node }, input) {
      await store(node).remove(input.name);
      return { name: input.name, removed: true };
    },
  },
};
