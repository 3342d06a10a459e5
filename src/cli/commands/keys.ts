/** `zqs keys`: CURVE key pairs (no manager needed). */
import type { Command } from "commander";
import { generateKeyPair, publicKeyFromPrivate } from "../../client/index.js";
import { localCommand } from "../command.js";
import { UsageError } from "../errors.js";
import { out, printJson } from "../output.js";

export function registerKeys(program: Command): void {
  localCommand(
    program,
    {
      name: "keys",
      description: "print a new CURVE key pair (or the public key of --public-from=PRIVATE)",
      options: {
        publicFrom: {
          value: "<private>",
          description:
            "print the public key of this private key (write --public-from=KEY: a key may begin with '-')",
        },
      },
    },
    ({ g, opts }) => {
      if (opts.publicFrom !== undefined) {
        let publicKey: string;
        try {
          publicKey = publicKeyFromPrivate(opts.publicFrom);
        } catch (err) {
          throw new UsageError((err as Error).message);
        }
        if (g.json) printJson({ public_key: publicKey });
        else out(publicKey);
        return;
      }
      const pair = generateKeyPair();
      if (g.json) printJson({ private_key: pair.secretKey, public_key: pair.publicKey });
      else {
        out(`Private key (server: QSERVER_ZMQ_PRIVATE_KEY_FOR_SERVER): ${pair.secretKey}`);
        out(`Public key (clients: QSERVER_ZMQ_PUBLIC_KEY):             ${pair.publicKey}`);
      }
    },
  );
}
