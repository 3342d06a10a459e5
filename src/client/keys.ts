/**
 * CurveZMQ keys: new key pairs (zeromq's `curveKeyPair()`), and the public key
 * of a private one (Curve25519 is X25519: Node's crypto derives it). Keys are
 * Z85 text (ZeroMQ RFC 32), 40 characters for 32 bytes.
 */
import { createPrivateKey, createPublicKey } from "node:crypto";
import { curveKeyPair } from "zeromq";

const ALPHABET =
  "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
const DECODE = new Map<string, number>([...ALPHABET].map((c, i) => [c, i]));

export function z85Encode(data: Uint8Array): string {
  if (data.length % 4 !== 0) throw new RangeError("Z85: the length must be a multiple of 4 bytes");
  let out = "";
  for (let i = 0; i < data.length; i += 4) {
    let v =
      (((data[i] ?? 0) << 24) >>> 0) +
      ((data[i + 1] ?? 0) << 16) +
      ((data[i + 2] ?? 0) << 8) +
      (data[i + 3] ?? 0);
    const chunk: string[] = [];
    for (let k = 0; k < 5; k++) {
      chunk.unshift(ALPHABET[v % 85] as string);
      v = Math.floor(v / 85);
    }
    out += chunk.join("");
  }
  return out;
}

export function z85Decode(text: string): Buffer {
  if (text.length % 5 !== 0)
    throw new RangeError("Z85: the length must be a multiple of 5 characters");
  const out = Buffer.alloc((text.length / 5) * 4);
  for (let i = 0; i < text.length; i += 5) {
    let v = 0;
    for (let k = 0; k < 5; k++) {
      const d = DECODE.get(text[i + k] as string);
      if (d === undefined)
        throw new RangeError(`Z85: invalid character ${JSON.stringify(text[i + k])}`);
      v = v * 85 + d;
    }
    if (v > 0xffffffff) throw new RangeError("Z85: a block is out of range");
    out.writeUInt32BE(v, (i / 5) * 4);
  }
  return out;
}

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
