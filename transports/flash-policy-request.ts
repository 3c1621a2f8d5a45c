/**
 * Reading one Flash policy request from a socket within the limits
 * (docs/protocol.md section 5: 3 s, 1 KiB, nothing else), and answering
 * the sockets handed to it, a bounded number at once. Both Flash policy
 * listeners (transports/flash-policy-server.ts on its own port,
 * transports/flash-policy-inline.ts on the HTTP port) serve through it.
 */
import type { Socket } from 'node:net';
import { POLICY_REQUEST, type PolicyLimits, policyLimits, type RequestOutcome } from '../src/common/flash-policy.js';

/**
 * Judges the bytes received so far: a verdict, or undefined while they are
 * still the start of a proper request. Anything that stops matching is
 * refused at once instead of waiting out the deadline.
 */
export function classifyRequest(received: Buffer, maxBytes: number): 'ok' | 'invalid' | 'oversize' | undefined {
  if (received.length > maxBytes) return 'oversize';
  const n = Math.min(received.length, POLICY_REQUEST.length);
  if (received.compare(POLICY_REQUEST, 0, n, 0, n) !== 0) return 'invalid';
  if (received.length < POLICY_REQUEST.length) return undefined;
  // Bytes after the NUL are not part of any request Flash sends.
  return received.length === POLICY_REQUEST.length ? 'ok' : 'invalid';
}

/** Reads one policy request from `socket` (`first`: bytes already read from it), within the limits. Never rejects. */
export function readPolicyRequest(
  socket: Socket,
  first: Buffer | undefined,
  limits: Pick<PolicyLimits, 'timeoutMs' | 'maxBytes'>,
): Promise<RequestOutcome> {
  return new Promise((resolve) => {
    let received: Buffer = Buffer.alloc(0);
    let settled = false;
    const done = (outcome: RequestOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData).off('end', onEnd).off('close', onEnd);
      resolve(outcome);
    };
    const onData = (chunk: Buffer): void => {
      // classifyRequest refuses anything longer than the request, so this never grows past one chunk.
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const outcome = classifyRequest(received, limits.maxBytes);
      if (outcome !== undefined) done(outcome);
    };
    const onEnd = (): void => done('closed');
    // A client dripping one byte at a time gets no more time than a silent one.
    const timer = setTimeout(() => done('timeout'), limits.timeoutMs);
    socket.on('data', onData).once('end', onEnd).once('close', onEnd);
    if (first !== undefined) onData(first);
  });
}

export type OutcomeListener = (outcome: RequestOutcome | 'busy', remoteAddress: string | undefined) => void;

/** Serves policy requests on sockets it is handed, at most `maxConnections` at once. */
export class PolicyResponder {
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly response: () => Buffer,
    private readonly limits: Partial<PolicyLimits>,
    private readonly onOutcome?: OutcomeListener,
  ) {}

  handle(socket: Socket, first?: Buffer): void {
    const limits = { ...policyLimits, ...this.limits };
    const remote = socket.remoteAddress;
    // Resets and timeouts are routine for this throwaway exchange; the outcome is reported below.
    socket.on('error', () => socket.destroy());
    if (this.sockets.size >= limits.maxConnections) {
      socket.destroy();
      this.onOutcome?.('busy', remote);
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    void readPolicyRequest(socket, first, limits).then((outcome) => {
      this.onOutcome?.(outcome, remote);
      if (outcome !== 'ok' || socket.destroyed) {
        socket.destroy();
        return;
      }
      // A peer that neither reads nor closes must not keep the descriptor once the answer is out (or stuck).
      const cut = setTimeout(() => socket.destroy(), limits.timeoutMs);
      socket.once('close', () => clearTimeout(cut));
      socket.once('finish', () => socket.destroy());
      socket.end(this.response());
    });
  }

  closeAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }
}

