/** A listener of event `K` of the event map `M`. */
export type Listener<M, K extends keyof M> = (event: M[K]) => void;

/**
 * A small typed event emitter. `on` returns the function that removes the
 * listener. A listener that throws does not stop the others; its error is
 * reported with console.error.
 */
export class Emitter<M extends object> {
  private readonly listeners = new Map<keyof M, Set<(event: never) => void>>();

  on<K extends keyof M>(event: K, listener: Listener<M, K>): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(event, set);
    }
    // Wrap so that the same function registered twice is two registrations
    // and each unsubscribe removes exactly its own.
    const entry = (e: never): void => listener(e);
    set.add(entry);
    return () => {
      const s = this.listeners.get(event);
      if (s !== undefined) {
        s.delete(entry);
        if (s.size === 0) this.listeners.delete(event);
      }
    };
  }

  /** Like `on`, but the listener runs at most once. */
  once<K extends keyof M>(event: K, listener: Listener<M, K>): () => void {
    const off = this.on(event, (e) => {
      off();
      listener(e);
    });
    return off;
  }

  emit<K extends keyof M>(event: K, payload: M[K]): void {
    const set = this.listeners.get(event);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        (listener as (e: M[K]) => void)(payload);
      } catch (err) {
        console.error(`rtcollab: a "${String(event)}" listener threw`, err);
      }
    }
  }

  listenerCount(event: keyof M): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  removeAll(): void {
    this.listeners.clear();
  }
}
