import t from 'tap';
import { startServer } from './helpers/server.js';
import { wsConnect } from './helpers/ws-client.js';
import { chatScenarios } from './scenarios/chat.js';

chatScenarios(t, async (overrides) => {
  const s = await startServer(overrides);
  return { connect: wsConnect(s.url), close: () => s.close() };
});
