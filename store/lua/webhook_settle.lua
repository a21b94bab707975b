-- What one attempt at a delivery came to, in one step: the attempt is logged for its
-- subscription; a delivery to retry gets its next time; one delivered or given up is
-- removed, and its subscription marked active again, or failing.
-- KEYS[1] the delivery hash, KEYS[2] due deliveries, KEYS[3] the subscription's attempts,
--   KEYS[4] the subscription, KEYS[5] pending counts, KEYS[6] counters
-- ARGV[1] due member, ARGV[2] outcome (delivered | retrying | gave_up), ARGV[3] next time
--   (unix seconds), ARGV[4] the attempt (JSON), ARGV[5] now (RFC 3339), ARGV[6] the
--   subscription id, ARGV[7] attempts kept per subscription
redis.call('LPUSH', KEYS[3], ARGV[4])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[7]) - 1)
-- a second attempt whose lease ran out settled it already (at least once: both were sent)
if redis.call('EXISTS', KEYS[1]) == 0 then return 'gone' end
redis.call('HINCRBY', KEYS[6], 'webhooks:' .. ARGV[2], 1)
if ARGV[2] == 'retrying' then
  redis.call('HINCRBY', KEYS[1], 'attempts', 1)
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
  return 'retrying'
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if tonumber(redis.call('HINCRBY', KEYS[5], ARGV[6], -1)) <= 0 then
  redis.call('HDEL', KEYS[5], ARGV[6])
end
if redis.call('EXISTS', KEYS[4]) == 1 then
  if ARGV[2] == 'delivered' then
    redis.call('HSET', KEYS[4], 'status', 'active')
    redis.call('HDEL', KEYS[4], 'failing_since')
  else
    redis.call('HSET', KEYS[4], 'status', 'failing')
    redis.call('HSETNX', KEYS[4], 'failing_since', ARGV[5])
  end
end
return ARGV[2]
