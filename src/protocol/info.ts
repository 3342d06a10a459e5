/** Topics and payloads of the info (PUB) socket. */
import { z } from "zod";
import { statusSchema } from "./schemas.js";

export const TOPIC_INFO = "QS_Info";
export const TOPIC_CONSOLE = "QS_Console";
export const TOPIC_TASK = "QS_Task";

export const infoPayloadSchema = z.object({
  time: z.number(),
  msg: z.object({ status: statusSchema }),
});
export const consolePayloadSchema = z.object({ time: z.number(), msg: z.string() });
export type InfoPayload = z.infer<typeof infoPayloadSchema>;
export type ConsolePayload = z.infer<typeof consolePayloadSchema>;
