/**
 * Guest identities (PROTOCOL.md section 7): the user id is derived from the
 * name, case-insensitively, so `Alice` and `alice` are one guest. Ids must
 * hold no `:` and no white space (they are parts of `dm:` channel names);
 * such characters are percent-encoded rather than dropped, so two different
 * names never share an id.
 */
export function guestId(name: string): string {
  const folded = name.normalize('NFC').toLowerCase();
  return folded.replace(/[\s:%]/gu, (ch) => {
    let out = '';
    for (const byte of Buffer.from(ch, 'utf8')) out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
    return out;
  });
}
