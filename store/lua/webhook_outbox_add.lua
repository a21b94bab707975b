-- An event into the outbox, if some subscription asks for its type (the type's set of
-- subscriptions exists): an event nobody asked for when it happened is delivered to
-- nobody, so it is not kept.
-- KEYS[1] outbox, KEYS[2] the subscriptions asking for the event's type
-- ARGV[1] the event's time (unix seconds), ARGV[2] the outbox member
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
return 1
