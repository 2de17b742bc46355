# The control protocol on the socket port (6363): what the official EventDBX client SDKs
# speak. Written for this server from the protocol's wire facts: field ordinals and types
# fix the wire layout and are those of the upstream protocol; names only matter to readers.
#
# A connection carries, in order:
#   1. ControlHello (client) and ControlHelloResponse (server), unframed;
#   2. unless both agreed on plaintext, a Noise_NNpsk0_25519_ChaChaPoly_SHA256 handshake;
#   3. ControlRequest / ControlResponse pairs, each framed as a 4-byte big-endian length
#      followed by the message (Noise ciphertext of it, unless plaintext).
#
# Regenerate the TypeScript (src/control_protocol/schema.ts) with `deno task capnp`.

@0x9b5da31c53539023;

struct ControlRequest {
  id @0 :UInt64;
  payload :union {
    listAggregates @1 :ListAggregatesRequest;
    getAggregate @2 :GetAggregateRequest;
    listEvents @3 :ListEventsRequest;
    appendEvent @4 :AppendEventRequest;
    verifyAggregate @5 :VerifyAggregateRequest;
    patchEvent @6 :PatchEventRequest;
    selectAggregate @7 :SelectAggregateRequest;
    createAggregate @8 :CreateAggregateRequest;
    setAggregateArchive @9 :SetAggregateArchiveRequest;
    listSchemas @10 :NotServed;
    # This and the members up to readOutbox are not served here: they hold their place so
    # that the union tags after them match the protocol; a request with one gets an error.
    replaceSchemas @11 :NotServed;
    tenantAssign @12 :NotServed;
    tenantUnassign @13 :NotServed;
    tenantQuotaSet @14 :NotServed;
    tenantQuotaClear @15 :NotServed;
    tenantQuotaRecalc @16 :NotServed;
    tenantReload @17 :NotServed;
    tenantSchemaPublish @18 :NotServed;
    createSnapshot @19 :NotServed;
    listSnapshots @20 :NotServed;
    getSnapshot @21 :NotServed;
    listReferrers @22 :NotServed;
    readOutbox @23 :NotServed;
    runCommand @24 :RunCommandRequest;
    # This server's own member: run one `dbx` command for the caller (`dbx --remote`).
  }
}

struct ControlResponse {
  id @0 :UInt64;
  payload :union {
    listAggregates @1 :ListAggregatesResponse;
    getAggregate @2 :GetAggregateResponse;
    listEvents @3 :ListEventsResponse;
    appendEvent @4 :AppendEventResponse;
    # Also the answer to patchEvent.
    verifyAggregate @5 :VerifyAggregateResponse;
    selectAggregate @6 :SelectAggregateResponse;
    error @7 :ControlError;
    createAggregate @8 :CreateAggregateResponse;
    setAggregateArchive @9 :SetAggregateArchiveResponse;
    listSchemas @10 :NotServed;
    replaceSchemas @11 :NotServed;
    tenantAssign @12 :NotServed;
    tenantUnassign @13 :NotServed;
    tenantQuotaSet @14 :NotServed;
    tenantQuotaClear @15 :NotServed;
    tenantQuotaRecalc @16 :NotServed;
    tenantReload @17 :NotServed;
    tenantSchemaPublish @18 :NotServed;
    createSnapshot @19 :NotServed;
    listSnapshots @20 :NotServed;
    getSnapshot @21 :NotServed;
    listReferrers @22 :NotServed;
    readOutbox @23 :NotServed;
    runCommand @24 :RunCommandResponse;
  }
}

struct ControlHello {
  # The first message of a connection, from the client.
  protocolVersion @0 :UInt16;   # 1
  token @1 :Text;
  tenantId @2 :Text;            # "" or "default" on a single-tenant node
  noNoise @3 :Bool;             # the client asks for plaintext
}

struct ControlHelloResponse {
  # The server's answer to the hello.
  accepted @0 :Bool;
  message @1 :Text;             # why it was refused
  noNoise @2 :Bool;             # plaintext from here on
}

struct NotServed {
  # A placeholder for union members that are not served here.
}

struct ListAggregatesRequest {
  cursor @0 :Text;
  hasCursor @1 :Bool;
  take @2 :UInt64;
  hasTake @3 :Bool;
  filter @4 :Text;
  hasFilter @5 :Bool;
  sort @6 :Text;                # "field[:asc|desc][, field…]"
  hasSort @7 :Bool;
  includeArchived @8 :Bool;
  archivedOnly @9 :Bool;
  token @10 :Text;
  resolve @11 :Bool;
  resolveDepth @12 :UInt32;
  hasResolveDepth @13 :Bool;
}

struct ListAggregatesResponse {
  aggregatesJson @0 :Text;      # a JSON array of aggregates
  nextCursor @1 :Text;
  hasNextCursor @2 :Bool;
  resolvedJson @3 :Text;
  hasResolvedJson @4 :Bool;
}

struct GetAggregateRequest {
  aggregateType @0 :Text;
  aggregateId @1 :Text;
  token @2 :Text;
  resolve @3 :Bool;
  resolveDepth @4 :UInt32;
  hasResolveDepth @5 :Bool;
}

struct GetAggregateResponse {
  found @0 :Bool;
  aggregateJson @1 :Text;
  resolvedJson @2 :Text;
  hasResolvedJson @3 :Bool;
}

struct ListEventsRequest {
  aggregateType @0 :Text;
  aggregateId @1 :Text;
  cursor @2 :Text;
  hasCursor @3 :Bool;
  take @4 :UInt64;
  hasTake @5 :Bool;
  filter @6 :Text;
  hasFilter @7 :Bool;
  token @8 :Text;
}

struct ListEventsResponse {
  eventsJson @0 :Text;          # a JSON array of events
  nextCursor @1 :Text;
  hasNextCursor @2 :Bool;
}

struct AppendEventRequest {
  token @0 :Text;
  aggregateType @1 :Text;
  aggregateId @2 :Text;
  eventType @3 :Text;
  payloadJson @4 :Text;
  note @5 :Text;
  hasNote @6 :Bool;
  metadataJson @7 :Text;
  hasMetadata @8 :Bool;
  publishTargets @9 :List(PublishTarget);
  hasPublishTargets @10 :Bool;
}

struct AppendEventResponse {
  eventJson @0 :Text;
}

struct PatchEventRequest {
  token @0 :Text;
  aggregateType @1 :Text;
  aggregateId @2 :Text;
  eventType @3 :Text;
  patchJson @4 :Text;           # an RFC 6902 JSON Patch
  note @5 :Text;
  hasNote @6 :Bool;
  metadataJson @7 :Text;
  hasMetadata @8 :Bool;
  publishTargets @9 :List(PublishTarget);
  hasPublishTargets @10 :Bool;
}

struct VerifyAggregateRequest {
  aggregateType @0 :Text;
  aggregateId @1 :Text;
}

struct VerifyAggregateResponse {
  merkleRoot @0 :Text;
}

struct SelectAggregateRequest {
  aggregateType @0 :Text;
  aggregateId @1 :Text;
  fields @2 :List(Text);
  token @3 :Text;
}

struct SelectAggregateResponse {
  found @0 :Bool;
  selectionJson @1 :Text;
}

struct CreateAggregateRequest {
  token @0 :Text;
  aggregateType @1 :Text;
  aggregateId @2 :Text;
  eventType @3 :Text;
  payloadJson @4 :Text;
  note @5 :Text;
  hasNote @6 :Bool;
  metadataJson @7 :Text;
  hasMetadata @8 :Bool;
  publishTargets @9 :List(PublishTarget);
  hasPublishTargets @10 :Bool;
}

struct CreateAggregateResponse {
  aggregateJson @0 :Text;
}

struct SetAggregateArchiveRequest {
  token @0 :Text;
  aggregateType @1 :Text;
  aggregateId @2 :Text;
  archived @3 :Bool;
  note @4 :Text;
  hasNote @5 :Bool;
}

struct SetAggregateArchiveResponse {
  aggregateJson @0 :Text;
}

struct PublishTarget {
  plugin @0 :Text;
  mode @1 :Text;
  hasMode @2 :Bool;
  priority @3 :Text;
  hasPriority @4 :Bool;
}

struct ControlError {
  code @0 :Text;
  message @1 :Text;
}

struct RunCommandRequest {
  # `dbx --remote`: one command line, run on the server with the caller's token.
  args @0 :List(Text);          # the arguments after `dbx`, e.g. ["aggregate", "list"]
  token @1 :Text;               # empty: the token of the hello
}

struct RunCommandResponse {
  exitCode @0 :Int32;
  stdout @1 :Text;
  stderr @2 :Text;
}
