/**
 * The Admin API's authentication on a real server: both header forms, wrong keys rate
 * limited per client address (429 with Retry-After after the burst, other addresses
 * unaffected, guesses sent at once counted too), the limiter's bounds, and the startup
 * refusal without a key.
 */
import { assertRejects } from "../_helpers/assert.ts";
import { clientKey, FailureLimiter } from "../../src/admin/rate_limit.ts";
import { startServer } from "../../src/server/serve.ts";
import { adminConfig, assert, assertEquals, KEY, withAdminServer } from "./_setup.ts";

/** The default burst of wrong keys before an address is limited. */
const BURST = new FailureLimiter().burst;
const REFILL_MS = new FailureLimiter().refillMs;

Deno.test("admin: X-Admin-Key and Authorization: Bearer are both accepted; other schemes not", async () => {
  await withAdminServer(async (s) => {
    assertEquals((await s.request("GET", "/tokens")).status, 200);
    assertEquals((await s.request("GET", "/tokens", { bearer: true })).status, 200);
    // Both headers naming the same key are fine; naming different keys is refused.
    const both = await s.request("GET", "/tokens", { headers: { Authorization: `Bearer ${KEY}` } });
    assertEquals(both.status, 200);
    const differ = await s.request("GET", "/tokens", {
      headers: { Authorization: "Bearer other" },
    });
    assertEquals(differ.status, 401);
    assert(/different keys/.test(differ.json.message));
    const basic = await s.request("GET", "/tokens", {
      key: null,
      headers: { Authorization: `Basic ${btoa(`admin:${KEY}`)}` },
    });
    assertEquals(basic.status, 401);
    assert(/Bearer scheme/.test(basic.json.message), basic.json.message);
    // A REST token is not the master key.
    const token = (await s.server.api.call({ kind: "local", user: "t" }, "generateToken", {
      group: "g",
      user: "u",
    })).token;
    const withToken = await s.request("GET", "/tokens", { key: token, bearer: true });
    assertEquals(withToken.status, 401);
    assert(!withToken.text.includes(token));
  });
});

Deno.test("admin: wrong keys are limited per address: 429 with Retry-After, others unaffected", async () => {
  await withAdminServer(async (s) => {
    const attacker = "127.0.0.2";
    // The first BURST guesses are all looked at; then the address is limited. Each wrong key
    // costs a slow hash, so on a loaded machine a try may have come back meanwhile (one per
    // REFILL_MS): allow exactly those, no more.
    const started = performance.now();
    let limited: Awaited<ReturnType<typeof s.request>> | undefined;
    for (let i = 0; !limited; i++) {
      const reply = await s.request("GET", "/tokens", { key: `guess-${i}`, from: attacker });
      if (reply.status === 429) limited = reply;
      else {
        assertEquals(reply.status, 401, `guess ${i}: ${reply.text}`);
        const earned = Math.floor((performance.now() - started) / REFILL_MS);
        assert(i < BURST + earned, `guess ${i} was still looked at (${earned} tries came back)`);
      }
      if (limited) assert(i >= BURST, `limited after ${i} guesses, before the burst of ${BURST}`);
    }
    assertEquals(limited.status, 429, limited.text);
    assertEquals(limited.json.code, "rate_limited");
    const retry = Number(limited.headers.get("retry-after"));
    assert(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After ${retry}`);
    // While limited, even the right key is not looked at from that address (no oracle).
    const right = await s.request("GET", "/tokens", { from: attacker });
    assertEquals(right.status, 429);
    // Every route is limited the same way.
    assertEquals((await s.request("PUT", "/remotes/x", { from: attacker, body: {} })).status, 429);

    // Other addresses are unaffected: the default one, and one more via curl --interface.
    assertEquals((await s.request("GET", "/tokens")).status, 200);
    assertEquals((await s.request("GET", "/tokens", { key: "one-wrong" })).status, 401);
    const curl = await new Deno.Command("curl", {
      args: [
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        "10",
        "--interface",
        "127.0.0.3",
        "-H",
        `X-Admin-Key: ${KEY}`,
        `${s.admin}/plugins`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(new TextDecoder().decode(curl.stdout), "200");
  });
});

Deno.test("admin: guesses sent at once from one address count as guesses in a row", async () => {
  await withAdminServer(async (s) => {
    const replies = await Promise.all(
      Array.from(
        { length: BURST * 3 },
        (_, i) => s.request("GET", "/tokens", { key: `parallel-${i}`, from: "127.0.0.4" }),
      ),
    );
    const statuses = replies.map((r) => r.status);
    assertEquals(statuses.filter((x) => x === 401).length, BURST, statuses.join(","));
    assertEquals(statuses.filter((x) => x === 429).length, BURST * 2, statuses.join(","));
    // The server is fine and others are served.
    assertEquals((await s.request("GET", "/schemas")).status, 200);
  });
});

Deno.test("admin: a request without a key is refused but does not spend attempts", async () => {
  await withAdminServer(async (s) => {
    for (let i = 0; i < BURST + 5; i++) {
      assertEquals(
        (await s.request("GET", "/tokens", { key: null, from: "127.0.0.5" })).status,
        401,
      );
    }
    assertEquals((await s.request("GET", "/tokens", { from: "127.0.0.5" })).status, 200);
  });
});

Deno.test("limiter: a success forgets the address; attempts come back with time", () => {
  let now = 0;
  const limiter = new FailureLimiter({ burst: 3, refillMs: 1000, now: () => now });
  const fail = (address: string) => {
    const admission = limiter.begin(address);
    if (!admission.allowed) return admission.retryAfterSeconds;
    limiter.end(address, false);
    return 0;
  };
  assertEquals([fail("a"), fail("a"), fail("a")], [0, 0, 0]);
  assertEquals(fail("a"), 1); // one attempt comes back after 1 s
  now += 1000;
  assertEquals(fail("a"), 0);
  assertEquals(fail("a"), 1);
  // A success forgets "b"'s failures.
  fail("b");
  fail("b");
  assert(limiter.begin("b").allowed);
  limiter.end("b", true);
  assertEquals([fail("b"), fail("b"), fail("b")], [0, 0, 0]);
});

Deno.test("limiter: memory stays bounded; IPv6 is limited by /64", () => {
  const limiter = new FailureLimiter({ burst: 2, maxClients: 100 });
  for (let i = 0; i < 10_000; i++) {
    const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    if (limiter.begin(address).allowed) limiter.end(address, false);
  }
  assert(limiter.size <= 100, `tracked ${limiter.size}`);
  assertEquals(clientKey("2001:db8:0:1::5"), "2001:db8:0:1::/64");
  assertEquals(clientKey("2001:db8:0:1:ffff::9"), "2001:db8:0:1::/64");
  assertEquals(clientKey("::ffff:192.0.2.7"), "192.0.2.7");
  const six = new FailureLimiter({ burst: 2 });
  for (const host of ["2001:db8::1", "2001:db8::2"]) {
    assert(six.begin(host).allowed);
    six.end(host, false);
  }
  assertEquals(six.begin("2001:db8::3").allowed, false);
});

Deno.test("admin: a server with the Admin API enabled and no key refuses to start, saying why", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dbx-admin-" });
  try {
    const config = adminConfig(dir, null);
    await assertRejects(
      () => startServer({ dataDir: dir, config, hostname: "127.0.0.1", port: 0 }),
      "invalid_input",
      "the Admin API is enabled ([admin] enabled = true) but no master key is set",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
