/**
 * What became of recent uploads, for the page that cannot read the answer
 * itself: old IE posts the upload form into a hidden iframe, and a frame of
 * another origin (a site that embeds the chat) cannot be read. Such a page
 * names its upload with a key of its own choosing and asks for the outcome
 * afterwards by JSONP (`GET /upload/result?token=...&key=...`). Outcomes are
 * kept per user and key for a few minutes, on the node that took the
 * upload, and a bounded number of them.
 */

/** An upload key: long enough that nobody else's page guesses it, short enough to keep. */
export const UPLOAD_KEY = /^[A-Za-z0-9_-]{8,64}$/;

export interface UploadOutcome {
  status: number;
  body: object;
}

interface Kept extends UploadOutcome {
  at: number;
}

export class UploadResults {
  /** Insertion order is age order: the oldest are dropped first. */
  private readonly kept = new Map<string, Kept>();

  constructor(
    private readonly ttlMs = 5 * 60_000,
    private readonly max = 10_000,
  ) {}

  put(user: string, key: string, outcome: UploadOutcome, now = Date.now()): void {
    const id = `${user}\n${key}`;
    this.kept.delete(id);
    this.kept.set(id, { ...outcome, at: now });
    this.sweep(now);
  }

  get(user: string, key: string, now = Date.now()): UploadOutcome | undefined {
    this.sweep(now);
    const kept = this.kept.get(`${user}\n${key}`);
    return kept && { status: kept.status, body: kept.body };
  }

  get size(): number {
    return this.kept.size;
  }

  private sweep(now: number): void {
    for (const [id, kept] of this.kept) {
      if (this.kept.size <= this.max && now - kept.at <= this.ttlMs) break;
      this.kept.delete(id);
    }
  }
}
