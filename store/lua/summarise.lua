-- Write the summary of a declaration stored before summaries were kept, derived from its
-- body and verdict as they were read: only if no record changed it meanwhile (its audit
-- head is the one read), so that a verdict recorded in between is never summarised wrong.
-- KEYS[1] declaration hash
-- ARGV: 1 the audit head read with the body and verdict, 2 summary fields (JSON object)
if redis.call('HGET', KEYS[1], 'audit_head') ~= ARGV[1] then return 'moved' end
for name, value in pairs(cjson.decode(ARGV[2])) do redis.call('HSET', KEYS[1], name, value) end
return 'ok'
