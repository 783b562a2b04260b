import type { StreamPosition, StreamPublication, WebSocketMessage } from './types.js';

/**
 * Whether epoch is the stand-in of a position read while the stream had
 * no live publication: "t" and a Unix time (docs/PROTOCOL.md, "Empty
 * streams"); real epochs are hexadecimal.
 */
function isStandInEpoch(epoch: string): boolean {
  return /^t[0-9]+$/.test(epoch);
}

/** A live update with its place in the stream. */
type LiveUpdate = WebSocketMessage & { offset: number; epoch: string };

/**
 * The stream of one subscribed channel with history, as this client has
 * delivered it: the position of the last publication delivered, and the
 * live updates that arrived ahead of it (before the first subscribe reply,
 * during a recovery, or past a gap).
 *
 * Every publication is delivered once, in offset order: an update at or
 * below the position is a copy (a recovery and the live updates overlap
 * by design), one past the next offset waits for the ones before it.
 * A live update of a new epoch resets the stream; when it does not follow
 * the position (the publications between were missed and are gone with
 * their epoch), `lost` reports it before the update is delivered.
 */
export class ChannelStream {
  private pos: StreamPosition | null = null;
  private recovering = false;
  private readonly ahead = new Map<number, LiveUpdate>();

  constructor(
    readonly channel: string,
    private readonly deliver: (message: WebSocketMessage) => void,
    private readonly lost: (since: StreamPosition, position: StreamPosition) => void = () => {},
    /**
     * Whether live updates that overtake the first subscribe's reply are
     * held for its position. Not when requests wait for their reply with
     * no time limit (requestTimeout 0): a reply that never came would hold
     * them for good, so they are delivered as they come, the first one
     * becoming the position (the reply's position then covers only what
     * it is past).
     */
    private readonly holdFirst = true,
  ) {}

  /** The position of the last publication delivered; null before the first position is known. */
  get position(): StreamPosition | null {
    return this.pos === null ? null : { ...this.pos };
  }

  /** Whether live updates wait for publications before them. */
  get hasGap(): boolean {
    return !this.recovering && this.ahead.size > 0;
  }

  /**
   * Starts a recovery (a resubscribe with `since`, or a history read that
   * fills a gap): live updates are held until `end`. Returns the position
   * to recover from, or null when none is known: then it starts the wait
   * for the first subscribe's reply, whose position `start` takes (the
   * live updates that overtake the reply are held until then, see `start`,
   * unless `holdFirst` is false).
   */
  begin(): StreamPosition | null {
    if (this.pos === null) {
      this.recovering = this.holdFirst;
      return null;
    }
    this.recovering = true;
    return { ...this.pos };
  }

  /** Forgets the updates held; used when the connection they came on is gone. */
  abort(): void {
    this.recovering = false;
    this.ahead.clear();
  }

  /**
   * Takes the position of a subscribe reply without since. The live
   * updates held while the reply was awaited (they may come before it, and
   * out of offset order) are taken in offset order as if they came now:
   * those at or below the position are copies of what it covers, the
   * others are delivered in order, or wait past a gap (`hasGap`).
   */
  start(position: StreamPosition): void {
    if (this.pos === null || this.pos.epoch !== position.epoch || this.pos.offset < position.offset) {
      this.pos = { ...position };
    }
    this.recovering = false;
    this.replayHeld();
  }

  /**
   * Ends a subscribe that got no reply with a position (it failed, or its
   * connection dropped): without a position yet, the live updates held for
   * it are delivered in offset order, the last one becoming the position,
   * as updates that come with no subscribe under way are. With a position,
   * the held updates are dropped, as by `abort` (the next resubscribe
   * recovers from the position).
   */
  release(): void {
    if (this.pos === null && this.recovering) {
      this.recovering = false;
      this.replayHeld();
      return;
    }
    this.abort();
  }

  /** Takes the held live updates again, in offset order, as if they came now. */
  private replayHeld(): void {
    const held = [...this.ahead.values()].sort((a, b) => a.offset - b.offset);
    this.ahead.clear();
    for (const m of held) this.live(m);
  }

  /** A live update with its place in the stream. */
  live(m: LiveUpdate): void {
    if (this.pos === null) {
      if (this.recovering) {
        // The first subscribe's reply has not come: its position decides.
        this.ahead.set(m.offset, m);
        return;
      }
      this.pos = { offset: m.offset, epoch: m.epoch };
      this.deliver(m);
      return;
    }
    if (m.epoch !== this.pos.epoch && !this.recovering) {
      if (isStandInEpoch(this.pos.epoch)) {
        // The position was read while the stream was empty: this update's
        // epoch is the one its next publications started, at the offset
        // after the position (or below it, if older ones were deleted
        // meanwhile). Updates of concurrent publishers may arrive out of
        // order: keep ordering them, in the new epoch.
        this.pos = { offset: Math.min(this.pos.offset, m.offset - 1), epoch: m.epoch };
      } else {
        // The stream was reset: nothing before this update can be read
        // again. Its offset follows the last publication of the old epoch
        // (docs/PROTOCOL.md): past the position, publications were missed.
        const since = this.pos;
        this.ahead.clear();
        this.pos = { offset: m.offset, epoch: m.epoch };
        if (m.offset !== since.offset + 1) this.lost({ ...since }, { offset: m.offset - 1, epoch: m.epoch });
        this.deliver(m);
        return;
      }
    }
    if (m.epoch === this.pos.epoch && m.offset <= this.pos.offset) return;
    this.ahead.set(m.offset, m);
    if (!this.recovering) this.flush();
  }

  /**
   * Delivers publications read from history, after the position. The
   * server answered `recovered: true`, so they continue the position even
   * when their epoch is another: a position read while the stream was
   * empty has a stand-in epoch, and the stream's first publications after
   * it start a real one.
   */
  recovered(publications: readonly StreamPublication[], epoch: string): void {
    if (this.pos === null) return;
    if (this.pos.epoch !== epoch) {
      this.pos = { offset: this.pos.offset, epoch };
      for (const [offset, m] of this.ahead) {
        if (m.epoch !== epoch) this.ahead.delete(offset);
      }
    }
    for (const p of publications) {
      if (p.offset <= this.pos.offset) continue;
      if (p.offset !== this.pos.offset + 1) break; // a gap the server did not report; the live path fills it
      this.pos = { offset: p.offset, epoch };
      this.ahead.delete(p.offset);
      const m: LiveUpdate = {
        type: 'update',
        channel: this.channel,
        timestamp: p.timestamp,
        userId: p.userId,
        messageId: p.messageId,
        offset: p.offset,
        epoch,
      };
      if (p.payload !== undefined) m.payload = p.payload;
      this.deliver(m);
    }
  }

  /**
   * Gives up what cannot be recovered: continues from `position` (the
   * server's current one), keeping the held updates after it.
   */
  skipTo(position: StreamPosition): void {
    for (const [offset, m] of this.ahead) {
      if (m.epoch !== position.epoch || offset <= position.offset) this.ahead.delete(offset);
    }
    this.pos = { ...position };
  }

  /** Whether an update held past a gap is at or before `position`, of its epoch. */
  holdsUpTo(position: StreamPosition): boolean {
    for (const m of this.ahead.values()) {
      if (m.epoch === position.epoch && m.offset <= position.offset) return true;
    }
    return false;
  }

  /** Ends a recovery: delivers the held updates that now follow in order. */
  end(): void {
    this.recovering = false;
    this.flush();
  }

  /**
   * Gives up the gaps that cannot be filled: delivers every held update in
   * offset order, each gap reported by `lost` (up to just before the update
   * after it) before that update.
   */
  skipGaps(): void {
    this.recovering = false;
    const held = [...this.ahead.values()].sort((a, b) => a.offset - b.offset);
    this.ahead.clear();
    for (const m of held) {
      const pos = this.pos;
      if (pos !== null) {
        if (m.epoch === pos.epoch && m.offset <= pos.offset) continue; // a copy
        // A position read while the stream was empty is continued by the
        // epoch its first publications start, from at most its offset.
        const follows = m.offset === pos.offset + 1 || (isStandInEpoch(pos.epoch) && m.epoch !== pos.epoch && m.offset <= pos.offset);
        if (!follows) this.lost({ ...pos }, { offset: m.offset - 1, epoch: m.epoch });
      }
      this.pos = { offset: m.offset, epoch: m.epoch };
      this.deliver(m);
    }
  }

  private flush(): void {
    if (this.pos === null) return;
    for (;;) {
      const next = this.ahead.get(this.pos.offset + 1);
      if (next === undefined) break;
      this.ahead.delete(this.pos.offset + 1);
      this.pos = { offset: this.pos.offset + 1, epoch: this.pos.epoch };
      this.deliver(next);
    }
    for (const offset of this.ahead.keys()) {
      if (offset <= this.pos.offset) this.ahead.delete(offset);
    }
  }
}
