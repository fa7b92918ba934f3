/**
 * The worker side of source-reader.ts: seals files, posting each file's
 * batches in order, many files' replies to a message. It blocks (Atomics.wait) while the
 * main thread holds too many of its messages, so a big file never piles up in memory.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { warmMetadata } from '../localfs/warm-metadata.js';
import { type SealedBatch, type SealingKeys, sealFile } from './seal-file.js';
import type { ReaderReply, ReaderRequest, ReaderWorkerData } from './source-reader.js';

const { credit, maxOutstanding, warm, walking } = workerData as ReaderWorkerData;
/** From the first message (the thread may start before the repository is open). */
let keys: SealingKeys | undefined;
const outstanding = new Int32Array(credit);
const port = parentPort!;

/**
 * Replies go out together: one message per burst of work (flushed when the thread turns to
 * its event loop again) or per SEND_BYTES of sealed data, not one per file. A message cost
 * this thread about 40 µs (the corpus: 25,000 files, 1 s), and the main thread as much again.
 */
const SEND_BYTES = 4 * 1024 * 1024;
const SEND_REPLIES = 256;
let outbox: ReaderReply[] = [];
let outboxTransfer: ArrayBuffer[] = [];
let outboxBytes = 0;
let flushQueued = false;

function post(reply: ReaderReply, transfer: ArrayBuffer[] = [], bytes = 0): void {
  outbox.push(reply);
  outboxTransfer.push(...transfer);
  outboxBytes += bytes;
  if (outboxBytes >= SEND_BYTES || outbox.length >= SEND_REPLIES) flush();
  else if (!flushQueued) {
    flushQueued = true;
    setImmediate(flush);
  }
}

/** Sends what waits, once the main thread has room for another message. */
function flush(): void {
  flushQueued = false;
  if (outbox.length === 0) return;
  // Wait for room first: the main thread gives a credit back once it has handled a message.
  for (;;) {
    const now = Atomics.load(outstanding, 0);
    if (now < maxOutstanding) break;
    Atomics.wait(outstanding, 0, now);
  }
  Atomics.add(outstanding, 0, 1);
  port.postMessage(outbox, outboxTransfer);
  outbox = [];
  outboxTransfer = [];
  outboxBytes = 0;
}

function send(reply: ReaderReply & { batch: SealedBatch }): void {
  post(reply, [reply.batch.ids.buffer as ArrayBuffer, reply.batch.sealed.buffer as ArrayBuffer], reply.batch.sealed.byteLength);
}

port.on('message', (message: ReaderRequest | ReaderRequest[]) => {
  if (!Array.isArray(message)) {
    if ('keys' in message) keys = message.keys;
    return;
  }
  for (const request of message) if ('seal' in request) seals.push(request);
  if (!sealing) void sealQueued();
});

/** Files to seal, in the order they came. */
const seals: Extract<ReaderRequest, { seal: string }>[] = [];
let sealing = false;
/** Files sealed between two turns of the event loop: what was sealed goes out, new tasks come in. */
const FILES_PER_TURN = 8;

/** Seals the queued files one at a time (memory: one file's buffers), letting messages in between. */
async function sealQueued(): Promise<void> {
  sealing = true;
  try {
    let sinceTurn = 0;
    for (let request = seals.shift(); request; request = seals.shift()) {
      await sealAndPost(request.job, request.seal, request.stored).catch((e: unknown) => fail(request.job, e));
      if (++sinceTurn >= FILES_PER_TURN) {
        sinceTurn = 0;
        flush();
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  } finally {
    sealing = false;
  }
}

async function sealAndPost(job: number, path: string, stored: readonly string[]): Promise<void> {
  // Each batch is held until the next is ready, so the last one carries the file's size:
  // one message for most files instead of two.
  const batches = sealFile(path, keys!, new Set(stored));
  let held: SealedBatch | undefined;
  for (let step = await batches.next(); ; step = await batches.next()) {
    if (step.done) {
      if (held) send({ job, batch: held, size: step.value });
      else post({ job, size: step.value });
      return;
    }
    if (held) send({ job, batch: held });
    held = step.value;
  }
}

function fail(job: number, e: unknown): void {
  const error = e as NodeJS.ErrnoException;
  post({ job, error: { message: error.message, code: error.code } });
}

// Before any task: the source's metadata, while the main thread opens the repository. Its
// messages wait in the port meanwhile; the first comes after `walking` is set.
if (warm !== undefined) {
  const flag = new Int32Array(walking);
  warmMetadata(warm, () => Atomics.load(flag, 0) !== 0);
}
