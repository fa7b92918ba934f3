/**
 * Saves a file's chunks a few at a time (big ones are sealed on the mount's blob thread, so
 * several are in flight at once) while keeping them in file order: a chunk takes its place in
 * `content` when it is handed over and gets its id when its save is done. The list is
 * complete only after finish().
 */
import type { Repository } from '../repository/repository.js';
import type { SealedChunk } from '../repository/seal-file.js';
import type { ChunkRef } from './records.js';

/** Chunks of one file being compressed and sealed at once. */
const SAVES_IN_FLIGHT = 4;

export class ChunkSaver {
  private readonly content: ChunkRef[] = [];
  private readonly saving = new Set<Promise<void>>();
  private failure: unknown;
  /** Sealed bytes the saves added to the store (0 for chunks it held already). */
  addedBytes = 0;

  constructor(private readonly repo: Repository) {}

  /** Whether a save failed (finish() will throw its error). */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** A chunk already stored, taken over as it is. */
  reuse(ref: ChunkRef): void {
    this.content.push(ref);
  }

  /** Starts saving `chunk`; waits while too many saves run; throws the first failure. */
  async save(chunk: Buffer): Promise<void> {
    this.throwIfFailed();
    const slot = this.content.length;
    this.content.push({ id: '', size: chunk.length });
    this.track(this.repo.saveBlob('data', chunk).then((saved) => {
      this.content[slot] = { id: saved.id, size: chunk.length };
      this.addedBytes += saved.addedBytes;
    }));
    if (this.saving.size >= SAVES_IN_FLIGHT) await Promise.race(this.saving);
    this.throwIfFailed();
  }

  /** Like save, for a chunk sealed already (a streamed step's): stored unless the store holds it. */
  async saveSealed(chunk: SealedChunk): Promise<void> {
    this.throwIfFailed();
    this.content.push({ id: chunk.id, size: chunk.plainLength });
    this.track(this.repo.saveSealedBlob('data', chunk.id, chunk).then((added) => void (this.addedBytes += added)));
    if (this.saving.size >= SAVES_IN_FLIGHT) await Promise.race(this.saving);
    this.throwIfFailed();
  }

  private track(save: Promise<void>): void {
    const tracked = save.catch((e: unknown) => void (this.failure ??= e));
    this.saving.add(tracked);
    void tracked.finally(() => this.saving.delete(tracked));
  }

  /**
   * The chunks handed over so far, in order, once their saves are done (each blob is then in
   * the store's packer or stored); throws if a save failed. Saves started later go on.
   */
  async savedSoFar(): Promise<ChunkRef[]> {
    const count = this.content.length;
    await Promise.all([...this.saving]);
    this.throwIfFailed();
    return this.content.slice(0, count);
  }

  /** Waits for every save; the file's chunk list, in order. */
  async finish(): Promise<ChunkRef[]> {
    await Promise.all(this.saving);
    this.throwIfFailed();
    return this.content;
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}
