/**
 * Hostile and broken input on the control socket, sent byte by byte over raw TCP: oversized
 * frames, malformed Cap'n Proto (bad pointers, far pointers, traversal-limit bombs, segment
 * tables that lie), truncated and tampered frames, hellos that never finish, slow clients,
 * many connections at once and the connection cap. In every case the server stays up, other
 * connections go on, and committed data is untouched.
 */
import {
  encodeHello,
  encodeRequest,
  type ResponseData,
} from "../../src/control_protocol/messages.ts";
import { frame } from "../../src/control_protocol/stream.ts";
import { waitUntil } from "../_helpers/deadline.ts";
import {
  compositeTag,
  ELEMENT,
  type Ended,
  farPointer,
  getAggregateMessage,
  listPointer,
  message,
  NULL_WORD,
  RawConnection,
  rawSession,
  segment,
  structPointer,
  TAG,
  textWords,
  u16Word,
  u64Word,
} from "./_raw.ts";
import {
  assert,
  assertEquals,
  type JsClient,
  officialClient,
  type SocketServer,
  withSocketServer,
} from "./_socket_setup.ts";

type Answer = ResponseData | Ended;

function isError(answer: Answer, code?: string): answer is ResponseData & {
  body: { kind: "error"; code: string; message: string };
} {
  return answer !== "closed" && answer.body.kind === "error" &&
    (code === undefined || answer.body.code === code);
}

function describe(answer: Answer): string {
  return answer === "closed" ? "closed" : JSON.stringify(answer.body);
}

/** Create `order/o-1` (version 1) with the official client; the data every test checks. */
async function seed(s: SocketServer): Promise<void> {
  const client = officialClient(s.port, s.admin);
  try {
    await client.connect();
    await client.create("order", "o-1", "order-created", { payload: { total: 42 } });
  } finally {
    await client.disconnect().catch(() => {});
  }
}

/** The server still serves a new client, and `order/o-1` is as seeded. */
async function assertServing(s: SocketServer): Promise<void> {
  const client = officialClient(s.port, s.admin);
  try {
    await client.connect();
    const got = await client.get("order", "o-1");
    assertEquals([got.version, got.state.total], [1, 42]);
  } finally {
    await client.disconnect().catch(() => {});
  }
}

/** A getAggregate of `order/o-1` on `raw` answers found (the connection still works). */
async function assertConnectionWorks(raw: RawConnection, id: bigint): Promise<void> {
  const answer = await raw.exchange(getAggregateMessage(id, "order", "o-1"));
  assert(
    answer !== "closed" && answer.id === id && answer.body.kind === "getAggregate" &&
      answer.body.found,
    `the connection works after it: ${describe(answer)}`,
  );
}

// ---- Messages built word by word ----

const ID = 77n;

/** Root ControlRequest with the given union tag and member pointer (words 0–3). */
function requestHead(tag: number, member: Uint8Array): Uint8Array {
  return segment(structPointer(0, 2, 1), u64Word(ID), u16Word(tag), member);
}

/** getAggregate of order/o-1 whose member struct sits in segment 1, behind a far pointer. */
function farGetAggregate(): Uint8Array {
  const t = textWords("order");
  const a = textWords("o-1");
  return message([
    requestHead(TAG.getAggregate, farPointer(0, 1)),
    segment(
      structPointer(0, 1, 3), // the landing pad
      NULL_WORD,
      listPointer(2, ELEMENT.byte, t.count),
      listPointer(1 + t.words.length / 8, ELEMENT.byte, a.count),
      NULL_WORD,
      t.words,
      a.words,
    ),
  ]);
}

/** The same through a double-far pointer: a two-word pad in segment 1, content in segment 2. */
function doubleFarGetAggregate(): Uint8Array {
  const t = textWords("order");
  const a = textWords("o-1");
  return message([
    requestHead(TAG.getAggregate, farPointer(0, 1, true)),
    segment(farPointer(0, 2), structPointer(0, 1, 3)),
    segment(
      NULL_WORD,
      listPointer(2, ELEMENT.byte, t.count),
      listPointer(1 + t.words.length / 8, ELEMENT.byte, a.count),
      NULL_WORD,
      t.words,
      a.words,
    ),
  ]);
}

/**
 * selectAggregate of order/o-1 whose `fields` list has `count` pointers, all to one text of
 * `textBytes` bytes: reading it would read count × textBytes from a message of a few KiB.
 */
function selectBomb(count: number, textBytes: number): Uint8Array {
  const t = textWords("order");
  const a = textWords("o-1");
  const shared = textWords("a".repeat(textBytes));
  // Words: 0–3 head, 4–7 member pointers, 8 type, 9 id, 10… the list, then the text.
  const elements = Array.from(
    { length: count },
    (_, i) => listPointer(count - 1 - i, ELEMENT.byte, shared.count),
  );
  return message([segment(
    requestHead(TAG.selectAggregate, structPointer(0, 0, 4)),
    listPointer(3, ELEMENT.byte, t.count),
    listPointer(3, ELEMENT.byte, a.count),
    listPointer(3, ELEMENT.pointer, count),
    NULL_WORD,
    t.words,
    a.words,
    ...elements,
    shared.words,
  )]);
}

/** appendEvent whose publishTargets (a composite list of empty structs) claims `count`. */
function publishTargetsBomb(count: number): Uint8Array {
  return message([segment(
    requestHead(TAG.appendEvent, structPointer(0, 1, 8)),
    u64Word(4n), // hasPublishTargets
    ...Array.from({ length: 7 }, () => NULL_WORD),
    listPointer(0, ELEMENT.composite, 0), // zero words of elements
    compositeTag(count, 0, 0),
  )]);
}

const good = getAggregateMessage(ID, "order", "o-1");
const goodSegment = good.subarray(8);
const goodWords = goodSegment.length / 8;

/** Each malformed request, and the id its error answer carries (0: the id was unreadable). */
const MALFORMED: { name: string; bytes: Uint8Array; id: bigint }[] = [
  { name: "an empty frame", bytes: new Uint8Array(0), id: 0n },
  { name: "three bytes", bytes: new Uint8Array([1, 2, 3]), id: 0n },
  {
    name: "a table claiming 2^32 segments",
    bytes: segment(new Uint8Array([255, 255, 255, 255, 1, 0, 0, 0]), goodSegment),
    id: 0n,
  },
  {
    name: "a table claiming more words than the frame holds",
    bytes: message([goodSegment], [goodWords + 5]),
    id: 0n,
  },
  {
    name: "a table claiming fewer words than the frame holds",
    bytes: message([goodSegment], [goodWords - 1]),
    id: 0n,
  },
  {
    name: "a table claiming a segment the frame lacks",
    bytes: message([goodSegment], [goodWords, 3]),
    id: 0n,
  },
  { name: "an empty first segment", bytes: message([new Uint8Array(0)]), id: 0n },
  {
    name: "a root pointer past the segment",
    bytes: message([segment(structPointer(100, 2, 1), u64Word(ID), u16Word(1))]),
    id: 0n,
  },
  {
    name: "a root that is a list pointer",
    bytes: message([segment(listPointer(0, ELEMENT.byte, 16), u64Word(ID), u16Word(1))]),
    id: 0n,
  },
  {
    name: "a member pointer past the segment",
    bytes: message([requestHead(TAG.getAggregate, structPointer(500, 1, 3))]),
    id: ID,
  },
  {
    name: "a member pointer before the segment",
    bytes: message([requestHead(TAG.getAggregate, structPointer(-40, 1, 3))]),
    id: ID,
  },
  {
    name: "a member that is a capability pointer",
    bytes: message([
      segment(requestHead(TAG.getAggregate, new Uint8Array([3, 0, 0, 0, 0, 0, 0, 0]))),
    ]),
    id: ID,
  },
  {
    name: "a text longer than its segment",
    bytes: message([segment(
      requestHead(TAG.getAggregate, structPointer(0, 1, 3)),
      NULL_WORD,
      listPointer(2, ELEMENT.byte, 10_000),
      NULL_WORD,
      NULL_WORD,
      textWords("order").words,
    )]),
    id: ID,
  },
  {
    name: "a text that is a struct pointer",
    bytes: message([segment(
      requestHead(TAG.getAggregate, structPointer(0, 1, 3)),
      NULL_WORD,
      structPointer(2, 1, 0),
      NULL_WORD,
      NULL_WORD,
      NULL_WORD,
    )]),
    id: ID,
  },
  {
    name: "a far pointer to a missing segment",
    bytes: message([requestHead(TAG.getAggregate, farPointer(0, 5))]),
    id: ID,
  },
  {
    name: "a far pointer to a landing pad past its segment",
    bytes: message([requestHead(TAG.getAggregate, farPointer(1000, 1)), segment(NULL_WORD)]),
    id: ID,
  },
  {
    name: "a double-far pointer whose pad is not a far pointer",
    bytes: message([
      requestHead(TAG.getAggregate, farPointer(0, 1, true)),
      segment(structPointer(0, 1, 3), structPointer(0, 1, 3)),
    ]),
    id: ID,
  },
  {
    name: "a far pointer whose landing pad is a far pointer (a cycle)",
    bytes: message([requestHead(TAG.getAggregate, farPointer(0, 1)), segment(farPointer(0, 1))]),
    id: ID,
  },
  { name: "an unknown union member", bytes: message([requestHead(999, NULL_WORD)]), id: ID },
  {
    name: "a traversal bomb: 1,000 field pointers to one 4 KiB text",
    bytes: selectBomb(1000, 4096),
    id: ID,
  },
  {
    name: "a list of empty structs claiming 500 million elements",
    bytes: publishTargetsBomb(500_000_000),
    id: ID,
  },
];

for (const mode of ["noise", "plaintext"] as const) {
  const plaintext = mode === "plaintext";

  Deno.test(`bad frames (${mode}): hand-built messages are read as the clients send them`, async () => {
    await withSocketServer(async (s) => {
      await seed(s);
      const raw = await rawSession(s.port, s.admin, { plaintext });
      try {
        // The builders are right: the same request in one segment, behind a far pointer
        // and behind a double-far pointer is answered.
        await assertConnectionWorks(raw, ID);
        for (const bytes of [farGetAggregate(), doubleFarGetAggregate()]) {
          const answer = await raw.exchange(bytes);
          assert(
            answer !== "closed" && answer.body.kind === "getAggregate" && answer.body.found,
            describe(answer),
          );
        }
        // Two pointers to one small text are within any budget.
        const select = await raw.exchange(selectBomb(2, 5));
        assert(
          select !== "closed" && select.body.kind === "selectAggregate" && select.body.found,
          `a select with a shared text: ${describe(select)}`,
        );
      } finally {
        raw.close();
      }
    }, { allowPlaintext: plaintext });
  });

  Deno.test(`bad frames (${mode}): malformed Cap'n Proto is answered with an error, the connection goes on`, async (t) => {
    await withSocketServer(async (s) => {
      await seed(s);
      const raw = await rawSession(s.port, s.admin, { plaintext });
      const bystander = await rawSession(s.port, s.admin, { plaintext });
      try {
        let id = 1000n;
        for (const bad of MALFORMED) {
          await t.step(bad.name, async () => {
            const reply = await raw.exchange(bad.bytes);
            assert(isError(reply, "serialization"), `${bad.name}: ${describe(reply)}`);
            assertEquals(reply.id, bad.id, `${bad.name}: the id answered`);
            assert(/malformed|Cap'n Proto/.test(reply.body.message), reply.body.message);
            await assertConnectionWorks(raw, id++);
            await assertConnectionWorks(bystander, id++);
          });
        }
      } finally {
        raw.close();
        bystander.close();
      }
      await assertServing(s);
    }, { allowPlaintext: plaintext });
  });

  Deno.test(`bad frames (${mode}): an oversized frame is answered with an error frame, then closed`, async () => {
    await withSocketServer(async (s) => {
      await seed(s);
      const bystander = await rawSession(s.port, s.admin, { plaintext });
      const raw = await rawSession(s.port, s.admin, { plaintext });
      try {
        // A header announcing 1 MiB, and a little of its body.
        const header = new Uint8Array(4);
        new DataView(header.buffer).setUint32(0, 1 << 20, false);
        await raw.write(segment(header, new Uint8Array(4)));
        const reply = await raw.receive();
        assert(isError(reply), `an error frame: ${describe(reply)}`);
        assertEquals(reply.id, 0n);
        assert(/larger than the limit of 65535 bytes/.test(reply.body.message), reply.body.message);
        assert(await raw.ended(), "the connection is closed after it");
        await assertConnectionWorks(bystander, 1n);
      } finally {
        raw.close();
        bystander.close();
      }
      await assertServing(s);
    }, { allowPlaintext: plaintext });
  });

  Deno.test(`bad frames (${mode}): truncated frames end only their connection`, async () => {
    await withSocketServer(async (s) => {
      await seed(s);
      const bystander = await rawSession(s.port, s.admin, { plaintext });
      try {
        // A frame that stops halfway, then the end of the stream.
        const half = await rawSession(s.port, s.admin, { plaintext });
        const whole = frame(half.session ? half.session.send.encrypt(good) : good);
        await half.write(whole.subarray(0, Math.floor(whole.length / 2)));
        await half.conn.closeWrite();
        assert(await half.ended(), "closed after a truncated frame");
        half.close();
        // Two bytes of a frame header, then the end.
        const head = await rawSession(s.port, s.admin, { plaintext });
        await head.write(new Uint8Array([0, 0]));
        await head.conn.closeWrite();
        assert(await head.ended(), "closed after a truncated header");
        head.close();
        // A reset in the middle of a frame.
        const reset = await rawSession(s.port, s.admin, { plaintext });
        await reset.write(whole.subarray(0, 10));
        reset.close();
        await assertConnectionWorks(bystander, 1n);
      } finally {
        bystander.close();
      }
      await assertServing(s);
    }, { allowPlaintext: plaintext });
  });
}

Deno.test("bad frames: a frame over [socket] max_frame_bytes is refused; one under it is served", async () => {
  await withSocketServer(async (s) => {
    await seed(s);
    const request = (id: bigint, size: number) =>
      encodeRequest({
        id,
        body: {
          kind: "appendEvent",
          token: "",
          aggregateType: "order",
          aggregateId: "o-1",
          eventType: "order-updated",
          json: JSON.stringify({ note: "x".repeat(size) }),
          publishTargets: [],
        },
      });
    for (const plaintext of [false, true]) {
      const raw = await rawSession(s.port, s.admin, { plaintext });
      try {
        const small = await raw.exchange(request(1n, 3000));
        assert(small !== "closed" && small.body.kind === "appendEvent", describe(small));
        const large = await raw.exchange(request(2n, 5000));
        assert(isError(large), describe(large));
        assert(/larger than the limit of 4096 bytes/.test(large.body.message), large.body.message);
        assert(await raw.ended(), "closed after the large frame");
      } finally {
        raw.close();
      }
    }
    const client = officialClient(s.port, s.admin);
    try {
      await client.connect();
      assertEquals((await client.get("order", "o-1")).version, 3); // the two small appends
    } finally {
      await client.disconnect().catch(() => {});
    }
  }, {
    allowPlaintext: true,
    config: { socket: { bind_addr: "127.0.0.1:6363", max_frame_bytes: 4096 } },
  });
});

Deno.test("bad frames: Noise failures end the connection, nothing else", async () => {
  await withSocketServer(async (s) => {
    await seed(s);
    const bystander = await rawSession(s.port, s.admin);
    try {
      // A tampered transport message.
      const tampered = await rawSession(s.port, s.admin);
      const sealed = tampered.session!.send.encrypt(good);
      sealed[5] ^= 0x40;
      await tampered.write(frame(sealed));
      assert(await tampered.ended(), "closed after a message that does not decrypt");
      tampered.close();
      // A handshake keyed by another token than the hello's.
      const wrongKey = await RawConnection.open(s.port);
      const hello = await wrongKey.hello(s.admin);
      assert(hello !== "closed" && hello.accepted);
      await wrongKey.noise(s.admin + "-other").then(
        () => assert(false, "the handshake succeeded with the wrong key"),
        () => {},
      );
      assert(await wrongKey.ended(), "closed after a handshake with the wrong key");
      wrongKey.close();
      // Garbage instead of the first handshake message.
      const garbage = await RawConnection.open(s.port);
      const hello2 = await garbage.hello(s.admin);
      assert(hello2 !== "closed" && hello2.accepted);
      await garbage.write(frame(new Uint8Array(48).fill(7)));
      assert(await garbage.ended(), "closed after a garbage handshake");
      garbage.close();
      await assertConnectionWorks(bystander, 1n);
    } finally {
      bystander.close();
    }
    await assertServing(s);
  });
});

Deno.test("bad frames: malformed hellos are refused with a reason and closed", async (t) => {
  await withSocketServer(async (s) => {
    await seed(s);
    const cases: { name: string; send: (raw: RawConnection) => Promise<void>; reason: RegExp }[] = [
      {
        name: "garbage",
        send: (raw) =>
          raw.write(segment(new Uint8Array([0, 0, 0, 0, 2, 0, 0, 0]), u64Word(1n), u64Word(2n))),
        reason: /malformed control hello/,
      },
      {
        name: "a table claiming 2^32 segments",
        send: (raw) => raw.write(new Uint8Array([255, 255, 255, 255, 0, 0, 0, 0])),
        reason: /malformed control hello/,
      },
      {
        name: "a hello over 16 KiB",
        send: (raw) => raw.write(message([new Uint8Array(32 << 10)])),
        reason: /malformed control hello: .*large/,
      },
      {
        name: "protocol version 2",
        send: async (raw) => void await raw.write(helloBytes(s.admin, { version: 2 })),
        reason: /unsupported control protocol version 2/,
      },
      {
        name: "an empty token",
        send: async (raw) => void await raw.write(helloBytes("  ")),
        reason: /missing control token/,
      },
      {
        name: "another tenant",
        send: async (raw) => void await raw.write(helloBytes(s.admin, { tenantId: "acme" })),
        reason: /single-tenant/,
      },
    ];
    for (const c of cases) {
      await t.step(c.name, async () => {
        const raw = await RawConnection.open(s.port);
        try {
          await c.send(raw);
          const answer = await raw.helloResponse();
          assert(answer !== "closed" && !answer.accepted, `refused: ${JSON.stringify(answer)}`);
          assert(c.reason.test(answer.message), answer.message);
          assert(!answer.message.includes(s.admin), "the token is not echoed");
          assert(await raw.ended(), "closed after the refusal");
        } finally {
          raw.close();
        }
      });
    }
    await assertServing(s);
  });
});

/** A hello's bytes. */
function helloBytes(
  token: string,
  options: { version?: number; tenantId?: string } = {},
): Uint8Array {
  return encodeHello({
    protocolVersion: options.version ?? 1,
    token,
    tenantId: options.tenantId ?? "",
    noNoise: false,
  });
}

/** Timeouts short enough for a test: 2 s for a hello or a frame, 3 s idle. */
const SHORT_TIMEOUTS = {
  config: {
    server: {
      http_workers: 0,
      write_queue_limit: 10_000,
      max_connections: 1024,
      header_read_timeout: 2,
      idle_timeout: 3,
    },
  },
};

Deno.test("bad frames: hellos and handshakes that never finish are closed; others are served meanwhile", async () => {
  await withSocketServer(async (s) => {
    await seed(s);
    // Silent, half a hello, a hello but no Noise, half a Noise message, half a frame.
    const stuck: RawConnection[] = [];
    const silent = await RawConnection.open(s.port);
    stuck.push(silent);
    const halfHello = await RawConnection.open(s.port);
    await halfHello.write(helloBytes(s.admin).subarray(0, 12));
    stuck.push(halfHello);
    const noNoise = await RawConnection.open(s.port);
    const hello = await noNoise.hello(s.admin);
    assert(hello !== "closed" && hello.accepted);
    stuck.push(noNoise);
    const halfNoise = await RawConnection.open(s.port);
    assert((await halfNoise.hello(s.admin)) !== "closed");
    await halfNoise.write(new Uint8Array([0, 0, 0, 48, 1, 2, 3]));
    stuck.push(halfNoise);
    const halfFrame = await rawSession(s.port, s.admin);
    await halfFrame.write(frame(halfFrame.session!.send.encrypt(good)).subarray(0, 20));
    stuck.push(halfFrame);
    try {
      // While they hang, a client is served.
      await assertServing(s);
      for (const [i, raw] of stuck.entries()) {
        assert(await raw.ended(), `stuck connection ${i} is closed by the server`);
      }
      await assertServing(s);
    } finally {
      for (const raw of stuck) raw.close();
    }
  }, SHORT_TIMEOUTS);
});

Deno.test("bad frames: slow clients (trickling, not reading) are closed; others are served", async () => {
  await withSocketServer(async (s) => {
    await seed(s);
    // Enough data that one list answer is tens of KiB.
    const writer = officialClient(s.port, s.admin);
    try {
      await writer.connect();
      for (let i = 0; i < 24; i++) {
        await writer.create("bulk", `b-${i}`, "bulk-created", {
          payload: { blob: "z".repeat(2000) },
        });
      }
    } finally {
      await writer.disconnect().catch(() => {});
    }

    // A frame trickling in a byte at a time, slower than the frame timeout allows.
    const trickle = await rawSession(s.port, s.admin);
    const bytes = frame(trickle.session!.send.encrypt(good));
    let sent = 0;
    const trickling = (async () => {
      try {
        for (; sent < bytes.length; sent++) {
          await trickle.write(bytes.subarray(sent, sent + 1));
          await new Promise((resolve) => setTimeout(resolve, 150));
        }
      } catch { /* closed by the server */ }
    })();

    // A client that asks and asks but never reads.
    const deaf = await rawSession(s.port, s.admin);
    const asked = 400;
    const list = (id: bigint) =>
      encodeRequest({
        id,
        body: {
          kind: "listAggregates",
          take: 1000,
          includeArchived: false,
          archivedOnly: false,
          token: "",
        },
      });
    for (let i = 1; i <= asked; i++) await deaf.send(list(BigInt(i)));

    try {
      // Meanwhile, others are served.
      const other: JsClient = officialClient(s.port, s.admin);
      try {
        await other.connect();
        for (let i = 0; i < 3; i++) {
          assertEquals((await other.list("bulk", { take: 1000 })).items.length, 24);
        }
      } finally {
        await other.disconnect().catch(() => {});
      }
      assert(await trickle.ended(), "the trickling connection is closed");
      await trickling;
      assert(sent < bytes.length, "the server closed it before the frame was complete");
      // The deaf client: the server stops waiting for it to read and closes it (its next
      // writes fail); what it then reads is fewer answers than it asked for.
      await waitUntil(30_000, "the server to give up on the deaf client", async () => {
        try {
          await deaf.send(list(0n));
          return false;
        } catch {
          return true;
        }
      }, 200);
      let answered = 0;
      for (;;) {
        const reply = await deaf.receive();
        if (reply === "closed") break;
        assert(reply.body.kind === "listAggregates", describe(reply));
        answered++;
      }
      assert(answered < asked, `answered ${answered} of ${asked}`);
      await assertServing(s);
    } finally {
      trickle.close();
      deaf.close();
    }
  }, SHORT_TIMEOUTS);
});

Deno.test("bad frames: 64 connections at once are all served", async () => {
  await withSocketServer(async (s) => {
    const count = 64;
    const clients: JsClient[] = Array.from(
      { length: count },
      () => officialClient(s.port, s.admin),
    );
    try {
      await Promise.all(clients.map((c) => c.connect()));
      await Promise.all(clients.map(async (c, i) => {
        await c.create("load", `l-${i}`, "load-created", { payload: { n: 0 } });
        for (let n = 1; n <= 5; n++) {
          const event = await c.apply("load", `l-${i}`, "load-updated", { payload: { n } });
          assertEquals(event.version, n + 1);
        }
      }));
      const got = await Promise.all(clients.map((c, i) => c.get("load", `l-${i}`)));
      assertEquals(got.map((a) => [a.version, a.state.n]), got.map(() => [6, 5]));
      const page = await clients[0].list("load", { take: 1000 });
      assertEquals(page.items.length, count);
    } finally {
      await Promise.all(clients.map((c) => c.disconnect().catch(() => {})));
    }
  });
});

Deno.test("bad frames: past [server] max_connections a connection is refused at the hello", async () => {
  await withSocketServer(async (s) => {
    await seed(s);
    const cap = 8; // the least connectionCap allows
    const open: RawConnection[] = [];
    // A session once there is room (the seeding client's close may not be noticed yet).
    const admitted = () =>
      waitUntil(10_000, "a connection to be accepted", async () => {
        const raw = await RawConnection.open(s.port);
        const hello = await raw.hello(s.admin);
        if (hello !== "closed" && hello.accepted) {
          await raw.noise(s.admin);
          return raw;
        }
        raw.close();
        return false;
      }, 100);
    try {
      for (let i = 0; i < cap; i++) open.push(await admitted());
      // One more: refused with a reason, then closed.
      const extra = await RawConnection.open(s.port);
      const answer = await extra.hello(s.admin);
      assert(answer !== "closed" && !answer.accepted, JSON.stringify(answer));
      assert(/too many open connections/.test(answer.message), answer.message);
      assert(await extra.ended(), "the refused connection is closed");
      extra.close();
      // The official client says so too.
      const client = officialClient(s.port, s.admin);
      const refused = await client.connect().then(() => "connected", (e: Error) => e.message);
      assert(/too many open connections/.test(refused), refused);
      // Those within the cap are unaffected.
      for (const [i, raw] of open.entries()) await assertConnectionWorks(raw, BigInt(i + 1));
      // Once one closes, a new one gets in.
      open.pop()!.close();
      open.push(await admitted());
      await assertConnectionWorks(open[open.length - 1], 99n);
    } finally {
      for (const raw of open) raw.close();
    }
  }, {
    config: {
      server: {
        http_workers: 0,
        write_queue_limit: 10_000,
        max_connections: 8,
        header_read_timeout: 10,
        idle_timeout: 60,
      },
    },
  });
});
