import type { Command } from "commander";
import { registerAggregate } from "./aggregate.ts";
import { registerConfig } from "./config.ts";
import { registerToken } from "./token.ts";
import { registerSchema } from "./schema.ts";
import { registerServer } from "./server.ts";
import { registerVerify } from "./verify.ts";
import { registerBackup } from "./backup.ts";
import { registerRestore } from "./restore.ts";
import { registerUpgrade } from "./upgrade.ts";
import { registerPlugin } from "./plugin.ts";
import { registerQueue } from "./queue.ts";
import { registerRemote } from "./remote.ts";
import { registerReplication } from "./replicate.ts";

/** Each command group registers itself here. */
export function registerCommands(program: Command): void {
  void program;
  registerAggregate(program);
  registerConfig(program);
  registerToken(program);
  registerSchema(program);
  registerServer(program);
  registerVerify(program);
  registerBackup(program);
  registerRestore(program);
  registerUpgrade(program);
  registerPlugin(program);
  registerQueue(program);
  registerRemote(program);
  registerReplication(program);
}
