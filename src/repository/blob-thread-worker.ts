/**
 * The worker side of blob-thread.ts: opens boxes, cuts and seals streamed steps and seals
 * blobs as they come (zstd and the cipher run here, synchronously), sending results back
 * moved rather than copied.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { blobIdOf } from '../crypto/keys.js';
import { isCairnError } from '../errors/errors.js';
import { decodeBlob, encodeBlob } from '../format/blob-codec.js';
import { BLOB_ENCODING_CODE } from '../format/sealed.js';
import { type BlobThreadData, type BlobThreadReply, type BlobThreadRequest, movable } from './blob-thread.js';
import { digestHere } from './packer.js';
import { type CutStep, cutStep, sealCut } from './seal-file.js';

const { keys } = workerData as BlobThreadData;
const port = parentPort!;
/** Cut steps waiting to be told which chunks to seal, by the cut's job. */
const cuts = new Map<number, CutStep>();

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
    const plaintext = movable(decodeBlob(keys.encryption, form, id, box, what));
    return [{ job: request.job, plaintext }, [plaintext.buffer as ArrayBuffer]];
  }
  if ('cut' in request) {
    const cut = cutStep(request.cut.parts, keys, request.cut.final);
    cuts.set(request.job, cut);
    // The ids are copied (the step keeps its own for sealing); the rest moves.
    const reply = { ids: cut.ids.slice(), plainLengths: cut.plainLengths, rest: cut.rest };
    return [{ job: request.job, cut: reply }, [reply.ids.buffer as ArrayBuffer, ...(cut.rest.byteLength > 0 ? [cut.rest.buffer as ArrayBuffer] : [])]];
  }
  if ('sealCut' in request) {
    const cut = cuts.get(request.sealCut.of)!;
    cuts.delete(request.sealCut.of);
    const made = sealCut(cut, keys, request.sealCut.needed);
    // Boxes that own their buffer move; small ones (in Node's shared pool) are copied. The
    // caller has the ids, lengths and rest already.
    const step = { ...made, ids: new Uint8Array(0), plainLengths: [], rest: new Uint8Array(0), boxes: made.boxes.map((b) => (b.byteLength > 0 ? movable(b) : b)) };
    return [{ job: request.job, step }, step.boxes.filter((b) => b.byteLength > 0).map((b) => b.buffer as ArrayBuffer)];
  }
  if ('digest' in request) {
    const { buffer, length } = request.digest;
    return [{ job: request.job, digest: await digestHere(Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength), length) }, []];
  }
  const { type, plaintext } = request.seal;
  const id = blobIdOf(keys.blobId, plaintext);
  const blob = encodeBlob(keys.encryption, type, id, plaintext);
  const sealed = movable(blob.sealed);
  return [{ job: request.job, id, sealed, encoding: BLOB_ENCODING_CODE[blob.encoding], plainLength: blob.plainLength }, [sealed.buffer as ArrayBuffer, id.buffer as ArrayBuffer]];
}
