/**
 * A worker's proof that it holds the CURVE key it names in its `hello`.
 *
 * The manager cannot read which key a connection's CURVE handshake used
 * (zeromq.js does not expose a message's ZAP user id), so with CURVE a worker
 * names its public key in hello and proves it: an HMAC, keyed with the X25519
 * secret both ends can compute (the worker's secret key with the manager's
 * public key, or the manager's secret key with the worker's public key), of
 * the worker's name and instance. Only the holder of the worker's secret key
 * (or the manager) can make it; the connection is encrypted, so nobody else
 * sees it to replay it.
 */
import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  timingSafeEqual,
} from "node:crypto";
import { z85Decode } from "./z85.js";

const PKCS8_X25519 = Buffer.from("302e020100300506032b656e04220420", "hex");
const SPKI_X25519 = Buffer.from("302a300506032b656e032100", "hex");

function sharedSecret(secretKey: string, publicKey: string): Buffer {
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_X25519, z85Decode(secretKey)]),
    format: "der",
    type: "pkcs8",
  });
  const pub = createPublicKey({
    key: Buffer.concat([SPKI_X25519, z85Decode(publicKey)]),
    format: "der",
    type: "spki",
  });
  return diffieHellman({ privateKey, publicKey: pub });
}

function mac(secret: Buffer, name: string, instance: string): Buffer {
  return createHmac("sha256", secret).update(`zqs-worker-hello\0${name}\0${instance}`).digest();
}

/** The worker's proof (hex), from its secret key and the manager's public key. */
export function helloProof(
  workerSecretKey: string,
  managerPublicKey: string,
  name: string,
  instance: string,
): string {
  return mac(sharedSecret(workerSecretKey, managerPublicKey), name, instance).toString("hex");
}

/** Whether `proof` shows that the sender holds the secret key of `workerPublicKey`. */
export function checkHelloProof(
  managerSecretKey: string,
  workerPublicKey: string,
  name: string,
  instance: string,
  proof: string,
): boolean {
  let want: Buffer;
  try {
    want = mac(sharedSecret(managerSecretKey, workerPublicKey), name, instance);
  } catch {
    return false; // not a key
  }
  const got = Buffer.from(proof, "hex");
  return got.length === want.length && timingSafeEqual(got, want);
}
