import assert from "node:assert/strict";
import { join } from "node:path";
import { parse } from "smol-toml";
import { verifyMasterKey } from "../../src/config/mod.ts";
import { PROCESS_DEADLINE_MS, runWithin } from "../_helpers/deadline.ts";
import { dbx, exists, freshDek, modeOf, oneLineError, secrets, withTempDir } from "./helpers.ts";

const POSIX = Deno.build.os !== "windows";

/** Create a config in `dataDir` and return its DEK. */
async function init(dataDir: string, ...extra: string[]): Promise<string> {
  const dek = freshDek();
  const result = await dbx(["config", "--dek", dek, ...extra, "--data-dir", dataDir]);
  assert.equal(result.code, 0, result.stderr);
  return dek;
}

async function showJson(dataDir: string, ...extra: string[]) {
  const result = await dbx(["config", "--json", "--data-dir", dataDir, ...extra]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

Deno.test("config: the first run without --dek fails and creates nothing", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "db");
    const result = await dbx(["config", "--port", "8080", "--data-dir", dataDir]);
    assert.equal(result.code, 1);
    assert.match(oneLineError(result), /^error: .*must include --dek <base64>/);
    assert.equal(await exists(dataDir), false);
  });
});

Deno.test("config: showing settings before any config says how to create one", async () => {
  await withTempDir(async (dir) => {
    const result = await dbx(["config", "--data-dir", join(dir, "db")]);
    assert.equal(result.code, 1);
    assert.match(oneLineError(result), /no configuration at .*config\.toml; run `dbx config --dek/);
  });
});

Deno.test("config: the first run with --dek creates a private config and prints it masked", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "db");
    const dek = freshDek();
    const created = await dbx(["config", "--dek", dek, "--data-dir", dataDir]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^created .*config\.toml$/m);
    assert.match(created.stdout, /dek: \(unset\) -> \*{8}/);
    const path = join(dataDir, "config.toml");
    if (POSIX) {
      assert.equal(await modeOf(path), 0o600);
      assert.equal(await modeOf(dataDir), 0o700);
    }
    const file = parse(await Deno.readTextFile(path));
    assert.equal(file.dek, dek);
    assert.equal(file.port, 7070);

    const text = await dbx(["config", "--data-dir", dataDir]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^dek = "\*{8}"$/m);
    assert.match(text.stdout, /^port = 7070$/m);
    assert.match(text.stdout, /^data_dir = /m);

    const json = await showJson(dataDir);
    assert.equal(json.dek, "********");
    assert.equal(json.port, 7070);
    assert.equal(json.data_dir, dataDir);
    assert.equal(json.page_limit, 1000);
    assert.equal(json.list_page_size, 10);
    assert.equal(json.plugin_max_attempts, 10);
    assert.equal(json.restrict, "default");
    assert.deepEqual(json.admin, { enabled: false, bind: "127.0.0.1", port: 7171 });
  });
});

Deno.test("config: every flag is validated, saved and reported with secrets masked", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "db");
    await init(dataDir);
    const masterKey = "master-key-" + crypto.randomUUID();
    secrets.add(masterKey);
    const result = await dbx([
      "config",
      "--port=8081",
      "--cache-threshold",
      "5",
      "--list-page-size",
      "20",
      "--page-limit",
      "200",
      "--plugin-max-attempts",
      "4",
      "--snapshot-threshold",
      "50",
      "--admin-bind",
      "0.0.0.0",
      "--admin-port",
      "7272",
      "--admin-master-key",
      masterKey,
      "--restrict",
      "strict",
      "--data-dir",
      dataDir,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^updated /m);
    assert.match(result.stdout, /port: 7070 -> 8081/);
    assert.match(result.stdout, /admin\.master_key_hash: \(unset\) -> \*{8}/);
    assert.match(result.stdout, /admin\.enabled: false -> true/);
    const json = await showJson(dataDir);
    assert.equal(json.port, 8081);
    assert.equal(json.cache_threshold, 5);
    assert.equal(json.list_page_size, 20);
    assert.equal(json.page_limit, 200);
    assert.equal(json.plugin_max_attempts, 4);
    assert.equal(json.snapshot_threshold, 50);
    assert.equal(json.restrict, "strict");
    assert.deepEqual(json.admin, {
      enabled: true,
      bind: "0.0.0.0",
      port: 7272,
      master_key_hash: "********",
    });
    // Only a hash of the master key is stored, and it verifies.
    const fileText = await Deno.readTextFile(join(dataDir, "config.toml"));
    assert.ok(!fileText.includes(masterKey));
    const file = parse(fileText) as { admin: { master_key_hash: string } };
    assert.match(file.admin.master_key_hash, /^\$argon2id\$/);
    assert.equal(await verifyMasterKey(masterKey, file.admin.master_key_hash), true);

    // Clearing flags remove the settings; --admin-enabled false turns the API off.
    const cleared = await dbx([
      "config",
      "--clear-snapshot-threshold",
      "--clear-admin-master-key",
      "--admin-enabled",
      "false",
      "--restrict",
      "false",
      "--json",
      "--data-dir",
      dataDir,
    ]);
    assert.equal(cleared.code, 0, cleared.stderr);
    const report = JSON.parse(cleared.stdout);
    assert.equal(report.created, false);
    assert.deepEqual(
      report.changes.map((c: { key: string }) => c.key).sort(),
      ["admin.enabled", "admin.master_key_hash", "restrict", "snapshot_threshold"],
    );
    const after = await showJson(dataDir);
    assert.equal(after.snapshot_threshold, undefined);
    assert.equal(after.admin.master_key_hash, undefined);
    assert.equal(after.admin.enabled, false);
    assert.equal(after.restrict, "off");
  });
});

Deno.test("config: --admin-enabled=false wins over the enabling --admin-master-key", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "db");
    await init(dataDir);
    secrets.add("another-master-key");
    const result = await dbx([
      "config",
      "--admin-master-key",
      "another-master-key",
      "--admin-enabled=false",
      "--data-dir",
      dataDir,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const json = await showJson(dataDir);
    assert.equal(json.admin.enabled, false);
    assert.equal(json.admin.master_key_hash, "********");
  });
});

Deno.test("config: re-running with the same values reports no changes", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "db");
    const dek = await init(dataDir, "--port", "9000");
    const result = await dbx(["config", "--dek", dek, "--port", "9000", "--data-dir", dataDir]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^no changes/);
  });
});

Deno.test("config: bad DEKs are refused without echoing them", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "db");
    const notBase64 = "this is *not* base64 but is secret";
    const tooShort = btoa("sixteen byte key");
    secrets.add(notBase64);
    secrets.add(tooShort);
    const bad = await dbx(["config", "--dek", notBase64, "--data-dir", dataDir]);
    assert.equal(bad.code, 1);
    assert.match(oneLineError(bad), /^error: --dek is invalid: .*base64/);
    const short = await dbx(["config", "--dek", tooShort, "--data-dir", dataDir]);
    assert.equal(short.code, 1);
    assert.match(oneLineError(short), /^error: --dek is invalid: .*32 bytes.*16/);
    assert.equal(await exists(dataDir), false);
  });
});

Deno.test("config: bad flag values are usage errors (exit 2) and change nothing", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "db");
    await init(dataDir);
    const before = await Deno.readTextFile(join(dataDir, "config.toml"));
    const cases: [string[], RegExp][] = [
      [["--port", "0"], /--port/],
      [["--port", "65536"], /--port/],
      [["--port", "http"], /--port/],
      [["--admin-port", "-1"], /--admin-port/],
      [["--page-limit", "0"], /--page-limit/],
      [["--list-page-size", "1.5"], /--list-page-size/],
      [["--cache-threshold", "-3"], /--cache-threshold/],
      [["--plugin-max-attempts", "4294967296"], /--plugin-max-attempts/],
      [["--snapshot-threshold", "0"], /--snapshot-threshold/],
      [["--admin-enabled", "maybe"], /--admin-enabled/],
      [["--admin-bind", "bad host"], /--admin-bind/],
      [["--restrict", "sometimes"], /--restrict/],
      [["--bogus"], /unknown option '--bogus'/],
      [["--snapshot-threshold", "5", "--clear-snapshot-threshold"], /cannot be used with/],
      [["--admin-master-key", "k", "--clear-admin-master-key"], /cannot be used with/],
      [["--port"], /argument missing/],
      [["extra-argument"], /too many arguments/],
    ];
    for (const [args, pattern] of cases) {
      const result = await dbx(["config", "--data-dir", dataDir, ...args]);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(oneLineError(result), pattern, args.join(" "));
    }
    assert.equal(await Deno.readTextFile(join(dataDir, "config.toml")), before);
  });
});

Deno.test("config: an empty --admin-master-key is refused", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "db");
    await init(dataDir);
    const result = await dbx(["config", "--admin-master-key", "", "--data-dir", dataDir]);
    assert.equal(result.code, 1);
    assert.match(oneLineError(result), /--admin-master-key must not be empty/);
  });
});

Deno.test("config: the DEK cannot change once a store exists", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "db");
    const dek = await init(dataDir);
    // No store yet: changing the DEK is allowed.
    const second = freshDek();
    const changed = await dbx(["config", "--dek", second, "--data-dir", dataDir]);
    assert.equal(changed.code, 0, changed.stderr);
    assert.match(changed.stdout, /dek: \*{8} -> \*{8}/);

    await Deno.mkdir(join(dataDir, "store"));
    const before = await Deno.readTextFile(join(dataDir, "config.toml"));
    const refused = await dbx(["config", "--dek", dek, "--data-dir", dataDir]);
    assert.equal(refused.code, 1);
    assert.match(oneLineError(refused), /refusing to change the DEK: a store already exists/);
    assert.match(refused.stderr, /rotation is not supported/);
    assert.equal(await Deno.readTextFile(join(dataDir, "config.toml")), before);

    // The same key (even spelled as base64url) is not a change.
    const urlSafe = second.replace(/\+/g, "-").replace(/\//g, "_");
    secrets.add(urlSafe);
    const same = await dbx(["config", "--dek", urlSafe, "--data-dir", dataDir]);
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stdout, /^no changes/);
  });
});

Deno.test("config: a malformed config file is a one-line error without the DEK", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "db");
    const dek = await init(dataDir);
    const path = join(dataDir, "config.toml");
    // Break the very line that holds the DEK: a parser might quote it.
    const text = (await Deno.readTextFile(path)).replace(`dek = "${dek}"`, `dek = "${dek}`);
    await Deno.writeTextFile(path, text);
    for (const args of [[], ["--port", "8080"], ["--json"]]) {
      const result = await dbx(["config", ...args, "--data-dir", dataDir]);
      assert.equal(result.code, 1);
      assert.match(oneLineError(result), /^error: malformed TOML in .*config\.toml at line \d+/);
    }
  });
});

Deno.test("config: invalid values in the file name the file and key", async () => {
  await withTempDir(async (dir) => {
    const dataDir = join(dir, "db");
    await init(dataDir);
    const path = join(dataDir, "config.toml");
    const original = await Deno.readTextFile(path);
    for (
      const [from, to, key] of [
        ["port = 7070", "port = 700000", "port"],
        ["page_limit = 1000", "page_limit = -5", "page_limit"],
        ['restrict = "default"', 'restrict = "lenient"', "restrict"],
        ["port = 7171", 'port = "x"', "admin.port"],
        ["[api]", "[api]\nsoap = true", "api.soap"],
      ]
    ) {
      await Deno.writeTextFile(path, original.replace(from, to));
      const result = await dbx(["config", "--data-dir", dataDir]);
      assert.equal(result.code, 1, to);
      const error = oneLineError(result);
      assert.ok(error.includes(`invalid configuration ${path}: ${key} `), error);
    }
  });
});

Deno.test("config: --config elsewhere records data_dir; later runs find the data", async () => {
  await withTempDir(async (dir) => {
    const configPath = join(dir, "etc", "dbx.toml");
    const dataDir = join(dir, "data");
    const dek = freshDek();
    const created = await dbx([
      "config",
      "--dek",
      dek,
      "--config",
      configPath,
      "--data-dir",
      dataDir,
    ]);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(parse(await Deno.readTextFile(configPath)).data_dir, dataDir);
    if (POSIX) assert.equal(await modeOf(configPath), 0o600);
    assert.ok(await exists(dataDir));
    // Without --data-dir the file says where the data is, even over the environment.
    const json = await dbx(["config", "--json", "--config", configPath], {
      EVENTDBX_DATA_DIR: join(dir, "env-dir"),
    });
    assert.equal(json.code, 0, json.stderr);
    assert.equal(JSON.parse(json.stdout).data_dir, dataDir);
    // --data-dir with --config moves the recorded data dir.
    const moved = join(dir, "moved");
    const move = await dbx(["config", "--config", configPath, "--data-dir", moved]);
    assert.equal(move.code, 0, move.stderr);
    assert.match(move.stdout, /data_dir: ".*data" -> ".*moved"/);
    assert.equal(parse(await Deno.readTextFile(configPath)).data_dir, moved);
  });
});

Deno.test("config: EVENTDBX_DATA_DIR, then $HOME/.eventdbx, locate the data", async () => {
  const denoDir = await cacheDir();
  await withTempDir(async (dir) => {
    const envDir = join(dir, "from-env");
    const fromEnv = await dbx(["config", "--dek", freshDek()], { EVENTDBX_DATA_DIR: envDir });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    assert.ok(await exists(join(envDir, "config.toml")));

    const home = join(dir, "home");
    await Deno.mkdir(home);
    const env = { HOME: home, USERPROFILE: home, EVENTDBX_DATA_DIR: "", DENO_DIR: denoDir };
    const fromHome = await dbx(["config", "--dek", freshDek(), "--port", "7777"], env);
    assert.equal(fromHome.code, 0, fromHome.stderr);
    const file = parse(await Deno.readTextFile(join(home, ".eventdbx", "config.toml")));
    assert.equal(file.port, 7777);
  });
});

Deno.test("config --help lists every flag of the seed", async () => {
  const result = await dbx(["config", "--help"]);
  assert.equal(result.code, 0);
  for (
    const flag of [
      "--port",
      "--data-dir",
      "--config",
      "--cache-threshold",
      "--dek",
      "--list-page-size",
      "--page-limit",
      "--plugin-max-attempts",
      "--snapshot-threshold",
      "--clear-snapshot-threshold",
      "--admin-enabled",
      "--admin-bind",
      "--admin-port",
      "--admin-master-key",
      "--clear-admin-master-key",
      "--restrict",
      "--json",
    ]
  ) {
    assert.ok(result.stdout.includes(flag), flag);
  }
});

/** Deno's cache directory, so a subprocess with another HOME does not download again. */
async function cacheDir(): Promise<string> {
  const fromEnv = Deno.env.get("DENO_DIR");
  if (fromEnv) return fromEnv;
  const command = new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  });
  const output = await runWithin(command, PROCESS_DEADLINE_MS, "deno info --json");
  return JSON.parse(new TextDecoder().decode(output.stdout)).denoDir;
}
