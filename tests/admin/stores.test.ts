/**
 * The stores of remotes and plugins through the API (the local caller, as the CLI will use
 * them offline): what each kind accepts and how it is normalized, private files written
 * atomically, concurrent changes that lose nothing, and hand-edited files checked on read.
 */
import { join } from "node:path";
import { type Api, createApi } from "../../src/api/api.ts";
import { type Node, openNode } from "../../src/api/node.ts";
import { defaultConfig } from "../../src/config/defaults.ts";
import { generateDek } from "../../src/crypto/aead.ts";
import { assertRejects } from "../_helpers/assert.ts";
import { withTempDir } from "../_helpers/temp.ts";
import { assert, assertEquals, OTHER_PUBLIC_KEY, PUBLIC_KEY } from "./_setup.ts";

const LOCAL = { kind: "local", user: "tester" } as const;

async function withApi(fn: (api: Api, dir: string, node: Node) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    const node = await openNode({
      dataDir: dir,
      config: { ...defaultConfig(dir), dek: generateDek() },
    });
    try {
      await fn(createApi(node), dir, node);
    } finally {
      await node.close();
    }
  });
}

Deno.test("remotes: endpoints are formatted and checked as dbx remote add does", async () => {
  await withApi(async (api, dir) => {
    const add = (input: Record<string, unknown>) =>
      api.call(LOCAL, "upsertRemote", { name: "r", public_key: PUBLIC_KEY, ...input });
    assertEquals((await add({ host: "10.0.0.2" })).remote.endpoint, "tcp://10.0.0.2:6363");
    assertEquals((await add({ host: "::1", port: 7000 })).remote.endpoint, "tcp://[::1]:7000");
    assertEquals((await add({ host: "[fe80::1]" })).remote.endpoint, "tcp://[fe80::1]:6363");
    assertEquals(
      (await add({ host: "db-2.example.com" })).remote.endpoint,
      "tcp://db-2.example.com:6363",
    );
    assertEquals((await add({ endpoint: "tcp://[::1]:6363" })).remote.endpoint, "tcp://[::1]:6363");
    // A key without its padding is stored in its canonical spelling.
    const unpadded = await api.call(LOCAL, "upsertRemote", {
      name: "r",
      host: "10.0.0.2",
      public_key: PUBLIC_KEY.replace(/=$/, ""),
    });
    assertEquals(unpadded.remote.public_key, PUBLIC_KEY);
    for (const host of ["999.1.1.1", "1.2.3", "-bad.example", "a..b", "http://x", ""]) {
      await assertRejects(() => add({ host }), "invalid_input");
    }
    for (
      const endpoint of ["tcp://10.0.0.2:0", "tcp://:6363", "tcp://[::1:6363", "10.0.0.2:6363"]
    ) {
      await assertRejects(() => add({ endpoint }), "invalid_input");
    }
    const file = JSON.parse(await Deno.readTextFile(join(dir, "remotes.json")));
    assertEquals(file.version, 1);
    assertEquals(file.remotes.length, 1);
    assertEquals((await Deno.stat(join(dir, "remotes.json"))).mode! & 0o777, 0o600);
  });
});

Deno.test("remotes: concurrent changes lose nothing; hand-edited files are checked on read", async () => {
  await withApi(async (api, dir) => {
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        api.call(LOCAL, "upsertRemote", {
          name: `node-${String(i).padStart(2, "0")}`,
          host: `10.0.1.${i + 1}`,
          public_key: i % 2 ? PUBLIC_KEY : OTHER_PUBLIC_KEY,
        })),
    );
    const listed = await api.call(LOCAL, "listRemotes", {});
    assertEquals(listed.length, 40);
    assertEquals(listed.map((r) => r.name), [...listed.map((r) => r.name)].sort());
    // No temp files are left behind.
    for await (const entry of Deno.readDir(dir)) assert(!entry.name.endsWith(".tmp"), entry.name);

    const path = join(dir, "remotes.json");
    const good = await Deno.readTextFile(path);
    const edited = JSON.parse(good);
    edited.remotes[0].public_key = "AAAA";
    await Deno.writeTextFile(path, JSON.stringify(edited));
    const err = await assertRejects(() => api.call(LOCAL, "listRemotes", {}), "corrupt");
    assert(err.message.includes(path) && err.message.includes("remote #1"), err.message);
    await Deno.writeTextFile(path, "{not json");
    await assertRejects(() => api.call(LOCAL, "getRemote", { name: "node-00" }), "corrupt");
    // A broken file is never overwritten by a change.
    await assertRejects(
      () =>
        api.call(LOCAL, "upsertRemote", { name: "x", host: "10.0.0.1", public_key: PUBLIC_KEY }),
      "corrupt",
    );
    assertEquals(await Deno.readTextFile(path), "{not json");
    await Deno.writeTextFile(path, good);
    assertEquals((await api.call(LOCAL, "removeRemote", { name: "node-00" })).removed, true);
    assertEquals((await api.call(LOCAL, "listRemotes", {})).length, 39);
  });
});

Deno.test("plugins: every kind of both seeds is accepted with its settings, normalized", async () => {
  await withApi(async (api, dir) => {
    const put = async (input: Record<string, unknown>) =>
      (await api.call(LOCAL, "upsertPlugin", { name: "p", ...input } as never)).plugin;
    assertEquals(
      await put({ kind: "tcp", host: "127.0.0.1", port: 9000 }).then((p) => p.enabled),
      true,
    );
    const http = await put({
      kind: "http",
      endpoint: "hooks.local:8080/in",
      headers: { "X-Token": "t", Accept: "application/json" },
      enabled: false,
    });
    assertEquals(http, {
      ...http,
      kind: "http",
      endpoint: "http://hooks.local:8080/in",
      https: false,
      headers: { "X-Token": "t", Accept: "application/json" },
      enabled: false,
    });
    assertEquals(
      (await put({ kind: "http", endpoint: "hooks.local", https: true }) as { endpoint: string })
        .endpoint,
      "https://hooks.local/",
    );
    assertEquals(
      (await put({ kind: "grpc", endpoint: "127.0.0.1:50051" }) as { endpoint: string }).endpoint,
      "http://127.0.0.1:50051/",
    );
    const log = await put({ kind: "log", level: "warn", template: "{aggregate}/{id}: {event}" });
    assertEquals((log as { template?: string }).template, "{aggregate}/{id}: {event}");
    assertEquals(await put({ kind: "log" }).then((p) => (p as { level: string }).level), "info");
    const process = await put({
      kind: "process",
      plugin: "search",
      version: "1.4.0-rc.1+build.5",
      args: ["--index", "events"],
      env: { RUST_LOG: "info" },
      working_dir: "/srv/search",
    });
    assertEquals((process as { args: string[] }).args, ["--index", "events"]);
    await put({ kind: "postgres", connection: "postgresql://dbx@localhost/events" });
    await put({ kind: "postgres", connection: "host=localhost dbname=events" });
    await put({ kind: "sqlite", path: "/var/lib/dbx/events.sqlite" });
    await put({ kind: "csv", output_dir: "/var/lib/dbx/csv" });
    assertEquals(
      await put({ kind: "json", path: "/tmp/events.jsonl", pretty: true }).then((p) =>
        (p as { pretty: boolean }).pretty
      ),
      true,
    );
    // One instance of that name: the last configuration wins, created_at is kept.
    const listed = await api.call(LOCAL, "listPlugins", {});
    assertEquals(listed.length, 1);
    assertEquals(listed[0].kind, "json");
    assertEquals((await Deno.stat(join(dir, "plugins.json"))).mode! & 0o777, 0o600);
  });
});

Deno.test("plugins: enable, disable, remove only when disabled; hand-edited files checked", async () => {
  await withApi(async (api, dir) => {
    await api.call(LOCAL, "upsertPlugin", { name: "a", kind: "log", level: "info" });
    assertEquals((await api.call(LOCAL, "getPlugin", { name: "a" })).enabled, true);
    const err = await assertRejects(
      () => api.call(LOCAL, "removePlugin", { name: "a" }),
      "conflict",
    );
    assert(/disable it/.test(err.message));
    assertEquals((await api.call(LOCAL, "disablePlugin", { name: "a" })).enabled, false);
    assertEquals((await api.call(LOCAL, "disablePlugin", { name: "a" })).enabled, false);
    assertEquals(await api.call(LOCAL, "removePlugin", { name: "a" }), {
      name: "a",
      removed: true,
    });
    await assertRejects(() => api.call(LOCAL, "enablePlugin", { name: "a" }), "not_found");

    await api.call(LOCAL, "upsertPlugin", { name: "b", kind: "tcp", host: "h", port: 1 });
    const path = join(dir, "plugins.json");
    const edited = JSON.parse(await Deno.readTextFile(path));
    edited.plugins[0].port = 70000;
    await Deno.writeTextFile(path, JSON.stringify(edited));
    const bad = await assertRejects(() => api.call(LOCAL, "listPlugins", {}), "corrupt");
    assert(bad.message.includes("plugin #1") && /port/.test(bad.message), bad.message);
    edited.plugins = [edited.plugins[0], edited.plugins[0]];
    edited.plugins[0].port = 1;
    await Deno.writeTextFile(path, JSON.stringify(edited));
    await assertRejects(
      () => api.call(LOCAL, "listPlugins", {}),
      "corrupt",
      "names a plugin twice",
    );
  });
});
