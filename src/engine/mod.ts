export { Engine, type EngineOptions, type SnapshotInfo, storePath } from "./engine.ts";
export * from "./types.ts";
