-- Write the summary of a declaration stored before summaries were kept, derived from its
-- body and verdict as they were read: only if no record changed it meanwhile (its audit
-- head is the one read), so that a verdict recorded in between is never summarised wrong.
-- Roles: decl (the declaration hash).
-- PAYLOAD = {head (the audit head read with the body and verdict), fields (the summary)}
if redis.call('HGET', key('decl'), 'audit_head') ~= PAYLOAD.head then return 'moved' end
for name, item in pairs(PAYLOAD.fields) do redis.call('HSET', key('decl'), name, item) end
return 'ok'
