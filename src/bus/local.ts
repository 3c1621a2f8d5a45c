/**
 * The bus of a single node: nothing crosses, every user is this node's,
 * and the hub delivers to its own connections exactly as it did before
 * there was a bus. Names are claimed by the hub's own directory check.
 */
import type { Bus, BusEvent, PresenceRecord } from './bus.js';

export class LocalBus implements Bus {
  readonly nodeId = 'local';
  readonly distributed = false;
  readonly connected = true;

  async start(): Promise<void> {}

  publish(_event: BusEvent): void {}

  async claim(_record: PresenceRecord, _exclusive: boolean): Promise<boolean> {
    return true;
  }

  update(_record: PresenceRecord): void {}

  release(_userId: string): void {}

  async snapshot(): Promise<Map<string, PresenceRecord[]>> {
    return new Map();
  }

  async close(): Promise<void> {}
}
