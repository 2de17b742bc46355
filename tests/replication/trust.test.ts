/**
 * Who may replicate, and what a peer's stream may not do: an unpinned client key and a
 * remote presenting another key than the pinned one are refused before any data moves; a
 * replayed handshake is refused; a tampered, reordered or re-rooted batch is refused with
 * nothing of it written (and the untampered batch then imports); a peer can do nothing but
 * read and import; malformed hellos leave the server serving.
 */
import { Buffer } from "node:buffer";
import { ByteReader, writeAll } from "../../src/control_protocol/stream.ts";
import { isDbxError } from "../../src/errors.ts";
import { openPeerSession, type PeerSession } from "../../src/replication/client.ts";
import { loadOrCreateIdentity, type ReplicationIdentity } from "../../src/replication/identity.ts";
import { CLIENT_HELLO_BYTES, SERVER_HELLO_BYTES } from "../../src/replication/protocol.ts";
import {
  appendMany,
  assert,
  assertEquals,
  cliKey,
  eventsOf,
  runDbx,
  runDbxOk,
  type ServerNode,
  withCliNode,
  withLocalApi,
  withServerNode,
} from "./_nodes.ts";

async function addRemote(dir: string, node: ServerNode, key = node.publicKey): Promise<void> {
  await runDbxOk(dir, [
    "remote",
    "add",
    "standby",
    "127.0.0.1",
    "--port",
    String(node.socketPort),
    "--public-key",
    key,
  ]);
}

function session(me: ReplicationIdentity, node: ServerNode, port = node.socketPort) {
  return openPeerSession(me, {
    name: "standby",
    hostname: "127.0.0.1",
    port,
    publicKey: node.publicKey,
  });
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

Deno.test("an unpinned client key is refused before any data moves", async () => {
  await withServerNode((remote) =>
    withCliNode(async (local) => {
      await withLocalApi(local, (api) => appendMany(api, "patient", "p-1", 2));
      await addRemote(local, remote); // the client pins the server, not the other way round
      const r = await runDbx(local, ["push", "standby"]);
      assertEquals(r.code, 1);
      assert(/not pinned/.test(r.stderr), r.stderr);
      assertEquals(await eventsOf(remote.api, "patient", "p-1"), []);
      // Pinned now: the same push goes through (the refusal above was about the key).
      await remote.api.call("upsertRemote", {
        name: "primary",
        host: "127.0.0.1",
        public_key: await cliKey(local),
      });
      await runDbxOk(local, ["push", "standby"]);
      assertEquals((await eventsOf(remote.api, "patient", "p-1")).length, 2);
    })
  );
});

Deno.test("a remote presenting another key than the pinned one is refused; nothing is sent", async () => {
  await withServerNode((remote) =>
    withServerNode((impostor) =>
      withCliNode(async (local) => {
        await withLocalApi(local, (api) => appendMany(api, "patient", "p-1", 1));
        const key = await cliKey(local);
        for (const node of [remote, impostor]) {
          await node.api.call("upsertRemote", { name: "a", host: "127.0.0.1", public_key: key });
        }
        // The entry names the impostor's address under the real remote's key.
        await addRemote(local, impostor, remote.publicKey);
        const r = await runDbx(local, ["push", "standby"]);
        assertEquals(r.code, 1);
        assert(r.stderr.includes("not its pinned key"), r.stderr);
        assert(r.stderr.includes(impostor.publicKey), "names the key it saw");
        assertEquals(await eventsOf(impostor.api, "patient", "p-1"), []);
      })
    )
  );
});

Deno.test("a replayed handshake is refused", async () => {
  await withServerNode((remote) =>
    withCliNode(async (local) => {
      const me = await loadOrCreateIdentity(local);
      await remote.api.call("upsertRemote", {
        name: "a",
        host: "127.0.0.1",
        public_key: me.publicKeyBase64,
      });
      // A recording relay between a genuine client and the server.
      const recorded: Uint8Array[] = [];
      const relay = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const relayed = (async () => {
        const inbound = await relay.accept();
        const outbound = await Deno.connect({ hostname: "127.0.0.1", port: remote.socketPort });
        const toServer = (async () => {
          const buf = new Uint8Array(65536);
          for (;;) {
            const n = await inbound.read(buf).catch(() => null);
            if (n === null) break;
            recorded.push(buf.slice(0, n));
            await writeAll(outbound, buf.subarray(0, n)).catch(() => {});
          }
          try {
            outbound.close();
          } catch { /* closed */ }
        })();
        await outbound.readable.pipeTo(inbound.writable).catch(() => {});
        await toServer;
      })();
      const genuine = await session(me, remote, (relay.addr as Deno.NetAddr).port);
      assertEquals((await genuine.listHeads({})).items, []);
      genuine.close();
      await relayed;
      relay.close();
      const bytes = new Uint8Array(Buffer.concat(recorded));
      assert(bytes.length >= CLIENT_HELLO_BYTES + 64, "the handshake was recorded");

      // Replay: the same hello and the same signature, on a new connection.
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: remote.socketPort });
      try {
        const reader = new ByteReader(conn);
        await writeAll(conn, bytes.subarray(0, CLIENT_HELLO_BYTES));
        await reader.fill(SERVER_HELLO_BYTES);
        assertEquals(reader.take(1)[0], 0, "the server answers the hello");
        reader.take(SERVER_HELLO_BYTES - 1);
        await writeAll(conn, bytes.subarray(CLIENT_HELLO_BYTES, CLIENT_HELLO_BYTES + 64));
        await reader.fill(3);
        assertEquals(reader.take(1)[0], 1, "the old signature is refused");
        const length = (reader.peek()[0] << 8) | reader.peek()[1];
        reader.take(2);
        await reader.fill(length);
        const reason = new TextDecoder().decode(reader.take(length));
        assert(reason.includes("signature does not verify"), reason);
      } finally {
        conn.close();
      }
    })
  );
});

Deno.test("a tampered, reordered or re-rooted batch is refused and writes nothing", async () => {
  await withServerNode((remote) =>
    withCliNode(async (local) => {
      const me = await loadOrCreateIdentity(local);
      await remote.api.call("upsertRemote", {
        name: "a",
        host: "127.0.0.1",
        public_key: me.publicKeyBase64,
      });
      const events = await withLocalApi(local, async (api) => {
        await appendMany(api, "patient", "p-1", 3);
        return await eventsOf(api, "patient", "p-1");
      });
      const peer: PeerSession = await session(me, remote);
      try {
        const ref = { aggregate_type: "patient", aggregate_id: "p-1" };
        const tampered = events.map((e) => structuredClone(e));
        tampered[1].payload = { ...tampered[1].payload, n: 999 };
        const altered = await rejection(peer.importEvents({ ...ref, events: tampered }));
        assert(isDbxError(altered, "invalid_input"), String(altered));
        assert(/version 2 of patient\/p-1 does not match its hash/.test(altered.message));
        assertEquals(await eventsOf(remote.api, "patient", "p-1"), [], "nothing written");

        const reordered = [events[1], events[0], events[2]];
        const order = await rejection(peer.importEvents({ ...ref, events: reordered }));
        assert(/out of order/.test(order.message), order.message);

        const rooted = events.map((e) => structuredClone(e));
        rooted[2].merkle_root = "0".repeat(64);
        const root = await rejection(peer.importEvents({ ...ref, events: rooted }));
        assert(isDbxError(root, "conflict") && /Merkle root/.test(root.message), root.message);

        const gap = await rejection(peer.importEvents({ ...ref, events: events.slice(1) }));
        assert(/fast-forward only/.test(gap.message), gap.message);
        assertEquals(await eventsOf(remote.api, "patient", "p-1"), [], "still nothing written");

        // The same session goes on; the genuine batch imports.
        const done = await peer.importEvents({ ...ref, events });
        assertEquals(done.imported, 3);
        assertEquals(done.merkle_root, events[2].merkle_root);
        const again = await rejection(peer.importEvents({ ...ref, events }));
        assert(/fast-forward only/.test(again.message), "a replayed batch is refused");
      } finally {
        peer.close();
      }
    })
  );
});

Deno.test("a peer may read and import, nothing else", async () => {
  await withServerNode((remote) =>
    withCliNode(async (local) => {
      const me = await loadOrCreateIdentity(local);
      await remote.api.call("upsertRemote", {
        name: "a",
        host: "127.0.0.1",
        public_key: me.publicKeyBase64,
      });
      const peer = { kind: "peer", public_key: me.publicKeyBase64 } as const;
      const token = await rejection(
        remote.server.api.call(peer, "generateToken", { group: "x", user: "y" }),
      );
      assert(isDbxError(token, "forbidden"), String(token));
      const append = await rejection(
        remote.server.api.call(peer, "appendEvent", {
          aggregate_type: "a",
          aggregate_id: "b",
          event_type: "c",
          payload: {},
        }),
      );
      assert(isDbxError(append, "forbidden"), String(append));
      // Bad input over the session is answered as an error; the session goes on.
      const s = await session(me, remote);
      try {
        const bad = await rejection(s.listHeads({ aggregate_type: "" }));
        assert(isDbxError(bad, "invalid_input"), String(bad));
        assertEquals((await s.listHeads({})).items, [], "the session survives a refused request");
      } finally {
        s.close();
      }
      // Unpinning ends the peer's rights at once.
      await remote.api.call("removeRemote", { name: "a" });
      const gone = await rejection(remote.server.api.call(peer, "listAggregates", {}));
      assert(isDbxError(gone, "unauthorized"), String(gone));
    })
  );
});

Deno.test("malformed replication hellos are refused and the server goes on", async () => {
  await withServerNode(async (remote) => {
    const hellos = [
      // Right magic, unknown version.
      new Uint8Array([...new TextEncoder().encode("DBXREPL1"), 0, 9, ...new Uint8Array(96)]),
      // Right magic, then the stream ends early.
      new TextEncoder().encode("DBXREPL1abc"),
    ];
    for (const hello of hellos) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: remote.socketPort });
      try {
        await writeAll(conn, hello);
        if (hello.length < CLIENT_HELLO_BYTES) await conn.closeWrite();
        const reader = new ByteReader(conn);
        if (await reader.fill(1)) assertEquals(reader.take(1)[0], 1, "refused");
      } finally {
        conn.close();
      }
    }
    // Still serving, both protocols.
    await appendMany(remote.api, "patient", "p-1", 1);
    await withCliNode(async (local) => {
      const me = await loadOrCreateIdentity(local);
      await remote.api.call("upsertRemote", {
        name: "a",
        host: "127.0.0.1",
        public_key: me.publicKeyBase64,
      });
      const s = await session(me, remote);
      try {
        assertEquals((await s.listHeads({})).items.length, 1);
      } finally {
        s.close();
      }
    });
  });
});
