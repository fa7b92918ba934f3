/** An in-memory store for unit tests of the layers above; same contract as the others. */
import { CairnError } from '../errors/errors.js';
import { type Backend, type ByteRange, type ObjectKind, type ObjectRef, objectPath } from './backend.js';

export class MemoryBackend implements Backend {
  readonly location = 'memory:';
  readonly objects = new Map<string, Uint8Array>();

  async create(): Promise<void> {
    if (this.objects.size > 0) throw new CairnError('EXISTS', 'the memory store is not empty');
  }

  async put(ref: ObjectRef, data: Uint8Array): Promise<void> {
    this.objects.set(objectPath(ref), Uint8Array.from(data));
  }

  async get(ref: ObjectRef, range?: ByteRange): Promise<Uint8Array> {
    const data = this.objects.get(objectPath(ref));
    if (!data) throw new CairnError('NOT_FOUND', `${objectPath(ref)} does not exist`);
    if (!range) return Uint8Array.from(data);
    if (range.offset + range.length > data.length) {
      throw new CairnError('CORRUPT', `${objectPath(ref)} is shorter than expected`);
    }
    return data.slice(range.offset, range.offset + range.length);
  }

  async size(ref: ObjectRef): Promise<number | null> {
    return this.objects.get(objectPath(ref))?.length ?? null;
  }

  async list(kind: Exclude<ObjectKind, 'config'>): Promise<string[]> {
    const prefix = `${kind}/`;
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(k.lastIndexOf('/') + 1));
  }

  async delete(ref: ObjectRef): Promise<void> {
    this.objects.delete(objectPath(ref));
  }

  async close(): Promise<void> {}
}
