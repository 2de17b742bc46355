/**
 * Configuration: where it lives, defaults, loading, saving and secret-safe display.
 */
export type {
  Config,
  ConfigLocation,
  LoadedConfig,
  RestrictMode,
  ServerSettings,
} from "./types.ts";
export {
  CONFIG_FILE_NAME,
  DEFAULT_ADMIN_PORT,
  DEFAULT_MAX_JSON_DEPTH,
  DEFAULT_PORT,
  DEFAULT_SOCKET_PORT,
  DEFAULT_WRITE_QUEUE_LIMIT,
  defaultConfig,
  MAX_HTTP_WORKERS,
  STORE_DIR_NAME,
} from "./defaults.ts";
export {
  absolutePath,
  DATA_DIR_ENV,
  dataDirSetIn,
  defaultDataDir,
  homeDir,
  resolveLocation,
} from "./paths.ts";
export { checkDek, parseRestrict, parseTomlText, validateConfig } from "./validate.ts";
export { loadConfig } from "./load.ts";
export {
  CONFIG_FILE_MODE,
  configDocument,
  configToToml,
  ensurePrivateDir,
  saveConfig,
} from "./save.ts";
export { writeFileAtomic } from "../util/atomic_file.ts";
export { MASK, maskConfig } from "./mask.ts";
export { dekBytes } from "./dek.ts";
export {
  checkMasterKeyText,
  hashMasterKey,
  isLegacyMasterKeyHash,
  isMasterKeyHash,
  LEGACY_MASTER_KEY_HASH_PREFIX,
  MASTER_KEY_HASH_PREFIX,
  verifyMasterKey,
} from "./master_key.ts";
export {
  type AdminSettings,
  AdminSettingsFile,
  type ConfigFileRef,
  upgradeMasterKeyHash,
} from "./admin_settings.ts";
