/**
 * The master key's hash: Argon2id now; an earlier version's scrypt hash still verifies and
 * is replaced by Argon2id the first time the key is used successfully (never on a wrong
 * key); a running server follows config.toml, so a rotated, cleared or disabled key takes
 * effect on the next request (changed with the real CLI).
 */
import { join } from "node:path";
import { Buffer } from "node:buffer";
import { AdminSettingsFile } from "../../src/config/admin_settings.ts";
import {
  hashMasterKey,
  isLegacyMasterKeyHash,
  parseMasterKeyHash,
  verifyMasterKey,
} from "../../src/config/master_key.ts";
import { assertRejects } from "../_helpers/assert.ts";
import { runDbx } from "../_helpers/cli.ts";
import {
  assert,
  assertEquals,
  fileConfig,
  KEY,
  legacyScryptHash,
  withAdminServer,
} from "./_setup.ts";

Deno.test("master key: Argon2id in the PHC format, salted, verifying only the right key", async () => {
  const first = await hashMasterKey("open sesame");
  const second = await hashMasterKey("open sesame");
  assert(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/.test(first));
  assert(first !== second, "a fresh salt each time");
  assert(!first.includes("open sesame"));
  assertEquals(await verifyMasterKey("open sesame", first), true);
  assertEquals(await verifyMasterKey("open sesame!", first), false);
  assertEquals(await verifyMasterKey("", first), false);
  assertEquals(await verifyMasterKey("x".repeat(5000), first), false);
  await assertRejects(() => hashMasterKey(""), "invalid_input");
  await assertRejects(() => hashMasterKey(" padded "), "invalid_input", "printable ASCII");
  await assertRejects(() => hashMasterKey("tab\there"), "invalid_input");
  await assertRejects(() => verifyMasterKey("x", "$argon2id$v=19$garbage"), "corrupt");
  // Hostile parameters (a huge memory cost) are not a hash this version accepts.
  const salt = Buffer.from(new Uint8Array(16)).toString("base64").replace(/=+$/, "");
  const hash = Buffer.from(new Uint8Array(32)).toString("base64").replace(/=+$/, "");
  assertEquals(parseMasterKeyHash(`$argon2id$v=19$m=9999999,t=2,p=1$${salt}$${hash}`), undefined);
  assertEquals(parseMasterKeyHash(`$argon2id$v=19$m=19456,t=99,p=1$${salt}$${hash}`), undefined);
  assert(parseMasterKeyHash(`$argon2id$v=19$m=19456,t=2,p=1$${salt}$${hash}`));
});

Deno.test("master key: an earlier scrypt hash verifies (and only the right key)", async () => {
  const legacy = await legacyScryptHash("legacy secret");
  assert(isLegacyMasterKeyHash(legacy));
  assertEquals(await verifyMasterKey("legacy secret", legacy), true);
  assertEquals(await verifyMasterKey("legacy secret?", legacy), false);
});

Deno.test("admin: a scrypt hash is replaced by Argon2id on the key's first successful use", async () => {
  const legacy = await legacyScryptHash(KEY);
  await withAdminServer(async (s) => {
    // A wrong key changes nothing.
    assertEquals((await s.request("GET", "/tokens", { key: "not-it" })).status, 401);
    assertEquals((await fileConfig(s.dir)).admin.master_key_hash, legacy);

    const before = await Deno.readTextFile(s.configPath);
    assertEquals((await s.request("GET", "/tokens")).status, 200);
    const after = await fileConfig(s.dir);
    const upgraded = after.admin.master_key_hash!;
    assert(upgraded.startsWith("$argon2id$"), upgraded);
    assertEquals(await verifyMasterKey(KEY, upgraded), true);
    // Only the hash changed; the DEK and every other setting are as they were.
    const text = await Deno.readTextFile(s.configPath);
    assertEquals(text.replace(upgraded, "H"), before.replace(legacy, "H"));
    assert(!text.includes(KEY));
    assertEquals((await Deno.stat(s.configPath)).mode! & 0o777, 0o600);

    // The server uses the new hash from now on: the key works, a wrong one does not.
    assertEquals(s.server.node.config.admin.master_key_hash, upgraded);
    assertEquals((await s.request("GET", "/schemas", { bearer: true })).status, 200);
    assertEquals((await s.request("GET", "/schemas", { key: "not-it" })).status, 401);
  }, { hash: legacy });
});

Deno.test("admin: rotating, clearing and disabling with dbx config apply to the running server", async () => {
  await withAdminServer(async (s) => {
    const dbx = (...args: string[]) => runDbx(s.dir, ["config", ...args]);
    assertEquals((await s.request("GET", "/tokens")).status, 200);

    const rotated = await dbx("--admin-master-key", "rotated-key-2");
    assertEquals(rotated.code, 0, rotated.stderr);
    const old = await s.request("GET", "/tokens");
    assertEquals(old.status, 401);
    assertEquals(old.json.message, "the Admin master key is wrong");
    assertEquals((await s.request("GET", "/tokens", { key: "rotated-key-2" })).status, 200);

    const cleared = await dbx("--clear-admin-master-key");
    assertEquals(cleared.code, 0, cleared.stderr);
    for (let i = 0; i < 12; i++) {
      // Nothing to guess against: refused, and never rate limited.
      const none = await s.request("GET", "/tokens", { key: "rotated-key-2" });
      assertEquals(none.status, 401);
      assertEquals(none.json.message, "no Admin master key is configured on this node");
    }

    assertEquals((await dbx("--admin-master-key", "third-key")).code, 0);
    assertEquals((await s.request("GET", "/tokens", { key: "third-key" })).status, 200);
    assertEquals((await dbx("--admin-enabled", "false")).code, 0);
    const off = await s.request("GET", "/tokens", { key: "third-key" });
    assertEquals(off.status, 403);
    assert(/disabled/.test(off.json.message), off.json.message);
    assertEquals((await dbx("--admin-enabled", "true")).code, 0);
    assertEquals((await s.request("GET", "/tokens", { key: "third-key" })).status, 200);

    // A config.toml that cannot be read fails closed, with a message naming the file.
    await Deno.writeTextFile(join(s.dir, "config.toml"), "port = ");
    const broken = await s.request("GET", "/tokens", { key: "third-key" });
    assertEquals(broken.status, 503);
    assert(broken.json.message.includes("config.toml"), broken.json.message);
  });
});

Deno.test("admin settings: callers at once share one read of config.toml, and see changes", async () => {
  await withAdminServer(async (s) => {
    const file = new AdminSettingsFile({ configPath: s.configPath, dataDir: s.dir });
    const all = await Promise.all(Array.from({ length: 20 }, () => file.current()));
    for (const settings of all) {
      assertEquals(settings.enabled, true);
      assert(settings.master_key_hash?.startsWith("$argon2id$"));
    }
    assertEquals((await runDbx(s.dir, ["config", "--admin-enabled", "false"])).code, 0);
    const after = await Promise.all([file.current(), file.current()]);
    assertEquals(after.map((a) => a.enabled), [false, false]);
  });
});
