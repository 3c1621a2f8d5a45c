/**
 * The `--trust-proxy` rule (src/common/proxy-trust.ts): the client address and
 * scheme it reads are the ones Fastify reads with the same list given to
 * it directly (proxy-addr), for every peer and header combination below,
 * so that SockJS, which asks the helper, counts clients exactly as
 * WebSocket and Comet, which ask Fastify. And bad lists are refused.
 */
import Fastify from 'fastify';
import t from 'tap';
import { ConfigError, parseConfig } from '../src/config.js';
import { proxyTrust, trustProblem } from '../src/common/proxy-trust.js';

const LISTS = [[], ['127.0.0.1'], ['10.0.0.0/8', '192.168.1.7'], ['loopback', 'uniquelocal'], ['::1', 'fd00::/8']];
const PEERS = ['127.0.0.1', '127.0.0.2', '10.1.2.3', '192.168.1.7', '203.0.113.5', '::1', 'fd00::5', '::ffff:127.0.0.1', '::ffff:10.9.9.9'];
const FORWARDED: Array<Record<string, string>> = [
  {},
  { 'x-forwarded-for': '198.51.100.1' },
  { 'x-forwarded-for': '198.51.100.1, 10.0.0.9' },
  { 'x-forwarded-for': ' 198.51.100.1 ,10.0.0.9,  127.0.0.1 ' },
  { 'x-forwarded-for': '10.0.0.2, 10.0.0.3' },
  { 'x-forwarded-for': 'not-an-ip, 10.0.0.3' },
  { 'x-forwarded-for': ',,' },
  { 'x-forwarded-proto': 'https' },
  { 'x-forwarded-proto': 'http, https', 'x-forwarded-for': '2001:db8::1' },
];

t.test('client address and scheme agree with Fastify given the same list', async (t) => {
  for (const list of LISTS) {
    const app = Fastify({ ...(list.length > 0 ? { trustProxy: list } : {}) });
    app.get('/', async (req) => ({ ip: req.ip, protocol: req.protocol }));
    const trust = proxyTrust(list);
    let compared = 0;
    for (const remoteAddress of PEERS) {
      for (const headers of FORWARDED) {
        const res = await app.inject({ method: 'GET', url: '/', remoteAddress, headers });
        const fastify = res.json<{ ip: string; protocol: string }>();
        const ours = { ip: trust.clientAddress({ headers, socket: { remoteAddress } }), protocol: trust.protocol({ headers, socket: { remoteAddress } }) };
        if (fastify.ip !== ours.ip || fastify.protocol !== ours.protocol) {
          t.fail(`list ${JSON.stringify(list)}, peer ${remoteAddress}, ${JSON.stringify(headers)}: Fastify ${JSON.stringify(fastify)}, ours ${JSON.stringify(ours)}`);
        }
        compared++;
      }
    }
    t.equal(compared, PEERS.length * FORWARDED.length, `list ${JSON.stringify(list)}: every case compared`);
    await app.close();
  }
});

t.test('what the rule believes, spelled out', async (t) => {
  const trust = proxyTrust(['127.0.0.1']);
  const req = (remoteAddress: string, xff?: string) => ({ headers: xff === undefined ? {} : { 'x-forwarded-for': xff }, socket: { remoteAddress } });
  t.equal(trust.clientAddress(req('127.0.0.1', '198.51.100.1')), '198.51.100.1', 'a trusted proxy names the client');
  t.equal(trust.clientAddress(req('203.0.113.5', '198.51.100.1')), '203.0.113.5', 'anyone else is the client itself');
  t.equal(trust.clientAddress(req('127.0.0.1', '198.51.100.1, 203.0.113.7')), '203.0.113.7', 'the first untrusted hop from the right, not the leftmost claim');
  t.equal(trust.clientAddress(req('127.0.0.1')), '127.0.0.1', 'no header: the peer');
  t.equal(trust.protocol({ headers: { 'x-forwarded-proto': 'https' }, socket: { remoteAddress: '203.0.113.5' } }), 'http');
  t.equal(trust.protocol({ headers: { 'x-forwarded-proto': 'https' }, socket: { remoteAddress: '127.0.0.1' } }), 'https');
  t.equal(trust.protocol({ headers: {}, socket: { remoteAddress: '127.0.0.1', encrypted: true } }), 'https', 'a TLS socket is https');
  t.equal(proxyTrust([]).fastifyOption, false, 'no list: Fastify reads no forwarding header at all');
});

t.test('bad entries are refused when the configuration is read', async (t) => {
  t.equal(trustProblem(['127.0.0.1', '10.0.0.0/8', '::1/128', 'loopback']), undefined);
  for (const bad of ['localhost', '10.0.0.0/33', '::1/129', '10.0.0.1/8/1', '1.2.3', '10.0.0.0/x']) {
    t.type(trustProblem([bad]), 'string', `"${bad}" is refused`);
    t.throws(() => parseConfig(['--trust-proxy', bad], {}), ConfigError);
  }
  t.same(parseConfig(['--trust-proxy', '127.0.0.1, 10.0.0.0/8'], {}).trustProxy, ['127.0.0.1', '10.0.0.0/8']);
  t.same(parseConfig([], { WEBIM_TRUST_PROXY: 'loopback' }).trustProxy, ['loopback']);
  t.same(parseConfig([], {}).trustProxy, [], 'nobody by default');
});
