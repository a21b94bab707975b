-- One event into the deliveries of the subscriptions that want it, once: the outbox entry
-- that announced it is removed in the same step, and the event's guard (kept for a week)
-- makes a second announcement of the same event (a retried permit application, a ledger
-- entry read again after a crash) create nothing.
-- KEYS[1] outbox, KEYS[2] the event's guard, KEYS[3] due deliveries, KEYS[4] pending counts
--   per subscription, KEYS[5..] one delivery hash per subscription
-- ARGV[1] outbox member ('' when the event was not in the outbox), ARGV[2] guard TTL
--   (seconds), ARGV[3] now (unix seconds), ARGV[4] event id, ARGV[5] event type,
--   ARGV[6] the event's body as sent, ARGV[7..] subscription ids (one per KEYS[5..])
if ARGV[1] ~= '' then redis.call('ZREM', KEYS[1], ARGV[1]) end
if #KEYS < 5 then return 0 end
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then return 0 end
for i = 5, #KEYS do
  local sub = ARGV[i + 2]
  redis.call('HSET', KEYS[i], 'sub', sub, 'event', ARGV[4], 'type', ARGV[5], 'body', ARGV[6],
    'first_at', ARGV[3], 'attempts', 0)
  redis.call('ZADD', KEYS[3], ARGV[3], sub .. '|' .. ARGV[4])
  redis.call('HINCRBY', KEYS[4], sub, 1)
end
return #KEYS - 4
