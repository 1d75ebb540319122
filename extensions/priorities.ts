// The order of Homeroom's extension chain, in one table. Hocuspocus runs every hook of higher
// priorities first; the order matters for these reasons:
// - the stale-unload guard must veto an unload before anything else reacts to it;
// - limits count a message or an opening before any work is done for it;
// - auth decides an opening before a document is read for it;
// - a resync catches up from the journal before the guard judges it (extensions/persistence.ts);
// - the guard refuses an update before persistence journals it, and persistence journals it
//   before Redis publishes it (what peers receive is always durable);
// - observers react after the change is journaled and acknowledged.
// Extensions a caller adds (tests' fault injectors) get Hocuspocus' default, 100: after all of these but Redis.
export const EXTENSION_PRIORITY = {
  staleUnload: 10_000,
  limits: 1000,
  auth: 900,
  journalCatchUp: 600,
  guard: 500,
  readFacts: 170,
  persistence: 160,
  presence: 150,
  signaling: 140,
  serverClock: 135,
  http: 130,
  ywebsocket: 120,
  observers: 110,
  connectionEvents: 105,
  redis: 50,
} as const
