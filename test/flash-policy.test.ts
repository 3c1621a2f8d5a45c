/**
 * The Flash socket policy (docs/protocol.md section 5) over raw TCP: the
 * standalone `webim flash-policy` process, the same listener in-process
 * with a short wait, and the inline answer on the main HTTP port, after
 * which HTTP and WebSocket must still work on that port.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { ConfigError, defaultConfig, parseConfig } from '../src/config.js';
import { parseFlashConfig } from '../src/flash-config.js';
import { createServer } from '../src/server.js';
import { policyLimits, policyXml, POLICY_REQUEST, type RequestOutcome } from '../src/common/flash-policy.js';
import { classifyRequest } from '../transports/flash-policy-request.js';
import { createPolicyServer } from '../transports/flash-policy-server.js';
import { BIN, exited } from './helpers/process.js';
import { startServer, type TestServer } from './helpers/server.js';

const SHORT_WAIT = 200;

interface Exchange {
  data: Buffer;
  /** ms from connect to the server closing the connection. */
  closedAfter: number;
  /** Bytes written before the server closed the connection. */
  sent: number;
}

/** Connects, writes `parts` (`gap` ms apart), and collects what comes back until the server closes the connection. */
function exchange(port: number, parts: (string | Buffer)[], gap = 0): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const started = Date.now();
    let sent = 0;
    let closed = false;
    const guard = setTimeout(() => {
      socket.destroy();
      reject(new Error('the server did not close the connection in 5 s'));
    }, 5000);
    socket.on('data', (d: Buffer) => chunks.push(d));
    // A reset instead of a FIN is a close too: what matters is that nothing but the policy came back.
    socket.on('error', (err: NodeJS.ErrnoException) => chunks.push(Buffer.from(err.code === 'ECONNRESET' ? '' : `<${err.code}>`)));
    socket.on('close', () => {
      closed = true;
      clearTimeout(guard);
      resolve({ data: Buffer.concat(chunks), closedAfter: Date.now() - started, sent });
    });
    socket.on('connect', async () => {
      for (const part of parts) {
        if (closed) return;
        socket.write(part);
        sent += Buffer.byteLength(part);
        if (gap > 0) await new Promise((r) => setTimeout(r, gap));
      }
    });
  });
}

function bytes(text: string): Buffer[] {
  return [...Buffer.from(text, 'latin1')].map((b) => Buffer.from([b]));
}

async function httpAndWebSocketWork(tt: Test, url: string): Promise<void> {
  const res = await fetch(`${url}/healthz`);
  tt.equal(res.status, 200, 'GET /healthz still answers 200');
  const ws = new WebSocket(url.replace(/^http/, 'ws') + '/ws');
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ cmd: 'login', name: `flash${Math.floor(Math.random() * 1e6)}` }));
  const reply = JSON.parse(String(await new Promise((r) => ws.once('message', r)))) as { cmd?: string };
  tt.equal(reply.cmd, 'login', 'a WebSocket still connects and logs in');
  ws.close();
}

t.test('limits, XML and request parsing', async (tt) => {
  tt.same(policyLimits, { timeoutMs: 3000, maxBytes: 1024, maxConnections: 1000 }, 'docs/protocol.md section 5: 3 s, 1 KiB');
  const xml = policyXml(['example.com', '*.example.org'], ['8080-8090', '9000']);
  tt.match(xml, /^<\?xml version="1.0"\?>\n/);
  tt.ok(xml.includes('<allow-access-from domain="example.com" to-ports="8080-8090,9000"/>'));
  tt.ok(xml.includes('<allow-access-from domain="*.example.org" to-ports="8080-8090,9000"/>'));
  tt.match(xml, /<cross-domain-policy>[\s\S]*<\/cross-domain-policy>\n$/);
  const hostile = policyXml(['a"b<c>&d\'e'], ['1']);
  tt.ok(hostile.includes('domain="a&#34;b&#60;c&#62;&#38;d&#39;e"'), 'attribute values are escaped');
  tt.equal(classifyRequest(POLICY_REQUEST, 1024), 'ok');
  tt.equal(classifyRequest(POLICY_REQUEST.subarray(0, 10), 1024), undefined, 'a prefix waits for more');
  tt.equal(classifyRequest(Buffer.from('<policy-file-request/>\n'), 1024), 'invalid');
  tt.equal(classifyRequest(Buffer.concat([POLICY_REQUEST, Buffer.from('x')]), 1024), 'invalid', 'bytes after the NUL');
  tt.equal(classifyRequest(Buffer.alloc(1025, '<'), 1024), 'oversize');
});

t.test('configuration of both commands', async (tt) => {
  const c = parseFlashConfig([], {});
  tt.same(c, { port: 843, host: '0.0.0.0', allowDomains: ['*'], allowPorts: ['8080'] }, 'docs/protocol.md section 8 defaults');
  const env = { WEBIM_ALLOW_DOMAINS: 'a.example, *.b.example', WEBIM_ALLOW_PORTS: '80,8000-8100', WEBIM_PORT: '1843' };
  tt.same(parseFlashConfig([], env), { port: 1843, host: '0.0.0.0', allowDomains: ['a.example', '*.b.example'], allowPorts: ['80', '8000-8100'] });
  tt.same(parseFlashConfig(['--allow-ports=*', '--host', '127.0.0.1'], env).allowPorts, ['*']);
  for (const bad of ['<script>', 'a b', 'ex"ample.com', 'foo*.com', 'a..b', '-a.com', 'http://a.com']) {
    tt.throws(() => parseFlashConfig(['--allow-domains', bad], {}), ConfigError, `domain ${bad}`);
    tt.throws(() => parseConfig(['--flash-allow-domains', bad], {}), ConfigError, `start: domain ${bad}`);
  }
  for (const bad of ['0', '65536', '9000-8000', 'http', '80-', '8080,x']) {
    tt.throws(() => parseFlashConfig(['--allow-ports', bad], {}), ConfigError, `ports ${bad}`);
    tt.throws(() => parseConfig(['--flash-allow-ports', bad], {}), ConfigError, `start: ports ${bad}`);
  }
  tt.throws(() => parseFlashConfig(['--allow-ports', ','], {}), ConfigError, 'no port at all');
  tt.throws(() => parseFlashConfig(['--allow-domains', ','], {}), ConfigError, 'no domain at all');
  const start = parseConfig([], {});
  tt.equal(start.flashPolicyInline, true);
  tt.same(start.flashAllowDomains, ['*']);
  tt.same(start.flashAllowPorts, [], 'empty: the server answers with its own port');
  tt.same(parseConfig([], { WEBIM_FLASH_ALLOW_PORTS: '8080,8443' }).flashAllowPorts, ['8080', '8443']);
});

t.test('`webim flash-policy` as a process', async (tt) => {
  const child = spawn(
    process.execPath,
    [BIN, 'flash-policy', '--port', '0', '--host', '127.0.0.1', '--allow-domains', 'example.com,*.example.org', '--allow-ports', '8080-8090,9000'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  tt.teardown(() => void child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line in 10 s: ${stderr}`)), 10000);
    createInterface({ input: child.stdout }).once('line', (l) => {
      clearTimeout(timer);
      resolve(l);
    });
  });
  const ready = JSON.parse(line) as { msg: string; port: number };
  tt.equal(ready.msg, 'flash policy listener ready');
  tt.ok(Number.isInteger(ready.port) && ready.port > 0, 'the bound port is logged');

  const ok = await exchange(ready.port, [POLICY_REQUEST]);
  tt.equal(ok.data.toString('utf8'), policyXml(['example.com', '*.example.org'], ['8080-8090', '9000']) + '\0', 'the XML and a NUL, then close');
  const garbage = await exchange(ready.port, ['<hello/>\0']);
  tt.equal(garbage.data.length, 0, 'garbage gets no policy');

  child.kill('SIGTERM');
  tt.equal(await exited(child), 0, 'SIGTERM ends it cleanly');
  tt.equal(stderr, '', 'nothing on stderr');
});

t.test('the standalone listener with a short wait', async (tt) => {
  const outcomes: (RequestOutcome | 'busy')[] = [];
  const listener = createPolicyServer({
    domains: ['*'],
    ports: ['8080'],
    limits: { timeoutMs: SHORT_WAIT, maxConnections: 3 },
    onOutcome: (o) => outcomes.push(o),
  });
  const { port } = await listener.listen(0, '127.0.0.1');
  tt.teardown(() => listener.close());
  const policy = policyXml(['*'], ['8080']) + '\0';
  const last = (): RequestOutcome | 'busy' | undefined => outcomes[outcomes.length - 1];

  const silent = await exchange(port, []);
  tt.equal(silent.data.length, 0, 'silence: no policy');
  tt.ok(silent.closedAfter >= SHORT_WAIT - 20 && silent.closedAfter < 2000, `silence: closed after the wait (${silent.closedAfter} ms)`);
  tt.equal(last(), 'timeout');

  const drip = await exchange(port, bytes('<policy-file-request/>\0'), 30);
  tt.equal(drip.data.length, 0, 'drip: no policy');
  tt.ok(drip.sent < POLICY_REQUEST.length, `drip: cut off after ${drip.sent} bytes, before the request was complete`);
  tt.equal(last(), 'timeout');

  const quick = await exchange(port, [POLICY_REQUEST.subarray(0, 5), POLICY_REQUEST.subarray(5, 15), POLICY_REQUEST.subarray(15)], 10);
  tt.equal(quick.data.toString('utf8'), policy, 'a request in pieces within the wait is answered');

  const oversize = await exchange(port, [Buffer.alloc(2048, '<')]);
  tt.equal(oversize.data.length, 0, 'oversize: no policy');
  tt.equal(last(), 'oversize');

  const garbage = await exchange(port, ['<policy-file-request/>\n']);
  tt.equal(garbage.data.length, 0, 'garbage: no policy');
  tt.equal(last(), 'invalid');

  const halfClosed = await new Promise<string>((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.end(POLICY_REQUEST));
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('utf8')));
    s.on('close', () => resolve(got));
  });
  tt.equal(halfClosed, policy, 'a request sent with the FIN is still answered');

  const held = [0, 1, 2].map(() => connect(port, '127.0.0.1'));
  await Promise.all(held.map((s) => new Promise((r) => s.once('connect', r))));
  const busy = await exchange(port, [POLICY_REQUEST]);
  tt.equal(busy.data.length, 0, 'beyond maxConnections a connection is closed at once');
  tt.ok(busy.closedAfter < SHORT_WAIT, 'without waiting');
  tt.equal(last(), 'busy');
  for (const s of held) s.destroy();
});

t.test('inline on the main HTTP port', async (tt) => {
  policyLimits.timeoutMs = SHORT_WAIT;
  let server: TestServer | undefined;
  tt.teardown(async () => {
    policyLimits.timeoutMs = 3000;
    await server?.close();
  });
  server = await startServer({ headerTimeout: 400 });
  const { port, url } = server;

  const ok = await exchange(port, [POLICY_REQUEST]);
  tt.equal(ok.data.toString('utf8'), policyXml(['*'], [String(port)]) + '\0', 'the policy names the server\'s own port by default');
  await httpAndWebSocketWork(tt, url);

  const silent = await exchange(port, []);
  tt.equal(silent.data.length, 0, 'a silent connection gets nothing');
  tt.ok(silent.closedAfter >= 350 && silent.closedAfter < 3000, `and is closed after the header timeout (${silent.closedAfter} ms)`);

  const lone = await exchange(port, ['<']);
  tt.equal(lone.data.length, 0, '`<` then silence: no policy');
  tt.ok(lone.closedAfter >= SHORT_WAIT - 20 && lone.closedAfter < 2000, `closed after the policy wait (${lone.closedAfter} ms)`);

  const drip = await exchange(port, bytes('<policy-file-request/>\0'), 30);
  tt.equal(drip.data.length, 0, 'drip: no policy');
  tt.ok(drip.sent < POLICY_REQUEST.length, `drip: cut off after ${drip.sent} bytes`);
  await httpAndWebSocketWork(tt, url);

  const oversize = await exchange(port, [Buffer.concat([Buffer.from('<policy-file-request/>'), Buffer.alloc(2048, ' '), Buffer.from('\0')])]);
  tt.equal(oversize.data.length, 0, 'oversize: no policy');
  await httpAndWebSocketWork(tt, url);

  const garbage = await exchange(port, ['<html><body>hello</body></html>\0']);
  tt.equal(garbage.data.length, 0, 'garbage starting with `<`: no policy, no HTTP answer');
  await httpAndWebSocketWork(tt, url);

  // Two requests in the first chunk, then a third on the same connection: keep-alive survives the handover.
  const get = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
  const keepAlive = await new Promise<number>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(get + get));
    let text = '';
    s.on('error', reject);
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      const answers = text.split('HTTP/1.1 200').length - 1;
      if (answers === 2 && !text.includes('Connection: close')) s.write(get.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'));
    });
    s.on('close', () => resolve(text.split('HTTP/1.1 200').length - 1));
  });
  tt.equal(keepAlive, 3, 'three answers on one connection');
});

t.test('header timeout after the handover, close(), and --no-flash-policy-inline', async (tt) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'webim-flash-'));
  tt.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const config = defaultConfig({ port: 0, host: '127.0.0.1', store: 'memory', logLevel: 'silent', dataDir, headerTimeout: 300 });
  const server = await createServer(config);
  // Node checks header deadlines every 30 s by default; check often so that the test sees it. (@types/node lacks the property.)
  (server.app.server as HttpServer & { connectionsCheckingInterval: number }).connectionsCheckingInterval = 50;
  const { port } = await server.listen();
  const slow = await exchange(port, ['GET /healthz HTTP/1.1\r\n']);
  await server.close();
  tt.ok(slow.closedAfter < 2000, `incomplete headers are cut by the HTTP server (${slow.closedAfter} ms)`);
  const answer = slow.data.toString('latin1');
  tt.ok(answer === '' || answer.startsWith('HTTP/1.1 408'), 'with 408 or nothing');

  // With the default 10 s header timeout and 3 s policy wait, a silent connection and a policy request in flight must not hold close() up.
  const idle = await startServer();
  const silent = exchange(idle.port, []);
  const partial = exchange(idle.port, ['<policy']);
  await new Promise((r) => setTimeout(r, 100));
  const started = Date.now();
  await idle.close();
  tt.ok(Date.now() - started < 1000, `close() is prompt (${Date.now() - started} ms)`);
  tt.equal((await silent).data.length, 0);
  tt.equal((await partial).data.length, 0);

  const plain = await startServer({ flashPolicyInline: false });
  tt.teardown(() => plain.close());
  const asHttp = await exchange(plain.port, [POLICY_REQUEST]);
  tt.match(asHttp.data.toString('latin1'), /^HTTP\/1\.1 400/, 'with the flag off, `<` is plain (bad) HTTP');
  await httpAndWebSocketWork(tt, plain.url);
});
