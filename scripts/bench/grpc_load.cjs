// The gRPC load generator of grpc_bench.ts: a separate Node process with @grpc/grpc-js and
// @grpc/proto-loader (the repository's node_modules), loading proto/api.proto itself, as
// an off-the-shelf client does. It starts once and then takes commands, one JSON line each
// on stdin, answering one JSON line each on stdout (so process start-up and proto loading
// are never timed):
//
//   {"cmd": "connect", "target": "127.0.0.1:PORT", "token": "…", "channels": 1}   first
//       (the token travels on stdin, never on the command line) → {"connected": true}
//   {"cmd": "load", "workers": 64, "durationMs": 2000, "prefix": "g", "payloadJson": "{…}",
//    "client": "grpc-js" | "http2"}
//       64 concurrent AppendEvent calls (each worker appends to aggregate bench/<prefix>-<n>
//       and awaits one call after another, like load.ts), until the duration has passed;
//       through @grpc/grpc-js, or ("http2") through the lean client below: the same
//       messages (encoded and decoded with the same proto) on Node's HTTP/2 client →
//       {"ops", "elapsedMs", "latenciesMs": [...], "cpuMs"} (cpuMs: this process's CPU time
//       during the run, to show whether the generator itself was the limit)
//   {"cmd": "light", "perSecond": 20}   start the light background load: unary calls
//       (Health and GetAggregate, alternately) at that rate → {"started": true}
//   {"cmd": "light", "perSecond": 0}    stop it → {"calls": n, "failed": n}
//   {"cmd": "quit"}                     close the channels and exit
//
// Usage: node scripts/bench/grpc_load.cjs, commands on stdin.
// `channels` channels (HTTP/2 connections, each its own subchannel) share the calls; one
// channel with every call multiplexed on it is what a gRPC client usually does.
"use strict";
const http2 = require("node:http2");
const path = require("node:path");
const readline = require("node:readline");

const ROOT = path.resolve(__dirname, "../..");
const grpc = require(path.join(ROOT, "node_modules/@grpc/grpc-js"));
const loader = require(path.join(ROOT, "node_modules/@grpc/proto-loader"));

const definition = loader.loadSync("api.proto", {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  oneofs: false,
  includeDirs: [path.join(ROOT, "proto")],
});
const { EventService } = grpc.loadPackageDefinition(definition).eventdbx.api;

/** Set by the "connect" command. */
let settings;
let clients = [];
const metadata = new grpc.Metadata();

function connect(command) {
  if (settings) throw new Error("already connected");
  settings = { target: command.target, token: command.token, channels: command.channels ?? 1 };
  clients = Array.from(
    { length: settings.channels },
    () =>
      new EventService(settings.target, grpc.credentials.createInsecure(), {
        // A pool of its own per channel: otherwise channels to one target share a connection.
        "grpc.use_local_subchannel_pool": 1,
        // Neither is wanted by a load generator, and both cost CPU on every call: no call is
        // retried (a failure ends the run), and no channelz statistics are read.
        "grpc.enable_retries": 0,
        "grpc.enable_channelz": 0,
      }),
  );
  metadata.set("authorization", `Bearer ${settings.token}`);
  return { connected: true };
}

function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](
      request,
      metadata.clone(),
      { deadline: new Date(Date.now() + 30_000) },
      (err, response) => (err ? reject(err) : resolve(response)),
    );
  });
}

// --- the lean client: gRPC's wire format on Node's own HTTP/2 client ------------------

const APPEND = definition["eventdbx.api.EventService"].AppendEvent;
let sessions;

/** `channels` HTTP/2 sessions, opened on first use and kept. */
function leanSessions() {
  sessions ??= Array.from({ length: clients.length }, () => {
    const session = http2.connect(`http://${settings.target}`);
    session.on("error", () => {});
    return session;
  });
  return sessions;
}

/**
 * One AppendEvent as gRPC puts it on the wire (a length-prefixed protobuf message in a POST
 * with `te: trailers`), the answer's status read from the trailers and its message decoded
 * with the same proto: what grpc-js does, without its per-call machinery.
 */
function leanAppend(session, frame) {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": APPEND.path,
      "content-type": "application/grpc",
      te: "trailers",
      authorization: `Bearer ${settings.token}`,
    });
    const chunks = [];
    let status;
    let message = "";
    const headers = (h) => {
      if (h["grpc-status"] !== undefined) {
        status = Number(h["grpc-status"]);
        message = decodeURIComponent(h["grpc-message"] ?? "");
      }
    };
    stream.on("response", headers);
    stream.on("trailers", headers);
    stream.on("data", (chunk) => chunks.push(chunk));
    stream.on("error", reject);
    stream.on("close", () => {
      if (status !== 0) {
        reject(Object.assign(new Error(message), { code: status, details: message }));
        return;
      }
      const body = Buffer.concat(chunks);
      try {
        resolve(APPEND.responseDeserialize(body.subarray(5, 5 + body.readUInt32BE(1))));
      } catch (err) {
        reject(err);
      }
    });
    stream.end(frame);
  });
}

/** A message in gRPC's length-prefixed framing (uncompressed). */
function framed(bytes) {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([head, bytes]);
}

async function load({ workers, durationMs, prefix, payloadJson, client: kind }) {
  const latencies = [];
  let failure;
  const lean = kind === "http2";
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  const deadline = start + durationMs;
  const lane = async (worker) => {
    const client = clients[worker % clients.length];
    const session = lean ? leanSessions()[worker % clients.length] : undefined;
    const request = {
      aggregate_type: "bench",
      aggregate_id: `${prefix}-${worker}`,
      event_type: "updated",
      payload_json: payloadJson,
    };
    const frame = lean ? framed(APPEND.requestSerialize(request)) : undefined;
    while (!failure && performance.now() < deadline) {
      const t0 = performance.now();
      try {
        const response = lean
          ? await leanAppend(session, frame)
          : await unary(client, "AppendEvent", request);
        if (!response.event || !(response.event.version > 0)) {
          throw new Error(`AppendEvent answered ${JSON.stringify(response)}`);
        }
      } catch (err) {
        failure ??= err;
        return;
      }
      latencies.push(Math.round((performance.now() - t0) * 1000) / 1000);
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, w) => lane(w)));
  const elapsedMs = performance.now() - start;
  const cpu = process.cpuUsage(cpuBefore);
  if (failure) {
    throw new Error(`AppendEvent failed: ${failure.code ?? ""} ${failure.details ?? failure}`);
  }
  return {
    ops: latencies.length,
    elapsedMs,
    latenciesMs: latencies,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
}

/** The light background load: a timer releasing calls at a fixed rate. */
let light;

function startLight(perSecond) {
  const state = { calls: 0, failed: 0, timer: undefined };
  let n = 0;
  state.timer = setInterval(() => {
    const client = clients[n % clients.length];
    const call = n++ % 2 === 0
      ? unary(client, "Health", {})
      : unary(client, "GetAggregate", { aggregate_type: "bench", aggregate_id: "light-0" })
        .catch((err) => {
          // The aggregate may not exist: NOT_FOUND is an answer too.
          if (err.code !== grpc.status.NOT_FOUND) throw err;
        });
    call.then(() => state.calls++, () => state.failed++);
  }, 1000 / perSecond);
  return state;
}

async function handle(command) {
  if (command.cmd !== "connect" && command.cmd !== "quit" && !settings) {
    throw new Error("connect first");
  }
  switch (command.cmd) {
    case "connect":
      return connect(command);
    case "load":
      return await load(command);
    case "light":
      if (command.perSecond > 0) {
        if (light) clearInterval(light.timer);
        light = startLight(command.perSecond);
        return { started: true };
      } else {
        const stopped = light ?? { calls: 0, failed: 0 };
        if (light) clearInterval(light.timer);
        light = undefined;
        return { calls: stopped.calls, failed: stopped.failed };
      }
    case "quit":
      for (const client of clients) client.close();
      for (const session of sessions ?? []) session.close();
      process.exit(0);
      break;
    default:
      throw new Error(`unknown command ${JSON.stringify(command.cmd)}`);
  }
}

// Commands are handled one at a time, in order.
let queue = Promise.resolve();
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  queue = queue.then(async () => {
    let answer;
    try {
      answer = await handle(JSON.parse(line));
    } catch (err) {
      answer = { error: String(err.message ?? err) };
    }
    process.stdout.write(JSON.stringify(answer) + "\n");
  });
}).on("close", () => {
  for (const client of clients) client.close();
  process.exit(0);
});
