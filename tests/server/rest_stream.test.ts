/**
 * GET /v1/events/stream (Server-Sent Events): backfill then live delivery,
 * resume with Last-Event-ID, per-event scope filtering, no gaps or duplicates
 * under concurrency, the bounded buffer, heartbeats, token re-checks and
 * shutdown.
 *
 * Reads are guarded by a generous deadline, and so are whole waits (for N events, for the
 * end of a stream), so that a broken stream fails the test instead of hanging it — also
 * one that only ever sends heartbeats; nothing asserts how fast anything happens.
 */
import type { EventRecord } from "../../src/engine/types.ts";
import {
  assert,
  assertEquals,
  eventBody,
  expectError,
  type RestServer,
  withRestServer,
} from "./_rest_setup.ts";

const DEADLINE_MS = 20_000;

async function withDeadline<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gave up waiting for ${what}`)), DEADLINE_MS);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
  comments: string[];
}

/** A minimal SSE parser over a fetch response body. */
class SseStream {
  readonly response: Response;
  readonly #controller: AbortController;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buffer = "";

  constructor(response: Response, controller: AbortController) {
    this.response = response;
    this.#controller = controller;
    this.#reader = response.body!.getReader();
  }

  /** The next message (events, comments, errors), or undefined when the stream ended. */
  async next(): Promise<SseMessage | undefined> {
    for (;;) {
      const end = this.#buffer.indexOf("\n\n");
      if (end >= 0) {
        const block = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        return parseBlock(block);
      }
      const { done, value } = await withDeadline(this.#reader.read(), "an SSE message");
      if (done) return undefined;
      this.#buffer += this.#decoder.decode(value, { stream: true });
    }
  }

  /** The next `count` events (comments skipped), all within the deadline. */
  events(count: number): Promise<{ id: string; record: EventRecord }[]> {
    const out: { id: string; record: EventRecord }[] = [];
    return withDeadline(
      (async () => {
        while (out.length < count) {
          const message = await this.next();
          if (!message) throw new Error(`the stream ended after ${out.length} of ${count} events`);
          if (message.event === "error") throw new Error(`stream error: ${message.data}`);
          if (message.event !== "event") continue;
          out.push({ id: message.id!, record: JSON.parse(message.data!) });
        }
        return out;
      })(),
      `${count} events (heartbeats do not count)`,
    );
  }

  /**
   * Every message until the stream ends, within the deadline: a stream that never ends
   * (heartbeats forever) fails instead of being read forever.
   */
  rest(): Promise<SseMessage[]> {
    const out: SseMessage[] = [];
    return withDeadline(
      (async () => {
        for (let m = await this.next(); m; m = await this.next()) out.push(m);
        return out;
      })(),
      "the end of the stream",
    );
  }

  close(): void {
    this.#controller.abort();
    this.#reader.cancel().catch(() => {});
  }
}

function parseBlock(block: string): SseMessage {
  const message: SseMessage = { comments: [] };
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) message.comments.push(line.slice(1).trim());
    else if (line.startsWith("id: ")) message.id = line.slice(4);
    else if (line.startsWith("event: ")) message.event = line.slice(7);
    else if (line.startsWith("data: ")) message.data = (message.data ?? "") + line.slice(6);
  }
  return message;
}

async function openStream(
  s: RestServer,
  options: { token?: string; query?: string; lastEventId?: string } = {},
): Promise<SseStream> {
  const controller = new AbortController();
  const headers: Record<string, string> = {
    Authorization: `Bearer ${options.token ?? s.admin}`,
    Accept: "text/event-stream",
  };
  if (options.lastEventId !== undefined) headers["Last-Event-ID"] = options.lastEventId;
  const response = await withDeadline(
    fetch(`${s.base}/v1/events/stream${options.query ?? ""}`, {
      headers,
      signal: controller.signal,
    }),
    "the stream's response headers",
  );
  assertEquals(response.status, 200, await peekError(response));
  assert(response.headers.get("content-type")?.startsWith("text/event-stream"));
  return new SseStream(response, controller);
}

async function peekError(response: Response): Promise<string> {
  return response.status === 200 ? "" : await response.clone().text();
}

const positions = (events: { record: EventRecord }[]) => events.map((e) => e.record.position);
const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function append(s: RestServer, id: string, payload: Record<string, unknown> = {}) {
  const reply = await s.request("POST", `/v1/aggregates/patient/${id}/events`, {
    body: eventBody("patient-updated", payload),
  });
  assertEquals(reply.status, 201, reply.text);
  return reply.json as EventRecord;
}

Deno.test("stream: backfill from a position, then live events, as id/event/data messages", async () => {
  await withRestServer(async (s) => {
    for (let i = 0; i < 3; i++) await append(s, "p-001", { i });
    const stream = await openStream(s, { query: "?from=0" });
    try {
      const backfill = await stream.events(3);
      assertEquals(backfill.map((e) => e.id), ["1", "2", "3"]);
      const stored = (await s.request("GET", "/v1/aggregates/patient/p-001/events")).json;
      assertEquals(backfill.map((e) => e.record), stored);
      const live = [await append(s, "p-002"), await append(s, "p-001", { i: 9 })];
      assertEquals((await stream.events(2)).map((e) => e.record), live);
    } finally {
      stream.close();
    }
  });
});

Deno.test("stream: from=N starts after N; without a position only new events come", async () => {
  await withRestServer(async (s) => {
    for (let i = 0; i < 4; i++) await append(s, "p-001", { i });
    const after2 = await openStream(s, { query: "?from=2" });
    const tail = await openStream(s);
    try {
      assertEquals(positions(await after2.events(2)), [3, 4]);
      const next = await append(s, "p-009");
      assertEquals(positions(await tail.events(1)), [next.position]);
      assertEquals(positions(await after2.events(1)), [next.position]);
    } finally {
      after2.close();
      tail.close();
    }
  });
});

Deno.test("stream: resume with Last-Event-ID (which wins over from) without gaps or duplicates", async () => {
  await withRestServer(async (s) => {
    for (let i = 0; i < 5; i++) await append(s, `p-${i % 2}`, { i });
    const first = await openStream(s, { query: "?from=0" });
    let lastId: string;
    try {
      const seen = await first.events(2);
      assertEquals(positions(seen), [1, 2]);
      lastId = seen[1].id;
    } finally {
      first.close();
    }
    for (let i = 5; i < 8; i++) await append(s, `p-${i % 2}`, { i });
    const resumed = await openStream(s, { query: "?from=0", lastEventId: lastId });
    try {
      assertEquals(positions(await resumed.events(6)), range(3, 8));
      await append(s, "p-1");
      assertEquals(positions(await resumed.events(1)), [9]);
    } finally {
      resumed.close();
    }
  });
});

Deno.test("stream: shows only events the token may read (backfill and live)", async () => {
  await withRestServer(async (s) => {
    await append(s, "p-001", { a: 1 }); // 1
    await append(s, "p-002", { a: 2 }); // 2
    await s.seed("doctor", "d-001"); // 3
    await append(s, "p-001", { a: 3 }); // 4
    const token = await s.token({
      group: "audit",
      user: "carol",
      actions: ["aggregate.read"],
      resources: ["aggregate:patient:p-001"],
    });
    const stream = await openStream(s, { token, query: "?from=0" });
    try {
      assertEquals(positions(await stream.events(2)), [1, 4]);
      await append(s, "p-002"); // 5: filtered out
      await s.seed("doctor", "d-001"); // 6: filtered out
      const mine = await append(s, "p-001"); // 7
      const next = await stream.events(1);
      assertEquals(next[0].record, mine);
      assertEquals(next[0].id, "7");
    } finally {
      stream.close();
    }
  });
});

Deno.test("stream: concurrent appends around the connection arrive once each, in order", async () => {
  await withRestServer(async (s) => {
    const early = Array.from({ length: 60 }, (_, i) => append(s, `p-${i % 5}`, { i }));
    await Promise.all(early.slice(0, 10));
    const stream = await openStream(s, { query: "?from=0" });
    try {
      const late = Array.from({ length: 60 }, (_, i) => append(s, `q-${i % 7}`, { i }));
      const batch = s.request("POST", "/v1/events/batch", {
        body: Array.from({ length: 10 }, (_, i) => ({
          aggregate_type: "batch",
          aggregate_id: `b-${i % 2}`,
          ...eventBody("batched", { i }),
        })),
      });
      await Promise.all([...early, ...late, batch]);
      const received = await stream.events(130);
      assertEquals(positions(received), range(1, 130));
    } finally {
      stream.close();
    }
  });
});

Deno.test("stream: a client behind by more than the buffer catches up from storage", async () => {
  await withRestServer(async (s) => {
    const stream = await openStream(s);
    try {
      // One commit of 50 events overflows a 4-record buffer at once.
      await s.engine.appendBatch(
        Array.from({ length: 50 }, (_, i) => ({
          aggregate_type: "patient",
          aggregate_id: `p-${i % 3}`,
          event_type: "bulk",
          payload: { i },
        })),
      );
      const received = await stream.events(50);
      assertEquals(positions(received), range(1, 50));
      assertEquals(received.map((e) => e.record.payload.i), range(0, 49));
      await append(s, "p-001");
      assertEquals(positions(await stream.events(1)), [51]);
    } finally {
      stream.close();
    }
  }, { feed: { maxBuffered: 4, pageSize: 7 } });
});

Deno.test("stream: idle connections get heartbeat comments", async () => {
  await withRestServer(async (s) => {
    const stream = await openStream(s);
    try {
      const message = await stream.next();
      assertEquals(message?.comments, ["heartbeat"]);
      assertEquals(message?.event, undefined);
    } finally {
      stream.close();
    }
  }, { stream: { heartbeatMs: 20 } });
});

Deno.test("stream: a revoked or expired token's stream ends with an error event", async () => {
  await withRestServer(async (s) => {
    const token = await s.token();
    const stream = await openStream(s, { token });
    await append(s, "p-001");
    assertEquals(positions(await stream.events(1)), [1]);
    const revoked = await s.request("POST", "/v1/tokens/revoke", { body: { token } });
    assertEquals(revoked.status, 200);
    const rest = await stream.rest();
    const last = rest.at(-1);
    assertEquals(last?.event, "error");
    const error = JSON.parse(last!.data!);
    assertEquals(error.code, "unauthorized");
    assert(error.message.includes("revoked"), error.message);

    const shortLived = await s.token({ expiration: 60 });
    const second = await openStream(s, { token: shortLived });
    s.clock.advance(61);
    const ended = await second.rest();
    assertEquals(JSON.parse(ended.at(-1)!.data!).code, "unauthorized");
  }, { stream: { recheckMs: 10, heartbeatMs: 10 } });
});

Deno.test("stream: bad resume points are 400; missing token 401; no read scope 403", async () => {
  await withRestServer(async (s) => {
    for (const query of ["?from=-1", "?from=abc", "?from=1.5"]) {
      expectError(
        await s.request("GET", `/v1/events/stream${query}`),
        400,
        "invalid_input",
        "from",
      );
    }
    for (const id of ["abc", "-3", "1e2"]) {
      expectError(
        await s.request("GET", "/v1/events/stream?from=0", { headers: { "Last-Event-ID": id } }),
        400,
        "invalid_input",
        "Last-Event-ID",
      );
    }
    expectError(await s.request("GET", "/v1/events/stream", { token: null }), 401, "unauthorized");
    const schemaOnly = await s.token({ actions: ["schema.read"] });
    expectError(
      await s.request("GET", "/v1/events/stream", { token: schemaOnly }),
      403,
      "forbidden",
      "aggregate.read",
    );
  });
});

Deno.test("stream: server shutdown ends open streams instead of waiting for them", async () => {
  let stream: SseStream | undefined;
  await withDeadline(
    withRestServer(async (s) => {
      await append(s, "p-001");
      stream = await openStream(s, { query: "?from=0" });
      assertEquals(positions(await stream.events(1)), [1]);
      // Left open on purpose: the server's shutdown must end it.
    }),
    "the server to shut down",
  );
  const rest = await stream!.rest();
  assertEquals(rest.filter((m) => m.event === "event"), []);
});
