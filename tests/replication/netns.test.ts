/**
 * Two nodes in two network namespaces made by the test, joined by a veth pair, so the
 * replication session crosses a real interface (not loopback): the remote runs a real
 * `dbx start` daemon in one namespace, the real CLI pushes and pulls from the other. Needs
 * root and `ip` (iproute2); both namespaces, the link, the daemon and the directories are
 * removed afterwards.
 */
import { join } from "node:path";
import { parse, stringify } from "smol-toml";
import { ensureTool } from "../_helpers/system.ts";
import { MAIN } from "../_helpers/cli.ts";
import { outputWithin, PROCESS_DEADLINE_MS } from "../_helpers/deadline.ts";
import { DAEMON_TEST_OPTS, killServer } from "../server/lifecycle_helpers.ts";
import { assert, assertEquals } from "./_nodes.ts";

async function sh(args: string[]): Promise<string> {
  const child = new Deno.Command(args[0], {
    args: args.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = await outputWithin(child, PROCESS_DEADLINE_MS, args.join(" "));
  const text = new TextDecoder().decode(out.stdout);
  if (out.code !== 0) {
    throw new Error(`${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

/** `dbx …` inside a namespace; returns exit code and output. */
async function dbxIn(ns: string, dir: string, args: string[]) {
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", ns, Deno.execPath(), "run", "-A", MAIN, ...args, "--data-dir", dir],
    env: { NO_COLOR: "1", DBX_NO_UPGRADE_CHECK: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = await outputWithin(child, PROCESS_DEADLINE_MS, `dbx ${args.join(" ")}`);
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

async function dbxOk(ns: string, dir: string, args: string[]): Promise<string> {
  const r = await dbxIn(ns, dir, args);
  assertEquals(r.code, 0, `dbx ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

Deno.test({
  name: "push and pull between two network namespaces over a veth link",
  ...DAEMON_TEST_OPTS,
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    await ensureTool("ip", "iproute2");
    const tag = crypto.getRandomValues(new Uint16Array(1))[0].toString(16);
    const [nsA, nsB] = [`dbxra-${tag}`, `dbxrb-${tag}`];
    const [vethA, vethB] = [`dbxa${tag}`, `dbxb${tag}`];
    const subnet = `10.${200 + (parseInt(tag, 16) % 50)}.${parseInt(tag, 16) % 250}`;
    const [ipA, ipB] = [`${subnet}.1`, `${subnet}.2`];
    const parent = await Deno.makeTempDir({ prefix: "dbx-repl-netns-" });
    const [dirA, dirB] = [join(parent, "a"), join(parent, "b")];
    try {
      await sh(["ip", "netns", "add", nsA]);
      await sh(["ip", "netns", "add", nsB]);
      await sh(["ip", "link", "add", vethA, "type", "veth", "peer", "name", vethB]);
      await sh(["ip", "link", "set", vethA, "netns", nsA]);
      await sh(["ip", "link", "set", vethB, "netns", nsB]);
      for (const [ns, dev, ip] of [[nsA, vethA, ipA], [nsB, vethB, ipB]]) {
        await sh(["ip", "-n", ns, "addr", "add", `${ip}/24`, "dev", dev]);
        await sh(["ip", "-n", ns, "link", "set", dev, "up"]);
        await sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
      }

      // Keys and pins, offline; then the remote's daemon in its namespace.
      const keyA = (await dbxOk(nsA, dirA, ["remote", "key"])).trim();
      const keyB = (await dbxOk(nsB, dirB, ["remote", "key"])).trim();
      await dbxOk(nsA, dirA, ["remote", "add", "b", ipB, "--public-key", keyB]);
      await dbxOk(nsB, dirB, ["remote", "add", "a", ipA, "--public-key", keyA]);
      for (let i = 1; i <= 3; i++) {
        await dbxOk(nsA, dirA, [
          "aggregate",
          "apply",
          "--aggregate",
          "patient",
          "--aggregate-id",
          "p-1",
          "--event",
          "changed",
          "--field",
          `n=${i}`,
        ]);
      }
      // The socket listens on the veth address (its default is loopback only); the namespace
      // is empty, so the default ports are free there.
      const configPath = join(dirB, "config.toml");
      const config = parse(await Deno.readTextFile(configPath)) as Record<string, unknown>;
      config.socket = { ...(config.socket as object), bind_addr: `${ipB}:6363` };
      await Deno.writeTextFile(configPath, stringify(config));
      await dbxOk(nsB, dirB, ["start", "--host", ipB]);

      const pushed = JSON.parse(await dbxOk(nsA, dirA, ["push", "b", "--json"]));
      assertEquals(pushed.events, 3);
      const onB = JSON.parse(
        await dbxOk(nsB, dirB, [
          "aggregate",
          "get",
          "--aggregate",
          "patient",
          "--aggregate-id",
          "p-1",
          "--json",
        ]),
      );
      assertEquals(onB.version, 3);
      await dbxOk(nsB, dirB, [
        "aggregate",
        "apply",
        "--aggregate",
        "patient",
        "--aggregate-id",
        "p-1",
        "--event",
        "changed",
        "--field",
        "n=4",
      ]);
      const pulled = JSON.parse(await dbxOk(nsA, dirA, ["pull", "b", "--json"]));
      assertEquals(pulled.events, 1);
      const verified = JSON.parse(
        await dbxOk(nsA, dirA, [
          "aggregate",
          "verify",
          "--aggregate",
          "patient",
          "--aggregate-id",
          "p-1",
          "--json",
        ]),
      );
      assert(verified.verified === true, JSON.stringify(verified));
      assertEquals(
        verified.merkle_root,
        JSON.parse(
          await dbxOk(nsB, dirB, [
            "aggregate",
            "get",
            "--aggregate",
            "patient",
            "--aggregate-id",
            "p-1",
            "--json",
          ]),
        ).merkle_root,
      );
    } finally {
      await killServer(dirB);
      await sh(["ip", "netns", "del", nsA]).catch(() => {});
      await sh(["ip", "netns", "del", nsB]).catch(() => {});
      await Deno.remove(parent, { recursive: true }).catch(() => {});
    }
  },
});
