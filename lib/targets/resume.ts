// Where an ordered scan (pmap --shuffle/--seed/--shard/--resume-at) can pick up again (#12): the
// lowest position handed to the probes whose target has not finished. Every target before it is
// done; a rerun from it repeats at most the targets that were in flight.

export class ResumePoint {
  /** Positions handed out, in order, from `head` on: those not yet known finished, and some that are. */
  private handed: number[] = [];
  private head = 0;
  private readonly finished = new Set<number>();
  /** The positions in flight per address (an address may be given twice). */
  private readonly byIp = new Map<string, number[]>();
  private next: number;

  constructor(start: number) {
    this.next = start;
  }

  /** The target at `position` goes to the probes; `following` is the position after it in this order. */
  handOut(position: number, ip: string, following: number): void {
    this.handed.push(position);
    const positions = this.byIp.get(ip);
    if (positions) positions.push(position);
    else this.byIp.set(ip, [position]);
    this.next = following;
  }

  /** Every result of `ip` is in (the earliest position of that address still in flight). */
  finish(ip: string): void {
    const positions = this.byIp.get(ip);
    const position = positions?.shift();
    if (position === undefined) return;
    if (positions?.length === 0) this.byIp.delete(ip);
    this.finished.add(position);
    while (this.head < this.handed.length && this.finished.delete(this.handed[this.head] as number)) this.head++;
    // The finished prefix is dropped now and then, so memory follows what is in flight.
    if (this.head > 4096 && this.head * 2 > this.handed.length) {
      this.handed = this.handed.slice(this.head);
      this.head = 0;
    }
  }

  /** The position to resume at: the first one not finished, or the next to hand out. */
  get position(): number {
    return this.head < this.handed.length ? (this.handed[this.head] as number) : this.next;
  }
}
