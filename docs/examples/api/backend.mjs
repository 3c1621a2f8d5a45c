// A site's backend talking to webim (docs/api.md), in Node.js 20 with
// jose: it signs a login token for one of its users (the page logs in with
// it), then publishes to that user, reads their conversation's history and
// lists who is online. The same as backend.php beside it.
//
//   WEBIM_URL=http://127.0.0.1:8080 WEBIM_API_KEY=... WEBIM_TOKEN_SECRET=... \
//     node backend.mjs token U1001 Ada     # prints a login token for user U1001
//     node backend.mjs demo U1001          # publish, history, presence: one JSON line
import { SignJWT } from 'jose';

const base = (process.env.WEBIM_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');

/** An HS256 JWT webim takes at login: `sub` is the chat user id (docs/identity.md). */
function loginToken(userId, name) {
  return new SignJWT({ name })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(process.env.WEBIM_TOKEN_SECRET));
}

/** One call of the server API: the decoded answer, or an error naming webim's error code. */
async function webim(method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: {
      authorization: `Bearer ${process.env.WEBIM_API_KEY}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const answer = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${answer.error} ${answer.message ?? ''}`);
  return answer;
}

const [command, userId, name] = process.argv.slice(2);
if (command === 'token' && userId) {
  console.log(await loginToken(userId, name ?? userId));
} else if (command === 'demo' && userId) {
  // The key makes a retry (a timeout, a crash, this script run twice) store the message once.
  const sent = await webim('POST', '/api/publish', {
    to: { user: userId },
    body: 'Your order has shipped',
    idempotencyKey: `order-shipped-${userId}`,
  });
  const query = new URLSearchParams({ channel: sent.message.channel, limit: '10' });
  const history = await webim('GET', `/api/history?${query}`);
  const online = await webim('GET', '/api/presence');
  console.log(JSON.stringify({
    published: sent.message,
    duplicate: sent.duplicate,
    history: history.messages,
    online: online.users.map((u) => u.id),
  }));
} else {
  console.error('usage: node backend.mjs token <user id> [name] | demo <user id>');
  process.exit(2);
}
