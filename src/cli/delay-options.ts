/** `--delay` and `--not-before` (zqs function execute, zqs run create): when the tasks may start. */
import { nonNegativeSeconds, timeValue } from "./parse.js";

export const DELAY_CLI_OPTIONS = {
  delay: {
    value: "<seconds>",
    description: "start no sooner than this many seconds from now (scheduled until then; zqs)",
    parse: nonNegativeSeconds,
    param: true,
  },
  notBefore: {
    value: "<time>",
    description: "start no sooner than this time, epoch seconds or ISO 8601 (zqs)",
    parse: timeValue,
    param: "not_before",
  },
} as const;
