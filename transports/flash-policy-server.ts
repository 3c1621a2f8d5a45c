/**
 * The standalone Flash policy listener of `webim flash-policy` (usually on
 * port 843): every connection is a policy request or is closed.
 */
import { type AddressInfo, createServer as createNetServer, type Server } from 'node:net';
import { type PolicyLimits, policyResponse } from '../src/common/flash-policy.js';
import { type OutcomeListener, PolicyResponder } from './flash-policy-request.js';

export interface PolicyServerOptions {
  domains: readonly string[];
  ports: readonly string[];
  limits?: Partial<PolicyLimits>;
  onOutcome?: OutcomeListener;
}

export interface PolicyServer {
  server: Server;
  /** Resolves to the bound address once listening. */
  listen(port: number, host: string): Promise<AddressInfo>;
  /** Stops listening and cuts the connections still being served. */
  close(): Promise<void>;
}

/** The standalone listener of `webim flash-policy`. */
export function createPolicyServer(opts: PolicyServerOptions): PolicyServer {
  const response = policyResponse(opts.domains, opts.ports);
  const responder = new PolicyResponder(() => response, opts.limits ?? {}, opts.onOutcome);
  // allowHalfOpen: a client that sends its request and its FIN together still gets the answer.
  const server = createNetServer({ allowHalfOpen: true, noDelay: true }, (socket) => responder.handle(socket));
  return {
    server,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const addr = server.address();
          if (addr === null || typeof addr === 'string') reject(new Error('policy listener is not on TCP'));
          else resolve(addr);
        });
      });
    },
    close() {
      return new Promise((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        responder.closeAll();
      });
    },
  };
}

