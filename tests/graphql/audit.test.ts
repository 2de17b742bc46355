/**
 * GraphQL over HTTP conformance: the `graphql-http` package's server audit against the real
 * server's `/graphql`, in both HTTP modes, with a valid token added to every request the
 * audit makes (its `fetchFn`). Every MUST passes; so does every SHOULD (each named).
 * Without the token the same requests are refused with 401.
 */
import { auditServer } from "graphql-http";
import { assert, assertEquals, MODES, SERVER_TEST, withGraphqlServer } from "./_setup.ts";

/** fetch with `Authorization: Bearer <token>` on every request. */
function withToken(token: string): typeof fetch {
  return (input, init) => {
    const headers = new Headers(init?.headers);
    headers.set("authorization", `Bearer ${token}`);
    return fetch(input, { ...init, headers, signal: AbortSignal.timeout(30_000) });
  };
}

for (const mode of MODES) {
  Deno.test(
    `graphql-http audit (${mode.label}): every MUST and SHOULD passes`,
    SERVER_TEST,
    async () => {
      await withGraphqlServer(async (s) => {
        const results = await auditServer({ url: s.url, fetchFn: withToken(await s.token()) });
        assert(results.length >= 50, `only ${results.length} audits ran`);
        const musts = results.filter((r) => r.name.startsWith("MUST"));
        assert(musts.length >= 13, `only ${musts.length} MUST audits`);
        const failed = results.filter((r) => r.status !== "ok");
        const describe = failed.map((r) =>
          `${r.status} ${r.id} ${r.name}: ${"reason" in r ? r.reason : ""}`
        );
        assertEquals(
          musts.filter((r) => r.status !== "ok").map((r) => r.name),
          [],
          describe.join("\n"),
        );
        assertEquals(
          results.filter((r) => r.name.startsWith("SHOULD") && r.status !== "ok").map((r) =>
            r.name
          ),
          [],
          describe.join("\n"),
        );

        // The same audit with no token: the endpoint refuses (the MUSTs cannot pass).
        const refused = await auditServer({ url: s.url });
        const must = refused.find((r) => r.id === "2C94"); // MUST accept POST requests
        assertEquals(must?.status, "error");
      }, { workers: mode.workers });
    },
  );
}
