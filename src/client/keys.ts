/**
 * CurveZMQ keys: new key pairs (zeromq's `curveKeyPair()`), and the public key
 * of a private one (Curve25519 is X25519: Node's crypto derives it). Keys are
 * Z85 text (`src/protocol/z85.ts`), 40 characters for 32 bytes.
 */
import { createPrivateKey, createPublicKey } from "node:crypto";
import { curveKeyPair } from "zeromq";
import { z85Decode, z85Encode } from "../protocol/z85.js";

/** A new CURVE key pair, z85-encoded. */
export function generateKeyPair(): { publicKey: string; secretKey: string } {
  const { publicKey, secretKey } = curveKeyPair();
  return { publicKey, secretKey };
}

/** The public key of a z85-encoded CURVE private (secret) key. */
export function publicKeyFromPrivate(secretKey: string): string {
  const raw = z85Decode(secretKey.trim());
  if (raw.length !== 32)
    throw new RangeError("A CURVE private key is 40 z85 characters (32 bytes)");
  // PKCS#8 wrapping of a raw X25519 private key (RFC 8410).
  const der = Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), raw]);
  const priv = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  const jwk = createPublicKey(priv).export({ format: "jwk" });
  if (typeof jwk.x !== "string") throw new Error("Failed to derive the public key");
  return z85Encode(Buffer.from(jwk.x, "base64url"));
}
