// The part of fuse-native (patched: nanosecond times, see patches/) that cairn uses.
declare module 'fuse-native' {
  type Callback = (...args: unknown[]) => void;
  class Fuse {
    constructor(mountpoint: string, ops: Record<string, (...args: never[]) => void>, options?: Record<string, unknown>);
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    static unmount(mountpoint: string, cb: Callback): void;
    static readonly UTIME_NOW: bigint;
    static readonly UTIME_OMIT: bigint;
  }
  export = Fuse;
}
