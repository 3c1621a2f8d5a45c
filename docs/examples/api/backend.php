<?php
// A site's backend talking to webim (docs/api.md): it signs a login token
// for one of its users (the page logs in with it), then publishes to that
// user, reads their conversation's history and lists who is online.
// Needs php-cli alone (json and hash are built in; HTTP goes through PHP's
// streams, no curl extension).
//
//   WEBIM_URL=http://127.0.0.1:8080 WEBIM_API_KEY=... WEBIM_TOKEN_SECRET=... \
//     php backend.php token U1001 Ada     # prints a login token for user U1001
//     php backend.php demo U1001          # publish, history, presence: one JSON line
declare(strict_types=1);

function b64url(string $bytes): string
{
    return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
}

/** An HS256 JWT webim takes at login: `sub` is the chat user id (docs/identity.md). */
function loginToken(string $secret, string $userId, string $name): string
{
    $header = b64url(json_encode(['alg' => 'HS256', 'typ' => 'JWT']));
    $now = time();
    $claims = b64url(json_encode(['sub' => $userId, 'name' => $name, 'iat' => $now, 'exp' => $now + 300]));
    $signature = b64url(hash_hmac('sha256', "$header.$claims", $secret, true));
    return "$header.$claims.$signature";
}

/** One call of the server API: the decoded answer, or an exception naming webim's error code. */
function webim(string $method, string $path, ?array $body = null): array
{
    $base = rtrim(getenv('WEBIM_URL') ?: 'http://127.0.0.1:8080', '/');
    $headers = 'Authorization: Bearer ' . getenv('WEBIM_API_KEY') . "\r\n";
    if ($body !== null) {
        $headers .= "Content-Type: application/json\r\n";
    }
    $context = stream_context_create(['http' => [
        'method' => $method,
        'header' => $headers,
        'content' => $body === null ? '' : json_encode($body),
        'ignore_errors' => true, // read webim's error answers too
        'timeout' => 10,
    ]]);
    $text = file_get_contents($base . $path, false, $context);
    $lines = function_exists('http_get_last_response_headers') ? http_get_last_response_headers() : $http_response_header;
    $status = (int) (explode(' ', $lines[0] ?? 'HTTP/1.1 0')[1] ?? 0);
    $answer = json_decode((string) $text, true);
    if ($status >= 400 || !is_array($answer)) {
        throw new RuntimeException("$method $path: HTTP $status " . ($answer['error'] ?? '') . ' ' . ($answer['message'] ?? ''));
    }
    return $answer;
}

$command = $argv[1] ?? '';
$userId = $argv[2] ?? '';
if ($command === 'token' && $userId !== '') {
    echo loginToken((string) getenv('WEBIM_TOKEN_SECRET'), $userId, $argv[3] ?? $userId), "\n";
    exit(0);
}
if ($command === 'demo' && $userId !== '') {
    // The key makes a retry (a timeout, a crash, this script run twice) store the message once.
    $sent = webim('POST', '/api/publish', [
        'to' => ['user' => $userId],
        'body' => 'Your order has shipped',
        'idempotencyKey' => "order-shipped-$userId",
    ]);
    $channel = $sent['message']['channel'];
    $history = webim('GET', '/api/history?' . http_build_query(['channel' => $channel, 'limit' => 10]));
    $online = webim('GET', '/api/presence');
    echo json_encode([
        'published' => $sent['message'],
        'duplicate' => $sent['duplicate'],
        'history' => $history['messages'],
        'online' => array_column($online['users'], 'id'),
    ]), "\n";
    exit(0);
}
fwrite(STDERR, "usage: php backend.php token <user id> [name] | demo <user id>\n");
exit(2);
