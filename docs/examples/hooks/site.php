<?php
// A PHP site that lets its logged-in users into webim with no token to sign,
// filters words out of what they publish, and logs messages that wait for
// someone offline: the three hooks of docs/hooks.md. Run it with PHP's own
// server (php-cli alone):
//
//   WEBIM_HOOK_SECRET=... OFFLINE_LOG=/tmp/offline.log php -S 127.0.0.1:8090 site.php
//   webim start --hook-url http://127.0.0.1:8090/webim-hooks --hook-secret "$WEBIM_HOOK_SECRET"
//
// GET /login?user=U1001&name=Ada stands in for the site's own login form: it
// puts the user in the PHP session, whose cookie (PHPSESSID) the chat's
// requests then carry and the login hook is shown.
declare(strict_types=1);

const WORDS = ['darn', 'heck'];

function answer(array $body): void
{
    header('Content-Type: application/json');
    echo json_encode($body);
}

/** webim's call, or null when its signature or time does not verify (then answer 401). */
function verifiedCall(): ?array
{
    $body = file_get_contents('php://input');
    $ts = $_SERVER['HTTP_X_WEBIM_TIMESTAMP'] ?? '';
    $sig = $_SERVER['HTTP_X_WEBIM_SIGNATURE'] ?? '';
    $expected = 'sha256=' . hash_hmac('sha256', $ts . '.' . $body, (string) getenv('WEBIM_HOOK_SECRET'));
    if (!ctype_digit($ts) || abs(time() - (int) $ts) > 300 || !hash_equals($expected, $sig)) {
        return null;
    }
    $call = json_decode((string) $body, true);
    return is_array($call) ? $call : null;
}

/** The site user of a session cookie the login hook was shown, or null. */
function sessionUser(string $cookie): ?array
{
    if (!preg_match('/(?:^|;\s*)PHPSESSID=([A-Za-z0-9,-]{1,128})/', $cookie, $m)) {
        return null;
    }
    session_id($m[1]);
    session_start(['read_and_close' => true, 'use_cookies' => false]);
    return $_SESSION['user'] ?? null;
}

$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
if ($path === '/login') {
    session_start();
    $_SESSION['user'] = ['id' => (string) ($_GET['user'] ?? ''), 'name' => (string) ($_GET['name'] ?? '')];
    answer(['ok' => true, 'cookie' => session_name() . '=' . session_id()]);
    return;
}
if ($path !== '/webim-hooks' || $_SERVER['REQUEST_METHOD'] !== 'POST') {
    http_response_code(404);
    return;
}
$call = verifiedCall();
if ($call === null) {
    http_response_code(401);
    return;
}
switch ($call['hook'] ?? '') {
    case 'login':
        $user = sessionUser((string) ($call['headers']['cookie'] ?? ''));
        answer($user === null
            ? ['result' => 'reject', 'reason' => 'log in on the site first']
            : ['result' => 'accept', 'user' => $user]);
        break;
    case 'publish':
        $body = (string) ($call['body'] ?? '');
        $filtered = str_ireplace(WORDS, '****', $body);
        answer($filtered === $body ? ['result' => 'accept'] : ['result' => 'replace', 'body' => $filtered]);
        break;
    case 'offline':
        // A real site sends a push or an e-mail here; this one keeps a line per message.
        $line = json_encode(['user' => $call['user'], 'from' => $call['message']['from']['id'], 'body' => $call['message']['body']]);
        file_put_contents((string) (getenv('OFFLINE_LOG') ?: 'php://stderr'), $line . "\n", FILE_APPEND | LOCK_EX);
        answer(['ok' => true]);
        break;
    default:
        http_response_code(400);
}
