// A real gRPC client for the gRPC suites: a separate Node process using @grpc/grpc-js and
// @grpc/proto-loader from the repository's node_modules, loading proto/api.proto itself.
//
// Usage: node tests/grpc/_client.cjs < script.json
// The script is {"target": "127.0.0.1:PORT", "steps": [...]}; the output is one JSON line
// with the result of every step, in order. Each step is one of:
//   {"call": "Method", "request": {...}, "token": "…" | null, "authorization": "raw value",
//    "service": "eventdbx.api.EventService" | "grpc.health.v1.Health"}
//       → {"ok": true, "response": {...}} or {"ok": false, "code": 16, "details": "…",
//          "dbx_code": "unauthorized"}
//   {"raw": "/full/Method/path", "hex": "0a03…", "token": "…"}: the request message as these
//       bytes exactly (garbage, wrong wire types) → like "call"
//   {"subscribe": {"after": 3}, "count": 2, "token": "…", "then": [steps run once the
//       server said it subscribed], "timeoutMs": 20000}
//       → {"events": [...], "then": [...], "status": {code, details, dbx_code} | undefined}
//       ("count": -1 reads until the server ends the stream)
//   {"hammer": 300, "token": "…", "aggregate": "type/id", "kill": true}: 300 calls (appends and
//       reads, 8 at a time), then more calls and a stream left open, and SIGKILL of this very
//       process (no goodbye on the wire); without "kill" it reports {"calls": n}
//   {"destroy": "/full/Method/path", "token": "…"}: a raw HTTP/2 request whose socket is
//       destroyed halfway through the message → {"destroyed": true}
//   {"load": "AppendEvent", "requests": [...], "concurrency": 64, "token": "…"}: every request
//       sent, `concurrency` in flight at once → {"ok": n, "failed": [{code, details}], "acks":
//       [{aggregate_type, aggregate_id, version, hash, position}]}
//   {"h2": "/path", "headers": {...}, "hex": "…"}: one raw HTTP/2 request (prior knowledge)
//       with this body → {"status": 200, "grpc_status": "3", "grpc_message": "…"} or
//       {"error": "…"} when the connection failed
//   {"sleep": 100}
"use strict";
const path = require("node:path");
const http2 = require("node:http2");
const net = require("node:net");

const ROOT = path.resolve(__dirname, "../..");
const grpc = require(path.join(ROOT, "node_modules/@grpc/grpc-js"));
const loader = require(path.join(ROOT, "node_modules/@grpc/proto-loader"));

const definition = loader.loadSync(["api.proto", "grpc/health/v1/health.proto"], {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  oneofs: false,
  includeDirs: [path.join(ROOT, "proto")],
});
const loaded = grpc.loadPackageDefinition(definition);

function metadataOf(step) {
  const metadata = new grpc.Metadata();
  if (step.authorization !== undefined) metadata.set("authorization", step.authorization);
  else if (step.token) metadata.set("authorization", `Bearer ${step.token}`);
  for (const [key, value] of Object.entries(step.metadata ?? {})) metadata.add(key, value);
  return metadata;
}

function failure(err) {
  const dbx = err.metadata?.get?.("dbx-error-code");
  return {
    ok: false,
    code: err.code,
    details: err.details,
    ...(dbx && dbx.length ? { dbx_code: String(dbx[0]) } : {}),
  };
}

function main(script) {
  const target = script.target;
  const options = { "grpc.max_send_message_length": -1, "grpc.max_receive_message_length": -1 };
  const events = new loaded.eventdbx.api.EventService(
    target,
    grpc.credentials.createInsecure(),
    options,
  );
  const health = new loaded.grpc.health.v1.Health(target, grpc.credentials.createInsecure());
  const generic = new grpc.Client(target, grpc.credentials.createInsecure(), options);
  const deadline = () => new Date(Date.now() + 30_000);

  const call = (step) =>
    new Promise((resolve) => {
      const client = step.service === "grpc.health.v1.Health" ? health : events;
      if (typeof client[step.call] !== "function") {
        resolve({ ok: false, code: -1, details: `no method ${step.call} in the client` });
        return;
      }
      client[step.call](
        step.request ?? {},
        metadataOf(step),
        { deadline: deadline() },
        (err, response) => {
          resolve(err ? failure(err) : { ok: true, response });
        },
      );
    });

  const raw = (step) =>
    new Promise((resolve) => {
      generic.makeUnaryRequest(
        step.raw,
        (bytes) => bytes,
        (bytes) => bytes.toString("hex"),
        Buffer.from(step.hex ?? "", "hex"),
        metadataOf(step),
        { deadline: deadline() },
        (err, response) => resolve(err ? failure(err) : { ok: true, response }),
      );
    });

  const subscribe = (step) =>
    new Promise((resolve) => {
      const stream = events.SubscribeEvents(step.subscribe ?? {}, metadataOf(step));
      const got = [];
      let thenResults;
      let done = false;
      const finish = (status) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve({ events: got, then: thenResults, status });
      };
      const timer = setTimeout(() => {
        stream.cancel();
        finish({ code: -2, details: `timed out with ${got.length} events` });
      }, step.timeoutMs ?? 20_000);
      stream.on("metadata", async () => {
        if (step.then) thenResults = await run(step.then);
        if (step.count === 0) {
          stream.cancel();
          finish(undefined);
        }
      });
      stream.on("data", (event) => {
        got.push(event);
        if (step.count > 0 && got.length >= step.count) {
          // Let `then` finish its answers before the stream is let go.
          const settle = () => {
            if (step.then && thenResults === undefined) return setTimeout(settle, 10);
            stream.cancel();
            finish(undefined);
          };
          settle();
        }
      });
      stream.on("error", (err) => {
        if (err.code === grpc.status.CANCELLED && done) return;
        finish(failure(err));
      });
      stream.on("end", () => finish(undefined));
    });

  const hammer = async (step) => {
    const [type, id] = (step.aggregate ?? "crash/c-1").split("/");
    let calls = 0;
    const one = (i) =>
      call({
        call: i % 2 === 0 ? "AppendEvent" : "GetAggregate",
        token: step.token,
        request: i % 2 === 0
          ? {
            aggregate_type: type,
            aggregate_id: id,
            event_type: "hit",
            payload_json: `{"i":${i}}`,
          }
          : { aggregate_type: type, aggregate_id: id },
      }).then((r) => {
        if (!r.ok && !(r.code === grpc.status.NOT_FOUND && i < 8)) {
          throw new Error(`call ${i} failed: ${JSON.stringify(r)}`);
        }
        calls++;
      });
    let next = 0;
    const lane = async () => {
      while (next < step.hammer) await one(next++);
    };
    await Promise.all(Array.from({ length: 8 }, lane));
    if (!step.kill) return { calls };
    // Calls in flight and a stream open, then gone without a word.
    for (let i = 0; i < 16; i++) one(step.hammer + i).catch(() => {});
    events.SubscribeEvents({ after: 0 }, metadataOf(step)).on("error", () => {});
    setTimeout(() => process.kill(process.pid, "SIGKILL"), 5);
    await new Promise(() => {});
  };

  const destroy = (step) =>
    new Promise((resolve) => {
      // The socket is ours, so it can be cut without HTTP/2 noticing first.
      const [host, port] = [
        target.slice(0, target.lastIndexOf(":")),
        target.slice(target.lastIndexOf(":") + 1),
      ];
      const socket = net.connect({ host, port: Number(port) });
      socket.on("error", () => {});
      const session = http2.connect(`http://${target}`, { createConnection: () => socket });
      session.on("error", () => {});
      const request = session.request({
        ":method": "POST",
        ":path": step.destroy,
        "content-type": "application/grpc",
        te: "trailers",
        authorization: `Bearer ${step.token}`,
      });
      request.on("error", () => {});
      // A message that says 1000 bytes and sends 10, then the socket is cut.
      const head = Buffer.from([0, 0, 0, 0x03, 0xe8]);
      request.write(Buffer.concat([head, Buffer.alloc(10, 0x0a)]), () => {
        setTimeout(() => {
          socket.destroy();
          resolve({ destroyed: true });
        }, 20);
      });
    });

  const h2 = (step) =>
    new Promise((resolve) => {
      const session = http2.connect(`http://${target}`);
      const out = {};
      const timer = setTimeout(() => {
        session.destroy();
        resolve({ ...out, error: "timed out" });
      }, 20_000);
      const done = (result) => {
        clearTimeout(timer);
        session.close();
        resolve(result);
      };
      session.on("error", (err) => done({ ...out, error: String(err.code ?? err.message) }));
      const request = session.request({
        ":method": "POST",
        ":path": step.h2,
        "content-type": "application/grpc",
        te: "trailers",
        ...(step.token ? { authorization: `Bearer ${step.token}` } : {}),
        ...step.headers,
      });
      request.on("response", (headers) => {
        out.status = headers[":status"];
        if (headers["grpc-status"] !== undefined) out.grpc_status = headers["grpc-status"];
        if (headers["grpc-message"] !== undefined) {
          out.grpc_message = decodeURIComponent(headers["grpc-message"]);
        }
      });
      request.on("trailers", (trailers) => {
        if (trailers["grpc-status"] !== undefined) out.grpc_status = trailers["grpc-status"];
        if (trailers["grpc-message"] !== undefined) {
          out.grpc_message = decodeURIComponent(trailers["grpc-message"]);
        }
      });
      request.on("data", () => {});
      request.on("error", (err) => done({ ...out, error: String(err.code ?? err.message) }));
      request.on("close", () => done(out));
      if (step.hex) request.end(Buffer.from(step.hex, "hex"));
      else if (!request.writableEnded) request.end();
    });

  const load = async (step) => {
    const acks = [];
    const failed = [];
    let next = 0;
    const lane = async () => {
      while (next < step.requests.length) {
        const request = step.requests[next++];
        const r = await call({ call: step.load, token: step.token, request });
        if (r.ok) {
          const event = r.response.event;
          if (event) {
            acks.push({
              aggregate_type: event.aggregate_type,
              aggregate_id: event.aggregate_id,
              version: event.version,
              hash: event.hash,
              position: event.position,
            });
          }
        } else failed.push({ code: r.code, details: r.details });
      }
    };
    await Promise.all(Array.from({ length: step.concurrency ?? 16 }, lane));
    return { ok: acks.length, failed, acks };
  };

  async function run(steps) {
    const out = [];
    for (const step of steps) {
      if (step.call) out.push(await call(step));
      else if (step.raw) out.push(await raw(step));
      else if (step.subscribe) out.push(await subscribe(step));
      else if (step.hammer) out.push(await hammer(step));
      else if (step.destroy) out.push(await destroy(step));
      else if (step.load) out.push(await load(step));
      else if (step.h2) out.push(await h2(step));
      else if (step.sleep) {
        await new Promise((resolve) => setTimeout(resolve, step.sleep));
        out.push({ slept: step.sleep });
      } else out.push({ ok: false, code: -1, details: "unknown step" });
    }
    return out;
  }

  return run(script.steps).finally(() => {
    events.close();
    health.close();
    generic.close();
  });
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  main(JSON.parse(input)).then(
    (results) => {
      process.stdout.write(JSON.stringify(results) + "\n", () => process.exit(0));
    },
    (err) => {
      process.stderr.write(`client failed: ${err.stack ?? err}\n`);
      process.exit(2);
    },
  );
});
