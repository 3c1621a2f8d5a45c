/**
 * The page sockjs-client's iframe transports run in (`/sockjs/iframe*.html`),
 * served here rather than by sockjs-node, whose page loads sockjs-client
 * alone. sockjs-client calls JSON as soon as the iframe starts, and a
 * browser may have postMessage (so that sockjs-client picks an iframe
 * transport) but no JSON: IE8 in compatibility view. This page loads json3
 * first where JSON is missing, as the chat's own page does, then
 * sockjs-client from the same URL the page uses (it refuses another
 * version), and starts the iframe side.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface IframePage {
  html: string;
  etag: string;
}

/** `clientUrl`, `json3Url`: where sockjs-client and json3 are served (absolute behind a proxy, else paths). */
export function iframePage(clientUrl: string, json3Url: string): IframePage {
  const attr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  // In a script, a URL is a string literal: JSON is one, with '</' broken up so that it cannot end the script.
  const json3Literal = JSON.stringify(`<script type="text/javascript" src="${attr(json3Url)}"></script>`).replace(/<\//g, '<\\/');
  const html = `<!DOCTYPE html>
<html>
<head>
<meta http-equiv="X-UA-Compatible" content="IE=edge">
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<script type="text/javascript">if (!window.JSON) document.write(${json3Literal});</script>
<script type="text/javascript" src="${attr(clientUrl)}"></script>
<script type="text/javascript">
  document.domain = document.domain; /* what sockjs-client's htmlfile frames inside this one set, so that they may talk */
  SockJS.bootstrap_iframe();
</script>
</head>
<body><p>webim: the frame a SockJS connection runs in.</p></body>
</html>
`;
  return { html, etag: `"${createHash('sha256').update(html).digest('base64url').slice(0, 27)}"` };
}

/** Answers a GET or HEAD of the iframe page (its Content-Security-Policy is already set). */
export function serveIframe(req: IncomingMessage, res: ServerResponse, page: IframePage): void {
  const headers = { ETag: page.etag, 'Cache-Control': 'public, max-age=86400', 'X-Content-Type-Options': 'nosniff' };
  if (req.headers['if-none-match'] === page.etag) {
    res.writeHead(304, headers).end();
    return;
  }
  res.writeHead(200, { ...headers, 'Content-Type': 'text/html; charset=UTF-8', 'Content-Length': Buffer.byteLength(page.html) });
  res.end(req.method === 'HEAD' ? undefined : page.html);
}
