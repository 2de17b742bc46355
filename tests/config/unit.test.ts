import assert from "node:assert/strict";
import { join } from "node:path";
import { parseDek } from "../../src/crypto/aead.ts";
import { DbxError } from "../../src/errors.ts";
import { outputWithin, PROCESS_DEADLINE_MS } from "../_helpers/deadline.ts";
import {
  type Config,
  configToToml,
  defaultConfig,
  dekBytes,
  hashMasterKey,
  loadConfig,
  maskConfig,
  parseRestrict,
  resolveLocation,
  saveConfig,
  verifyMasterKey,
  writeFileAtomic,
} from "../../src/config/mod.ts";
import { exists, freshDek, modeOf, withTempDir } from "./helpers.ts";

const POSIX = Deno.build.os !== "windows";

/** Assert `fn` rejects with a DbxError of `code` whose message passes `check`. */
async function rejectsWith(
  fn: () => Promise<unknown>,
  code: string,
  check: (message: string) => void = () => {},
): Promise<DbxError> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof DbxError, `expected DbxError, got ${err}`);
    assert.equal(err.code, code, err.message);
    assert.ok(!err.message.includes("\n"), `multi-line message: ${err.message}`);
    check(err.message);
    return err;
  }
  assert.fail("expected a rejection");
}

Deno.test("defaultConfig has the documented defaults", () => {
  const config = defaultConfig("/data");
  assert.deepEqual(config, {
    port: 7070,
    data_dir: "/data",
    cache_threshold: 10000,
    list_page_size: 10,
    page_limit: 1000,
    plugin_max_attempts: 10,
    restrict: "default",
    max_json_depth: 64,
    api: { rest: true, graphql: true, grpc: true },
    grpc: { bind_addr: "0.0.0.0:7070" },
    socket: { bind_addr: "127.0.0.1:6363" },
    admin: { enabled: false, bind: "127.0.0.1", port: 7171 },
    server: {
      http_workers: "auto",
      write_queue_limit: 8192,
      max_connections: 1024,
      header_read_timeout: 10,
      idle_timeout: 60,
    },
  });
  assert.equal(config.snapshot_threshold, undefined);
  assert.equal(config.dek, undefined);
  // Each call is a fresh object: callers may mutate it.
  defaultConfig("/data").api.rest = false;
  assert.equal(defaultConfig("/data").api.rest, true);
});

Deno.test("resolveLocation: --data-dir gives <dir>/config.toml, relative paths made absolute", () => {
  assert.deepEqual(resolveLocation({ dataDir: "/srv/db" }), {
    configPath: "/srv/db/config.toml",
    dataDir: "/srv/db",
  });
  const rel = resolveLocation({ dataDir: "rel/db" });
  assert.equal(rel.dataDir, join(Deno.cwd(), "rel/db"));
  assert.throws(() => resolveLocation({ dataDir: " " }), DbxError);
  assert.throws(() => resolveLocation({ configPath: "" }), DbxError);
});

Deno.test("resolveLocation: a --config file's data_dir is used unless --data-dir is given", async () => {
  await withTempDir(async (dir) => {
    const configPath = join(dir, "etc", "dbx.toml");
    await Deno.mkdir(join(dir, "etc"));
    await Deno.writeTextFile(configPath, 'data_dir = "../data"\n');
    assert.deepEqual(resolveLocation({ configPath }), { configPath, dataDir: join(dir, "data") });
    assert.deepEqual(resolveLocation({ configPath, dataDir: join(dir, "other") }), {
      configPath,
      dataDir: join(dir, "other"),
    });
    await Deno.writeTextFile(configPath, `data_dir = ${JSON.stringify(join(dir, "abs"))}\n`);
    assert.equal(resolveLocation({ configPath }).dataDir, join(dir, "abs"));
    // A malformed file must not silently fall back to another data directory.
    await Deno.writeTextFile(configPath, "data_dir = [\n");
    assert.throws(() => resolveLocation({ configPath }), /malformed TOML/);
    await Deno.writeTextFile(configPath, "data_dir = 5\n");
    assert.throws(() => resolveLocation({ configPath }), /data_dir must be a non-empty string/);
  });
});

Deno.test("loadConfig without create: a missing file is not_found with the fix", async () => {
  await withTempDir(async (dir) => {
    await rejectsWith(
      () => loadConfig({ dataDir: join(dir, "db") }, { create: false }),
      "not_found",
      (message) => {
        assert.match(message, /no configuration at .*config\.toml/);
        assert.match(message, /dbx config --dek <base64>/);
      },
    );
    assert.equal(await exists(join(dir, "db")), false);
  });
});

Deno.test("loadConfig with create: makes a 0700 dir and a 0600 file with a fresh DEK", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "nested", "db");
    const first = await loadConfig({ dataDir }, { create: true });
    assert.equal(first.created, true);
    assert.equal(first.dataDir, dataDir);
    assert.equal(first.configPath, join(dataDir, "config.toml"));
    assert.equal(parseDek(first.config.dek!).length, 32);
    if (POSIX) {
      assert.equal(await modeOf(dataDir), 0o700);
      assert.equal(await modeOf(first.configPath), 0o600);
    }
    const second = await loadConfig({ dataDir }, { create: true });
    assert.equal(second.created, false);
    assert.equal(second.config.dek, first.config.dek);
    assert.deepEqual(second.config, first.config);
  });
});

Deno.test("saveConfig then loadConfig round-trips every setting", async () => {
  await withTempDir(async (dir) => {
    const config: Config = {
      port: 8081,
      data_dir: dir,
      cache_threshold: 0,
      dek: freshDek(),
      list_page_size: 25,
      page_limit: 500,
      plugin_max_attempts: 3,
      snapshot_threshold: 100,
      restrict: "strict",
      max_json_depth: 32,
      api: { rest: true, graphql: false, grpc: false },
      grpc: { bind_addr: "127.0.0.1:9090" },
      socket: { bind_addr: "[::1]:6464" },
      admin: {
        enabled: true,
        bind: "::1",
        port: 7272,
        master_key_hash: await hashMasterKey("master secret"),
      },
      server: {
        http_workers: 2,
        write_queue_limit: 100,
        max_connections: 50,
        header_read_timeout: 5,
        idle_timeout: 30,
      },
    };
    const path = join(dir, "config.toml");
    await saveConfig(path, config);
    const loaded = await loadConfig({ dataDir: dir }, { create: false });
    assert.deepEqual(loaded.config, config);
    // Inside its data dir the file does not pin the directory (it stays relocatable).
    assert.ok(!(await Deno.readTextFile(path)).includes("data_dir"));
  });
});

Deno.test("a config outside its data dir records data_dir", async () => {
  await withTempDir(async (dir) => {
    const configPath = join(dir, "elsewhere.toml");
    const dataDir = join(dir, "data");
    await saveConfig(configPath, { ...defaultConfig(dataDir), dek: freshDek() });
    assert.match(configToToml(defaultConfig(dataDir), configPath), /data_dir = /);
    const loaded = await loadConfig({ configPath }, { create: false });
    assert.equal(loaded.dataDir, dataDir);
    assert.equal(loaded.config.data_dir, dataDir);
  });
});

Deno.test("saveConfig always leaves mode 0600, even over a wider existing file", {
  ignore: !POSIX,
}, async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "config.toml");
    await Deno.writeTextFile(path, "port = 1\n", { mode: 0o644 });
    await Deno.chmod(path, 0o644);
    await saveConfig(path, { ...defaultConfig(dir), dek: freshDek() });
    assert.equal(await modeOf(path), 0o600);
  });
});

/** A separate process that reads `path` until `stop` exists and counts torn reads. */
const TORN_READER = `
const [path, ready, stop, ...bodies] = Deno.args;
const whole = new Set(bodies.map((b) => b[0].repeat(Number(b.slice(1)))));
let reads = 0, torn = 0;
const exists = (p) => { try { Deno.statSync(p); return true; } catch { return false; } };
for (;;) {
  const done = exists(stop);
  if (!whole.has(Deno.readTextFileSync(path))) torn++;
  if (++reads === 1) Deno.writeTextFileSync(ready, "");
  if (done) break;
}
console.log(JSON.stringify({ reads, torn }));
`;

Deno.test("writeFileAtomic: another process only ever reads a whole old or new file", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "config.toml");
    const [ready, stop] = [join(dir, "ready"), join(dir, "stop")];
    const bodies = ["a".repeat(200_000), "b".repeat(300_000)];
    await writeFileAtomic(path, new TextEncoder().encode(bodies[0]), 0o600);
    const reader = new Deno.Command(Deno.execPath(), {
      args: ["eval", TORN_READER, path, ready, stop, "a200000", "b300000"],
      stdout: "piped",
    }).spawn();
    try {
      // Wait for the reader's first read (bounded, in case the reader failed to start).
      for (let i = 0; !(await exists(ready)); i++) {
        assert.ok(i < 6000, "the reader process never started");
        await new Promise((r) => setTimeout(r, 10));
      }
      for (let i = 1; i <= 200; i++) {
        await writeFileAtomic(path, new TextEncoder().encode(bodies[i % 2]), 0o600);
      }
    } finally {
      await Deno.writeTextFile(stop, "");
    }
    const output = await outputWithin(reader, PROCESS_DEADLINE_MS, "the torn-read reader to stop");
    const { reads, torn } = JSON.parse(new TextDecoder().decode(output.stdout));
    assert.ok(reads > 0);
    assert.equal(torn, 0, `${torn} of ${reads} reads saw a partly written file`);
    await Deno.remove(ready);
    await Deno.remove(stop);
    // No temp files are left behind.
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names, ["config.toml"]);
  });
});

Deno.test("writeFileAtomic: a failed replace keeps the target and removes its temp file", async () => {
  await withTempDir(async (dir) => {
    // The target is a non-empty directory, so the final rename must fail.
    const target = join(dir, "config.toml");
    await Deno.mkdir(target);
    await Deno.writeTextFile(join(target, "keep"), "x");
    await assert.rejects(() => writeFileAtomic(target, new TextEncoder().encode("y"), 0o600));
    assert.equal(await Deno.readTextFile(join(target, "keep")), "x");
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names, ["config.toml"]);
  });
});

Deno.test("saveConfig reports an unwritable location as a DbxError", async () => {
  await withTempDir(async (dir) => {
    const blocker = join(dir, "file");
    await Deno.writeTextFile(blocker, "");
    await rejectsWith(
      () => saveConfig(join(blocker, "config.toml"), defaultConfig(dir)),
      "invalid_input",
      (message) => assert.match(message, /not a directory/),
    );
  });
});

Deno.test("loadConfig: restrict accepts true/false and the three modes", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "config.toml");
    for (
      const [value, mode] of [
        ["true", "default"],
        ["false", "off"],
        ['"true"', "default"],
        ['"false"', "off"],
        ['"off"', "off"],
        ['"strict"', "strict"],
        ['"default"', "default"],
      ]
    ) {
      await Deno.writeTextFile(path, `restrict = ${value}\n`);
      const { config } = await loadConfig({ dataDir: dir }, { create: false });
      assert.equal(config.restrict, mode, value);
    }
  });
});

Deno.test("loadConfig: a partial file is merged over the defaults", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "config.toml"), "port = 9000\n[api]\ngrpc = false\n");
    const { config } = await loadConfig({ dataDir: dir }, { create: false });
    assert.deepEqual(config, {
      ...defaultConfig(dir),
      port: 9000,
      api: { rest: true, graphql: true, grpc: false },
    });
  });
});

/** Each invalid file: its text and the key the error must name. */
const INVALID_FILES: [string, string][] = [
  ["port = 0", "port"],
  ["port = 65536", "port"],
  ['port = "7070"', "port"],
  ["port = 80.5", "port"],
  ["port = 1979-05-27T07:32:00Z", "port"],
  ["cache_threshold = -1", "cache_threshold"],
  ["list_page_size = 0", "list_page_size"],
  ["page_limit = 0", "page_limit"],
  ["page_limit = true", "page_limit"],
  ["plugin_max_attempts = 0", "plugin_max_attempts"],
  ["plugin_max_attempts = 4294967296", "plugin_max_attempts"],
  ["snapshot_threshold = 0", "snapshot_threshold"],
  ['restrict = "sometimes"', "restrict"],
  ["restrict = 1", "restrict"],
  ['data_dir = ""', "data_dir"],
  ["api = 1", "api"],
  ['[api]\nrest = "yes"', "api.rest"],
  ["[api]\nsoap = true", "api.soap"],
  ["colour = true", "colour"],
  ['[grpc]\nbind_addr = "nohost"', "grpc.bind_addr"],
  ['[socket]\nbind_addr = "0.0.0.0"', "socket.bind_addr"],
  ["[socket]\nallow_plaintext = 1", "socket.allow_plaintext"],
  ["[socket]\nmax_frame_bytes = 10", "socket.max_frame_bytes"],
  ['[socket]\nbind_addr = "0.0.0.0:99999"', "socket.bind_addr"],
  ["[server]\nhttp_workers = -1", "server.http_workers"],
  ['[server]\nhttp_workers = "many"', "server.http_workers"],
  ["[server]\nwrite_queue_limit = 0", "server.write_queue_limit"],
  ["[server]\nthreads = 2", "server.threads"],
  ["[server]\nmax_connections = 0", "server.max_connections"],
  ["max_json_depth = 1", "max_json_depth"],
  ['max_json_depth = "deep"', "max_json_depth"],
  ["[server]\nheader_read_timeout = 0", "server.header_read_timeout"],
  ['[server]\nidle_timeout = "1m"', "server.idle_timeout"],
  ['[admin]\nenabled = "true"', "admin.enabled"],
  ['[admin]\nbind = ""', "admin.bind"],
  ['[admin]\nbind = "a b"', "admin.bind"],
  ["[admin]\nport = 0", "admin.port"],
  ['[admin]\nmaster_key_hash = "plaintext-master-key"', "admin.master_key_hash"],
  [
    '[admin]\nmaster_key_hash = "scrypt$ln=40,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$' +
    'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="',
    "admin.master_key_hash",
  ],
  ["dek = 5", "dek"],
  ['dek = "not base64!!"', "dek"],
  ['dek = "c2hvcnQ="', "dek"],
];

Deno.test("loadConfig rejects each invalid value, naming the file and key", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "config.toml");
    for (const [text, key] of INVALID_FILES) {
      await Deno.writeTextFile(path, text + "\n");
      await rejectsWith(
        () => loadConfig({ dataDir: dir }, { create: false }),
        "invalid_input",
        (message) => {
          assert.ok(message.includes(path), `${text}: ${message}`);
          assert.ok(message.includes(`: ${key} `), `${text}: ${message}`);
        },
      );
    }
  });
});

Deno.test("invalid DEKs and hashes are never echoed in errors", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "config.toml");
    // Secret-looking values that are invalid (wrong length / bad characters / unterminated).
    const badDek = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"; // 24 bytes
    const badChars = "SECRET-VALUE-WITH*STAR";
    const hash = "plaintext-master-key-value";
    for (
      const [text, secret] of [
        [`dek = "${badDek}"`, badDek],
        [`dek = "${badChars}"`, badChars],
        [`dek = "${badDek}\nport = 1`, badDek],
        [`port = 7070\ndek = '${badDek}`, badDek],
        [`[admin]\nmaster_key_hash = "${hash}"`, hash],
      ]
    ) {
      await Deno.writeTextFile(path, text + "\n");
      await rejectsWith(
        () => loadConfig({ dataDir: dir }, { create: false }),
        "invalid_input",
        (message) => assert.ok(!message.includes(secret), message),
      );
    }
  });
});

Deno.test("malformed TOML gives a one-line error with file, line and column", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "config.toml");
    for (const text of ["port = ", "[admin\nport = 1", "port = 1\nport = 2", "= 3", "a.b = [1,"]) {
      await Deno.writeTextFile(path, text);
      await rejectsWith(
        () => loadConfig({ dataDir: dir }, { create: false }),
        "invalid_input",
        (message) =>
          assert.match(message, /^malformed TOML in .*config\.toml at line \d+, column \d+/),
      );
    }
  });
});

Deno.test("loadConfig: a directory where the file should be is a clear error", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(join(dir, "config.toml"));
    await rejectsWith(
      () => loadConfig({ dataDir: dir }, { create: true }),
      "invalid_input",
      (message) => assert.match(message, /is a directory/),
    );
  });
});

Deno.test("parseRestrict accepts the five spellings and rejects others", () => {
  assert.equal(parseRestrict("off"), "off");
  assert.equal(parseRestrict("false"), "off");
  assert.equal(parseRestrict("default"), "default");
  assert.equal(parseRestrict("true"), "default");
  assert.equal(parseRestrict("Strict"), "strict");
  for (const bad of ["", "on", "yes", "strictest", "1"]) {
    assert.throws(() => parseRestrict(bad), (err) => {
      assert.ok(err instanceof DbxError && err.code === "invalid_input");
      assert.match(err.message, /off, default, strict, true or false/);
      return true;
    });
  }
});

Deno.test("maskConfig hides the DEK and master key hash without touching the original", () => {
  const config: Config = {
    ...defaultConfig("/d"),
    dek: freshDek(),
    admin: { enabled: true, bind: "127.0.0.1", port: 7171, master_key_hash: "scrypt$x" },
  };
  const masked = maskConfig(config);
  assert.equal(masked.dek, "********");
  assert.equal(masked.admin.master_key_hash, "********");
  assert.ok(!JSON.stringify(masked).includes(config.dek!));
  assert.notEqual(config.dek, "********");
  assert.equal(config.admin.master_key_hash, "scrypt$x");
  const plain = maskConfig(defaultConfig("/d"));
  assert.equal(plain.dek, undefined);
  assert.equal(plain.admin.master_key_hash, undefined);
});

Deno.test("dekBytes returns the 32 key bytes or says how to configure one", () => {
  const dek = freshDek();
  assert.deepEqual(dekBytes({ ...defaultConfig("/d"), dek }), parseDek(dek));
  assert.throws(() => dekBytes(defaultConfig("/d")), (err) => {
    assert.ok(err instanceof DbxError && err.code === "invalid_input");
    assert.match(err.message, /no DEK configured; run `dbx config --dek <base64>`/);
    return true;
  });
});

Deno.test("master key hashes are salted Argon2id and verify only the right secret", async () => {
  const first = await hashMasterKey("open sesame");
  const second = await hashMasterKey("open sesame");
  assert.match(first, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  assert.notEqual(first, second);
  assert.ok(!first.includes("open sesame"));
  assert.equal(await verifyMasterKey("open sesame", first), true);
  assert.equal(await verifyMasterKey("open sesame!", first), false);
  assert.equal(await verifyMasterKey("", first), false);
  await rejectsWith(() => hashMasterKey(""), "invalid_input");
  await rejectsWith(() => verifyMasterKey("x", "scrypt$garbage"), "corrupt");
});
