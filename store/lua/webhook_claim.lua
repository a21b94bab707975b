-- Take the deliveries whose time has come, each for a lease: its next time is moved to
-- now + lease, so that a worker that dies holding it leaves it to be taken again then.
-- KEYS[1] due deliveries; ARGV[1] now (unix seconds), ARGV[2] lease (seconds), ARGV[3] limit
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local until_at = tonumber(ARGV[1]) + tonumber(ARGV[2])
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], until_at, member) end
return due
