import assert from "node:assert/strict";
import { join } from "node:path";
import {
  aggregateResource,
  schemaResource,
  TokenAuthority,
  tokenResource,
} from "../../src/auth/authority.ts";
import { base64UrlDecode, base64UrlEncode, signJwt } from "../../src/auth/jwt.ts";
import { DbxError } from "../../src/errors.ts";
import { LruMap } from "../../src/util/lru_map.ts";
import {
  assertRefused,
  assertRejects,
  freshDek,
  ManualClock,
  withAuthority,
  withTempDir,
} from "./helpers.ts";

const p001 = aggregateResource("patient", "p-001");
const p002 = aggregateResource("patient", "p-002");

Deno.test("authority: a generated token authorises and names its group and user", async () => {
  await withAuthority(async (auth) => {
    const { token, info } = await auth.generate({ group: "ops", user: "alice" });
    assert.equal(info.status, "active");
    assert.deepEqual(info.actions, ["*"]);
    assert.deepEqual(info.resources, ["*"]);
    assert.equal(info.expires_at, null);
    const who = auth.authorize(token, "aggregate.append", p001);
    assert.deepEqual(who.issued_by, { group: "ops", user: "alice" });
    assert.equal(who.token_id, info.id);
    assert.equal(who.charge, undefined, "no limit, no charge");
    // Cached path gives the same answer.
    assert.deepEqual(auth.authorize(token, "schema.write", schemaResource("x")).issued_by, {
      group: "ops",
      user: "alice",
    });
  });
});

Deno.test("authority: missing, malformed and tampered tokens are unauthorized", async () => {
  await withAuthority(async (auth) => {
    const { token } = await auth.generate({ group: "ops", user: "alice" });
    assertRefused(
      () => auth.authorize(undefined, "aggregate.read", p001),
      "unauthorized",
      "missing",
    );
    assertRefused(() => auth.authorize("", "aggregate.read", p001), "unauthorized", "missing");
    assertRefused(
      () => auth.authorize("garbage", "aggregate.read", p001),
      "unauthorized",
      "invalid",
    );
    const [h, p, s] = token.split(".");
    const claims = JSON.parse(new TextDecoder().decode(base64UrlDecode(p)));
    const forged = base64UrlEncode(
      new TextEncoder().encode(JSON.stringify({ ...claims, user: "root" })),
    );
    const err = assertRefused(
      () => auth.authorize(`${h}.${forged}.${s}`, "aggregate.read", p001),
      "unauthorized",
      "invalid",
    );
    assert.match(err.message, /signature is invalid/);
    assert.ok(!err.message.includes(s), "the message never echoes the token");
    const sig = base64UrlDecode(s);
    sig[0] ^= 0x80;
    assertRefused(
      () => auth.authorize(`${h}.${p}.${base64UrlEncode(sig)}`, "aggregate.read", p001),
      "unauthorized",
      "invalid",
    );
    const none = base64UrlEncode(new TextEncoder().encode('{"alg":"none","typ":"JWT"}'));
    assertRefused(
      () => auth.authorize(`${none}.${p}.${s}`, "aggregate.read", p001),
      "unauthorized",
    );
  });
});

Deno.test("authority: a token signed by another node's key is refused", async () => {
  await withAuthority(async (auth) => {
    await withAuthority(async (other) => {
      const { token } = await other.generate({ group: "ops", user: "alice" });
      const err = assertRefused(
        () => auth.authorize(token, "aggregate.read", p001),
        "unauthorized",
      );
      assert.match(err.message, /not issued by this node/);
      // Claiming our issuer id does not help: the signature is checked against our key.
      const [, p] = token.split(".");
      const claims = JSON.parse(new TextDecoder().decode(base64UrlDecode(p)));
      const theirKey = crypto.getRandomValues(new Uint8Array(32));
      const impostor = signJwt({ ...claims, iss: auth.keyId }, theirKey);
      const err2 = assertRefused(
        () => auth.authorize(impostor, "aggregate.read", p001),
        "unauthorized",
        "invalid",
      );
      assert.match(err2.message, /signature is invalid/);
    });
  });
});

Deno.test("authority: tokens expire by the injected clock", async () => {
  await withAuthority(async (auth, { clock }) => {
    const { token, info } = await auth.generate({ group: "ops", user: "a", expiration: 60 });
    assert.equal(info.expires_at, new Date(clock.ms + 60_000).toISOString());
    clock.advance(59);
    auth.authorize(token, "aggregate.read", p001);
    clock.advance(1);
    const err = assertRefused(
      () => auth.authorize(token, "aggregate.read", p001),
      "unauthorized",
      "expired",
    );
    assert.match(err.message, /expired/);
    assert.equal((await auth.list())[0].status, "expired");
  });
});

Deno.test("authority: revocation takes effect at once, by token or by id, and persists", async () => {
  await withTempDir(async (dir) => {
    const dek = freshDek();
    const auth = await TokenAuthority.open({ dataDir: dir, dek });
    const a = await auth.generate({ group: "ops", user: "a" });
    const b = await auth.generate({ group: "ops", user: "b" });
    auth.authorize(a.token, "aggregate.read", p001); // now cached
    const revoked = await auth.revoke(a.token);
    assert.equal(revoked.status, "revoked");
    assert.ok(revoked.revoked_at);
    assertRefused(() => auth.authorize(a.token, "aggregate.read", p001), "unauthorized", "revoked");
    await auth.revoke(b.info.id);
    assertRefused(() => auth.authorize(b.token, "aggregate.read", p001), "unauthorized", "revoked");
    // Revoking twice is harmless and keeps the first time.
    assert.equal((await auth.revoke(a.token)).revoked_at, revoked.revoked_at);
    await auth.close();

    const reopened = await TokenAuthority.open({ dataDir: dir, dek });
    try {
      assertRefused(
        () => reopened.authorize(a.token, "aggregate.read", p001),
        "unauthorized",
        "revoked",
      );
      assert.deepEqual((await reopened.list()).map((i) => i.status), ["revoked", "revoked"]);
    } finally {
      await reopened.close();
    }
  });
});

Deno.test("authority: revoke and refresh refuse bad targets", async () => {
  await withAuthority(async (auth) => {
    await assertRejects(() => auth.revoke(""), "invalid_input", "--token is required");
    await assertRejects(() => auth.revoke("garbage"), "invalid_input", "malformed");
    await assertRejects(
      () => auth.revoke("00000000-0000-4000-8000-000000000000"),
      "not_found",
      "no token with id",
    );
    await withAuthority(async (other) => {
      const { token } = await other.generate({ group: "g", user: "u" });
      await assertRejects(() => auth.revoke(token), "invalid_input", "not issued by this node");
    });
    const { token } = await auth.generate({ group: "g", user: "u" });
    await auth.revoke(token);
    await assertRejects(() => auth.refresh(token, { expiration: 10 }), "conflict", "revoked");
  });
});

Deno.test("authority: revocation by another process is seen by authorize", async () => {
  await withTempDir(async (dir) => {
    const dek = freshDek();
    const server = await TokenAuthority.open({ dataDir: dir, dek, reloadIntervalMs: 0 });
    const cli = await TokenAuthority.open({ dataDir: dir, dek });
    try {
      const { token } = await cli.generate({ group: "ops", user: "a" });
      server.authorize(token, "aggregate.read", p001);
      await cli.revoke(token);
      assertRefused(
        () => server.authorize(token, "aggregate.read", p001),
        "unauthorized",
        "revoked",
      );
      // And writes from both sides merge instead of overwriting each other.
      await server.generate({ group: "ops", user: "b" });
      await cli.generate({ group: "ops", user: "c" });
      assert.deepEqual((await server.list()).map((i) => i.user), ["a", "b", "c"]);
    } finally {
      await server.close();
      await cli.close();
    }
  });
});

Deno.test("authority: refresh extends lifetime and keeps the id; old string follows", async () => {
  await withAuthority(async (auth, { clock }) => {
    const { token, info } = await auth.generate({ group: "g", user: "u", expiration: 60 });
    clock.advance(50);
    const refreshed = await auth.refresh(token, { expiration: 600 });
    assert.equal(refreshed.info.id, info.id);
    assert.equal(refreshed.info.expires_at, new Date(clock.ms + 600_000).toISOString());
    assert.ok(refreshed.info.refreshed_at);
    assert.notEqual(refreshed.token, token);
    clock.advance(100); // past the original expiry
    auth.authorize(token, "aggregate.read", p001);
    auth.authorize(refreshed.token, "aggregate.read", p001);
    // Without options it restarts the last window.
    const again = await auth.refresh(info.id);
    assert.equal(again.info.expires_at, new Date(clock.ms + 600_000).toISOString());
    // An expired token can be brought back.
    clock.advance(601);
    assertRefused(() => auth.authorize(token, "aggregate.read", p001), "unauthorized", "expired");
    await auth.refresh(token, { expiration: 5 });
    auth.authorize(token, "aggregate.read", p001);
  });
});

Deno.test("authority: refresh --limit grants more writes on top of those used", async () => {
  await withAuthority(async (auth) => {
    const { token, info } = await auth.generate({ group: "g", user: "u", limit: 10 });
    assert.deepEqual(auth.authorize(token, "aggregate.append", p001).charge, {
      key: info.id,
      limit: 10,
    });
    const used = (id: string) => Promise.resolve(id === info.id ? 7 : 0);
    const refreshed = await auth.refresh(token, { limit: 5 }, used);
    assert.equal(refreshed.info.limit, 12);
    assert.equal(refreshed.info.remaining_writes, 5);
    assert.equal(
      refreshed.info.expires_at,
      null,
      "a limit refresh leaves a never-expiring token so",
    );
    assert.deepEqual(auth.authorize(token, "aggregate.append", p001).charge, {
      key: info.id,
      limit: 12,
    });
    const [listed] = await auth.list(used);
    assert.equal(listed.used_writes, 7);
    assert.equal(listed.remaining_writes, 5);
    const exhausted = await auth.list(() => Promise.resolve(12));
    assert.equal(exhausted[0].status, "exhausted");
  });
});

Deno.test("authority: refresh refuses bad options", async () => {
  await withAuthority(async (auth) => {
    const { token } = await auth.generate({ group: "g", user: "u" });
    await assertRejects(() => auth.refresh(token), "invalid_input", "never expires");
    await assertRejects(
      () => auth.refresh(token, { expiration: 0 }),
      "invalid_input",
      "--expiration",
    );
    await assertRejects(
      () => auth.refresh(token, { expiration: 1.5 }),
      "invalid_input",
      "--expiration",
    );
    await assertRejects(() => auth.refresh(token, { limit: -1 }), "invalid_input", "--limit");
  });
});

Deno.test("authority: keep-alive slides the expiry on use and saves it", async () => {
  await withTempDir(async (dir) => {
    const dek = freshDek();
    const clock = new ManualClock();
    const auth = await TokenAuthority.open({ dataDir: dir, dek, now: clock.now });
    const { token, info } = await auth.generate({
      group: "g",
      user: "u",
      expiration: 100,
      keepAlive: true,
    });
    // Used every 90 s it never expires, though 100 s passed many times over.
    for (let i = 0; i < 10; i++) {
      clock.advance(90);
      auth.authorize(token, "aggregate.read", p001);
    }
    const expected = new Date(clock.ms + 100_000).toISOString();
    assert.equal((await auth.list())[0].expires_at, expected);
    await auth.close(); // saves the slide
    const reopened = await TokenAuthority.open({ dataDir: dir, dek, now: clock.now });
    try {
      const [saved] = await reopened.list();
      assert.equal(saved.id, info.id);
      assert.equal(saved.expires_at, expected, "the slid expiry survived close and reopen");
      clock.advance(99);
      reopened.authorize(token, "aggregate.read", p001);
      clock.advance(101);
      assertRefused(
        () => reopened.authorize(token, "aggregate.read", p001),
        "unauthorized",
        "expired",
      );
    } finally {
      await reopened.close();
    }
  });
});

Deno.test("authority: keep-alive saves small slides only on close; refused uses do not slide", async () => {
  await withTempDir(async (dir) => {
    const dek = freshDek();
    const clock = new ManualClock();
    const auth = await TokenAuthority.open({ dataDir: dir, dek, now: clock.now });
    const reader = await TokenAuthority.open({ dataDir: dir, dek, now: clock.now });
    try {
      const { token, info } = await auth.generate({
        group: "g",
        user: "u",
        expiration: 1000,
        keepAlive: true,
        resources: ["aggregate:patient:*"],
      });
      clock.advance(50); // 5% of the window: kept in memory only
      auth.authorize(token, "aggregate.read", p001);
      const slid = new Date(clock.ms + 1_000_000).toISOString();
      assert.equal((await auth.list())[0].expires_at, slid);
      assert.equal((await reader.list())[0].expires_at, info.expires_at, "not written yet");
      clock.advance(50);
      assertRefused(() => auth.authorize(token, "schema.read", schemaResource("x")), "forbidden");
      assert.equal((await auth.list())[0].expires_at, slid, "a refused use does not slide");
      await auth.close();
      assert.equal((await reader.list())[0].expires_at, slid, "written on close");
    } finally {
      await auth.close();
      await reader.close();
    }
  });
});

Deno.test("authority: a token that is not keep-alive does not slide", async () => {
  await withAuthority(async (auth, { clock }) => {
    const { token } = await auth.generate({ group: "g", user: "u", expiration: 100 });
    clock.advance(90);
    auth.authorize(token, "aggregate.read", p001);
    clock.advance(20);
    assertRefused(() => auth.authorize(token, "aggregate.read", p001), "unauthorized", "expired");
  });
});

Deno.test("authority: the auditor token reads exactly p-001 and nothing else", async () => {
  await withAuthority(async (auth) => {
    const { token } = await auth.generate({
      group: "audit",
      user: "carol",
      actions: ["aggregate.read"],
      resources: ["aggregate:patient:p-001"],
    });
    assert.equal(auth.authorize(token, "aggregate.read", p001).issued_by.user, "carol");
    const denied: [Parameters<TokenAuthority["authorize"]>[1], string][] = [
      ["aggregate.read", p002],
      ["aggregate.read", aggregateResource("patient", "p-0011")],
      ["aggregate.read", aggregateResource("order", "p-001")],
      ["aggregate.append", p001],
      ["aggregate.archive", p001],
      ["schema.read", schemaResource("patient")],
      ["token.manage", tokenResource()],
    ];
    for (const [action, resource] of denied) {
      const err = assertRefused(
        () => auth.authorize(token, action, resource),
        "forbidden",
        "not_permitted",
      );
      assert.match(err.message, new RegExp(`does not permit ${action.replace(".", "\\.")}`));
    }
  });
});

Deno.test("authority: generate refuses bad input", async () => {
  await withAuthority(async (auth) => {
    const bad: [Parameters<TokenAuthority["generate"]>[0], RegExp][] = [
      [{ group: "", user: "u" }, /--group is required/],
      [{ group: "g", user: "" }, /--user is required/],
      [{ group: "g".repeat(129), user: "u" }, /--group is longer than 128 bytes/],
      [{ group: "g", user: "u\n" }, /--user must not contain control/],
      [{ group: "g", user: "u", expiration: 0 }, /--expiration/],
      [{ group: "g", user: "u", expiration: -5 }, /--expiration/],
      [{ group: "g", user: "u", expiration: 1e12 }, /--expiration/],
      [{ group: "g", user: "u", limit: -1 }, /--limit/],
      [{ group: "g", user: "u", limit: 0.5 }, /--limit/],
      [{ group: "g", user: "u", keepAlive: true }, /--keep-alive needs --expiration/],
      [{ group: "g", user: "u", actions: ["aggregate.write"] }, /unknown action/],
      [{ group: "g", user: "u", resources: ["patient:1"] }, /must look like/],
    ];
    for (const [options, message] of bad) {
      await assertRejects(() => auth.generate(options), "invalid_input", message);
    }
    assert.equal((await auth.list()).length, 0, "nothing was recorded");
  });
});

Deno.test("authority: tokens persist across reopen; tokens.json is sealed; files are 0600", async () => {
  await withTempDir(async (dir) => {
    const dek = freshDek();
    const auth = await TokenAuthority.open({ dataDir: dir, dek });
    const { token } = await auth.generate({
      group: "secret-group-name",
      user: "secret-user-name",
      resources: ["aggregate:hidden-type:*"],
    });
    const keyId = auth.keyId;
    await auth.close();

    const bytes = await Deno.readFile(join(dir, "tokens.json"));
    const text = new TextDecoder("latin1").decode(bytes);
    for (
      const plain of ["secret-group-name", "secret-user-name", "hidden-type", token.split(".")[2]]
    ) {
      assert.ok(!text.includes(plain), `tokens.json must not contain ${plain} in plaintext`);
    }
    if (Deno.build.os !== "windows") {
      for (const name of ["tokens.json", "node.key"]) {
        assert.equal((await Deno.stat(join(dir, name))).mode! & 0o777, 0o600, name);
      }
    }

    const reopened = await TokenAuthority.open({ dataDir: dir, dek });
    try {
      assert.equal(reopened.keyId, keyId, "node.key is reused, not recreated");
      assert.equal(
        reopened.authorize(token, "aggregate.read", "aggregate:hidden-type:1").issued_by.user,
        "secret-user-name",
      );
      assert.equal((await reopened.list()).length, 1);
    } finally {
      await reopened.close();
    }
  });
});

Deno.test("authority: a wrong DEK or a corrupt tokens.json is a clear error, not a reset", async () => {
  await withTempDir(async (dir) => {
    const dek = freshDek();
    const auth = await TokenAuthority.open({ dataDir: dir, dek });
    await auth.generate({ group: "g", user: "u" });
    await auth.close();
    const before = await Deno.readFile(join(dir, "tokens.json"));

    await assertRejects(
      () => TokenAuthority.open({ dataDir: dir, dek: freshDek() }),
      "wrong_key",
      /cannot decrypt .*tokens\.json.*DEK/,
    );
    assert.deepEqual(await Deno.readFile(join(dir, "tokens.json")), before, "file untouched");

    const flipped = before.slice();
    flipped[flipped.length - 3] ^= 0xff;
    await Deno.writeFile(join(dir, "tokens.json"), flipped);
    await assertRejects(
      () => TokenAuthority.open({ dataDir: dir, dek }),
      "wrong_key",
      "tokens.json",
    );

    await Deno.writeFile(join(dir, "tokens.json"), new TextEncoder().encode("{}"));
    await assertRejects(() => TokenAuthority.open({ dataDir: dir, dek }), "corrupt", "malformed");

    await Deno.writeTextFile(join(dir, "node.key"), "not a key\n");
    await assertRejects(() => TokenAuthority.open({ dataDir: dir, dek }), "corrupt", "node key");

    await assertRejects(
      () => TokenAuthority.open({ dataDir: dir, dek: new Uint8Array(16) }),
      "invalid_input",
      "32 bytes",
    );
  });
});

Deno.test("authority: concurrent opens of a fresh data dir agree on one node key", async () => {
  await withTempDir(async (dir) => {
    const dek = freshDek();
    const all = await Promise.all(
      Array.from({ length: 8 }, () => TokenAuthority.open({ dataDir: dir, dek })),
    );
    try {
      assert.equal(new Set(all.map((a) => a.keyId)).size, 1);
      const { token } = await all[3].generate({ group: "g", user: "u" });
      for (const a of all) a.authorize(token, "aggregate.read", p001);
    } finally {
      for (const a of all) await a.close();
    }
  });
});

Deno.test("authority: mintShortLived gives a 60 s full-scope system token, unrecorded", async () => {
  await withAuthority(async (auth, { clock }) => {
    const token = auth.mintShortLived({ user: "deploy" });
    const who = auth.authorize(token, "token.manage", tokenResource());
    assert.deepEqual(who.issued_by, { group: "system", user: "deploy" });
    assert.ok(auth.mintShortLived().length > 0, "defaults to the OS user");
    assert.equal((await auth.list()).length, 0);
    clock.advance(60);
    assertRefused(() => auth.authorize(token, "aggregate.read", p001), "unauthorized", "expired");
    // It can still be revoked by its string.
    const fresh = auth.mintShortLived({ user: "x" });
    await auth.revoke(fresh);
    assertRefused(() => auth.authorize(fresh, "aggregate.read", p001), "unauthorized", "revoked");
  });
});

/**
 * Watch every LruMap (the authority's verification cache is one) while `fn` runs: how
 * many entries each held at most, and how many times each was written.
 */
async function watchCaches(fn: () => Promise<void>): Promise<{ max: number; sets: number }[]> {
  const seen = new Map<LruMap<unknown, unknown>, { max: number; sets: number }>();
  const original = LruMap.prototype.set;
  LruMap.prototype.set = function (this: LruMap<unknown, unknown>, key, value) {
    original.call(this, key, value);
    const entry = seen.get(this) ?? { max: 0, sets: 0 };
    entry.max = Math.max(entry.max, this.size);
    entry.sets++;
    seen.set(this, entry);
  };
  try {
    await fn();
  } finally {
    LruMap.prototype.set = original;
  }
  return [...seen.values()];
}

Deno.test("authority: the verification cache is bounded and does not outlive revocation", async () => {
  const caches = await watchCaches(() =>
    withAuthority(async (auth) => {
      const tokens: string[] = [];
      for (let i = 0; i < 5; i++) {
        tokens.push((await auth.generate({ group: "g", user: `u${i}` })).token);
      }
      for (const t of tokens) auth.authorize(t, "aggregate.read", p001);
      for (const t of tokens) auth.authorize(t, "aggregate.read", p001); // evicted ones re-verify
      // Two tokens that fit are served from the cache: no new entries are written.
      for (let i = 0; i < 10; i++) auth.authorize(tokens[i % 2], "aggregate.read", p001);
      await auth.revoke(tokens[4]);
      assertRefused(
        () => auth.authorize(tokens[4], "aggregate.read", p001),
        "unauthorized",
        "revoked",
      );
    }, { cacheSize: 2 })
  );
  assert.ok(caches.length >= 1, "the authority keeps its verified tokens in a bounded LruMap");
  const cache = caches.reduce((a, b) => (b.sets > a.sets ? b : a));
  assert.equal(cache.max, 2, "the cache never held more than its 2 entries");
  // 5 misses, then 5 more (each was evicted by the time it came back), then 2 for the
  // pair (evicted by the second round) and none for the 8 hits after those, then 1 for
  // the revoked token (evicted too; revocation is checked after the signature): 13.
  assert.equal(cache.sets, 13, "evicted tokens are verified again, cached ones are not");
});

Deno.test("authority: the default verification cache is bounded too (1024 tokens)", async () => {
  const caches = await watchCaches(() =>
    withAuthority((auth) => {
      for (let i = 0; i < 1100; i++) {
        auth.authorize(auth.mintShortLived({ user: `u${i}` }), "aggregate.read", p001);
      }
      return Promise.resolve();
    })
  );
  const cache = caches.reduce((a, b) => (b.sets > a.sets ? b : a));
  assert.equal(cache.sets, 1100, "every new token was verified and cached");
  assert.equal(cache.max, 1024, "1100 distinct tokens, at most 1024 kept");
});

Deno.test("authority: a closed authority refuses to work", async () => {
  let closed: TokenAuthority | undefined;
  await withAuthority((auth) => {
    closed = auth;
    return Promise.resolve();
  });
  assert.throws(() => closed!.authorize("x", "aggregate.read", p001), DbxError);
  await assertRejects(() => closed!.generate({ group: "g", user: "u" }), "unavailable");
});
