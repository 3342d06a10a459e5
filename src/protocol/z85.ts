/**
 * Z85 (ZeroMQ RFC 32): the text form of CURVE keys, 5 characters for 4 bytes,
 * so a 32-byte key is 40 characters. Used by the client (keys it is given or
 * derives), the manager (its secret key, the allow-list, ZAP credentials) and
 * the CLI.
 */

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

/** Whether `text` is a CURVE key: 40 z85 characters (each 5-character block in range). */
export function isCurveKey(text: string): boolean {
  if (text.length !== 40) return false;
  try {
    z85Decode(text);
    return true;
  } catch {
    return false; // a character outside the alphabet, or a block above 2^32 - 1
  }
}
