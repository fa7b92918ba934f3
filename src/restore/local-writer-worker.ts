/**
 * The worker side of local-writer.ts: carries out each operation in the order it arrives,
 * with synchronous calls: a write's chunk is decompressed (zstd in cairn's addon) and
 * written. After the first failure it only counts what arrives (so the main thread never
 * waits for room that will not come) and ends.
 */
import { closeSync, ftruncateSync, linkSync, lstatSync, mkdirSync, openSync, rmSync, symlinkSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { decodePayload } from '../format/blob-codec.js';
import { applyMetadata, makeSpecialFile, type NodeMetadata } from '../localfs/metadata.js';
import type { WriterOp, WriterReply, WriterWorkerData } from './local-writer.js';

const { done: doneBuffer, owner } = workerData as WriterWorkerData;
const done = new Int32Array(doneBuffer);
const port = parentPort!;
/**
 * Open files: descriptor, the end of the last bytes written (beyond it the file is still
 * empty), and the byte ranges whose chunks did not decode.
 */
const files = new Map<number, { fd: number; written: number; damaged: string[] }>();
let failed = false;

const reply = (message: WriterReply) => port.postMessage(message);
const report = (problem: { path: string; message: string }) => reply({ problem });
const metadata = (full: string, shown: string, meta: NodeMetadata) => applyMetadata(full, shown, meta, { owner, report });

port.on('message', (batch: WriterOp[]) => {
  for (const op of batch) {
    if (op.op === 'end') {
      reply({ ended: true });
      continue;
    }
    try {
      if (!failed) carryOut(op, op.op === 'write' ? decoded(op) : undefined);
    } catch (e) {
      failed = true;
      for (const { fd } of files.values()) closeSync(fd);
      files.clear();
      reply({ failed: { message: (e as Error).message, code: (e as NodeJS.ErrnoException).code } });
    }
    Atomics.add(done, 1, op.op === 'write' ? Math.ceil(op.data.length / 1024) : 0);
    Atomics.add(done, 0, 1);
  }
  Atomics.notify(done, 0);
});

/** A write's chunk decompressed, or the error that it does not decode (the range stays zero). */
function decoded(op: Extract<WriterOp, { op: 'write' }>): Buffer | Error {
  try {
    return decodePayload(op.data, op, op.where);
  } catch (e) {
    return e as Error;
  }
}

/** One operation; a write gets its chunk decoded, or the error that it did not decode. */
function carryOut(op: Exclude<WriterOp, { op: 'end' }>, decoded: Buffer | Error | undefined): void {
  switch (op.op) {
    case 'mkdir':
      try {
        mkdirSync(op.full);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      return;
    case 'clear': {
      const present = lstatSync(op.full, { throwIfNoEntry: false });
      if (present && !(present.isDirectory() && op.keepFolder)) rmSync(op.full, { recursive: true, force: true });
      return;
    }
    case 'open':
      files.set(op.file, { fd: openSync(op.full, 'wx', 0o600), written: 0, damaged: [] });
      return;
    case 'write': {
      const file = files.get(op.file)!;
      if (decoded instanceof Error) {
        file.damaged.push(op.where); // stays zero
        return;
      }
      if (isAllZero(decoded!)) return;
      writeAll(file.fd, decoded!, op.offset);
      file.written = op.offset + decoded!.length;
      return;
    }
    case 'close': {
      const file = files.get(op.file)!;
      files.delete(op.file);
      try {
        if (file.written !== op.size) ftruncateSync(file.fd, op.size);
      } finally {
        closeSync(file.fd);
      }
      metadata(op.full, op.shown, op.meta);
      if (op.damaged.length + file.damaged.length > 0) reply({ damaged: { shown: op.shown, ranges: [...op.damaged, ...file.damaged] } });
      return;
    }
    case 'link':
      linkSync(op.existing, op.full);
      return;
    case 'symlink':
      symlinkSync(op.target, op.full);
      metadata(op.full, op.shown, op.meta);
      return;
    case 'special':
      makeSpecialFile(op.full, op.meta);
      metadata(op.full, op.shown, op.meta);
      return;
    case 'metadata':
      metadata(op.full, op.shown, op.meta);
      return;
  }
}

function writeAll(fd: number, data: Uint8Array, position: number): void {
  let at = 0;
  while (at < data.length) at += writeSync(fd, data, at, data.length - at, position + at);
}

const ZEROS = new Uint8Array(64 * 1024);

function isAllZero(data: Uint8Array): boolean {
  for (let at = 0; at < data.length; at += ZEROS.length) {
    const end = Math.min(data.length, at + ZEROS.length);
    if (Buffer.compare(data.subarray(at, end), ZEROS.subarray(0, end - at)) !== 0) return false;
  }
  return true;
}
