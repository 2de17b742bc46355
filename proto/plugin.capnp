# The protocol between EventDBX and a process plugin (`dbx plugin config process`).
#
# EventDBX starts the plugin's binary and writes messages to its stdin; the plugin writes
# one acknowledgement per message to its stdout. Both directions use the standard Cap'n
# Proto stream serialization (segment table, then segments) with no other framing, so
# `capnp::serialize::read_message` (Rust), `capnp.Message` (capnp-es) or any other
# implementation reads them as they come. stderr is the plugin's log.
#
#   1. EventDBX sends `hello` (sequence 0); the plugin answers with an Ack of sequence 0.
#   2. EventDBX sends one `event` per committed event, sequence 1, 2, …, in order; each is
#      acknowledged by an Ack with the same sequence. An Ack with `ok = false` (its `error`
#      says why), a wrong sequence, or none in time fails the delivery: the event goes to
#      the retry queue and is sent again later (at least once: a plugin may see an event
#      twice after a restart, and can tell by `eventId`).
#
# Regenerate the TypeScript (src/plugins/process/schema.ts) with `deno task capnp`.

@0xb005057e8a64c511;

struct PluginMessage {
  sequence @0 :UInt64;
  payload :union {
    hello @1 :Hello;
    event @2 :EventDelivery;
  }
}

struct Hello {
  protocolVersion @0 :UInt16;
  # 1 in this version.
  instance @1 :Text;
  # The plugin instance's name (`--name`).
  plugin @2 :Text;
  version @3 :Text;
}

struct EventDelivery {
  record @0 :EventRecord;
  state @1 :AggregateState;
  schemaJson @2 :Text;
  # The aggregate type's schema as JSON (as `dbx schema show` prints it); empty when the
  # type has none.
}

struct EventRecord {
  aggregateType @0 :Text;
  aggregateId @1 :Text;
  eventType @2 :Text;
  version @3 :UInt64;
  position @4 :UInt64;
  # The event's global position in the store.
  eventId @5 :Text;
  createdAt @6 :Text;
  # RFC 3339.
  payloadJson @7 :Text;
  metadataJson @8 :Text;
  hash @9 :Text;
  merkleRoot @10 :Text;
  recordJson @11 :Text;
  # The whole EventRecord as the tcp and http plugins send it.
}

struct AggregateState {
  version @0 :UInt64;
  # The aggregate's version after this event.
  stateJson @1 :Text;
  # The aggregate's state after this event, as a JSON object.
}

struct Ack {
  sequence @0 :UInt64;
  ok @1 :Bool;
  error @2 :Text;
  # Why the plugin could not take the message (when `ok` is false).
}
