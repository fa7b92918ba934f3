/**
 * The worker side of blob-thread.ts: opens boxes and seals blobs as they come (several at
 * once: zstd runs on libuv's pool), sending results back moved rather than copied.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { blobIdOf } from '../crypto/keys.js';
import { isCairnError } from '../errors/errors.js';
import { decodeBlob, encodeBlob } from '../format/blob-codec.js';
import { BLOB_ENCODING_CODE } from '../format/sealed.js';
import { type BlobThreadData, type BlobThreadReply, type BlobThreadRequest, movable } from './blob-thread.js';
import { sealStep } from './seal-file.js';

const { keys } = workerData as BlobThreadData;
const port = parentPort!;

port.on('message', (request: BlobThreadRequest) => {
  carryOut(request).then(
    ([reply, transfer]) => port.postMessage(reply, transfer),
    (e: unknown) => {
      const error = isCairnError(e) ? { code: e.code, message: e.message, hint: e.hint } : { message: (e as Error).message };
      port.postMessage({ job: request.job, error } satisfies BlobThreadReply);
    },
  );
});

async function carryOut(request: BlobThreadRequest): Promise<[BlobThreadReply, ArrayBuffer[]]> {
  if ('open' in request) {
    const { form, id, box, what } = request.open;
    const plaintext = movable(await decodeBlob(keys.encryption, form, id, box, what));
    return [{ job: request.job, plaintext }, [plaintext.buffer as ArrayBuffer]];
  }
  if ('step' in request) {
    const made = await sealStep(request.step.parts, keys, request.step.final);
    // Boxes that own their buffer move; small ones (in Node's shared pool) are copied.
    const step = { ...made, boxes: made.boxes.map(movable) };
    const moved = [step.ids, ...step.boxes, ...(step.rest.byteLength > 0 ? [step.rest] : [])].map((b) => b.buffer as ArrayBuffer);
    return [{ job: request.job, step }, moved];
  }
  const { type, plaintext } = request.seal;
  const id = blobIdOf(keys.blobId, plaintext);
  const blob = await encodeBlob(keys.encryption, type, id, plaintext);
  const sealed = movable(blob.sealed);
  return [{ job: request.job, id, sealed, encoding: BLOB_ENCODING_CODE[blob.encoding], plainLength: blob.plainLength }, [sealed.buffer as ArrayBuffer, id.buffer as ArrayBuffer]];
}
