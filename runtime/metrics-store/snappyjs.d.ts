/** Types of snappyjs 0.7 (pure-JavaScript Snappy, no types shipped). */
declare module "snappyjs" {
  /** Snappy block format; returns the same kind of buffer it is given. */
  export function compress<T extends Uint8Array | ArrayBuffer | Buffer>(input: T): T;
  /** @param maxLength - refuse outputs longer than this (the length is in the block's header) */
  export function uncompress<T extends Uint8Array | ArrayBuffer | Buffer>(input: T, maxLength?: number): T;
}
