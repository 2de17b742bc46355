/**
 * An example process plugin: it reads the messages EventDBX writes to its stdin
 * (`proto/plugin.capnp`), appends one JSON line per message to the file named by
 * `EXAMPLE_PLUGIN_OUTPUT`, and acknowledges each on stdout once the line is written.
 *
 *   EXAMPLE_PLUGIN_OUTPUT   file to append to (required)
 *   EXAMPLE_PLUGIN_REFUSE   an event type it refuses (acknowledged with ok = false), to
 *                           see the retry queue at work
 *   EXAMPLE_PLUGIN_HANG     an event type it never acknowledges (EventDBX times out,
 *                           queues the event and starts the plugin again)
 *
 * Bundle it with a launcher (the `--bin` of `dbx plugin install`), e.g. `run.sh`:
 *
 *   #!/bin/sh
 *   exec deno run --allow-read --allow-write --allow-env \
 *     --config /path/to/eventdbx/deno.json /path/to/eventdbx/scripts/example-plugin/main.ts
 *
 * Anything a plugin writes to stdout must be an acknowledgement; logs go to stderr (the
 * server logs them).
 */
import {
  decodePluginMessage,
  encodeAck,
  MAX_MESSAGE_BYTES,
  MessageReader,
} from "../../src/plugins/process/messages.ts";

const output = Deno.env.get("EXAMPLE_PLUGIN_OUTPUT");
if (!output) {
  console.error("example plugin: set EXAMPLE_PLUGIN_OUTPUT to the file to append to");
  Deno.exit(2);
}
const refuse = Deno.env.get("EXAMPLE_PLUGIN_REFUSE");
const hang = Deno.env.get("EXAMPLE_PLUGIN_HANG");

const stdout = Deno.stdout.writable.getWriter();
const reader = new MessageReader(Deno.stdin.readable, MAX_MESSAGE_BYTES);
const file = await Deno.open(output, { append: true, create: true, mode: 0o600 });
const enc = new TextEncoder();

while (true) {
  const bytes = await reader.next();
  if (bytes === undefined) break; // stdin closed: EventDBX stops the plugin
  const message = decodePluginMessage(bytes);
  let line: Record<string, unknown>;
  if (message.kind === "hello") {
    line = { kind: "hello", pid: Deno.pid, ...message.hello };
    console.error(`example plugin ${Deno.pid}: hello from instance ${message.hello.instance}`);
  } else {
    const r = message.record;
    if (r.event_type === hang) {
      console.error(`example plugin ${Deno.pid}: not answering ${r.event_type} as configured`);
      // About 24 days (the longest timer); stdin is not read any more either.
      await new Promise((resolve) => setTimeout(resolve, 2 ** 31 - 1));
    }
    if (r.event_type === refuse) {
      await stdout.write(encodeAck({
        sequence: message.sequence,
        ok: false,
        error: `refusing ${r.event_type} as configured`,
      }));
      continue;
    }
    line = {
      kind: "event",
      pid: Deno.pid,
      sequence: String(message.sequence),
      event_id: r.metadata.event_id,
      aggregate_type: r.aggregate_type,
      aggregate_id: r.aggregate_id,
      event_type: r.event_type,
      version: r.version,
      position: r.position,
      payload: r.payload,
      state: message.state,
      schema: message.schemaJson === "" ? null : JSON.parse(message.schemaJson),
    };
  }
  await file.write(enc.encode(JSON.stringify(line) + "\n"));
  await file.syncData();
  await stdout.write(encodeAck({ sequence: message.sequence, ok: true }));
}
file.close();
