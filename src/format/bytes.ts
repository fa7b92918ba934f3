/** Little helpers for the binary codecs: a growing writer and a bounds-checked reader. */

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function fromHex(hex: string, expectedBytes?: number): Uint8Array {
  if (!/^([0-9a-f]{2})*$/.test(hex) || (expectedBytes !== undefined && hex.length !== expectedBytes * 2)) {
    throw new DecodeError(`not a${expectedBytes ? ` ${expectedBytes}-byte` : ''} lower-case hex string`);
  }
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** Malformed bytes in an object that authenticated: a bug or a format mismatch, never tampering. */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

export class ByteWriter {
  private buffer: Buffer;
  private length = 0;

  constructor(initialSize = 1024) {
    this.buffer = Buffer.allocUnsafe(initialSize);
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }

  u8(value: number): this {
    this.reserve(1);
    this.buffer.writeUInt8(value, this.length);
    this.length += 1;
    return this;
  }

  u32(value: number): this {
    this.reserve(4);
    this.buffer.writeUInt32LE(value, this.length);
    this.length += 4;
    return this;
  }

  bytes(value: Uint8Array): this {
    this.reserve(value.length);
    this.buffer.set(value, this.length);
    this.length += value.length;
    return this;
  }

  finish(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

export class ByteReader {
  private offset = 0;
  private readonly view: Buffer;

  constructor(data: Uint8Array) {
    this.view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }

  private need(bytes: number): void {
    if (this.offset + bytes > this.view.length) throw new DecodeError('unexpected end of data');
  }

  u8(): number {
    this.need(1);
    return this.view.readUInt8(this.offset++);
  }

  u32(): number {
    this.need(4);
    const value = this.view.readUInt32LE(this.offset);
    this.offset += 4;
    return value;
  }

  bytes(length: number): Uint8Array {
    this.need(length);
    const out = this.view.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  /** Steps over `length` bytes and returns where they start (nothing allocated). */
  skip(length: number): number {
    this.need(length);
    this.offset += length;
    return this.offset - length;
  }

  /** A view of `length` bytes at `position` (one `skip` returned). */
  at(position: number, length: number): Uint8Array {
    return this.view.subarray(position, position + length);
  }

  /** Throws unless every byte was consumed: trailing bytes mean a codec mismatch. */
  end(): void {
    if (this.offset !== this.view.length) throw new DecodeError(`${this.view.length - this.offset} unexpected trailing bytes`);
  }
}
