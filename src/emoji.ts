/**
 * Emoji a message of type `emoji` may carry. The body is a code from this
 * table (the UI shows its glyph) or a bare emoji glyph a client typed.
 */
export const EMOJI: Readonly<Record<string, string>> = {
  smile: '\u{1F604}',
  grin: '\u{1F601}',
  joy: '\u{1F602}',
  wink: '\u{1F609}',
  blush: '\u{1F60A}',
  heart_eyes: '\u{1F60D}',
  kiss: '\u{1F618}',
  thinking: '\u{1F914}',
  neutral: '\u{1F610}',
  sleepy: '\u{1F62A}',
  cry: '\u{1F622}',
  angry: '\u{1F620}',
  scream: '\u{1F631}',
  cool: '\u{1F60E}',
  party: '\u{1F973}',
  thumbsup: '\u{1F44D}',
  thumbsdown: '\u{1F44E}',
  clap: '\u{1F44F}',
  wave: '\u{1F44B}',
  pray: '\u{1F64F}',
  heart: '\u2764\uFE0F',
  fire: '\u{1F525}',
  star: '\u2B50',
  tada: '\u{1F389}',
  coffee: '\u2615',
  pizza: '\u{1F355}',
  rocket: '\u{1F680}',
  ok: '\u{1F44C}',
};

const GLYPH = /^(?:\p{Extended_Pictographic}|\p{Emoji_Modifier}|\p{Regional_Indicator}|\u200D|\uFE0F)+$/u;

export function isEmojiBody(body: string): boolean {
  if (Object.prototype.hasOwnProperty.call(EMOJI, body)) return true;
  const codes = body.replace(/^:|:$/g, '');
  if (Object.prototype.hasOwnProperty.call(EMOJI, codes)) return true;
  return [...body].length <= 16 && GLYPH.test(body);
}
