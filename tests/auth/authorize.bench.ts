/**
 * Cost of authorising a request next to the cost of the append it guards.
 * Run: `deno bench -A tests/auth/authorize.bench.ts`. The target is a cached
 * authorize under 5% of one synced append.
 */
import { aggregateResource, TokenAuthority } from "../../src/auth/authority.ts";
import { Engine } from "../../src/engine/engine.ts";

const dir = await Deno.makeTempDir({ prefix: "dbx-auth-bench-" });
const dek = crypto.getRandomValues(new Uint8Array(32));
const auth = await TokenAuthority.open({ dataDir: dir, dek });
const engine = await Engine.open({ dataDir: dir, dek });
const { token } = await auth.generate({
  group: "bench",
  user: "b",
  limit: 1e12,
  actions: ["aggregate.append"],
  resources: ["aggregate:patient:*"],
});
const resource = aggregateResource("patient", "p-001");
// A pool of distinct valid tokens to measure the uncached path (signature check).
const fresh: string[] = [];
for (let i = 0; i < 2000; i++) fresh.push(auth.mintShortLived({ user: `u${i}`, ttlSeconds: 3600 }));
let n = 0;

globalThis.addEventListener("unload", () => {
  Deno.removeSync(dir, { recursive: true });
});

Deno.bench(
  { name: "engine.append (synced, one at a time)", group: "append", baseline: true },
  async () => {
    const who = auth.authorize(token, "aggregate.append", resource);
    await engine.append(
      { aggregate_type: "patient", aggregate_id: "p-001", event_type: "e", payload: { n: n++ } },
      { issued_by: who.issued_by, charge: who.charge },
    );
  },
);

Deno.bench({ name: "authorize, cached token", group: "append" }, () => {
  auth.authorize(token, "aggregate.append", resource);
});

Deno.bench(
  { name: "authorize, first use (Ed25519 verify)", group: "append", n: 1000, warmup: 0 },
  () => {
    auth.authorize(fresh[n++ % fresh.length], "aggregate.append", resource);
  },
);
